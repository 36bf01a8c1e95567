"""A centre's day driven through the real API at set times (the injected clock), for the
statistics, report and day-close tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from conftest import DAY, HKIDS, TZ, bearer
from starlette.testclient import TestClient

from queueserver.platform.clock import Clock

C = "/api/v1/centres/wan-chai"


@dataclass
class Day:
    client: TestClient
    tokens: dict[str, str]
    seed: Callable[..., Any]
    clock: Clock
    day: dt.date = DAY
    issued: int = 0

    def at(self, hhmm: str, day: dt.date | None = None) -> None:
        hour, minute = (int(p) for p in hhmm.split(":"))
        self.day = day or self.day
        self.clock.set(dt.datetime.combine(self.day, dt.time(hour, minute), tzinfo=TZ))

    def post(self, path: str, body: dict[str, Any] | None = None,
             role: str = "supervisor") -> httpx.Response:
        answer = self.client.post(f"{C}/{path}", json=body or {},
                                  headers=bearer(self.tokens[role]))
        assert answer.status_code < 300, answer.text
        return answer

    def issue(self, priority: bool = False) -> dict[str, Any]:
        """Check a booking in now (its slot starts now); the new ticket."""
        self.issued += 1
        now = self.clock.now()
        ref, barcode, id_number = f"DAY{self.issued:04d}", f"PH{self.issued}", HKIDS[0]
        self.seed(ref, date=self.day.isoformat(), slot_start=now.strftime("%H:%M"),
                  slot_end=(now + dt.timedelta(minutes=30)).strftime("%H:%M"),
                  id_number=id_number)
        self.post("photo-receipts", {"barcode": barcode}, role="photo")
        answer = self.post("tickets", {"booking_ref": ref, "id_number": id_number,
                                       "photo_barcode": barcode, "priority": priority},
                           role="desk")
        return dict(answer.json()["ticket"])

    def call(self, counter: int) -> str | None:
        ticket = self.post(f"counters/{counter}/call").json()["ticket"]
        return None if ticket is None else str(ticket["number"])

    def done(self, number: str) -> None:
        """Accept, pay and issue the receipt, all now."""
        self.post(f"tickets/{number}/acceptance")
        self.post(f"tickets/{number}/payment", {"method": "cash", "amount_hkd": 320})
        self.post(f"tickets/{number}/receipt")

    def decline(self, number: str) -> None:
        self.post(f"tickets/{number}/decline", {"reason": "documents_missing",
                                                "note": "no proof of residence"})

    def no_show(self, counter: int) -> None:
        self.post(f"counters/{counter}/no-show")

    def transfer(self, counter: int, service: str) -> None:
        self.post(f"counters/{counter}/transfer", {"service": service})

    def requeue(self, number: str) -> None:
        self.post(f"tickets/{number}/requeue", role="desk")

    def stats(self, date: str | None = None) -> dict[str, Any]:
        answer = self.client.get(f"{C}/stats", params={"date": date or self.day.isoformat()},
                                 headers=bearer(self.tokens["supervisor"]))
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


def play_the_scripted_day(day: Day) -> None:
    """The day whose figures test_stats.py works out by hand (times local, 2026-11-27)."""
    day.at("09:00")
    assert day.issue()["number"] == "A001"
    day.at("09:05")
    assert day.issue()["number"] == "A002"
    day.at("09:10")
    assert day.issue(priority=True)["number"] == "P001"
    day.at("09:12")
    assert day.call(1) == "P001"          # counter 1 serves P first
    day.at("09:20")
    day.done("P001")
    day.at("09:21")
    assert day.call(1) == "A001"
    day.at("09:25")
    assert day.call(2) == "A002"
    day.at("09:30")
    day.no_show(2)
    day.at("09:31")
    day.decline("A001")
    day.at("09:32")
    assert day.issue()["number"] == "A003"
    day.at("09:40")
    day.requeue("A002")                   # back of A's queue, behind A003
    day.at("10:10")
    assert day.call(3) == "A003"
    day.at("10:12")
    day.transfer(3, "P")
    day.at("10:14")
    assert day.call(1) == "A003"          # waits in P now, which counter 1 takes first
    day.at("10:24")
    day.done("A003")
    day.at("10:25")
    assert day.call(2) == "A002"          # still being served when the figures are read
