"""The screens (CONTRACT §7): Jinja2 pages whose scripts and styles are package data.

Each page says who may open it with the same `authorize()` as the API. A staff screen without a
login redirects to `/login`; a device screen (the hall display and the collection kiosk, which
nobody signs in to) takes its token as `?token=` (CONTRACT §5). The photo booth's PC signs in
with a `photo` login like any staff screen. What a page's script needs comes in one JSON
attribute on `<body>`, so the page runs no inline script and a strict Content-Security-Policy
holds.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from queueserver.auth import users
from queueserver.auth.credentials import Action, Credential, Role
from queueserver.notices import readymade
from queueserver.platform.clock import ms
from queueserver.platform.config import Centre
from queueserver.platform.errors import ApiError
from queueserver.rules.vocab import DeclineReason, PaymentMethod
from queueserver.web import slip, templating
from queueserver.web.api.base import MAX_STRING, authorize, bearer

# What a QR code on a ticket slip may hold: a ticket number, nothing else.
QR_TEXT = re.compile(r"^[A-Z][0-9]{3,6}$")
# Large enough for a phone camera at arm's length on an 80 mm slip.
QR_SCALE = 6
# What the photo booth's slip may draw as a barcode: what a scanner reads back as typed
# (printable ASCII), no longer than the API takes a photo receipt's barcode.
BARCODE_TEXT = re.compile(rf"[\x20-\x7e]{{1,{MAX_STRING}}}")


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    context = {"page": {}, "viewer": None, "centre": None, **context}
    html = templating.render(template, request=request, **context)
    return HTMLResponse(html, status_code=status)


def problem(request: Request, status: int, code: str, device: bool = False) -> HTMLResponse:
    """A page that says what went wrong in both languages and what to do."""
    error = ApiError(code, status=status)
    return render(request, "problem.html", status=status, error=error, device=device)


def without_token(query: str) -> str:
    """A query string less every `token` parameter (by its decoded name, as Starlette reads
    it: `%74oken=` is one too)."""
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "token"]
    return urlencode(kept)


def login_redirect(request: Request) -> RedirectResponse:
    """To `/login`, and back here after: never with a `?token=` that came along, which would
    ride into the login page's URL, the browser's history and any proxy's log."""
    query = without_token(request.url.query)
    target = request.url.path + (f"?{query}" if query else "")
    return RedirectResponse("/login?next=" + quote(target, safe="/"), status_code=303)


def centre_view(centre: Centre) -> dict[str, Any]:
    return {
        "id": centre.id, "name_en": centre.name_en, "name_zh": centre.name_zh,
        "services": [{"code": s.code, "name_en": s.name_en, "name_zh": s.name_zh,
                      "priority": s.priority} for s in centre.services],
        "counters": [{"number": c.number, "services": list(c.services)}
                     for c in centre.counters],
        # Names only: a printer's address is the worker's business.
        "printers": [p.name for p in centre.printers],
    }


