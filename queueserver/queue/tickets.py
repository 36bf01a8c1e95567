"""The ticket lifecycle: photo receipts, check-in, counters and calls, each one Lua script.

Python decides what Lua cannot (the local date and time, identity hashes, which centre holds a
booking) and passes it in a context; the script checks the rules, changes the state and
appends the event together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import msgspec
import redis.asyncio

from queueserver.platform.clock import Clock, iso, ms, seconds_left_today
from queueserver.platform.config import Centre, Config
from queueserver.platform.errors import ApiError
from queueserver.queue.models import Board, PhotoReceipt, Ticket
from queueserver.rules import identity
from queueserver.rules import phone as phones
from queueserver.rules.vocab import CounterAction
from queueserver.sounds.phrases import announcement_templates
from queueserver.store import generation, idempotency, keys, lua
from queueserver.store.idempotency import Idem
from queueserver.store.multiplexed import Multiplexed

if TYPE_CHECKING:
    from queueserver.sounds.announcer import Announcer

CHIME_URL = "/sounds/chime.wav"
T = TypeVar("T")


def typed(value: Any, model: type[T]) -> T:
    """A script's answer read into its model."""
    return msgspec.convert(value, model)


class Centres:
    """Every state change and read of the centres' queues."""

    def __init__(self, config: Config, r: redis.asyncio.Redis, clock: Clock,
                 secret: bytes, announcer: Announcer | None = None,
                 shared: Multiplexed | None = None) -> None:
        self.config = config
        self.r = r
        self.clock = clock
        self.secret = secret
        self.scripts = lua.AsyncScripts(r, shared)
        # Names each call's spoken clips (sounds/announcer.py); without it, calls chime only.
        self.announcer = announcer
        # Each centre's day declared for each script (its date, the day's keys it names).
        self._days: dict[tuple[str, str], tuple[str, lua.Declared]] = {}
        # What each centre's config gives every script's context, made once.
        self._fixed: dict[str, dict[str, Any]] = {}
        # Each centre's board reads for the hall's sockets (`board(shared=True)`).
        self._boards: dict[str, _SharedBoard] = {}

    def centre(self, centre_id: str) -> Centre:
        centre = self.config.centre(centre_id)
        if centre is None:
            raise ApiError("not_found", message_en=f"Unknown centre {centre_id!r}.")
        return centre

    def counter(self, centre: Centre, number: int) -> int:
        if centre.counter(number) is None:
            raise ApiError("not_found", message_en=f"Unknown counter {number}.")
        return number

    def _context(self, centre: Centre, by: str, idem: Idem | None, now: datetime | None = None,
                 **extra: Any) -> dict[str, Any]:
        now = now or self.clock.now()
        date = now.date().isoformat()
        return {
            "ticket_prefix": keys.ticket(centre.id, date, ""),
            "date": date,
            "now_iso": iso(now),
            "now_ms": ms(now),
            "now_minutes": now.hour * 60 + now.minute,
            "by": by,
            **self._fixed_of(centre),
            "idem_fp": idem.fp if idem else None,
            "idem_kept_s": idempotency.KEPT_S,
            **extra,
        }

    def _fixed_of(self, centre: Centre) -> dict[str, Any]:
        fixed = self._fixed.get(centre.id)
        if fixed is None:
            fixed = self._fixed[centre.id] = {
                "counters": {str(c.number): list(c.services) for c in centre.counters},
                "default_service_s": centre.default_service_minutes * 60}
        return fixed

    async def _run(self, name: str, centre: Centre, by: str, idem: Idem | None,
                   keys_: lua.Named | None = None, *args: Any, now: datetime | None = None,
                   **extra: Any) -> Any:
        """Run a script with the centre's context and its keys: the centre's day, the ticket
        the request names (`ticket=`), the Idempotency-Key's record and `keys_`; at `now`, or
        the clock's moment."""
        # A record outside the centre's slot (a route without a centre, as the kiosks') is kept
        # by the route after the script (api/base.py): a script touches one slot.
        kept = idem if idem is not None and idem.centre == centre.id else None
        ctx = self._context(centre, by, kept, now, **extra)
        date = ctx["date"]
        named: dict[str, str | Mapping[str, str]] = dict(keys_ or {})
        if isinstance(extra.get("ticket"), str):
            named["ticket"] = keys.ticket(centre.id, date, extra["ticket"])
        if kept is not None:
            named["idempotency"] = kept.key
        acting = generation.ACTING.get()
        if acting is not None and acting.centre == centre.id:
            named["credential_generation"] = keys.credential_generation(centre.id)
            ctx["credential_generation"] = acting.generation
            if acting.bucket is not None:
                named["rate_bucket"] = acting.bucket
                ctx["rate"] = [acting.rate, acting.burst]
        names, ctx["keys"] = lua.declare(named, self._day(centre, date, name))
        return await self.scripts(name, names, [ctx, *args])

    def _day(self, centre: Centre, date: str, script: str) -> lua.Declared:
        """The keys of the centre's day (keys.centre_day) that the script uses (lua.k_names),
        declared once a day."""
        known = self._days.get((centre.id, script))
        if known is None or known[0] != date:
            day = keys.centre_day(centre.id, date, [c.number for c in centre.counters],
                                  [s.code for s in centre.services])
            uses = lua.k_names(script)
            known = self._days[centre.id, script] = (date, lua.declare(
                {name: value for name, value in day.items() if name in uses}))
        return known[1]

    async def run_script(self, name: str, centre: Centre, by: str, idem: Idem | None,
                         keys_: lua.Named | None = None, *args: Any, **extra: Any) -> Any:
        """For the operations kept in other modules (counter service, collection): one script
        with the centre's context (date, time, who acts, the Idempotency-Key's record)."""
        return await self._run(name, centre, by, idem, keys_, *args, **extra)

    # --- photo booth -------------------------------------------------------------------------

    async def register_photo(self, centre_id: str, barcode: str, by: str,
                             idem: Idem | None) -> PhotoReceipt:
        centre = self.centre(centre_id)
        return typed(await self._run(
            "photo_register", centre, by, idem,
            {"photo_receipt": keys.photo_receipt(centre.id, barcode)}, barcode), PhotoReceipt)

    # --- inquiry desk ------------------------------------------------------------------------

    async def check_in(self, centre_id: str, booking_ref: str, id_number: str,
                       photo_barcode: str, priority: bool, override: bool, by: str,
                       idem: Idem | None, follow_salt: str = "", phone: str | None = None,
                       phone_base: str = "", follow_key: str | None = None,
                       now: datetime | None = None) -> Ticket:
        """`follow_salt`: the ticket keeps it, and its follow token is made from it
        (follow/tokens.py); `follow_key`: where the script registers that token's hash, on one
        Redis (follow/service.py, new_token). `phone`: for text messages, kept apart until the
        day ends, with `phone_base`, the URL its messages link to without `public_url`. `now`:
        the moment of the check-in (the token's day), else the clock's."""
        centre = self.centre(centre_id)
        if phone is not None and not phones.valid(phone):
            raise ApiError("invalid_phone")
        priority_service = centre.priority_service
        now = now or self.clock.now()
        named: dict[str, str | Mapping[str, str]] = {
            "booking": keys.booking(centre.id, booking_ref),
            "photo_receipt": keys.photo_receipt(centre.id, photo_barcode),
            "phones": keys.phones(centre.id, now.date().isoformat())}
        if follow_key is not None:
            named["follow_token"] = follow_key
        result = await self._run(
            "checkin", centre, by, idem, named, now=now,
            id_hash=identity.hashes(self.secret, id_number), override=override,
            arrival_before=centre.arrival_before_minutes,
            arrival_after=centre.arrival_after_minutes,
            type_services={t: s.code for s in centre.services if not s.priority
                           for t in s.application_types},
            priority_service=priority_service.code if priority_service else None,
            priority=priority, follow_salt=follow_salt, phone=phone, phone_base=phone_base,
            day_left_s=seconds_left_today(now), centre_id=centre.id,
        )
        if result == {"elsewhere": True}:
            await self._not_here(centre, booking_ref)
        return typed(result, Ticket)

    async def _not_here(self, centre: Centre, booking_ref: str) -> NoReturn:
        """A check-in's booking is not this centre's (its script found none, or one moved
        away): the index says which centre holds it, whose answer comes in the contract's
        order. The script ran first, so the common case is one round trip."""
        holder: str | None = await self.r.hget(keys.booking_index(), booking_ref)  # type: ignore[assignment]
        if holder is None or holder == centre.id:
            raise ApiError("booking_not_found")
        status = await self.r.hget(keys.booking(holder, booking_ref), "status")
        if status in (None, "moved"):
            raise ApiError("booking_not_found")
        raise ApiError("booking_cancelled" if status == "cancelled" else "wrong_centre")

    async def requeue(self, centre_id: str, number: str, by: str,
                      idem: Idem | None) -> Ticket:
        centre = self.centre(centre_id)
        return typed(await self._run("requeue", centre, by, idem, ticket=number), Ticket)

    async def ticket(self, centre_id: str, number: str) -> Ticket:
        centre = self.centre(centre_id)
        return typed(await self._run("ticket_get", centre, "", None, ticket=number), Ticket)

    # --- counters ----------------------------------------------------------------------------

    async def counter_state(self, centre_id: str, number: int, action: CounterAction, by: str,
                            idem: Idem | None) -> Ticket | None:
        centre = self.centre(centre_id)
        result = await self._run("counter_state", centre, by, idem, None, action,
                                 counter=self.counter(centre, number))
        return None if result is None else typed(result, Ticket)

    async def _announcement(self, centre: Centre, number: int, recall: bool) -> dict[str, Any]:
        texts = announcement_templates(number, centre.announcement_languages, recall=recall)
        voices = await self.announcer.voices(centre, number, recall) if self.announcer else []
        return {"texts": texts, "clips": [CHIME_URL], "voices": voices}

    async def _announced(self, centre: Centre, result: Ticket | None,
                         announcement: dict[str, Any]) -> None:
        if self.announcer and result:
            await self.announcer.plan(result.number, announcement["voices"])
            self.announcer.called(centre, result.number, announcement["voices"])

    async def call(self, centre_id: str, number: int, ticket: str | None, by: str,
                   idem: Idem | None) -> Ticket | None:
        centre = self.centre(centre_id)
        announcement = await self._announcement(centre, self.counter(centre, number), False)
        called = await self._run("call", centre, by, idem, None, counter=number, ticket=ticket,
                                 **announcement)
        result = None if called is None else typed(called, Ticket)
        await self._announced(centre, result, announcement)
        return result

    async def recall(self, centre_id: str, number: int, by: str,
                     idem: Idem | None) -> Ticket:
        centre = self.centre(centre_id)
        announcement = await self._announcement(centre, self.counter(centre, number), True)
        result = typed(await self._run(
            "recall", centre, by, idem, None, counter=number, **announcement), Ticket)
        await self._announced(centre, result, announcement)
        return result

    async def no_show(self, centre_id: str, number: int, by: str,
                      idem: Idem | None) -> Ticket:
        centre = self.centre(centre_id)
        return typed(await self._run(
            "no_show", centre, by, idem, None, counter=self.counter(centre, number)), Ticket)

    async def transfer(self, centre_id: str, number: int, service: str, by: str,
                       idem: Idem | None) -> Ticket:
        centre = self.centre(centre_id)
        if centre.service(service) is None:
            raise ApiError("not_found", message_en=f"Unknown service {service!r}.")
        return typed(await self._run(
            "transfer", centre, by, idem, None, counter=self.counter(centre, number),
            service=service), Ticket)

    # --- hall display ------------------------------------------------------------------------

    async def board(self, centre_id: str, shared: bool = False) -> Board:
        """The centre's board and the stream id it is valid at, read after this call began.

        `shared`, for a hall display's socket (no credential acting: live/events.py): those
        that ask while a read of the centre's is under way wait for the next read, which starts
        when it ends and answers them all. Each still gets a board read after it asked, so that
        no event falls between its subscription, made before, and its board; and a thousand
        screens reconnecting at once cost Redis a few reads of the board, not a thousand."""
        centre = self.centre(centre_id)
        if not shared:
            return await self._board(centre)
        reads = self._boards.get(centre.id)
        if reads is None:
            reads = self._boards[centre.id] = _SharedBoard(self._board, centre)
        return await reads.next()

    async def _board(self, centre: Centre) -> Board:
        board: dict[str, Any] = await self._run(
            "board", centre, "", None, services=[s.code for s in centre.services])
        for name in ("now_serving", "recent_calls", "counters", "notices"):
            if board[name] == {}:
                board[name] = []
        return typed({"centre": centre.id, **board}, Board)


class _SharedBoard:
    """One centre's board reads for the hall's sockets: one under way at a time, and the next
    gathering those that ask meanwhile (`Centres.board`)."""

    def __init__(self, read: Callable[[Centre], Awaitable[Board]], centre: Centre) -> None:
        self.read, self.centre = read, centre
        self.turn = asyncio.Lock()
        # The read not yet sent, which an asker joins.
        self.gathering: asyncio.Future[Board] | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def next(self) -> Board:
        if self.gathering is None:
            self.gathering = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(self._run(self.gathering))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        # An asker that goes away (a screen that disconnects) leaves the read to the others.
        return await asyncio.shield(self.gathering)

    async def _run(self, answer: asyncio.Future[Board]) -> None:
        async with self.turn:
            self.gathering = None  # from now on, an asker waits for the next read
            # No credential acts for a socket's board: none is checked or charged here.
            generation.ACTING.set(None)
            try:
                answer.set_result(await self.read(self.centre))
            except asyncio.CancelledError:  # the process stops
                answer.cancel()
                raise
            except Exception as e:
                answer.set_exception(e)
                # Each asker raises it; with none left (all gone), it is not worth a warning.
                answer.exception()
