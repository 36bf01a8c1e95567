"""Pulling the booking platform's JSON export over HTTP (CONTRACT §3 `bookings sync`).

- Conditional: the first page is asked with If-None-Match / If-Modified-Since from the last
  sync; 304 means the export has not changed, and nothing more is done. A paged export's first
  page speaks for the whole export (its ETag or Last-Modified must change when any page does,
  as a snapshot's version does); the pages after it are asked plainly.
- Streamed: each page goes to a temporary file as it arrives, never whole into memory; the
  import reads the files (twice: `importer`), and they go when the pull ends.
- Patient, within bounds: a timeout on each connect and read, a deadline on each page; a
  refused connection, a timeout, a body cut short, 408, 429 or a 5xx is tried again after a
  growing pause (Retry-After honoured up to the cap); any other answer fails the pull at once.
- Paged: a `next` link, from a `Link: <...>; rel="next"` header or the export's top-level
  `"next"` member, relative to the page's URL. Rows are numbered across pages, as if the pages
  were one export.

A pull that fails imports nothing (`rows.FileError`, as for a file that cannot be read).
Messages name the feed by its scheme, host and path only: its query may carry a credential.
"""

from __future__ import annotations

import dataclasses
import email.utils
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import httpx

from queueserver.booking_sync.importer import Rows, RowSource
from queueserver.booking_sync.rows import FileError, Rejection, read

# The platform answers a page within seconds; half a minute of silence means it is stuck.
TIMEOUT_S = 30.0
# Four tries with pauses of 1, 2 and 4 s ride out a restart of the platform's web server.
ATTEMPTS = 4
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
# A page that trickles in for longer than this is treated as stuck, however steady the trickle.
PAGE_DEADLINE_S = 600.0
# A loop of `next` links, or a runaway export, stops here.
MAX_PAGES = 10_000
DOWNLOAD_CHUNK_BYTES = 1 << 16
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Policy:
    timeout_s: float = TIMEOUT_S
    attempts: int = ATTEMPTS
    first_backoff_s: float = FIRST_BACKOFF_S
    max_backoff_s: float = MAX_BACKOFF_S
    page_deadline_s: float = PAGE_DEADLINE_S


@dataclass(frozen=True)
class Validators:
    """What the platform said identifies the export's version, for the next conditional GET."""

    etag: str = ""
    last_modified: str = ""

    def headers(self) -> dict[str, str]:
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out


class _Again(Exception):
    """A failure worth another try."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class _Page:
    url: str
    path: Path
    link: str | None
    items: int = 0


def shown(url: str) -> str:
    """The URL without credentials or query, fit for logs and messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}" \
           f"{parts.path}"


