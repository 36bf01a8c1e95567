"""Notices end by their `until`: every web process and every worker sweeps each centre once a
second, so a `notice.removed` goes out within a second or two of it whoever is running; the
script removes a notice and emits its event only if it is still there, so it goes out once.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis

from queueserver.platform.clock import Clock, iso, ms
from queueserver.platform.config import Config
from queueserver.queue.tickets import Centres
from queueserver.store import keys, lua
from queueserver.store.lua import Scripts

log = logging.getLogger("queueserver.notices")

# Well inside CONTRACT §10's 5 seconds, and a single sorted-set look-up per centre when nothing
# is due.
SWEEP_EVERY_S = 1.0
# A sweeper that keeps failing (Redis away) says so this often, not every second.
COMPLAIN_EVERY_S = 60.0


def context(centre_id: str, clock: Clock,
            **named: str) -> tuple[list[str], dict[str, object]]:
    """A script's KEYS and context outside a request (the worker's): the notices' keys and
    `named`, the time, and nobody acting."""
    now = clock.now()
    names, at = lua.declare({**keys.notice_keys(centre_id), **named})
    return names, {"keys": at, "date": now.date().isoformat(), "now_iso": iso(now),
                   "now_ms": ms(now), "by": "", "idem_fp": None}


def sweep(config: Config, r: redis.Redis, clock: Clock) -> int:
    """The worker's sweep (a synchronous connection): how many notices it removed."""
    scripts = Scripts(r)
    removed = 0
    for centre in config.centres:
        names, ctx = context(centre.id, clock)
        removed += int(scripts("notice_expire", names, [ctx]))
    return removed


async def sweep_async(centres: Centres) -> int:
    removed = 0
    for centre in centres.config.centres:
        removed += int(await centres.run_script("notice_expire", centre, "", None))
    return removed


async def run(centres: Centres) -> None:
    """A web process's sweeper, for as long as the process serves."""
    complained = -COMPLAIN_EVERY_S
    while True:
        await asyncio.sleep(SWEEP_EVERY_S)
        try:
            await sweep_async(centres)
        except Exception as e:  # noqa: BLE001 - the next second tries again
            if time.monotonic() - complained >= COMPLAIN_EVERY_S:
                complained = time.monotonic()
                log.warning("could not sweep expired notices (%s); retrying every second", e)
