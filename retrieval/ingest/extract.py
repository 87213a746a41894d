"""A news page -> its article: main text, title, date, author and canonical URL (trafilatura).
Everything around the article (header, navigation, share buttons, related links, ads, footer) is
left out; the date comes from ``article:published_time``, JSON-LD, ``<time>`` and the like."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit


@dataclass
class Extracted:
    """What a page holds worth indexing."""

    title: str
    text: str
    date: str | None  # YYYY-MM-DD
    author: str | None
    url: str  # the canonical URL when the page names one on its own site (``canonical_url``), else where it was fetched ("" if none)


class NotAnArticle(ValueError):
    """The page has no article text (an index page, an error page, a page of links)."""


# The date from the page's metadata only (article:published_time, JSON-LD datePublished, <time>,
# the URL): htmldate's extensive search would take any year in the text ("... in 2017" -> 2017-01-01).
# original_date: the publication date, not the last modification.
_DATE_PARAMS = {"extensive_search": False, "original_date": True}


def extract_article(html: str | bytes, url: str | None, min_chars: int = 100) -> Extracted:
    """The article on ``html`` (fetched from ``url``; None for a local file); raises
    NotAnArticle when there is none (or fewer than ``min_chars`` characters of it)."""
    import trafilatura

    # favor_precision: a line of furniture in an answer is worse than a lost closing line
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False,
                                      include_tables=False, favor_precision=True, deduplicate=False,
                                      date_extraction_params=_DATE_PARAMS)
    if doc is None:
        raise NotAnArticle("no article text found")
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    title = " ".join((data.get("title") or "").split())
    lines = [" ".join(line.split()) for line in (data.get("text") or "").splitlines()]
    lines = [line for line in lines if line]
    if lines and title and lines[0] == title:
        lines = lines[1:]  # the headline as the page's first paragraph: it is kept as the title already
    text = "\n".join(lines)
    if len(text) < min_chars:
        raise NotAnArticle(f"no article text found ({len(text)} characters)")
    return Extracted(title=title or lines[0][:120], text=text, date=data.get("date") or None,
                     author=" ".join((data.get("author") or "").split()) or None, url=canonical_url(data.get("url"), url))


def canonical_url(canonical: str | None, fetched: str | None) -> str:
    """The page's canonical URL if it is an http(s) address on the site it was fetched from, else the
    fetched address: a page must not pass itself off as another site's article (shown to users as the
    source, and taken for that article when deduplicating). One site: the same host, or one host
    inside the other once a leading ``www.`` is dropped (www.site.com, site.com, m.site.com,
    news.site.com are one site; news.site.com and sport.site.com are two; no public-suffix list).
    Without a fetched address (a local file) the page's own http(s) canonical URL is all there is."""
    if canonical:
        canonical = urljoin(fetched or "", canonical.strip())
        parts = urlsplit(canonical)
        if parts.scheme in ("http", "https") and parts.hostname and (not fetched or same_site(parts.hostname, fetched)):
            return canonical
    return fetched or ""


def same_site(host: str, url: str) -> bool:
    """Whether ``host`` and the host of ``url`` are one site (see ``canonical_url``)."""
    mine = (urlsplit(url).hostname or "").rstrip(".").removeprefix("www.")
    theirs = host.lower().rstrip(".").removeprefix("www.")
    if mine == theirs:
        return bool(mine)
    inner, outer = (mine, theirs) if len(mine) > len(theirs) else (theirs, mine)
    # a one-word parent ("com", "localhost") is not a site; an address (127.0.0.1) has no subdomains
    return "." in outer and not outer.replace(".", "").isdigit() and ":" not in outer and inner.endswith("." + outer)
