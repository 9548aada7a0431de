"""The residual stream among a model's tapped layers, and its per-layer trend.

``audit.signal`` judges depth behaviour on the stream (the repeated blocks' outputs), not on
the embedding or the head: :func:`stream_of` picks it from the layer names and
:func:`trend` fits the log-linear slope of a second moment over it.
"""

from __future__ import annotations

import math
import re

import numpy as np

_INDEXED = re.compile(r"^(?P<stem>.+?)[_/](?P<index>\d+)$")


def stream_of(layers: list[str]) -> list[int]:
    """The indices of the stream among ``layers`` (see :mod:`jinit.audit._signal`: the largest group of indexed names at the shallowest level, or one module called repeatedly)."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(layers):
        base = name.partition("#")[0]
        match = _INDEXED.match(base)
        groups.setdefault(match["stem"] if match else base, []).append(i)
    found = [(stem.count("/"), -len(members), members[0], members)
             for stem, members in groups.items() if len(members) >= 2]
    return min(found)[3] if found else list(range(len(layers)))


def trend(values: np.ndarray) -> float:
    """The least-squares slope of ``ln(values)`` against position (0 for fewer than 2)."""
    values = np.asarray(values, np.float64)
    if values.size < 2:
        return 0.0
    if not np.all(np.isfinite(values)):
        return math.inf  # overflowed: exploding
    if values[-1] <= 0 or values[0] <= 0:
        return -math.inf if values[-1] <= 0 else math.inf  # the signal died, or came from 0
    if np.any(values <= 0):  # a dead layer inside: the end points decide
        return float(np.log(values[-1] / values[0]) / (values.size - 1))
    x = np.arange(values.size, dtype=np.float64)
    return float(np.polyfit(x, np.log(values), 1)[0])
