"""Corpus loaders: .txt/.md, .jsonl(.gz) and .html files -> Document; bad input is
reported (file, line, reason) and skipped, never fatal.

Each article keeps its publication date when one is known (JSON Lines ``date``; an HTML page's
metadata, read by trafilatura; a ``date:`` header line or front matter in a .txt/.md file), as
``YYYY-MM-DD``; a date that is not one is dropped with a warning, the article is kept. Site
furniture is removed at load (retrieval/ingest/furniture.py): trafilatura keeps only the article of an
HTML page; text articles lose known furniture lines and the lines their source repeats under
many articles (a first pass over the corpus counts them). ``LoadReport`` counts what went.

Hostile input (docs/hostile-input.md): every corpus file must resolve inside the corpus folder (a link
out of it is refused); every article, whatever its format, passes ``clean_document``: control
characters and lone surrogates out, the title cut to MAX_TITLE_CHARS, a link that is not http(s) or
is longer than MAX_URL_CHARS dropped."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import logging
import os
import re
import stat
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from retrieval.ingest.furniture import RepeatedLines, strip_furniture
from retrieval.models import Document
from retrieval.settings import Settings
from retrieval.text.calendar_ar import parse_date

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson")
HTML_SUFFIXES = (".html", ".htm")
SUPPORTED = TEXT_SUFFIXES + JSONL_SUFFIXES + HTML_SUFFIXES
MAX_FILE_BYTES = 20_000_000  # a single article file above this is refused (a 50 MB dump is not an article)
MAX_DOCUMENT_CHARS = 200_000  # one JSON line's text above this is refused
# a JSON line above this is refused unread (200k characters as \uXXXX escapes, plus metadata);
# without it one huge line (or a small .gz that inflates to gigabytes) is read whole into memory
MAX_LINE_BYTES = 4_000_000
_SURROGATES = re.compile("[\ud800-\udfff]")  # halves of a UTF-16 pair, alone (JSON escapes, undecodable file names)


@dataclass
class Skipped:
    """One item the loader could not use."""

    path: str
    reason: str
    line: int | None = None

    def __post_init__(self) -> None:
        self.path = _SURROGATES.sub("\ufffd", self.path)  # a file name that is not UTF-8: printable, JSON-writable

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


@dataclass
class LoadReport:
    """Counts and skipped items of one corpus read."""

    files: int = 0
    documents: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[Skipped] = field(default_factory=list)  # kept articles that lost something (a bad date)
    furniture_lines: int = 0  # lines of site furniture removed from the articles' text

    def skip(self, path: str, reason: str, line: int | None = None) -> None:
        item = Skipped(path, reason, line)
        self.skipped.append(item)
        log.warning("skipped %s", item)

    def warn(self, path: str, reason: str, line: int | None = None) -> None:
        item = Skipped(path, reason, line)
        self.warnings.append(item)
        log.warning("%s", item)


class _Silent(LoadReport):
    """The first pass's report: its problems are reported by the second pass."""

    def skip(self, path: str, reason: str, line: int | None = None) -> None:
        pass

    def warn(self, path: str, reason: str, line: int | None = None) -> None:
        pass


# text, its group (the source whose repeated lines are furniture) -> the text to keep
Cleaner = Callable[[str, str], str]


def corpus_files(root: Path) -> list[Path]:
    """Supported files under ``root`` (or ``root`` itself), sorted; symlinked folders are not followed."""
    root = Path(root)
    if root.is_file():
        return [root]
    found: list[Path] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(SUPPORTED):
                found.append(Path(folder) / name)
    return found


