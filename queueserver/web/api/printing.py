"""Printing slips on the centre's thermal printers (CONTRACT §10): 202 once the worker has the
job; the printer's answer comes later, as `printer.failed` when it never prints."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from queueserver.auth.credentials import Action
from queueserver.collection import kiosk as collection
from queueserver.platform.config import Centre, Printer
from queueserver.platform.errors import Answer, ApiError
from queueserver.printing import jobs
from queueserver.queue.models import Ticket
from queueserver.queue.tickets import Centres
from queueserver.web.api.base import Body, Call, Given, Post

log = logging.getLogger("queueserver.printing")

C = "/api/v1/centres/{centre}"


class PrintBody(Body, frozen=True):
    # One of the centre's `[[centres.printers]]`, by name.
    printer: Given


class PrintJob(Answer, frozen=True):
    """A slip the worker will print: on which printer, which slip, of which ticket."""

    printer: str
    slip: str
    ticket: str


class PrintAnswer(Answer, frozen=True):
    """`{"print": ...}` (202: queued; `printer.failed` follows if it never prints)."""

    print: PrintJob


def printer_of(centre: Centre, name: str) -> Printer:
    printer = centre.printer(name)
    if printer is None:
        known = ", ".join(p.name for p in centre.printers) or "none"
        raise ApiError("unknown_printer",
                       message_en=f"No printer of this centre is called {name!r} (its printers: "
                                  f"{known}); choose one from the list.")
    return printer


async def enqueue(centres: Centres, centre: Centre, printer: Printer, slip: str, ticket: str,
                  fields: dict[str, Any]) -> None:
    assert centres.announcer is not None, "the app's lifespan gives every Centres its announcer"
    await asyncio.to_thread(jobs.enqueue, centres.config, centres.announcer.redis_url,
                            centres.clock, centre, printer, slip, ticket, fields)


def ticket_fields(ticket: Ticket) -> dict[str, Any]:
    """What a ticket slip shows; the follow URL rides along when the ticket has one."""
    keep = ("number", "service", "issued_at", "position", "estimated_wait_minutes",
            "follow_url")
    return {k: getattr(ticket, k) for k in keep if getattr(ticket, k, None) is not None}


async def after_check_in(centres: Centres, centre_id: str, name: str | None,
                         ticket: Ticket) -> None:
    """The check-in's slip, when the desk named a printer: a printer that cannot be asked (RQ's
    Redis away) costs the slip, never the number, which the desk has on its screen."""
    if not name:
        return
    centre = centres.centre(centre_id)
    try:
        await enqueue(centres, centre, printer_of(centre, name), "ticket", ticket.number,
                      ticket_fields(ticket))
    except Exception as e:  # noqa: BLE001 - see above
        log.warning("could not ask for the slip of %s on %s (%s): print it from the desk",
                    ticket.number, name, e)


def check_printer(centres: Centres, centre_id: str, name: str | None) -> None:
    """Check-in's `printer` names one of the centre's, before anything changes."""
    centre = centres.config.centre(centre_id)
    if name and centre is not None:
        printer_of(centre, name)


async def print_ticket(call: Call[PrintBody]) -> PrintJob:
    centre = call.centres.centre(call.centre)
    ticket = await call.centres.ticket(call.centre, call.params["number"])
    printer = printer_of(centre, call.body.printer)
    await enqueue(call.centres, centre, printer, "ticket", ticket.number, ticket_fields(ticket))
    return PrintJob(printer=printer.name, slip="ticket", ticket=ticket.number)


async def print_receipt(call: Call[PrintBody]) -> PrintJob:
    centres = call.centres
    found = await collection.receipt(centres, call.params["receipt_no"])
    if found is None:
        raise ApiError("not_found", message_en=collection.RECEIPT_NOT_FOUND[0],
                       message_zh=collection.RECEIPT_NOT_FOUND[1])
    home, fields = found
    if not call.credential.allows(Action.PRINT, home):
        raise ApiError("forbidden")
    centre = centres.centre(home)
    printer = printer_of(centre, call.body.printer)
    shown = ("receipt_no", "collection_date", "acceptance_no", "application_type",
             "amount_hkd", "surrender")
    await enqueue(centres, centre, printer, "receipt", fields.get("ticket", ""),
                  {k: fields[k] for k in shown if k in fields})
    return PrintJob(printer=printer.name, slip="receipt", ticket=fields.get("ticket", ""))


POSTS: list[Post[Any]] = [
    Post(C + "/tickets/{number}/print", Action.PRINT, print_ticket, PrintBody, PrintAnswer,
         status=202, wrap="print"),
    Post("/api/v1/receipts/{receipt_no}/print", Action.PRINT, print_receipt, PrintBody,
         PrintAnswer, status=202, wrap="print"),
]

routes = [p.route() for p in POSTS]
