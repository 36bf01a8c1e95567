"""What a person reads on the demo's console: first every screen, login and token, then one
short line per event of the centres' streams, in the demo clock's time."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any, TextIO

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import WebSocketException

from queueserver.auth import credentials as auth
from queueserver.platform.clock import DemoClock
from queueserver.platform.config import Centre, Config
from queueserver.tools.demo.day import VISITOR_COUNTER, Ready, Sample

log = logging.getLogger("queueserver.demo")

LIVE_MARK = "──── the centres at work, as it happens (Ctrl-C stops the demo) ────"
QUIET_MARK = "──── running quietly (--quiet); Ctrl-C stops the demo ────"


def _label(centre: Centre, code: str) -> str:
    found = centre.service(code)
    return f"the {found.name_en.lower()} queue" if found else f"queue {code}"


def event_line(centre: Centre, event: dict[str, Any]) -> str | None:
    """What a person reads of one event (None: nothing worth a line). Events carry no personal
    data (CONTRACT §6), and nothing here adds any."""
    kind, d = str(event.get("type", "")), event.get("data") or {}
    t, n = d.get("ticket", ""), d.get("counter")
    lines = {
        "ticket.issued": f"{t} checked in at the desk" + (" (priority)" if d.get("priority")
                                                           else "")
        + (f", {d['position']} ahead" if isinstance(d.get("position"), int) else ""),
        "ticket.called": f"{t} → counter {n}",
        "ticket.recalled": f"{t} → counter {n} (called again)",
        "ticket.no_show": (f"{t} not served: the day closed" if d.get("reason") == "day_closed"
                           else f"{t} did not come to counter {n}"),
        "ticket.transferred": f"{t} sent from counter {d.get('from_counter')} to "
                              f"{_label(centre, d.get('service', ''))}",
        "ticket.requeued": f"{t} back in the queue",
        "ticket.accepted": f"{t} accepted at counter {n}",
        "ticket.paid": f"{t} HK${d.get('amount_hkd')} paid ({d.get('method')})",
        "ticket.payment_voided": f"{t} payment voided",
        "ticket.declined": f"{t} declined at counter {n} "
                           f"({str(d.get('reason', '')).replace('_', ' ')})",
        "ticket.done": f"{t} receipt issued at counter {n}: done",
        "counter.opened": f"counter {n} open",
        "counter.paused": f"counter {n} paused",
        "counter.resumed": f"counter {n} open again",
        "counter.closed": f"counter {n} closed",
        "notice.posted": f"notice: {d.get('text_en', '')}",
        "notice.announced": "notice read out in the hall",
        "notice.removed": "notice taken down",
        "centre.checkin_refused": "a check-in refused: no numbers are being issued",
        "centre.issuing_closed": "no more numbers issued today",
        "centre.issuing_opened": "numbers issued again",
        "printer.failed": f"printer {d.get('printer')} failed",
        "collection.collected": "a permit collected at the kiosk",
        "collection.flagged": "a kiosk collection flagged for a check",
    }
    if kind.startswith("personal_data."):
        return None
    return lines.get(kind, kind)


class Console:
    """One line per event of every centre, in the demo clock's time. An acceptance waits a
    moment for its payment, so the two read as one line, as at the counter."""

    def __init__(self, config: Config, clock: DemoClock, out: TextIO) -> None:
        self.config = config
        self.clock = clock
        self.out = out
        self.width = max(len(c.id) for c in config.centres)
        self.held: dict[tuple[str, str], tuple[str, asyncio.TimerHandle]] = {}
        # How long (real seconds) an acceptance waits for its payment: a demo minute.
        self.hold_s = max(1.0, 60.0 / clock.rate)

    def write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _line(self, at: str, centre: str, text: str) -> str:
        try:
            when = dt.datetime.fromisoformat(at).astimezone(self.config.tz).strftime("%H:%M:%S")
        except ValueError:
            when = "--:--:--"
        return f"{when} {centre.ljust(self.width)}  {text}"

    def show(self, centre: Centre, event: dict[str, Any]) -> None:
        at = str(event.get("at", ""))
        if at[:10] < self.clock.today():
            return  # a past day's close, or the kiosk's earlier day: not what happens now
        data = event.get("data") or {}
        key = (centre.id, str(data.get("ticket", "")))
        if event.get("type") == "ticket.accepted":
            line = self._line(at, centre.id, event_line(centre, event) or "")
            handle = asyncio.get_running_loop().call_later(self.hold_s, self._release, key)
            self.held[key] = (line, handle)
            return
        if event.get("type") == "ticket.paid" and key in self.held:
            _, handle = self.held.pop(key)
            handle.cancel()
            self.write(self._line(at, centre.id, f"{key[1]} accepted, HK${data.get('amount_hkd')}"
                                  f" paid ({data.get('method')})"))
            return
        self._release(key)
        text = event_line(centre, event)
        if text:
            self.write(self._line(at, centre.id, text))

    def _release(self, key: tuple[str, str]) -> None:
        held = self.held.pop(key, None)
        if held:
            held[1].cancel()
            self.write(held[0])

    async def follow(self, base_ws: str, centre: Centre, token: str, after: str) -> None:
        """The centre's events from `after` on, through the WebSocket the displays use; a
        dropped socket resumes where it stopped."""
        while True:
            url = f"{base_ws}/ws/centres/{centre.id}/events?token={token}&after={after}"
            try:
                async with ws_connect(url, ping_interval=None) as ws:
                    async for raw in ws:
                        message = json.loads(raw)
                        if message.get("type") == "board":
                            after = message["data"]["last_event_id"]
                        elif "id" in message:
                            after = message["id"]
                            self.show(centre, message)
            except (OSError, WebSocketException, json.JSONDecodeError) as e:
                log.info("the console's events of %s paused: %s", centre.id, type(e).__name__)
            await asyncio.sleep(1.0)


def screens_text(base: str, config: Config, clock: DemoClock, tokens: dict[str, str],
                 staff: tuple[list[str], str], tries: dict[str, Sample],
                 kiosk: list[Ready], log_path: Path) -> str:
    """The console's first block: where every screen is, who signs in where, what to try."""
    names, password = staff
    now = clock.now()
    pace = "at the real rate" if clock.rate == 1 else f"{clock.rate:g} times as fast as real time"
    lines = [f"\nqueueserver demo is running at {base}",
             f"  demo clock 「示範 DEMO」: {now:%A %d %B %Y, %H:%M} ({config.timezone}), {pace}; "
             f"each day runs from {clock.opens:%H:%M} to {clock.closes:%H:%M}",
             "  simulated people check in and simulated clerks serve at every counter but "
             "counter 1, which is yours",
             f"\nStaff screens: sign in at {base}/login (password of every staff login: "
             f"{password})",
             f"  {'demo-admin':<34} every centre: supervisor screen {base}/admin and all below"]
    for c in config.centres:
        lines += [f"  {'demo-supervisor-' + c.id:<34} {c.id}: supervisor screen and all below",
                  f"  {'demo-desk-' + c.id:<34} {c.id}: inquiry desk",
                  f"  {'demo-clerk-' + c.id:<34} {c.id}: the counters",
                  f"  {'demo-photo-' + c.id:<34} {c.id}: photo booth"]
    lines += [f"  staff logins: {', '.join(names)}",
              f"  password of every staff login: {password}"]
    for c in config.centres:
        t = {role.value: tokens[f"demo-{role.value}-{c.id}"] for role in auth.Role
             if role is not auth.Role.ADMIN}
        simulated = [k.number for k in c.counters if k.number != VISITOR_COUNTER]
        lines += [f"\n{c.name_en} / {c.name_zh} ({c.id})",
                  f"  hall display:  {base}/display/{c.id}?token={t['display']}",
                  f"  kiosk:         {base}/kiosk/{c.id}?token={t['kiosk']}",
                  f"  inquiry desk:  {base}/desk/{c.id}   (login demo-desk-{c.id})",
                  f"  photo booth:   {base}/photo/{c.id}   (login demo-photo-{c.id})",
                  f"  counter {VISITOR_COUNTER}:     {base}/counter/{c.id}/{VISITOR_COUNTER}   "
                  f"(login demo-clerk-{c.id}): yours"]
        if simulated:
            lines.append(f"  counters {', '.join(map(str, simulated))}: "
                         f"{base}/counter/{c.id}/N   (simulated clerks)")
        lines += [f"  board (API):   {base}/api/v1/centres/{c.id}/board",
                  *(f"  {role:<10} token: {token}" for role, token in t.items())]
        s = tries.get(c.id)
        if s is not None:
            b = s.booking
            lines.append(f"  try the desk with booking {b.ref}, identity number {b.id_number}, "
                         f"photo receipt {s.barcode} (slot {b.slot_start}-{b.slot_end})")
        for k in kiosk:
            if k.centre == c.id:
                lines.append(f"  try the kiosk with receipt {k.receipt_no}, identity number "
                             f"{k.id_number}")
    lines += [f"\nadmin token (API, every centre): {tokens['demo-admin']}",
              f"the server's and the worker's logs: {log_path}"]
    return "\n".join(lines)


def booking_text(base: str, token: str, id_number: str) -> str:
    """The booking platform's sample applicant: its booking page, and how to check it in."""
    return "\n".join([
        "\nBooking platform / 預約平台 (a sample applicant; emails are written to the data "
        "folder's outbox/)",
        f"  book a visit:  {base}/book/{token}",
        f"  on its day, check it in at the desk with booking DEMOAPP1, identity number "
        f"{id_number}"])
