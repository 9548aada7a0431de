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

    found = {"jinit": jinit}
    for info in pkgutil.walk_packages(jinit.__path__, prefix="jinit.", onerror=lambda n: None):
        if any(p.startswith("_") for p in info.name.split(".")[1:]):
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
    plots = [s for s in stems if "--plot" in jinit_gallery.RUNS[s]]
    for stem in plots + ["verify_signal"]:
        html = (site / "gallery" / f"plot_{stem}.html").read_text(encoding="utf-8")
        assert re.search(r'<img[^>]+src="\.\./_images/sphx_glr_plot_' + stem + r'_\d+\.png"',
                         html), f"gallery page of {stem} shows no plot"


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