def load_corpus(root: Path, report: LoadReport | None = None, limits: FieldLimits | None = None) -> Iterator[Document]:
    """Stream the documents of a corpus folder or file, each cleaned by ``clean_document`` with
    ``limits`` (default: the settings' defaults); problems go to ``report``."""
    root = Path(root)
    report = report if report is not None else LoadReport()
    limits = limits or FieldLimits()
    base = root if root.is_dir() else root.parent
    files = corpus_files(root)
    refused = _refused_files(files, root, base)
    repeats = _count_lines([path for path in files if path not in refused], base)

    def clean(text: str, group: str) -> str:
        kept, removed = strip_furniture(text, group, repeats)
        report.furniture_lines += removed
        return kept

    seen_ids: set[str] = set()
    for path in files:
        rel = _relative(path, base)
        report.files += 1
        if path in refused:
            report.skip(rel, refused[path])
            continue
        try:
            for raw in _load_file(path, rel, report, clean):
                line = int(raw.source.rsplit(":", 1)[1]) if raw.source != rel else None
                doc, problems = clean_document(raw, limits)
                for problem in problems:
                    report.warn(rel, problem, line)
                if not doc.text.strip():
                    report.skip(rel, "no text (once control characters and broken characters are removed)", line)
                    continue
                if doc.id in seen_ids and _generated_id(raw, rel) and doc.source not in seen_ids:
                    # a.txt and a.md, or c.jsonl and c.jsonl.gz: ids made from the path collide, the paths do not
                    doc = doc.model_copy(update={"id": doc.source})
                if doc.id in seen_ids:
                    report.skip(rel, f"duplicate document id {doc.id!r}", line)
                    continue
                seen_ids.add(doc.id)
                report.documents += 1
                yield doc
        except OSError as exc:  # unreadable, vanished, permission denied, symlink loop, not gzip
            report.skip(rel, f"cannot read: {exc.strerror or exc}")
        except (EOFError, zlib.error) as exc:  # a truncated or corrupt .gz: the lines before it are kept
            report.skip(rel, f"cannot read: damaged gzip data ({exc})")


def _refused_files(files: list[Path], root: Path, base: Path) -> dict[Path, str]:
    """The files not to read, with the reason: a link that resolves outside the corpus folder (a leak
    of whatever it points to), and a second name (a link) of a file the corpus holds already. A file
    given as the corpus itself is the operator's choice and always read. A dangling or looping link is
    left to the reader, which reports it."""
    if root.is_file():
        return {}
    top = root.resolve()
    refused: dict[Path, str] = {}
    names: dict[Path, list[Path]] = {}
    for path in files:
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):  # dangling, or a loop (RuntimeError before Python 3.13)
            continue
        if not real.is_relative_to(top):
            refused[path] = ("refused: a link to a file outside the corpus folder (only files inside it are read; "
                             "copy the file into the corpus to index it)")
        else:
            names.setdefault(real, []).append(path)
    for paths in names.values():
        kept = next((path for path in paths if not path.is_symlink()), paths[0])
        for path in paths:
            if path != kept:
                refused[path] = f"a second name (a link) for {_relative(kept, base)}, which is read once"
    return refused


def _count_lines(files: list[Path], base: Path) -> RepeatedLines:
    """First pass: the lines of every text article, counted per source (HTML pages are left to
    trafilatura)."""
    repeats = RepeatedLines()

    def count(text: str, group: str) -> str:
        repeats.add(group, text)
        return text

    for path in files:
        if path.name.lower().endswith(HTML_SUFFIXES):
            continue
        try:
            for _ in _load_file(path, _relative(path, base), _Silent(), count):
                pass
        except (OSError, EOFError, zlib.error):
            pass  # reported by the second pass
    return repeats


