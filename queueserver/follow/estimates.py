"""Every waiting place's estimate at once, for the follow page's fan-out.

The wait-estimate model is `store/scripts/_estimate.lua`: it plays the calling order forward
from now, as `call` would, and a ticket's own estimate (its TICKET, the board) comes from there.
A phone needs the same figure for every waiting place of the centre after every event, and
playing a queue of thousands in Lua would hold Redis, which every centre shares, for
milliseconds each time. So Redis gives only what the play starts from (`estimate_inputs`: the
open counters and when each is free, the mean service times, the queues' lengths; a few
dozen values), and the play runs here, in the web process, which scales out: the same rules,
step for step, with a heap instead of a scan for the next free counter.
`tests/follow/test_follow_api.py` holds each place's figure to its ticket's own.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

# As in _estimate.lua: a bound on the played calls, far above any hall's queue.
MAX_STEPS = 10000


def _minutes(seconds: float) -> int:
    return math.floor(seconds / 60 + 0.5)


def _list(value: Any) -> list[Any]:
    # Lua's cjson writes an empty table as {}.
    return value if isinstance(value, list) else []


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def play(inputs: dict[str, Any]) -> dict[str, list[int]]:
    """{service: [minutes of place 0, place 1, ...]} for every waiting place."""
    means = {k: float(v) for k, v in _map(inputs.get("means")).items()}
    waiting = {s: int(n) for s, n in _map(inputs.get("lengths")).items()}
    counters = [(float(c["free_in"]), int(c["n"]), [str(s) for s in _list(c["services"])])
                for c in _list(inputs.get("counters"))]
    served = {s for _, _, services in counters for s in services}
    # A service no open counter serves: as if one counter opened now for it alone.
    counters += [(0.0, 0, [s]) for s, n in waiting.items() if s not in served and n > 0]
    for s in served:
        waiting.setdefault(s, 0)
    # The next free counter: the soonest, then the lowest number (the order `call` keeps).
    # Equal keys only ever meet between the made-up counters above, which serve one service
    # each, so which goes first changes nobody's turn. Each entry carries its counter's mean
    # for each of its services.
    heap = [(free_in, n, i, services, {s: means[f"{n}:{s}"] for s in services})
            for i, (free_in, n, services) in enumerate(counters)]
    heapq.heapify(heap)
    taken = dict.fromkeys(waiting, 0)
    out: dict[str, list[int]] = {s: [] for s in waiting}
    floor = math.floor
    for _ in range(MAX_STEPS):
        if not heap:
            break
        free_in, n, i, services, mean_of = heapq.heappop(heap)
        for picked in services:
            if taken[picked] < waiting[picked]:
                break
        else:
            continue  # nobody left for it: it takes no one more
        taken[picked] += 1
        out[picked].append(floor(free_in / 60 + 0.5))
        heapq.heappush(heap, (free_in + mean_of[picked], n, i, services, mean_of))
    for s, places in out.items():
        mean = means.get(f"0:{s}", 0.0)
        places += [_minutes(place * mean) for place in range(len(places), waiting[s])]
    return out
