"""Search results that read as text: command entries named by the command, formulas as text.

Two things made the site's search results show markup:

* ``sphinx-argparse`` registers each command with its *description* as the display name, and
  Sphinx's index writer HTML-escapes display names (``html.escape`` in
  ``sphinx.search.IndexBuilder.get_objects``) while ``searchtools.js`` escapes the title
  again when it shows it, so an apostrophe appeared as ``&#x27;`` (and the description was
  split at its last full stop into a "module" and a "name"). :func:`name_commands` makes the
  display name the command itself (``jinit verify``).
* A result's summary is the ``textContent`` of the page it links to, where every formula is
  still its TeX source (MathJax typesets in the browser). ``static/jinit_search.js`` wraps
  ``Search.htmlToText`` so that inline formulas become plain text (``\\text{fan}_\\text{in}``
  reads ``fan_in``, ``\\sigma`` reads ``σ``) and displayed equations are left out.
"""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"


def name_commands(app, env) -> None:
    """Rewrites sphinx-argparse's index entries ``(name, description, ...)`` to
    ``(name, name, ...)``: the display name is the command (``jinit audit``)."""
    data = env.domaindata.get("commands")
    if not data:
        return

    def fix(entries):
        return [(name, name, *rest) for name, _, *rest in entries]

    data["commands"] = fix(data.get("commands", []))
    for group, entries in list(data.get("commands-by-group", {}).items()):
        data["commands-by-group"][group] = fix(entries)


def setup(app):
    app.connect("env-updated", name_commands)
    app.config.html_static_path.append(str(STATIC))
    # Loaded after searchtools.js (deferred), before the search runs (on DOMContentLoaded).
    app.add_js_file("jinit_search.js", loading_method="defer")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
