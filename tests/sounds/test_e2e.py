"""Announcements end to end, with real processes: `serve` asks for what is missing at start-up,
`worker` renders it with espeak-ng, a call names its clips, and a second `serve` that rendered
nothing answers every one of them from Redis. And `sounds render` with its progress bar."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import redis
from conftest import make_booking, server_env, start_server, store
from sound_fixtures import write_config
from terminal import run_on_terminal

from queueserver.auth import credentials as auth
from queueserver.sounds import announcer, audio, clips, render
from queueserver.store import keys

pytestmark = pytest.mark.e2e

C = "/api/v1/centres/wan-chai"


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["queueserver", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_a_second_web_process_serves_every_clip_of_a_call(
        tmp_path: Path, r: redis.Redis, redis_url: str) -> None:
    env = server_env(redis_url, QUEUESERVER_CONFIG=str(write_config(tmp_path, "espeak")))
    first = start_server(env)
    try:
        # Start-up found nothing rendered and asked the worker, once.
        queue = r.lrange("rq:queue:" + render.QUEUE, 0, -1)
        assert queue == [render.job_id("wan-chai")]
        worked = run(env, "worker", "--burst")
        assert worked.returncode == 0, worked.stderr
        assert r.llen("rq:queue:" + render.QUEUE) == 0
        assert r.scard(keys.sound_segments()) > 40

        store(r, [make_booking("MEP0001")])
        photo, _ = auth.create_token(r, auth.Role.PHOTO, "wan-chai")
        desk, _ = auth.create_token(r, auth.Role.DESK, "wan-chai")
        clerk, _ = auth.create_token(r, auth.Role.CLERK, "wan-chai")
        with httpx.Client(base_url=first.url, timeout=30) as http:
            http.post(C + "/photo-receipts", json={"barcode": "PH1"},
                      headers={"Authorization": f"Bearer {photo}"})
            issued = http.post(C + "/tickets", headers={"Authorization": f"Bearer {desk}"},
                               json={"booking_ref": "MEP0001", "id_number": "A123456(3)",
                                     "photo_barcode": "PH1"})
            assert issued.status_code == 201, issued.text
            called = http.post(C + "/counters/3/call", json={},
                               headers={"Authorization": f"Bearer {clerk}"})
            assert called.json()["ticket"]["number"] == "A001"
        (_, fields), = [e for e in r.xrange(keys.events("wan-chai"))
                        if e[1]["type"] == "ticket.called"]
        urls = json.loads(fields["data"])["announcement"]["clips"]
        assert urls[0] == "/sounds/chime.wav"
        assert len(urls) == 4
        bytes_r = clips.connect(redis_url)
        deadline = time.monotonic() + 15
        while not all(bytes_r.exists(keys.sound_clip(announcer.clip_name(u))) for u in urls[1:]):
            assert time.monotonic() < deadline, "the first process never cached"
            time.sleep(0.05)
    finally:
        first.stop()

    second = start_server(env)
    try:
        assert r.llen("rq:queue:" + render.QUEUE) == 0  # it found nothing to ask for
        for url in urls:
            answer = httpx.get(second.url + url, timeout=30)
            assert answer.status_code == 200, url
            assert answer.headers["content-type"] == "audio/wav"
            clip = audio.from_wav(answer.content)
            assert clip.seconds > 1.0
            if url != urls[0]:
                assert answer.content == bytes_r.get(keys.sound_clip(announcer.clip_name(url)))
                assert audio.loudness(clip) == pytest.approx(audio.TARGET_LUFS, abs=0.2)
        bytes_r.close()
    finally:
        second.stop()


def test_sounds_render_draws_progress_and_renders_nothing_twice(
        tmp_path: Path, r: redis.Redis, redis_url: str) -> None:
    env = server_env(redis_url, QUEUESERVER_CONFIG=str(write_config(tmp_path, "gtts")))
    code, stdout, screen = run_on_terminal(
        ["queueserver", "sounds", "render", "--engine", "espeak", "--centre", "wan-chai"],
        env, tmp_path)
    assert code == 0, screen
    total = 3 * (3 + 2 + 10 + 3) + 2  # closing words in Cantonese and Putonghua only
    # In a terminal the bar redraws one line, and its last state stays.
    assert "wan-chai: 100%|" in screen and f" {total}/{total} [" in screen
    assert screen.count("\n") == 1
    (line,) = stdout.splitlines()
    assert line.startswith("wan-chai: rendered=")
    rendered = int(line.split("rendered=")[1].split()[0])
    assert 40 < rendered <= total and "failed=0" in line and "rendered_espeak=" in line
    # On a pipe, no bar: the summary line says it.
    again = run(env, "sounds", "render", "--engine", "espeak")
    assert again.returncode == 0
    assert again.stdout.strip() == f"wan-chai: rendered=0 cached={total} failed=0"
    assert "wan-chai" not in again.stderr and "%|" not in again.stderr
    unknown = run(env, "sounds", "render", "--centre", "nowhere")
    assert unknown.returncode != 0 and "unknown centre 'nowhere'" in unknown.stderr


def test_no_engine_at_all_exits_1_and_says_chime_only(tmp_path: Path, r: redis.Redis,
                                                      redis_url: str) -> None:
    queueserver = shutil.which("queueserver")
    assert queueserver
    env = server_env(redis_url, QUEUESERVER_CONFIG=str(write_config(tmp_path, "espeak")),
                     PATH=os.path.dirname(queueserver))  # where no espeak-ng is
    result = run(env, "sounds", "render")
    assert result.returncode == 1
    assert result.stdout.strip() == "wan-chai: rendered=0 cached=0 failed=56"
    assert result.stderr.count("espeak cannot render announcements") == 1
    assert result.stderr.count("calls are announced with the chime only") == 1
