"""Sphinx configuration of the jinit documentation site.

Build (offline; MathJax is bundled by sphinx-mathjax-offline):

    pip install ".[docs]" && sphinx-build -W -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
if str(ROOT) not in sys.path:  # the checkout's jinit when it is not installed
    sys.path.insert(1, str(ROOT))

# The sharded example and the tree pages show 8 devices; on a CPU they are simulated. This must
# be set before jax is first imported (autodoc imports jinit, and so jax).
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jinit_gallery  # noqa: E402

import jinit  # noqa: E402

project = "jinit"
author = "the jinit authors"
copyright = "the jinit authors"
version = release = jinit.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # copies MathJax 3 into _static: no CDN, math renders offline
    "sphinx_copybutton",
    "sphinx_gallery.gen_gallery",
    "sphinxarg.ext",
    "myst_parser",
    "jinit_api",
    "jinit_search",  # search results as text: command names, formulas (docs/_ext)
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_gallery_src/*.rst", "**/README.md"]
templates_path: list[str] = []

html_theme = "furo"
html_title = f"jinit {release}"
html_static_path: list[str] = []
html_last_updated_fmt = None
html_show_sourcelink = False

# autodoc and napoleon: Google-style docstrings, signatures without the type-hint noise.
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"undoc-members": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # dataclass "Attributes:" as fields, not a second autodoc entry
# NamedTuple docstrings list their fields under "Fields:"; render it as "Attributes:".
napoleon_custom_sections = [("Fields", "Attributes")]


def _skip_namedtuple_aliases(app, what, name, obj, skip, options):
    """A NamedTuple field's own docstring is "Alias for field number N": the class docstring
    already describes every field, so the generated member entries are left out."""
    doc = getattr(obj, "__doc__", None) or ""
    return True if doc.startswith("Alias for field number") else None


def setup(app):
    app.connect("autodoc-skip-member", _skip_namedtuple_aliases)
add_module_names = False

myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True

jinit_gallery.write_sources()
sphinx_gallery_conf = {
    "examples_dirs": str(DOCS / "_gallery_src"),
    "gallery_dirs": str(DOCS / "gallery"),
    "filename_pattern": r"plot_",
    "image_scrapers": ("jinit_gallery.png_scraper",),
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "show_signature": False,
    "min_reported_time": 1,
    "write_computation_times": False,  # those pages load DataTables from a CDN
    "within_subsection_order": "FileNameSortKey",
}
