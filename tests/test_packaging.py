"""The distribution ships every package of the tree: a plain `pip install .` must work."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_in_the_distribution() -> None:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping: dict[str, str] = tool["package-dir"]
    listed = set(tool["packages"])
    found = set()
    for top, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            name = ".".join([top, *rel.parts]) if rel.parts else top
            found.add(name)
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"


def test_every_file_beside_the_code_is_package_data() -> None:
    """Templates, the screens' scripts and styles (the shared ones too), Lua scripts, sounds:
    a file the code loads that package-data does not name is missing from a plain install."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    data: dict[str, list[str]] = tool["package-data"]
    folders = {name: ROOT / folder for name, folder in tool["package-dir"].items()}
    packages = {}
    for top, base in folders.items():
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            packages[init.parent] = ".".join([top, *rel.parts])
    unshipped = []
    for base in folders.values():
        for file in base.rglob("*"):
            if not file.is_file() or file.suffix in (".py", ".pyc") or "__pycache__" in file.parts:
                continue
            owner = max((d for d in packages if file.is_relative_to(d)), key=lambda d: len(d.parts))
            rel = file.relative_to(owner).parts
            if not any(_matches(rel, glob) for glob in data.get(packages[owner], [])):
                unshipped.append(str(file.relative_to(ROOT)))
    assert not unshipped, f"files package-data does not ship: {unshipped}"
    assert any(_matches(("static", "api.js"), g) for g in data["queueserver.templates"])


def _matches(rel: tuple[str, ...], glob: str) -> bool:
    """setuptools' package-data globs: `*` stays within one folder."""
    parts = glob.split("/")
    return len(parts) == len(rel) and all(fnmatch(p, g) for p, g in zip(rel, parts, strict=True))
