"""The documentation site: built with ``-W``, complete, offline, and looked at in a browser.

The site is built once per session into ``docs/_build/html`` (incrementally: sphinx-gallery
reruns only examples whose page changed), or taken from ``JINIT_DOCS_BUILD`` when that names
an already built site (``.ci/run`` builds it first and sets it). Then:

* every name in ``__all__`` of ``jinit`` and of each public submodule has a reference entry
  (read from the built ``objects.inv``), and every example has a gallery page;
* no built page loads a script, style sheet, font or image from the network;
* headless Chromium opens the index, an initializer's reference and a gallery page, and the
  test asserts the title, a formula typeset by MathJax (a rendered ``mjx-container``, no raw
  ``\\(`` source left) and a loaded gallery image (``naturalWidth > 0``), saving screenshots in
  ``docs/_build/screenshots/``.

Each checker is also run on a page built to fail it (negative controls).

Needs the ``docs`` extra (skips without Sphinx) and Debian's ``chromium`` at
``/usr/bin/chromium`` for the browser test (skips with a message without it).
"""

from __future__ import annotations

import base64
import fcntl
import importlib
import json
import os
import pathlib
import pkgutil
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CHROMIUM = pathlib.Path("/usr/bin/chromium")
SCREENSHOTS = DOCS / "_build" / "screenshots"

# The browser's pipe file descriptors are wired in a preexec_fn (two dup2 calls), which makes
# jax's fork hook warn when jax is already loaded in the test process; nothing else runs there.
pytestmark = pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")

pytest.importorskip("sphinx", reason="the docs extra is not installed: pip install '.[docs]'")


@pytest.fixture(scope="session")
def site() -> pathlib.Path:
    given = os.environ.get("JINIT_DOCS_BUILD")
    if given:
        path = pathlib.Path(given)
        assert (path / "index.html").is_file(), f"JINIT_DOCS_BUILD={given} has no index.html"
        return path
    out = DOCS / "_build" / "html"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(DOCS),
                          str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, f"sphinx-build -W failed:\n{run.stdout[-4000:]}\n{run.stderr[-8000:]}"
    return out


# ------------------------------------------------------------------ every public name


def _expected_names() -> dict[str, list[str]]:
    """``{module: __all__}`` for jinit and every importable public submodule."""
    import jinit

    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        from jinit_api import INTERNAL  # rooms that are not public API (jinit.laws)
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    found = {"jinit": jinit}
    for info in pkgutil.walk_packages(jinit.__path__, prefix="jinit.", onerror=lambda n: None):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:]) or ".".join(parts[:2]) in INTERNAL:
            continue
        try:
            found[info.name] = importlib.import_module(info.name)
        except ModuleNotFoundError as err:  # an optional extra that is not installed
            assert err.name and not err.name.startswith("jinit"), err
    return {name: list(mod.__all__) for name, mod in found.items()}


def _inventory(site: pathlib.Path) -> dict[str, set[str]]:
    from sphinx.util.inventory import InventoryFile

    with open(site / "objects.inv", "rb") as f:
        inv = InventoryFile.load(f, "", posixpath.join)
    return {role: set(entries) for role, entries in dict(inv).items()}


def _undocumented(expected: dict[str, list[str]], inventory: dict[str, set[str]]) -> list[str]:
    modules = inventory.get("py:module", set())
    objects = set().union(*(v for k, v in inventory.items() if k.startswith("py:")))
    missing = [m for m in expected if m not in modules]
    for module, names in expected.items():
        mod = importlib.import_module(module)
        for name in names:
            full = f"{module}.{name}"
            target = modules if isinstance(getattr(mod, name), types.ModuleType) else objects
            if full not in target:
                missing.append(full)
    return missing


def test_every_public_name_has_a_reference_entry(site):
    expected = _expected_names()
    assert "jinit.verify" in expected and len(expected["jinit"]) > 20
    missing = _undocumented(expected, _inventory(site))
    assert not missing, f"public names without an API reference entry: {missing}"


def test_reference_check_flags_a_missing_name(site):
    """Negative control: drop one entry from the inventory; the check names it."""
    inventory = _inventory(site)
    inventory["py:function"] = inventory["py:function"] - {"jinit.he_normal"}
    assert _undocumented(_expected_names(), inventory) == ["jinit.he_normal"]


