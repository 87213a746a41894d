"""Feeds and pages in (retrieval/ingest/feeds.py, retrieval/ingest/extract.py), for real over HTTP on 127.0.0.1:
a news site generated from ANT articles in three layouts with site furniture, RSS 2.0 and Atom
feeds, and bad pages (a timeout, a huge page, a redirect loop, a PDF)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from site_server import ANT, BAD_PATHS, FURNITURE, NAV, SiteServer, ant_articles

from retrieval.ingest.documents import load_corpus
from retrieval.ingest.feeds import Fetcher, FetchError, FetchPolicy, check_url, follow_feeds

pytestmark = pytest.mark.skipif(not ANT.is_file(), reason="the ANT corpus (../shared/data/ant-news) is not here")

ARTICLES = 33
# small limits so that the bad pages fail fast: 1 s timeout (the slow page answers after 3 s), a 1 MB cap
POLICY = FetchPolicy(timeout=1.0, max_bytes=1_000_000, max_redirects=4, host_delay=0.0, retries=1, backoff=0.05,
                     allow_private=True, user_agent="arabic-news-qa-tests/1.0")


def normalised(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def site():
    with SiteServer(ant_articles(ARTICLES)) as server:
        yield server


@pytest.fixture(scope="module")
def first_run(site, tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "feeds.jsonl"
    events: list[str] = []
    report = follow_feeds([site.base + "/rss.xml", site.base + "/atom.xml"], out, POLICY, on_event=events.append)
    return out, report, events


def saved(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_every_good_article_is_recovered_exactly(site, first_run):
    out, report, _ = first_run
    records = {record["url"]: record for record in saved(out)}
    assert len(records) == ARTICLES == len(report.saved)
    layouts, authors = set(), 0
    for article in site.articles:
        record = records[site.base + article.path]  # the canonical URL, not the feed's ?utm_source=rss link
        assert record["title"] == article.title
        assert record["date"] == article.date
        assert normalised(record["text"]) == normalised(article.text), article.path
        if record["author"]:  # ANT's bylines mix place and name ("القاهرة - أحمد الريدي"): trafilatura keeps words of it
            assert set(re.findall(r"\w+", record["author"])) <= set(re.findall(r"\w+", article.author))
            authors += 1
        layouts.add(article.layout)
    assert layouts == {"a", "b", "c"}
    with_byline = sum(bool(article.author) for article in site.articles)
    print(f"authors: {authors} of {with_byline} bylines")
    assert authors >= 0.8 * with_byline


def test_no_furniture_line_is_kept(site, first_run):
    out, _, _ = first_run
    titles = {article.title for article in site.articles}
    for record in saved(out):
        for line in record["text"].splitlines():
            assert line not in NAV and line not in titles  # navigation, related links, the headline again
            assert not any(piece in line for piece in FURNITURE if piece not in NAV), line


def test_every_bad_page_is_reported_and_none_is_fatal(site, first_run):
    _, report, events = first_run
    failed = dict(report.failed)
    for path, reason in BAD_PATHS.items():
        assert reason in failed[site.base + path], (path, failed)
    assert len(failed) == len(BAD_PATHS)
    assert "tried 2 times" in failed[site.base + "/slow"]  # a timeout may pass: retried once
    assert "tried" not in failed[site.base + "/huge"]  # a page too big will stay too big
    assert any(event.startswith("failed: " + site.base + "/loop") for event in events)
    # the mirror (same text at another address, no canonical link) is a duplicate by content
    assert report.duplicates == [(site.base + "/mirror" + site.articles[0].path, "same text")]
    assert report.feeds == 2 and report.known == 4  # the feeds overlap by four articles: fetched once
    assert site.user_agents == {"arabic-news-qa-tests/1.0"}


def test_a_second_run_fetches_only_what_failed(site, first_run):
    out, _, _ = first_run
    hits_before = {article.path: site.count(article.path) for article in site.articles}
    mirror = "/mirror" + site.articles[0].path
    mirror_hits = site.count(mirror)
    feeds = [site.base + "/rss.xml", site.base + "/atom.xml"]
    report = follow_feeds(feeds, out, POLICY)
    assert report.saved == [] and report.duplicates == [] and report.failed == []
    assert report.resting == len(BAD_PATHS)  # failed lately: left to their back-off, not fetched at every poll
    assert {article.path: site.count(article.path) for article in site.articles} == hits_before  # nothing refetched
    assert site.count(mirror) == mirror_hits  # a known duplicate is not fetched again either
    # once the back-off is over (its times in the sidecar set to the past), the failures are tried again
    failed_sidecar = out.parent / f".{out.name}.failed"
    waits = json.loads(failed_sidecar.read_text(encoding="utf-8"))
    failed_sidecar.write_text(json.dumps({link: [count, 0.0] for link, (count, _) in waits.items()}), encoding="utf-8")
    report = follow_feeds(feeds, out, POLICY)
    assert {url.removeprefix(site.base) for url, _ in report.failed} == set(BAD_PATHS)  # tried again, reported again
    assert {article.path: site.count(article.path) for article in site.articles} == hits_before
    assert len(saved(out)) == ARTICLES


def test_the_saved_file_is_a_corpus(first_run, site):
    out, _, _ = first_run
    docs = list(load_corpus(out))
    assert len(docs) == ARTICLES
    assert {doc.date for doc in docs} == {article.date for article in site.articles}
    assert all(doc.url and doc.url.startswith(site.base) for doc in docs)


def test_a_bad_feed_is_reported_and_the_others_are_read(site, tmp_path):
    out = tmp_path / "feeds.jsonl"
    policy = FetchPolicy(**{**POLICY.__dict__, "timeout": 0.5})
    page = site.base + site.articles[0].path
    report = follow_feeds([site.base + "/no-such-feed.xml", page], out, policy)
    failed = dict(report.failed)
    assert "HTTP 404" in failed[site.base + "/no-such-feed.xml"]
    assert "not an RSS or Atom feed" in failed[page]
    assert report.saved == [] and not out.exists()


def test_addresses_that_are_never_fetched():
    for url, reason in [("file:///etc/passwd", "only http and https"), ("ftp://example.com/x", "only http and https"),
                        ("http://127.0.0.1:9/x", "private or local address (127.0.0.1)"),
                        ("http://10.1.2.3/", "private or local address"), ("http://[::1]/", "private or local address"),
                        ("http://169.254.169.254/latest/meta-data/", "private or local address")]:
        with pytest.raises(FetchError, match=reason.replace("(", r"\(").replace(")", r"\)")):
            check_url(url, allow_private=False)
    check_url("http://127.0.0.1:9/x", allow_private=True)  # the setting the tests use


def test_a_redirect_to_a_private_address_is_refused(site):
    # the loop's first hop is fine when private addresses are allowed; without, the first request is refused
    policy = FetchPolicy(**{**POLICY.__dict__, "allow_private": False})
    with Fetcher(policy) as fetcher, pytest.raises(FetchError, match="FETCH_ALLOW_PRIVATE"):
        fetcher.get(site.base + site.articles[0].path)


def test_a_host_name_is_checked_where_it_is_resolved(site):
    """A name (not an address) is resolved when connecting, checked there, and the Host header keeps the name."""
    path = site.articles[1].path
    port = site.base.rsplit(":", 1)[1]
    hits = site.count(path)  # the module's first run fetched it already
    with Fetcher(FetchPolicy(**{**POLICY.__dict__, "allow_private": False})) as fetcher:
        with pytest.raises(FetchError, match=r"localhost is a private or local address \(127\.0\.0\.1\)"):
            fetcher.get(f"http://localhost:{port}{path}")
    assert site.count(path) == hits  # refused before connecting
    with Fetcher(POLICY) as fetcher:  # allowed: the connection goes to the address the name resolved to
        page = fetcher.get(f"http://localhost:{port}{path}")
    assert page.body.decode("utf-8").count(site.articles[1].title) >= 1 and f"localhost:{port}" in site.hosts


def test_a_rebinding_name_cannot_reach_a_private_address(site, monkeypatch):
    """DNS rebinding: a name that resolves to a public address for the check and to 127.0.0.1 for the
    connection. No DNS server can run here, so the system resolver is wrapped to answer like one
    (every other name and address still goes to the real resolver); the loopback site is real."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def resolver(host, port, *args, **kwargs):
        if host == "rebind.test":  # public first (1.1.1.1, unreachable on this port), loopback afterwards
            asked.append(host)
            address = "1.1.1.1" if len(asked) == 1 else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]
        if host == "mixed.test":  # one public and one private address: refused as a whole
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port))) for a in ("1.1.1.1", "127.0.0.1")]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    path = site.articles[2].path
    port = site.base.rsplit(":", 1)[1]
    hits = site.count(path)
    policy = FetchPolicy(**{**POLICY.__dict__, "allow_private": False, "timeout": 0.5, "retries": 0})
    with Fetcher(policy) as fetcher:
        with pytest.raises(FetchError, match="cannot connect|timed out"):
            fetcher.get(f"http://rebind.test:{port}{path}")
        with pytest.raises(FetchError, match=r"mixed\.test is a private or local address \(127\.0\.0\.1\)"):
            fetcher.get(f"http://mixed.test:{port}{path}")
    assert asked == ["rebind.test"]  # resolved once: the connection used the address that was checked
    assert site.count(path) == hits  # and the loopback site was never reached


