"""Paths and rules: how a leaf is named, and which value a rule set gives it.

One path syntax and one rules compiler serve every function that takes rules
(:func:`jinit.tree.init_tree`, :mod:`jinit.mup`, the audit, the recipes, the framework
adapters), so a pattern that works in one works in all, and every one of them reports a
rule that matched nothing and an uncalled factory in the same words.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence

import jax
import numpy as np

from . import _checks
from ._base import Init, is_factory, public, public_name

# Attribute names under which Flax boxes (``nnx.Variable``, ``nnx.State`` entries) hold their
# array: a trailing one is not part of the leaf's name.
_BOX_ATTRS = ("value", "raw_value")

RULES_EXPECTED = ("a mapping {regex: initializer}, a sequence of (regex, initializer) pairs, "
                  "or a function (path, shape, dtype) -> initializer")


@public("jinit.tree")
class UnmatchedRuleWarning(UserWarning):
    """A rule's pattern matched no leaf: a typo, or rules written for another naming."""


@public("jinit.tree")
def path_str(path: Sequence[object]) -> str:
    """Renders a jax key path as the ``/``-separated string that rules match against.

    Dict keys and attribute names are written as they are, sequence indices as decimal
    integers; a trailing ``value`` attribute (how ``nnx.State`` and ``nnx.Variable`` hold
    their arrays) is dropped, so a linen ``params`` dict, an ``nnx.State`` and the abstract
    tree ``init_tree`` sees all name a leaf alike: ``(DictKey('params'), DictKey('Dense_0'),
    DictKey('kernel'))`` becomes ``'params/Dense_0/kernel'``.

    Args:
      path: a key path, as yielded by ``jax.tree_util.tree_flatten_with_path``.

    Returns:
      The path string.

    Example:
      >>> import jax
      >>> from jinit.tree import path_str
      >>> (path, _), = jax.tree_util.tree_flatten_with_path({"params": {"w": [0.0]}})[0]
      >>> path_str(path)
      'params/w/0'
    """
    entries = list(path)
    if entries and isinstance(entries[-1], jax.tree_util.GetAttrKey) and \
            entries[-1].name in _BOX_ATTRS and len(entries) > 1:
        entries.pop()
    parts = []
    for entry in entries:
        for attr in ("key", "name", "idx"):
            if hasattr(entry, attr):
                parts.append(str(getattr(entry, attr)))
                break
        else:
            parts.append(str(entry))
    return "/".join(parts)


def _factory_hint(fn: str, arg: str, value: object) -> Exception:
    name = public_name(value)
    return _checks.fail(fn, arg, value, f"is the factory {name}, not an initializer",
                        "an initializer init(key, shape, dtype)", f"Did you mean {name}()?",
                        TypeError)


def check_initializer(fn: str, arg: str, value: object) -> object:
    """Checks that ``value`` can initialize a leaf; names an uncalled jinit factory."""
    if is_factory(value):
        raise _factory_hint(fn, arg, value)
    if not callable(value):
        raise _checks.fail(fn, arg, value, "is not callable",
                           "an initializer init(key, shape, dtype)", exc=TypeError)
    return value


