"""Every route of the app against every kind of caller, from ONE table written from CONTRACT §4
(not from the code): each role of wan-chai, each role of another centre, no credential, a
revoked token and a made-up one; each token sent as a header and as `?token=` (which only the
display and kiosk pages and the WebSocket take, CONTRACT §5), and each role signed in as a staff
session. Where a route takes the acting counter in its body, the walk is made at the clerk's
counter and at another. A route the table does not name fails the test, so a new route cannot
ship without saying who may use it; a route the table marks unscoped must say how it keeps one
centre out of another's data."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from conftest import bearer
from service_path import Path
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from queueserver.auth import credentials as auth
from queueserver.auth import users

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
    # The body may name the counter that acts (`"counter"`): a clerk bound to counter 1 may not
    # name another.
    acting: bool = False


def row(method: str, template: str, allowed: set[str] | frozenset[str], path: str | None = None,
        body: dict[str, Any] | None = None, scoped: bool = True,
        prepare: tuple[str, dict[str, Any]] | None = None, acting: bool = False) -> Row:
    concrete = path or template.replace("{centre}", "wan-chai").replace("{n:int}", "1")
    return Row(method, template, concrete, frozenset(allowed), body, scoped, prepare, acting)


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
    row("POST", TK + "/acceptance", COUNTER, T1 + "/acceptance", acting=True),
    row("POST", TK + "/decline", COUNTER, T1 + "/decline", {"reason": "not_eligible"},
        acting=True),
    row("POST", TK + "/payment", COUNTER, T1 + "/payment",
        {"method": "cash", "amount_hkd": 100}, acting=True),
    row("POST", TK + "/payment/void", MANAGE, T1 + "/payment/void", {"reason": "typo"}),
    row("POST", TK + "/receipt", COUNTER, T1 + "/receipt", acting=True),
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
    # CONTRACT §10: notices and closures for supervisors, read by whoever sees the board;
    # printing for the desk too.
    row("POST", AC + "/notices", MANAGE, body={"text_en": "Slow", "text_zh": "緩慢"}),
    row("GET", AC + "/notices", BOARD),
    row("DELETE", AC + "/notices/{id}", MANAGE, C + "/notices/n999"),
    row("POST", AC + "/issuing", MANAGE, body={"open": True}),
    row("POST", TK + "/print", {A, S, D}, T1 + "/print", {"printer": "desk-1"}),
    row("POST", "/api/v1/receipts/{receipt_no}/print", {A, S, D},
        "/api/v1/receipts/{receipt}/print", {"printer": "desk-1"}),
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
    # (tests/auth/test_logins.py walks the form).
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
    # The follow page's routes (CONTRACT §9): the token in the path is their only credential,
    # whatever else comes along (tests/follow/ walks them with real tokens).
    row("GET", "/t/{follow_token}", ANYONE, "/t/" + "x" * 32),
    row("GET", "/api/v1/follow/{follow_token}", ANYONE, "/api/v1/follow/" + "x" * 32),
    row("POST", "/api/v1/follow/{follow_token}/feedback", ANYONE,
        "/api/v1/follow/" + "x" * 32 + "/feedback", {"rating": 5}),
    row("GET", AC + "/feedback", MANAGE),
    row("GET", TK + "/follow-qr.svg", {A, S, D}, T1 + "/follow-qr.svg"),
    row("GET", "/static/shared", ANYONE, "/static/shared/api.js"),
    row("GET", "/static/displays", ANYONE, "/static/displays/display.js"),
    row("GET", "/static/counters", ANYONE, "/static/counters/counter.js"),
]
WEBSOCKET = row("WS", "/ws/centres/{centre}/events", BOARD, "/ws/centres/wan-chai/events")
# Opened with its follow token alone (tests/follow/ walks it with real ones).
FOLLOW_SOCKET = row("WS", "/ws/follow/{follow_token}", ANYONE, "/ws/follow/" + "x" * 32)
# CONTRACT §5: the only pages a token may be given to in the URL (and the WebSocket).
URL_TOKEN_PAGES = frozenset({"/display/{centre}", "/kiosk/{centre}"})


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


def expected_in_url(entry: Row, callers: dict[str, str | None]) -> set[str]:
    """Who gets in with the token as `?token=`: as with the header on the display and kiosk
    pages; elsewhere nobody the route would not let in without any credential."""
    if entry.allowed == ANYONE or entry.template in URL_TOKEN_PAGES:
        return expected(entry, callers)
    return set()


def let_in(client: TestClient, entry: Row, token: str | None, admin: str,
           in_url: bool = False, headers: dict[str, str] | None = None) -> bool:
    """Whether the caller gets past the credential and role checks: its token as a header (or
    `?token=` with `in_url`), or the `headers` of a signed-in browser."""
    if entry.prepare:
        made = client.post(entry.prepare[0], json=entry.prepare[1], headers=bearer(admin))
        assert made.status_code in (201, 409), made.text
    path = entry.path
    if token and in_url:   # added to the path's own query (httpx's params= would replace it)
        path += ("&" if "?" in path else "?") + urlencode({"token": token})
    if headers is None:
        headers = bearer(token) if token and not in_url else {}
    answer = client.request(entry.method, path, json=entry.body, headers=headers,
                            follow_redirects=False)
    assert answer.status_code < 500, (entry.path, answer.text)
    if answer.status_code in (401, 403):
        return False
    return not (answer.status_code == 303
                and answer.headers["location"].startswith("/login?"))


def test_the_table_names_every_route(client: TestClient) -> None:
    in_table = {(e.method, e.template) for e in [*TABLE, WEBSOCKET, FOLLOW_SOCKET]}
    missing = declared(client.app) - in_table
    assert not missing, f"routes the role table does not name: {sorted(missing)}"
    assert not in_table - declared(client.app), "the table names routes the app does not have"


@pytest.mark.parametrize("entry", TABLE, ids=[f"{e.method} {e.template}" for e in TABLE])
def test_who_may_use_each_route(client: TestClient, callers: dict[str, str | None],
                                entry: Row, tokens: dict[str, str],
                                seed: Callable[..., Any], r: redis.Redis) -> None:
    if "{receipt}" in entry.path:
        receipt = Path(client, tokens, seed).served()["receipt_no"]
        entry = replace(entry, path=entry.path.replace("{receipt}", receipt))
    allowed = {who for who, token in callers.items()
               if let_in(client, entry, token, tokens[A])}
    assert allowed == expected(entry, callers)
    # The same tokens in the URL: only the display and kiosk pages look there.
    in_url = {who for who, token in callers.items()
              if let_in(client, entry, token, tokens[A], in_url=True)}
    assert in_url == expected_in_url(entry, callers)
    if entry.acting:
        # At the clerk's own counter as without one; at another, the clerk (bound to counter
        # 1) is refused and those who may act at any counter are not.
        for counter, wanted in ((1, expected(entry, callers)),
                                (2, expected(entry, callers) - {CL})):
            at = replace(entry, body={**(entry.body or {}), "counter": counter})
            acting = {who for who, token in callers.items()
                      if let_in(client, at, token, tokens[A])}
            assert acting == wanted, counter
        free_clerk, _ = auth.create_token(r, auth.Role.CLERK, "wan-chai")
        at_two = replace(entry, body={**(entry.body or {}), "counter": 2})
        assert let_in(client, at_two, free_clerk, tokens[A]), "a clerk of any counter"


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
                 auth.Action.NOTICES: MANAGE, auth.Action.PRINT: {A, S, D},
                 auth.Action.APPOINTMENTS: MANAGE}
    assert {a: {r.value for r in roles} for a, roles in auth.PERMISSIONS.items()} == by_action


PASSWORD = "a long enough password"


def signed_in(client: TestClient, admin: str, who: str) -> dict[str, str]:
    """A staff login of the caller's role and centre (`kowloon-bay:desk`, or a role of
    wan-chai), signed in: the headers its browser sends, cookie and CSRF token."""
    centre, _, role = who.rpartition(":")
    name = "walk-" + who.replace(":", "-")
    made = client.post("/api/v1/users", headers=bearer(admin), json={
        "name": name, "password": PASSWORD, "role": role,
        **({} if role == A else {"centre": centre or "wan-chai"}),
        **({"counter": 1} if role == CL else {})})
    assert made.status_code == 201, made.text
    client.cookies.clear()
    page = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    signed = client.post("/login", follow_redirects=False, data={
        "username": name, "password": PASSWORD, "csrf_token": found.group(1)})
    assert signed.status_code == 303, signed.text
    cookie = client.cookies.get(users.COOKIE)
    client.cookies.clear()
    assert cookie
    headers = {"cookie": f"{users.COOKIE}={cookie}"}
    home = client.get("/", headers=headers)
    csrf = re.search(r'"csrf": "([^"]+)"', home.text.replace("&#34;", '"'))
    assert home.status_code == 200 and csrf, home.text[:300]
    return {**headers, "x-csrf-token": csrf.group(1)}


def test_staff_sessions_follow_the_same_table(client: TestClient, tokens: dict[str, str],
                                              seed: Callable[..., Any]) -> None:
    """A signed-in browser is held to the same table as a token, on every row and the live
    events, with the CSRF token its pages send; its home page lists its screens. Every role is
    signed in, of wan-chai and of the other centre; a browser without a session gets nowhere."""
    receipt = Path(client, tokens, seed).served()["receipt_no"]
    whos = [*ROLES, *(f"{OTHER}:{role}" for role in ROLES if role != A)]
    browsers = {who: signed_in(client, tokens[A], who) for who in whos}
    browsers["none"] = {}
    everyone = {who: None for who in browsers}
    for entry in [*TABLE, WEBSOCKET]:
        if entry.template == "/logout":
            continue   # walked last: it ends the session
        entry = replace(entry, path=entry.path.replace("{receipt}", receipt))
        if entry.method == "WS":
            allowed = set()
            for who, headers in browsers.items():
                try:
                    # A copy: the test client adds the upgrade's headers to the dict it gets.
                    with client.websocket_connect(entry.path, headers=dict(headers)):
                        allowed.add(who)
                except WebSocketDisconnect:
                    pass
        else:
            allowed = {who for who, headers in browsers.items()
                       if let_in(client, entry, None, tokens[A], headers=headers)}
        wanted = expected(entry, everyone)
        if entry.template == "/":
            wanted = set(whos)   # the home page is a session's
        assert allowed == wanted, entry.template
    for who, headers in browsers.items():
        if not headers:
            continue
        home = client.get("/", headers=headers)
        token = re.search(r'"csrf": "([^"]+)"', home.text.replace("&#34;", '"'))
        assert token, who
        out = client.post("/logout", headers=headers, data={"csrf_token": token.group(1)},
                          follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/login", who
        assert client.get("/", headers=headers, follow_redirects=False).status_code == 303


# How each route the table marks unscoped keeps one centre's callers out of another's data.
def _eligibility_is_wrong_centre(client: TestClient, callers: dict[str, str | None],
                                 receipt: str) -> None:
    def reason(who: str) -> Any:
        answer = client.post("/api/v1/collection/eligibility", headers=bearer(
            callers[who] or ""), json={"receipt_no": receipt, "id_number": "A123456(3)"})
        assert answer.status_code == 200, answer.text
        return answer.json()["reason"]
    assert reason(f"{OTHER}:{K}") == reason(f"{OTHER}:{S}") == "wrong_centre"
    assert reason(K) != "wrong_centre"


def _collect_is_wrong_centre(client: TestClient, callers: dict[str, str | None],
                             receipt: str) -> None:
    def eligibility() -> Any:
        return client.post("/api/v1/collection/eligibility", headers=bearer(callers[K] or ""),
                           json={"receipt_no": receipt, "id_number": "A123456(3)"}).json()
    before = eligibility()
    for who in (f"{OTHER}:{K}", f"{OTHER}:{S}"):
        answer = client.post(f"/api/v1/collection/{receipt}/collect",
                             headers=bearer(callers[who] or ""),
                             json={"id_number": "A123456(3)", "old_permit_surrendered": True})
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "wrong_centre"
    assert eligibility() == before   # nothing was collected


def _staff_lists_its_own_centre(client: TestClient, callers: dict[str, str | None],
                                receipt: str) -> None:
    def centres(who: str) -> set[Any]:
        answer = client.get("/api/v1/staff", headers=bearer(callers[who] or ""))
        assert answer.status_code == 200, answer.text
        listed = answer.json()
        return {x["centre"] for x in [*listed["users"], *listed["tokens"]]}
    assert centres(f"{OTHER}:{S}") == {OTHER}
    assert centres(S) == {"wan-chai"}
    assert centres(A) >= {OTHER, "wan-chai"}


def _admin_page_shows_its_own_centre(client: TestClient, callers: dict[str, str | None],
                                     receipt: str) -> None:
    def centres(who: str) -> list[str]:
        page = client.get("/admin", headers=bearer(callers[who] or ""))
        assert page.status_code == 200
        return re.findall(r'<section class="card centre" data-centre="([^"]+)"', page.text)
    assert centres(f"{OTHER}:{S}") == [OTHER]
    assert centres(S) == ["wan-chai"]
    assert set(centres(A)) >= {OTHER, "wan-chai"}


CROSS_CENTRE: dict[str, Callable[[TestClient, dict[str, str | None], str], None]] = {
    "/api/v1/collection/eligibility": _eligibility_is_wrong_centre,
    "/api/v1/collection/{receipt_no}/collect": _collect_is_wrong_centre,
    "/api/v1/staff": _staff_lists_its_own_centre,
    "/admin": _admin_page_shows_its_own_centre,
}


def test_unscoped_routes_keep_each_centre_to_its_own(
        client: TestClient, callers: dict[str, str | None], tokens: dict[str, str],
        seed: Callable[..., Any]) -> None:
    """A route that names no centre lets another centre's roles in (the table says so): what
    they reach there must still be their own centre's only."""
    assert {e.template for e in TABLE if not e.scoped} == set(CROSS_CENTRE)
    make = {"name": "cross-login", "password": PASSWORD, "role": D}
    for centre in ("wan-chai", OTHER):
        made = client.post("/api/v1/users", headers=bearer(tokens[A]),
                           json={**make, "name": f"cross-{centre}", "centre": centre})
        assert made.status_code == 201, made.text
    receipt = Path(client, tokens, seed).served()["receipt_no"]
    for check in CROSS_CENTRE.values():
        check(client, callers, receipt)
