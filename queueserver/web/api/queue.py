"""The same-day queue: photo booth, inquiry desk, counters and the board (CONTRACT §5)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute

from queueserver.auth.credentials import Action
from queueserver.follow.models import DeskTicketAnswer
from queueserver.follow.service import ISSUED, new_token
from queueserver.platform.errors import ApiError
from queueserver.queue.models import Board, CounterAnswer, PhotoReceipt, Ticket, TicketAnswer
from queueserver.rules.vocab import CounterAction
from queueserver.web.api import printing
from queueserver.web.api.base import Body, Call, Empty, Given, Post, Read, Text, authorize
from queueserver.web.api.follow import desk_ticket

C = "/api/v1/centres/{centre}"
N = C + "/counters/{n:int}"
T = C + "/tickets/{number}"


class PhotoBody(Body, frozen=True):
    barcode: Given


class CheckInBody(Body, frozen=True):
    booking_ref: Given
    id_number: Given
    photo_barcode: Given
    priority: bool | None = None
    # Check in outside the arrival window: a supervisor's or an admin's only.
    override_window: bool | None = None
    # For text messages (CONTRACT §9): E.164, else 422 `invalid_phone`; empty is none.
    phone: Text | None = None
    # CONTRACT §10: the slip printed in the background on this printer of the centre.
    printer: Text | None = None


class CallBody(Body, frozen=True):
    # That waiting ticket, else the next one.
    ticket: Text | None = None


class TransferBody(Body, frozen=True):
    service: Given


def _by(call: Call[Any]) -> str:
    return call.credential.id


def _counter(call: Call[Any]) -> int:
    assert call.counter is not None
    return call.counter


async def photo(call: Call[PhotoBody]) -> PhotoReceipt:
    return await call.centres.register_photo(call.centre, call.body.barcode, _by(call),
                                             call.idem)


def _override_allowed(call: Call[CheckInBody]) -> None:
    if call.body.override_window and not call.credential.allows(
            Action.OVERRIDE_WINDOW, call.centre):
        raise ApiError("forbidden", message_en="Only a supervisor may check in outside the "
                                               "arrival window.")
    printing.check_printer(call.centres, call.centre, call.body.printer)


async def check_in(call: Call[CheckInBody]) -> Ticket:
    b = call.body
    call.bookings.append((call.centre, b.booking_ref))
    # CONTRACT §9: the ticket's follow token, and the phone for its text messages. The
    # moment is taken once, so the token's day is the ticket's.
    now = call.centres.clock.now()
    token = new_token(call.centres, call.centre, now.date().isoformat())
    ticket = await call.centres.check_in(
        call.centre, b.booking_ref, b.id_number, b.photo_barcode, bool(b.priority),
        bool(b.override_window), _by(call), call.idem, follow_salt=token.salt,
        follow_key=token.key, phone=b.phone or None, phone_base=call.base_url, now=now)
    # Its follow URL (desk_ticket) is made from the token made here, not a salt read back.
    ISSUED.set((token, ticket.number))
    await printing.after_check_in(call.centres, call.centre, b.printer, ticket, call.base_url)
    return ticket


async def requeue(call: Call[Empty]) -> Ticket:
    return await call.centres.requeue(call.centre, call.params["number"], _by(call), call.idem)


def _state(action: CounterAction) -> Callable[[Call[Empty]], Awaitable[Ticket | None]]:
    async def run(call: Call[Empty]) -> Ticket | None:
        return await call.centres.counter_state(call.centre, _counter(call), action, _by(call),
                                                call.idem)
    return run


async def call_next(call: Call[CallBody]) -> Ticket | None:
    return await call.centres.call(call.centre, _counter(call), call.body.ticket or None,
                                   _by(call), call.idem)


async def recall(call: Call[Empty]) -> Ticket:
    return await call.centres.recall(call.centre, _counter(call), _by(call), call.idem)


async def no_show(call: Call[Empty]) -> Ticket:
    return await call.centres.no_show(call.centre, _counter(call), _by(call), call.idem)


async def transfer(call: Call[TransferBody]) -> Ticket:
    return await call.centres.transfer(call.centre, _counter(call), call.body.service,
                                       _by(call), call.idem)


POSTS: list[Post[Any]] = [
    Post(C + "/photo-receipts", Action.PHOTO, photo, PhotoBody, PhotoReceipt, status=201,
         wrap=None),
    # The desk's TICKETs carry the follow page's URL (CONTRACT §9). A check-in and a requeue
    # are one script of the centre before anything is read (a booking another centre holds is
    # looked up after it: Centres.check_in), as a counter's actions are: the kept credential
    # serves.
    Post(C + "/tickets", Action.CHECK_IN, check_in, CheckInBody, DeskTicketAnswer, status=201,
         check=_override_allowed, finish=desk_ticket, cached=True),
    Post(T + "/requeue", Action.CHECK_IN, requeue, Empty, DeskTicketAnswer,
         finish=desk_ticket, cached=True),
    *(Post(N + "/" + action, Action.COUNTER, _state(action), Empty, CounterAnswer,
           cached=True)
      for action in CounterAction),
    Post(N + "/call", Action.COUNTER, call_next, CallBody, CounterAnswer, cached=True),
    Post(N + "/recall", Action.COUNTER, recall, Empty, TicketAnswer, cached=True),
    Post(N + "/no-show", Action.COUNTER, no_show, Empty, TicketAnswer, cached=True),
    Post(N + "/transfer", Action.COUNTER, transfer, TransferBody, TicketAnswer, cached=True),
]


async def get_ticket(request: Request) -> DeskTicketAnswer:
    centre = request.path_params["centre"]
    await authorize(request, Action.LOOK_UP, centre)
    ticket = await request.state.centres.ticket(centre, request.path_params["number"])
    return DeskTicketAnswer(await desk_ticket(request, ticket))


async def board(request: Request) -> Board:
    centre = request.path_params["centre"]
    await authorize(request, Action.BOARD, centre)
    board: Board = await request.state.centres.board(centre)
    return board


routes: list[BaseRoute] = [
    *(p.route() for p in POSTS),
    Read(T, get_ticket, DeskTicketAnswer).route(),
    Read(C + "/board", board, Board).route(),
]
