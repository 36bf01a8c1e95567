"""Docs that cannot drift (Datasette's habit): the README and docs/*.md held to the program.

- Commands: every `queueserver ...` the docs show names a real command and only options it
  parses; every option each command parses is shown somewhere in the docs, every command has a
  row in the README's table, and every command answers `--help` with exactly its options (one
  of them through the installed console script).
- Routes: every path the docs name is in the app's `/openapi.json`.
- Events: every event type the code emits is listed in docs/events.md, and every type listed
  there is emitted.

What counts as "the docs show": an invocation is `queueserver` followed by a command, in a code
span or a code block (the README's table lists commands without the `queueserver`); its options
run to the next shell separator. Options in prose (`--kiosk` is Chromium's, `--no-deps` pip's)
belong to other programs and are not read."""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from queueserver.live import models as live_models
from queueserver.operations import privacy
from queueserver.tools import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EVENTS_DOC = ROOT / "docs" / "events.md"


# --- reading the docs -------------------------------------------------------------------------

@dataclass(frozen=True)
class Snippet:
    """A piece of code in the docs: a code span, a line of a code block, a README table cell."""

    where: str  # file:line, for the failure message
    text: str
    kind: str  # "span", "block" (a code block meant to be run), "text" (a drawing), "table"


FENCE = re.compile(r"^\s*```\s*(\w*)")
SPAN = re.compile(r"`([^`]+)`")
CELL = re.compile(r"(?<!\\)\|")


def snippets(path: Path) -> Iterator[Snippet]:
    name = path.relative_to(ROOT).as_posix()
    lines = path.read_text().splitlines()
    prose: list[str] = []  # the text outside code, a blank line for each line of code
    fence: str | None = None  # the open fence's language
    indented = False  # inside a code block made by indenting four spaces after a blank line
    pending: tuple[int, str] | None = None  # a code line continued with a backslash
    for number, line in enumerate(lines, 1):
        opened = FENCE.match(line)
        if opened:
            fence = (opened.group(1) or "plain") if fence is None else None
            prose.append("")
            continue
        indented = fence is None and line.startswith("    ") and (
            indented or not prose or prose[-1] == "")
        if fence is None and not indented:
            prose.append(line)
            continue
        prose.append("")
        start, text = pending if pending else (number, "")
        text += line.strip()
        if text.endswith("\\"):
            pending = (start, text[:-1] + " ")
            continue
        pending = None
        code = re.sub(r"(^|\s)#.*$", "", text)  # a shell comment
        yield Snippet(f"{name}:{start}", code, "text" if fence == "text" else "block")
    text = "\n".join(prose)
    for m in SPAN.finditer(text):
        yield Snippet(f"{name}:{text.count(chr(10), 0, m.start()) + 1}", m.group(1), "span")
    # The README's command table lists each command without the program's name.
    if path.name == "README.md":
        header = lines.index("| command | what it does |")
        for number in range(header + 2, len(lines)):
            if not lines[number].startswith("|"):
                break
            first = CELL.split(lines[number])[1]
            for m in SPAN.finditer(first):
                command = m.group(1).replace("\\|", "|")
                yield Snippet(f"{name}:{number + 1}", "queueserver " + command, "table")


def all_snippets() -> list[Snippet]:
    return [s for path in DOCS for s in snippets(path)]


# --- the command line as the parser has it ----------------------------------------------------

