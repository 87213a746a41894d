"""Corpus loaders: each format, and bad files reported (file, line, reason) without stopping."""

from __future__ import annotations

import codecs
import gzip
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import FakeEmbedder

from retrieval.ingest.build import build_index
from retrieval.ingest.documents import MAX_FILE_BYTES, LoadReport, load_corpus
from retrieval.settings import Settings

DATA = Path(__file__).resolve().parent / "data"
FORMATS = DATA / "formats"
ANT_SAMPLE = DATA / "ant_sample.jsonl.gz"


def load(root: Path) -> tuple[dict, LoadReport]:
    report = LoadReport()
    docs = {doc.id: doc for doc in load_corpus(root, report)}
    return docs, report


def reasons(report: LoadReport) -> dict[tuple[str, int | None], str]:
    return {(item.path, item.line): item.reason for item in report.skipped}


# --- formats -------------------------------------------------------------------------------


def test_txt_title_is_first_non_empty_line() -> None:
    docs, report = load(FORMATS / "article.txt")
    doc = docs["article"]
    assert doc.title == "مصر تستضيف محادثات جديدة حول غزة"
    assert "استضافت القاهرة اليوم جولة جديدة من المحادثات." in doc.text
    assert doc.source == "article.txt"
    assert report.skipped == [] and report.documents == 1


def test_md_title_without_heading_marks() -> None:
    docs, _ = load(FORMATS / "article.md")
    doc = docs["article"]
    assert doc.title == "اتفاق تجاري بين المغرب وتونس"
    assert "وقع البلدان اتفاقا تجاريا جديدا" in doc.text


def test_jsonl_fields_and_stable_ids() -> None:
    docs, report = load(FORMATS / "articles.jsonl")
    assert set(docs) == {"news-1", "articles:2", "articles:4"}  # line numbers count blank lines
    first = docs["news-1"]
    assert first.title == "افتتاح معرض الكتاب"
    assert first.url == "https://example.org/book-fair"
    assert first.date == "2024-01-25"
    assert first.metadata == {"source": "example"}
    assert first.source == "articles.jsonl:1"
    # title falls back to the first line of the text; url and date stay empty
    second = docs["articles:2"]
    assert second.title == second.text.splitlines()[0]
    assert second.url is None and second.date is None
    assert docs["articles:4"].title == "بلا معرّف"
    assert report.skipped == []
    # the same file gives the same ids again
    assert set(load(FORMATS / "articles.jsonl")[0]) == set(docs)