def test_every_example_has_a_gallery_page_and_reduced_flags(site):
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import jinit_gallery
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    stems = sorted(p.stem for p in (ROOT / "examples").glob("*.py") if not p.stem.startswith("_"))
    assert stems
    no_flags = [s for s in stems if s not in jinit_gallery.RUNS]
    assert not no_flags, (f"examples without reduced gallery flags in docs/_ext/jinit_gallery.py "
                          f"RUNS (the site would run them at full size): {no_flags}")
    for stem in stems:
        page = site / "gallery" / f"plot_{stem}.html"
        assert page.is_file(), page
    no_plot = [s for s in stems if "--plot" not in jinit_gallery.RUNS[s]]
    assert not no_plot, f"gallery runs without --plot (no thumbnail of their own): {no_plot}"
    for stem in stems + ["verify_signal"]:
        html = (site / "gallery" / f"plot_{stem}.html").read_text(encoding="utf-8")
        assert re.search(r'<img[^>]+src="\.\./_images/sphx_glr_plot_' + stem + r'_\d+\.png"',
                         html), f"gallery page of {stem} shows no plot"


def _placeholder_thumbnails(site: pathlib.Path, tmp: pathlib.Path) -> list[str]:
    """Gallery entries whose thumbnail is sphinx-gallery's stand-in (``no_image.png`` or
    ``broken_example.png`` scaled as it scales thumbnails), not a plot of their own."""
    image = pytest.importorskip("matplotlib.image")
    import numpy as np
    from sphinx_gallery import glr_path_static
    from sphinx_gallery.utils import scale_image

    stand_ins = []
    for name in ("no_image.png", "broken_example.png"):
        out = tmp / name
        scale_image(pathlib.Path(glr_path_static()) / name, out, 400, 280)
        stand_ins.append(image.imread(out))
    index = (site / "gallery" / "index.html").read_text(encoding="utf-8")
    thumbs = re.findall(r'src="\.\./(_images/sphx_glr_(plot_\w+?)_thumb\.png)"', index)
    assert thumbs, "the gallery index shows no thumbnails"
    bad = []
    for src, stem in thumbs:
        pixels = image.imread(site / src)
        if any(p.shape == pixels.shape and np.array_equal(p, pixels) for p in stand_ins):
            bad.append(stem)
    return bad


def test_every_gallery_thumbnail_is_a_plot_of_its_own(site, tmp_path):
    stems = sorted(p.stem for p in (ROOT / "examples").glob("*.py") if not p.stem.startswith("_"))
    index = (site / "gallery" / "index.html").read_text(encoding="utf-8")
    for stem in stems + ["verify_signal"]:
        assert f"sphx_glr_plot_{stem}_thumb.png" in index, f"no gallery thumbnail for {stem}"
    bad = _placeholder_thumbnails(site, tmp_path)
    assert not bad, f"gallery entries with a placeholder thumbnail: {bad}"


def test_thumbnail_check_flags_a_placeholder(site, tmp_path):
    """Negative control: a copy of the site whose first thumbnail is the stand-in."""
    from sphinx_gallery import glr_path_static
    from sphinx_gallery.utils import scale_image

    copy = tmp_path / "site"
    (copy / "gallery").mkdir(parents=True)
    (copy / "_images").mkdir()
    index = (site / "gallery" / "index.html").read_text(encoding="utf-8")
    (copy / "gallery" / "index.html").write_text(index, encoding="utf-8")
    thumbs = re.findall(r'src="\.\./_images/(sphx_glr_(plot_\w+?)_thumb\.png)"', index)
    for name, _ in thumbs:
        shutil.copy(site / "_images" / name, copy / "_images" / name)
    scale_image(pathlib.Path(glr_path_static()) / "no_image.png",
                copy / "_images" / thumbs[0][0], 400, 280)
    assert _placeholder_thumbnails(copy, tmp_path) == [thumbs[0][1]]


# ------------------------------------------------------- downloaded gallery scripts


def _downloaded_scripts(site: pathlib.Path) -> dict[str, pathlib.Path]:
    found = {p.stem.removeprefix("plot_"): p for p in site.glob("_downloads/*/plot_*.py")}
    assert found, "the site has no downloadable gallery scripts"
    return found


