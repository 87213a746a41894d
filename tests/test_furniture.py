"""Site furniture out at load (retrieval/ingest/furniture.py): the known lines, the lines a source repeats
under many articles (a real ANT slice), and no body sentence lost on the seed articles."""

from __future__ import annotations

import gzip
import itertools
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import ANT, ROOT, FakeEmbedder, clean_env

from retrieval.ingest.build import build_index
from retrieval.ingest.documents import LoadReport, load_corpus
from retrieval.ingest.furniture import REPEAT_MAX_CHARS, REPEAT_MIN_DOCS, is_furniture_line, line_key, strip_furniture
from retrieval.settings import Settings
from retrieval.text.arabic import sentence_spans

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
BBC_APP_NOTICE = "تطبيق بي بي سي عربي"


@pytest.mark.parametrize("line", [
    "مقالات ذات صلة", "زر الذهاب إلى الأعلى", "ADVERTISEMENT", "Advertisement", "  إعلان  ", "اقرأ أيضاً:",
    "إقرأ أيضا", "شارك", "شارك المقال:", "طباعة", "تابعونا على تويتر", "Facebook Twitter WhatsApp",
    "فيسبوك تويتر واتساب", "جميع الحقوق محفوظة ©", "-----------------", "_____", "×××", "* * *",
    "للمزيد: ضربات جوية تستهدف مطار التيفور العسكري السوري وواشنطن تنفي تنفيذها", "اضغط هنا...",
])
def test_known_furniture_lines(line: str) -> None:
    assert is_furniture_line(line)


@pytest.mark.parametrize("line", [
    "ضغوط أميركية", "آفاق مستقبلية.. هل نشهد تحولًا في مسار النزاع؟", "- جهاز المخابرات العامة المصرية",
    "إعلان الحكومة عن خطة جديدة للطاقة", "شارك في الاجتماع وزراء خارجية الدول العربية.", "تابعوا التطورات في غزة",
    "المزيد من المساعدات وصل إلى غزة أمس.", "– “اضغطوا على حماس” –", "حتى آخر يوم له في منصبه", "", "2018",
])
def test_headings_and_body_lines_are_not_furniture(line: str) -> None:
    assert not is_furniture_line(line)


def test_strip_keeps_other_lines_byte_for_byte() -> None:
    text = "عنوان\n\nسطر أول،  بمسافتين.\n\nمقالات ذات صلة\n\nسطر ثان.\n\nزر الذهاب إلى الأعلى\n"
    assert strip_furniture(text) == ("عنوان\n\nسطر أول،  بمسافتين.\n\nسطر ثان.", 2)
    assert strip_furniture("نص بلا أثاث.\n") == ("نص بلا أثاث.\n", 0)  # untouched: same object, same spans


def _sentences(text: str) -> set[str]:
    return {" ".join(text[s:e].split()) for s, e in sentence_spans(text)}


def test_seed_articles_lose_furniture_and_no_sentence(tmp_path: Path) -> None:
    report = LoadReport()
    docs = {doc.source: doc for doc in load_corpus(CORPUS, report)}
    assert len(docs) == 5 and report.furniture_lines == 3
    removed = {}
    for name, doc in docs.items():
        raw = (CORPUS / name).read_text(encoding="utf-8")
        assert _sentences(doc.text) <= _sentences(raw)
        removed[name] = _sentences(raw) - _sentences(doc.text)
        assert all(is_furniture_line(line) for line in removed[name])  # only furniture lines went
    assert removed == {
        "000_bfedeb9d58756a4b.txt": set(), "001_1fe97d3039f93416.txt": set(), "003_ed1f9f8fd6235f00.txt": set(),
        "002_c51d769e648d5aa3.txt": {"مقالات ذات صلة", "زر الذهاب إلى الأعلى"},
        "004_b35f424f6fbb0f15.txt": {"ADVERTISEMENT"},
    }
    assert "ضغوط أميركية" in docs["000_bfedeb9d58756a4b.txt"].text  # headings stay for retrieval


ANT_BBC = range(6507, 7307)  # 800 BBC Arabic articles (the archive is sorted by source)


