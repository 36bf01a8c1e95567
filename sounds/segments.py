"""Segments and the clips joined from them: their content names, and how they are shaped.

A segment is one piece (`spoken.py`) rendered by one engine in one voice: trimmed to its speech,
at one loudness, with the pause its punctuation asks for. Its name is a hash of what made it, so
the same piece is rendered once, ever, for every centre.

A clip is one language of one call: its name lists its segments' names, so any web process can
make it again from the segments alone, and a call's script can name it from the segments that
exist without waiting for anything (`announcer.py`).
"""

from __future__ import annotations

import hashlib
import re

from queueserver.sounds import audio

# Bump when a segment's audio would come out differently from the same text (trim, level, rate):
# the new names keep displays' long-cached clips from mixing old and new.
SEGMENT_FORMAT = "s1"
# Bump when joining changes (gaps, level): clips are cached as immutable under their names.
CLIP_FORMAT = "c1"
ID_HEX = 12  # 48 bits: no collision among the few thousand segments a city needs
MAX_SEGMENTS = 24  # a recall with a 7-digit ticket and a long counter stays far below this

# espeak-ng leaves 40–70 ms between the words of a sentence it reads in one go (measured with
# `audio.silences`); joined words are spaced the same, so the call sounds like one sentence.
WORD_GAP_S = 0.060
COMMA_PAUSE_S = 0.220  # espeak-ng pauses ~210 ms at a comma
STOP_PAUSE_S = 0.400  # and ~400 ms at a full stop
EDGE_PAD_S = 0.015  # kept around the detected speech: soft onsets and decays belong to the word
LEAD_S = 0.050  # before the first word, so a display's audio output has woken when speech starts
TAIL_S = 0.150  # after the last, so the next language does not run on

_COMMAS = "，,、"
_STOPS = "。.!！?？"
_NAME = re.compile(rf"{CLIP_FORMAT}(?:\.[0-9a-f]{{{ID_HEX}}}){{1,{MAX_SEGMENTS}}}")


def segment_id(engine: str, voice: str, language: str, text: str) -> str:
    made_of = "\x1f".join((SEGMENT_FORMAT, engine, voice, language, text))
    return hashlib.sha256(made_of.encode()).hexdigest()[:ID_HEX]


def clip_name(ids: list[str]) -> str:
    return ".".join([CLIP_FORMAT, *ids])


def clip_segments(name: str) -> list[str] | None:
    """The segment names a clip is joined from, or None when the name is not a clip's."""
    if not _NAME.fullmatch(name):
        return None
    return name.split(".")[1:]


def spoken_text(text: str) -> str:
    """What the engine is given: the piece without the punctuation that marks its pauses."""
    return text.strip(_COMMAS + _STOPS + " ")


def _pause(mark: str) -> float:
    if mark and mark in _STOPS:
        return STOP_PAUSE_S
    if mark and mark in _COMMAS:
        return COMMA_PAUSE_S
    return 0.0


def shape(rendered: audio.Audio, text: str) -> audio.Audio:
    """A rendered piece as a segment: the speech alone at the common loudness, then the silence
    its punctuation asks for (a comma before "please go to", a full stop after "Calling again")."""
    speech = audio.normalise(audio.trim(rendered, EDGE_PAD_S))
    stripped = text.strip(" ")
    before = _pause(stripped[:1])
    after = _pause(stripped[-1:])
    return audio.concat([audio.silence(before, speech.rate), speech,
                         audio.silence(after, speech.rate)])


def _edge_silence(a: audio.Audio) -> tuple[float, float]:
    start, end = audio.speech_bounds(a)
    if end == 0:
        return a.seconds, 0.0
    return start / a.rate, (len(a.samples) - end) / a.rate


def join(segments: list[audio.Audio]) -> audio.Audio:
    """One clip from segments: between two words, only as much added silence as makes the gap
    they already leave (measured from their samples) a natural one; pauses they carry are kept."""
    parts = [audio.silence(LEAD_S)]
    previous_tail = 0.0
    for i, segment in enumerate(segments):
        lead, tail = _edge_silence(segment)
        if i:
            parts.append(audio.silence(max(0.0, WORD_GAP_S - previous_tail - lead)))
        parts.append(segment)
        previous_tail = tail
    parts.append(audio.silence(TAIL_S))
    return audio.normalise(audio.concat(parts))
