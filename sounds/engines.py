"""Text-to-speech engines behind one small interface: gTTS, espeak-ng, and a tone engine for tests.

An engine renders one piece of text in one language to samples at `audio.RATE`, or raises
`EngineUnavailable` when it cannot right now (no internet, no binary); `render.py` then falls back
to the next engine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from typing import Protocol

import numpy as np

from queueserver.sounds import audio

ESPEAK_BINARY = "espeak-ng"
# Slower than espeak-ng's 175 words a minute: a hall is noisy and echoes.
ESPEAK_WORDS_PER_MINUTE = 160
# espeak-ng's Chinese voices reach full scale at its default of 100; normalising restores the level.
ESPEAK_AMPLITUDE = 60
ESPEAK_TIMEOUT_S = 20.0
# gTTS asks a web service; a call's audio can wait, but a hung request must not hold a worker.
GTTS_TIMEOUT_S = 10.0


class EngineUnavailable(Exception):
    """The engine cannot render now; the message says why and what to do."""


class Engine(Protocol):
    name: str

    def voice(self, language: str) -> str:
        """The engine's voice for one of our languages (`yue`, `cmn`, `en`)."""
        ...

    def render(self, text: str, language: str) -> audio.Audio:
        ...


def _voice(voices: dict[str, str], engine: str, language: str) -> str:
    try:
        return voices[language]
    except KeyError:
        raise ValueError(f"{engine} has no voice for {language!r}") from None


class Gtts:
    """Google's text-to-speech through gTTS: natural voices, needs the internet."""

    name = "gtts"
    # gTTS's `zh` is Mandarin, its `yue` Cantonese.
    VOICES = {"yue": "yue", "cmn": "zh", "en": "en"}

    def voice(self, language: str) -> str:
        return _voice(self.VOICES, self.name, language)

    def render(self, text: str, language: str) -> audio.Audio:
        if os.environ.get("QUEUESERVER_TEST_MODE") == "1":
            # Processes started by tests never reach the network (tests stand the service in,
            # in-process, where they test this engine).
            raise EngineUnavailable("gTTS is not asked in test mode (QUEUESERVER_TEST_MODE=1)")
        import miniaudio
        import requests
        from gtts import gTTS, gTTSError

        tts = gTTS(text, lang=self.voice(language), lang_check=False, timeout=GTTS_TIMEOUT_S)
        try:
            mp3 = b"".join(tts.stream())
        except (gTTSError, requests.RequestException) as e:
            raise EngineUnavailable(f"gTTS failed: {e}") from None
        if not mp3:
            raise EngineUnavailable("gTTS answered without audio")
        try:
            decoded = miniaudio.decode(mp3, output_format=miniaudio.SampleFormat.SIGNED16,
                                       nchannels=1, sample_rate=audio.RATE)
        except miniaudio.DecodeError as e:
            raise EngineUnavailable(f"gTTS answered audio that does not decode: {e}") from None
        return audio.from_pcm16(decoded.samples.tobytes(), audio.RATE)


class Espeak:
    """espeak-ng (Debian's `espeak-ng`): robotic but offline and instant."""

    name = "espeak"
    # Debian's espeak-ng 1.51 `cmn` voice reads its own pinyin with English rules ("san one" for
    # 三); `cmn-latn-pinyin` is the same Mandarin voice with the pinyin read as pinyin.
    VOICES = {"yue": "yue", "cmn": "cmn-latn-pinyin", "en": "en"}

    def voice(self, language: str) -> str:
        return _voice(self.VOICES, self.name, language)

    def render(self, text: str, language: str) -> audio.Audio:
        binary = shutil.which(ESPEAK_BINARY)
        if binary is None:
            raise EngineUnavailable("espeak-ng is not installed (Debian package espeak-ng)")
        try:
            # The text goes on standard input so that no text can be taken for an option.
            done = subprocess.run(
                [binary, "-v", self.voice(language), "-s", str(ESPEAK_WORDS_PER_MINUTE),
                 "-a", str(ESPEAK_AMPLITUDE), "--stdout"],
                input=text.encode(), capture_output=True, timeout=ESPEAK_TIMEOUT_S, check=True)
        except (subprocess.SubprocessError, OSError) as e:
            raise EngineUnavailable(f"espeak-ng failed: {e}") from None
        return audio.from_wav(done.stdout)


class Tone:
    """A stand-in voice for tests: one tone per word or Chinese character, with silences around
    and between them as an engine leaves, at a level that differs by language. Deterministic."""

    name = "tone"
    VOICES = {"yue": "tone-yue", "cmn": "tone-cmn", "en": "tone-en"}
    LEVELS = {"yue": 0.15, "cmn": 0.4, "en": 0.7}  # unequal on purpose: normalising must even them
    WORD_S = 0.16
    BETWEEN_S = 0.05
    LEAD_S = 0.12
    TAIL_S = 0.2

    def voice(self, language: str) -> str:
        return _voice(self.VOICES, self.name, language)

    def _words(self, text: str) -> list[str]:
        words: list[str] = []
        for chunk in text.split():
            if chunk.isascii():
                words.append(chunk)
            else:
                words.extend(c for c in chunk if c.isalnum())
        return words

    def render(self, text: str, language: str) -> audio.Audio:
        self.voice(language)
        level = self.LEVELS[language]
        rate = audio.RATE
        t = np.arange(round(self.WORD_S * rate)) / rate
        envelope = np.minimum(1.0, np.minimum(t, self.WORD_S - t) / 0.02)
        parts = [audio.silence(self.LEAD_S)]
        for i, word in enumerate(self._words(text)):
            if i:
                parts.append(audio.silence(self.BETWEEN_S))
            seed = hashlib.sha256(f"{language}:{word}".encode()).digest()
            hz = 180 + 8 * seed[0]
            wave = np.sin(2 * np.pi * hz * t) + 0.3 * np.sin(2 * np.pi * 3 * hz * t)
            parts.append(audio.Audio((level * envelope * wave / 1.3).astype(np.float32), rate))
        parts.append(audio.silence(self.TAIL_S))
        return audio.concat(parts)


ENGINES: dict[str, type[Gtts] | type[Espeak] | type[Tone]] = {
    "gtts": Gtts, "espeak": Espeak, "tone": Tone}
# A centre's engine, then what stands in when it cannot render (CONTRACT §1); after the last,
# calls carry the chime only.
FALLBACK: dict[str, tuple[str, ...]] = {
    "gtts": ("gtts", "espeak"), "espeak": ("espeak",), "tone": ("tone",)}


def engine(name: str) -> Engine:
    try:
        return ENGINES[name]()
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}") from None


def chain(name: str) -> list[Engine]:
    """The engines to try, in order, for a centre whose configured engine is `name`."""
    if name not in FALLBACK:
        raise ValueError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}")
    return [engine(n) for n in FALLBACK[name]]
