"""Helpers of the reliability tests: Redis servers the test owns (with the append-only file, or
a 3-node cluster) on free loopback ports, and hall displays that reconnect with `after=`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from conftest import free_port
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

REDIS_START_S = 20.0


def wait_for(probe: Callable[[], Any], timeout: float = 20, what: str = "condition") -> Any:
    """Until `probe()` is truthy (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
            if value:
                return value
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.05)


class OwnRedis:
    """A redis-server this test starts, stops and starts again on the same port and data, with
    the append-only file fsynced on every write, as the embedded default runs it."""

    def __init__(self, folder: Path, *extra: str) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is required (apt-get install redis-server)"
        self.folder = folder
        self.port = free_port()
        self.cmd = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                    str(folder), "--save", "", "--appendonly", "yes",
                    "--appendfsync", "always", *extra]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        try:
            # Loading the append-only file answers LOADING until done: wait for a real PING.
            wait_for(client.ping, REDIS_START_S, "redis-server start")
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: nothing flushed on the way out, only what `appendfsync always` kept."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@dataclass
class Cluster:
    """Three masters on free loopback ports (and free cluster-bus ports), joined with
    `redis-cli --cluster create`."""

    folder: Path
    # How long a silent node takes to be declared failed (Redis's default: 15 s).
    node_timeout_ms: int = 15000
    ports: list[int] = field(default_factory=list)
    cmds: list[list[str]] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def start(self, nodes: int = 3) -> None:
        for i in range(nodes):
            self._start_node(i)
        subprocess.run(["redis-cli", "--cluster", "create",
                        *(f"127.0.0.1:{p}" for p in self.ports),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, timeout=60)

        def settled() -> bool:
            return all(redis.Redis(port=p).execute_command("CLUSTER INFO")["cluster_state"]
                       == "ok" for p in self.ports)

        wait_for(settled, 30, "cluster_state:ok on every node")

    def _start_node(self, i: int, tries: int = 3) -> None:
        """A node on two ports found free. Between finding a port free and the node binding it,
        another socket may take it (an outgoing connection's own port, say): that node exits at
        once, and is started again on two other ports (it happened once in CI)."""
        for attempt in range(tries):
            port, bus = free_port(), free_port()
            node = self.folder / f"node-{i}-{attempt}"
            node.mkdir()
            cmd = ["redis-server", "--port", str(port), "--cluster-port", str(bus),
                   "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                   "--cluster-config-file", str(node / "nodes.conf"), "--dir", str(node),
                   "--cluster-node-timeout", str(self.node_timeout_ms),
                   "--save", "", "--appendonly", "yes", "--appendfsync", "always"]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            client = redis.Redis(port=port)
            try:
                wait_for(lambda p=proc, c=client: p.poll() is not None or c.ping(),
                         REDIS_START_S, "cluster node start")
            finally:
                client.close()
            if proc.poll() is None:
                self.ports.append(port)
                self.cmds.append(cmd)
                self.procs.append(proc)
                return
        raise AssertionError(f"cluster node {i} exited at start on {tries} pairs of free ports")

    def settled(self) -> bool:
        return all(redis.Redis(port=p).execute_command("CLUSTER INFO")["cluster_state"] == "ok"
                   for p in self.ports)

    def kill(self, i: int) -> None:
        self.procs[i].kill()
        self.procs[i].wait(10)

    def restart(self, i: int) -> None:
        """The node again, on its port, its cluster config and its append-only file."""
        self.procs[i] = subprocess.Popen(self.cmds[i], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        wait_for(redis.Redis(port=self.ports[i]).ping, REDIS_START_S, "cluster node restart")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(10)


def event_id(raw: str) -> tuple[int, int]:
    ms, seq = raw.split("-")
    return int(ms), int(seq)


class Display:
    """A hall display: keeps the ids of the events it received, and when its socket ends,
    reconnects (to the next of `urls`) with `after=` the last id it saw."""

    def __init__(self, urls: Sequence[str], token: str, centre: str = "wan-chai") -> None:
        self.urls = list(urls)
        self.token = token
        self.centre = centre
        self.start: str | None = None  # the first board's last_event_id
        self.ids: list[str] = []
        self.close_codes: list[int | None] = []
        self.connections = 0
        self.resyncs = 0
        self.stopping = False

    def _url(self, i: int) -> str:
        base = self.urls[i % len(self.urls)].replace("http://", "ws://")
        url = f"{base}/ws/centres/{self.centre}/events?token={self.token}"
        last = self.ids[-1] if self.ids else self.start
        return url + (f"&after={last}" if last is not None else "")

    async def run(self) -> None:
        attempt = 0
        while not self.stopping:
            try:
                async with connect(self._url(attempt), open_timeout=5) as ws:
                    self.connections += 1
                    await self._read(ws)
            except (OSError, InvalidStatus, TimeoutError):
                pass  # the server is gone: try the next one
            except ConnectionClosed as e:
                self.close_codes.append(e.rcvd.code if e.rcvd else None)
            attempt += 1
            await asyncio.sleep(0.05)

    async def _read(self, ws: Any) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "board":
                if self.start is None:
                    self.start = message["data"]["last_event_id"]
                continue
            if message["type"] == "resync_required":
                self.resyncs += 1
                continue
            self.ids.append(message["id"])

    async def started(self, timeout: float = 20) -> None:
        """Until its first board has come (fails after `timeout`)."""
        deadline = time.monotonic() + timeout
        while self.start is None:
            assert time.monotonic() < deadline, f"no board within {timeout} s"
            await asyncio.sleep(0.02)

    async def caught_up(self, last: str, timeout: float = 15) -> None:
        """Until this display has seen the event `last`; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not (self.ids and self.ids[-1] == last):
            assert time.monotonic() < deadline, f"display stopped at {self.ids[-1:]}, not {last}"
            await asyncio.sleep(0.05)


class Desk:
    """An HTTP client that retries a POST on the next server when its server dies, with the same
    `Idempotency-Key`, and with a fresh one when the first attempt was left half-claimed."""

    def __init__(self, client: httpx.AsyncClient, urls: Sequence[str], token: str) -> None:
        self.client = client
        self.urls = list(urls)
        self.token = token
        self.transport_errors = 0

    async def post(self, path: str, body: dict[str, Any], key: str,
                   prefer: int = 0) -> httpx.Response:
        attempt, tries = prefer, 0
        while True:
            tries += 1
            assert tries < 50, f"no server answered {path}"
            url = self.urls[attempt % len(self.urls)] + path
            try:
                answer = await self.client.post(url, json=body, headers={
                    "Authorization": f"Bearer {self.token}", "Idempotency-Key": key})
            except httpx.TransportError:
                self.transport_errors += 1
                attempt += 1
                await asyncio.sleep(0.05)
                continue
            if answer.status_code == 409 and answer.json()["error"]["code"] == "in_progress":
                # The first attempt died with its server before its script ran (a script
                # stores its answer in the same step): nothing happened, so try afresh.
                key = f"{key}+"
                continue
            return answer


async def stop_all(displays: Sequence[Display], tasks: Sequence[asyncio.Task[None]]) -> None:
    for d in displays:
        d.stopping = True
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