def commands(p: argparse.ArgumentParser | None = None,
             path: tuple[str, ...] = ()) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every runnable command, by its words (`("bookings", "import")`), from the parser."""
    p = p or cli.parser()
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    groups = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        return {path: p}
    for group in groups:
        for name, sub in group.choices.items():
            found.update(commands(sub, (*path, name)))
    return found


def accepted(p: argparse.ArgumentParser) -> set[str]:
    """Every option string the parser takes, hidden ones included."""
    return {s for a in p._actions for s in a.option_strings}


def shown(p: argparse.ArgumentParser) -> set[str]:
    """The options a user should be told about: not hidden, not --help."""
    return {s for a in p._actions for s in a.option_strings
            if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)}


SEPARATORS = {"|", "||", "&", "&&", ";"}
OPTION = re.compile(r"^\[?(--[a-z][a-z0-9-]*)")


@dataclass
class Invocation:
    where: str
    kind: str
    words: list[str]  # the command's words as written
    args: list[str] = field(default_factory=list)  # what follows them, to the next separator

    @property
    def options(self) -> set[str]:
        return {m.group(1) for a in self.args if (m := OPTION.match(a))}


def invocations() -> list[Invocation]:
    """Every `queueserver COMMAND ...` in the docs. A placeholder (`queueserver COMMAND`) or
    the bare name (`cd queueserver`) is not one."""
    tree = commands()
    prefixes = {path[:n] for path in tree for n in range(1, len(path) + 1)}
    out = []
    for s in all_snippets():
        tokens = s.text.split()
        for i, token in enumerate(tokens):
            if token != "queueserver" or i + 1 == len(tokens):
                continue
            if not re.fullmatch(r"[a-z][a-z-]*", tokens[i + 1]):
                continue
            words: list[str] = []
            j = i + 1
            while j < len(tokens) and (*words, tokens[j]) in prefixes:
                words.append(tokens[j])
                j += 1
                if tuple(words) in tree:
                    break
            if not words:  # a word that is no command at all
                words, j = [tokens[i + 1]], i + 2
            args = []
            while j < len(tokens) and tokens[j] not in SEPARATORS:
                args.append(tokens[j])
                j += 1
            out.append(Invocation(s.where, s.kind, words, args))
    return out


def test_the_docs_are_read() -> None:
    """The readers below find what they must, or every other test here would pass on nothing."""
    found = invocations()
    table = {tuple(i.words) for i in found if i.kind == "table"}
    assert {("serve",), ("bookings", "import"), ("bench",)} <= table
    blocks = [i for i in found if i.kind == "block"]
    assert any(i.words == ["users", "create"] and "--counter" in i.options for i in blocks)
    assert any(i.words == ["simulate"] and "--json" in i.options for i in blocks), \
        "a command continued over lines with a backslash is read whole"


def test_every_command_and_option_the_docs_show_exists() -> None:
    tree = commands()
    root = accepted(cli.parser())
    wrong = []
    for i in invocations():
        p = tree.get(tuple(i.words))
        if p is None:
            wrong.append(f"{i.where}: `queueserver {' '.join(i.words)}` is no command")
            continue
        for option in sorted(i.options - accepted(p) - root):
            wrong.append(f"{i.where}: `queueserver {' '.join(i.words)}` has no {option}")
    assert not wrong, "\n" + "\n".join(wrong)


def test_every_option_the_parser_has_is_documented() -> None:
    found = invocations()
    missing = []
    for path, p in sorted(commands().items()):
        mine = [i for i in found if tuple(i.words) == path]
        if not any(i.kind == "table" for i in mine):
            missing.append(f"`{' '.join(path)}` has no row in the README's command table")
        documented = set().union(*(i.options for i in mine))
        for option in sorted(shown(p) - documented):
            missing.append(f"`queueserver {' '.join(path)} {option}` is in no doc")
    readme_spans = {s.text.split()[0] for s in snippets(ROOT / "README.md") if s.kind == "span"}
    for option in sorted(shown(cli.parser()) - readme_spans):
        missing.append(f"`queueserver {option}` (every command's) is not in the README")
    assert not missing, "\n" + "\n".join(missing)


def test_the_runnable_examples_parse() -> None:
    """Each command in a code block, as written, is one the parser accepts: right choices,
    numbers where numbers go, every required argument."""
    wrong = []
    for i in invocations():
        if i.kind != "block":
            continue
        try:
            cli.parser().parse_args([*i.words, *i.args])
        except SystemExit as refused:  # argparse's way of refusing; 0 after --help
            if refused.code:
                wrong.append(f"{i.where}: queueserver {' '.join([*i.words, *i.args])}")
    assert not wrong, "\n" + "\n".join(wrong)


def help_options(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))


@pytest.mark.parametrize("path", sorted(commands()), ids=" ".join)
def test_every_command_answers_help_with_its_options(
        path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([*path, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: queueserver {' '.join(path)}")
    assert help_options(out) == shown(commands()[path]) | {"--help"}


def console_script() -> str:
    beside = Path(sys.executable).with_name("queueserver")
    found = str(beside) if beside.exists() else shutil.which("queueserver")
    assert found, "the queueserver console script is not installed (pip install -e .)"
    return found


def test_the_console_script_lists_the_readme_commands() -> None:
    done = subprocess.run([console_script(), "--help"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    choices = re.search(r"\{([a-z,-]+)\}", done.stdout)
    assert choices, done.stdout
    listed = set(choices.group(1).split(","))
    in_table = {i.words[0] for i in invocations() if i.kind == "table"}
    assert listed == in_table


def test_the_console_script_shows_what_the_docs_show() -> None:
    """One command through the installed script: its --help and the docs agree both ways."""
    done = subprocess.run([console_script(), "bench", "--help"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    documented = set().union(*(i.options for i in invocations() if i.words == ["bench"]))
    assert help_options(done.stdout) - {"--help"} == documented


# --- routes -----------------------------------------------------------------------------------

# Paths on disk, not routes; an upper-case segment is a placeholder in someone else's URL
# (Redis's `/DB`). A URL of ours is written with its port, as a screen's start command is.
ON_DISK = {"etc", "var", "opt", "tmp", "usr", "home", "srv", "run", "dev", "proc", "lib", "bin"}
OUR_URL = re.compile(r"https?://[^/\s`]+:\d+(/\S*)")
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def doc_routes() -> list[tuple[str, str | None, str]]:
    """(where, method or None, path) for every route the docs name."""
    out: list[tuple[str, str | None, str]] = []
    for s in all_snippets():
        tokens = s.text.split()
        for k, token in enumerate(tokens):
            url = OUR_URL.search(token)
            if url:
                token = url.group(1).strip("\"'")
            elif not (s.kind in ("span", "table") and token.startswith("/")):
                continue
            path = re.split(r"[?#\[]", token)[0].rstrip(".,;:)")
            first = path.strip("/").split("/")[0]
            if first in ON_DISK or first != first.lower():
                continue
            method = tokens[k - 1] if k and tokens[k - 1] in METHODS else None
            out.append((s.where, method, path))
    return out


def segment(pattern: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\{\w+\\}", "[^/]+", re.escape(pattern)))


def matches(doc: str, route: str) -> bool:
    """`/display/wan-chai` and `/display/{centre}` name `/display/{centre}`; a path ending in
    `/` or `/...` names what lies below it (`/static/displays/`, `/sounds/...`)."""
    below = doc.endswith(("/", "/...", "/…"))
    doc_parts = [p for p in doc.split("/") if p not in ("", "...", "…")]
    route_parts = [p for p in route.split("/") if p]
    if below:
        if len(route_parts) <= len(doc_parts):
            return False
        route_parts = route_parts[:len(doc_parts)]
    return len(doc_parts) == len(route_parts) and all(
        segment(r).fullmatch(d) for d, r in zip(doc_parts, route_parts, strict=True))


def test_every_route_the_docs_name_exists(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    table: dict[str, set[str]] = {path: {m.upper() for m in ops}
                                  for path, ops in spec["paths"].items()}
    table.update({path: {"GET"} for path in spec["x-websockets"]})
    named = doc_routes()
    assert len(named) >= 20, named  # the reader finds the routes the docs name
    wrong = []
    for where, method, path in named:
        routes = [r for r in table if matches(path, r)]
        if not routes:
            wrong.append(f"{where}: {path} is no route")
        elif method and not any(method in table[r] for r in routes):
            wrong.append(f"{where}: {method} {path} is not served")
    assert not wrong, "\n" + "\n".join(wrong)


def test_the_route_matching_can_tell_a_wrong_route() -> None:
    assert matches("/display/wan-chai", "/display/{centre}")
    assert matches("/sounds/...", "/sounds/clips/{name}.wav")
    assert not matches("/display/wan-chai/2", "/display/{centre}")
    assert not matches("/display/", "/display")
    assert not matches("/api/v1/centres/{centre}/ticket", "/api/v1/centres/{centre}/tickets")


# --- events -----------------------------------------------------------------------------------

SCRIPTS = ROOT / "queueserver" / "store" / "scripts"
PYTHON = [ROOT / d for d in ("queueserver", "booking_sync", "sounds")]
# The scripts hold no other string shaped like `family.name`: each is an event type, whichever
# helper (emit, announce, a counter's change) it is handed to.
LUA_TYPE = re.compile(r"""['"]([a-z_]+\.[a-z_]+)['"]""")
LUA_FAMILY = re.compile(r"""['"]([a-z_]+\.)['"]\s*\.\.""")
# Types built at run time (`'personal_data.' .. why`): the enum that lists their endings.
FAMILIES: dict[str, type[StrEnum]] = {"personal_data.": privacy.Why}
# Streams written with a type the code does not choose.
NOT_OURS = {"queueserver/tools/bench/floor.py":
            "the benchmark's bare relay appends whatever its client sends (the project's types)"}