def _ant_lines(rows: range) -> list[str]:
    with gzip.open(ANT, "rt", encoding="utf-8") as handle:
        return list(itertools.islice(handle, rows.start, rows.stop))


@pytest.mark.skipif(not ANT.is_file(), reason="the ANT corpus (../shared/data/ant-news) is not here")
def test_lines_repeated_across_a_source_are_removed_on_real_ant(tmp_path: Path) -> None:
    lines = _ant_lines(ANT_BBC)
    assert {json.loads(line)["source"] for line in lines} == {"BBC"}
    (tmp_path / "bbc.jsonl").write_text("".join(lines), encoding="utf-8")
    report = LoadReport()
    docs = {doc.id: doc for doc in load_corpus(tmp_path, report)}
    raw = {(r := json.loads(line))["id"]: r["text"] for line in lines}
    assert len(docs) == len(raw) and not report.skipped
    with_notice = [i for i, text in raw.items() if BBC_APP_NOTICE in text]
    assert len(with_notice) > 100  # the app notice is under a good share of BBC's articles
    assert not any(BBC_APP_NOTICE in doc.text for doc in docs.values())
    in_docs = Counter(key for text in raw.values() for key in {line_key(line) for line in text.splitlines()})
    gone_total = 0
    for doc_id, doc in docs.items():
        before = [line.strip() for line in raw[doc_id].splitlines() if line.strip()]
        after = [line.strip() for line in doc.text.splitlines() if line.strip()]
        gone = [line for line in before if line not in after]
        gone_total += len(gone)
        for line in gone:  # each a known furniture line, or short and in REPEAT_MIN_DOCS articles or more
            # (line_key: the same line with or without its closing full stop)
            assert is_furniture_line(line) or (len(line) <= REPEAT_MAX_CHARS and in_docs[line_key(line)] >= REPEAT_MIN_DOCS)
        assert [line for line in before if line in after] == after  # the rest kept, in order
    assert gone_total == report.furniture_lines


@pytest.mark.skipif(not ANT.is_file(), reason="the ANT corpus (../shared/data/ant-news) is not here")
def test_one_article_published_many_times_keeps_its_lines(tmp_path: Path) -> None:
    line = _ant_lines(range(ANT_BBC.start, ANT_BBC.start + 1))[0]
    record = json.loads(line)
    copies = [json.dumps({**record, "id": f"copy-{n}"}, ensure_ascii=False) + "\n" for n in range(REPEAT_MIN_DOCS + 5)]
    (tmp_path / "same.jsonl").write_text("".join(copies), encoding="utf-8")
    report = LoadReport()
    docs = list(load_corpus(tmp_path, report))
    expected, _ = strip_furniture(record["text"])  # the known lines only: the copies count as one article
    assert len(docs) == len(copies) and all(doc.text == expected for doc in docs)


def test_build_report_counts_furniture(tmp_path: Path) -> None:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    settings = Settings(_env_file=None, corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    result = build_index(settings, embedder=FakeEmbedder(), progress=False)
    assert result.report.furniture_lines == 3


@pytest.mark.slow
def test_index_build_reports_the_count(tmp_path: Path, seed_index: Path) -> None:
    """index_build.py (a subprocess, over a copy of the seed index: nothing to embed) prints the
    count in its report, as text and in --json."""
    shutil.copytree(CORPUS, tmp_path / "corpus")
    shutil.copytree(seed_index, tmp_path / "index")
    command = [sys.executable, str(ROOT / "index_build.py"), "--corpus", "corpus", "--index-dir", "index"]
    text = subprocess.run(command, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, encoding="utf-8",
                          timeout=300, check=False)
    assert text.returncode == 0, text.stderr
    assert "Removed 3 line(s) of site furniture" in text.stderr
    as_json = subprocess.run([*command, "--json"], cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                             encoding="utf-8", timeout=300, check=False)
    summary = json.loads(as_json.stdout)
    assert summary["furniture_lines"] == 3 and summary["warnings"] == [] and summary["skipped"] == []
