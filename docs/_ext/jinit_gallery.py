"""The examples gallery: one sphinx-gallery page per script in ``examples/``, run at reduced sizes.

The scripts in ``examples/`` are not edited for the site. For each one this module writes a
short page script into ``docs/_gallery_src/`` (generated, ignored by git): the example's own
docstring as the page text, then a call of its ``main()`` with the reduced flags of ``RUNS``,
so that sphinx-gallery runs it, shows its printed table, and shows every PNG it writes with
``--plot`` (:func:`png_scraper`; the first one is the gallery's thumbnail, so every entry of
``RUNS`` has a ``--plot``). The page script holds the example's own code in place of an
import of ``examples/``, so the script downloaded from a page runs on its own.

``RUNS`` holds the reduced flags. An example missing from it still gets a page, run with its
default flags (slow); ``tests/test_docs_site.py`` fails until it has an entry.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SRC = Path(__file__).resolve().parents[1] / "_gallery_src"

# example stem -> the flags the site runs it with (about 5-30 s each on 2 CPU cores).
RUNS: dict[str, list[str]] = {
    "train_optax": ["--depths", "3", "30", "--seeds", "1", "--steps", "150", "--width", "16",
                    "--samples", "512", "--articles", "--articles-steps", "200",
                    "--plot", "curves.png"],
    "flax_linen": ["--batch", "8", "--size", "8", "--steps", "2", "--plot", "flax_linen.png"],
    "flax_nnx": ["--sizes", "16", "64", "64", "4", "--batch", "64", "--steps", "3",
                 "--plot", "flax_nnx.png"],
    "sharded_init": ["--width", "512", "--layers", "2", "--budget-mib", "1.5",
                     "--plot", "sharded_init.png"],
    "mup_transfer": ["--widths", "16", "64", "--log2-lrs", "-10", "-8", "-6", "-4",
                     "--steps", "40", "--samples", "512", "--plot", "mup_transfer.png"],
    "residual_fixup": ["--depth", "16", "--width", "32", "--steps", "80", "--samples", "512",
                       "--plot", "residual_fixup.png"],
    "audit_gpt2": ["--layers", "2", "--width", "64", "--vocab", "512", "--context", "64",
                   "--plot", "audit_gpt2.png"],
    "equinox_mlp": ["--width", "64", "--depth", "3", "--keys", "16", "--steps", "5",
                    "--plot", "equinox_mlp.png"],
    "recipes": ["--layers", "2", "--width", "32", "--vocab", "64", "--plot", "recipes.png"],
    "depth_transfer": ["--depths", "4", "16", "--steps", "60", "--log2-lrs", "-10", "-9", "-8",
                       "-7", "--plot", "depth_transfer.png"],
    "auto_init": ["--depth", "12", "--width", "64", "--batch", "64", "--show",
                  "--plot", "auto_init.png"],
}

# The verifier's own plot (``jinit verify --plot``): a page of its own, run as a subprocess.
VERIFY_ARGS = ["verify", "--samples", "16384", "--dtype", "float32", "--depth", "16",
               "--width", "64", "--quiet", "--plot", "signal.png"]

HEADER = """\
Examples gallery
================

Every script in ``examples/`` run while this site was built, with reduced sizes so that the
whole gallery builds in a few minutes on two CPU cores: each page shows the example's code,
then the reduced run's printed table and plot (the first plot is the thumbnail here). The
command at the top of each script's docstring gives the full-size run; ``examples/README.md``
has its output. The script downloaded from a page runs on its own with jinit installed.
"""


def _docstring(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    if not doc:
        raise RuntimeError(f"{path} has no module docstring; every example needs one")
    return doc


def _code(path: Path) -> str:
    """The example's code without its docstring (the page's text) and without its
    ``if __name__ == "__main__":`` block (the page calls ``main`` with the reduced flags)."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.splitlines()
    body = tree.body
    start = body[0].end_lineno if isinstance(body[0], ast.Expr) else 0
    guard = [node for node in body if isinstance(node, ast.If)
             and ast.unparse(node.test) in ("__name__ == '__main__'", '__name__ == "__main__"')]
    if len(guard) != 1 or guard[0] is not body[-1]:
        raise RuntimeError(f"{path} must end with one `if __name__ == \"__main__\":` block")
    end = guard[0].lineno - 1
    return "\n".join(lines[start:end]).strip("\n")


def _page(stem: str) -> str:
    """The page script: the example's docstring as text, its code, then a call of its
    ``main`` with the reduced flags. It imports only what the example imports, so the file
    downloaded from the page runs on its own (``python plot_<stem>.py``)."""
    path = EXAMPLES / f"{stem}.py"
    doc = _docstring(path)
    title, _, body = doc.partition("\n")
    title = title.strip()
    argv = RUNS.get(stem)
    if argv is None:
        note = "This page runs it with its default flags."
        argv = []
    else:
        note = ("This page runs it with reduced sizes, so that the site builds in minutes; at these "
                "sizes some of the effects above are weaker or absent. ``examples/README.md`` has "
                "the full-size output and what to read in it. The reduced run:")
    command = " ".join(["python", f"examples/{stem}.py", *argv])
    text = "\n".join([title, "=" * len(title), "", body.strip(), "", note, "",
                      ".. code-block:: bash", "", f"   {command}", "",
                      "The script below is ``examples/" + stem + ".py`` with that run as its "
                      "last cell; downloaded, it runs on its own with jinit installed.", ""])
    text = text.replace('"""', r'\"\"\"')
    return f'''r"""{text}
"""

{_code(path)}


# %%
# The reduced run
# ---------------

_ = main({argv!r})
'''


def _verify_page() -> str:
    command = " ".join(["jinit", *VERIFY_ARGS])
    return f'''r"""
Signal propagation: ``jinit verify --plot``
===========================================

The verifier's second half pushes a batch through deep stacks (here 16 layers of width 64;
the default is 32 × 256) with ReLU, tanh, GELU and SELU, for each scheme, vmapped over keys,
and records the forward second moment and the backward gradient second moment per layer,
next to the mean-field prediction of :mod:`jinit.theory` (dashed). Its first half checks the
moments and the distribution of every initializer, here with 16384 values per check instead
of 2\\ :sup:`20`. The command:

.. code-block:: bash

   {command}
"""

import subprocess
import sys

run = subprocess.run([sys.executable, "-m", "jinit", *{VERIFY_ARGS!r}],
                     capture_output=True, text=True)
print(run.stdout[-6000:])
assert run.returncode == 0, run.stderr
'''


def write_sources() -> list[str]:
    """Writes the page scripts for every example (and the verifier); returns their stems."""
    SRC.mkdir(exist_ok=True)
    pages = {f"plot_{p.stem}.py": _page(p.stem) for p in sorted(EXAMPLES.glob("*.py"))
             if not p.stem.startswith("_")}
    pages["plot_verify_signal.py"] = _verify_page()
    pages["GALLERY_HEADER.rst"] = HEADER
    for stale in SRC.iterdir():
        if stale.name not in pages:
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink()
    for name, text in pages.items():
        target = SRC / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    return sorted(pages)


def png_scraper(block, block_vars, gallery_conf):
    """sphinx-gallery image scraper: every PNG the example wrote into its folder."""
    from sphinx_gallery.scrapers import figure_rst

    src = Path(block_vars["src_file"]).parent
    images = []
    for png in sorted(src.glob("*.png")):
        target = Path(next(block_vars["image_path_iterator"]))
        shutil.move(str(png), target)
        images.append(str(target))
    return figure_rst(images, gallery_conf["src_dir"])
