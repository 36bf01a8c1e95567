"""A centre's processes as a test starts them: `queueserver serve` and `queueserver worker` on the
suite's Redis, sharing one test clock that the test moves by writing a file (no sleeps), and a
config with thermal printers on the test's own ports."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from conftest import SAMPLE_CONFIG, Server, server_env, start_server


@dataclass
class Hall:
    server: Server
    worker: subprocess.Popen[bytes] | None
    clock_file: Path
    worker_log: Path
    env: dict[str, str]

    def advance(self, seconds: float) -> None:
        """Every process's clock moves on at once."""
        now = float(self.clock_file.read_text() or 0)
        self.clock_file.write_text(str(now + seconds))

    def worker_output(self) -> str:
        return self.worker_log.read_text(errors="replace")

    def stop(self) -> None:
        self.server.stop()
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(15)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait(5)


def start_hall(redis_url: str, config: Path = SAMPLE_CONFIG, worker: bool = True) -> Hall:
    clock_file = Path(tempfile.mkstemp(prefix="clock-", suffix=".txt")[1])
    clock_file.write_text("0")
    env = server_env(redis_url, QUEUESERVER_CONFIG=str(config),
                     QUEUESERVER_TEST_CLOCK_FILE=str(clock_file))
    server = start_server(env)
    log = Path(tempfile.mkstemp(prefix="worker-", suffix=".log")[1])
    proc = None
    if worker:
        with log.open("wb") as out:
            proc = subprocess.Popen(["queueserver", "worker"], env=env, stdout=out,
                                    stderr=subprocess.STDOUT)
    return Hall(server, proc, clock_file, log, env)


def config_with_printers(folder: Path, printers: dict[str, int]) -> Path:
    """The suite's config, with wan-chai's printers listening on these loopback ports."""
    text = SAMPLE_CONFIG.read_text()
    second = text.index("[[centres]]", text.index("[[centres]]") + 1)
    tables = "".join(f'[[centres.printers]]\nname = "{name}"\nurl = "tcp://127.0.0.1:{port}"\n\n'
                     for name, port in printers.items())
    path = folder / "config.toml"
    path.write_text(text[:second] + tables + text[second:])
    return path
