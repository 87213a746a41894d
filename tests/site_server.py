"""A small news site on 127.0.0.1 for the feed tests: article pages generated from ANT articles
in three layouts with real site furniture (header, nav, share buttons, related links, ads,
footer), dates in ``article:published_time`` / JSON-LD / ``<time>``, an RSS 2.0 and an Atom
feed, and bad pages: one that never answers in time, one too big, a gzip bomb, a redirect loop, a PDF."""

from __future__ import annotations

import gzip
import html
import itertools
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ANT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ant-news" / "ant_news_2018.jsonl.gz"

NAV = ["الرئيسية", "سياسة", "اقتصاد", "رياضة", "ثقافة", "تكنولوجيا", "منوعات"]
SHARE = ["شارك على فيسبوك", "غرّد على تويتر", "أرسل عبر واتساب", "انسخ الرابط"]
AD = "إعلان: احصل على خصم خمسين بالمئة على اشتراكك السنوي الآن"
FOOTER = "جميع الحقوق محفوظة لموقع أخبار الاختبار ٢٠١٨"
NEWSLETTER = "اشترك في نشرتنا البريدية لتصلك أهم الأخبار كل صباح"
RELATED = "مقالات ذات صلة"
FURNITURE = [*NAV, *SHARE, AD, FOOTER, NEWSLETTER, RELATED]
BAD_PATHS = {"/slow": "timed out", "/huge": "larger than", "/loop": "redirects", "/report.pdf": "not an HTML page",
             "/bomb": "larger than"}


@dataclass
class Article:
    number: int
    id: str
    title: str
    text: str
    date: str
    author: str
    layout: str  # "a" | "b" | "c"

    @property
    def path(self) -> str:
        return f"/{self.layout}/{self.number}.html"

    @property
    def paragraphs(self) -> list[str]:
        return [" ".join(p.split()) for p in self.text.split("\n") if p.strip()]


def ant_articles(count: int) -> list[Article]:
    """``count`` ANT articles of a few paragraphs each (the file's first ones that fit), layouts in turn."""
    out: list[Article] = []
    seen_titles: set[str] = set()
    with gzip.open(ANT, "rt", encoding="utf-8") as handle:
        for record in map(json.loads, handle):
            paragraphs = [p for p in record["text"].split("\n") if p.strip()]
            if not (3 <= len(paragraphs) <= 12 and 600 <= len(record["text"]) <= 4000 and record.get("date")):
                continue
            if record["title"] in seen_titles or min(len(p) for p in paragraphs) < 40:
                continue  # short lines read like captions; the test wants plain article prose
            seen_titles.add(record["title"])
            number = len(out) + 1
            out.append(Article(number, record["id"], " ".join(record["title"].split()), record["text"], record["date"],
                               record.get("author") or "", "abc"[number % 3]))
            if len(out) == count:
                return out
    raise RuntimeError(f"only {len(out)} suitable ANT articles")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


