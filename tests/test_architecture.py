"""The rooms keep to their layers: import-linter's contracts in pyproject.toml, run on the tree
as it installs (the product's top-level folders mapped under `queueserver.` as package-dir says),
and the `rules` room imports nothing but the standard library."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def installed_layout(into: Path) -> Path:
    """The package as `pip install .` lays it out, whatever this checkout's install mode."""
    mapping = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-dir"]
    for package, folder in sorted(mapping.items()):
        target = into.joinpath(*package.split("."))
        shutil.copytree(ROOT / folder, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "static"))
    return into


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # Run from the copy, so that neither this checkout nor an editable install is analysed.
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
         "--no-cache", "--config", str(PYPROJECT)],
        cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120)


def test_the_contracts_are_kept(tmp_path: Path) -> None:
    done = lint_imports(installed_layout(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_a_room_reaching_up_breaks_them(tmp_path: Path) -> None:
    """The contracts bite: a rule module importing the web layer, or the store importing a room,
    is reported."""
    tree = installed_layout(tmp_path)
    identity = tree / "queueserver" / "rules" / "identity.py"
    identity.write_text(identity.read_text() + "\nfrom queueserver.web import app  # noqa\n")
    keys = tree / "queueserver" / "store" / "keys.py"
    keys.write_text(keys.read_text() + "\nfrom queueserver.queue import tickets  # noqa\n")
    done = lint_imports(tree)
    assert done.returncode != 0
    assert "queueserver.rules.identity -> queueserver.web.app" in done.stdout
    assert "queueserver.store.keys -> queueserver.queue.tickets" in done.stdout


def test_sounds_may_not_import_the_web_layer(tmp_path: Path) -> None:
    tree = installed_layout(tmp_path)
    chime = tree / "queueserver" / "sounds" / "chime.py"
    chime.write_text(chime.read_text() + "\nfrom queueserver.web.api import sounds  # noqa\n")
    done = lint_imports(tree)
    assert done.returncode != 0
    assert "queueserver.sounds.chime -> queueserver.web.api.sounds" in done.stdout


def test_rules_use_the_standard_library_only() -> None:
    outside = []
    for path in sorted((ROOT / "queueserver" / "rules").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and not name.startswith("queueserver.rules"):
                    outside.append(f"{path.name}: {name}")
    assert not outside
