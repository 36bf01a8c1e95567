"""Free text said aloud: a notice's words (CONTRACT §10), with the segments and clips of calls.

A call is joined from segments rendered once for every call; a supervisor's free text cannot be,
so each language's text is rendered whole, as one segment, by the worker (queue `announcements`)
with the same engine fallback (`render.render_pieces`). Its clip is the ordinary clip of that one
segment, `/sounds/clips/c1.<segment>.wav`, which any web process joins and serves from Redis. The
same text is rendered once, ever: a ready-made notice posted again has its clips at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from queueserver.platform.config import Centre
from queueserver.sounds import clips, engines, render, segments, spoken
from queueserver.sounds.announcer import SUFFIX
from queueserver.sounds.clips import CLIPS_PREFIX

# Which of a notice's two texts each language says.
SAYS = {"yue": "text_zh", "cmn": "text_zh", "en": "text_en"}


def texts(centre: Centre, text_en: str, text_zh: str) -> dict[str, str]:
    """What each of the centre's announcement languages says, in play order."""
    given = {"text_en": text_en, "text_zh": text_zh}
    return {language: given[SAYS[language]] for language in centre.announcement_languages}


def clip_url(segment_id: str) -> str:
    name: str = segments.clip_name([segment_id])
    url: str = CLIPS_PREFIX + name + SUFFIX
    return url


def candidates(centre: Centre, said: Mapping[str, str]) -> dict[str, list[str]]:
    """Per language, the segment names that could say it, best engine first."""
    return {language: [segments.segment_id(e.name, e.voice(language), language, text)
                       for e in engines.chain(centre.announcement_engine)]
            for language, text in said.items()}


def clips_of(wanted: Mapping[str, list[str]], present: set[str]) -> list[str]:
    """The clip URLs of the languages said so far, in play order (the chime not included)."""
    out = []
    for names in wanted.values():
        found = next((n for n in names if n in present), None)
        if found is not None:
            out.append(clip_url(found))
    return out


def render_missing(store: clips.SegmentStore, centre: Centre,
                   said: Mapping[str, str]) -> list[str]:
    """Render what is missing (the worker's part) and return the clip URLs that exist now."""
    pieces = [(language, spoken.Piece("free_text", text)) for language, text in said.items()]
    render.render_pieces(store, pieces, engines.chain(centre.announcement_engine))
    wanted = candidates(centre, said)
    present = store.existing(sorted({n for names in wanted.values() for n in names}))
    return clips_of(wanted, present)