@dataclass
class Emitted:
    types: dict[str, str] = field(default_factory=dict)  # type: where
    families: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)


def emitted() -> Emitted:
    found = Emitted()
    for lua in sorted(SCRIPTS.glob("*.lua")):
        text = lua.read_text()
        for m in LUA_TYPE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.types.setdefault(m.group(1), f"{lua.name}:{line}")
        for m in LUA_FAMILY.finditer(text):
            found.families.setdefault(m.group(1), lua.name)
    for folder in PYTHON:
        for source in sorted(folder.rglob("*.py")):
            name = source.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(source.read_text())):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "xadd" and len(node.args) >= 2
                        and isinstance(node.args[1], ast.Dict)):
                    continue
                fields = node.args[1]
                for key, value in zip(fields.keys, fields.values, strict=True):
                    if not (isinstance(key, ast.Constant) and key.value == "type"):
                        continue
                    where = f"{name}:{node.lineno}"
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        found.types.setdefault(value.value, where)
                    elif (isinstance(value, ast.JoinedStr) and len(value.values) == 2
                          and isinstance(value.values[0], ast.Constant)
                          and str(value.values[0].value).endswith(".")):
                        found.families.setdefault(str(value.values[0].value), where)
                    elif name not in NOT_OURS:
                        found.unknown.append(where)
    return found


