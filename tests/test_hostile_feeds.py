"""Hostile feeds and pages (docs/hostile-input.md, "Feeds"), for real over HTTP on 127.0.0.1: a server
that trickles its headers, a feed of 10,000 items, hanging links, a damaged sidecar, a page claiming
another site's canonical URL, and IPv6 forms (NAT64, 6to4, Teredo, IPv4-mapped) of private addresses.
Each test measures what it asserts: nothing crashes, nothing is left running, the time is bounded."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
from site_server import ANT, SiteServer, ant_articles

from retrieval.ingest.extract import extract_article
from retrieval.ingest.feeds import CheckedBackend, Fetcher, FetchError, FetchPolicy, check_url, follow_feeds
from retrieval.settings import Settings

needs_ant = pytest.mark.skipif(not ANT.is_file(), reason="the ANT corpus (../shared/data/ant-news) is not here")

# fast limits: 1 s between two reads, no delay per host (a test that checks the delay sets one)
POLICY = FetchPolicy(timeout=1.0, deadline=30.0, max_bytes=1_000_000, max_redirects=4, host_delay=0.0, retries=0,
                     backoff=0.05, allow_private=True, user_agent="arabic-news-qa-tests/1.0", max_links=100, concurrency=4)
BIG_FEED_ITEMS = 10_000
HANGING = 8


def policy(**changes: object) -> FetchPolicy:
    return FetchPolicy(**{**POLICY.__dict__, **changes})


def _send(handler: BaseHTTPRequestHandler, status: int, content_type: str, body: str) -> None:
    data = body.encode("utf-8")
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    try:
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def _rss(links: list[str]) -> str:
    items = "".join(f"<item><title>item</title><link>{link}</link></item>" for link in links)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>hostile</title>'
            f"<link>http://127.0.0.1/</link><description>RSS</description>{items}</channel></rss>")


class HostileServer(SiteServer):
    """The test news site plus hostile paths: ``/trickle`` (one header byte every ``trickle_every`` s, for
    ``trickle_for`` s at most), ``/trickle-body`` (the same for the body), ``/hang/N`` (answers after
    ``hang_seconds``), ``/big-feed.xml`` (``BIG_FEED_ITEMS`` links), ``/hang-feed.xml``, ``/quick-feed.xml``,
    ``/order-feed.xml``, ``/foreign-feed.xml`` and ``/foreign/N.html`` (article N+1's text claiming
    article N's canonical URL, served under the name localhost: another host)."""

    def __init__(self, articles, **kwargs) -> None:
        super().__init__(articles, **kwargs)
        self.trickle_every, self.trickle_for, self.hang_seconds = 0.5, 25.0, 6.0
        self.trickle_closed = threading.Event()  # the client hung up on the trickle (no connection left behind)
        self.in_flight = self.max_in_flight = 0
        self.started: list[tuple[float, str]] = []  # (monotonic time, path) of every request
        self.order_delays: dict[str, float] = {}
        self.httpd.handle_error = lambda request, address: None  # a client that hangs up is what these tests do

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.started.append((time.monotonic(), path))
        if path in ("/trickle", "/trickle-body"):
            with self._lock:
                self.hits[path] = self.hits.get(path, 0) + 1
            return self._trickle(handler, body=path == "/trickle-body")
        if path.startswith("/hang/"):
            with self._lock:
                self.hits[path] = self.hits.get(path, 0) + 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                self._hang(handler.connection)
            finally:
                with self._lock:
                    self.in_flight -= 1
            return _send(handler, 200, "text/html", "<html><body><p>late</p></body></html>")
        if path == "/big-feed.xml":
            return _send(handler, 200, "application/rss+xml", _rss([f"{self.base}/item/{k}" for k in range(BIG_FEED_ITEMS)]))
        if path == "/hang-feed.xml":
            return _send(handler, 200, "application/rss+xml", _rss([f"{self.base}/hang/{k}" for k in range(HANGING)]))
        if path == "/quick-feed.xml":
            return _send(handler, 200, "application/rss+xml", _rss([f"{self.base}/item/q{k}" for k in range(HANGING)]))
        if path == "/order-feed.xml":
            return _send(handler, 200, "application/rss+xml", _rss([self.base + a.path for a in self.articles[:5]]))
        if path == "/foreign-feed.xml":
            real = self.articles[0]
            return _send(handler, 200, "application/rss+xml", _rss([self.localhost + "/foreign/0.html", self.base + real.path]))
        if path.startswith("/foreign/"):
            claimed, shown = self.articles[0], self.articles[1]
            page = self.site.page(shown).replace(self.site.url(shown.path), self.site.url(claimed.path))
            return _send(handler, 200, "text/html; charset=utf-8", page)
        delay = self.order_delays.get(path, 0.0)
        if delay:
            self._stop.wait(delay)
        return super().respond(handler)

    def _hang(self, connection: socket.socket) -> None:
        """Waits ``hang_seconds``, or until the client hangs up (so that ``in_flight`` counts the client's requests)."""
        ends = time.monotonic() + self.hang_seconds
        while time.monotonic() < ends and not self._stop.is_set():
            readable, _, _ = select.select([connection], [], [], 0.02)
            if readable and connection.recv(1, socket.MSG_PEEK) == b"":
                return

    @property
    def localhost(self) -> str:
        return self.base.replace("127.0.0.1", "localhost")

    def _trickle(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        handler.close_connection = True
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
        slow = b"X-Slow: " + b"a" * 1000 + b"\r\n"
        if body:
            head, slow = head + b"Content-Length: 100000\r\n\r\n", b"<p>" + b"a" * 100_000
        ends = time.monotonic() + self.trickle_for
        try:
            handler.wfile.write(head)
            handler.wfile.flush()
            for byte in slow:
                if self._stop.wait(self.trickle_every) or time.monotonic() > ends:
                    return
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.trickle_closed.set()


@pytest.fixture()
def server():
    articles = ant_articles(6) if ANT.is_file() else []
    with HostileServer(articles) as running:
        yield running


def fetch_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("feed-fetch")]


# ---------------------------------------------------------------- 1. one deadline per page


def test_defaults_come_from_the_settings():
    settings = Settings(_env_file=None, fetch_deadline_seconds=12, feed_max_links=7, feed_concurrency=3)
    made = FetchPolicy.from_settings(settings)
    assert (made.deadline, made.max_links, made.concurrency) == (12, 7, 3)
    defaults = FetchPolicy.from_settings(Settings(_env_file=None))
    assert (defaults.deadline, defaults.max_links, defaults.concurrency) == (30, 100, 4)
    with pytest.raises(ValueError, match="FETCH_DEADLINE_SECONDS"):
        policy(deadline=0)
    with pytest.raises(ValueError, match="FEED_CONCURRENCY"):
        policy(concurrency=0)


@pytest.mark.parametrize("path", ["/trickle", "/trickle-body"])
def test_a_trickling_server_gets_one_deadline(server, path):
    """One byte every 0.5 s never trips the 1 s read timeout; the page's 3 s deadline ends it, retries included."""
    deadline = 3.0
    started = time.monotonic()
    with Fetcher(policy(deadline=deadline, retries=3)) as fetcher, pytest.raises(FetchError, match="FETCH_DEADLINE_SECONDS"):
        fetcher.get(server.base + path)
    seconds = time.monotonic() - started
    print(f"{path}: ended after {seconds:.2f} s (deadline {deadline:g} s)")
    assert seconds < deadline + 2.0
    assert server.count(path) == 1  # no retry starts once the deadline has passed
    assert server.trickle_closed.wait(5)  # the connection was closed, not left to the server


def test_retries_stop_at_the_deadline(server):
    """Hanging pages (1 s timeout each) with 10 retries: the 2.5 s deadline ends them after 3 tries at most."""
    started = time.monotonic()
    with Fetcher(policy(deadline=2.5, retries=10, backoff=0.05)) as fetcher, pytest.raises(FetchError, match="deadline"):
        fetcher.get(server.base + "/hang/retry")
    seconds = time.monotonic() - started
    print(f"hanging page, 10 retries allowed: ended after {seconds:.2f} s, {server.count('/hang/retry')} tries")
    assert seconds < 2.5 + 2.0 and server.count("/hang/retry") <= 3


# ---------------------------------------------------------------- 2. links per feed: a cap, bounded concurrency


def test_a_feed_of_ten_thousand_items_is_taken_a_hundred_at_a_time(server, tmp_path):
    out = tmp_path / "feeds.jsonl"
    started = time.monotonic()
    report = follow_feeds([server.base + "/big-feed.xml"], out, POLICY)
    seconds = time.monotonic() - started
    fetched = sum(count for path, count in server.hits.items() if path.startswith("/item/"))
    print(f"{BIG_FEED_ITEMS} items: {fetched} fetched in {seconds:.2f} s; {report.describe()}")
    assert report.links == BIG_FEED_ITEMS and fetched == POLICY.max_links == len(report.failed)
    assert report.waiting == BIG_FEED_ITEMS - POLICY.max_links and "wait for the next poll" in report.describe()
    assert seconds < 30
    assert not fetch_threads()


def test_hanging_links_are_fetched_four_at_a_time(server, tmp_path):
    """8 links that never answer in time (1 s timeout): about 2 s with 4 at once, not 8 s one after another."""
    timeout = 1.0
    started = time.monotonic()
    report = follow_feeds([server.base + "/hang-feed.xml"], tmp_path / "feeds.jsonl", policy(timeout=timeout))
    seconds = time.monotonic() - started
    print(f"{HANGING} hanging links at a {timeout:g} s timeout: {seconds:.2f} s, at most {server.max_in_flight} at once")
    assert len(report.failed) == HANGING and all("timed out" in reason for _, reason in report.failed)
    starts = sorted(at for at, path in server.started if path.startswith("/hang/"))
    assert sum(at < starts[0] + timeout / 2 for at in starts) == POLICY.concurrency  # 4 at once, the next as one times out
    assert seconds < (HANGING / POLICY.concurrency) * timeout + 2.5  # one after another: 8 s and more
    assert [url for url, _ in report.failed] == [f"{server.base}/hang/{k}" for k in range(HANGING)]  # the feed's order
    assert not fetch_threads()


def test_the_delay_per_host_holds_with_concurrency(server, tmp_path):
    delay = 0.3
    follow_feeds([server.base + "/quick-feed.xml"], tmp_path / "feeds.jsonl", policy(host_delay=delay))
    starts = [at for at, path in server.started if path == "/quick-feed.xml" or path.startswith("/item/q")]
    assert len(starts) == HANGING + 1
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:])]
    print(f"gaps between requests to one host: min {min(gaps):.3f} s (delay {delay:g} s)")
    assert min(gaps) > delay / 2  # scheduling on busy cores shifts a request a little; an unguarded race starts them at once
    assert starts[-1] - starts[0] > HANGING * delay - 0.1


