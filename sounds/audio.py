"""Audio as numbers: WAV in and out, where the speech is, how loud it is, measured from samples.

Loudness follows ITU-R BS.1770 (K-weighting, 400 ms blocks, absolute and relative gates), as
pyloudnorm measures it, so that a clip from gTTS and one from espeak-ng, or a Cantonese and an
English one, sound equally loud in the hall.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]

RATE = 22050  # the chime's rate: every clip a display plays in a row has the same one
FRAME_S = 0.010  # silence is judged per 10 ms: shorter than a syllable, longer than a pitch period
SILENCE_DBFS = -40.0  # quieter frames are silence; speech stays above ~-35, TTS noise below ~-60
TARGET_LUFS = -16.0  # one level for every clip; loud enough for a hall, peaks still fit with -1 dB
LIMIT_FROM = 10 ** (-6 / 20)  # peaks above -6 dBFS are rounded off softly, not clipped
CEILING = 10 ** (-1 / 20)  # nothing leaves louder than -1 dBFS, so a display's DAC never clips
BLOCK_S = 0.400  # BS.1770 gating block
# pyloudnorm's design of BS.1770's two K-weighting stages (Brecht De Man's, as libebur128's)
# gives the standard's published 48 kHz coefficients exactly, and the same filter at 22050 Hz;
# its "K-weighting" class approximates them (a 997 Hz sine then reads -3.05, not -3.01 LKFS).
WEIGHTING = "DeMan"


@dataclass(frozen=True)
class Audio:
    """Mono samples in [-1, 1] at `rate` samples a second."""

    samples: Samples
    rate: int = RATE

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


def silence(seconds: float, rate: int = RATE) -> Audio:
    return Audio(np.zeros(round(seconds * rate), dtype=np.float32), rate)


def from_pcm16(raw: bytes, rate: int, channels: int = 1) -> Audio:
    pcm = np.frombuffer(raw[: len(raw) - len(raw) % (2 * channels)], dtype="<i2")
    mono = pcm.reshape(-1, channels).mean(axis=1) if channels > 1 else pcm
    return Audio((mono / 32768.0).astype(np.float32), rate)


def from_wav(data: bytes) -> Audio:
    """A 16-bit PCM WAV. espeak-ng's `--stdout` header claims an endless data chunk; reading
    to the end of the bytes handles that as well as a proper header."""
    with wave.open(io.BytesIO(data), "rb") as clip:
        if clip.getsampwidth() != 2:
            raise ValueError(f"expected 16-bit PCM, got {8 * clip.getsampwidth()}-bit")
        raw = clip.readframes(clip.getnframes())
        return from_pcm16(raw, clip.getframerate(), clip.getnchannels())


def to_wav(audio: Audio) -> bytes:
    pcm = np.clip(np.round(audio.samples * 32767.0), -32768, 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(audio.rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def concat(parts: list[Audio]) -> Audio:
    if not parts:
        return silence(0)
    rates = {p.rate for p in parts}
    if len(rates) != 1:
        raise ValueError(f"cannot join clips of different rates: {sorted(rates)}")
    return Audio(np.concatenate([p.samples for p in parts]).astype(np.float32), parts[0].rate)


# --- where the speech is -------------------------------------------------------------------------

def frame_levels(audio: Audio) -> npt.NDArray[np.float64]:
    """The RMS level of each 10 ms frame, in dBFS."""
    size = max(1, round(FRAME_S * audio.rate))
    count = len(audio.samples) // size
    if count == 0:
        return np.zeros(0)
    frames = audio.samples[: count * size].astype(np.float64).reshape(count, size)
    power = np.mean(frames * frames, axis=1)
    return np.asarray(10 * np.log10(np.maximum(power, 1e-12)))


def speech_bounds(audio: Audio) -> tuple[int, int]:
    """First and last sample of speech (end exclusive); (0, 0) when it is all silence."""
    loud = np.flatnonzero(frame_levels(audio) > SILENCE_DBFS)
    if len(loud) == 0:
        return 0, 0
    size = round(FRAME_S * audio.rate)
    return int(loud[0]) * size, min(len(audio.samples), (int(loud[-1]) + 1) * size)


def silences(audio: Audio, shortest_s: float = 0.030) -> list[tuple[float, float]]:
    """Each silence between speech, as (start, length) in seconds; leading and trailing silence
    are not between words and are left out."""
    loud = frame_levels(audio) > SILENCE_DBFS
    out: list[tuple[float, float]] = []
    run_start: int | None = None
    seen_speech = False
    for i, is_loud in enumerate(loud):
        if is_loud:
            if run_start is not None and seen_speech and (i - run_start) * FRAME_S >= shortest_s:
                out.append((run_start * FRAME_S, (i - run_start) * FRAME_S))
            run_start = None
            seen_speech = True
        elif run_start is None:
            run_start = i
    return out


def trim(audio: Audio, pad_s: float) -> Audio:
    """The speech alone, with `pad_s` of what surrounds it kept (consonant onsets and decays are
    quiet but part of the word) and a short fade at each cut so it does not click."""
    start, end = speech_bounds(audio)
    if end == 0:
        return silence(0, audio.rate)
    pad = round(pad_s * audio.rate)
    cut = audio.samples[max(0, start - pad): min(len(audio.samples), end + pad)].copy()
    fade = min(len(cut) // 2, round(0.005 * audio.rate))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        cut[:fade] *= ramp
        cut[-fade:] *= ramp[::-1]
    return Audio(cut, audio.rate)


# --- how loud it is ------------------------------------------------------------------------------

def loudness(audio: Audio) -> float:
    """Integrated loudness in LUFS (BS.1770-4, mono); -inf for silence. A clip shorter than a
    gating block (a single letter) is measured as one block of its own length."""
    # Imported here: pyloudnorm loads scipy.signal, a second or more that every process
    # importing this module (`serve`, every command) would pay; only one that measures does.
    import pyloudnorm

    x = audio.samples.astype(np.float64)
    if len(x) < 2:
        return float("-inf")
    # pyloudnorm wants more samples than the block holds: a short clip's block is one sample
    # shorter than the clip.
    block = min(BLOCK_S, (len(x) - 1) / audio.rate)
    meter = pyloudnorm.Meter(audio.rate, filter_class=WEIGHTING, block_size=block)
    return float(meter.integrated_loudness(x))


def _soft_limit(x: Samples) -> tuple[Samples, bool]:
    over = np.abs(x) > LIMIT_FROM
    if not over.any():
        return x, False
    room = CEILING - LIMIT_FROM
    out = x.copy()
    out[over] = np.sign(x[over]) * (LIMIT_FROM + room * np.tanh((np.abs(x[over]) - LIMIT_FROM)
                                                                  / room))
    return out, True


def normalise(audio: Audio, target: float = TARGET_LUFS) -> Audio:
    """At `target` LUFS, peaks rounded off below the ceiling. Rounding peaks off takes a little
    loudness back, so when it happened the gain is measured once more and corrected."""
    level = loudness(audio)
    if not np.isfinite(level):
        return audio
    gain = 10 ** ((target - level) / 20)
    out, limited = _soft_limit((audio.samples * np.float32(gain)).astype(np.float32))
    if limited:
        gain *= 10 ** ((target - loudness(Audio(out, audio.rate))) / 20)
        out, _ = _soft_limit((audio.samples * np.float32(gain)).astype(np.float32))
    return Audio(out, audio.rate)
