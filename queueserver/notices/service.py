"""Notices and closures, each change one Lua script with its event (store/scripts/notice_*.lua,
issuing.lua); the board reads them in its own script.

An announced notice goes out at once with the clips that exist (the chime, and the languages
whose text was said before); the worker renders the rest (`announce.py`) and a
`notice.announced` follows with every clip. Nothing here waits for audio, and nothing a call does
waits for a notice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import redis

from queueserver.notices import announce
from queueserver.notices.models import Issuing
from queueserver.platform.clock import iso, ms
from queueserver.platform.config import Centre
from queueserver.platform.errors import ApiError
from queueserver.queue.models import Notice
from queueserver.queue.tickets import CHIME_URL, Centres, typed
from queueserver.sounds import free_text
from queueserver.store.idempotency import Idem

log = logging.getLogger("queueserver.notices")

# CONTRACT §10: each text 1–280 characters.
MAX_TEXT = 280


def until_of(centres: Centres, raw: str | None) -> tuple[str | None, int | None]:
    """`until` as the notice keeps it (ISO 8601, in the centre's zone) and in ms; a time without
    a zone is the centre's local time. It must lie ahead: a notice that is already over is a
    mistake, not a notice."""
    if raw is None:
        return None, None
    try:
        at = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError("bad_request", message_en="until must be an ISO 8601 time, like "
                                                 "2026-11-27T14:00:00+08:00, or null.") from None
    tz = centres.config.tz
    at = at.replace(tzinfo=tz) if at.tzinfo is None else at.astimezone(tz)
    if at <= centres.clock.now():
        raise ApiError("bad_request", message_en="until must be a time still to come.",
                       message_zh="結束時間必須在現在之後。")
    return iso(at), ms(at)


async def _announcement(centres: Centres, centre: Centre, text_en: str,
                        text_zh: str) -> dict[str, Any]:
    """The chime, then whichever languages are said already; `pending` while the worker renders
    the others (the displays then play `notice.announced`)."""
    said = free_text.texts(centre, text_en, text_zh)
    wanted = free_text.candidates(centre, said)
    present: set[str] = set()
    if centres.announcer is not None:
        try:
            present = await centres.announcer.store.existing(
                sorted({n for names in wanted.values() for n in names}))
        except (redis.RedisError, OSError) as e:
            log.warning("notice audio unreadable (%s): the worker renders it afresh", e)
    clips = free_text.clips_of(wanted, present)
    if clips and centres.announcer is not None:
        # Planned before the event names them (a clip nobody planned is a 404), cached now.
        await centres.announcer.plan_clips(clips)
        centres.announcer.prepare(clips)
    return {"text": said, "clips": [CHIME_URL, *clips], "pending": len(clips) < len(said)}


async def _ask_worker(centres: Centres, centre: Centre, notice_id: str, text_en: str,
                      text_zh: str) -> None:
    if centres.announcer is None:
        return
    try:
        await asyncio.to_thread(announce.request, centres.config, centre.id, notice_id,
                                text_en, text_zh, centres.announcer.redis_url)
    except Exception as e:  # noqa: BLE001 - the notice is up; only its voice is lost
        log.warning("could not ask the worker to say notice %s at %s (%s): the displays show "
                    "it without speech", notice_id, centre.id, e)


async def post(centres: Centres, centre_id: str, text_en: str, text_zh: str,
               until: str | None, announced: bool, by: str, idem: Idem | None) -> Notice:
    centre = centres.centre(centre_id)
    until_iso, until_ms = until_of(centres, until)
    announcement = await _announcement(centres, centre, text_en, text_zh) if announced else None
    notice = typed(await centres.run_script(
        "notice_post", centre, by, idem, None, text_en=text_en, text_zh=text_zh,
        until=until_iso, until_ms=until_ms, announcement=announcement), Notice)
    if announcement and announcement["pending"]:
        await _ask_worker(centres, centre, notice.id, text_en, text_zh)
    return notice


async def current(centres: Centres, centre_id: str) -> list[Notice]:
    """The current notices, oldest first."""
    centre = centres.centre(centre_id)
    result = await centres.run_script("notice_list", centre, "", None)
    # cjson writes an empty list as {}.
    return typed(result["notices"] or [], list[Notice])


async def remove(centres: Centres, centre_id: str, notice_id: str, by: str) -> None:
    centre = centres.centre(centre_id)
    await centres.run_script("notice_remove", centre, by, None, None, id=notice_id)


async def set_issuing(centres: Centres, centre_id: str, is_open: bool, text_en: str | None,
                      text_zh: str | None, announced: bool, by: str,
                      idem: Idem | None) -> Issuing:
    centre = centres.centre(centre_id)
    if not is_open and not (text_en and text_zh):
        raise ApiError("bad_request", message_en="Closing issuing needs text_en and text_zh: "
                                                 "the hall and the desk show them.")
    announcement = None
    if not is_open and announced:
        assert text_en and text_zh
        announcement = await _announcement(centres, centre, text_en, text_zh)
    result = typed(await centres.run_script(
        "issuing", centre, by, idem, None, open=is_open, text_en=text_en or "",
        text_zh=text_zh or "", announcement=announcement), Issuing)
    if announcement and announcement["pending"] and result.closure:
        assert text_en and text_zh
        await _ask_worker(centres, centre, result.closure.notice, text_en, text_zh)
    return result