@needs_ant
def test_articles_are_saved_in_the_feeds_order(server, tmp_path):
    server.order_delays = {server.articles[0].path: 0.6, server.articles[2].path: 0.3}  # the first ones finish last
    out = tmp_path / "feeds.jsonl"
    report = follow_feeds([server.base + "/order-feed.xml"], out, POLICY)
    urls = [json.loads(line)["url"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert urls == report.saved == [server.base + article.path for article in server.articles[:5]]


# ---------------------------------------------------------------- 3. a damaged sidecar


@needs_ant
@pytest.mark.parametrize("damage", [b'["http://127.0.0.1/a', b'{"not": "a list"}', b"\xff\xfe not utf-8", b"[1, 2]"])
def test_a_damaged_sidecar_is_moved_aside(server, tmp_path, damage):
    server.rss_articles, server.extra_rss = server.articles[:3], ["/mirror" + server.articles[0].path]
    out = tmp_path / "feeds.jsonl"
    first = follow_feeds([server.base + "/rss.xml"], out, POLICY)
    assert len(first.saved) == 3 and len(first.duplicates) == 1
    sidecar = tmp_path / ".feeds.jsonl.seen"
    assert sidecar.is_file()
    lines = out.read_text(encoding="utf-8")
    sidecar.write_bytes(damage)
    again = follow_feeds([server.base + "/rss.xml"], out, POLICY)  # raised JSONDecodeError before
    assert [warning for warning in again.warnings if ".feeds.jsonl.seen" in warning and "damaged" in warning]
    assert "warning" in again.describe()
    assert (tmp_path / ".feeds.jsonl.seen.damaged").read_bytes() == damage
    assert out.read_text(encoding="utf-8") == lines  # nothing saved twice: the saved file is what dedup trusts
    assert again.saved == [] and len(again.duplicates) == 1  # the mirror is fetched once more, found again
    assert json.loads(sidecar.read_text(encoding="utf-8"))  # and the sidecar is whole again
    third = follow_feeds([server.base + "/rss.xml"], out, POLICY)
    assert third.warnings == [] and third.duplicates == [] and third.known == 4


# ---------------------------------------------------------------- 4. canonical URLs: only on the fetched site


PROSE = "<p>" + "قالت وزارة الصحة في بيان صدر اليوم إن عدد الحالات المسجلة ارتفع خلال الأسبوع الماضي. " * 4 + "</p>"


def page_with(canonical: str) -> str:
    return (f'<html><head><title>خبر</title><link rel="canonical" href="{canonical}"></head>'
            f"<body><article><h1>خبر</h1>{PROSE}{PROSE}</article></body></html>")


@pytest.mark.parametrize(("fetched", "canonical", "kept"), [
    ("https://www.site.example/a/1.html", "https://www.site.example/a/1", True),  # the same host
    ("https://www.site.example/a/1.html", "https://site.example/a/1", True),  # its parent
    ("http://site.example/a/1.html", "https://news.site.example/a/1", True),  # a subdomain, http -> https
    ("https://m.site.example/a/1.html", "https://www.site.example/a/1", True),  # www. is the site itself
    ("https://amp.site.example/a/1.html", "https://www.site.example/a/1", True),
    ("https://www.site.example:8443/a/1.html", "https://site.example/a/1", True),  # ports are not the site
    ("https://evil.example/a/1.html", "https://www.site.example/a/1", False),  # another site
    ("https://evilsite.example/a/1.html", "https://site.example/a/1", False),  # a suffix of the name is not a parent
    ("https://site.example.evil.example/a/1.html", "https://site.example/a/1", False),
    ("https://news.site.example/a/1.html", "https://sport.site.example/a/1", False),  # sibling sections
    ("https://www.site.example/a/1.html", "ftp://www.site.example/a/1", False),  # only http(s)
])
def test_a_canonical_url_is_kept_only_on_the_fetched_site(fetched, canonical, kept):
    assert extract_article(page_with(canonical), fetched).url == (canonical if kept else fetched)


def test_a_local_file_keeps_its_canonical_url():
    assert extract_article(page_with("https://site.example/a/1"), None).url == "https://site.example/a/1"


@needs_ant
def test_a_page_cannot_claim_another_sites_article(server, tmp_path):
    """A page on localhost claims the canonical URL of an article on 127.0.0.1 (two hosts, one server)."""
    out = tmp_path / "feeds.jsonl"
    report = follow_feeds([server.base + "/foreign-feed.xml"], out, POLICY)
    claimed, shown = server.articles[0], server.articles[1]
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["title"], r["url"], r["source"]) for r in records] == [
        (shown.title, server.localhost + "/foreign/0.html", "localhost"),  # shown as where it came from
        (claimed.title, server.base + claimed.path, "127.0.0.1"),  # and the real article is not "already seen"
    ]
    assert report.duplicates == [] and report.known == 0