def _generated_id(doc: Document, rel: str) -> bool:
    """Whether ``doc.id`` was made from its file name (not given by the record)."""
    if doc.source == rel:
        return doc.id == rel.rsplit(".", 1)[0]
    line = doc.source.rsplit(":", 1)[-1]
    return doc.id == f"{Path(rel).name.split('.', 1)[0]}:{line}"


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def _load_file(path: Path, rel: str, report: LoadReport, clean: Cleaner) -> Iterator[Document]:
    name = path.name.lower()
    info = path.stat()  # raises OSError for a symlink loop or a dangling link: reported by the caller
    if not stat.S_ISREG(info.st_mode):
        report.skip(rel, "not a regular file")
        return
    size = info.st_size
    if size == 0:
        report.skip(rel, "empty file")
        return
    if name.endswith(JSONL_SUFFIXES):
        yield from _load_jsonl(path, rel, report, clean)
        return
    if size > MAX_FILE_BYTES:
        report.skip(rel, f"too large for one article ({size / 1e6:.0f} MB > {MAX_FILE_BYTES / 1e6:.0f} MB)")
        return
    text = _decode(path.read_bytes(), rel, report)
    if text is None:
        return
    doc_id = rel.rsplit(".", 1)[0]
    if name.endswith(HTML_SUFFIXES):
        doc = _html_document(text, doc_id, rel, report)
        if doc is not None and (text := clean(doc.text, "")).strip():  # what trafilatura kept of a "related" list
            yield doc.model_copy(update={"text": text})
        elif doc is not None:
            report.skip(rel, "nothing but site furniture (navigation, share or advertisement lines)")
        return
    fields, text = _header(text, rel, report)
    if not text.strip():
        report.skip(rel, "no text")
        return
    text = clean(text, f"folder:{rel.rpartition('/')[0]}")
    if not text.strip():
        report.skip(rel, "nothing but site furniture (navigation, share or advertisement lines)")
        return
    title = fields.get("title") or _first_line(text)
    if name.endswith(".md") and "title" not in fields:
        title = title.lstrip("#").strip()  # "# Headline" -> "Headline"
    yield Document(id=doc_id, title=title or doc_id, text=text, source=rel, url=_optional_str(fields.get("url")),
                   date=_date(fields.get("date"), rel, None, report))


def _html_document(html: str, doc_id: str, rel: str, report: LoadReport) -> Document | None:
    """The article of a page (trafilatura: text without the page's furniture, title, date from
    the metadata, canonical URL)."""
    from retrieval.ingest.extract import extract_article

    try:
        article = extract_article(html, None, min_chars=1)
    except ValueError as exc:  # NotAnArticle, or a page lxml cannot parse
        report.skip(rel, f"no article text in the page ({exc})")
        return None
    url = article.url if article.url.startswith(("http://", "https://")) else None
    return Document(id=doc_id, title=article.title or doc_id, text=article.text, source=rel, url=url,
                    date=_date(article.date, rel, None, report))


# A header at the top of a .txt/.md file: "date: 2018-03-06" lines, or front matter between "---" lines
_HEADER_FIELD = re.compile(r"^\s*(date|title|url|التاريخ|العنوان|الرابط)\s*:\s*(.*?)\s*$", re.IGNORECASE)
_HEADER_KEYS = {"التاريخ": "date", "العنوان": "title", "الرابط": "url"}
MAX_FRONT_MATTER_LINES = 40


def _header(text: str, rel: str, report: LoadReport) -> tuple[dict[str, str], str]:
    """(fields, text after the header) of a text article; no header -> ({}, text unchanged)."""
    lines = text.split("\n")
    fields: dict[str, str] = {}
    if lines[0].strip() == "---":
        closing = next((i for i, line in enumerate(lines[1:MAX_FRONT_MATTER_LINES], 1) if line.strip() == "---"), None)
        if closing is None:
            report.warn(rel, "front matter ('---' on the first line) is not closed by a second '---'; read as text")
            return {}, text
        for line in lines[1:closing]:
            if match := _HEADER_FIELD.match(line):
                fields[_HEADER_KEYS.get(match[1], match[1].lower())] = match[2].strip("\"'")
        return fields, "\n".join(lines[closing + 1:]).lstrip("\r\n")
    taken = 0
    while taken < len(lines) and (match := _HEADER_FIELD.match(lines[taken])):
        fields[_HEADER_KEYS.get(match[1], match[1].lower())] = match[2]
        taken += 1
    return (fields, "\n".join(lines[taken:]).lstrip("\r\n")) if taken else ({}, text)


