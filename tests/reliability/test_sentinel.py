"""`REDIS_URL=redis+sentinel://` against a real Sentinel watching a master and its replica: the
master dies while serve runs, Sentinel promotes the replica, and the queue carries on on the new
master by itself: no restart, no lost ticket, no event missed by the screen."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from conftest import free_port, make_booking, server_env, start_server, store
from faults import Display, OwnRedis, event_id, stop_all, wait_for

from queueserver.auth import credentials as auth
from queueserver.store import keys

C = "/api/v1/centres/wan-chai"
SERVICE = "queue"

pytestmark = pytest.mark.e2e


class Sentinel:
    def __init__(self, folder: Path, master: OwnRedis) -> None:
        self.port = free_port()
        conf = folder / "sentinel.conf"  # Sentinel rewrites it: a file of the test's own
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {folder}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {master.port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 10000\n")
        binary = shutil.which("redis-server")
        assert binary
        self.proc = subprocess.Popen([binary, str(conf), "--sentinel"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = redis.Redis(port=self.port, decode_responses=True)
        wait_for(lambda: self.master_port() == master.port, 20, "sentinel watching")

    def knows_replica(self, port: int) -> bool:
        """Sentinel learns of a replica from the master's INFO (every 10 s at first): until it
        has, it has nothing to promote when the master dies."""
        return any(int(r["port"]) == port and "disconnected" not in r["flags"]
                   for r in self.client.sentinel_slaves(SERVICE))

    def master_port(self) -> int:
        return int(self.client.sentinel_get_master_addr_by_name(SERVICE)[1])

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[OwnRedis, OwnRedis, Sentinel]]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    master = OwnRedis(tmp_path / "a")
    replica = OwnRedis(tmp_path / "b", "--replicaof", "127.0.0.1", str(master.port))
    sentinel: Sentinel | None = None
    try:
        master.start()
        replica.start()
        # The replica's first sync may take a while on a loaded machine; WAIT in the test would
        # then outlast the client's socket timeout (redis-py's default: 5 s).
        replica_client = redis.Redis.from_url(replica.url, decode_responses=True)
        wait_for(lambda: replica_client.info("replication")["master_link_status"] == "up", 30,
                 "the replica in sync")
        replica_client.close()
        sentinel = Sentinel(tmp_path, master)
        knows = sentinel.knows_replica
        wait_for(lambda: knows(replica.port), 30, "sentinel knowing the replica")
        yield master, replica, sentinel
    finally:
        if sentinel is not None:
            sentinel.stop()
        replica.stop()
        master.stop()


def test_a_failover_is_followed_without_a_restart(
        watched: tuple[OwnRedis, OwnRedis, Sentinel]) -> None:
    master, replica, sentinel = watched
    url = f"redis+sentinel://127.0.0.1:{sentinel.port}/{SERVICE}"
    r = redis.Redis.from_url(master.url, decode_responses=True)
    store(r, [make_booking(f"MEP{i}") for i in range(2)])
    created = subprocess.run(["queueserver", "tokens", "create", "--role", "supervisor",
                              "--centre", "wan-chai"], env=server_env(url), text=True,
                             capture_output=True, timeout=60)
    assert created.returncode == 0, created.stderr
    sup = created.stdout.split()[-1]
    display, _ = auth.create_token(r, auth.Role.DISPLAY, "wan-chai")
    server = start_server(server_env(url))
    headers = {"Authorization": f"Bearer {sup}"}

    for i in range(2):
        httpx.post(server.url + C + "/photo-receipts", json={"barcode": f"PH{i}"},
                   headers=headers, timeout=10).raise_for_status()

    def check_in(i: int) -> httpx.Response:
        return httpx.post(server.url + C + "/tickets", headers=headers, timeout=10, json={
            "booking_ref": f"MEP{i}", "id_number": "A123456(3)", "photo_barcode": f"PH{i}"})

    def ticket(answer: httpx.Response) -> str | None:
        # 503 while the master changes; 409 already_checked_in (with the ticket) when an
        # attempt went through but its answer was lost on the way.
        if answer.status_code in (201, 409):
            return str(answer.json()["ticket"]["number"])
        return None

    async def scenario() -> Display:
        screen = Display([server.url], display)
        task = asyncio.create_task(screen.run())
        await screen.started()
        first = await asyncio.to_thread(check_in, 0)
        assert first.json()["ticket"]["number"] == "A001"
        # The replica has it before the master dies.
        assert r.wait(1, 3000) == 1
        # The master dies (a forced SENTINEL FAILOVER would leave it writable for a moment,
        # and what it took then is lost when it rejoins as a replica: see docs/deploy.md).
        master.kill()
        await asyncio.to_thread(wait_for, lambda: sentinel.master_port() == replica.port, 30,
                                "the replica promoted")
        # The serve process follows by itself: the next check-in lands on the new master.
        answers: list[str] = []

        def after_failover() -> str | None:
            answer = check_in(1)
            answers.append(f"{answer.status_code} {answer.text[:80]}")
            return ticket(answer)

        try:
            # A loaded machine may take a while to elect and reconnect: a generous bound.
            second = await asyncio.to_thread(wait_for, after_failover, 60,
                                             "a check-in after the failover")
        except AssertionError as e:
            raise AssertionError(f"{e}; last answers: {answers[-3:]}") from None
        assert second == "A002"
        new = redis.Redis.from_url(replica.url, decode_responses=True)
        last = new.xrevrange(keys.events("wan-chai"), count=1)[0][0]
        await screen.caught_up(last, 30)
        await stop_all([screen], [task])
        return screen

    try:
        screen = asyncio.run(scenario())
    finally:
        server.stop()
    stream = [i for i, _ in redis.Redis.from_url(replica.url, decode_responses=True)
              .xrange(keys.events("wan-chai"))]
    assert screen.start is not None
    assert screen.ids == [i for i in stream if event_id(i) > event_id(screen.start)]
