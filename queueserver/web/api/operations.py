"""Running the centre: the day's statistics (JSON and CSV) and the supervisor's daily report.

Both are for the centre's supervisor and the admin (`Action.MANAGE`). The report is a page of
its own, linked from `/admin`: the day's figures, refreshed every minute while the day is open,
with inline SVG charts (queueserver/operations/charts.py) and the takings, and printable as it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from queueserver.auth.credentials import Action
from queueserver.operations import charts, stats
from queueserver.operations.models import Stats
from queueserver.platform.config import Centre
from queueserver.platform.errors import ApiError
from queueserver.queue.tickets import typed
from queueserver.service import counter_service as service
from queueserver.service.models import Takings
from queueserver.store import keys
from queueserver.web import templating
from queueserver.web.api.base import Read, authorize

C = "/api/v1/centres/{centre}"
# A live report reloads itself this often: fresh enough for a supervisor, light for Redis.
REPORT_REFRESH_S = 60



def _date(request: Request) -> str:
    """`?date=YYYY-MM-DD`, else today (the centre's local date)."""
    raw = request.query_params.get("date")
    if raw is None:
        return str(request.state.centres.clock.today())
    try:
        return dt.date.fromisoformat(raw).isoformat()
    except ValueError:
        raise ApiError("bad_request", message_en="date must be YYYY-MM-DD.") from None


async def _figures(request: Request) -> tuple[Centre, str, dict[str, Any]]:
    date = _date(request)
    centre_id = request.path_params["centre"]
    await authorize(request, Action.MANAGE, centre_id)
    centre: Centre = request.state.centres.centre(centre_id)
    figures = await stats.for_day(request.state.redis, centre.id, date,
                                  centre.wait_target_minutes)
    return centre, date, figures


async def stats_json(request: Request) -> Stats:
    _, _, figures = await _figures(request)
    return typed(figures, Stats)


async def stats_csv(request: Request) -> Response:
    centre, date, figures = await _figures(request)
    return Response(stats.to_csv(figures), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="stats-{centre.id}-{date}.csv"'})


async def _takings(request: Request, centre: Centre, date: str) -> Takings:
    """The day's takings, as `GET .../takings` gives them."""
    return await service.takings(request.state.centres, centre.id, dt.date.fromisoformat(date))


async def report(request: Request) -> Response:
    try:
        centre, date, figures = await _figures(request)
    except ApiError as e:
        if e.code != "unauthenticated":
            raise
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?next=" + quote(target, safe="/"), status_code=303)
    closed_at = await request.state.redis.hget(keys.day_close(centre.id, date), "closed_at")
    live = closed_at is None and date == request.state.centres.clock.today()
    html = templating.render(
        "report.html",
        centre=centre, date=date, stats=figures, closed_at=closed_at, live=live,
        refresh_s=REPORT_REFRESH_S, takings=await _takings(request, centre, date),
        charts={
            "histogram": charts.waiting_histogram(figures["waiting_histogram"]),
            "queue": charts.queue_length(figures["queue_length"]),
            "counters": charts.service_time_by_counter(figures["by_counter"]),
        },
        csv_url=f"/api/v1/centres/{centre.id}/stats.csv?date={date}",
    )
    return HTMLResponse(html)


routes: list[BaseRoute] = [
    Read(C + "/stats", stats_json, Stats).route(),
    Route(C + "/stats.csv", stats_csv, methods=["GET"]),
    Route("/admin/{centre}/report", report, methods=["GET"]),
]
