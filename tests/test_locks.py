"""The locks in requirements/ pin every dependency pyproject.toml names, within its range.

A fresh machine installs through the locks (README, .ci/run); a dependency added to
pyproject.toml without refreshing them would install unpinned, or not at all."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(lock: str) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in (ROOT / "requirements" / lock).read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[canonicalize_name(match[1])] = Version(match[2])
    return found


def hashed(lock: str) -> bool:
    """Every pin is followed by at least one --hash line."""
    lines = (ROOT / "requirements" / lock).read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if PIN.match(line)]
    return bool(starts) and all(
        "--hash=sha256:" in (lines[i + 1] if i + 1 < len(lines) else "") for i in starts)


def project() -> dict[str, list[str]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    build = [line.strip() for line in (ROOT / "requirements" / "build.in").read_text()
             .splitlines() if line.strip() and not line.startswith("#")]
    app = data["project"]["dependencies"] + data["build-system"]["requires"] + build
    return {"app.txt": app, "test.txt": app + data["project"]["optional-dependencies"]["test"]}


@pytest.mark.parametrize("lock", ["app.txt", "test.txt"])
def test_every_dependency_is_pinned_within_its_range(lock: str) -> None:
    locked = pins(lock)
    missing, outside = [], []
    for spec in project()[lock]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        if name not in locked:
            missing.append(requirement.name)
        elif not requirement.specifier.contains(locked[name], prereleases=True):
            outside.append(f"{requirement.name} {locked[name]} not in {requirement.specifier}")
    assert not missing, f"{lock} does not pin {missing}: run requirements/refresh"
    assert not outside, f"{lock} pins outside pyproject's ranges: {outside}"


@pytest.mark.parametrize("lock", ["app.txt", "test.txt"])
def test_every_pin_carries_its_hashes(lock: str) -> None:
    assert hashed(lock)


def test_the_test_lock_agrees_with_the_app_lock() -> None:
    """The suite tests the versions a centre installs: where both pin a package, the same one."""
    app, test = pins("app.txt"), pins("test.txt")
    differ = {name: (app[name], test[name]) for name in app if test.get(name) != app[name]}
    assert not differ


def test_the_readme_and_ci_install_through_the_locks() -> None:
    readme = (ROOT / "README.md").read_text()
    command = ("pip install -r requirements/test.txt && pip install --no-deps "
               "--no-build-isolation . && pytest")
    assert command in readme
    assert "pip install -r requirements/app.txt && " in readme
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()
