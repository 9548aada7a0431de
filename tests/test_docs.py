"""Runs every docstring example in the installed package as a test.

Doctests are collected from the imported modules (not from the source tree), so they run the
same whether jinit is installed normally or in editable mode.
"""

import ast
import doctest
import importlib
import inspect
import os
import pathlib
import pkgutil
import re
import subprocess
import sys

import pytest

import jinit


def _modules() -> list[str]:
    names = ["jinit"]
    for info in pkgutil.walk_packages(jinit.__path__, prefix="jinit."):
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs={}):
        if test.examples:
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


# --- TeX inside math: MathJax's text mode (``\text{}``, ``\texttt{}``) shows ``\_`` as a
# backslash and an underscore, so no formula may contain it (write ``\text{fan}_\text{in}`` for a
# fan, a bare ``_`` inside ``\texttt{...}`` for an identifier).

_ROOT = pathlib.Path(__file__).resolve().parents[1]
_ROLE = re.compile(r":math:`([^`]*)`")
_DOLLARS = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$", re.DOTALL)
_FENCE = re.compile(r"^```\{math\}[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _rst_math(text: str) -> list[str]:
    """The math of reST text: ``:math:`` roles and the bodies of ``.. math::`` directives."""
    found = _ROLE.findall(text)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if not stripped.startswith(".. math::"):
            continue
        indent = len(line) - len(stripped)
        body = [stripped[len(".. math::"):]]
        for nxt in lines[i + 1:]:
            if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                break
            body.append(nxt)
        found.append("\n".join(body))
    return found


def _md_math(text: str) -> list[str]:
    """The math of MyST Markdown: ``$...$``, ``$$...$$``, ``{math}`` fences and roles, and the
    reST of ``{eval-rst}`` blocks. Code spans and other code fences are not math."""
    found = [m for m in _FENCE.findall(text)]
    found += _ROLE.findall(text.replace("{math}`", ":math:`"))
    prose = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    found += [a or b for a, b in _DOLLARS.findall(prose)]
    for block in re.findall(r"^```\{eval-rst\}\n(.*?)^```", text, re.DOTALL | re.MULTILINE):
        found += _rst_math(block)
    return found


def _public_docstrings() -> dict[str, str]:
    """Every docstring reachable from a jinit module: the module's, its classes', their
    methods' and properties', its functions'."""
    docs: dict[str, str] = {}
    for name in _modules():
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional extra that is not installed
            continue
        docs[name] = inspect.getdoc(module) or ""
        for attr, obj in vars(module).items():
            owner = getattr(obj, "__module__", "") or ""
            if not owner.startswith("jinit") or not (inspect.isclass(obj) or callable(obj)):
                continue
            docs[f"{name}.{attr}"] = getattr(obj, "__doc__", None) or ""
            if inspect.isclass(obj):
                for member, value in vars(obj).items():
                    target = value.fget if isinstance(value, property) else value
                    target = getattr(target, "__func__", target)
                    doc = getattr(target, "__doc__", None)
                    if doc and (inspect.isfunction(target) or isinstance(value, property)):
                        docs[f"{name}.{attr}.{member}"] = doc
    for path in sorted((_ROOT / "examples").glob("*.py")):  # the gallery pages' text
        docs[f"examples/{path.name}"] = ast.get_docstring(ast.parse(path.read_text())) or ""
    return docs


def _escaped_underscores(sources: dict[str, list[str]]) -> list[str]:
    return [f"{where}: {formula.strip()[:80]!r}" for where, formulas in sources.items()
            for formula in formulas if "\\_" in formula]


def test_no_escaped_underscore_in_docstring_math():
    sources = {where: _rst_math(doc) for where, doc in _public_docstrings().items()}
    assert sum(map(len, sources.values())) > 100  # the scan reads the formulas (not zero)
    assert "jinit.compute_fans" in sources and sources["jinit.compute_fans"]
    bad = _escaped_underscores(sources)
    assert not bad, "\\_ inside math shows a backslash in MathJax:\n" + "\n".join(bad)


def test_no_escaped_underscore_in_docs_sources_math():
    pages = sorted((_ROOT / "docs").rglob("*.md")) + sorted((_ROOT / "docs").rglob("*.rst"))
    pages = [p for p in pages if not {"_build", "api", "gallery", "_gallery_src"}
             & set(p.relative_to(_ROOT / "docs").parts)]
    sources = {}
    for page in pages:
        text = page.read_text(encoding="utf-8")
        sources[str(page.relative_to(_ROOT))] = (_md_math(text) if page.suffix == ".md"
                                                 else _rst_math(text))
    assert sources.get("docs/families/mup_residual.md")  # that page has formulas
    bad = _escaped_underscores(sources)
    assert not bad, "\\_ inside math shows a backslash in MathJax:\n" + "\n".join(bad)


def test_math_scanners_find_an_escaped_underscore():
    """Negative control: each form of math the scan reads, with a ``\\_`` in it, is caught;
    code (a ``\\_`` in a code span or a code fence) is not math."""
    rst = ("Text :math:`\\text{fan\\_in}` and\n\n.. math::\n\n    a = \\text{b\\_c}\n\n"
           "After the block, fan\\_in is prose.\n")
    assert [f for f in _rst_math(rst) if "\\_" in f] == ["\\text{fan\\_in}",
                                                         "\n\n    a = \\text{b\\_c}\n"]
    md = ("Inline $\\text{x\\_y}$, display\n$$\n\\text{p\\_q}\n$$\n"
          "```{math}\n\\text{r\\_s}\n```\n{math}`\\text{t\\_u}` and `$a\\_b$` is code.\n"
          "```python\nx = '$c\\_d$'\n```\n")
    caught = sorted(f.strip() for f in _md_math(md) if "\\_" in f)
    assert caught == ["\\text{p\\_q}", "\\text{r\\_s}", "\\text{t\\_u}", "\\text{x\\_y}"]


# --- the audit page's worked example: the output shown is the output the code prints.


def _audit_page_blocks() -> tuple[str, list[str]]:
    text = (_ROOT / "docs" / "families" / "audit.md").read_text(encoding="utf-8")
    code = re.search(r"^```python\n(.*?)^```", text, re.DOTALL | re.MULTILINE).group(1)
    shown = re.search(r"^```text\n(.*?)^```", text, re.DOTALL | re.MULTILINE).group(1)
    return code, shown.splitlines()


def _unshown(shown: list[str], printed: list[str]) -> list[str]:
    """Lines of the page's output (``...`` elisions aside) that the run did not print; the
    audit's wall time ``(13.3 s)`` is not compared."""
    def norm(line):
        return re.sub(r"\(\d+(\.\d+)? s\)", "(t s)", line.rstrip())

    printed = {norm(line) for line in printed}
    return [line for line in shown if line.strip() != "..." and norm(line) not in printed]


def test_audit_page_output_check_flags_an_edited_row():
    """Negative control: a shown row with one digit changed is not in the printed output."""
    _, shown = _audit_page_blocks()
    row = next(line for line in shown if "FLAGGED" in line)
    edited = row.replace("0.0", "0.1", 1)
    assert edited != row
    assert _unshown([edited, "...", shown[0]], shown) == [edited]


@pytest.mark.slow
def test_audit_page_example_prints_what_the_page_shows(tmp_path):
    code, shown = _audit_page_blocks()
    assert len([line for line in shown if "FLAGGED:" in line]) >= 2 and "..." in shown
    script = tmp_path / "audit_example.py"
    script.write_text(code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = os.pathsep.join([str(_ROOT), env.get("PYTHONPATH", "")])
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    printed = run.stdout.splitlines()
    assert printed[-1] == "True"  # the script's own check: exactly the 24 c_proj kernels
    missing = _unshown(shown, printed)
    assert not missing, "the audit page shows lines the example does not print:\n" + "\n".join(missing)