def _date(value: object, rel: str, line: int | None, report: LoadReport) -> str | None:
    """A date as YYYY-MM-DD; one that is not a date is dropped with a warning (the article stays)."""
    if value in (None, ""):
        return None
    day = parse_date(value)
    if day is None:
        report.warn(rel, f"date {str(value)[:40]!r} is not a date (YYYY-MM-DD expected); the article is kept without one", line)
        return None
    return day.isoformat()


def _decode(data: bytes, rel: str, report: LoadReport) -> str | None:
    """UTF-8 (or UTF-16/UTF-8 with a BOM); binary and other encodings are refused."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                report.skip(rel, f"invalid {encoding} text")
                return None
    if b"\x00" in data[:8192]:
        report.skip(rel, "binary file (NUL bytes)")
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        report.skip(rel, f"not UTF-8 (byte {exc.start}); convert it with iconv -t UTF-8")
        return None


FIRST_LINE_TITLE_CHARS = 120  # a title made from the text's first line (no headline given) is cut to this


def _first_line(text: str) -> str:
    """The first non-empty line, as a title: an article without a headline starts with a
    long sentence, which is cut at a word boundary so citations stay readable."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return shorten(line, FIRST_LINE_TITLE_CHARS)
    return ""


def shorten(line: str, limit: int) -> str:
    """``line`` cut to at most ``limit`` characters, at a word boundary when one is near, with "…"."""
    if len(line) <= limit:
        return line
    limit = max(limit, 2)
    cut = line.rfind(" ", 0, limit - 1)
    return line[: cut if cut > limit // 2 else limit - 1].rstrip("،,;: ") + "…"


def _load_jsonl(path: Path, rel: str, report: LoadReport, clean: Cleaner) -> Iterator[Document]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    stem = path.name.split(".", 1)[0]
    with opener(path, "rb") as handle:
        for line_no, raw in enumerate(_lines(handle), start=1):
            if raw is None:
                report.skip(rel, f"line too long (over {MAX_LINE_BYTES / 1e6:.0f} MB)", line_no)
                continue
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                report.skip(rel, "line is not UTF-8", line_no)
                continue
            except json.JSONDecodeError as exc:
                report.skip(rel, f"malformed JSON ({exc.msg})", line_no)
                continue
            doc = _record_to_document(record, rel, stem, line_no, report, clean)
            if doc is not None:
                yield doc


def _lines(handle) -> Iterator[bytes | None]:
    """The lines of a binary file, each read at most MAX_LINE_BYTES at a time; None for a
    longer line, whose remainder is skipped without being kept in memory."""
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = handle.readline(1 << 20)
            yield None
        else:
            yield raw


def _record_to_document(record: object, rel: str, stem: str, line_no: int, report: LoadReport,
                        clean: Cleaner) -> Document | None:
    if not isinstance(record, dict):
        report.skip(rel, "line is not a JSON object", line_no)
        return None
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        report.skip(rel, "missing or empty 'text'", line_no)
        return None
    if len(text) > MAX_DOCUMENT_CHARS:
        report.skip(rel, f"'text' too long ({len(text)} characters)", line_no)
        return None
    source = record.get("source")
    text = clean(text, f"source:{source}" if isinstance(source, str) and source else f"file:{rel}")
    if not text.strip():
        report.skip(rel, "nothing but site furniture (navigation, share or advertisement lines)", line_no)
        return None
    raw_id = record.get("id")
    doc_id = str(raw_id) if raw_id not in (None, "") else f"{stem}:{line_no}"
    title = record.get("title")
    title = title.strip() if isinstance(title, str) and title.strip() else _first_line(text)
    meta = {key: str(value) for key in ("source", "category", "author") if (value := record.get(key))}
    return Document(
        id=doc_id,
        title=title,
        text=text,
        source=f"{rel}:{line_no}",
        url=_optional_str(record.get("url")),
        date=_date(record.get("date"), rel, line_no, report),
        metadata=meta,
    )


def _optional_str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


@dataclass(frozen=True)
class FieldLimits:
    """The caps ``clean_document`` applies (MAX_TITLE_CHARS, MAX_URL_CHARS)."""

    max_title_chars: int = Settings.default("max_title_chars")
    max_url_chars: int = Settings.default("max_url_chars")

    @classmethod
    def from_settings(cls, settings: Settings) -> FieldLimits:
        return cls(max_title_chars=settings.index.max_title_chars, max_url_chars=settings.index.max_url_chars)


MAX_ID_CHARS = 4096  # a record's id (PATH_MAX: an id made from a file's path always fits)
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]  # C0, DEL, C1
# in text: line breaks stay (a control that breaks lines becomes one), tabs stay, the rest go
_TEXT_TABLE = {c: ("\n" if chr(c) in "\r\v\f\x1c\x1d\x1e\x85" else None) for c in _CONTROLS if chr(c) not in "\t\n"}
# in a one-line field: a control that is whitespace becomes a space (collapsed later), the rest go
_LINE_TABLE = {c: (" " if chr(c).isspace() else None) for c in _CONTROLS}


