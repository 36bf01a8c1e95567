"""The audit (CONTRACT §4, for supervisors and admins): a day's staff actions, read from the
centre's event stream (its archive once the day is closed) and its privacy log, each naming the
credential that acted — by the name it had, even after it was revoked."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute

from queueserver.auth.credentials import Action
from queueserver.operations import stats
from queueserver.operations.models import Audit
from queueserver.queue.tickets import typed
from queueserver.store import keys
from queueserver.web.api.base import Read, authorize
from queueserver.web.api.service import NO_STORE, day_param


async def day_actions(r: Any, centre: str, date: str) -> list[dict[str, Any]]:
    stream = keys.archive(centre, date)
    if not await r.exists(stream):
        stream = keys.events(centre)
    names: dict[str, str] = await r.hgetall(keys.credential_names())
    out = []
    events = [*await stats.read_events_async(r, stream),
              *await stats.read_events_async(r, keys.privacy_log(centre))]
    for event_id, fields in sorted(events, key=lambda e: str(e[1].get("at", ""))):
        data = json.loads(fields.get("data") or "{}")
        by = data.pop("by", None) if isinstance(data, dict) else None
        # The live stream holds yesterday's tail until the day closes: only this day's events.
        if not by or not str(fields.get("at", "")).startswith(date):
            continue
        known = (json.loads(names[by]) if by in names
                 else {"id": by, "name": "system" if by == "system" else None, "role": None})
        out.append({"id": event_id, "at": fields["at"], "type": fields.get("type"),
                    "credential": {"id": by, "name": known["name"], "role": known["role"]},
                    "data": data})
    return out


async def audit(request: Request) -> Audit:
    date = day_param(request, request.state.centres.clock.today()).isoformat()
    centre_id = request.path_params["centre"]
    await authorize(request, Action.MANAGE, centre_id)
    centre = request.state.centres.centre(centre_id)
    actions = await day_actions(request.state.redis, centre.id, date)
    return typed({"centre": centre.id, "date": date, "actions": actions}, Audit)


routes: list[BaseRoute] = [
    Read("/api/v1/centres/{centre}/audit", audit, Audit, headers=NO_STORE).route()]