class NewsSite:
    """The site's pages, feeds and bad pages, served by ``SiteServer``."""

    def __init__(self, base: str, articles: list[Article]) -> None:
        self.base = base
        self.articles = articles
        self.by_path = {a.path: a for a in articles}

    def url(self, path: str) -> str:
        return self.base + path

    def _header(self) -> str:
        links = "".join(f'<li><a href="/section/{i}">{_e(name)}</a></li>' for i, name in enumerate(NAV))
        return (f'<header class="site-header"><a class="logo" href="/">أخبار الاختبار</a>'
                f'<nav class="main-nav"><ul>{links}</ul></nav></header>')

    def _share(self) -> str:
        return '<div class="share-buttons">' + "".join(f'<a class="share" href="#">{_e(s)}</a>' for s in SHARE) + "</div>"

    def _related(self, article: Article) -> str:
        others = [a for a in self.articles if a is not article][:4]
        items = "".join(f'<li><a href="{a.path}">{_e(a.title)}</a></li>' for a in others)
        return f'<aside class="related"><h3>{RELATED}</h3><ul>{items}</ul></aside>'

    def _footer(self) -> str:
        return (f'<div class="newsletter"><p>{NEWSLETTER}</p><form><input type="email"><button>اشترك</button></form></div>'
                f'<footer class="site-footer"><p>{FOOTER}</p><a href="/about">من نحن</a> <a href="/privacy">الخصوصية</a></footer>')

    def page(self, article: Article) -> str:
        body = "".join(f"<p>{_e(p)}</p>" for p in article.paragraphs)
        canonical = self.url(article.path)
        published = f"{article.date}T09:30:00+03:00"
        head = (f'<meta charset="utf-8"><title>{_e(article.title)} | أخبار الاختبار</title>'
                f'<link rel="canonical" href="{canonical}">'
                f'<meta property="og:title" content="{_e(article.title)}">'
                f'<meta property="og:url" content="{canonical}">')
        if article.author:
            head += f'<meta name="author" content="{_e(article.author)}">'
        ad = f'<div class="ad-slot" id="ad-{article.number}"><p>{AD}</p></div>'
        if article.layout == "a":  # <article>, dates in article:published_time
            head += f'<meta property="article:published_time" content="{published}">'
            main = (f'<main><article class="story"><h1>{_e(article.title)}</h1>'
                    f'<div class="byline">{_e(article.author)}</div>{self._share()}{body}</article>'
                    f'{ad}{self._related(article)}</main>')
        elif article.layout == "b":  # divs only, dates in JSON-LD
            ld = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": article.title,
                  "datePublished": published, "mainEntityOfPage": canonical,
                  "author": {"@type": "Person", "name": article.author or "أخبار الاختبار"}}
            head += f'<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>'
            main = (f'<div id="content"><div class="col-main"><div class="headline"><h1>{_e(article.title)}</h1></div>'
                    f'{self._share()}<div class="story-body">{body}</div></div>'
                    f'<div class="col-side">{ad}{self._related(article)}</div></div>')
        else:  # <section> with a <time> element and both date signals
            head += f'<meta property="article:published_time" content="{published}">'
            main = (f'<div class="wrap"><section class="article-section"><h1 class="title">{_e(article.title)}</h1>'
                    f'<p class="dateline"><time datetime="{published}">{article.date}</time></p>'
                    f'<div class="article-text">{body}</div>{self._share()}</section>'
                    f'{self._related(article)}{ad}</div>')
        return (f'<!DOCTYPE html><html lang="ar" dir="rtl"><head>{head}</head><body>{self._header()}'
                f'{main}{self._footer()}<script>window.analytics = {{"page": "{article.number}"}};</script></body></html>')

    def rss(self, articles: list[Article], extra: list[str]) -> str:
        items = "".join(
            f"<item><title>{_e(a.title)}</title><link>{self.url(a.path)}?utm_source=rss</link>"
            f"<guid>{self.url(a.path)}</guid><pubDate>{a.date}</pubDate></item>" for a in articles)
        items += "".join(f"<item><title>bad</title><link>{self.url(path)}</link></item>" for path in extra)
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>أخبار الاختبار</title>'
                f"<link>{self.base}/</link><description>RSS</description>{items}</channel></rss>")

    def atom(self, articles: list[Article], extra: list[str]) -> str:
        entries = "".join(
            f'<entry><title>{_e(a.title)}</title><link rel="alternate" href="{self.url(a.path)}"/>'
            f"<id>{self.url(a.path)}</id><updated>{a.date}T09:30:00Z</updated></entry>" for a in articles)
        entries += "".join(f'<entry><title>bad</title><link href="{self.url(path)}"/><id>{path}</id></entry>'
                           for path in extra)
        return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>أخبار الاختبار</title><id>{self.base}/</id><updated>2018-03-01T00:00:00Z</updated>{entries}</feed>")


