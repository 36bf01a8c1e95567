"""The chime played before every call: a soft two-tone "ding-dong", made without any audio files.

Synthesised from the standard library so that it exists on every install, even where no
text-to-speech engine works: a call is never silent (DESIGN.md "Announcements").
"""

from __future__ import annotations

import io
import math
import sys
import wave
from array import array
from functools import cache

SAMPLE_RATE = 22050  # the rate the speech clips use, so a display never resamples between them
DURATION_S = 1.2
DING_HZ = 659.25  # E5, then C5: a falling major third reads as "attention" and not as an alarm
DONG_HZ = 523.25
DONG_START_S = 0.5  # late enough that the ding is heard alone, early enough to feel like one sound
DECAY_S = 0.25  # the ding has fallen ~17 dB when the dong strikes, so the two never blur
PEAK_DBFS = -3.0  # headroom for a display's own volume processing
FADE_IN_S = 0.005  # a tone starting at full amplitude clicks; 5 ms is too short to hear as a swell
FADE_OUT_S = 0.08  # the dong still rings at the end; ramp to zero so the clip ends without a click


def _envelope(t: float, start: float) -> float:
    """An exponentially decaying strike at `start` with a short linear attack."""
    if t < start:
        return 0.0
    since = t - start
    attack = min(1.0, since / FADE_IN_S)
    return attack * math.exp(-since / DECAY_S)


def _samples() -> list[float]:
    count = round(SAMPLE_RATE * DURATION_S)
    out: list[float] = []
    for i in range(count):
        t = i / SAMPLE_RATE
        value = _envelope(t, 0.0) * math.sin(2 * math.pi * DING_HZ * t)
        value += _envelope(t, DONG_START_S) * math.sin(2 * math.pi * DONG_HZ * (t - DONG_START_S))
        remaining = (count - 1 - i) / SAMPLE_RATE
        out.append(value * min(1.0, remaining / FADE_OUT_S))
    return out


@cache
def chime_wav() -> bytes:
    """The chime as a 16-bit mono PCM WAV file; the same bytes on every call and every run."""
    raw = _samples()
    # Normalise the mix rather than each tone: where the two overlap they add up.
    scale = 32767 * 10 ** (PEAK_DBFS / 20) / max(abs(v) for v in raw)
    pcm = array("h", (round(v * scale) for v in raw))
    if sys.byteorder == "big":
        pcm.byteswap()  # WAV data is little-endian whatever the machine
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()
