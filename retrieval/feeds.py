"""Follow RSS/Atom feeds: each new linked page is fetched politely and safely, its article
extracted (retrieval/extract.py) and appended to a JSONL file in the corpus, so the index can
always be rebuilt offline from what was saved. Pages are deduplicated by canonical URL and by
content hash; a page that fails is reported and tried again on the next run, never fatal."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpcore
import httpx

from retrieval import __version__
from retrieval.extract import NotAnArticle, extract_article
from retrieval.settings import Settings

USER_AGENT = f"arabic-news-qa/{__version__} (feed reader; one request per host per second)"
RETRY_STATUS = {429, 500, 502, 503, 504}


class FetchError(Exception):
    """A page that cannot be used; the message says why (shown in the report)."""


class _Retryable(FetchError):
    """A failure that may pass: a timeout, a refused connection, a 5xx or 429."""


@dataclass
class FetchPolicy:
    timeout: float = 10.0  # seconds to connect and between two reads; a whole page gets 3x
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    host_delay: float = 1.0  # seconds between two requests to one host
    retries: int = 2
    backoff: float = 1.0  # seconds before the first retry, doubled each time
    allow_private: bool = False  # loopback, private, link-local addresses (tests; an intranet)
    user_agent: str = USER_AGENT

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        return cls(timeout=settings.fetch_timeout_seconds, max_bytes=settings.fetch_max_bytes,
                   max_redirects=settings.fetch_max_redirects, host_delay=settings.fetch_host_delay_seconds,
                   retries=settings.fetch_retries, allow_private=settings.fetch_allow_private,
                   user_agent=settings.fetch_user_agent or USER_AGENT)


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


def _refuse_private(host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    if not address.is_global:
        raise FetchError(f"{host} is a private or local address ({address}); "
                         "set FETCH_ALLOW_PRIVATE=true to fetch from it")


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
                return super().connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                           socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError(f"{host} resolved to no address")


class CheckedTransport(httpx.BaseTransport):
    """An httpx transport (httpx's public interface for one) over an httpcore pool whose connections
    are made by ``CheckedBackend``: httpx 0.28's own transport takes no network backend.
    (tests/test_feeds.py fails if the backend ever stops being used: a rebinding name would reach the
    loopback site.)"""

    def __init__(self, allow_private: bool) -> None:
        self.pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(trust_env=False),
                                            network_backend=CheckedBackend(allow_private))

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
    """GET with timeouts, a size cap, bounded redirects, a delay per host, a user agent and retries."""

    def __init__(self, policy: FetchPolicy, sleep: Callable[[float], None] = time.sleep) -> None:
        self.policy = policy
        self._sleep = sleep
        self._last: dict[str, float] = {}
        # trust_env=False: no proxy or netrc from the environment; redirects are followed here, checked
        self.client = httpx.Client(timeout=httpx.Timeout(policy.timeout), follow_redirects=False, trust_env=False,
                                   headers={"User-Agent": policy.user_agent},
                                   transport=CheckedTransport(policy.allow_private))

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def get(self, url: str) -> Page:
        """The page at ``url``, or FetchError with the reason (after the retries for passing failures)."""
        for attempt in range(self.policy.retries + 1):
            try:
                return self._get_once(url)
            except _Retryable as exc:
                if attempt == self.policy.retries:
                    raise FetchError(f"{exc} (tried {attempt + 1} times)") from None
                self._sleep(self.policy.backoff * 2 ** attempt)
        raise AssertionError("unreachable")

    def _get_once(self, url: str) -> Page:
        for _ in range(self.policy.max_redirects + 1):
            check_url(url, self.policy.allow_private)
            self._wait_turn(urlsplit(url).netloc.lower())
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
                raise _Retryable(f"timed out ({self.policy.timeout:g} s)") from None
            except httpx.TransportError as exc:
                raise _Retryable(f"cannot connect ({type(exc).__name__}: {exc})") from None
        raise FetchError(f"more than {self.policy.max_redirects} redirects (a loop?)")

    def _read(self, response: httpx.Response) -> bytes:
        cap = self.policy.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(f"larger than {cap} bytes ({declared} declared)")
        deadline = time.monotonic() + 3 * self.policy.timeout  # a server trickling bytes gets no longer
        body = bytearray()
        for chunk in response.iter_bytes():  # decoded: the cap holds for what a gzip body inflates to
            body += chunk
            if len(body) > cap:
                raise FetchError(f"larger than {cap} bytes")
            if time.monotonic() > deadline:
                raise _Retryable(f"timed out ({3 * self.policy.timeout:g} s for the whole page)")
        return bytes(body)

    def _wait_turn(self, host: str) -> None:
        wait = self._last.get(host, -1e9) + self.policy.host_delay - time.monotonic()
        if wait > 0:
            self._sleep(wait)
        self._last[host] = time.monotonic()


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

    def describe(self) -> str:
        return (f"feeds: {self.feeds} read, {self.links} links; {len(self.saved)} new articles saved, "
                f"{self.known} already saved, {len(self.duplicates)} duplicates, {len(self.failed)} failed "
                f"(tried again next run); {self.seconds:.1f} s")


class FeedStore:
    """The JSONL file of saved articles, and the addresses and hashes already in it. A hidden
    sidecar (``.NAME.seen``, ignored by the loader) remembers the links found to be duplicates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen_path = path.parent / f".{path.name}.seen"
        self.links: set[str] = set()
        self.urls: set[str] = set()
        self.hashes: set[str] = set()
        if path.is_file():
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue  # a line cut by a crash: the loader reports it; the article is fetched again
                    self.urls.add(normalise_url(record.get("url") or ""))
                    self.links.add(normalise_url(record.get("link") or ""))
                    self.hashes.add(record.get("content_hash") or content_hash(record.get("text") or ""))
        if self.seen_path.is_file():
            self.links.update(json.loads(self.seen_path.read_text(encoding="utf-8")))

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
        self.seen_path.write_text(json.dumps(sorted(self.links)), encoding="utf-8")


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
    """Read every feed and save each new article to ``out_file``; never raises for a feed or page."""
    started = time.perf_counter()
    say = on_event or (lambda message: None)
    report, store, tried = FeedReport(), FeedStore(Path(out_file)), set()
    with Fetcher(policy) as fetcher:
        for feed in feeds:
            try:
                links = read_feed(fetcher, feed)
            except FetchError as exc:
                report.failed.append((feed, str(exc)))
                say(f"failed: feed {feed}: {exc}")
                continue
            report.feeds += 1
            report.links += len(links)
            for link in links:
                if store.known(link):
                    report.known += 1
                    continue
                if normalise_url(link) in tried:
                    continue  # in two feeds at once
                tried.add(normalise_url(link))
                _take(fetcher, store, feed, link, report, say)
    report.seconds = time.perf_counter() - started
    return report


def _take(fetcher: Fetcher, store: FeedStore, feed: str, link: str, report: FeedReport, say) -> None:
    try:
        page = fetcher.get(link)
        if "html" not in page.content_type.lower():
            raise FetchError(f"not an HTML page ({page.content_type.split(';')[0] or 'no type'})")
        article = extract_article(page.body, page.url)
    except (FetchError, NotAnArticle) as exc:
        report.failed.append((link, str(exc)))
        say(f"failed: {link}: {exc}")
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
