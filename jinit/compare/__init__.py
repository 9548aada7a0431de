r"""Compare inits on your own model: training and validation curves over seeds.

The classic experiment — the same model trained from zero, random, Xavier, He and LeCun
init (or any rules, recipe or ``"auto"``), with the Keras-style ``loss``, ``val_loss``,
``accuracy`` and ``val_accuracy`` curves side by side — as one call, every seed of an init
in one compiled program (:func:`run`). Console: ``jinit compare FILE.py:build``.

Needs optax (and flax, equinox or matplotlib where the model or ``plot`` does); loaded
only by ``import jinit.compare``, never by ``import jinit``.
"""

from .._base import public
from ._models import is_kernel as is_kernel
from ._result import Result as Result
from ._run import run as run

__all__ = ["Result", "is_kernel", "run"]

for _obj in (Result, is_kernel, run):
    public("jinit.compare")(_obj)
del _obj