def _time_data(request: Request) -> dict[str, Any]:
    """The server's clock for scripts that show times or count durations: a screen's own
    clock may be wrong, and in a test the server's clock is set."""
    clock = request.state.centres.clock
    now: dt.datetime = clock.now()
    offset = now.utcoffset() or dt.timedelta(0)
    return {"server_now_ms": ms(now), "today": now.date().isoformat(),
            "utc_offset_minutes": int(offset.total_seconds() // 60),
            "timezone": request.state.centres.config.timezone,
            # The demo's clock runs faster than the real one, and its screens say so (§8).
            "clock_rate": clock.pace, "demo": clock.demo}


class Viewer:
    """Who opened a page: the credential, and the CSRF token when it came by session."""

    def __init__(self, credential: Credential, csrf: str | None, token: str | None) -> None:
        self.credential = credential
        self.csrf = csrf
        self.token = token

    def may(self, action: Action, centre: str | None = None) -> bool:
        return self.credential.allows(action, centre)


async def viewer(request: Request, action: Action, centre: str | None = None,
                 counter: int | None = None, device: bool = False) -> Viewer | Response:
    """The one role check for pages; a redirect or an error page when it fails. Only a device
    screen takes `?token=`."""
    token = bearer(request, url_token=device)
    try:
        cred = await authorize(request, action, centre, counter, url_token=device)
    except ApiError as e:
        if e.code == "unauthenticated" and not (device and token):
            return login_redirect(request)
        return problem(request, e.status, e.code, device=device)
    csrf = None
    if not token:
        session = await users.lookup_session(request.state.redis, request.state.centres.secret,
                                             request.cookies.get(users.COOKIE))
        csrf = session.csrf if session else None
    return Viewer(cred, csrf, token)


def _centre(request: Request) -> Centre | None:
    found: Centre | None = request.state.centres.config.centre(request.path_params["centre"])
    return found


def page_data(request: Request, who: Viewer, centre: Centre | None,
              **extra: Any) -> dict[str, Any]:
    cred = who.credential
    return {
        **_time_data(request),
        "centre": centre_view(centre) if centre else None,
        "role": cred.role.value, "user": cred.name,
        "token": who.token, "csrf": who.csrf,
        **extra,
    }


async def screen(request: Request, template: str, action: Action, device: bool = False,
                 counter: int | None = None, **extra: Any) -> Response:
    centre = _centre(request)
    if centre is None:
        return problem(request, 404, "not_found")
    if counter is not None and centre.counter(counter) is None:
        return problem(request, 404, "not_found")
    who = await viewer(request, action, centre.id, counter, device=device)
    if isinstance(who, Response):
        return who
    # The desk shows the window override only to those who may use it (the API checks again).
    extra["may_override"] = who.may(Action.OVERRIDE_WINDOW, centre.id)
    data = page_data(request, who, centre, **extra)
    return render(request, template, centre=centre, page=data, viewer=who)


async def display(request: Request) -> Response:
    return await screen(request, "display.html", Action.BOARD, device=True)


async def kiosk(request: Request) -> Response:
    return await screen(request, "kiosk.html", Action.COLLECTION, device=True)


async def photo(request: Request) -> Response:
    return await screen(request, "photo.html", Action.PHOTO)


async def desk(request: Request) -> Response:
    return await screen(request, "desk.html", Action.CHECK_IN)


async def counter(request: Request) -> Response:
    n = int(request.path_params["n"])
    cfg = request.state.centres.config
    return await screen(request, "counter.html", Action.COUNTER, counter=n,
                        counter_number=n, fees=dict(cfg.fees),
                        decline_reasons=[r.value for r in DeclineReason],
                        payment_methods=[m.value for m in PaymentMethod])


async def admin(request: Request) -> Response:
    who = await viewer(request, Action.MANAGE)
    if isinstance(who, Response):
        return who
    cfg = request.state.centres.config
    centres = [c for c in cfg.centres if who.may(Action.MANAGE, c.id)]
    data = page_data(request, who, None, centres=[centre_view(c) for c in centres],
                     roles=[r.value for r in Role if who.credential.role is Role.ADMIN
                            or r is not Role.ADMIN], readymade=readymade.for_screen())
    return render(request, "admin.html", centre=None, page=data, viewer=who, centres=centres,
                  readymade=readymade.READY_MADE)


def _screens_for(cred: Credential, centres: list[Centre]) -> list[dict[str, str]]:
    """The screens a login may open, for its home page."""
    out: list[dict[str, str]] = []
    for c in centres:
        if not cred.allows(Action.BOARD, c.id) and not cred.allows(Action.PHOTO, c.id):
            continue
        label = f"{c.name_zh} {c.name_en}"
        if cred.allows(Action.CHECK_IN, c.id):
            out.append({"href": f"/desk/{c.id}", "zh": "詢問窗口", "en": "Inquiry desk",
                        "where": label})
        for k in c.counters:
            if cred.allows(Action.COUNTER, c.id, k.number):
                out.append({"href": f"/counter/{c.id}/{k.number}", "zh": f"{k.number} 號櫃位",
                            "en": f"Counter {k.number}", "where": label})
        if cred.allows(Action.PHOTO, c.id):
            out.append({"href": f"/photo/{c.id}", "zh": "相片檢測站", "en": "Photo booth",
                        "where": label})
        if cred.allows(Action.BOARD, c.id):
            out.append({"href": f"/display/{c.id}", "zh": "大堂顯示屏", "en": "Hall display",
                        "where": label})
    if any(cred.allows(Action.MANAGE, c.id) for c in centres):
        out.insert(0, {"href": "/admin", "zh": "主管", "en": "Supervisor", "where": ""})
    return out


async def home(request: Request) -> Response:
    session = await users.lookup_session(request.state.redis, request.state.centres.secret,
                                         request.cookies.get(users.COOKIE))
    if session is None:
        return login_redirect(request)
    who = Viewer(session.credential, session.csrf, None)
    cfg = request.state.centres.config
    screens = _screens_for(session.credential, list(cfg.centres))
    data = page_data(request, who, None)
    return render(request, "home.html", centre=None, page=data, viewer=who, screens=screens)


async def qr(request: Request) -> Response:
    """A ticket number as a QR code (SVG) for the desk's slip; nothing else is encoded."""
    import segno

    text = request.path_params["text"]
    if not QR_TEXT.match(text):
        raise ApiError("not_found")
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="svg", scale=QR_SCALE, border=4,
                                                   xmldecl=False)
    return Response(out.getvalue(), media_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400"})


async def photo_barcode(request: Request) -> Response:
    """A photo receipt's barcode (`?text=`) as Code 128 (SVG) for the photo booth's slip, drawn
    as the receipt slip draws its number; for those who may register photo receipts."""
    await authorize(request, Action.PHOTO, request.path_params["centre"])
    if _centre(request) is None:
        raise ApiError("not_found")
    text = request.query_params.get("text", "")
    if not BARCODE_TEXT.fullmatch(text):
        raise ApiError("bad_request", message_en=f"text must be the barcode: 1 to {MAX_STRING} "
                       "letters, digits, spaces or symbols (printable ASCII).")
    return Response(str(slip.barcode_svg(text)), media_type="image/svg+xml",
                    headers={"Cache-Control": "no-store"})


routes: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/display/{centre}", display, methods=["GET"]),
    Route("/kiosk/{centre}", kiosk, methods=["GET"]),
    Route("/photo/{centre}", photo, methods=["GET"]),
    Route("/photo/{centre}/barcode.svg", photo_barcode, methods=["GET"]),
    Route("/desk/{centre}", desk, methods=["GET"]),
    Route("/counter/{centre}/{n:int}", counter, methods=["GET"]),
    Route("/admin", admin, methods=["GET"]),
    Route("/qr/{text}.svg", qr, methods=["GET"]),
    # What every screen loads (the API client, live events, the words, the common style).
    Mount("/static/shared", StaticFiles(packages=[("queueserver.templates", "static")]),
          name="static-shared"),
    Mount("/static/displays", StaticFiles(packages=[("queueserver.displays", "static")]),
          name="static-displays"),
    Mount("/static/counters", StaticFiles(packages=[("queueserver.counters", "static")]),
          name="static-counters"),
]
