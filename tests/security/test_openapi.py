"""`/openapi.json` describes every route of the app and is a valid OpenAPI 3.1 document; every
JSON answer and request body has a schema with its required fields; a whole day's answers, and
the live events' messages, match the schemas it documents; and the answers to bodies generated
from it (valid ones and ones of the wrong types) are never a 500 and never an error outside the
documented shape."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema
import pytest
import redis
from conftest import DAY, MORNING, SAMPLE_CONFIG, bearer
from openapi_spec_validator import validate
from security.test_role_table import declared
from service_path import Path
from starlette.testclient import TestClient

from queueserver.live import models
from queueserver.live.events import Event
from queueserver.platform.clock import Clock
from queueserver.store import keys
from queueserver.web.api.openapi import ERROR, PARAM

SAMPLE = {"string": "A001", "integer": 1, "boolean": True, "number": 1.5}
WRONG = {"string": 7, "integer": "one", "boolean": "yes", "number": "x", "enum": 7}
C = "/api/v1/centres/wan-chai"
JSON = "application/json"


def resolved(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_the_document_describes_every_route(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    described |= {("WS", p) for p in doc["x-websockets"]}
    wanted = set()
    for method, path in declared(client.app):
        if path.startswith("/static/"):
            path += "/{file}"
        wanted.add((method, PARAM.sub(lambda m: "{" + m.group(1) + "}", path)))
    assert described == wanted


def test_every_json_answer_and_body_has_a_schema_with_its_required_fields(
        client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    answers = bodies = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, answer in op["responses"].items():
                if JSON not in answer.get("content", {}):
                    continue
                schema = answer["content"][JSON]["schema"]
                if status == "default":
                    assert schema == ERROR
                    continue
                model = resolved(doc, schema)
                assert model["type"] == "object" and model["properties"], (method, path)
                assert model["required"], (method, path)
                assert set(model["required"]) <= set(model["properties"]), (method, path)
                answers += 1
            if method != "post" or not path.startswith("/api/"):
                continue
            body = op["requestBody"]
            model = resolved(doc, body["content"][JSON]["schema"])
            assert model["type"] == "object", (method, path)
            assert set(model.get("required", [])) <= set(model["properties"]), (method, path)
            assert body["required"] == bool(model.get("required")), (method, path)
            bodies += 1
    assert answers >= 40 and bodies >= 25
    # The contract's own words (CONTRACT §5), as the document says them.
    check_in = resolved(doc, doc["paths"]["/api/v1/centres/{centre}/tickets"]["post"][
        "requestBody"]["content"][JSON]["schema"])
    assert set(check_in["required"]) == {"booking_ref", "id_number", "photo_barcode"}
    ticket = resolved(doc, {"$ref": "#/components/schemas/Ticket"})
    assert set(ticket["required"]) == {
        "number", "service", "status", "issued_at", "position", "estimated_wait_minutes",
        "counter", "called_at", "recalls", "acceptance_no", "receipt_no"}
    assert resolved(doc, ticket["properties"]["status"])["enum"] == [
        "accepted", "called", "declined", "done", "no_show", "paid", "waiting"]
    board = resolved(doc, doc["paths"]["/api/v1/centres/{centre}/board"]["get"]["responses"][
        "200"]["content"][JSON]["schema"])
    assert set(board["required"]) == {"centre", "date", "now_serving", "recent_calls",
                                      "waiting", "estimated_wait_minutes", "counters",
                                      "last_event_id", "notices", "issuing", "closure"}


class Conformance:
    """Checks each answer against the schema the document gives for its route and status, and
    remembers which routes it has seen."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.routes = [(re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", p) + "$"), p, ops)
                       for p, ops in doc["paths"].items()]
        self.seen: set[tuple[str, str]] = set()

    def schema(self, schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator({**schema, "components": self.doc["components"]})

    def __call__(self, answer: httpx.Response, status: int = 200) -> Any:
        assert answer.status_code == status, answer.text
        method, path = answer.request.method.lower(), answer.request.url.path
        # A route with fewer parameters is the more particular one.
        _, template, ops = min((r for r in self.routes if r[0].match(path)),
                               key=lambda r: r[1].count("{"))
        documented = ops[method]["responses"][str(status)]["content"][JSON]["schema"]
        self.schema(documented).validate(answer.json())
        self.seen.add((method, template))
        return answer.json()

    def unseen(self) -> set[tuple[str, str]]:
        wanted = {(method, path) for path, ops in self.doc["paths"].items()
                  for method, op in ops.items()
                  if any(JSON in a.get("content", {}) for s, a in op["responses"].items()
                         if s != "default")}
        return wanted - self.seen


def test_a_days_answers_and_events_match_their_schemas(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
        clock: Clock, r: redis.Redis) -> None:
    doc = client.get("/openapi.json").json()
    ok = Conformance(doc)
    path = Path(client, tokens, seed)
    sup, admin = tokens["supervisor"], tokens["admin"]

    def get(url: str, token: str = sup) -> httpx.Response:
        return client.get(url, headers=bearer(token))

    ok(client.get("/healthz"))
    ok(client.get("/openapi.json"))
    seed("MEP0001", application_type="renewal")
    seed("MEP0002", id_number="B987654(0)")
    seed("KB0001", centre="kowloon-bay")
    ok(path.post("photo-receipts", {"barcode": "PH1"}, tokens["photo"]), 201)
    ok(path.post("photo-receipts", {"barcode": "PH2"}, tokens["photo"]), 201)
    first = ok(path.post("tickets", {"booking_ref": "MEP0001", "id_number": "A123456(3)",
                                     "photo_barcode": "PH1"}, tokens["desk"]), 201)
    number = first["ticket"]["number"]
    second = ok(path.post("tickets", {"booking_ref": "MEP0002", "id_number": "B987654(0)",
                                      "photo_barcode": "PH2", "priority": False},
                          tokens["desk"]), 201)["ticket"]["number"]
    ok(get(f"{C}/tickets/{number}"))
    for action in ("open", "pause", "resume"):
        assert ok(path.post(f"counters/1/{action}", token=sup))["ticket"] is None
    assert ok(path.post("counters/1/call", token=sup))["ticket"]["number"] == number
    ok(get(f"{C}/board"))
    ok(get(f"{C}/overview"))
    ok(get(f"{C}/tickets/{number}/booking"))
    ok(path.post("counters/1/recall", token=sup))
    ok(path.post("counters/1/no-show", token=sup))
    ok(path.post(f"tickets/{number}/requeue", token=tokens["desk"]))
    assert ok(path.post("counters/1/call", {"ticket": number}, sup))["ticket"]["status"] == \
        "called"
    ok(path.post("counters/1/transfer", {"service": "P"}, sup))
    assert ok(path.post("counters/1/call", token=sup))["ticket"]["number"] == number
    ok(path.post(f"tickets/{number}/acceptance", token=sup))
    ok(path.post(f"tickets/{number}/payment", {"method": "cash", "amount_hkd": 320}, sup))
    voided = ok(path.post(f"tickets/{number}/payment/void", {"reason": "wrong card"}, sup))
    assert voided["payment"]["voided"] is True
    ok(path.post(f"tickets/{number}/payment",
                 {"method": "octopus", "amount_hkd": 320, "reference": "T1"}, sup))
    receipt = ok(path.post(f"tickets/{number}/receipt", token=sup), 201)
    # Its follow page (CONTRACT §9): the state, feedback once the visit is over, the day's list.
    follow = "/api/v1/follow/" + first["ticket"]["follow_url"].rsplit("/", 1)[1]
    assert ok(client.get(follow))["ticket"]["status"] == "done"
    ok(client.post(follow + "/feedback", json={"rating": 4, "comment": "Quick."}), 201)
    assert ok(get(f"{C}/feedback?date={DAY}"))["feedback"][0]["rating"] == 4
    assert ok(path.post("counters/1/call", token=sup))["ticket"]["number"] == second
    ok(path.post(f"tickets/{second}/decline", {"reason": "other", "note": "no photo"}, sup))
    ok(path.post("counters/1/close", token=sup))
    assert ok(get(f"{C}/takings"))["voided"] == 1

    # Notices, closures and printed slips (CONTRACT §10).
    posted = ok(path.post("notices", {"text_en": "Counter 3 is closed.",
                                      "text_zh": "3 號櫃位暫停服務。", "announce": True,
                                      "until": "2026-11-27T12:00:00+08:00"}, sup), 201)
    ok(get(f"{C}/notices", tokens["display"]))
    ok(path.post("issuing", {"open": False, "text_en": "No more numbers today.",
                             "text_zh": "今天停止派籌。"}, sup))
    ok(get(f"{C}/board"))
    ok(path.post("issuing", {"open": True}, sup))
    gone = client.delete(f"{C}/notices/{posted['notice']['id']}", headers=bearer(sup))
    assert gone.status_code == 204
    ok(path.post(f"tickets/{second}/print", {"printer": "front-desk"}, tokens["desk"]), 202)
    ok(path.post(f"/api/v1/receipts/{receipt['receipt_no']}/print",
                 {"printer": "front-desk"}, tokens["desk"]), 202)

    kiosk = tokens["kiosk"]
    ask = {"receipt_no": receipt["receipt_no"], "id_number": "A123456(3)"}
    assert ok(path.post("/api/v1/collection/eligibility", ask, kiosk))["reason"] == "not_yet"
    assert ok(path.post("/api/v1/collection/eligibility", {**ask, "receipt_no": "WC1"},
                        kiosk))["reason"] == "invalid_receipt_no"
    due = dt.date.fromisoformat(receipt["collection_date"])
    clock.set(dt.datetime.combine(due, MORNING.timetz()))
    assert ok(path.post("/api/v1/collection/eligibility", ask, kiosk))["eligible"] is True
    assert ok(get(f"{C}/collection/eligible", kiosk))["receipts"]
    ok(get(f"{C}/collection/key", kiosk))
    ok(path.post(f"/api/v1/collection/{receipt['receipt_no']}/collect",
                 {"id_number": "A123456(3)", "old_permit_surrendered": True}, kiosk))
    again = path.post(f"/api/v1/collection/{receipt['receipt_no']}/collect",
                      {"id_number": "A123456(3)", "collected_at": f"{due}T09:00:00"}, kiosk)
    assert again.json()["flagged"] is True
    assert len(ok(get(f"{C}/collection/flags"))["flags"]) == 1

    assert len(ok(get(f"{C}/bookings?date={DAY}"))["bookings"]) == 2
    assert ok(path.post("bookings/lookup", {"booking_ref": "MEP0001"}, sup))["bookings"][0][
        "history"]
    assert ok(path.post("bookings/lookup", {"booking_ref": "KB0001"}, sup))[
        "other_centre"] == "kowloon-bay"
    ok(path.post("bookings/lookup", {"id_number": "B987654(0)"}, sup))
    ok(get(f"{C}/stats?date={DAY}"))
    assert ok(get(f"{C}/audit?date={DAY}"))["actions"]
    ok(path.post("/api/v1/users", {"name": "amy", "password": "a long password",
                                   "role": "clerk", "centre": "wan-chai", "counter": 2}, sup),
       201)
    ok(path.post("/api/v1/tokens", {"role": "display", "centre": "wan-chai",
                                    "name": "hall-2"}, sup), 201)
    ok(get("/api/v1/staff"))
    ok(path.post("/api/v1/users/amy/revoke", token=sup))
    ok(path.post("/api/v1/tokens/hall-2/revoke", token=sup))
    ok(path.post("personal-data/export", {"booking_ref": "MEP0002"}, admin))
    assert ok(path.post("personal-data/erase", {"booking_ref": "MEP0002"}, admin))["erased"] == 1
    appointments_day(client, r, clock, ok, sup)
    assert ok.unseen() == set()

    # The socket's messages: every event of the day as a display and as staff get it, the
    # board, a resync and an error.
    messages = doc["x-websocket-messages"]["/ws/centres/{centre}/events"]
    socket = ok.schema(messages)
    events = r.xrange(keys.events("wan-chai"))
    assert len({fields["type"] for _, fields in events}) >= 14
    for event_id, fields in events:
        for device in (True, False):
            text = Event.read(event_id, fields).text(device)
            models.read(text)
            socket.validate(httpx.Response(200, text=text).json())
    url = "/ws/centres/wan-chai/events?token=" + tokens["display"]
    with client.websocket_connect(url) as ws:
        assert isinstance(models.read(ws.receive_text()), models.BoardMessage)
    with client.websocket_connect(url + "&after=99999999999999-0") as ws:
        for kind in (models.ResyncRequired, models.BoardMessage):
            text = ws.receive_text()
            socket.validate(httpx.Response(200, text=text).json())
            assert isinstance(models.read(text), kind)
    with client.websocket_connect(url + "&after=soon") as ws:
        assert isinstance(models.read(ws.receive_text()), models.SocketError)


def appointments_day(client: TestClient, r: redis.Redis, clock: Clock, ok: Conformance,
                     sup: str) -> None:
    """The booking platform's answers (CONTRACT §11): a view, a listing, a booking, a full
    day's waiting list, the supervisor's day and a block."""
    from queueserver.appointments import applications
    from queueserver.appointments.applications import Application, ApplicationStore
    from queueserver.platform import config as config_mod

    cfg = config_mod.load(SAMPLE_CONFIG)
    ApplicationStore(r, b"test-secret", cfg, "test", clock).apply([Application(
        ref=f"APPO{i}", application_type="first", surname="CHAN", given_names="TAI MAN",
        id_kind="hkid", id_number="A123456(3)", passport_no="K7654321", nationality="GBR",
        email="o@example.test", status="approved") for i in range(2)])

    def token(ref: str) -> str:
        digest = r.hget(keys.application_refs(), ref)
        salt = r.hget(keys.application(str(digest)), "salt")
        return "/api/v1/book/" + applications.token_for(b"test-secret", str(salt))

    days = [clock.now().date() + dt.timedelta(days=n) for n in range(3, 12)]
    monday, tuesday = [d.isoformat() for d in days if d.weekday() < 5
                       and d.isoformat() not in ("2026-12-25", "2026-12-26")][:2]
    ok(client.post(token("APPO0") + "/appointment",
                   json={"centre": "wan-chai", "date": monday, "start": "09:00"}), 201)
    assert ok(client.get(token("APPO0")))["appointment"]["slot_start"] == "09:00"
    assert ok(client.get(token("APPO1") + "/slots", params={"centre": "wan-chai"}))["slots"]
    r.hset(keys.slot_places("wan-chai", tuesday), mapping=dict.fromkeys(
        ("09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "12:00", "14:00", "14:30",
         "15:00", "15:30", "16:00"), 6))
    ok(client.post(token("APPO1") + "/waitlist",
                   json={"centre": "wan-chai", "date": tuesday}), 201)
    ok(client.get(f"{C}/appointments?date={monday}", headers=bearer(sup)))
    ok(client.post(f"{C}/appointments/blocks", headers=bearer(sup), json={
        "date": monday, "start": "14:00", "end": "15:00", "reason_en": "Works",
        "reason_zh": "維修"}), 201)


def test_an_answer_off_its_model_fails_loudly(client: TestClient, tokens: dict[str, str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A field a script adds without its model is an error, never an answer that lost it."""
    from queueserver.queue import tickets

    real = tickets.Centres._run

    async def with_more(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        result = await real(self, name, *args, **kwargs)
        return {**result, "follow_url": "/t/x"} if name == "board" else result

    monkeypatch.setattr(tickets.Centres, "_run", with_more)
    with TestClient(client.app, raise_server_exceptions=False) as quiet:
        answer = quiet.get(f"{C}/board", headers=bearer(tokens["admin"]))
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] != "bad_request"


def _value(doc: dict[str, Any], prop: dict[str, Any], values: dict[str, Any]) -> Any:
    prop = resolved(doc, prop)
    if "anyOf" in prop:
        prop = resolved(doc, next(p for p in prop["anyOf"] if p.get("type") != "null"))
    if "enum" in prop:
        return prop["enum"][0] if values is SAMPLE else values["enum"]
    return values[prop["type"]]


def _body(doc: dict[str, Any], schema: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return {name: _value(doc, prop, values)
            for name, prop in resolved(doc, schema).get("properties", {}).items()}


def test_generated_bodies_get_no_500_and_documented_errors(
        client: TestClient, tokens: dict[str, str]) -> None:
    doc = client.get("/openapi.json").json()
    sent = 0
    for path, ops in doc["paths"].items():
        op = ops.get("post")
        content = (op or {}).get("requestBody", {}).get("content", {})
        if JSON not in content:
            continue
        schema = content[JSON]["schema"]
        concrete = (path.replace("{centre}", "wan-chai").replace("{n}", "1")
                    .replace("{number}", "A001").replace("{receipt_no}", "WC0000000000")
                    .replace("{name}", "nobody"))
        for values in (SAMPLE, WRONG):
            for role in ("admin", "supervisor"):
                answer = client.post(concrete, json=_body(doc, schema, values),
                                     headers=bearer(tokens[role]))
                sent += 1
                assert answer.status_code < 500, (path, answer.text)
                if answer.status_code >= 400:
                    jsonschema.validate(answer.json(), ERROR)
                if values is WRONG and resolved(doc, schema).get("properties"):
                    assert answer.status_code == 400, (path, answer.text)
                    assert answer.json()["error"]["code"] == "bad_request"
    assert sent > 40
