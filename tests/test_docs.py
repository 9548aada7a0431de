"""Runs every docstring example in the installed package as a test.

Doctests are collected from the imported modules (not from the source tree), so they run the
same whether jinit is installed normally or in editable mode.
"""

import doctest
import importlib
import pkgutil

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
