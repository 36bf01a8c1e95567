"""Announcement texts (CONTRACT.md §6), the synthesised chime, and the /sounds/ routes."""

from __future__ import annotations

import io
import math
import warnings
import wave
from array import array
from collections.abc import Iterator, Sequence

import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

from queueserver.sounds import chime
from queueserver.sounds.clips import CHIME_PATH
from queueserver.sounds.phrases import announcement_texts, segments
from queueserver.web.api.sounds import routes

with warnings.catch_warnings():
    # Starlette warns on import when its test client falls back from httpx2 to httpx; that is the
    # test environment's choice, not something this module can fix, and warnings are errors here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

# --- texts -------------------------------------------------------------------------------------

CALL = {
    "yue": "籌號 A023，請到 5 號櫃位",
    "cmn": "请 A023 号到 5 号柜台",
    "en": "Ticket A023, please go to counter 5",
}
RECALL = {
    "yue": "再次廣播，籌號 A023，請到 5 號櫃位",
    "cmn": "再次广播，请 A023 号到 5 号柜台",
    "en": "Calling again. Ticket A023, please go to counter 5",
}


def test_call_texts_are_the_contracts() -> None:
    texts = announcement_texts("A023", 5)
    assert texts == CALL
    assert list(texts) == ["yue", "cmn", "en"]


def test_recall_texts_are_the_contracts() -> None:
    assert announcement_texts("A023", 5, recall=True) == RECALL


@pytest.mark.parametrize("languages", [("en",), ("en", "yue"), ("cmn", "en", "yue"), ()])
def test_languages_are_a_subset_in_play_order(languages: Sequence[str]) -> None:
    texts = announcement_texts("A023", 5, languages)
    assert list(texts) == list(languages)
    assert texts == {lang: CALL[lang] for lang in languages}


def test_long_numbers_and_two_digit_counters() -> None:
    assert announcement_texts("P1000", 12, ["en", "yue"]) == {
        "en": "Ticket P1000, please go to counter 12",
        "yue": "籌號 P1000，請到 12 號櫃位",
    }


def test_segments_split_the_ticket_for_speech() -> None:
    plan = segments("A023", 5, "en", recall=True)
    assert [(s.kind, s.text) for s in plan] == [
        ("recall", "Calling again. "),
        ("lead_in", "Ticket "),
        ("letters", "A"),
        ("digits", "023"),
        ("please_go_to", ", please go to counter "),
        ("counter", "5"),
    ]


@pytest.mark.parametrize(
    ("ticket", "counter", "language"),
    [("a023", 5, "en"), ("A23", 5, "en"), ("AB023", 5, "en"), ("A023", 0, "en"), ("A023", 5, "fr")],
)
def test_bad_input_is_refused(ticket: str, counter: int, language: str) -> None:
    with pytest.raises(ValueError):
        announcement_texts(ticket, counter, [language])


# --- chime -------------------------------------------------------------------------------------

FULL_SCALE = 32767


@pytest.fixture(scope="module")
def pcm() -> array[int]:
    with wave.open(io.BytesIO(chime.chime_wav()), "rb") as clip:
        assert clip.getnchannels() == 1
        assert clip.getsampwidth() == 2
        assert clip.getframerate() == 22050
        assert 0.8 <= clip.getnframes() / clip.getframerate() <= 2.0
        samples = array("h", clip.readframes(clip.getnframes()))
    assert len(samples) == round(22050 * chime.DURATION_S)
    return samples


def dominant_hz(samples: Sequence[int], rate: int, candidates: Iterator[int]) -> int:
    """The candidate frequency with the most energy, by a direct DFT bin (Goertzel) for each."""

    def power(hz: int) -> float:
        coeff = 2 * math.cos(2 * math.pi * hz / rate)
        s1 = s2 = 0.0
        for x in samples:
            s1, s2 = x + coeff * s1 - s2, s1
        return s1 * s1 + s2 * s2 - coeff * s1 * s2

    return max(candidates, key=power)


def test_chime_is_deterministic_and_cached() -> None:
    first = chime.chime_wav()
    assert chime.chime_wav() is first
    chime.chime_wav.cache_clear()
    assert chime.chime_wav() == first


def test_chime_is_loud_but_not_clipped(pcm: array[int]) -> None:
    peak = max(abs(x) for x in pcm)
    assert peak < FULL_SCALE
    assert -4.0 < 20 * math.log10(peak / FULL_SCALE) < -2.0


def test_chime_starts_and_ends_without_a_click(pcm: array[int]) -> None:
    assert abs(pcm[0]) < 0.01 * FULL_SCALE
    assert abs(pcm[-1]) < 0.01 * FULL_SCALE


def test_chime_is_two_distinct_tones(pcm: array[int]) -> None:
    half = len(pcm) // 2
    first = dominant_hz(pcm[:half], 22050, iter(range(300, 1000, 5)))
    second = dominant_hz(pcm[half:], 22050, iter(range(300, 1000, 5)))
    assert abs(first - chime.DING_HZ) <= 5
    assert abs(second - chime.DONG_HZ) <= 5
    assert first - second > 50


# --- routes ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(Starlette(routes=routes)) as c:
        yield c


def test_chime_path() -> None:
    assert CHIME_PATH == "/sounds/chime.wav"


def test_chime_is_served_without_credential(client: TestClient) -> None:
    answer = client.get(CHIME_PATH)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "audio/wav"
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["etag"].startswith('"')
    assert answer.content == chime.chime_wav()


def test_chime_revalidates_with_its_etag(client: TestClient) -> None:
    etag = client.get(CHIME_PATH).headers["etag"]
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        answer = client.get(CHIME_PATH, headers={"If-None-Match": sent})
        assert answer.status_code == 304, sent
        assert answer.content == b""
        assert answer.headers["etag"] == etag
    assert client.get(CHIME_PATH, headers={"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize("path", ["/sounds/nope.wav", "/sounds/clips/abc.wav", "/sounds/"])
def test_unknown_sound_is_404_in_the_contracts_shape(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "not_found"
    assert error["message_en"] and error["message_zh"]