# ---------------------------------------------------------------- index_build.py --feed, --watch with feeds


def _feed_env(**extra: str) -> dict[str, str]:
    from conftest import clean_env

    return {**clean_env(), "FETCH_ALLOW_PRIVATE": "true", "FETCH_HOST_DELAY_SECONDS": "0", "FETCH_TIMEOUT_SECONDS": "1",
            "FETCH_RETRIES": "0", **extra}


@pytest.fixture()
def fresh_site():
    """A site of its own whose RSS feed starts with two articles (a test adds more)."""
    with SiteServer(ant_articles(6)) as server:
        server.rss_articles, server.atom_articles = server.articles[:2], []
        server.extra_rss, server.extra_atom = ["/slow"], []
        yield server


@pytest.fixture()
def seed_copies(seed_index, tmp_path):
    import shutil

    from conftest import SEED_CORPUS

    shutil.copytree(SEED_CORPUS, tmp_path / "corpus")
    shutil.copytree(seed_index, tmp_path / "index")
    return tmp_path / "corpus", tmp_path / "index"


@pytest.mark.slow
def test_index_build_feed_saves_then_builds(fresh_site, seed_copies, tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    from retrieval.index.manifest import read_manifest

    corpus, index_dir = seed_copies
    command = [sys.executable, str(ROOT / "index_build.py"), "--feed", fresh_site.base + "/rss.xml",
               "--corpus", str(corpus), "--index-dir", str(index_dir)]
    done = subprocess.run(command, cwd=tmp_path, env=_feed_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "2 new articles saved" in done.stderr and "1 failed (tried again after a back-off)" in done.stderr
    assert f"failed: {fresh_site.base}/slow: timed out" in done.stderr
    assert read_manifest(index_dir).counts.documents == 7 and len(saved(corpus / "feeds.jsonl")) == 2
    again = subprocess.run(command, cwd=tmp_path, env=_feed_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 new articles saved, 2 already saved" in again.stderr
    assert "is up to date" in again.stderr  # nothing new: no rebuild


@pytest.mark.slow
def test_a_new_feed_article_is_cited_without_a_restart(fresh_site, seed_copies, tmp_path):
    """--watch with a feed polled every second, and a LivePipeline as the bot holds it: an article
    added to the feed is cited by the next answer; the delay is measured."""
    import subprocess
    import sys
    import time

    from conftest import ROOT

    from retrieval.live import LivePipeline
    from retrieval.settings import Settings

    corpus, index_dir = seed_copies
    newcomer = fresh_site.articles[4]
    live = LivePipeline.load(Settings(_env_file=None, corpus_dir=corpus, index_dir=index_dir))
    question = newcomer.title
    assert newcomer.title not in [s.title for s in live.current().answer(question).sources]
    log = tmp_path / "watch.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, str(ROOT / "index_build.py"), "--watch", "--debounce", "300",
                                    "--feed", fresh_site.base + "/rss.xml", "--corpus", str(corpus),
                                    "--index-dir", str(index_dir)],
                                   cwd=tmp_path, env=_feed_env(FEED_POLL_SECONDS="1"), stdout=out, stderr=subprocess.STDOUT)
    text = lambda: log.read_text(encoding="utf-8", errors="replace")  # noqa: E731
    try:
        deadline = time.monotonic() + 180
        while "(feeds.jsonl): 7 documents" not in text():  # the two first articles, indexed
            assert process.poll() is None and time.monotonic() < deadline, text()
            time.sleep(0.1)
        fresh_site.rss_articles = [*fresh_site.rss_articles, newcomer]
        appeared = time.monotonic()
        while True:
            assert process.poll() is None and time.monotonic() < deadline, text()
            if live.refresh() and newcomer.title in [s.title for s in live.current().answer(question).sources]:
                break
            time.sleep(0.1)
        delay = time.monotonic() - appeared
        print(f"from the feed to a cited answer: {delay:.1f} s")
        answer = live.current().answer(question)
        [source] = [s for s in answer.sources if s.title == newcomer.title]
        assert source.url == fresh_site.base + newcomer.path and newcomer.date in (source.date or "")
        assert delay < 120
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def test_feeds_setting_takes_spaces_commas_or_json():
    from retrieval.settings import Settings

    urls = ["https://a.example/rss.xml", "https://b.example/atom"]
    for value in ("https://a.example/rss.xml https://b.example/atom", "https://a.example/rss.xml,https://b.example/atom",
                  json.dumps(urls)):
        assert Settings(_env_file=None, feeds=value).feeds.feeds == urls
    assert Settings(_env_file=None).feeds.feeds == [] and not Settings(_env_file=None).feeds.fetch_allow_private