# ---------------------------------------------------------------- 5. IPv6 forms of IPv4 addresses


PRIVATE_IN_IPV6 = [
    ("::ffff:127.0.0.1", "127.0.0.1"), ("::ffff:a00:1", "10.0.0.1"),  # IPv4-mapped
    ("::127.0.0.1", "127.0.0.1"),  # IPv4-compatible (deprecated)
    ("64:ff9b::7f00:1", "127.0.0.1"), ("64:ff9b::a9fe:a9fe", "169.254.169.254"), ("64:ff9b::c0a8:101", "192.168.1.1"),  # NAT64
    ("64:ff9b:1::a00:1", "64:ff9b:1::a00:1"),  # local-use NAT64: the network's own translator
    ("2002:7f00:1::", "127.0.0.1"), ("2002:a9fe:a9fe::1", "169.254.169.254"), ("2002:ac10:1::", "172.16.0.1"),  # 6to4
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "10.0.0.1"),  # Teredo, client 10.0.0.1
]


@pytest.mark.parametrize(("address", "embedded"), PRIVATE_IN_IPV6)
def test_an_ipv6_form_of_a_private_address_is_refused(address, embedded):
    with pytest.raises(FetchError, match=f"private or local address.*{embedded.replace('.', '[.]')}.*FETCH_ALLOW_PRIVATE"):
        check_url(f"http://[{address}]:8080/x", allow_private=False)
    with pytest.raises(FetchError, match="private or local address"):  # a name that resolves to it: refused too
        CheckedBackend(allow_private=False).connect_tcp(address, 9)
    check_url(f"http://[{address}]/x", allow_private=True)


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "2606:4700::1111"])
def test_an_ipv6_form_of_a_public_address_is_public(address):
    check_url(f"http://[{address}]/x", allow_private=False)


