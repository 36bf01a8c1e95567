"""schemathesis against /openapi.json of a real `serve`: no 500, no answer off the schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis
from conftest import Server

from queueserver.auth import credentials as auth

pytestmark = pytest.mark.e2e

# Bounded and repeatable: a fixed seed and a few examples per operation keep it to seconds.
EXAMPLES = "10"
SEED = "1"


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
        server: Server, r: redis.Redis, tmp_path: Path) -> None:
    admin, _ = auth.create_token(r, auth.Role.ADMIN)
    st = Path(sys.executable).parent / "st"
    done = subprocess.run(
        [str(st), "run", server.url + "/openapi.json", "-H", f"Authorization: Bearer {admin}",
         "--max-examples", EXAMPLES, "--seed", SEED, "--no-color",
         "--checks", "not_a_server_error,response_schema_conformance"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "Tested:" in done.stdout