class Pull:
    """One pull of the feed. `with Pull(...) as pull:`, then `pull.changed()`, then
    `importer.run(store, pull.source(centres), ...)`; `pull.validators` after that."""

    def __init__(self, url: str, since: Validators = Validators(), policy: Policy = Policy(),
                 note: Callable[[str], None] = lambda _: None,
                 tick: Callable[[], None] = lambda: None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url, self.since, self.policy = url, since, policy
        self.note, self.tick, self.sleep = note, tick, sleep
        self.validators = Validators()
        self.requests = 0
        self._pages: list[_Page] = []
        self._read_all = False
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._client: httpx.Client | None = None

    def __enter__(self) -> Pull:
        self._folder = tempfile.TemporaryDirectory(prefix="queueserver-feed-")
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.policy.timeout_s), follow_redirects=True,
            headers={"Accept": "application/json", "User-Agent": "queueserver booking sync"})
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._client:
            self._client.close()
        if self._folder:
            self._folder.cleanup()

    def changed(self) -> bool:
        """Asks for the first page; False when the platform says it has not changed (304)."""
        page = self._download(self.url, conditional=True)
        if page is None:
            return False
        self._pages = [page]
        return True

    def source(self, centres: frozenset[str]) -> RowSource:
        def rows() -> Rows:
            return self._replay(centres) if self._read_all else self._read(centres)
        return rows

    # --- reading the pages ---------------------------------------------------------------------

    def _read(self, centres: frozenset[str]) -> Rows:
        """The first pass: each page read as it is fetched, the next one asked for after it."""
        if not self._pages:
            raise RuntimeError("changed() must say True before the pages are read")
        self._pages = self._pages[:1]
        seen = {self.url}
        offset = 0
        while True:
            page = self._pages[-1]
            members: dict[str, Any] = {}
            yield from self._numbered(page, centres, offset, members)
            offset += page.items
            following = self._next(page, members)
            if following is None:
                break
            if following in seen or len(self._pages) >= MAX_PAGES:
                raise FileError(f"the export's next links go round in circles or past "
                                f"{MAX_PAGES} pages (at {shown(following)})")
            seen.add(following)
            fetched = self._download(following, conditional=False)
            assert fetched is not None
            self._pages.append(fetched)
        self._read_all = True

    def _replay(self, centres: frozenset[str]) -> Rows:
        offset = 0
        for page in self._pages:
            yield from self._numbered(page, centres, offset, {})
            offset += page.items

    def _numbered(self, page: _Page, centres: frozenset[str], offset: int,
                  members: dict[str, Any]) -> Rows:
        def opener() -> IO[bytes]:
            return page.path.open("rb")

        last = 0
        for number, row in read(opener, "json", centres, members):
            last = number
            if offset and isinstance(row, Rejection):
                row = dataclasses.replace(row, row=number + offset)
            yield number + offset, row
        page.items = last

    @staticmethod
    def _next(page: _Page, members: dict[str, Any]) -> str | None:
        link = page.link or members.get("next")
        if link is None or link == "":
            return None
        if not isinstance(link, str):
            raise FileError('the export\'s "next" member is not a URL')
        return urljoin(page.url, link)

    # --- fetching one page ---------------------------------------------------------------------

    def _download(self, url: str, conditional: bool) -> _Page | None:
        last = ""
        for attempt in range(1, self.policy.attempts + 1):
            try:
                return self._fetch(url, conditional)
            except _Again as again:
                last = again.reason
                if attempt == self.policy.attempts:
                    break
                pause = min(self.policy.max_backoff_s,
                            again.retry_after if again.retry_after is not None
                            else self.policy.first_backoff_s * 2 ** (attempt - 1))
                self.note(f"{shown(url)}: {again.reason}; trying again in {pause:g} s "
                          f"(attempt {attempt + 1} of {self.policy.attempts})")
                self.tick()
                self.sleep(pause)
        raise FileError(f"{shown(url)} could not be read after {self.policy.attempts} "
                        f"attempts: {last}")

    def _fetch(self, url: str, conditional: bool) -> _Page | None:
        assert self._client is not None and self._folder is not None
        headers = self.since.headers() if conditional else {}
        self.requests += 1
        started = time.monotonic()
        try:
            with self._client.stream("GET", url, headers=headers) as answer:
                if answer.status_code == 304 and headers:
                    return None
                if answer.status_code in RETRY_STATUSES:
                    raise _Again(f"HTTP {answer.status_code}", _retry_after(answer))
                if answer.status_code != 200:
                    raise FileError(f"{shown(url)} answered HTTP {answer.status_code}")
                path = Path(self._folder.name) / f"page-{len(self._pages) + 1}.json"
                with path.open("wb") as out:
                    for chunk in answer.iter_bytes(DOWNLOAD_CHUNK_BYTES):
                        out.write(chunk)
                        self.tick()
                        if time.monotonic() - started > self.policy.page_deadline_s:
                            raise _Again(f"the page took over {self.policy.page_deadline_s:g} s")
                if conditional:
                    self.validators = Validators(answer.headers.get("etag", ""),
                                                 answer.headers.get("last-modified", ""))
                return _Page(url, path, answer.links.get("next", {}).get("url"))
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as e:
            raise FileError(f"{shown(url)} is not an HTTP URL ({type(e).__name__})") from None
        except httpx.TimeoutException:
            raise _Again(f"no answer within {self.policy.timeout_s:g} s") from None
        except httpx.RequestError as e:
            raise _Again(f"{type(e).__name__}") from None


def _retry_after(answer: httpx.Response) -> float | None:
    raw = answer.headers.get("retry-after")
    if not raw:
        return None
    if raw.strip().isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())

