"""The booking platform's fixtures: its config (tests/data/appointments.toml: wan-chai's slots
09:00-10:00 and 14:00-15:00, 6 places each; kowloon-bay's 09:00-10:00 with capacity "auto"),
approved applications imported through the real store, and the app in-process on the suite's
Redis with an injected clock (a Friday morning, as everywhere in the suite)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import HKIDS, MORNING, SECRET
from starlette.testclient import TestClient

from queueserver.appointments import applications
from queueserver.appointments.applications import Application, ApplicationStore
from queueserver.platform import config
from queueserver.platform.clock import Clock

APPOINTMENTS_CONFIG = Path(__file__).parents[1] / "data" / "appointments.toml"
# The Friday of the suite; its next working day, the first with slots past 24 hours' notice.
MONDAY = "2026-11-30"
TUESDAY = "2026-12-01"


def person(ref: str, n: int = 0, **fields: Any) -> Application:
    values: dict[str, Any] = dict(
        ref=ref, application_type="first", surname="CHAN", given_names="TAI MAN",
        id_kind="hkid", id_number=HKIDS[n % len(HKIDS)], passport_no=f"K76543{n:02d}",
        nationality="GBR", email=f"applicant{n}@example.test", status="approved")
    values.update(fields)
    return Application(**values)


@pytest.fixture
def cfg() -> config.Config:
    return config.load(APPOINTMENTS_CONFIG)


@pytest.fixture
def clock(cfg: config.Config) -> Clock:
    return Clock(cfg.tz, MORNING)


def approve(r: redis.Redis, cfg: config.Config, clock: Clock,
            people: list[Application]) -> dict[str, str]:
    """Import the applications through the real store; each one's booking token by its ref."""
    ApplicationStore(r, SECRET, cfg, "test", clock).apply(people)
    return {p.ref: token_of(r, p.ref) for p in people}


def token_of(r: redis.Redis, ref: str) -> str:
    digest: Any = r.hget("qs:application-refs", ref)
    salt: Any = r.hget(f"qs:{{t:{digest}}}:application", "salt")
    return applications.token_for(SECRET, str(salt))


@pytest.fixture
def people(r: redis.Redis, cfg: config.Config,
           clock: Clock) -> Callable[..., dict[str, str]]:
    def make(*refs: str) -> dict[str, str]:
        return approve(r, cfg, clock, [person(ref, i) for i, ref in enumerate(refs)])
    return make


@pytest.fixture
def client(r: redis.Redis, redis_url: str, cfg: config.Config,
           clock: Clock) -> Iterator[TestClient]:
    from queueserver.web.app import create_app

    with TestClient(create_app(cfg, redis_url, SECRET, clock)) as c:
        yield c


def book(client: TestClient, token: str, date: str = MONDAY, start: str = "09:00",
         centre: str = "wan-chai") -> Any:
    return client.post(f"/api/v1/book/{token}/appointment",
                       json={"centre": centre, "date": date, "start": start})


def free(client: TestClient, token: str, date: str = MONDAY,
         centre: str = "wan-chai") -> dict[str, int]:
    answer = client.get(f"/api/v1/book/{token}/slots",
                        params={"centre": centre, "from": date, "to": date})
    assert answer.status_code == 200, answer.text
    return {s["start"]: s["free"] for s in answer.json()["slots"]}
