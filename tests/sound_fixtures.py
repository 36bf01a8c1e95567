"""For the announcement tests: a stand-in for Google's text-to-speech web service, at the HTTP
layer gTTS uses (requests), and a one-centre config that speaks with a given engine.

It answers as the service does: gTTS POSTs an `f.req` form to translate.google.*'s
`batchexecute` and gets back a `)]}'`-guarded, length-prefixed JSON envelope whose `jQ1olc`
entry carries base64 MP3 (24 kHz mono). The speech inside is real: espeak-ng reads the requested
text, and LAME encodes it, so the engine's decoding and shaping run on genuine MP3 speech.
Nothing reaches the network: `responses` refuses every request it was not told about.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import lameenc
import numpy as np
import requests
import responses

from queueserver.sounds import audio

T = TypeVar("T")

BATCHEXECUTE = re.compile(r"https://translate\.google\.[a-z.]+/_/TranslateWebserverUi/data/"
                          r"batchexecute")
GTTS_RATE = 24000  # what the service sends
ESPEAK_VOICE = {"yue": "yue", "zh": "cmn-latn-pinyin", "en": "en"}


def mp3_of(text: str, lang: str) -> bytes:
    wav = subprocess.run(["espeak-ng", "-v", ESPEAK_VOICE[lang], "--stdout"], input=text.encode(),
                         capture_output=True, check=True).stdout
    speech = audio.from_wav(wav)
    at_24k = np.interp(np.arange(round(speech.seconds * GTTS_RATE)) / GTTS_RATE,
                       np.arange(len(speech.samples)) / speech.rate, speech.samples)
    encoder = lameenc.Encoder()
    encoder.set_channels(1)
    encoder.set_in_sample_rate(GTTS_RATE)
    encoder.set_bit_rate(32)
    encoder.set_quality(2)
    pcm = (np.clip(at_24k, -1, 1) * 32767).astype("<i2").tobytes()
    return bytes(encoder.encode(pcm) + encoder.flush())


def envelope(mp3: bytes) -> str:
    payload = json.dumps([base64.b64encode(mp3).decode()])
    first = json.dumps([["wrb.fr", "jQ1olc", payload, None, None, None, "generic"],
                        ["di", 57], ["af.httprm", 56, "-2797474580813463473", 1]],
                       separators=(",", ":"))
    last = '[["e",4,null,null,' + str(len(first) + 60) + "]]"
    return f")]}}'\n\n{len(first)}\n{first}\n{len(last)}\n{last}\n"


@dataclass
class Service:
    """What the stand-in was asked: (text, lang) per request."""

    asked: list[tuple[str, str]] = field(default_factory=list)
    attempts: int = 0
    down: bool = False


@contextmanager
def google_tts() -> Iterator[Service]:
    service = Service()

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        service.attempts += 1
        if service.down:
            raise requests.ConnectionError("Name or service not known")
        form = parse_qs(str(request.body))
        rpc = json.loads(form["f.req"][0])
        text, lang, _speed, _ = json.loads(rpc[0][0][1])
        service.asked.append((text, lang))
        return 200, {"Content-Type": "application/json; charset=utf-8"}, envelope(
            mp3_of(text, lang))

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, BATCHEXECUTE, callback=answer)
        yield service


def write_config(folder: Path, engine: str, languages: tuple[str, ...] = ("yue", "cmn", "en"),
                 counters: int = 3) -> Path:
    """A one-centre config (wan-chai, as the suite's bookings expect) speaking with `engine`:
    never gTTS unless a test stands its service in, so nothing tries the network."""
    quoted = ", ".join(f'"{lang}"' for lang in languages)
    text = f'''
timezone = "Asia/Hong_Kong"

[[centres]]
id = "wan-chai"
name_en = "Wan Chai Service Centre"
name_zh = "灣仔證件服務中心"
announcement_languages = [{quoted}]
announcement_engine = "{engine}"

  [[centres.services]]
  code = "A"
  name_en = "Applications"
  name_zh = "申請"
  application_types = ["first", "renewal", "reissue_lost", "reissue_damaged"]

  [[centres.services]]
  code = "P"
  name_en = "Priority"
  name_zh = "優先"
  priority = true
'''
    for n in range(1, counters + 1):
        services = '["P", "A"]' if n == 1 else '["A", "P"]'
        text += f"\n  [[centres.counters]]\n  number = {n}\n  services = {services}\n"
    path = folder / f"sounds-{engine}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs a coroutine on a loop of its own in another thread: earlier tests in the same
    process (Playwright's synchronous API) may leave a loop running on this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()
