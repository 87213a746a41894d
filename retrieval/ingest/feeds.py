"""Follow RSS/Atom feeds: each new linked page is fetched politely and safely, its article
extracted (retrieval/ingest/extract.py) and appended to a JSONL file in the corpus, so the index can
always be rebuilt offline from what was saved. Pages are deduplicated by canonical URL and by
content hash; a page that fails is reported and tried again after a back-off, never fatal.
Hostile feeds and pages are bounded (docs/hostile-input.md, "Feeds"): one deadline per page from
its first connection, at most ``max_links`` new links per feed per poll, ``concurrency`` pages at once."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import ipaddress
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpcore
import httpx

from retrieval import __version__
from retrieval.ingest.extract import Extracted, NotAnArticle, extract_article
from retrieval.settings import Settings

USER_AGENT = f"arabic-news-qa/{__version__} (feed reader; one request per host per second)"
RETRY_STATUS = {429, 500, 502, 503, 504}


class FetchError(Exception):
    """A page that cannot be used; the message says why (shown in the report)."""


class _Retryable(FetchError):
    """A failure that may pass: a timeout, a refused connection, a 5xx or 429."""


@dataclass
class FetchPolicy:
    timeout: float = 10.0  # seconds to connect and between two reads (a whole page: ``deadline``)
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    host_delay: float = 1.0  # seconds between the starts of two requests to one host
    retries: int = 2
    backoff: float = 1.0  # seconds before the first retry, doubled each time
    allow_private: bool = False  # loopback, private, link-local addresses (tests; an intranet)
    user_agent: str = USER_AGENT
    deadline: float = 30.0  # seconds for one page from its first connection: redirects, retries, every read
    max_links: int = 100  # new links taken from one feed per poll; the rest wait for the next poll
    concurrency: int = 4  # pages fetched at once

    def __post_init__(self) -> None:
        for name, value, key in (("deadline", self.deadline, "FETCH_DEADLINE_SECONDS"),
                                 ("timeout", self.timeout, "FETCH_TIMEOUT_SECONDS"),
                                 ("max_links", self.max_links, "FEED_MAX_LINKS"),
                                 ("concurrency", self.concurrency, "FEED_CONCURRENCY")):
            if not value > 0:
                raise ValueError(f"{name} must be above 0 (got {value}); set {key} to a positive number")

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        return cls(timeout=settings.feeds.fetch_timeout_seconds, max_bytes=settings.feeds.fetch_max_bytes,
                   max_redirects=settings.feeds.fetch_max_redirects, host_delay=settings.feeds.fetch_host_delay_seconds,
                   retries=settings.feeds.fetch_retries, allow_private=settings.feeds.fetch_allow_private,
                   user_agent=settings.feeds.fetch_user_agent or USER_AGENT, deadline=settings.feeds.fetch_deadline_seconds,
                   max_links=settings.feeds.feed_max_links, concurrency=settings.feeds.feed_concurrency)


@dataclass
class Page:
    url: str  # after redirects
    content_type: str
    body: bytes


def check_url(url: str, allow_private: bool) -> None:
    """Refuse what a feed must never make us fetch: other schemes, and (unless allowed) addresses
    inside the machine or its network written as such. Every redirect hop is checked again; a host
    *name* is checked when it is resolved, at connection time (``CheckedBackend``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"only http and https addresses are fetched, not {parts.scheme or 'a relative address'}")
    if not parts.hostname:
        raise FetchError("the address has no host")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return  # a name: resolved and checked once, by the connection that uses the result
    if not allow_private:
        _refuse_private(parts.hostname, literal)


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known NAT64 prefix: the IPv4 address is the last 32 bits
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215, a network's own translator: where it puts the IPv4 varies


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for: IPv4-mapped and -compatible, NAT64 (64:ff9b::/96),
    6to4 (2002::/16) and Teredo (2001::/32: its server and its client); none for any other address."""
    if address.version == 4:
        return []
    compatible = address in _IPV4_COMPATIBLE and int(address) > 1  # :: and ::1 are themselves
    found = [ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)] if compatible or address in _NAT64 else []
    found += [v4 for v4 in (address.ipv4_mapped, address.sixtofour) if v4 is not None]
    return found + list(address.teredo or ())


def is_public(address: IPAddress) -> bool:
    """A global address whose embedded IPv4 addresses (if any) are all global: the IPv6 forms of
    127.0.0.1 or 169.254.169.254 reach them through a translator or a tunnel just the same."""
    if address.version == 6 and address in _LOCAL_NAT64:
        return False
    return address.is_global and all(v4.is_global for v4 in embedded_ipv4(address))


def _refuse_private(host: str, address: IPAddress) -> None:
    if not is_public(address):
        embedded = [str(v4) for v4 in embedded_ipv4(address)]
        what = f"{address}, which stands for {' and '.join(embedded)}" if embedded else str(address)
        raise FetchError(f"{host} is a private or local address ({what}); "
                         "set FETCH_ALLOW_PRIVATE=true to fetch from it")


# When the page being fetched must be done (time.monotonic()); set by Fetcher.get for its thread
# (a context variable: each thread of the pool has its own), read at every connect, read and write.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("fetch_deadline", default=None)


def _time_left() -> float | None:
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


def _bounded(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` cut to the time left before the page's deadline; ``error`` once none is left."""
    left = _time_left()
    if left is None:
        return timeout
    if left <= 0:
        raise error("the page's deadline has passed")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake ends by the page's deadline: a server
    that trickles one byte at a time never trips the timeout between two reads, but meets this."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self.stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return DeadlineStream(self.stream.start_tls(ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> object:
        return self.stream.get_extra_info(info)


