"""Audio as numbers: WAV in and out, where the speech is, how loud it is, measured from samples.

Loudness follows ITU-R BS.1770 (K-weighting, 400 ms blocks, absolute and relative gates), so
that a clip from gTTS and one from espeak-ng, or a Cantonese and an English one, sound equally
loud in the hall. The K-weighting is applied as its magnitude response in the frequency domain:
a block's power does not depend on phase, and one FFT is much faster than filtering in Python.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from functools import lru_cache

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
BLOCK_STEP_S = 0.100  # 75 % overlap, as BS.1770 specifies
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
FFT_QUANTUM = 4096


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

def _biquad_gain(b: tuple[float, float, float], a: tuple[float, float, float],
                 w: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    z = np.exp(-1j * w)
    h = (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    return np.asarray(np.abs(h))


def k_weighting(freqs: npt.NDArray[np.float64], rate: int) -> npt.NDArray[np.float64]:
    """|H(f)| of BS.1770's two stages at any rate: a +4 dB shelf above ~1.7 kHz (the head's
    effect) and a high-pass at ~38 Hz. Designed as libebur128 does, which gives the standard's
    published 48 kHz coefficients exactly."""
    w = 2 * np.pi * freqs / rate
    k = np.tan(np.pi * 1681.974450955533 / rate)
    q = 0.7071752369554196
    vh = 10 ** (3.999843853973347 / 20)
    vb = vh ** 0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = _biquad_gain(
        ((vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0),
        (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0), w)
    k = np.tan(np.pi * 38.13547087602444 / rate)
    q = 0.5003270373238773
    a0 = 1 + k / q + k * k
    high_pass = _biquad_gain((1.0, -2.0, 1.0),
                             (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0), w)
    return shelf * high_pass


@lru_cache(maxsize=32)
def _k_gains(n: int, rate: int) -> npt.NDArray[np.float64]:
    # Clips come in a handful of padded lengths: the filter is computed once for each.
    gains = k_weighting(np.fft.rfftfreq(n, 1 / rate).astype(np.float64), rate)
    gains.setflags(write=False)
    return gains


def loudness(audio: Audio) -> float:
    """Integrated loudness in LUFS (BS.1770-4, mono); -inf for silence."""
    x = audio.samples.astype(np.float64)
    if len(x) == 0:
        return float("-inf")
    # Pad so the zero-phase filter's ringing does not wrap around onto the other end; a multiple
    # of 4096 keeps the FFT fast and the number of distinct lengths (and cached filters) small.
    n = -(-(len(x) + audio.rate // 10) // FFT_QUANTUM) * FFT_QUANTUM
    weighted = np.fft.irfft(np.fft.rfft(x, n) * _k_gains(n, audio.rate), n)[: len(x)]
    block = min(len(x), round(BLOCK_S * audio.rate))
    step = max(1, round(BLOCK_STEP_S * audio.rate))
    energy = np.concatenate(([0.0], np.cumsum(weighted * weighted)))
    starts = np.arange(0, len(x) - block + 1, step)
    power = (energy[starts + block] - energy[starts]) / block
    gated = power[-0.691 + 10 * np.log10(np.maximum(power, 1e-20)) > ABSOLUTE_GATE_LUFS]
    if len(gated) == 0:
        return float("-inf")
    relative = -0.691 + 10 * np.log10(np.mean(gated)) + RELATIVE_GATE_LU
    kept = gated[-0.691 + 10 * np.log10(gated) > relative]
    return float(-0.691 + 10 * np.log10(np.mean(kept)))


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