def clean_text(text: str) -> str:
    """Article text: Windows and old Mac line ends as newlines; control characters (but newline and
    tab) and lone surrogates removed."""
    return _SURROGATES.sub("", text.replace("\r\n", "\n").translate(_TEXT_TABLE))


def clean_line(value: str, limit: int | None = None) -> str:
    """A one-line field: control characters and lone surrogates removed, whitespace collapsed to
    single spaces, cut to ``limit`` characters."""
    line = " ".join(_SURROGATES.sub("", value.translate(_LINE_TABLE)).split())
    return shorten(line, limit) if limit is not None else line


def clean_url(value: str, max_chars: int) -> tuple[str | None, str | None]:
    """(the address, None), or (None, why it was dropped): control characters, whitespace and lone
    surrogates removed; only an http(s) address of at most ``max_chars`` characters is kept."""
    url = "".join(_SURROGATES.sub("", value.translate(_LINE_TABLE)).split())
    if not url:
        return None, None
    if len(url) > max_chars:
        return None, f"link dropped: {len(url):,} characters, over MAX_URL_CHARS ({max_chars:,}); the article is kept without it"
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None, f"link dropped: {url[:40]!r} is not an http(s) address; the article is kept without it"
    return url, None


def clean_document(doc: Document, limits: FieldLimits) -> tuple[Document, list[str]]:
    """The one cleaning every loaded article passes (any format): text, title, link, id, source and
    metadata freed of control characters and lone surrogates; the title cut to
    ``limits.max_title_chars`` (an empty one made from the text), a bad or over-long link dropped.
    Returns the document and what the report should say about it (the article is kept)."""
    problems: list[str] = []
    text = clean_text(doc.text)
    title = clean_line(doc.title)
    if len(title) > limits.max_title_chars:
        problems.append(f"title cut to MAX_TITLE_CHARS ({limits.max_title_chars:,} characters; it had {len(title):,})")
        title = shorten(title, limits.max_title_chars)
    doc_id = clean_line(doc.id, MAX_ID_CHARS) or clean_line(doc.source)  # an id of nothing but controls: its place
    title = title or shorten(_first_line(text), limits.max_title_chars) or doc_id
    url, dropped = clean_url(doc.url, limits.max_url_chars) if doc.url else (None, None)
    if dropped:
        problems.append(dropped)
    metadata = {key: line for key, value in doc.metadata.items()
                if (line := clean_line(str(value), limits.max_title_chars))}
    cleaned = doc.model_copy(update={"id": doc_id, "title": title, "text": text, "url": url, "metadata": metadata,
                                     "source": clean_line(doc.source)})
    return cleaned, problems


def fingerprint(doc: Document) -> str:
    """Content hash of one document (id, title, text and date: a corrected date is an update)."""
    digest = hashlib.sha256()
    for part in (doc.id, doc.title, doc.text, doc.date or ""):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()
