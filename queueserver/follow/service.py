"""The follow page's service (CONTRACT §9): a token checked within the limits, its ticket's
state, feedback given once, and the follow URL on every desk answer.

Every route of a token is limited per address as failed logins are: an unknown token, one of
another day and a malformed one are each one failure and one identical 404, so that none can
be told from another, and 10 failures in 15 minutes get 429 until they age out. A valid token is
limited as a device credential is.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import redis.asyncio

from queueserver.auth import ratelimit
from queueserver.follow import models, tokens
from queueserver.follow.tokens import Followed
from queueserver.operations.models import CounterFeedback, FeedbackFigures
from queueserver.platform.clock import seconds_left_today
from queueserver.platform.config import Centre
from queueserver.platform.errors import ApiError
from queueserver.queue.tickets import Centres, typed
from queueserver.store import keys

RATINGS = range(1, 6)
COMMENT_MAX = 500


@dataclass(frozen=True)
class NewToken:
    """The follow token of a ticket about to be issued, made from a new salt before its check-in's
    script draws the number. `key`: where the token's hash is registered, which that script
    writes on one Redis (on a cluster the key lies in no centre's slot: None, and `url` writes
    it after)."""

    centre: str
    date: str
    salt: str
    token: str
    key: str | None


def new_token(centres: Centres, centre: str, date: str) -> NewToken:
    salt = tokens.new_salt()
    token = tokens.make(centres.secret, centre, date, salt)
    one_redis = not isinstance(centres.r, redis.asyncio.cluster.RedisCluster)
    return NewToken(centre, date, salt, token,
                    keys.follow_token(tokens.token_hash(token)) if one_redis else None)


# The ticket this request has just issued: its token and number. Its follow URL is then made
# without reading the salt back from Redis, nor writing what the script registered (two round
# trips less a check-in). A context variable: each request runs in its own task, so no other
# request sees it.
ISSUED: ContextVar[tuple[NewToken, str] | None] = ContextVar("issued", default=None)


def centre_view(centre: Centre) -> dict[str, str]:
    return {"id": centre.id, "name_en": centre.name_en, "name_zh": centre.name_zh}


class Follow:
    """What the follow routes and the desk's answers ask of the follow page's room."""

    def __init__(self, centres: Centres) -> None:
        self.centres = centres
        self.r = centres.r

    # --- the desk's side ---------------------------------------------------------------------

    async def url(self, base: str, centre: str, number: str) -> str | None:
        """The absolute follow URL of one of today's tickets (None for a ticket issued before
        follow tokens existed), its token registered until the day ends."""
        now = self.centres.clock.now()
        issued = ISSUED.get()
        if issued is not None and (issued[0].centre, issued[1]) == (centre, number):
            new = issued[0]
            token, date, registered = new.token, new.date, new.key is not None
        else:
            date = now.date().isoformat()
            salt = await self.r.hget(keys.ticket(centre, date, number), "follow_salt")
            if not salt:
                return None
            token, registered = tokens.make(self.centres.secret, centre, date, str(salt)), False
        if not registered:
            await tokens.register(self.centres.scripts, token, centre, date, number,
                                  seconds_left_today(now))
        return tokens.url(self.centres.config.public_url or base, token)

    # --- the phone's side --------------------------------------------------------------------

    async def limit(self, address: str) -> None:
        """429 for an address with too many unknown tokens, before anything else is read."""
        wait = await ratelimit.token_retry_after(self.r, address)
        if wait:
            raise ratelimit.RateLimited(wait * 1000)

    async def open(self, token: str, address: str, limited: bool = False) -> Followed:
        """The ticket a token names, within the limits (`limited`: already checked); 404
        `not_found` or 429 otherwise."""
        if not limited:
            await self.limit(address)
        found = await tokens.find(self.r, token, self.centres.clock.today())
        if found is None or self.centres.config.centre(found.centre) is None:
            await ratelimit.token_failed(self.r, address)
            raise ApiError("not_found")
        await ratelimit.take_token(self.centres.scripts, "follow:" + found.token_hash[:32])
        return found

    async def state(self, found: Followed) -> models.Follow:
        """`GET /api/v1/follow/{token}`: the ticket, its centre, the hall's notices."""
        centre = self.centres.centre(found.centre)
        result: dict[str, Any] = await self.centres.run_script(
            "follow_get", centre, "", None, ticket=found.number)
        notices = result.get("notices")
        return typed({"ticket": result["ticket"], "centre": centre_view(centre),
                      "notices": notices if isinstance(notices, list) else [],
                      "issuing": bool(result.get("issuing"))}, models.Follow)

    async def give_feedback(self, found: Followed, rating: int,
                            comment: str | None) -> models.Feedback:
        """Once, after the ticket ended at a counter: 409 `invalid_state` before, 409
        `already_given` the second time."""
        centre = self.centres.centre(found.centre)
        return typed(await self.centres.run_script(
            "feedback", centre, "", None, {"feedback": keys.feedback(centre.id, found.date)},
            ticket=found.number, rating=rating, comment=comment), models.Feedback)

    # --- the supervisor's side ---------------------------------------------------------------

    async def feedback(self, centre: str, date: str) -> list[models.Feedback]:
        """The day's feedback, in the order it was given."""
        raw: dict[str, str] = await self.r.hgetall(keys.feedback(centre, date))  # type: ignore[assignment]
        entries = [typed(json.loads(v), models.Feedback) for v in raw.values()]
        return sorted(entries, key=lambda e: (e.at, e.ticket))


def summary(entries: list[models.Feedback]) -> FeedbackFigures:
    """`stats`'s `feedback` block: how many, the mean, each rating's count, and by counter."""
    ratings = [e.rating for e in entries]
    by_counter: dict[str, list[int]] = {}
    for e in entries:
        if e.counter is not None:
            by_counter.setdefault(str(e.counter), []).append(e.rating)
    return FeedbackFigures(
        count=len(ratings), mean=_mean(ratings),
        by_rating={str(n): ratings.count(n) for n in RATINGS},
        by_counter={n: CounterFeedback(len(v), _mean(v))
                    for n, v in sorted(by_counter.items(), key=lambda kv: int(kv[0]))})


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None