def _repo_bound(path: pathlib.Path) -> list[str]:
    """What in a downloaded script only works inside this repository: an import of a module
    outside the installed packages (``examples``, a helper next to it), a path into the
    checkout (``../../examples``), a module loaded from a file."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else [f"relative import {node.module}"]
        else:
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and re.search(r"(^|/)\.\./|(^|/)examples/\w+\.py|_gallery_src", node.value)
                    and not node.value.lstrip().startswith(("python ", "Run", "\n"))):
                if "\n" not in node.value:  # the page text quotes commands; code paths are one line
                    bad.append(f"path {node.value!r}")
            if isinstance(node, ast.Attribute) and node.attr == "spec_from_file_location":
                bad.append("importlib.util.spec_from_file_location")
            continue
        for name in names:
            top = name.split(".")[0]
            if name.startswith("relative") or top in {"examples", "jinit_gallery", "conftest"}:
                bad.append(f"import {name}")
            elif top not in sys.stdlib_module_names and importlib.util.find_spec(top) is None:
                bad.append(f"import {name} (not installed)")
    return bad


def test_downloaded_gallery_scripts_import_only_installed_packages(site):
    scripts = _downloaded_scripts(site)
    stems = sorted(p.stem for p in (ROOT / "examples").glob("*.py") if not p.stem.startswith("_"))
    assert sorted(set(stems) - set(scripts)) == [], "examples without a downloadable script"
    bad = {stem: found for stem, path in scripts.items() if (found := _repo_bound(path))}
    assert not bad, f"downloaded gallery scripts that need the repository: {bad}"


def test_repo_bound_check_flags_an_import_of_the_examples_folder(tmp_path):
    """Negative control: the page script the gallery used to write (it loaded the example
    from ``../../examples``)."""
    script = tmp_path / "plot_x.py"
    script.write_text('"""Page text: python examples/x.py --plot x.png"""\n'
                      "import importlib.util\nimport pathlib\nimport jinit\n"
                      'path = pathlib.Path("../../examples/x.py")\n'
                      'spec = importlib.util.spec_from_file_location("x", path)\n'
                      "from examples import x\n", encoding="utf-8")
    assert sorted(_repo_bound(script)) == ["import examples",
                                           "importlib.util.spec_from_file_location",
                                           "path '../../examples/x.py'"]


@pytest.mark.slow
def test_downloaded_gallery_scripts_run_on_their_own(site, tmp_path):
    """Each downloaded script, run as a user would (``python plot_<stem>.py`` in an empty
    folder, with only jinit importable beside the installed packages): exit 0, its PNG."""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import jinit_gallery
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    only_jinit = tmp_path / "site-packages"
    only_jinit.mkdir()
    (only_jinit / "jinit").symlink_to(ROOT / "jinit")
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "PYTHONPATH")}
    env["PYTHONPATH"] = str(only_jinit)
    failed = []
    for stem, path in sorted(_downloaded_scripts(site).items()):
        folder = tmp_path / stem
        folder.mkdir()
        shutil.copy(path, folder / path.name)
        run = subprocess.run([sys.executable, path.name], cwd=folder, env=env,
                             capture_output=True, text=True, timeout=600)
        argv = jinit_gallery.RUNS.get(stem, [])
        png = argv[argv.index("--plot") + 1] if "--plot" in argv else "signal.png"
        if run.returncode != 0 or not (folder / png).is_file():
            failed.append(f"{stem}: exit {run.returncode}, {png} "
                          f"{'written' if (folder / png).is_file() else 'missing'}\n"
                          f"{run.stderr[-1500:]}")
    assert not failed, "\n".join(failed)


# --------------------------------------------------------------------------- search


def _search_index(site: pathlib.Path) -> dict:
    text = (site / "searchindex.js").read_text(encoding="utf-8")
    return json.loads(text[text.index("(") + 1:text.rindex(")")])


_ENTITY = re.compile(r"&(#x?[0-9a-fA-F]+|[a-zA-Z]+);")


def _escaped_search_names(index: dict) -> list[str]:
    """Names the search page would show with a visible entity: searchtools.js escapes every
    title it shows, so one the index already escaped reads ``&#x27;``."""
    names = list(index["objects"])
    names += [entry[4] for entries in index["objects"].values() for entry in entries]
    names += list(index["titles"]) + list(index["alltitles"])
    return sorted({n for n in names if _ENTITY.search(n)})