def test_jsonl_gz_is_read_directly() -> None:
    with gzip.open(ANT_SAMPLE, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    docs, report = load(ANT_SAMPLE)
    assert report.skipped == []
    assert len(docs) == len(records) == report.documents
    for record in records:
        doc = docs[record["id"]]
        assert doc.title == record["title"]
        assert doc.url == record["url"]
        assert doc.date == record["date"]
        assert doc.text == record["text"]
        assert doc.metadata["category"] == record["category"]


def test_html_title_main_text_and_entities() -> None:
    docs, report = load(FORMATS / "article.html")
    doc = docs["article"]
    assert doc.title == "انتخابات بلدية في الأردن"  # trafilatura takes the article's headline
    assert '"بهدوء"' in doc.text and "29%" in doc.text  # &quot; and &#37; decoded
    assert "وقالت الهيئة المستقلة للانتخاب" in doc.text
    for dropped in ("tracking", "لا تظهر", "إعلان", "color", "الرئيسية", "شعار الموقع", "حقوق النشر"):
        assert dropped not in doc.text
    assert doc.date is None and doc.url is None and not report.warnings  # the page names neither


def html_doc(tmp_path: Path, page: str):
    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    docs, report = load(tmp_path / "page.html")
    return docs.get("page"), report


def test_html_without_article_uses_body(tmp_path: Path) -> None:
    doc, _ = html_doc(tmp_path, "<html><body><h1>عنوان</h1><p>نص&nbsp;الخبر</p><script>x()</script></body></html>")
    assert doc.title == "عنوان"
    assert doc.text == "نص الخبر"  # &nbsp; decoded; the headline is the title, not a line of text


def test_html_icon_titles_and_inline_svg_stay_out(tmp_path: Path) -> None:
    doc, _ = html_doc(tmp_path, (
        "<html><head><title>عنوان الخبر</title></head><body>"
        "<nav><svg><title>Facebook</title></svg></nav>"
        "<article><p>نص<svg><title>icon</title><path/></svg> الخبر الكامل.</p></article>"
        "<footer><svg><title>Twitter</title></svg></footer></body></html>"
    ))
    assert (doc.title, doc.text) == ("عنوان الخبر", "نص الخبر الكامل.")


PAGE = ("<html><head>{head}<title>عنوان</title></head><body><nav>الرئيسية | رياضة</nav><article><h1>عنوان</h1>"
        "<p>أجريت الانتخابات اليوم الثلاثاء بهدوء وبلغت نسبة المشاركة فيها نحو ثلاثين في المئة {body}.</p>"
        "<p>مقالات ذات صلة</p></article><footer>شارك على فيسبوك</footer></body></html>")


@pytest.mark.parametrize(("head", "body", "date"), [
    ('<meta property="article:published_time" content="2018-03-06T23:30:00-05:00">', "", "2018-03-06"),
    ('<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2018-04-07T09:00:00Z"}</script>',
     "", "2018-04-07"),
    ("", '<time datetime="2018-05-01">1 مايو</time>', "2018-05-01"),
    ("", "منذ عام 2017", None),  # a year in the text is not the publication date
])
def test_html_publication_date_from_metadata(tmp_path: Path, head: str, body: str, date: str | None) -> None:
    doc, report = html_doc(tmp_path, PAGE.format(head=head, body=body))
    assert doc.date == date and not report.warnings
    assert "مقالات ذات صلة" not in doc.text and "فيسبوك" not in doc.text and "الرئيسية" not in doc.text


def test_html_canonical_url_is_kept(tmp_path: Path) -> None:
    doc, _ = html_doc(tmp_path, PAGE.format(head='<link rel="canonical" href="https://example.com/news/1">', body=""))
    assert doc.url == "https://example.com/news/1"


def test_html_page_without_text_is_skipped(tmp_path: Path) -> None:
    doc, report = html_doc(tmp_path, "<html><head><title>t</title></head><body><script>x()</script></body></html>")
    assert doc is None and "no article text" in reasons(report)[("page.html", None)]


def test_folder_of_all_formats_has_unique_ids(tmp_path: Path) -> None:
    shutil.copytree(FORMATS, tmp_path / "corpus")
    shutil.copy(ANT_SAMPLE, tmp_path / "corpus" / "ant_sample.jsonl.gz")
    # same stem in several formats and folders: ids made from the path must not collide
    (tmp_path / "corpus" / "sub").mkdir()
    shutil.copy(FORMATS / "article.txt", tmp_path / "corpus" / "sub" / "article.txt")
    (tmp_path / "corpus" / "articles.jsonl.gz").write_bytes(gzip.compress((FORMATS / "articles.jsonl").read_bytes()))
    docs, report = load(tmp_path / "corpus")
    ids = [doc.id for doc in load_corpus(tmp_path / "corpus")]
    assert len(ids) == len(set(ids))
    # files are read in sorted order: article.html keeps the plain id, the others get their file name
    assert {"article", "article.md", "article.txt", "sub/article", "articles:2", "articles.jsonl.gz:2"} <= set(docs)
    assert docs["article"].source == "article.html" and docs["article.txt"].source == "article.txt"
    # the only thing skipped: news-1, given twice by its own record id
    assert [(s.path, s.line) for s in report.skipped] == [("articles.jsonl.gz", 1)]
    assert "duplicate" in report.skipped[0].reason
    assert ids == [doc.id for doc in load_corpus(tmp_path / "corpus")]  # stable


# --- bad files -----------------------------------------------------------------------------


def write_bad_files(folder: Path) -> dict[str, str]:
    """Bad files in ``folder``; returns file name -> a word its skip reason must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "binary.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)))
    (folder / "latin1.txt").write_bytes("Café déjà vu, naïve façade.".encode("latin-1"))
    (folder / "cp1256.txt").write_bytes("خبر عاجل من القاهرة".encode("cp1256"))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "loop_a.txt").symlink_to("loop_b.txt")
    (folder / "loop_b.txt").symlink_to("loop_a.txt")
    (folder / "dangling.md").symlink_to("does_not_exist.md")
    (folder / "not_gzip.jsonl.gz").write_bytes(b'{"text": "not compressed"}\n')
    return {
        "binary.txt": "binary",
        "latin1.txt": "UTF-8",
        "cp1256.txt": "UTF-8",
        "empty.txt": "empty",
        "loop_a.txt": "symbolic links",
        "loop_b.txt": "symbolic links",
        "dangling.md": "No such file",
        "not_gzip.jsonl.gz": "gzip",
    }


def test_bad_files_are_reported_and_skipped(tmp_path: Path) -> None:
    expected = write_bad_files(tmp_path)
    shutil.copy(FORMATS / "article.txt", tmp_path / "good.txt")
    docs, report = load(tmp_path)
    assert set(docs) == {"good"}
    got = reasons(report)
    for name, word in expected.items():
        assert word.lower() in got[(name, None)].lower(), (name, got[(name, None)])
    assert len(report.skipped) == len(expected)
    assert report.files == len(expected) + 1


def test_utf16_with_bom_is_decoded(tmp_path: Path) -> None:
    text = "بيان صحفي\nأعلنت الحكومة عن خطة جديدة للنقل."
    (tmp_path / "le.txt").write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    (tmp_path / "be.txt").write_bytes(codecs.BOM_UTF16_BE + text.encode("utf-16-be"))
    (tmp_path / "sig.txt").write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    docs, report = load(tmp_path)
    assert report.skipped == []
    for name in ("le", "be", "sig"):
        assert docs[name].text == text
        assert docs[name].title == "بيان صحفي"


def test_malformed_jsonl_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a", "text": "السطر الأول سليم."}, ensure_ascii=False),
        '{"id": "b", "text": "مقطوع',  # malformed
        "[1, 2, 3]",  # not an object
        '"just a string"',  # not an object
        json.dumps({"id": "c", "title": "بلا نص"}, ensure_ascii=False),  # no text
        json.dumps({"id": "d", "text": "   "}),  # empty text
        json.dumps({"id": "e", "text": 42}),  # text not a string
        "",
        json.dumps({"text": "سطر سليم بلا معرف."}, ensure_ascii=False),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8") + b"\n\xff\xfe bad bytes\n")
    docs, report = load(path)
    assert set(docs) == {"a", "mixed:9"}
    got = reasons(report)
    assert "malformed JSON" in got[("mixed.jsonl", 2)]
    assert "not a JSON object" in got[("mixed.jsonl", 3)]
    assert "not a JSON object" in got[("mixed.jsonl", 4)]
    assert "text" in got[("mixed.jsonl", 5)]
    assert "text" in got[("mixed.jsonl", 6)]
    assert "text" in got[("mixed.jsonl", 7)]
    assert "UTF-8" in got[("mixed.jsonl", 10)]
    assert len(report.skipped) == 7
    assert str(report.skipped[0]) == f"mixed.jsonl:2: {got[('mixed.jsonl', 2)]}"


def test_damaged_gzip_keeps_the_lines_before_the_damage(tmp_path: Path) -> None:
    data = ANT_SAMPLE.read_bytes()
    whole = gzip.decompress(data)
    # many lines, compressed, then cut in the middle
    big = gzip.compress(whole * 20)
    (tmp_path / "cut.jsonl.gz").write_bytes(big[: len(big) // 2])
    docs, report = load(tmp_path)
    assert docs  # the lines read before the cut are kept
    assert [(s.path, s.line) for s in report.skipped if "gzip" in s.reason] == [("cut.jsonl.gz", None)]


def test_huge_single_line_txt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dump.txt"
    with open(path, "wb") as handle:  # ~25 MB, one line
        block = ("كلمة " * 10_000).encode("utf-8")
        for _ in range(25_000_000 // len(block) + 1):
            handle.write(block)
    assert path.stat().st_size > MAX_FILE_BYTES
    shutil.copy(FORMATS / "article.txt", tmp_path / "good.txt")
    docs, report = load(tmp_path)
    assert set(docs) == {"good"}
    assert "too large" in reasons(report)[("dump.txt", None)]


def test_huge_jsonl_line_is_refused_and_the_next_line_loads(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('{"id": "huge", "text": "' + "ا" * 3_000_000 + '"}\n')
        handle.write('{"id": "small", "text": "خبر قصير بعد السطر الكبير."}\n')
    docs, report = load(path)
    assert set(docs) == {"small"}
    assert "too long" in reasons(report)[("big.jsonl", 1)]


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("نص لا يقرأ", encoding="utf-8")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as root: a chmod 000 file is still readable")
        docs, report = load(tmp_path)
        assert docs == {}
        assert "Permission denied" in reasons(report)[("secret.txt", None)]
    finally:
        path.chmod(0o644)


def test_build_goes_on_past_bad_files(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    expected = write_bad_files(corpus)
    shutil.copytree(FORMATS, corpus / "good")
    (corpus / "bad.jsonl").write_text('{"text": "سطر سليم."}\n{oops\n', encoding="utf-8")
    settings = Settings(_env_file=None, corpus_dir=corpus, index_dir=tmp_path / "index")
    result = build_index(settings, embedder=FakeEmbedder(), progress=False)
    assert result.status == "built"
    assert result.documents == 7  # good/: txt, md, html and 3 JSON lines; bad.jsonl: 1 line
    skipped = {(s.path, s.line): s.reason for s in result.report.skipped}
    for name in expected:
        assert (name, None) in skipped
    assert "malformed JSON" in skipped[("bad.jsonl", 2)]


def test_permission_error_is_reported_even_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # root reads a chmod 000 file, so the denial the OS would give is raised here instead
    (tmp_path / "secret.txt").write_text("نص لا يقرأ", encoding="utf-8")
    shutil.copy(FORMATS / "article.txt", tmp_path / "good.txt")
    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "secret.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    docs, report = load(tmp_path)
    assert set(docs) == {"good"}
    assert reasons(report) == {("secret.txt", None): "cannot read: Permission denied"}


# --- publication dates -----------------------------------------------------------------------


def test_txt_date_header_line(tmp_path: Path) -> None:
    body = "مصر تستضيف محادثات جديدة\n\nوصل الوفد اليوم الثلاثاء إلى القاهرة.\n"
    (tmp_path / "a.txt").write_text("date: 2018-03-06\n" + body, encoding="utf-8")
    (tmp_path / "b.md").write_text("التاريخ: ٦ مارس ٢٠١٨\nurl: https://example.com/b\n\n# " + body, encoding="utf-8")
    docs, report = load(tmp_path)
    assert docs["a"].date == docs["b"].date == "2018-03-06"
    assert docs["a"].text == body and docs["a"].title == "مصر تستضيف محادثات جديدة"  # the header is not text
    assert docs["b"].title == "مصر تستضيف محادثات جديدة" and docs["b"].url == "https://example.com/b"
    assert not report.warnings and not report.skipped


def test_md_front_matter(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text('---\ntitle: "عنوان من الترويسة"\ndate: 2018-03-06T09:00:00+03:00\nauthor: x\n---\n'
                                   "# عنوان في النص\n\nنص الخبر.\n", encoding="utf-8")
    docs, report = load(tmp_path)
    doc = docs["a"]
    assert (doc.title, doc.date, doc.text) == ("عنوان من الترويسة", "2018-03-06", "# عنوان في النص\n\nنص الخبر.\n")
    assert not report.warnings


def test_bad_dates_are_dropped_with_a_warning_and_the_article_kept(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("date: yesterday\nعنوان\nنص الخبر.\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("---\ndate: 2018-03-06\nنص بلا ترويسة مغلقة.\n", encoding="utf-8")
    records = [{"text": "نص أول.", "date": "2018-02-30"}, {"text": "نص ثان.", "date": "06/03/2018"}, {"text": "نص ثالث.", "date": 7}]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    docs, report = load(tmp_path)
    assert set(docs) == {"a", "b", "c:1", "c:2", "c:3"} and not report.skipped  # lose nothing
    assert docs["a"].date is None and docs["a"].text == "عنوان\nنص الخبر.\n"
    assert docs["b"].date is None and "نص بلا ترويسة مغلقة." in docs["b"].text
    assert [docs[f"c:{n}"].date for n in (1, 2, 3)] == [None, "2018-03-06", None]  # day-first normalised to ISO
    warned = {(w.path, w.line): w.reason for w in report.warnings}
    assert set(warned) == {("a.txt", None), ("b.md", None), ("c.jsonl", 1), ("c.jsonl", 3)}
    assert "'yesterday' is not a date" in warned[("a.txt", None)] and "not closed" in warned[("b.md", None)]


def test_a_corrected_date_changes_the_fingerprint(tmp_path: Path) -> None:
    from retrieval.ingest.documents import fingerprint

    (tmp_path / "a.jsonl").write_text('{"id": "x", "text": "نص.", "date": "2018-03-06"}\n', encoding="utf-8")
    before = fingerprint(next(load_corpus(tmp_path)))
    (tmp_path / "a.jsonl").write_text('{"id": "x", "text": "نص.", "date": "2018-03-07"}\n', encoding="utf-8")
    assert fingerprint(next(load_corpus(tmp_path))) != before