def test_a_name_resolving_to_nat64_loopback_is_refused_before_connecting(monkeypatch):
    real = socket.getaddrinfo

    def resolver(host, port, *args, **kwargs):
        if host == "nat64.test":
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("64:ff9b::7f00:1", int(port), 0, 0))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with Fetcher(policy(allow_private=False)) as fetcher:
        with pytest.raises(FetchError, match=r"nat64\.test is a private or local address \(64:ff9b::7f00:1.*127\.0\.0\.1"):
            fetcher.get("http://nat64.test/x")


def test_nothing_is_left_behind(server, tmp_path):
    report = follow_feeds([server.base + "/hang-feed.xml", server.base + "/big-feed.xml"], tmp_path / "feeds.jsonl",
                          policy(timeout=0.5, max_links=20))
    assert report.feeds == 2 and len(report.failed) == HANGING + 20
    assert not fetch_threads()  # the pool's threads are gone once the poll returns


def test_links_that_keep_failing_do_not_starve_the_rest_of_a_feed(server, tmp_path):
    """The first FEED_MAX_LINKS links of a feed all fail (404 here; hanging links alike): the next poll
    leaves them to their back-off and takes the next ones, instead of trying the same failures forever."""
    out = tmp_path / "feeds.jsonl"
    first = follow_feeds([server.base + "/big-feed.xml"], out, POLICY)
    assert [url for url, _ in first.failed] == [f"{server.base}/item/{k}" for k in range(POLICY.max_links)]
    server.hits.clear()
    second = follow_feeds([server.base + "/big-feed.xml"], out, POLICY)
    fetched = sorted(int(path.rsplit("/", 1)[1]) for path in server.hits if path.startswith("/item/"))
    assert fetched == list(range(POLICY.max_links, 2 * POLICY.max_links))
    assert second.resting == POLICY.max_links and "back-off" in second.describe()


def test_a_failing_link_backs_off_then_is_given_up(tmp_path):
    from retrieval.ingest.feeds import GIVE_UP_AFTER, RETRY_AFTER_SECONDS, FeedStore

    store, link, now = FeedStore(tmp_path / "feeds.jsonl"), "http://news.example/a", 1000.0
    assert not store.resting(link, now)
    assert store.failed(link, now) == 1
    assert store.resting(link, now + RETRY_AFTER_SECONDS - 1) and not store.resting(link, now + RETRY_AFTER_SECONDS)
    store.failed(link, now)
    assert store.resting(link, now + RETRY_AFTER_SECONDS) and not store.resting(link, now + 2 * RETRY_AFTER_SECONDS)
    again = FeedStore(tmp_path / "feeds.jsonl")  # remembered across runs (cron) in a sidecar
    assert again.resting(link, now + RETRY_AFTER_SECONDS)
    for _ in range(GIVE_UP_AFTER):
        again.failed(link, now)
    assert again.resting(link, now + 10 * 86_400)  # given up
    (tmp_path / ".feeds.jsonl.failed").write_bytes(b"{damaged")
    fresh = FeedStore(tmp_path / "feeds.jsonl")
    assert fresh.failures == {} and "damaged" in fresh.warnings[0]