def test_search_index_names_show_no_html_entities(site):
    index = _search_index(site)
    assert not _escaped_search_names(index)
    commands = [f"{prefix}.{e[4]}".strip(".") for prefix, entries in index["objects"].items()
                for e in entries if index["objnames"][str(e[1])][0] == "commands"]
    assert "jinit verify" in commands and "jinit audit" in commands, commands
    assert all(c.startswith("jinit") and len(c) < 40 for c in commands), commands


def test_search_entity_check_flags_an_escaped_description():
    """Negative control: the index sphinx-argparse's entries produced (the description as
    the display name, HTML-escaped by Sphinx)."""
    index = {"objects": {"Checks every public initializer&#x27;s mean": [[18, 0, 0, "x", ""]]},
             "titles": ["jinit"], "alltitles": {}}
    assert _escaped_search_names(index) == ["Checks every public initializer&#x27;s mean"]


_NODE = shutil.which("node")
_TEX_LEFT = re.compile(r"\\[A-Za-z]+|\\[()\[\]]|[{}]")


def _summaries_as_text(formulas: list[str]) -> list[str]:
    script = ("const {jinitTexToText} = require(process.argv[1]);"
              "const tex = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "process.stdout.write(JSON.stringify(tex.map(jinitTexToText)));")
    run = subprocess.run([_NODE, "-e", script, str(DOCS / "_ext" / "static" / "jinit_search.js")],
                         input=json.dumps(formulas), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.skipif(_NODE is None, reason="node is not installed")
def test_search_summaries_read_formulas_as_text(site):
    """Every inline formula of the reference and family pages, as the search summary shows
    it (``jinitTexToText``, run in node): no TeX command, delimiter or brace left."""
    import html as html_lib

    formulas = []
    for page in sorted([*site.glob("api/*.html"), *site.glob("families/*.html")]):
        text = page.read_text(encoding="utf-8")
        formulas += [html_lib.unescape(m) for m in
                     re.findall(r'<span class="math notranslate nohighlight">(.*?)</span>', text,
                                re.DOTALL)]
    assert len(formulas) > 200
    raw = [f for f in formulas if _TEX_LEFT.search(f)]
    assert len(raw) > 100  # the summaries' source is TeX: the check has something to read
    shown = _summaries_as_text(formulas)
    left = [f"{tex!r} -> {out!r}" for tex, out in zip(formulas, shown, strict=True)
            if _TEX_LEFT.search(out)]
    assert not left, "search summaries that show TeX:\n" + "\n".join(left[:20])
    # the words stay: fan_in, sigma
    assert _summaries_as_text([r"\(\sigma^2/\text{fan}_\text{in}\)"]) == ["σ^2/fan_in"]


# ------------------------------------------------------------------------- offline

_REMOTE_TAG = re.compile(
    r"<(script|link|img|iframe|source|video|audio|embed)\b[^>]*?\b(src|href|srcset)\s*=\s*"
    r"[\"']?\s*(https?:)?//", re.IGNORECASE)
_REMOTE_CSS = re.compile(r"(@import\s+(url\()?|url\()\s*[\"']?\s*(https?:)?//", re.IGNORECASE)


def _remote_assets(root: pathlib.Path) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*")):
        if path.suffix == ".html":
            pattern = _REMOTE_TAG
        elif path.suffix == ".css":
            pattern = _REMOTE_CSS
        else:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        bad += [f"{path.relative_to(root)}: {m.group(0)[:120]}" for m in pattern.finditer(text)]
    return bad


def test_no_page_loads_anything_from_the_network(site):
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax is not bundled"
    assert not _remote_assets(site)


def test_offline_check_flags_a_cdn_script(tmp_path):
    """Negative control: the pages Sphinx writes without sphinx-mathjax-offline."""
    (tmp_path / "a.html").write_text(
        '<script defer="defer" src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js">'
        '</script><a href="https://example.org">a link is fine</a>')
    (tmp_path / "b.css").write_text("@import url('https://fonts.example.org/x.css');")
    assert len(_remote_assets(tmp_path)) == 2


# ------------------------------------------------------------------------- browser


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (no network port)."""

    FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--hide-scrollbars", "--window-size=1280,900",
             "--remote-debugging-pipe"]

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="jinit-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Move the child's ends above fd 4, so that putting them at 3 and 4 clobbers neither.
        high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)
        to_browser_r, from_browser_w = high_r, high_w

        def wire():  # the browser reads commands on fd 3 and writes replies on fd 4
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.proc = subprocess.Popen(
            [str(CHROMIUM), *self.FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            preexec_fn=wire, pass_fds=(3, 4), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._id = 0
        self._buffer = b""
        self._events: list[dict] = []
        self._targets: dict[str, str] = {}

    def send(self, method: str, session: str | None = None, **params):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"chromium closed the pipe during {method}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if "id" not in reply:
                self._events.append(reply)
            elif reply["id"] == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def wait_event(self, method: str, session: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self._events.pop(i)
            self.send("Runtime.evaluate", session, expression="0")  # reads pending events
            time.sleep(0.05)
        raise TimeoutError(f"no {method} within {timeout} s")

    def open(self, url: str) -> str:
        """Opens ``url`` in a new tab and returns its session once the page has loaded."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable", session)
        self.send("Page.navigate", session, url=url)
        self.wait_event("Page.loadEventFired", session)
        self._targets[session] = target
        return session

    def close_tab(self, session: str) -> None:
        self.send("Target.closeTarget", targetId=self._targets.pop(session))

    def evaluate(self, session: str, expression: str):
        result = self.send("Runtime.evaluate", session, expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, session: str, path: pathlib.Path) -> None:
        data = self.send("Page.captureScreenshot", session, format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)


# Waits for the page, for MathJax's first typesetting pass and for every image; then reports.
_INSPECT = """(async () => {
  const deadline = Date.now() + 20000;
  while (document.readyState !== "complete" && Date.now() < deadline)
    await new Promise(r => setTimeout(r, 50));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise)
    await MathJax.startup.promise;
  const imgs = [...document.images];
  while (imgs.some(i => !i.complete) && Date.now() < deadline)
    await new Promise(r => setTimeout(r, 50));
  const math = [...document.querySelectorAll(".math")];
  const report = {
    title: document.title,
    rendered: document.querySelectorAll("mjx-container").length,
    raw: math.filter(e => !e.querySelector("mjx-container") && /\\\\[(\\[]/.test(e.textContent)).length,
    images: imgs.map(i => [i.getAttribute("src"), i.naturalWidth]),
  };
  // Show the anchor, or a gallery page's first plot, in the screenshot.
  const target = location.hash ? document.getElementById(location.hash.slice(1))
                               : document.querySelector("img.sphx-glr-single-img");
  if (target) target.scrollIntoView();
  return report;
})()"""


def _inspect(browser: Chromium, url: str, screenshot: pathlib.Path | None = None) -> dict:
    session = browser.open(url)
    report = browser.evaluate(session, _INSPECT)
    if screenshot is not None:
        time.sleep(0.3)  # let the scroll to the anchor paint
        browser.screenshot(session, screenshot)
    browser.close_tab(session)
    return report


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("headless browser test: /usr/bin/chromium is missing; install Debian's "
                    "package with: apt-get update && apt-get install -y chromium")
    b = Chromium()
    yield b
    b.close()


def _png_is_not_blank(path: pathlib.Path) -> bool:
    """A decoded screenshot with more than a handful of distinct colours."""
    image = pytest.importorskip("matplotlib.image")

    pixels = image.imread(path)
    return pixels.shape[0] > 100 and len({tuple(p) for p in pixels[::7, ::7].reshape(-1, pixels.shape[-1])}) > 8


@pytest.mark.parametrize("page, title, math, image", [
    ("index.html", "jinit", True, False),
    ("api/jinit.html#jinit.he_normal", "jinit", True, False),
    ("gallery/plot_train_optax.html", "Why initialization matters", False, True),
])
def test_pages_render_in_a_browser(site, browser, page, title, math, image):
    name = page.split("#")[0].replace("/", "_").removesuffix(".html")
    shot = SCREENSHOTS / f"{name}.png"
    report = _inspect(browser, (site / page.split("#")[0]).resolve().as_uri()
                      + ("#" + page.split("#")[1] if "#" in page else ""), shot)
    assert title in report["title"], report["title"]
    if math:
        assert report["rendered"] > 0, "no formula was typeset by MathJax"
        assert report["raw"] == 0, f"{report['raw']} formulas left as raw TeX source"
    if image:
        plots = [(src, w) for src, w in report["images"] if "sphx_glr_plot_" in src]
        assert plots, report["images"]
        assert all(w > 0 for _, w in plots), f"gallery images did not load: {plots}"
    assert _png_is_not_blank(shot), f"{shot} is blank"


def test_browser_check_flags_raw_math_and_a_broken_image(browser, tmp_path):
    """Negative control: a page whose MathJax is missing and whose image file is absent."""
    (tmp_path / "bad.html").write_text(
        "<html><head><title>bad</title></head><body>"
        '<span class="math notranslate nohighlight">\\(x^2\\)</span>'
        '<img src="../_images/sphx_glr_plot_missing_001.png"></body></html>')
    report = _inspect(browser, (tmp_path / "bad.html").as_uri())
    assert report["rendered"] == 0 and report["raw"] == 1
    assert report["images"] and report["images"][0][1] == 0


@pytest.mark.slow  # half a minute: every reference and family page in the browser
def test_every_formula_is_typeset(site, browser):
    """Every formula on the reference and family pages typesets: TeX that MathJax cannot
    parse (an unbalanced brace in a docstring) stays as raw source, and is named here."""
    untypeset = []
    for page in sorted([*site.glob("api/*.html"), *site.glob("families/*.html"),
                        site / "index.html"]):
        session = browser.open(page.resolve().as_uri())
        browser.evaluate(session, _INSPECT)
        raw = browser.evaluate(session, "[...document.querySelectorAll('.math')]"
                               ".filter(e => !e.querySelector('mjx-container'))"
                               ".map(e => e.textContent.trim().slice(0, 100))")
        browser.close_tab(session)
        untypeset += [f"{page.relative_to(site)}: {tex}" for tex in raw]
    assert not untypeset, "formulas MathJax could not typeset:\n" + "\n".join(untypeset)


def test_search_results_show_text_in_a_browser(site, browser):
    """The search page itself, served over HTTP on localhost (summaries are fetched from the
    result pages, which a file:// page may not do): results for a word that is in formulas
    and in the command reference show no ``&#x27;``, no TeX source, and a command named by
    its name."""
    import functools
    import http.server
    import threading

    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/search.html?q="
        report = _search(browser, base + "initializer", SCREENSHOTS / "search.png")
        commands = _search(browser, base + "verify", None)
    finally:
        server.shutdown()
        server.server_close()
    assert report["count"] > 5, report
    text = report["titles"] + report["summaries"]
    assert not [t for t in text if _ENTITY.search(t)], [t for t in text if _ENTITY.search(t)]
    tex = [s for s in report["summaries"] if re.search(r"\\[A-Za-z]+\{|\\\(", s)]
    assert not tex, f"search summaries with raw TeX: {tex[:5]}"
    assert sum(bool(s) for s in report["summaries"]) >= 5, "results without summaries"
    assert "jinit verify" in commands["titles"], commands["titles"]
    assert not [t for t in commands["titles"] if _ENTITY.search(t)], commands["titles"]


_SEARCH = """(async () => {
  const deadline = Date.now() + 60000;
  const summaries = () => document.querySelectorAll("#search-results p.context");
  while (summaries().length < 5 && Date.now() < deadline)
    await new Promise(r => setTimeout(r, 100));
  await new Promise(r => setTimeout(r, 1000));  // the rest of the fetched summaries
  const items = [...document.querySelectorAll("#search-results li")];
  return {count: items.length,
          titles: items.map(li => li.querySelector("a").textContent),
          summaries: items.map(li => (li.querySelector("p.context") || {}).textContent || "")};
})()"""


def _search(browser: Chromium, url: str, screenshot: pathlib.Path | None) -> dict:
    session = browser.open(url)
    report = browser.evaluate(session, _SEARCH)
    if screenshot is not None:
        browser.screenshot(session, screenshot)
    browser.close_tab(session)
    return report


class _QuietHandler(__import__("http.server").server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request log on stderr
        pass
