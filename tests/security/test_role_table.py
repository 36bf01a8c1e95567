"""Every route of the app against every kind of caller, from ONE table written from CONTRACT §4
(not from the code): each role of wan-chai, each role of another centre, no credential, a
revoked token and a made-up one. A route the table does not name fails the test, so a new route
cannot ship without saying who may use it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
import redis
from conftest import bearer
from service_path import Path
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from queueserver.auth import credentials as auth

C = "/api/v1/centres/wan-chai"
ROLES = ("admin", "supervisor", "desk", "clerk", "display", "kiosk", "photo")
OTHER = "kowloon-bay"
A, S, D, CL, DI, K, P = ROLES
ANYONE = frozenset({"*"})


@dataclass(frozen=True)
class Row:
    method: str
    template: str           # as the app declares it
    path: str               # a concrete path to call
    allowed: frozenset[str]  # roles of wan-chai; ANYONE for a public route
    body: dict[str, Any] | None = None
    # False where the route names no centre and the caller's own centre decides what it sees
    # (the staff list) or a business rule refuses another centre's receipt (422 wrong_centre).
    scoped: bool = True
    # Made again by the admin before each caller: what the route acts on (one caller's
    # success must not turn the next caller's answer into a 404).
    prepare: tuple[str, dict[str, Any]] | None = None


def row(method: str, template: str, allowed: set[str] | frozenset[str], path: str | None = None,
        body: dict[str, Any] | None = None, scoped: bool = True,
        prepare: tuple[str, dict[str, Any]] | None = None) -> Row:
    concrete = path or template.replace("{centre}", "wan-chai").replace("{n:int}", "1")
    return Row(method, template, concrete, frozenset(allowed), body, scoped, prepare)


AC = "/api/v1/centres/{centre}"
TK = AC + "/tickets/{number}"
N = AC + "/counters/{n:int}"
LOOK = {A, S, D, CL}
COUNTER = {A, S, CL}
MANAGE = {A, S}
BOARD = {A, S, D, CL, DI}
T1 = C + "/tickets/A001"

TABLE: list[Row] = [
    row("GET", "/healthz", ANYONE),
    row("GET", "/openapi.json", ANYONE),
    row("GET", "/metrics", ANYONE),
    row("POST", AC + "/photo-receipts", {A, S, P}, body={"barcode": "X1"}),
    row("POST", AC + "/tickets", {A, S, D}, body={
        "booking_ref": "R", "id_number": "A123456(3)", "photo_barcode": "X"}),
    row("POST", TK + "/requeue", {A, S, D}, T1 + "/requeue"),
    *(row("POST", f"{N}/{a}", COUNTER) for a in
      ("open", "pause", "resume", "close", "call", "recall", "no-show")),
    row("POST", N + "/transfer", COUNTER, body={"service": "P"}),
    row("GET", TK, LOOK, T1),
    row("GET", AC + "/board", BOARD),
    row("GET", AC + "/bookings", LOOK),
    row("GET", AC + "/bookings", MANAGE, C + "/bookings?date=2026-11-30"),  # not today's
    row("POST", AC + "/bookings/lookup", LOOK, body={"booking_ref": "WC-0000"}),
    row("GET", "/sounds/chime.wav", ANYONE),
    row("GET", "/sounds/clips/{name}.wav", ANYONE, "/sounds/clips/none.wav"),
    row("GET", "/sounds/{name:path}", ANYONE, "/sounds/other"),
    row("GET", AC + "/stats", MANAGE),
    row("GET", AC + "/stats.csv", MANAGE),
    row("GET", "/admin/{centre}/report", MANAGE),
    row("POST", TK + "/acceptance", COUNTER, T1 + "/acceptance"),
    row("POST", TK + "/decline", COUNTER, T1 + "/decline", {"reason": "not_eligible"}),
    row("POST", TK + "/payment", COUNTER, T1 + "/payment",
        {"method": "cash", "amount_hkd": 100}),
    row("POST", TK + "/payment/void", MANAGE, T1 + "/payment/void", {"reason": "typo"}),
    row("POST", TK + "/receipt", COUNTER, T1 + "/receipt"),
    row("GET", AC + "/takings", MANAGE),
    # {receipt} is a real receipt of wan-chai, so another centre's staff meet the centre check.
    row("GET", "/api/v1/receipts/{receipt_no}/slip", LOOK, "/api/v1/receipts/{receipt}/slip"),
    row("POST", "/api/v1/collection/eligibility", {A, S, K},
        body={"receipt_no": "none", "id_number": "A123456(3)"}, scoped=False),
    row("POST", "/api/v1/collection/{receipt_no}/collect", {A, S, K},
        "/api/v1/collection/none/collect", {"id_number": "A123456(3)"}, scoped=False),
    row("GET", AC + "/collection/eligible", {A, S, K}),
    row("GET", AC + "/collection/key", {K}),
    row("GET", AC + "/collection/flags", MANAGE),
    row("POST", "/api/v1/users", MANAGE, body={
        "name": "table-desk", "password": "a long enough password", "role": "desk",
        "centre": "wan-chai"}),
    row("POST", "/api/v1/users/{name}/revoke", MANAGE, "/api/v1/users/table-login/revoke",
        prepare=("/api/v1/users", {"name": "table-login", "password": "a long enough password",
                                   "role": "desk", "centre": "wan-chai"})),
    row("POST", "/api/v1/tokens", MANAGE, body={"role": "display", "centre": "wan-chai"}),
    row("POST", "/api/v1/tokens/{name}/revoke", MANAGE, "/api/v1/tokens/table-tv/revoke",
        prepare=("/api/v1/tokens", {"role": "display", "centre": "wan-chai",
                                    "name": "table-tv"})),
    row("GET", "/api/v1/staff", MANAGE, scoped=False),
    row("GET", AC + "/overview", MANAGE),
    row("GET", AC + "/audit", MANAGE),
    row("POST", AC + "/personal-data/export", MANAGE, body={"booking_ref": "MEP9999"}),
    row("POST", AC + "/personal-data/erase", MANAGE, body={"booking_ref": "MEP9999"}),
    row("GET", TK + "/booking", LOOK, T1 + "/booking"),
    # The booking platform (CONTRACT §11): the booking token in the path is the /book routes'
    # only credential, and no staff credential is one, so every caller of this table meets the
    # same answer (404 for this token, 429 once the address failed 10 times);
    # tests/appointments/ walk them with real tokens.
    *(row(method, template, ANYONE, path.replace("{token}", "b" * 43), body)
      for method, template, path, body in (
          ("GET", "/book/{token}", "/book/{token}", None),
          ("GET", "/api/v1/book/{token}", "/api/v1/book/{token}", None),
          ("GET", "/api/v1/book/{token}/slots", "/api/v1/book/{token}/slots?centre=wan-chai",
           None),
          ("POST", "/api/v1/book/{token}/appointment", "/api/v1/book/{token}/appointment",
           {"centre": "wan-chai", "date": "2026-11-30", "start": "09:00"}),
          ("DELETE", "/api/v1/book/{token}/appointment", "/api/v1/book/{token}/appointment",
           None),
          ("POST", "/api/v1/book/{token}/waitlist", "/api/v1/book/{token}/waitlist",
           {"centre": "wan-chai", "date": "2026-11-30"}))),
    row("GET", AC + "/appointments", MANAGE, C + "/appointments?date=2026-11-30"),
    row("POST", AC + "/appointments/blocks", MANAGE, body={
        "date": "2026-11-30", "start": "09:00", "end": "09:30", "reason_en": "Works",
        "reason_zh": "維修"}),
    row("GET", "/login", ANYONE),
    # Signing in needs the login form's own CSRF pair, whatever token comes along
    # (tests/tests/auth/test_logins.py walks the form).
    row("POST", "/login", set()),
    row("POST", "/logout", ANYONE),
    # The home page lists a staff session's screens; a bearer token is sent to sign in.
    row("GET", "/", set()),
    row("GET", "/display/{centre}", BOARD),
    row("GET", "/kiosk/{centre}", {A, S, K}),
    row("GET", "/photo/{centre}", {A, S, P}),
    row("GET", "/photo/{centre}/barcode.svg", {A, S, P}, "/photo/wan-chai/barcode.svg?text=PH1"),
    row("GET", "/desk/{centre}", {A, S, D}),
    row("GET", "/counter/{centre}/{n:int}", COUNTER),
    row("GET", "/admin", MANAGE, scoped=False),
    row("GET", "/qr/{text}.svg", ANYONE, "/qr/A001.svg"),
    row("GET", "/static/shared", ANYONE, "/static/shared/api.js"),
    row("GET", "/static/displays", ANYONE, "/static/displays/display.js"),
    row("GET", "/static/counters", ANYONE, "/static/counters/counter.js"),
]
WEBSOCKET = row("WS", "/ws/centres/{centre}/events", BOARD, "/ws/centres/wan-chai/events")


def declared(app: Any) -> set[tuple[str, str]]:
    out = set()
    for route in app.routes:
        if isinstance(route, WebSocketRoute):
            out.add(("WS", route.path))
        elif isinstance(route, Mount):
            out.add(("GET", route.path))
        elif isinstance(route, Route):
            out |= {(m, route.path) for m in route.methods or () if m != "HEAD"}
    return out


@pytest.fixture
def callers(r: redis.Redis, tokens: dict[str, str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {role: tokens[role] for role in ROLES}
    for role in auth.Role:
        if role is not auth.Role.ADMIN:
            counter = 1 if role is auth.Role.CLERK else None
            out[f"{OTHER}:{role.value}"], _ = auth.create_token(r, role, OTHER, counter)
    revoked, _ = auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai", name="revoked-sup")
    auth.revoke_token(r, "revoked-sup")
    out["revoked"] = revoked
    out["made-up"] = "qs_" + "x" * 43
    out["none"] = None
    return out


def expected(entry: Row, callers: dict[str, str | None]) -> set[str]:
    if entry.allowed == ANYONE:
        return set(callers)
    out = set(entry.allowed)
    if not entry.scoped:
        out |= {f"{OTHER}:{role}" for role in entry.allowed if role != A}
    return out


def let_in(client: TestClient, entry: Row, token: str | None, admin: str) -> bool:
    if entry.prepare:
        made = client.post(entry.prepare[0], json=entry.prepare[1], headers=bearer(admin))
        assert made.status_code in (201, 409), made.text
    headers = bearer(token) if token else {}
    answer = client.request(entry.method, entry.path, json=entry.body, headers=headers,
                            follow_redirects=False)
    assert answer.status_code < 500, (entry.path, answer.text)
    if answer.status_code in (401, 403):
        return False
    return not (answer.status_code == 303
                and answer.headers["location"].startswith("/login?"))


def test_the_table_names_every_route(client: TestClient) -> None:
    in_table = {(e.method, e.template) for e in [*TABLE, WEBSOCKET]}
    missing = declared(client.app) - in_table
    assert not missing, f"routes the role table does not name: {sorted(missing)}"
    assert not in_table - declared(client.app), "the table names routes the app does not have"


@pytest.mark.parametrize("entry", TABLE, ids=[f"{e.method} {e.template}" for e in TABLE])
def test_who_may_use_each_route(client: TestClient, callers: dict[str, str | None],
                                entry: Row, tokens: dict[str, str],
                                seed: Callable[..., Any]) -> None:
    if "{receipt}" in entry.path:
        receipt = Path(client, tokens, seed).served()["receipt_no"]
        entry = replace(entry, path=entry.path.replace("{receipt}", receipt))
    allowed = {who for who, token in callers.items()
               if let_in(client, entry, token, tokens[A])}
    assert allowed == expected(entry, callers)


def test_who_may_open_live_events(client: TestClient, callers: dict[str, str | None]) -> None:
    allowed = set()
    for who, token in callers.items():
        headers = bearer(token) if token else {}
        try:
            with client.websocket_connect(WEBSOCKET.path, headers=headers):
                allowed.add(who)
        except WebSocketDisconnect:
            pass
        if token:   # the `?token=` form of a device's page is the same credential
            try:
                with client.websocket_connect(f"{WEBSOCKET.path}?token={token}"):
                    assert who in allowed
            except WebSocketDisconnect:
                assert who not in allowed
    assert allowed == expected(WEBSOCKET, callers)


def test_the_table_agrees_with_the_code() -> None:
    """The code's PERMISSIONS say the same as this table, action by action."""
    by_action = {auth.Action.PHOTO: {A, S, P}, auth.Action.CHECK_IN: {A, S, D},
                 auth.Action.LOOK_UP: LOOK, auth.Action.OVERRIDE_WINDOW: MANAGE,
                 auth.Action.COUNTER: COUNTER, auth.Action.VOID_PAYMENT: MANAGE,
                 auth.Action.BOARD: BOARD, auth.Action.COLLECTION: {A, S, K},
                 auth.Action.KIOSK_KEY: {K}, auth.Action.MANAGE: MANAGE,
                 auth.Action.APPOINTMENTS: MANAGE}
    assert {a: {r.value for r in roles} for a, roles in auth.PERMISSIONS.items()} == by_action


def test_staff_sessions_follow_the_same_table(client: TestClient,
                                              tokens: dict[str, str]) -> None:
    """A signed-in browser is held to the same table as a token (reading routes; the POSTs'
    CSRF rule is walked in tests/tests/auth/test_logins.py). Its home page lists its screens."""
    password = "a long enough password"
    rows = [e for e in TABLE if e.method == "GET" and e.allowed != ANYONE
            and "{receipt}" not in e.path]
    for role in ROLES:
        made = client.post("/api/v1/users", headers=bearer(tokens[A]), json={
            "name": f"walk-{role}", "password": password, "role": role,
            **({} if role == A else {"centre": "wan-chai"}),
            **({"counter": 1} if role == CL else {})})
        assert made.status_code == 201, made.text
        with TestClient(client.app) as browser:
            page = browser.get("/login")
            found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert found
            signed = browser.post("/login", follow_redirects=False, data={
                "username": f"walk-{role}", "password": password, "csrf_token": found.group(1)})
            assert signed.status_code == 303, signed.text
            allowed = {e.template for e in rows if let_in(browser, e, None, tokens[A])}
            wanted = {e.template for e in rows if role in e.allowed}
            wanted.add("/")   # the home page is a session's
            assert allowed == wanted, role
