"""The desk's and supervisor's view of the bookings (CONTRACT §4: look up today's bookings).

- `GET /api/v1/centres/{centre}/bookings?date=YYYY-MM-DD` (default: today) → `{"centre",
  "date", "bookings": [BOOKING, ...by slot], "totals": {"booked", "checked_in", "cancelled"}}`;
  another day than today: supervisor and admin only (403 for desk and clerk).
- `POST /api/v1/centres/{centre}/bookings/lookup` with `{"booking_ref": ...}` or
  `{"id_number": ...}` (the full number, in the body: never in a URL, where logs would keep it)
  → `{"bookings": [BOOKING + "history": [...]]}`; a reference held by another centre adds
  `"other_centre"`. An identity number that is not one is 422 `invalid_id_number`. A
  credential that missed 10 look-ups in 15 minutes gets 429 `rate_limited` (`Retry-After`)
  until the window ends (ratelimit.py); misses and refusals are counted in `/metrics`.

BOOKING is `bookings.models.Booking`: names in full, identity and passport numbers masked, the
check-in state and ticket, and the fields the feed changed after check-in (`held_fields`).
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.routing import BaseRoute

from queueserver.auth import ratelimit
from queueserver.auth.credentials import Action
from queueserver.bookings.lookup import BookingLookup, NotAnIdentityNumber
from queueserver.bookings.models import DayList, Found, Totals
from queueserver.platform.errors import ApiError
from queueserver.queue.tickets import Centres
from queueserver.web.api.base import Body, Read, Text, authorize, parse_body

C = "/api/v1/centres/{centre}"


class Who(Body, frozen=True):
    """Whose bookings: one of the two (the identity number in full, never in a URL)."""

    booking_ref: Text | None = None
    id_number: Text | None = None

    def given(self) -> list[str]:
        return [name for name in self.__struct_fields__ if getattr(self, name)]


def _date(raw: str) -> str:
    try:
        return dt.date.fromisoformat(raw).isoformat() if len(raw) == 10 else ""
    except ValueError:
        return ""


async def day_list(request: Request) -> DayList:
    raw = request.query_params.get("date")
    date = _date(raw) if raw is not None else None
    if date == "":
        raise ApiError("bad_request", message_en="date must be a date as YYYY-MM-DD.")
    centre_id = request.path_params["centre"]
    centres: Centres = request.state.centres
    today = centres.clock.today()
    date = date or today
    # CONTRACT §4: desk and clerk look up today's bookings; another day's list, names and all,
    # is for the supervisor and the admin.
    await authorize(request, Action.LOOK_UP if date == today else Action.MANAGE, centre_id)
    centre = centres.centre(centre_id)
    bookings = await BookingLookup(request.state.redis, centres.secret).day(centre.id, date)
    live = [b for b in bookings if b.status != "cancelled"]
    return DayList(centre=centre.id, date=date, bookings=bookings, totals=Totals(
        booked=len(live), checked_in=sum(b.checked_in for b in bookings),
        cancelled=len(bookings) - len(live)))


async def lookup(request: Request) -> Found:
    body = parse_body(await request.body(), Who)
    given = body.given()
    if len(given) != 1:
        raise ApiError("bad_request", message_en="Send either booking_ref or id_number.")
    centre_id = request.path_params["centre"]
    cred = await authorize(request, Action.LOOK_UP, centre_id)
    centres: Centres = request.state.centres
    centre = centres.centre(centre_id)
    r = request.state.redis
    await ratelimit.lookup_allowed(r, cred, centre.id)
    find = BookingLookup(r, centres.secret)
    if body.booking_ref:
        bookings, elsewhere = await find.by_ref(centre.id, body.booking_ref)
        if not bookings:
            await ratelimit.lookup_missed(r, cred, centre.id)
        return Found(bookings, elsewhere) if elsewhere else Found(bookings)
    try:
        bookings = await find.by_id(centre.id, body.id_number or "")
    except NotAnIdentityNumber:
        await ratelimit.lookup_missed(r, cred, centre.id)
        raise ApiError("invalid_id_number") from None
    if not bookings:
        await ratelimit.lookup_missed(r, cred, centre.id)
    return Found(bookings)


routes: list[BaseRoute] = [
    Read(C + "/bookings", day_list, DayList).route(),
    Read(C + "/bookings/lookup", lookup, Found, body=Who).route(),
]