@dataclasses.dataclass
class Rules:
    """A compiled rule set: ``match(path, shape, dtype) -> (label, value) | None``.

    Patterns are tried in order and match when ``re.search(pattern, path)`` finds them.
    :meth:`unmatched` lists the patterns that no call to :meth:`match` has matched, so a
    caller that has seen every leaf can report rules that matched nothing.
    """

    fn: str
    patterns: list[tuple[re.Pattern[str], object]]
    function: Callable[[str, tuple[int, ...], np.dtype], object] | None = None
    hits: set[str] = dataclasses.field(default_factory=set)
    paths_hook: Callable[[list[str]], None] | None = None

    def check_paths(self, paths: Iterable[str]) -> None:
        """Lets a rules object see every path before any match (a recipe raises one error
        naming all the leaves it has no role for); a no-op for other rules."""
        if self.paths_hook is not None:
            self.paths_hook(list(paths))

    def match(self, path: str, shape: tuple[int, ...] = (), dtype: np.dtype | None = None
              ) -> tuple[str, object] | None:
        if self.function is not None:
            value = self.function(path, shape, dtype)
            if value is None:
                return None
            label = f"rules({path!r}, {shape}, {getattr(dtype, 'name', dtype)})"
            if is_factory(value):
                raise _factory_hint(self.fn, label, value)
            return label, value
        for regex, value in self.patterns:
            if regex.search(path):
                self.hits.add(regex.pattern)
                return f"rules[{regex.pattern!r}]", value
        return None

    @property
    def pattern_strings(self) -> list[str]:
        return [regex.pattern for regex, _ in self.patterns]

    def unmatched(self) -> list[str]:
        return [p for p in self.pattern_strings if p not in self.hits]

    def report_unmatched(self, paths: Iterable[str], *, strict: bool = False,
                         arg: str = "rules") -> None:
        """Warns (:class:`UnmatchedRuleWarning`), or raises with ``strict``, per dead rule."""
        missing = self.unmatched()
        if not missing:
            return
        paths = list(paths)
        lines = []
        for pattern in missing:
            close = difflib.get_close_matches(pattern, paths, n=3, cutoff=0.0)
            lines.append(_checks.message(
                self.fn, arg, pattern, "has a pattern that matched no leaf",
                "a pattern that re.search finds in at least one path",
                "Closest paths: " + ", ".join(repr(p) for p in close) + "." if close else ""))
        text = "\n".join(lines)
        if strict:
            raise ValueError(text)
        warnings.warn(text, UnmatchedRuleWarning, stacklevel=3)


def compile_rules(fn: str, rules: object, *, arg: str = "rules",
                  check: Callable[[str, str, object], object] | None = check_initializer,
                  expected: str = RULES_EXPECTED, allow_function: bool = True) -> Rules:
    """Compiles rules: a mapping ``{regex: value}``, ``(regex, value)`` pairs, or a function.

    ``check(fn, label, value)`` validates each value (by default: an initializer, with the
    "did you mean ``jinit.he_normal()``?" hint for an uncalled factory). An object with a
    ``__jinit_rules__()`` method (a recipe) stands for the rules that method returns.
    """
    if rules is None:
        return Rules(fn, [])
    as_rules = getattr(rules, "__jinit_rules__", None)
    hook = getattr(rules, "__jinit_check_paths__", None) if callable(as_rules) else None
    if callable(as_rules):
        rules = as_rules()
    if isinstance(rules, Init) or is_factory(rules):
        raise _checks.fail(fn, arg, rules, "is an initializer, not a set of rules", expected,
                           "To give every leaf the same initializer, pass it as default=.",
                           TypeError)
    if callable(rules) and not isinstance(rules, Mapping):
        if not allow_function:
            raise _checks.fail(fn, arg, rules, "is a function", expected, exc=TypeError)
        return Rules(fn, [], function=rules, paths_hook=hook)
    if isinstance(rules, Mapping):
        items = list(rules.items())
    elif isinstance(rules, Sequence) and not isinstance(rules, str):
        items = list(rules)
        for item in items:
            if not (isinstance(item, tuple) and len(item) == 2):
                raise _checks.fail(fn, arg, item, "is not a (pattern, value) pair", expected,
                                   exc=TypeError)
    else:
        raise _checks.fail(fn, arg, rules, "is not a set of rules", expected, exc=TypeError)
    compiled = []
    for pattern, value in items:
        if not isinstance(pattern, (str, re.Pattern)):
            raise _checks.fail(fn, arg, pattern, "has a pattern that is not a string",
                               "a regular expression (str or re.Pattern)", exc=TypeError)
        try:
            regex = re.compile(pattern)
        except re.error as e:
            raise _checks.fail(fn, arg, pattern, f"is not a valid regular expression ({e})",
                               "a pattern re.compile accepts") from None
        if check is not None:
            check(fn, f"{arg}[{regex.pattern!r}]", value)
        compiled.append((regex, value))
    return Rules(fn, compiled)