class CheckedBackend(httpcore.SyncBackend):
    """Resolves a host once, checks every address it resolved to, and connects to a checked one.

    Checking a name and then letting the client resolve it again to connect would leave a window
    (DNS rebinding: a public address for the check, 127.0.0.1 for the connection). Here the
    connection goes to the very address that was checked; TLS still names the host (httpcore passes
    the origin's name as SNI separately) and the Host header is the URL's."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options=None) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise _Retryable(f"cannot resolve {host} ({exc})") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))  # in the resolver's order, once each
        if not self.allow_private:
            for address in addresses:  # one private address among public ones is refused too
                _refuse_private(host, ipaddress.ip_address(address.split("%")[0]))
        error: Exception | None = None
        for address in addresses:  # as socket.create_connection does with a name: the next on failure
            try:
                stream = super().connect_tcp(address, port, timeout=_bounded(timeout, httpcore.ConnectTimeout),
                                             local_address=local_address, socket_options=socket_options)
                return DeadlineStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError(f"{host} resolved to no address")


class CheckedTransport(httpx.BaseTransport):
    """An httpx transport (httpx's public interface for one) over an httpcore pool whose connections
    are made by ``CheckedBackend``: httpx 0.28's own transport takes no network backend.
    (tests/test_feeds.py fails if the backend ever stops being used: a rebinding name would reach the
    loopback site.)"""

    def __init__(self, allow_private: bool, max_connections: int = 10) -> None:
        self.pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(trust_env=False),
                                            network_backend=CheckedBackend(allow_private), max_connections=max_connections)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port,
                           target=request.url.raw_path)
        core = httpcore.Request(method=request.method, url=url, headers=request.headers.raw,
                                content=request.stream, extensions=request.extensions)
        with _as_httpx_errors(request):
            response = self.pool.handle_request(core)
        return httpx.Response(status_code=response.status, headers=response.headers,
                              stream=_ResponseBody(response, request), extensions=response.extensions)

    def close(self) -> None:
        self.pool.close()


class _ResponseBody(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response, request: httpx.Request) -> None:
        self.response, self.request = response, request

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors(self.request):
            yield from self.response.stream

    def close(self) -> None:
        self.response.close()


@contextlib.contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    """httpcore's errors as the httpx errors of the same name (httpx names each of them)."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise getattr(httpx, type(exc).__name__, httpx.TimeoutException)(str(exc), request=request) from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        raise getattr(httpx, type(exc).__name__, httpx.TransportError)(str(exc), request=request) from exc


class Fetcher:
    """GET with timeouts, a deadline per page, a size cap, bounded redirects, a delay per host, a user
    agent and retries. Safe to share between threads (``follow_feeds`` fetches ``concurrency`` at once)."""

    def __init__(self, policy: FetchPolicy, sleep: Callable[[float], None] = time.sleep) -> None:
        self.policy = policy
        self._sleep = sleep
        self._last: dict[str, float] = {}  # host -> when its latest request started (or is booked to start)
        self._turns = threading.Lock()
        # trust_env=False: no proxy or netrc from the environment; redirects are followed here, checked
        self.client = httpx.Client(timeout=httpx.Timeout(policy.timeout), follow_redirects=False, trust_env=False,
                                   headers={"User-Agent": policy.user_agent},
                                   transport=CheckedTransport(policy.allow_private, max_connections=max(10, policy.concurrency)))

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def get(self, url: str) -> Page:
        """The page at ``url``, or FetchError with the reason (after the retries for passing failures).
        Everything from the first connection on (redirects, retries, every read) ends by the deadline."""
        token = _DEADLINE.set(None)  # started by the first request (_get_once), after its turn for the host
        try:
            for attempt in range(self.policy.retries + 1):
                try:
                    return self._get_once(url)
                except _Retryable as exc:
                    tried = f"tried {attempt + 1} times"
                    if attempt == self.policy.retries:
                        raise FetchError(f"{exc} ({tried})") from None
                    pause = self.policy.backoff * 2 ** attempt
                    left = _time_left()
                    if left is not None and left <= pause:  # no retry starts after the deadline
                        raise FetchError(f"{exc} ({tried}; no time left for another within the page's "
                                         f"{self.policy.deadline:g} s deadline, FETCH_DEADLINE_SECONDS)") from None
                    self._sleep(pause)
            raise AssertionError("unreachable")
        finally:
            _DEADLINE.reset(token)

    def _get_once(self, url: str) -> Page:
        for _ in range(self.policy.max_redirects + 1):
            check_url(url, self.policy.allow_private)
            self._wait_turn(urlsplit(url).netloc.lower())
            if _DEADLINE.get() is None:
                _DEADLINE.set(time.monotonic() + self.policy.deadline)
            try:
                with self.client.stream("GET", url) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code in RETRY_STATUS:
                        raise _Retryable(f"HTTP {response.status_code}")
                    if response.status_code >= 400:
                        raise FetchError(f"HTTP {response.status_code}")
                    body = self._read(response)
                    return Page(str(response.url), response.headers.get("content-type", ""), body)
            except httpx.TimeoutException:
                left = _time_left()
                if left is not None and left <= 0.01:
                    raise FetchError(f"timed out: over the page's {self.policy.deadline:g} s deadline "
                                     "(FETCH_DEADLINE_SECONDS)") from None
                raise _Retryable(f"timed out ({self.policy.timeout:g} s)") from None
            except httpx.TransportError as exc:
                raise _Retryable(f"cannot connect ({type(exc).__name__}: {exc})") from None
        raise FetchError(f"more than {self.policy.max_redirects} redirects (a loop?)")

    def _read(self, response: httpx.Response) -> bytes:
        cap = self.policy.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(f"larger than {cap} bytes ({declared} declared)")
        body = bytearray()  # a server trickling bytes meets the page's deadline at a read (DeadlineStream)
        for chunk in response.iter_bytes():  # decoded: the cap holds for what a gzip body inflates to
            body += chunk
            if len(body) > cap:
                raise FetchError(f"larger than {cap} bytes")
        return bytes(body)

    def _wait_turn(self, host: str) -> None:
        """Books the host's next free start (``host_delay`` after the one before) and waits for it: threads
        fetching from one host start their requests ``host_delay`` apart, in the order they asked."""
        with self._turns:
            now = time.monotonic()
            start = max(now, self._last.get(host, -1e9) + self.policy.host_delay)
            self._last[host] = start
        if start > now:
            self._sleep(start - now)


def normalise_url(url: str) -> str:
    """For comparing addresses: no fragment, no tracking parameters, lower-case scheme and host."""
    parts = urlsplit(url.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.lower().startswith("utm_")]
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", urlencode(query), ""))


def content_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


@dataclass
class FeedReport:
    """What one run did: articles saved, links already known, duplicates, failures (url, reason)."""

    feeds: int = 0
    links: int = 0
    saved: list[str] = field(default_factory=list)
    known: int = 0
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    waiting: int = 0  # new links over FEED_MAX_LINKS in a feed: taken by a later poll
    resting: int = 0  # links that failed lately, not tried before their back-off ends (or given up)
    warnings: list[str] = field(default_factory=list)  # e.g. a damaged sidecar moved aside

    def describe(self) -> str:
        waiting = f", {self.waiting} more wait for the next poll (FEED_MAX_LINKS)" if self.waiting else ""
        waiting += f", {self.resting} failed lately and wait (back-off)" if self.resting else ""
        warnings = "".join(f"; warning: {warning}" for warning in self.warnings)
        return (f"feeds: {self.feeds} read, {self.links} links; {len(self.saved)} new articles saved, "
                f"{self.known} already saved, {len(self.duplicates)} duplicates, {len(self.failed)} failed "
                f"(tried again after a back-off){waiting}; {self.seconds:.1f} s{warnings}")


RETRY_AFTER_SECONDS = 300.0  # a link that failed is not tried again before this, doubled at each failure (a day at most)
GIVE_UP_AFTER = 6  # failures after which a link is not tried again (reported once)


class FeedStore:
    """The JSONL file of saved articles, and the addresses and hashes already in it. A hidden
    sidecar (``.NAME.seen``, ignored by the loader) remembers the links found to be duplicates.

    What is saved is known from the JSONL file alone; the sidecar only spares fetching a known
    duplicate again. A damaged sidecar is therefore moved aside (``.NAME.seen.damaged``) with a
    warning, and its duplicates are fetched once more, found again and remembered again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen_path = path.parent / f".{path.name}.seen"
        self.links: set[str] = set()
        self.urls: set[str] = set()
        self.hashes: set[str] = set()
        self.warnings: list[str] = []
        if path.is_file():
            with open(path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue  # a line cut by a crash: the loader reports it; the article is fetched again
                    if not isinstance(record, dict):
                        continue
                    self.urls.add(normalise_url(str(record.get("url") or "")))
                    self.links.add(normalise_url(str(record.get("link") or "")))
                    self.hashes.add(str(record.get("content_hash") or content_hash(str(record.get("text") or ""))))
        if self.seen_path.is_file():
            self.links.update(self._read_seen())
        # links that failed: normalised link -> [failures so far, time before which it is not tried again]
        self.failures_path = path.parent / f".{path.name}.failed"
        self.failures: dict[str, list[float]] = self._read_failures()

    def _read_seen(self) -> list[str]:
        try:
            seen = json.loads(self.seen_path.read_text(encoding="utf-8"))
            if isinstance(seen, list) and all(isinstance(link, str) for link in seen):
                return seen
            problem = "not a JSON list of addresses"
        except (ValueError, OSError) as exc:  # a write cut short, bytes that are not UTF-8, an unreadable file
            problem = f"{type(exc).__name__}: {exc}"
        aside = self.seen_path.with_name(self.seen_path.name + ".damaged")
        try:
            os.replace(self.seen_path, aside)
            where = f"moved to {aside.name}"
        except OSError as exc:
            where = f"could not be moved aside ({exc}); it will be overwritten"
        self.warnings.append(f"{self.seen_path} was damaged ({problem}) and {where}; known duplicates will be "
                             "fetched once more, nothing is saved twice")
        return []

    def _read_failures(self) -> dict[str, list[float]]:
        if not self.failures_path.is_file():
            return {}
        try:
            data = json.loads(self.failures_path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and all(isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v)
                                              for v in data.values()):
                return {str(k): [float(v[0]), float(v[1])] for k, v in data.items()}
        except (ValueError, OSError):
            pass
        self.warnings.append(f"{self.failures_path} was damaged and is started afresh; failing links are tried again")
        return {}

    def resting(self, link: str, now: float) -> bool:
        """A link that failed lately (not tried again before its back-off ends) or too often (given up)."""
        failures, next_try = self.failures.get(normalise_url(link), (0, 0.0))
        return failures >= GIVE_UP_AFTER or now < next_try

    def failed(self, link: str, now: float) -> int:
        """Count a failure of ``link``; its next try waits RETRY_AFTER_SECONDS, doubled at each failure
        (at most a day). Returns the failures so far (at GIVE_UP_AFTER the link is not tried again)."""
        key = normalise_url(link)
        failures = int(self.failures.get(key, (0, 0.0))[0]) + 1
        self.failures[key] = [failures, now + min(RETRY_AFTER_SECONDS * 2 ** (failures - 1), 86_400.0)]
        self._write_failures()
        return failures

    def _write_failures(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.failures_path.with_name(self.failures_path.name + ".partial")
        partial.write_text(json.dumps(self.failures, sort_keys=True), encoding="utf-8")
        os.replace(partial, self.failures_path)

    def known(self, link: str) -> bool:
        link = normalise_url(link)
        return link in self.links or link in self.urls

    def add(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:  # one line per article, as it comes
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.urls.add(normalise_url(record["url"]))
        self.links.add(normalise_url(record["link"]))
        self.hashes.add(record["content_hash"])

    def remember(self, link: str) -> None:
        self.links.add(normalise_url(link))
        partial = self.seen_path.with_name(self.seen_path.name + ".partial")
        partial.write_text(json.dumps(sorted(self.links)), encoding="utf-8")
        os.replace(partial, self.seen_path)  # whole or not at all: a crash mid-write leaves the old sidecar


def read_feed(fetcher: Fetcher, url: str) -> list[str]:
    """The article links of an RSS or Atom feed, in its order, made absolute."""
    import feedparser

    page = fetcher.get(url)
    parsed = feedparser.parse(page.body)
    if not parsed.entries and (parsed.bozo or not parsed.version):
        raise FetchError(f"not an RSS or Atom feed ({getattr(parsed, 'bozo_exception', 'no entries')})")
    return [urljoin(page.url, entry.link) for entry in parsed.entries if entry.get("link")]


def follow_feeds(feeds: list[str], out_file: Path, policy: FetchPolicy,
                 on_event: Callable[[str], None] | None = None) -> FeedReport:
    """Read every feed and save each new article to ``out_file``; never raises for a feed or page.
    At most ``policy.max_links`` new links of a feed are taken per run (the rest wait for the next),
    fetched ``policy.concurrency`` at once; articles are saved in the feed's order all the same."""
    started = time.perf_counter()
    say = on_event or (lambda message: None)
    report, store, tried = FeedReport(), FeedStore(Path(out_file)), set()
    for warning in store.warnings:
        report.warnings.append(warning)
        say(f"warning: {warning}")
    pool = ThreadPoolExecutor(policy.concurrency, thread_name_prefix="feed-fetch")
    with Fetcher(policy) as fetcher, contextlib.ExitStack() as cleanup:
        # on the way out (an interruption too): pages not started are dropped, those started end by their deadline
        cleanup.callback(pool.shutdown, wait=True, cancel_futures=True)
        for feed in feeds:
            try:
                links = read_feed(fetcher, feed)
            except FetchError as exc:
                report.failed.append((feed, str(exc)))
                say(f"failed: feed {feed}: {exc}")
                continue
            report.feeds += 1
            report.links += len(links)
            new: list[str] = []
            waiting: set[str] = set()
            now = time.time()
            for link in links:
                key = normalise_url(link)
                if store.known(link):
                    report.known += 1
                elif store.resting(link, now):
                    report.resting += 1  # failed lately: its back-off leaves this poll's places to the other links
                elif key in tried or key in waiting:
                    continue  # in two feeds at once, or twice in one
                elif len(new) < policy.max_links:
                    new.append(link)
                    tried.add(key)
                else:
                    waiting.add(key)
            if waiting:
                report.waiting += len(waiting)
                say(f"feed {feed}: {len(new)} new links taken, {len(waiting)} more wait for the next poll (FEED_MAX_LINKS)")
            # fetched at once, kept one by one in the feed's order: which of two is the duplicate never depends on timing
            for link, result in zip(new, pool.map(lambda link: _fetch_article(fetcher, link), new)):
                _keep(store, feed, link, result, report, say)
    report.seconds = time.perf_counter() - started
    return report


def _fetch_article(fetcher: Fetcher, link: str) -> Extracted | Exception:
    """The article at ``link``, or why there is none (returned: one page's failure is reported, never raised)."""
    try:
        page = fetcher.get(link)
        if "html" not in page.content_type.lower():
            raise FetchError(f"not an HTML page ({page.content_type.split(';')[0] or 'no type'})")
        return extract_article(page.body, page.url)
    except (FetchError, NotAnArticle) as exc:
        return exc
    except ValueError as exc:  # a page lxml cannot parse
        return NotAnArticle(f"no article text in the page ({exc})")


def _keep(store: FeedStore, feed: str, link: str, article: Extracted | Exception, report: FeedReport, say) -> None:
    if isinstance(article, Exception):
        failures = store.failed(link, time.time())
        given_up = f"; given up after {failures} failures" if failures >= GIVE_UP_AFTER else ""
        report.failed.append((link, f"{article}{given_up}"))
        say(f"failed: {link}: {article}{given_up}")
        return
    canonical, digest = normalise_url(article.url), content_hash(article.text)
    why = "same canonical URL" if canonical in store.urls else "same text" if digest in store.hashes else None
    if why:
        report.duplicates.append((link, why))
        store.remember(link)
        return
    host = urlsplit(canonical).hostname or ""
    store.add({
        "id": "feed-" + hashlib.sha256(canonical.encode()).hexdigest()[:16], "title": article.title, "text": article.text,
        "date": article.date, "author": article.author, "url": article.url, "source": host, "feed": feed, "link": link,
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "content_hash": digest,
    })
    report.saved.append(article.url)
    say(f"saved: {article.title} ({article.date or 'no date'}) {article.url}")
