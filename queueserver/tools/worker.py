"""`queueserver worker`: the RQ worker, and the schedule of periodic jobs it enqueues.

Background work goes to RQ (DESIGN.md): rendering announcement audio, the scheduled booking
sync, closing the day, purging personal data, printing slips, the booking platform's emails and
upkeep; with `[notify]`, text messages, in a process of their own (follow/notify.py). RQ does
not run on Redis Cluster, so it uses `RQ_REDIS_URL` (default: `REDIS_URL`, or the embedded
default).

Besides the jobs, each tick sweeps the notices whose `until` has passed (as every web process
does: whichever comes first removes each, once), and RQ's scheduler runs for the jobs that try
again later (a printer that is off).
Each worker also runs the emails' dispatcher (`appointments/mail.py`), one pass a second; a
lock in Redis lets one pass run at a time, however many workers there are.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import threading

import redis
from rq import Queue, Worker

from queueserver.appointments import mail
from queueserver.appointments.maintenance import APPOINTMENTS_HOURLY, APPOINTMENTS_MINUTE
from queueserver.booking_sync.schedule import BOOKING_SYNC
from queueserver.follow import notify
from queueserver.notices import expiry
from queueserver.operations.dayclose import DAY_CLOSE
from queueserver.operations.privacy import PERSONAL_DATA_PURGE
from queueserver.platform import connections, jobs, logs, runtime
from queueserver.platform.clock import Clock, from_environment
from queueserver.platform.config import Config
from queueserver.platform.jobs import QUEUES, Periodic, rq_connection
from queueserver.store import keys

log = logging.getLogger("queueserver.worker")

# A due periodic job is enqueued by one worker only: the others find the lock taken.
TICK_S = 1.0

# Every periodic job, in one list: the worker enqueues each when due (once city-wide).
SCHEDULE: list[Periodic] = [BOOKING_SYNC, DAY_CLOSE, PERSONAL_DATA_PURGE, APPOINTMENTS_MINUTE,
                            APPOINTMENTS_HOURLY]
# An email job's time limit: one SMTP exchange, with its timeouts.
MAIL_JOB_TIMEOUT_S = 120


class PromptWorker(Worker):
    """RQ's worker, stopping promptly: RQ's pub/sub thread waits up to 60 s for a message and
    redis-py's `stop()` joins it without a limit, so a worker asked to stop lingered a minute."""

    def unsubscribe(self) -> None:
        thread = self.pubsub_thread
        if thread is None or self.pubsub is None:
            return
        self.log.info("Worker %s: unsubscribing from channel %s", self.name,
                      self.pubsub_channel_name)
        self.pubsub.unsubscribe()
        try:
            thread.stop(timeout=1)
        except TypeError:  # redis-py before 8: stop() does not wait at all
            thread.stop()
        self.pubsub.close()
def _sweep(config: Config, clock: Clock, state: dict[str, redis.Redis]) -> None:
    """Expired notices away; Redis being away only delays it to the next tick."""
    try:
        if "r" not in state:
            state["r"] = runtime.connect(runtime.redis_url(config, long_running=True))
        expiry.sweep(config, state["r"], clock)
    except Exception as e:  # noqa: BLE001 - next tick
        log.debug("notice sweep failed: %s", e)
        gone = state.pop("r", None)
        if gone is not None:
            gone.close()


def schedule_loop(config: Config, conn: redis.Redis, schedule: list[Periodic],
                  stop: threading.Event) -> None:
    """Enqueue each periodic job when due, and sweep expired notices, until `stop` is set."""
    clock = from_environment(config.tz)
    state: dict[str, redis.Redis] = {}
    while not stop.wait(TICK_S):
        _sweep(config, clock, state)
        for job in schedule:
            every = job.interval(config)
            if not every:
                continue
            # SET NX with the interval as expiry: at most one enqueue per interval, city-wide.
            if conn.set(keys.schedule_lock(job.name), "1", nx=True, ex=max(1, int(every))):
                Queue(job.queue, connection=conn).enqueue(job.func, job_timeout=3600)
                log.info("enqueued %s", job.name)


def _die_with_parent() -> None:
    # The text-message worker must not outlive the worker command, even when it is killed.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def notify_main(config: Config, data_url: str, rq_url: str, burst: bool) -> None:
    """The `notify` queue's own worker process, with the dispatch that reads each centre's
    events (follow/notify.py): a gateway that never answers holds this process only."""
    _die_with_parent()
    logs.setup()
    r = connections.connect(data_url)
    rq = jobs.rq_connect(rq_url)
    dispatch = notify.Dispatch(config, r, rq, from_environment(config.tz))
    stop = threading.Event()
    if burst:
        dispatch.once()
    else:
        for centre in config.centres:
            threading.Thread(target=dispatch.run_centre, args=(centre, stop), daemon=True,
                             name=f"notify:{centre.id}").start()
    try:
        worker = PromptWorker([Queue(notify.QUEUE, connection=rq)], connection=rq)
        # The scheduler puts RQ's delayed retries back in the queue when they are due.
        worker.work(burst=burst, logging_level="INFO", with_scheduler=True)
    finally:
        stop.set()


def _start_notify(config: Config, burst: bool) -> multiprocessing.process.BaseProcess | None:
    if config.notify is None:
        return None
    if not os.environ.get(config.notify.secret_env):
        raise runtime.SetupError(
            f"[notify] signs text messages with the key in ${config.notify.secret_env}, which "
            "is not set: set it (the gateway checks the same key), or remove [notify].")
    data_url = runtime.redis_url(config, long_running=True)
    process = multiprocessing.get_context("fork").Process(
        target=notify_main, args=(config, data_url, jobs.rq_url(config, True), burst),
        name="queueserver-notify")
    process.start()
    return process
def mail_loop(config: Config, conn: redis.Redis, stop: threading.Event) -> None:
    """The emails' dispatcher (appointments/mail.py), one pass a second, until `stop`."""
    clock = from_environment(config.tz)
    r = runtime.connect(runtime.redis_url(config, long_running=True))
    queue = Queue(mail.QUEUE, connection=conn)

    def enqueue(ident: str) -> None:
        queue.enqueue("queueserver.appointments.mail.send_job", ident,
                      job_timeout=MAIL_JOB_TIMEOUT_S, result_ttl=0)

    while not stop.wait(TICK_S):
        try:
            mail.dispatch(config, r, enqueue, clock.now())
        except redis.RedisError as e:
            log.warning("the emails' dispatcher could not reach Redis: %s", type(e).__name__)


def run(config: Config, burst: bool = False) -> int:
    conn = rq_connection(config, long_running=True)
    # Jobs log through the `queueserver` loggers: the same lines as every command's, not lost.
    logs.setup()
    # Started before any thread of this process: it is forked.
    notifier = _start_notify(config, burst)
    stop = threading.Event()
    scheduler = threading.Thread(target=schedule_loop, args=(config, conn, SCHEDULE, stop),
                                 daemon=True)
    scheduler.start()
    threading.Thread(target=mail_loop, args=(config, conn, stop), daemon=True).start()
    try:
        worker = PromptWorker([Queue(q, connection=conn) for q in QUEUES], connection=conn)
        # The scheduler moves retried jobs (a printer that is off) back to their queue when due.
        worker.work(burst=burst, logging_level="INFO", with_scheduler=True)
    finally:
        stop.set()
        if notifier is not None:
            if not burst:
                notifier.terminate()  # RQ's warm shutdown: a message being sent is finished
            notifier.join(60)
    return 0
