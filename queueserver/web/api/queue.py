"""The same-day queue: photo booth, inquiry desk, counters and the board (CONTRACT §5)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from queueserver.auth.credentials import Action
from queueserver.platform.errors import ApiError
from queueserver.web.api import printing
from queueserver.web.api.base import Call, Field, Post, authorize

C = "/api/v1/centres/{centre}"
N = C + "/counters/{n:int}"
T = C + "/tickets/{number}"


def _by(call: Call) -> str:
    return call.credential.id


def _counter(call: Call) -> int:
    assert call.counter is not None
    return call.counter


async def photo(call: Call) -> Any:
    return await call.centres.register_photo(call.centre, call.body["barcode"], _by(call),
                                             call.idem)


def _override_allowed(call: Call) -> None:
    if call.body.get("override_window") and not call.credential.allows(
            Action.OVERRIDE_WINDOW, call.centre):
        raise ApiError("forbidden", message_en="Only a supervisor may check in outside the "
                                               "arrival window.")
    printing.check_printer(call)


async def check_in(call: Call) -> Any:
    b = call.body
    call.bookings.append((call.centre, b["booking_ref"]))
    ticket = await call.centres.check_in(
        call.centre, b["booking_ref"], b["id_number"], b["photo_barcode"],
        bool(b.get("priority")), bool(b.get("override_window")), _by(call), call.idem)
    await printing.after_check_in(call, ticket)
    return ticket


async def requeue(call: Call) -> Any:
    return await call.centres.requeue(call.centre, call.params["number"], _by(call), call.idem)


def _state(action: str) -> Any:
    async def run(call: Call) -> Any:
        return await call.centres.counter_state(call.centre, _counter(call), action, _by(call),
                                                call.idem)
    return run


async def call_next(call: Call) -> Any:
    return await call.centres.call(call.centre, _counter(call), call.body.get("ticket"),
                                   _by(call), call.idem)


async def recall(call: Call) -> Any:
    return await call.centres.recall(call.centre, _counter(call), _by(call), call.idem)


async def no_show(call: Call) -> Any:
    return await call.centres.no_show(call.centre, _counter(call), _by(call), call.idem)


async def transfer(call: Call) -> Any:
    return await call.centres.transfer(call.centre, _counter(call), call.body["service"],
                                       _by(call), call.idem)


POSTS = [
    Post(C + "/photo-receipts", Action.PHOTO, photo, {"barcode": Field(str)}, status=201,
         wrap=None),
    Post(C + "/tickets", Action.CHECK_IN, check_in, {
        "booking_ref": Field(str), "id_number": Field(str), "photo_barcode": Field(str),
        "priority": Field(bool, required=False), "override_window": Field(bool, required=False),
        # CONTRACT §10: the slip printed in the background on this printer of the centre.
        "printer": Field(str, required=False),
    }, status=201, check=_override_allowed),
    Post(T + "/requeue", Action.CHECK_IN, requeue),
    *(Post(N + "/" + action, Action.COUNTER, _state(action))
      for action in ("open", "pause", "resume", "close")),
    Post(N + "/call", Action.COUNTER, call_next, {"ticket": Field(str, required=False)}),
    Post(N + "/recall", Action.COUNTER, recall),
    Post(N + "/no-show", Action.COUNTER, no_show),
    Post(N + "/transfer", Action.COUNTER, transfer, {"service": Field(str)}),
]


async def get_ticket(request: Request) -> JSONResponse:
    centre = request.path_params["centre"]
    await authorize(request, Action.LOOK_UP, centre)
    ticket = await request.state.centres.ticket(centre, request.path_params["number"])
    return JSONResponse({"ticket": ticket})


async def board(request: Request) -> JSONResponse:
    centre = request.path_params["centre"]
    await authorize(request, Action.BOARD, centre)
    return JSONResponse(await request.state.centres.board(centre))


routes: list[BaseRoute] = [
    *(p.route() for p in POSTS),
    Route(T, get_ticket, methods=["GET"]),
    Route(C + "/board", board, methods=["GET"]),
]