def documented_events() -> set[str]:
    """The first cell of every table row in docs/events.md that names an event type."""
    out = set()
    for line in EVENTS_DOC.read_text().splitlines():
        m = re.match(r"^\| `([a-z_]+\.[a-z_]+)` \|", line)
        if m:
            out.add(m.group(1))
    return out


def test_every_event_type_the_code_emits_is_documented_and_no_other() -> None:
    found = emitted()
    assert found.unknown == [], "an event type neither written out nor built from an enum"
    assert set(found.families) == set(FAMILIES), "a type built at run time: list its endings"
    types = dict(found.types)
    for prefix, endings in FAMILIES.items():
        types.update({prefix + e.value: found.families[prefix] for e in endings})
    assert {"ticket.called", "counter.opened", "collection.collected"} <= set(types)
    undocumented = [f"{t} ({where})" for t, where in sorted(types.items())
                    if t not in documented_events()]
    assert not undocumented, "add to docs/events.md: " + ", ".join(undocumented)
    stale = sorted(documented_events() - set(types))
    assert not stale, "docs/events.md lists types no code emits: " + ", ".join(stale)


def test_every_message_the_socket_sends_is_documented() -> None:
    """Besides the events: the board, resync_required and error. The socket sends only the
    messages of live/models.py (events.py builds no message of its own)."""
    source = ROOT / "queueserver" / "web" / "api" / "events.py"
    assert "send_json" not in source.read_text()
    events = {kind.value for kind in live_models.EVENTS}
    sent = {m.__struct_config__.tag for m in live_models.MESSAGES} - events
    assert sent >= {"board", "resync_required", "error"}
    text = EVENTS_DOC.read_text()
    assert [t for t in sorted(sent) if f'{{"type": "{t}"' not in text] == []
