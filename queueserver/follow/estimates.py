"""Every waiting place's estimate at once, for the follow page's fan-out.

The wait-estimate model is `store/scripts/_estimate.lua`: each open counter that serves a
service calls for it from the moment it is free, then once every one of its mean service times,
and the ticket at place p is called at the (p + 1)-th of those calls; a ticket's own estimate
(its TICKET, the board) finds that one call there, without listing the others. A phone needs the
figure of every waiting place of the centre after every event, so Redis gives only what the
calls start from (`estimate_inputs`: for each service, when each of its open counters starts
calling for it and its pace, in whole seconds; each queue's length: a few dozen values), and
the calls are listed here, in the web process, which scales out: in order, with a heap, the
same figures as the script's. `tests/follow/test_follow_api.py` holds each place's figure to
its ticket's own.
"""

from __future__ import annotations

import heapq
import math
from typing import Any


def _list(value: Any) -> list[Any]:
    # Lua's cjson writes an empty table as {}.
    return value if isinstance(value, list) else []


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def play(inputs: dict[str, Any]) -> dict[str, list[int] | None]:
    """{service: [minutes of place 0, place 1, ...]} for every waiting place; None for a
    service that no open counter serves (the screens say so instead of a figure)."""
    calls = _map(inputs.get("calls"))
    out: dict[str, list[int] | None] = {}
    for service, length in _map(inputs.get("lengths")).items():
        given = calls.get(service)
        if not isinstance(given, dict):
            out[service] = None
            continue
        starts = [float(a) for a in _list(given.get("a"))]
        paces = [float(m) for m in _list(given.get("m"))]
        # Each counter's next call: (when, counter, how many it made before). `when` is
        # a + j * m as the script works it out, so both give the same figure.
        heap = [(a, i, 0) for i, a in enumerate(starts)]
        heapq.heapify(heap)
        places: list[int] = []
        for _ in range(int(length) if heap else 0):
            at, i, j = heapq.heappop(heap)
            places.append(math.floor(at / 60 + 0.5))
            heapq.heappush(heap, (starts[i] + (j + 1) * paces[i], i, j + 1))
        out[service] = places
    return out
