"""Printing in the background: a request only enqueues (RQ, queue `printers`); the worker sends
the slip through python-escpos's `Network` printer. A printer that is off, out of paper or slow
makes the job try again, backing off, for two minutes of the centre's clock; then
`printer.failed` tells the desk screens, once, and the desk prints from the browser instead.
Nothing here can make a check-in fail or wait: a check-in's only part is the enqueue.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from typing import Any

import redis
from rq import Retry, get_current_job

from queueserver.notices import expiry
from queueserver.platform import config, connections, runtime
from queueserver.platform import jobs as worker
from queueserver.platform.clock import Clock, from_environment, iso
from queueserver.platform.config import Centre, Config, Printer
from queueserver.store import keys
from queueserver.store.lua import Scripts

log = logging.getLogger("queueserver.printing")

QUEUE = "printers"
# CONTRACT §10: retried for 2 minutes, then `printer.failed`.
RETRY_FOR_S = 120
# Between tries: 2 s, then doubling to 20 s — a printer switched back on prints within seconds.
FIRST_RETRY_S = 2
LONGEST_RETRY_S = 20
# A bound the clock never reaches in two minutes (about ten tries), should the clock stand still.
MOST_TRIES = 60
CONNECT_TIMEOUT_S = 5.0
# Most printers answer the paper query at once; one that does not is printed to anyway.
STATUS_WAIT_S = 1.0
SEND_TIMEOUT_S = 15.0
JOB_TIMEOUT_S = 60
FAILED_KEPT_S = 3600
SLIPS = ("ticket", "receipt")


class PrinterUnavailable(Exception):
    """The printer cannot print now: the message says why."""


def send(printer: Printer, data: bytes) -> None:
    """One slip to one printer, through python-escpos's network printer."""
    # Imported here: python-escpos reads its printer profiles on import (half a second), which
    # the web processes, which only enqueue, never need.
    from escpos.printer import Network

    device = Network(printer.host, printer.port, timeout=CONNECT_TIMEOUT_S)
    try:
        # Connected here, not by its open(), which leaves a failed attempt's socket open: a
        # printer off for two minutes would pile them up in the worker.
        connection = socket.create_connection((printer.host, printer.port),
                                              timeout=CONNECT_TIMEOUT_S)
    except OSError as e:
        raise PrinterUnavailable(f"no connection to {printer.url}: {e}") from None
    device.device = connection
    try:
        connection.settimeout(STATUS_WAIT_S)
        try:
            paper = device.paper_status()
        except OSError:
            paper = None  # no answer to the query
        if paper == 0:
            raise PrinterUnavailable(f"{printer.url} is out of paper")
        connection.settimeout(SEND_TIMEOUT_S)
        device._raw(data)
    except OSError as e:
        raise PrinterUnavailable(f"{printer.url} did not take the slip: {e}") from None
    finally:
        device.close()


# --- the web side: enqueue ------------------------------------------------------------------------

_connections: dict[str, redis.Redis] = {}
_connections_lock = threading.Lock()


def _rq(url: str) -> redis.Redis:
    """One RQ connection per process (its pool is thread-safe): check-ins enqueue through it."""
    with _connections_lock:
        found = _connections.get(url)
        if found is None:
            found = _connections[url] = connections.connect(url, decode_responses=False)
        return found


def enqueue(cfg: Config, redis_url: str, clock: Clock, centre: Centre, printer: Printer,
            slip: str, ticket: str, fields: dict[str, Any]) -> None:
    """Ask the worker to print. `fields` is what the slip shows (a ticket's view, a receipt's
    fields); the job's description names no receipt number or follow URL, so no log line does."""
    if slip not in SLIPS:
        raise ValueError(f"unknown slip {slip!r}")
    give_up_at = iso(clock.now() + dt.timedelta(seconds=RETRY_FOR_S))
    url = os.environ.get("RQ_REDIS_URL") or redis_url
    if connections.is_cluster(url):
        raise runtime.SetupError("RQ does not run on Redis Cluster: set RQ_REDIS_URL")
    worker.queue(cfg, QUEUE, _rq(url)).enqueue(
        print_job, centre.id, printer.name, slip, ticket, fields, give_up_at,
        job_timeout=JOB_TIMEOUT_S, result_ttl=0, failure_ttl=FAILED_KEPT_S,
        description=f"print the {slip} slip of {ticket} on {printer.name}")


# --- the worker side: print, retry, give up ------------------------------------------------------

def _failed(cfg: Config, centre: Centre, printer: str, ticket: str, slip: str, job_id: str,
            clock: Clock) -> None:
    names, ctx = expiry.context(centre.id, clock,
                                printer_failed=keys.printer_failed(centre.id, job_id))
    ctx.update(printer=printer, ticket=ticket, slip=slip)
    r = runtime.connect(runtime.redis_url(cfg))
    try:
        Scripts(r)("printer_failed", names, [ctx])
    finally:
        r.close()


def print_job(centre_id: str, printer_name: str, slip: str, ticket: str,
              fields: dict[str, Any], give_up_at: str) -> str | Retry:
    from queueserver.printing import slips

    cfg = config.load_default()
    centre = cfg.centre(centre_id)
    if centre is None:
        return f"no centre {centre_id!r} in the config"
    clock = from_environment(cfg.tz)
    job = get_current_job()
    printer = centre.printer(printer_name)
    try:
        if printer is None:
            raise PrinterUnavailable(f"no printer {printer_name!r} in the config any more")
        data = (slips.ticket(centre, fields, cfg.tz) if slip == "ticket"
                else slips.receipt(centre, fields))
        send(printer, data)
        log.info("printed the %s slip of %s on %s", slip, ticket, printer_name)
        return "printed"
    except PrinterUnavailable as e:
        tries = (job.number_of_retries or 0) if job else 0
        if printer is not None and clock.now() < dt.datetime.fromisoformat(give_up_at):
            wait = min(LONGEST_RETRY_S, FIRST_RETRY_S * 2 ** min(tries, 8))
            log.info("printer %s: %s; trying again in %d s", printer_name, e, wait)
            return Retry(max=MOST_TRIES, interval=wait)
        log.warning("printer %s could not print the %s slip of %s for 2 minutes (%s): the desk "
                    "is told to print it from the browser", printer_name, slip, ticket, e)
        _failed(cfg, centre, printer_name, ticket, slip, job.id if job else ticket, clock)
        return "failed"
