"""The engines: espeak-ng for real, gTTS against a stand-in of its web service, the tone engine;
and one loudness for every language and engine once segments are joined."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from sound_fixtures import google_tts

from queueserver.sounds import audio, engines, segments, spoken

LANGUAGES = ("yue", "cmn", "en")


@pytest.fixture(autouse=True)
def not_test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    # Processes started in test mode never ask gTTS; here its service is stood in for.
    monkeypatch.delenv("QUEUESERVER_TEST_MODE", raising=False)


def speech_seconds(a: audio.Audio) -> float:
    start, end = audio.speech_bounds(a)
    return (end - start) / a.rate


# --- espeak-ng, for real -----------------------------------------------------------------------

@pytest.mark.parametrize(("language", "text", "shortest", "longest"), [
    ("yue", "零", 0.15, 0.6), ("yue", "籌號", 0.3, 1.0), ("yue", "號櫃位", 0.4, 1.2),
    ("cmn", "三", 0.15, 0.6), ("cmn", "号柜台", 0.4, 1.2),
    ("en", "seven", 0.2, 0.8), ("en", "please go to counter", 0.7, 1.8),
])
def test_espeak_renders_speech_of_a_words_length(language: str, text: str, shortest: float,
                                                  longest: float) -> None:
    rendered = engines.Espeak().render(text, language)
    assert rendered.rate == audio.RATE
    assert shortest < speech_seconds(rendered) < longest
    # Speech, not a click or hiss: loud enough, and more than one short burst of it.
    assert audio.loudness(rendered) > -35
    assert (audio.frame_levels(rendered) > audio.SILENCE_DBFS).sum() * audio.FRAME_S > shortest


@pytest.mark.parametrize("language", ["yue", "cmn"])
def test_espeaks_chinese_voices_read_digits_in_chinese(language: str) -> None:
    # Debian's espeak-ng `cmn` voice reads 三 as "san one" (its pinyin, with English rules); the
    # voice we use must switch to English for no digit.
    voice = engines.Espeak().voice(language)
    for digit in spoken.SPOKEN[language].digits:
        phonemes = subprocess.run(["espeak-ng", "-q", "-x", "-v", voice, digit],
                                  capture_output=True, text=True, check=True).stdout
        assert "(en)" not in phonemes, (digit, phonemes)


def test_espeak_missing_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "ESPEAK_BINARY", "espeak-ng-not-installed")
    with pytest.raises(engines.EngineUnavailable, match="Debian package espeak-ng"):
        engines.Espeak().render("零", "yue")


def test_a_text_that_looks_like_an_option_is_read_not_obeyed() -> None:
    rendered = engines.Espeak().render("--version", "en")
    assert speech_seconds(rendered) > 0.3


# --- gTTS, its web service stood in for --------------------------------------------------------

@pytest.mark.parametrize(("language", "asked_as"), [("yue", "yue"), ("cmn", "zh"), ("en", "en")])
def test_gtts_asks_for_the_language_and_decodes_the_mp3(language: str, asked_as: str) -> None:
    text = {"yue": "籌號", "cmn": "号柜台", "en": "please go to counter"}[language]
    with google_tts() as service:
        rendered = engines.Gtts().render(text, language)
    assert service.asked == [(text, asked_as)]
    assert rendered.rate == audio.RATE  # resampled from the service's 24 kHz
    reference = engines.Espeak().render(text, language)  # what the stand-in spoke
    assert speech_seconds(rendered) == pytest.approx(speech_seconds(reference), abs=0.1)
    assert audio.loudness(rendered) > -35


def test_gtts_without_internet_is_unavailable() -> None:
    with google_tts() as service:
        service.down = True
        with pytest.raises(engines.EngineUnavailable, match="gTTS failed"):
            engines.Gtts().render("籌號", "yue")


def test_gtts_is_never_asked_in_test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUESERVER_TEST_MODE", "1")
    with google_tts() as service:
        with pytest.raises(engines.EngineUnavailable, match="test mode"):
            engines.Gtts().render("籌號", "yue")
    assert service.attempts == 0


def test_gtts_answer_without_audio_is_unavailable() -> None:
    import responses

    with responses.RequestsMock() as mock:
        mock.add(responses.POST, "https://translate.google.com/_/TranslateWebserverUi/data/"
                 "batchexecute", body=')]}\'\n\n39\n[["wrb.fr","jQ1olc",null,null,null,[3]]]\n')
        with pytest.raises(engines.EngineUnavailable):
            engines.Gtts().render("籌號", "yue")


# --- the tone engine, and the interface --------------------------------------------------------

def test_tone_is_deterministic_with_a_tone_per_word() -> None:
    tone = engines.Tone()
    first = tone.render("please go to counter", "en")
    assert np.array_equal(first.samples, tone.render("please go to counter", "en").samples)
    assert len(audio.silences(first)) == 3
    assert len(audio.silences(tone.render("號櫃位", "yue"))) == 2


def test_every_engine_has_a_voice_per_language_and_a_fallback() -> None:
    for name in engines.ENGINES:
        e = engines.engine(name)
        assert {e.voice(lang) for lang in LANGUAGES}.__len__() == 3
        assert engines.chain(name)[0].name == name
    assert [e.name for e in engines.chain("gtts")] == ["gtts", "espeak"]
    with pytest.raises(ValueError):
        engines.engine("siri")
    with pytest.raises(ValueError):
        engines.Espeak().voice("fr")


# --- one loudness ------------------------------------------------------------------------------

def call_clip(engine: engines.Engine, language: str) -> tuple[audio.Audio, list[audio.Audio]]:
    raw = [engine.render(segments.spoken_text(p.text), language)
           for p in spoken.pieces("A023", 5, language, recall=True)]
    shaped = [segments.shape(r, p.text)
              for r, p in zip(raw, spoken.pieces("A023", 5, language, recall=True), strict=True)]
    return segments.join(shaped), raw


def test_joined_calls_are_equally_loud_across_languages_and_engines() -> None:
    assert shutil.which("espeak-ng")
    levels: dict[tuple[str, str], float] = {}
    raw_levels: list[float] = []
    with google_tts():
        for engine in (engines.Tone(), engines.Espeak(), engines.Gtts()):
            for language in LANGUAGES:
                clip, raw = call_clip(engine, language)
                levels[(engine.name, language)] = audio.loudness(clip)
                raw_levels.append(audio.loudness(audio.concat(raw)))
                assert np.abs(clip.samples).max() <= audio.CEILING + 1e-6
    # As rendered they differ by many decibels; joined, they are within 1 dB of each other.
    assert max(raw_levels) - min(raw_levels) > 6
    assert max(levels.values()) - min(levels.values()) < 1.0, levels
