"""Corpus loaders: .txt/.md, .jsonl(.gz) and .html files -> Document; bad input is
reported (file, line, reason) and skipped, never fatal."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import logging
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from retrieval.models import Document

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


@dataclass
class Skipped:
    """One item the loader could not use."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


@dataclass
class LoadReport:
    """Counts and skipped items of one corpus read."""

    files: int = 0
    documents: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    def skip(self, path: str, reason: str, line: int | None = None) -> None:
        item = Skipped(path, reason, line)
        self.skipped.append(item)
        log.warning("skipped %s", item)


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


def load_corpus(root: Path, report: LoadReport | None = None) -> Iterator[Document]:
    """Stream the documents of a corpus folder or file; problems go to ``report``."""
    root = Path(root)
    report = report if report is not None else LoadReport()
    base = root if root.is_dir() else root.parent
    seen_ids: set[str] = set()
    for path in corpus_files(root):
        rel = _relative(path, base)
        report.files += 1
        try:
            for doc in _load_file(path, rel, report):
                if doc.id in seen_ids and _generated_id(doc, rel) and doc.source not in seen_ids:
                    # a.txt and a.md, or c.jsonl and c.jsonl.gz: ids made from the path collide, the paths do not
                    doc = doc.model_copy(update={"id": doc.source})
                if doc.id in seen_ids:
                    line = int(doc.source.rsplit(":", 1)[1]) if doc.source != rel else None
                    report.skip(rel, f"duplicate document id {doc.id!r}", line)
                    continue
                seen_ids.add(doc.id)
                report.documents += 1
                yield doc
        except OSError as exc:  # unreadable, vanished, permission denied, symlink loop, not gzip
            report.skip(rel, f"cannot read: {exc.strerror or exc}")
        except (EOFError, zlib.error) as exc:  # a truncated or corrupt .gz: the lines before it are kept
            report.skip(rel, f"cannot read: damaged gzip data ({exc})")


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


def _load_file(path: Path, rel: str, report: LoadReport) -> Iterator[Document]:
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
        yield from _load_jsonl(path, rel, report)
        return
    if size > MAX_FILE_BYTES:
        report.skip(rel, f"too large for one article ({size / 1e6:.0f} MB > {MAX_FILE_BYTES / 1e6:.0f} MB)")
        return
    text = _decode(path.read_bytes(), rel, report)
    if text is None:
        return
    if name.endswith(HTML_SUFFIXES):
        title, text = parse_html(text)
    else:
        title = _first_line(text)
        if name.endswith(".md"):
            title = title.lstrip("#").strip()  # "# Headline" -> "Headline"
    if not text.strip():
        report.skip(rel, "no text")
        return
    doc_id = rel.rsplit(".", 1)[0]
    yield Document(id=doc_id, title=title or doc_id, text=text, source=rel)


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


MAX_TITLE_CHARS = 120


def _first_line(text: str) -> str:
    """The first non-empty line, as a title: an article without a headline starts with a
    long sentence, which is cut at a word boundary so citations stay readable."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            if len(line) <= MAX_TITLE_CHARS:
                return line
            cut = line.rfind(" ", 0, MAX_TITLE_CHARS)
            return line[: cut if cut > MAX_TITLE_CHARS // 2 else MAX_TITLE_CHARS].rstrip("،,;: ") + "…"
    return ""


def _load_jsonl(path: Path, rel: str, report: LoadReport) -> Iterator[Document]:
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
            doc = _record_to_document(record, rel, stem, line_no, report)
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


def _record_to_document(record: object, rel: str, stem: str, line_no: int, report: LoadReport) -> Document | None:
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
        date=_optional_str(record.get("date")),
        metadata=meta,
    )


def _optional_str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


_SKIP_TAGS = {"script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg", "template"}
_BLOCK_TAGS = {
    "p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "article", "section", "main",
    "blockquote", "tr", "td", "th", "ul", "ol", "figcaption", "pre", "hr", "title",
}


class _TextExtractor(HTMLParser):
    """Collects the title and the visible text, preferring <article>/<main> when present."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.h1 = ""
        self._skip_depth = 0
        self._in_title = False
        self._in_h1 = False
        self._main_depth = 0
        self.body: list[str] = []
        self.main: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        if self._skip_depth:  # nothing inside <nav>, <svg> ...: not even an icon's <title>
            return
        if tag == "title":
            self._in_title = not self.title  # the page's first <title> only
        elif tag == "h1":
            self._in_h1 = True
        if tag in ("article", "main"):
            self._main_depth += 1
        if tag in _BLOCK_TAGS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self._skip_depth:
            self._skip_depth -= 1
            return
        if self._skip_depth:
            return
        if tag == "title":
            self._in_title = False
        elif tag == "h1":
            self._in_h1 = False
        if tag in ("article", "main") and self._main_depth:
            self._main_depth -= 1
        if tag in _BLOCK_TAGS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self._skip_depth:
            return
        if self._in_h1:
            self.h1 += data
        self.body.append(data)
        if self._main_depth:
            self.main.append(data)

    def _newline(self) -> None:
        self.body.append("\n")
        if self._main_depth:
            self.main.append("\n")


def parse_html(html: str) -> tuple[str, str]:
    """(title, main text) of an HTML page, via the standard library's HTML parser."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    parts = parser.main if "".join(parser.main).strip() else parser.body
    lines = (" ".join(line.split()) for line in "".join(parts).splitlines())
    text = "\n".join(line for line in lines if line)
    title = " ".join((parser.title or parser.h1).split()) or _first_line(text)
    return title, text


def fingerprint(doc: Document) -> str:
    """Content hash of one document (id, title and text)."""
    digest = hashlib.sha256()
    for part in (doc.id, doc.title, doc.text):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()
