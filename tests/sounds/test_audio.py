"""Measuring audio from its samples: loudness (BS.1770), silences, trimming, joining."""

from __future__ import annotations

import io
import wave

import numpy as np
import pyloudnorm
import pytest

from queueserver.sounds import audio, engines, segments, spoken


def sine(hz: float, seconds: float, amplitude: float = 1.0, rate: int = audio.RATE) -> audio.Audio:
    t = np.arange(round(seconds * rate)) / rate
    return audio.Audio((amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate)


@pytest.mark.parametrize("rate", [48000, 24000, 22050])
def test_a_full_scale_997_hz_sine_is_minus_3_lufs(rate: int) -> None:
    # BS.1770-4's own calibration: a 0 dBFS 997 Hz sine in one channel reads -3.01 LKFS.
    assert audio.loudness(sine(997, 5, rate=rate)) == pytest.approx(-3.01, abs=0.05)


def test_the_weighting_favours_presence_over_rumble() -> None:
    at_50 = audio.loudness(sine(50, 3, 0.5))
    at_1k = audio.loudness(sine(1000, 3, 0.5))
    at_4k = audio.loudness(sine(4000, 3, 0.5))
    assert at_50 < at_1k - 1 < at_4k - 1
    assert at_4k - at_1k == pytest.approx(3.3, abs=0.5)  # the +4 dB shelf, not yet full at 4 kHz


def test_level_steps_are_measured_exactly() -> None:
    assert audio.loudness(sine(997, 3, 0.1)) == pytest.approx(-23.01, abs=0.05)


def test_gating_ignores_the_silences_between_words() -> None:
    tone = sine(997, 1, 0.3)
    gappy = audio.concat([tone, audio.silence(2), tone, audio.silence(1.5)])
    # Averaged over everything it would read 4.4 dB quieter; the gates leave only the blocks
    # that straddle a tone's edge, as BS.1770 does.
    assert audio.loudness(gappy) == pytest.approx(audio.loudness(tone), abs=1.0)
    assert audio.loudness(audio.silence(1)) == float("-inf")


def test_normalise_reaches_the_target_and_never_clips() -> None:
    for amplitude in (0.01, 0.2, 1.0):
        loud = audio.normalise(sine(440, 2, amplitude))
        assert audio.loudness(loud) == pytest.approx(audio.TARGET_LUFS, abs=0.1)
        assert np.abs(loud.samples).max() <= audio.CEILING + 1e-6
    # Noise peaks like speech, well above its average: at the target level some must be rounded
    # off. Still on target, and no clipping.
    noise = np.random.default_rng(7).normal(0, 0.01, audio.RATE * 2).astype(np.float32)
    loud = audio.normalise(audio.Audio(noise))
    assert np.abs(loud.samples).max() <= audio.CEILING + 1e-6
    assert (np.abs(loud.samples) > audio.LIMIT_FROM).any()
    assert audio.loudness(loud) == pytest.approx(audio.TARGET_LUFS, abs=0.1)


def test_silences_between_sounds_are_found_and_measured() -> None:
    beep = sine(800, 0.2, 0.5)
    clip = audio.concat([audio.silence(0.3), beep, audio.silence(0.08), beep, audio.silence(0.25),
                         beep, audio.silence(0.5)])
    found = audio.silences(clip)
    assert [length for _, length in found] == [pytest.approx(0.08, abs=0.011),
                                               pytest.approx(0.25, abs=0.011)]
    assert found[0][0] == pytest.approx(0.5, abs=0.011)
    start, end = audio.speech_bounds(clip)
    assert start / audio.RATE == pytest.approx(0.3, abs=0.011)
    assert end / audio.RATE == pytest.approx(1.23, abs=0.011)


def test_trim_keeps_the_speech_and_a_little_around_it() -> None:
    beep = sine(800, 0.2, 0.5)
    cut = audio.trim(audio.concat([audio.silence(0.3), beep, audio.silence(0.5)]), 0.015)
    assert cut.seconds == pytest.approx(0.23, abs=0.011)
    assert abs(cut.samples[0]) < 1e-3 and abs(cut.samples[-1]) < 1e-3  # faded: no click


def test_wav_round_trip_and_espeaks_endless_header() -> None:
    clip = sine(440, 0.5, 0.5)
    back = audio.from_wav(audio.to_wav(clip))
    assert back.rate == audio.RATE
    assert np.abs(back.samples - clip.samples).max() < 1e-4
    # espeak-ng --stdout cannot seek back, so its header claims the longest data chunk possible.
    proper = audio.to_wav(clip)
    endless = bytearray(proper)
    endless[40:44] = (0x7FFFFFFF).to_bytes(4, "little")
    assert len(audio.from_wav(bytes(endless)).samples) == len(clip.samples)


def test_only_16_bit_wav_is_read() -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(b"\x80" * 800)
    with pytest.raises(ValueError, match="16-bit"):
        audio.from_wav(buffer.getvalue())


def test_segments_carry_the_pause_their_punctuation_asks_for() -> None:
    word = audio.concat([audio.silence(0.2), sine(500, 0.3, 0.2), audio.silence(0.3)])
    plain = segments.shape(word, "請到")
    before = segments.shape(word, "，請到")
    after = segments.shape(word, "Calling again.")
    assert plain.seconds == pytest.approx(0.33, abs=0.015)
    assert before.seconds - plain.seconds == pytest.approx(segments.COMMA_PAUSE_S, abs=0.002)
    assert after.seconds - plain.seconds == pytest.approx(segments.STOP_PAUSE_S, abs=0.002)
    pause = round(segments.COMMA_PAUSE_S * audio.RATE)
    assert not before.samples[:pause].any()
    assert np.array_equal(before.samples[pause:], plain.samples)
    assert np.array_equal(after.samples[: len(plain.samples)], plain.samples)
    assert audio.loudness(plain) == pytest.approx(audio.TARGET_LUFS, abs=0.1)


def test_joined_words_are_spaced_like_speech() -> None:
    # Segments that leave different silences at their edges: the join measures them and adds
    # only what makes each gap the natural one.
    words = [audio.concat([audio.silence(lead), sine(400 + 50 * i, 0.25, 0.3),
                           audio.silence(tail)])
             for i, (lead, tail) in enumerate([(0.0, 0.0), (0.03, 0.01), (0.0, 0.1), (0.0, 0.0)])]
    joined = segments.join(words)
    gaps = [length for _, length in audio.silences(joined, shortest_s=0.01)]
    assert gaps[:2] == [pytest.approx(segments.WORD_GAP_S, abs=0.011)] * 2
    assert gaps[2] == pytest.approx(0.1, abs=0.011)  # a gap already longer is kept, not cut
    assert audio.loudness(joined) == pytest.approx(audio.TARGET_LUFS, abs=0.1)
    start, end = audio.speech_bounds(joined)
    assert start / audio.RATE == pytest.approx(segments.LEAD_S, abs=0.011)
    assert (len(joined.samples) - end) / audio.RATE == pytest.approx(segments.TAIL_S, abs=0.011)


def test_joined_clips_land_within_1_lu_of_the_target() -> None:
    """A call's clips as the renderer and the web process make them: real speech (espeak-ng) in
    each language, at levels 12 dB apart, each piece shaped and stored as a segment, the
    segments joined. Measured by pyloudnorm's BS.1770 meter with its own K-weighting (not the
    design audio.py measures with), each clip and the call played in a row are within 1 LU."""
    meter = pyloudnorm.Meter(audio.RATE)
    voice = engines.Espeak()
    played = []
    for language, gain in (("yue", 0.25), ("cmn", 1.0), ("en", 0.5)):
        stored = []
        for piece in spoken.pieces("B207", 12, language, recall=language == "en"):
            rendered = voice.render(segments.spoken_text(piece.text), language)
            quieter = audio.Audio(rendered.samples * np.float32(gain), rendered.rate)
            stored.append(audio.from_wav(audio.to_wav(segments.shape(quieter, piece.text))))
        clip = audio.from_wav(audio.to_wav(segments.join(stored)))
        assert clip.seconds > 1.5
        level = meter.integrated_loudness(clip.samples.astype(np.float64))
        assert level == pytest.approx(audio.TARGET_LUFS, abs=1.0), language
        assert np.abs(clip.samples).max() <= audio.CEILING + 1e-4
        played.append(clip)
    call = audio.concat(played).samples.astype(np.float64)
    assert meter.integrated_loudness(call) == pytest.approx(audio.TARGET_LUFS, abs=1.0)
