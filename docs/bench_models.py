"""What typed models cost on the check-in path: msgspec against pydantic, and both against the
standard library's `json` with the hand-written check the server had before the models.

One check-in, in three steps: decode and validate the request body; read the script's answer
(`{"ok": TICKET}`) into a TICKET; encode the reply `{"ticket": TICKET}`. Last, the whole path
through the server's own functions, response object included, before the models (the hand
check, `json`, Starlette's JSONResponse) and as built (`web/api/base.parse_body`,
`store/lua.decode`, `queue/tickets.typed`, `web/api/base.reply`). Run from the repository with
the test extras:

    python docs/bench_models.py

pydantic is not a dependency of the server; it is in the test lock (schemathesis needs it).
"""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable
from typing import Any

import msgspec
import pydantic

BODY = (b'{"booking_ref": "MEP0001234", "id_number": "A123456(3)", '
        b'"photo_barcode": "PH20261126-0042", "priority": false}')
SCRIPT = (b'{"ok":{"number":"A023","service":"A","status":"waiting",'
          b'"issued_at":"2026-11-26T09:14:03+08:00","position":4,"estimated_wait_minutes":12,'
          b'"counter":null,"called_at":null,"recalls":0,"acceptance_no":null,"receipt_no":null}}')
# Rounds take turns (each candidate once a round) and the best round counts: on a shared
# machine the load moves between rounds, and the least disturbed one is the cost itself.
NUMBER = 5_000
ROUNDS = 15


# --- msgspec ----------------------------------------------------------------------------------
class CheckInM(msgspec.Struct):
    booking_ref: str
    id_number: str
    photo_barcode: str
    priority: bool | None = None
    override_window: bool | None = None


class TicketM(msgspec.Struct):
    number: str
    service: str
    status: str
    issued_at: str
    position: int
    estimated_wait_minutes: int
    counter: int | None
    called_at: str | None
    recalls: int
    acceptance_no: str | None
    receipt_no: str | None


class ReplyM(msgspec.Struct):
    ok: TicketM


class AnswerM(msgspec.Struct):
    ticket: TicketM


# --- pydantic (strict: no coercion, as msgspec and the server) --------------------------------
class CheckInP(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True)
    booking_ref: str
    id_number: str
    photo_barcode: str
    priority: bool | None = None
    override_window: bool | None = None


class TicketP(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True)
    number: str
    service: str
    status: str
    issued_at: str
    position: int
    estimated_wait_minutes: int
    counter: int | None
    called_at: str | None
    recalls: int
    acceptance_no: str | None
    receipt_no: str | None


class ReplyP(pydantic.BaseModel):
    ok: TicketP


class AnswerP(pydantic.BaseModel):
    ticket: TicketP


# --- the standard library, as the server did before the models --------------------------------
FIELDS: dict[str, tuple[type, bool]] = {
    "booking_ref": (str, True), "id_number": (str, True), "photo_barcode": (str, True),
    "priority": (bool, False), "override_window": (bool, False)}


def json_body() -> dict[str, Any]:
    raw = json.loads(BODY)
    body: dict[str, Any] = {}
    for name, (kind, required) in FIELDS.items():
        value = raw.get(name)
        if value is None:
            if required:
                raise ValueError(name)
            continue
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ValueError(name)
        body[name] = value.strip() if isinstance(value, str) else value
    return body


def json_answer(ticket: Any) -> bytes:
    # As Starlette's JSONResponse encodes.
    return json.dumps({"ticket": ticket}, ensure_ascii=False, separators=(",", ":")).encode()


STEPS: dict[str, dict[str, Callable[[], Any]]] = {
    "msgspec": {
        "body": lambda: msgspec.json.decode(BODY, type=CheckInM),
        "script's answer": lambda: msgspec.json.decode(SCRIPT, type=ReplyM),
        "reply": lambda: msgspec.json.encode(AnswerM(TICKET_M)),
    },
    "pydantic": {
        "body": lambda: CheckInP.model_validate_json(BODY),
        "script's answer": lambda: ReplyP.model_validate_json(SCRIPT),
        "reply": lambda: AnswerP(ticket=TICKET_P).model_dump_json().encode(),
    },
    "json + hand check": {
        "body": json_body,
        "script's answer": lambda: json.loads(SCRIPT)["ok"],
        "reply": lambda: json_answer(TICKET_J),
    },
}
TICKET_M = msgspec.json.decode(SCRIPT, type=ReplyM).ok
TICKET_P = ReplyP.model_validate_json(SCRIPT).ok
TICKET_J = json.loads(SCRIPT)["ok"]


def server() -> Callable[[], Any]:
    """The check-in path through the server's own functions (msgspec, as built)."""
    from queueserver.queue.models import Ticket, TicketAnswer
    from queueserver.queue.tickets import typed
    from queueserver.store.lua import decode
    from queueserver.web.api.base import parse_body, reply
    from queueserver.web.api.queue import CheckInBody

    def run() -> Any:
        parse_body(BODY, CheckInBody)
        ticket = typed(decode(SCRIPT), Ticket)
        return reply(TicketAnswer, {"ticket": ticket}, 201).body

    return run


def server_before() -> Callable[[], Any]:
    """The same before the models: the hand check, `json`, Starlette's JSONResponse."""
    from starlette.responses import JSONResponse

    def run() -> Any:
        json_body()
        return JSONResponse({"ticket": json.loads(SCRIPT)["ok"]}, status_code=201).body

    return run


def main() -> None:
    answers = {json.loads(steps["reply"]()) == json.loads(json_answer(TICKET_J))
               for steps in STEPS.values()}
    assert answers == {True}, "the three encode the same answer"
    names = list(next(iter(STEPS.values())))
    candidates = {(library, name): fn for library, steps in STEPS.items()
                  for name, fn in steps.items()}
    candidates |= {("server before", "path"): server_before(),
                   ("server, as built", "path"): server()}
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(ROUNDS):
        for key, fn in candidates.items():
            best[key] = min(best[key], timeit.timeit(fn, number=NUMBER) / NUMBER * 1e6)
    print(f"{'µs, best of ' + str(ROUNDS) + ' rounds':24}" + "".join(f"{n:>17}" for n in names)
          + f"{'check-in':>12}")
    for library in STEPS:
        times = [best[(library, n)] for n in names]
        print(f"{library:24}" + "".join(f"{t:17.2f}" for t in times) + f"{sum(times):12.2f}")
    for library in ("server before", "server, as built"):
        print(f"{library:24}" + " " * 17 * len(names) + f"{best[(library, 'path')]:12.2f}")
    print(f"msgspec {msgspec.__version__}, pydantic {pydantic.__version__}")


if __name__ == "__main__":
    main()