class SiteServer:
    """Serves ``NewsSite`` on 127.0.0.1 (a free port) in a thread; ``hits`` counts requests by path."""

    def __init__(self, articles: list[Article], slow_seconds: float = 3.0, huge_bytes: int = 3_000_000) -> None:
        self.articles = articles
        self.slow_seconds = slow_seconds
        self.huge_bytes = huge_bytes
        self.hits: dict[str, int] = {}
        self.user_agents: set[str] = set()
        self.hosts: set[str] = set()  # the Host headers received (a name stays a name when connecting by address)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.site = self  # type: ignore[attr-defined]
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.site = NewsSite(self.base, articles)
        half = len(articles) // 2 + 2  # the two feeds overlap by a few articles (the same link twice)
        self.rss_articles, self.atom_articles = articles[:half], articles[half - 4:]
        self.extra_rss = ["/slow", "/huge", "/loop"]
        self.extra_atom = ["/report.pdf", "/bomb", "/mirror" + articles[0].path]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> SiteServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def count(self, path: str) -> int:
        with self._lock:
            return self.hits.get(path, 0)

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.hits[path] = self.hits.get(path, 0) + 1
            self.user_agents.add(handler.headers.get("User-Agent", ""))
            self.hosts.add(handler.headers.get("Host", ""))
        site = self.site
        if path == "/rss.xml":
            return _send(handler, 200, "application/rss+xml", site.rss(self.rss_articles, self.extra_rss))
        if path == "/atom.xml":
            return _send(handler, 200, "application/atom+xml", site.atom(self.atom_articles, self.extra_atom))
        if path in site.by_path:
            return _send(handler, 200, "text/html; charset=utf-8", site.page(site.by_path[path]))
        if path.startswith("/mirror/"):  # the same article again, at another address, without a canonical link
            article = site.by_path.get(path.removeprefix("/mirror"))
            if article is not None:
                page = site.page(article).replace(f'<link rel="canonical" href="{site.url(article.path)}">', "")
                return _send(handler, 200, "text/html; charset=utf-8",
                             page.replace(f'content="{site.url(article.path)}"', f'content="{site.url(path)}"'))
        if path == "/slow":
            self._stop.wait(self.slow_seconds)
            return _send(handler, 200, "text/html; charset=utf-8", "<html><body><p>late</p></body></html>")
        if path == "/huge":
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html; charset=utf-8")
            handler.send_header("Connection", "close")
            handler.end_headers()  # no Content-Length: the cap must hold while reading
            handler.close_connection = True
            chunk = ("<p>" + "حشو " * 2000 + "</p>").encode()
            try:
                for _ in itertools.count():
                    handler.wfile.write(chunk)
                    if _ * len(chunk) > self.huge_bytes:
                        break
            except (BrokenPipeError, ConnectionResetError):
                pass
            return None
        if path in ("/loop", "/loop2"):
            handler.send_response(302)
            handler.send_header("Location", "/loop2" if path == "/loop" else "/loop")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return None
        if path == "/bomb":  # 10 KB on the wire, 5 MB once inflated
            page = b"<html><body><p>" + b"a" * 5_000_000 + b"</p></body></html>"
            return _send(handler, 200, "text/html; charset=utf-8", gzip.compress(page), encoding="gzip")
        if path == "/report.pdf":
            return _send(handler, 200, "application/pdf", "%PDF-1.4 not a page")
        return _send(handler, 404, "text/html; charset=utf-8", "<html><body>not found</body></html>")


def _send(handler: BaseHTTPRequestHandler, status: int, content_type: str, body: str | bytes,
          encoding: str | None = None) -> None:
    data = body.encode("utf-8") if isinstance(body, str) else body
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    if encoding:
        handler.send_header("Content-Encoding", encoding)
    handler.end_headers()
    try:
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self.server.site.respond(self)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


def wait_listening(server: SiteServer, timeout: float = 5.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(server.base + "/nothing", timeout=1)
        except Exception as exc:  # a 404 is an answer
            if getattr(exc, "code", None) == 404:
                return
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
