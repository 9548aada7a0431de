// Search summaries as text: the summary under a search result is the textContent of the page
// it links to, where formulas are still TeX (MathJax typesets them in the browser). This
// wraps Sphinx's Search.htmlToText: inline formulas become plain text, displayed equations
// are left out. jinitTexToText is a pure function (tests/test_docs_site.py runs it in node).
"use strict";

const JINIT_TEX_SYMBOLS = {
  alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", eta: "η",
  theta: "θ", kappa: "κ", lambda: "λ", mu: "μ", nu: "ν", pi: "π", rho: "ρ", sigma: "σ",
  tau: "τ", phi: "φ", varphi: "φ", chi: "χ", psi: "ψ", omega: "ω", Gamma: "Γ", Delta: "Δ",
  Theta: "Θ", Lambda: "Λ", Sigma: "Σ", Phi: "Φ", Psi: "Ψ", Omega: "Ω",
  cdot: "·", times: "×", le: "≤", leq: "≤", ge: "≥", geq: "≥", ne: "≠", neq: "≠",
  approx: "≈", sim: "~", propto: "∝", infty: "∞", pm: "±", to: "→", mapsto: "↦",
  rightarrow: "→", leftarrow: "←", in: "∈", sum: "Σ", prod: "∏", partial: "∂", ldots: "…",
  cdots: "…", dots: "…", sqrt: "√", langle: "⟨", rangle: "⟩", lVert: "‖", rVert: "‖",
  Vert: "‖", top: "ᵀ", mid: "|", lfloor: "⌊", rfloor: "⌋", lceil: "⌈", rceil: "⌉",
};
// Commands that only style or size what follows: dropped, their argument kept.
const JINIT_TEX_DROP = new Set([
  "left", "right", "bigl", "bigr", "Bigl", "Bigr", "big", "Big", "biggl", "biggr",
  "displaystyle", "textstyle", "text", "texttt", "textrm", "textbf", "mathrm", "mathbf",
  "mathcal", "mathbb", "mathit", "mathsf", "operatorname", "boldsymbol", "tfrac", "dfrac",
  "frac", "limits", "nolimits",
]);

function jinitTexToText(tex) {
  let s = tex.trim();
  s = s.replace(/^\\\(|\\\)$/g, "").replace(/^\\\[|\\\]$/g, "").trim();
  // Innermost groups first: styling wrappers lose their command, \frac{a}{b} reads a/b
  // (parenthesized where a side has an operator), \sqrt{a} reads √a or √(a).
  const group = (x) => (/^[\w.^\\]+$/.test(x.trim()) ? x.trim() : `(${x.trim()})`);
  for (let i = 0; i < 12; i++) {
    const next = s
      .replace(/\\(?:text|texttt|textrm|textbf|mathrm|mathbf|mathcal|mathbb|mathit|mathsf|operatorname|boldsymbol)\s*\{([^{}]*)\}/g, "$1")
      .replace(/\\[td]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, (m, a, b) => `${group(a)}/${group(b)}`)
      .replace(/\\sqrt\s*\{([^{}]*)\}/g, (m, a) => `√${group(a)}`)
      .replace(/([_^])\{([^{}]*)\}/g, (m, op, a) => `${op}${group(a)}`);
    if (next === s) break;
    s = next;
  }
  s = s.replace(/\\(?:,|;|:|!| |quad|qquad)/g, " ");
  s = s.replace(/\\([{}$%&#_])/g, "$1");
  s = s.replace(/\\([A-Za-z]+)/g, (m, name) =>
    name in JINIT_TEX_SYMBOLS ? JINIT_TEX_SYMBOLS[name] : (JINIT_TEX_DROP.has(name) ? "" : name));
  s = s.replace(/[{}]/g, "").replace(/\\\\/g, " ");
  return s.replace(/\s+/g, " ").trim();
}

if (typeof module !== "undefined") module.exports = { jinitTexToText };

if (typeof Search !== "undefined" && typeof DOMParser !== "undefined") {
  const sphinxHtmlToText = Search.htmlToText;
  Search.htmlToText = (htmlString, anchor) => {
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    doc.querySelectorAll("div.math").forEach((el) => el.remove());
    doc.querySelectorAll("span.math").forEach((el) => {
      el.replaceWith(doc.createTextNode(jinitTexToText(el.textContent)));
    });
    return sphinxHtmlToText(doc.documentElement.outerHTML, anchor);
  };
}
