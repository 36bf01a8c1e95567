"""The booking platform's operations (CONTRACT §11), for the web layer: who a booking token
names, the free slots, booking, moving and cancelling, waiting lists, and the supervisor's view
and blocks. Each change is one Lua script in the centre's slot (`store/scripts/appointment_*`);
a move to another centre is two, the new place taken first (see `book`). On a single Redis a
booking, an opening rush's request, is one script with the request's own checks in it
(`book_at_once`), and a listing one round trip, its checks in the first of its scripts
(`slots_at_once`, DAYS_A_CALL); on a Cluster those checks are a step before.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any

import redis.asyncio
import redis.asyncio.cluster

from queueserver.appointments import applications, calendar
from queueserver.auth import ratelimit
from queueserver.platform.clock import Clock, iso, ms
from queueserver.platform.config import Centre, Config
from queueserver.platform.errors import ApiError
from queueserver.store import keys
from queueserver.store.lua import AsyncScripts
from queueserver.store.multiplexed import Multiplexed

# Days of a listing that one script call reads at most: a listing's 31 days took one call 150 to
# 250 µs of Redis, which the step of Lua's collector that Redis takes in every 50th script call
# could carry past the 500 µs no script may hold Redis for (issue 20); 16 days a call still did
# on a slower machine, and 11 on a slower one again, where a call of 11 days took 360-400 µs
# alone (docs/benchmarks.md). The calls are sent together: one round trip (a month's 22 working
# days are four calls).
DAYS_A_CALL = 6

# An address with this many unknown, withdrawn or malformed tokens in the window gets 429 on
# every /book route until the window ends (CONTRACT §11, as failed logins: §5).
TOKEN_FAILURES = 10
TOKEN_FAILURE_WINDOW_S = 15 * 60
# Days an application may wait on at once (CONTRACT §11).
WAITLIST_DAYS = 3
GATE = "application_gate"


@dataclass(frozen=True)
class Holder:
    """The application a valid booking token names."""

    digest: str
    app: dict[str, str]

    @property
    def ref(self) -> str:
        return self.app["ref"]

    def privileged(self, now: dt.datetime) -> bool:
        """Its appointment was cancelled by a block less than 7 days ago: it may book inside
        the minimum notice."""
        return int(self.app.get("rebook_until_ms") or 0) > ms(now)


@dataclass(frozen=True)
class Gate:
    """What the first round trip of a /book request found."""

    token: str
    digest: str
    address: str
    failures: int
    ttl: int
    found: Any


def _date(raw: str | None, name: str) -> dt.date:
    try:
        if raw is not None and len(raw) == 10:
            return dt.date.fromisoformat(raw)
    except ValueError:
        pass
    raise ApiError("bad_request", message_en=f"{name} must be a date as YYYY-MM-DD.")


def _start(raw: Any, name: str = "start") -> str:
    if not isinstance(raw, str) or len(raw) != 5 or raw[2] != ":" or not (
            raw[:2].isdigit() and raw[3:].isdigit()) or int(raw[:2]) > 23 or int(raw[3:]) > 59:
        raise ApiError("bad_request", message_en=f"{name} must be a time as HH:MM.")
    return raw


class Appointments:
    def __init__(self, config: Config, r: redis.asyncio.Redis, clock: Clock,
                 secret: bytes, shared: Multiplexed | None = None) -> None:
        self.config = config
        self.r = r
        self.clock = clock
        self.secret = secret
        self.scripts = AsyncScripts(r, shared)
        self._cluster = isinstance(r, redis.asyncio.cluster.RedisCluster)

    def centre(self, centre_id: str | None) -> Centre:
        centre = self.config.centre(centre_id or "")
        if centre is None:
            raise ApiError("not_found", message_en="Unknown service centre.",
                           message_zh="找不到此證件服務中心。")
        return centre

    # --- who the token names ---------------------------------------------------------------

    async def _gate(self, address: str, digest: str) -> tuple[int, int, Any]:
        """The address's failures (and their window's seconds left) and the gate script's
        answer, asked at once: one write and one round trip on the scripts' shared connection
        (store/multiplexed.py), else three commands in flight together."""
        failures = keys.token_failures_address(address)
        script_keys = [keys.application(digest), keys.application_rate(digest)]
        count, ttl, found = await asyncio.gather(
            self.scripts.execute("GET", failures), self.scripts.execute("TTL", failures),
            self.scripts(GATE, script_keys, [ratelimit.RATE_PER_S, ratelimit.BURST]))
        return int(count or 0), int(ttl), found

    async def look(self, token: str, address: str) -> Gate:
        """The first step of every /book request, one round trip: the address's failures and
        the application the token names (and one request from its allowance). A malformed
        token is looked up as any other, so that it answers in the same time."""
        digest = applications.token_hash(token)
        count, ttl, found = await self._gate(address, digest)
        return Gate(token, digest, address, count, ttl, found)

    @staticmethod
    def limited(gate: Gate) -> None:
        """429 for an address past TOKEN_FAILURES: checked before anything else."""
        if gate.failures >= TOKEN_FAILURES:
            raise ratelimit.RateLimited(max(1, gate.ttl) * 1000)

    async def admitted(self, gate: Gate) -> Holder:
        """The application, or 404 for an unknown, withdrawn or malformed token (each counted
        as a failure of the address), or 429 past the token's own allowance."""
        found = gate.found
        if not found or not applications.TOKEN.fullmatch(gate.token):
            pipe = self.r.pipeline(transaction=False)
            pipe.incr(keys.token_failures_address(gate.address))
            # The window starts at the first failure and is not stretched by later ones.
            pipe.expire(keys.token_failures_address(gate.address), TOKEN_FAILURE_WINDOW_S,
                        nx=True)
            await pipe.execute()
            raise ApiError("not_found")
        if found["wait_ms"]:
            raise ratelimit.RateLimited(int(found["wait_ms"]))
        return Holder(gate.digest, found["app"])

    async def admit(self, token: str, address: str) -> Holder:
        """`look`, `limited` and `admitted` for a request without a body."""
        gate = await self.look(token, address)
        self.limited(gate)
        return await self.admitted(gate)

    def _admission(self, token: str, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        """For a script that makes the request's own checks itself (_admit.lua), which only a
        single Redis can run (the keys lie in different Cluster slots): the token's hash, the
        keys to declare and the context's `admit`."""
        digest = applications.token_hash(token)
        own = {"failures": keys.token_failures_address(address),
               "application": keys.application(digest),
               "rate": keys.application_rate(digest)}
        return digest, own, {"limit": TOKEN_FAILURES, "window_s": TOKEN_FAILURE_WINDOW_S,
                             "rate": ratelimit.RATE_PER_S, "burst": ratelimit.BURST,
                             "well_formed": bool(applications.TOKEN.fullmatch(token))}

    @staticmethod
    def _let_in(answer: Any) -> Any:
        """A checking script's answer, its 429 raised (with the wait)."""
        if isinstance(answer, dict) and "limited_ms" in answer:
            raise ratelimit.RateLimited(int(answer["limited_ms"]))
        return answer

    # --- reading -----------------------------------------------------------------------------

    async def _held(self, ref: str) -> tuple[Centre | None, dict[str, str]]:
        """The centre the booking index names for the application, and its booking there."""
        where: Any = await self.r.hget(keys.booking_index(), ref)
        centre = self.config.centre(str(where)) if where else None
        if centre is None:
            return None, {}
        booking: Any = await self.r.hgetall(keys.booking(centre.id, ref))
        return centre, dict(booking)

    @staticmethod
    def appointment(booking: dict[str, str]) -> dict[str, Any] | None:
        if booking.get("status") != applications.APPROVED:
            return None
        return {"booking_ref": booking["ref"], "centre": booking["centre"],
                "date": booking["date"], "slot_start": booking["slot_start"],
                "slot_end": booking["slot_end"]}

    async def view(self, holder: Holder) -> dict[str, Any]:
        """GET /api/v1/book/{token} (CONTRACT §11)."""
        app = holder.app
        centre, booking = await self._held(holder.ref)
        limit = (centre or self.config.centres[0]).appointments.max_changes
        changes = int(booking.get("changes") or 0)
        waiting, offer = await self._waiting(holder)
        out: dict[str, Any] = {
            "application": {"application_type": app.get("application_type", ""),
                            "name_masked": applications.name_masked(
                                app.get("surname", ""), app.get("given_names", ""))},
            "appointment": self.appointment(booking),
            "changes_left": max(0, limit - changes),
            "waitlist": [{"centre": c, "date": d} for c, d in waiting],
            "checked_in": bool(booking.get("ticket")) and
            booking.get("status") == applications.APPROVED,
            "may_book_inside_notice": holder.privileged(self.clock.now()),
        }
        if offer:
            out["offer"] = offer
        return out

    async def _waiting(self, holder: Holder) -> tuple[list[tuple[str, str]], dict[str, Any] | None]:
        """The days still waited on (a day whose list let it go, offered or lapsed, is
        dropped from the application), and the offer open now, if any."""
        kept: list[tuple[str, str]] = []
        offer: dict[str, Any] | None = None
        listed = applications.waitlist_of(holder.app)
        for centre_id, date in listed:
            if self.config.centre(centre_id) is None:
                continue
            line = await self.r.zscore(keys.waitlist(centre_id, date), holder.ref)
            held: Any = await self.r.hgetall(keys.offer(centre_id, holder.ref))
            if held.get("date") == date and int(held.get("until_ms") or 0) > ms(self.clock.now()):
                offer = {"centre": centre_id, "date": date, "start": held["start"],
                         "end": held["end"],
                         "until": iso(applications.when(int(held["until_ms"]), self.config.tz))}
                kept.append((centre_id, date))
            elif line is not None:
                kept.append((centre_id, date))
        if kept != listed:
            await self.r.hset(keys.application(holder.digest), "waitlist", json.dumps(kept))
        return kept, offer

    @staticmethod
    def _span(first: str | None, last: str | None, now: dt.datetime) -> tuple[dt.date, dt.date]:
        """A listing's first and last day (today and 31 days by default), or 400."""
        start = _date(first, "from") if first else now.date()
        end = _date(last, "to") if last else start + dt.timedelta(
            days=calendar.MAX_LISTING_DAYS - 1)
        if end < start or (end - start).days >= calendar.MAX_LISTING_DAYS:
            raise ApiError("bad_request", message_en="from and to span 1 to 31 days.",
                           message_zh="查詢日期範圍須為 1 至 31 日。")
        return start, end

    @staticmethod
    def _listing_context(centre: Centre, now: dt.datetime, days: list[calendar.Day],
                         own: dict[str, str] | None = None,
                         **extra: Any) -> tuple[list[str], dict[str, Any]]:
        """appointment_slots.lua's: a day whose every slot may be booked is named by its date
        alone (most of them: a third of the context's size)."""
        every = calendar.starts(centre)
        return calendar.context(centre, now, own=own, starts=every, days=[
            {"date": d.date.isoformat()} if d.starts == every else
            {"date": d.date.isoformat(), "starts": d.starts} for d in days], **extra)

    @staticmethod
    def _listing(centre: Centre, days: list[calendar.Day], frees: Any) -> dict[str, Any]:
        found: list[dict[str, Any]] = []
        ends = calendar.ends(centre)
        for day, free in zip(days, frees, strict=True):
            date = day.date.isoformat()
            found += [{"date": date, "start": s, "end": ends[s], "free": n}
                      for s, n in zip(day.starts, free, strict=True) if n > 0]
        return {"centre": centre.id, "slots": found}

    async def _frees(self, centre: Centre, now: dt.datetime, days: list[calendar.Day],
                     own: dict[str, str] | None = None, **extra: Any) -> Any:
        """appointment_slots.lua's answer for `days`, DAYS_A_CALL days a call, the calls sent
        together. The first carries `own` and `extra` (the request's own checks): when its
        answer is not a listing (a wait, an application that lists other days), it is the
        answer."""
        calls = []
        for i in range(0, max(len(days), 1), DAYS_A_CALL):
            declared, ctx = (self._listing_context(centre, now, days[:DAYS_A_CALL], own, **extra)
                             if i == 0 else
                             self._listing_context(centre, now, days[i:i + DAYS_A_CALL]))
            calls.append(self.scripts("appointment_slots", declared, [ctx]))
        answers = await asyncio.gather(*calls)
        if not isinstance(answers[0], list):
            return answers[0]
        return [free for answer in answers for free in answer]

    async def slots(self, holder: Holder, centre_id: str | None, first: str | None,
                    last: str | None) -> dict[str, Any]:
        """The bookable slots with a free place, over at most 31 days."""
        if not centre_id:
            raise ApiError("bad_request", message_en="Name the centre: ?centre=ID.")
        now = self.clock.now()
        start, end = self._span(first, last, now)
        centre = self.centre(centre_id)
        days = calendar.days(centre, now, start, end, holder.privileged(now))
        frees = await self._frees(centre, now, days) if days else []
        return self._listing(centre, days, frees)

    async def slots_at_once(self, token: str, address: str, centre_id: str | None,
                            first: str | None, last: str | None) -> dict[str, Any] | None:
        """GET .../slots in one round trip, the request's own checks in its first script (a
        single Redis): the listing, or None when it cannot be so (a Cluster, a question `slots`
        refuses), for the caller to take the steps one by one, in the contract's order."""
        centre = self.config.centre(centre_id or "")
        if self._cluster or centre is None:
            return None
        now = self.clock.now()
        try:
            start, end = self._span(first, last, now)
        except ApiError:
            return None
        days = calendar.days(centre, now, start, end)
        digest, own, admit = self._admission(token, address)
        frees = self._let_in(await self._frees(centre, now, days, own, admit=admit))
        if isinstance(frees, dict) and "app" in frees:
            # May book inside the notice: its days are others.
            return await self.slots(Holder(digest, frees["app"]), centre_id, first, last)
        return self._listing(centre, days, frees)

    # --- changing ----------------------------------------------------------------------------

    @staticmethod
    def _slot_refusal(centre: Centre, date: dt.date, start: str, now: dt.datetime,
                      rebook: bool) -> str:
        """What Python can tell of the slot wanted, before any script: one of the centre's,
        within the horizon, not inside the notice (CONTRACT §11's refusals); '' when none."""
        if not calendar.is_slot(centre, date, start) or date > calendar.last_day(
                centre, now.date()):
            return "slot_unavailable"
        begins = calendar.at(centre, date, start, now.tzinfo)
        if begins <= now or begins < calendar.earliest(centre, now, rebook):
            return "too_soon"
        return ""

    def _check_slot(self, holder: Holder, centre: Centre, date: dt.date, start: str,
                    now: dt.datetime) -> None:
        refusal = self._slot_refusal(centre, date, start, now, holder.privileged(now))
        if refusal:
            raise ApiError(refusal)

    async def book_at_once(self, token: str, address: str,
                           body: dict[str, Any]) -> dict[str, Any] | None:
        """POST .../appointment as one script, the request's own checks and the booking index
        included (a single Redis): as `book`; or None when it cannot be so (a Cluster, an
        unknown centre, a malformed date or time), for the caller to take the steps one by
        one, in the contract's order. A move from another centre goes on as `book` does."""
        centre = self.config.centre(body["centre"])
        if self._cluster or centre is None:
            return None
        try:
            date, start = _date(body["date"], "date"), _start(body["start"])
        except ApiError:
            return None
        now = self.clock.now()
        digest, own, admit = self._admission(token, address)
        declared, ctx = calendar.context(
            centre, now, own={**own, "index": keys.booking_index()}, date=date.isoformat(),
            start=start, field_names=applications.BOOKING_FIELDS, moving_from="", changes=0,
            move_id="", admit=admit,
            refusal=self._slot_refusal(centre, date, start, now, False),
            refusal_privileged=self._slot_refusal(centre, date, start, now, True))
        result: dict[str, Any] = self._let_in(await self._book_script(declared, ctx))
        if "app" in result:  # held at another centre
            return await self.book(Holder(digest, result["app"]), body)
        return result

    async def book(self, holder: Holder, body: dict[str, Any]) -> dict[str, Any]:
        """POST .../appointment: book, or move what is held (CONTRACT §11)."""
        centre = self.centre(body["centre"])
        date = _date(body["date"], "date")
        start = _start(body["start"])
        now = self.clock.now()
        self._check_slot(holder, centre, date, start, now)
        ref = holder.ref
        declared, ctx = calendar.context(
            centre, now, own=_own(centre, ref), ref=ref, date=date.isoformat(), start=start,
            fields=applications.booking_fields(holder.app, centre.id),
            moving_from="", changes=0, move_id="")
        if holder.privileged(now):
            ctx["cutoff"] = calendar.local_text(now)
        # The booking index names the centre before its booking is written, so a desk never
        # meets a booking it cannot find; a first booking learns that here in one step.
        if await self.r.hsetnx(keys.booking_index(), ref, centre.id):
            where = centre.id
        else:
            where = str(await self.r.hget(keys.booking_index(), ref))
        if where != centre.id:
            old = self.config.centre(where)
            booking: Any = await self.r.hgetall(keys.booking(where, ref)) if old else {}
            if old is not None and booking.get("status") == applications.APPROVED:
                return await self._move(holder, old, booking, centre, (declared, ctx), now)
            await self.r.hset(keys.booking_index(), ref, centre.id)
        return await self._book_script(declared, ctx)

    async def _book_script(self, declared: list[str], ctx: dict[str, Any]) -> dict[str, Any]:
        """appointment_book.lua; its `slot_full` carries `listing`, the day's slots still free
        (as GET .../slots answers for that day), so the page need not list the day again."""
        try:
            result: dict[str, Any] = await self.scripts("appointment_book", declared, [ctx])
        except ApiError as e:
            listing = e.extra.get("listing")
            if listing is not None and not listing["slots"]:
                listing["slots"] = []  # Lua's cjson writes an empty list as {}
            raise
        return result

    async def _move(self, holder: Holder, old: Centre, booking: dict[str, str], new: Centre,
                    call: tuple[list[str], dict[str, Any]], now: dt.datetime) -> dict[str, Any]:
        """A move to another centre (another Cluster slot): the new place is taken first and
        the old one freed after, never the other way round. The move is written down first
        (`keys.appointment_moves`): a crash between the two steps is settled by the repair job
        (maintenance.repair_moves) within a minute."""
        ref = holder.ref
        if booking.get("ticket"):
            raise ApiError("already_checked_in")
        held_at = calendar.at(old, dt.date.fromisoformat(booking["date"]), booking["slot_start"],
                              now.tzinfo)
        if held_at < calendar.earliest(old, now):
            raise ApiError("too_soon")
        move_id = secrets.token_hex(8)
        declared, ctx = call
        ctx.update(moving_from=old.id, changes=int(booking.get("changes") or 0), move_id=move_id)
        intent = json.dumps({"id": move_id, "from": old.id, "to": new.id, "at_ms": ms(now)})
        await self.r.hset(keys.appointment_moves(), ref, intent)
        try:
            result: dict[str, Any] = await self._book_script(declared, ctx)
        except ApiError:
            await self.r.hdel(keys.appointment_moves(), ref)
            raise
        await self.r.hset(keys.booking_index(), ref, new.id)
        await release(self.scripts, self.r, self.config, ref, old, new, now)
        return result

    async def cancel(self, holder: Holder) -> None:
        """DELETE .../appointment: the place freed at once (nothing held: nothing to do)."""
        centre, _booking = await self._held(holder.ref)
        if centre is None:
            return
        declared, ctx = calendar.context(centre, self.clock.now(), own=_own(centre, holder.ref),
                                         mode="cancel", ref=holder.ref, to="", dates=[])
        await self.scripts("appointment_cancel", declared, [ctx])

    async def join_waitlist(self, holder: Holder, body: dict[str, Any]) -> dict[str, Any]:
        """POST .../waitlist: a place in line for a day with no free place (at most 3 days)."""
        centre = self.centre(body["centre"])
        date = _date(body["date"], "date")
        now = self.clock.now()
        starts = calendar.bookable(centre, now, date)
        if not starts:
            raise ApiError("slot_unavailable")
        listed = applications.waitlist_of(holder.app)
        if (centre.id, date.isoformat()) not in listed and len(listed) >= WAITLIST_DAYS:
            raise ApiError("waitlist_limit")
        declared, ctx = calendar.context(centre, now, ref=holder.ref, date=date.isoformat(),
                                         starts=starts)
        position: int = await self.scripts("appointment_waitlist", declared, [ctx])
        if (centre.id, date.isoformat()) not in listed:
            listed.append((centre.id, date.isoformat()))
            await self.r.hset(keys.application(holder.digest), "waitlist", json.dumps(listed))
        return {"waitlist": [{"centre": c, "date": d} for c, d in listed],
                "position": position}

    # --- the supervisor ----------------------------------------------------------------------

    async def day(self, centre_id: str, raw_date: str | None) -> dict[str, Any]:
        centre = self.centre(centre_id)
        now = self.clock.now()
        date = _date(raw_date, "date") if raw_date is not None else now.date()
        starts = calendar.starts(centre) if calendar.calendar(centre).works(date) else []
        rows: list[dict[str, Any]] = []
        if starts:
            declared, ctx = calendar.context(centre, now, date=date.isoformat(), starts=starts)
            found = await self.scripts("appointment_day", declared, [ctx])
            for start, row in zip(starts, found, strict=True):
                reason = json.loads(row["blocked"]) if row["blocked"] else None
                rows.append({"start": start, "end": calendar.end_of(centre, start),
                             "capacity": row["capacity"], "booked": row["booked"],
                             "held": row["held"], "checked_in": row["checked_in"],
                             "blocked": reason is not None,
                             "reason_en": reason["reason_en"] if reason else None,
                             "reason_zh": reason["reason_zh"] if reason else None})
        return {"centre": centre.id, "date": date.isoformat(), "slots": rows}

    async def block(self, centre_id: str, body: dict[str, Any], by: str) -> dict[str, Any]:
        """POST .../appointments/blocks: the slots starting between `start` and `end` take no
        new bookings; with `cancel`, their appointments are cancelled and each applicant
        emailed to rebook, free to take a slot inside the minimum notice for 7 days."""
        centre = self.centre(centre_id)
        date = _date(body["date"], "date")
        first, last = _start(body["start"]), _start(body["end"], "end")
        if last <= first:
            raise ApiError("bad_request", message_en="end must be after start.",
                           message_zh="結束時間須在開始時間之後。")
        now = self.clock.now()
        starts = [s for s in calendar.starts(centre) if first <= s < last]
        if not calendar.calendar(centre).works(date) or not starts:
            raise ApiError("slot_unavailable", message_en="No slot of that day starts between "
                           "those times.", message_zh="該日在此時段內沒有預約時段。")
        reason = json.dumps({"reason_en": body["reason_en"], "reason_zh": body["reason_zh"],
                             "by": by, "at": iso(now)}, ensure_ascii=False)
        declared, ctx = calendar.context(centre, now, date=date.isoformat(), starts=starts,
                                         reason=reason, cancel=bool(body.get("cancel")))
        result = await self.scripts("appointment_block", declared, [ctx])
        cancelled = list(result["cancelled"] or [])
        until = ms(now + calendar.REBOOK_PRIVILEGE)
        for ref in cancelled:
            digest = await self.r.hget(keys.application_refs(), ref)
            if digest:
                await self.r.hset(keys.application(str(digest)), "rebook_until_ms", until)
        return {"date": date.isoformat(), "blocked": len(starts), "cancelled": len(cancelled)}


def _own(centre: Centre, ref: str) -> dict[str, str]:
    """The keys of a script that acts on one booking: the booking and its history."""
    return {"booking": keys.booking(centre.id, ref),
            "history": keys.booking_history(centre.id, ref)}


async def release(scripts: AsyncScripts, r: redis.asyncio.Redis, config: Config, ref: str,
                  old: Centre, new: Centre, now: dt.datetime) -> None:
    """The second step of a move between centres: free the older place. Should it have been
    checked in meanwhile, the new place is given back instead and the move refused."""
    try:
        declared, ctx = calendar.context(old, now, own=_own(old, ref), mode="release", ref=ref,
                                         to=new.id, dates=[])
        await scripts("appointment_cancel", declared, [ctx])
    except ApiError:
        declared, ctx = calendar.context(new, now, own=_own(new, ref), mode="undo", ref=ref,
                                         to=old.id, dates=[])
        await scripts("appointment_cancel", declared, [ctx])
        await r.hset(keys.booking_index(), ref, old.id)
        await r.hdel(keys.appointment_moves(), ref)
        raise
    await r.hdel(keys.appointment_moves(), ref)
