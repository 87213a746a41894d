"""bot.render: terminal text and Telegram HTML (escaped, balanced, split within 4096)."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser

import pytest
from botapi_server import parse_html
from conftest import SEED_CORPUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.render import (
    DATE_NOTE_MARK,
    TELEGRAM_LIMIT,
    Block,
    Run,
    answer_data,
    clean_text,
    pack_messages,
    render_telegram,
    render_telegram_text,
    render_terminal,
    utf16_len,
)
from retrieval.answer.catalog import ar as catalog_ar
from retrieval.answer.catalog import word
from retrieval.ingest.build import build_index
from retrieval.models import Answer, DocumentInfo, Excerpt, Source
from retrieval.pipeline import Pipeline
from retrieval.settings import Settings

ARABIC = "التقى رئيس المخابرات المصرية، اللواء حسن رشاد، رئيس الوزراء الإسرائيلي، بنيامين نتنياهو، في القدس."


class Parsed(HTMLParser):
    """Text content and tags of one Telegram HTML message, checking that tags balance."""

    def __init__(self, message: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.bold: list[str] = []
        self.links: list[str] = []
        self.stack: list[str] = []
        self.feed(message)
        self.close()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        assert tag in ("b", "u", "a"), tag  # u: inside b, the answer phrase
        if tag == "a":
            self.links.append(dict(attrs)["href"])
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if "b" in self.stack:
            self.bold.append(data)


def parse(message: str) -> Parsed:
    parsed = Parsed(message)
    assert parsed.stack == [], f"unclosed {parsed.stack}"
    return parsed


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def make_answer(texts: list[str], highlights: list[list[tuple[int, int]]] | None = None, **fields) -> Answer:
    excerpts = [
        Excerpt(text=text, doc_id=f"d{i}", start=0, end=len(text), citations=[i + 1],
                highlights=(highlights or [[]] * len(texts))[i])
        for i, text in enumerate(texts)
    ]
    sources = [
        Source(number=i + 1, doc_id=f"d{i}", title=f"عنوان {i + 1}", source=f"{i:03d}.txt")
        for i in range(len(texts))
    ]
    return Answer(question="س", resolved_question="س", excerpts=excerpts, sources=sources, **fields)


# ---------------------------------------------------------------- examples


def test_terminal_plain_has_excerpt_citations_highlights_and_sources():
    spans = [(ARABIC.index(word), ARABIC.index(word) + len(word)) for word in ("التقى", "رشاد")]
    answer = make_answer([ARABIC], [spans])
    text = render_terminal(answer, color=False)
    assert "«التقى»" in text and "«رشاد»" in text
    assert "[1]" in text and word("answer.sources") in text
    assert "[1] عنوان 1 — 000.txt" in text
    assert "\x1b" not in text


def test_terminal_colour_uses_ansi_and_no_brackets():
    text = render_terminal(make_answer([ARABIC], [[(6, 10)]]), color=True)
    assert "\x1b[" in text and "«" not in text


def test_terminal_abstention_lists_suggestions_as_not_an_answer():
    answer = Answer(question="س", resolved_question="س", abstained=True, message_id="answer.none",
                    suggestions=[DocumentInfo(id="a", title="مقال قريب", source="a.txt", url="https://e.x/a")])
    text = render_terminal(answer, color=False)
    assert text.startswith(word("answer.none"))
    assert word("answer.suggestions") in text and "مقال قريب" in text and word("answer.sources") not in text


def test_terminal_more_renders_held_back_excerpts():
    answer = make_answer(["الأول."])
    answer.more = [Excerpt(text="الثاني.", doc_id="d0", start=0, end=6, citations=[1])]
    page = render_terminal(answer.next_page(5))
    assert "الثاني." in page and "الأول." not in page and word("answer.sources") in page


def test_telegram_escapes_and_bolds_highlights():
    text = 'a <b>x</b> & "q" \'s\' رشاد'
    answer = make_answer([text], [[(text.index("رشاد"), len(text))]])
    [message] = render_telegram(answer)
    assert "&lt;b&gt;x&lt;/b&gt; &amp;" in message
    parsed = parse(message)
    assert text in "".join(parsed.text)
    assert parsed.bold[0] == "رشاد"
    parse_html(message)  # Telegram's own rules (the loopback server's parser) accept it


def test_telegram_source_with_url_is_a_link_and_other_urls_are_not():
    answer = make_answer(["نص."])
    answer.sources[0].url = 'https://example.com/a?x=1&y="2"'
    parsed = parse(render_telegram(answer)[0])
    assert parsed.links == ["https://example.com/a?x=1&y=%222%22"]  # & escaped in the attribute; " percent-encoded (bot/urls.py)
    answer.sources[0].url = "javascript:alert(1)"
    assert parse(render_telegram(answer)[0]).links == []


def test_telegram_abstention_shows_message_and_labelled_suggestions(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(catalog_ar.MESSAGES, "test.escaped", "لم أجد <إجابة>.")
    answer = Answer(question="س", resolved_question="س", abstained=True, message_id="test.escaped",
                    suggestions=[DocumentInfo(id="a", title="قريب & بعيد", source="a.txt")])
    [message] = render_telegram(answer)
    parsed = parse(message)
    assert "لم أجد <إجابة>." in "".join(parsed.text)
    assert word("answer.suggestions") in parsed.bold and "قريب & بعيد" in "".join(parsed.text)


def test_blank_message_still_gives_one_message(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(catalog_ar.MESSAGES, "test.blank", " \n ")
    answer = Answer(question="س", resolved_question="س", abstained=True, message_id="test.blank")
    assert [parse(m) and m for m in render_telegram(answer)] == [word("answer.none")]


def test_long_answer_is_split_in_valid_messages_on_sentence_boundaries():
    sentence = "التقى رشاد نتنياهو في القدس يوم الثلاثاء لبحث وقف إطلاق النار. "
    long_text = sentence * 80  # about 5,000 characters
    answer = make_answer([long_text, ARABIC], [[(6, 10)], []])
    messages = render_telegram(answer)
    assert len(messages) == 2
    for message in messages:
        assert utf16_len(message) <= TELEGRAM_LIMIT
        parse(message)
        parse_html(message)
        # every cut falls after a full stop: each message's prose ends a sentence
    assert squash(messages[0]).endswith("النار.")
    assert squash(long_text) + "[1]" in squash("".join("".join(parse(m).text) for m in messages))
    assert word("answer.sources") in messages[-1]


def test_an_unsure_answer_split_in_messages_leads_with_the_notice_once():
    sentence = "التقى رشاد نتنياهو في القدس يوم الثلاثاء لبحث وقف إطلاق النار. "
    answer = make_answer([sentence * 80, ARABIC], [[(6, 10)], []], unsure=True, message_id="answer.unsure", confidence=0.41)
    messages = render_telegram(answer)
    assert all(utf16_len(m) <= TELEGRAM_LIMIT for m in messages)
    # first and once (an excerpt too long to share its message follows in the next; real answers are
    # within ANSWER_MAX_CHARS, far below Telegram's limit, and stay in one message)
    assert messages[0].startswith(word("answer.unsure")) and "".join(messages).count(word("answer.unsure")) == 1
    assert word("answer.unsure") not in parse(messages[0]).bold  # plain words, not a highlighted term
    terminal = render_terminal(answer)
    assert terminal.startswith(word("answer.unsure") + "\n\n") and terminal.count(word("answer.unsure")) == 1
    assert word("answer.sources") in terminal and "[1]" in terminal
    # a page of "more" is an answer of its own: it leads with the notice too
    held = answer.model_copy(update={"excerpts": answer.excerpts[1:], "more": answer.excerpts[1:]})
    page = held.next_page(1)
    assert page.unsure and render_terminal(page).startswith(word("answer.unsure"))
    data = answer_data(page)
    assert (data["unsure"], data["confidence"], data["message"]) == (True, 0.41, word("answer.unsure"))


def test_unbreakable_bold_run_is_cut_with_tags_closed_and_reopened():
    messages = pack_messages([Block((Run("x" * 10_000, bold=True),))], limit=1000)
    assert all(m.startswith("<b>") and m.endswith("</b>") and utf16_len(m) <= 1000 for m in messages)
    assert sum(len("".join(parse(m).text)) for m in messages) == 10_000


def test_emoji_count_as_two_utf16_units():
    messages = pack_messages([Block((Run("😀" * 3000),))])
    assert len(messages) == 2 and all(utf16_len(m) <= TELEGRAM_LIMIT for m in messages)


def test_render_text_escapes_and_drops_unsendable_characters():
    [message] = render_telegram_text("سطر <1>\x00\r\nسطر 2")
    assert message == "سطر &lt;1&gt;\nسطر 2"
    assert clean_text("a\ud800b\x07") == "ab"


def test_more_button_page_renders_only_more_excerpts():
    answer = make_answer(["الأول.", "الثاني."])
    answer.more, answer.excerpts = answer.excerpts[1:], answer.excerpts[:1]
    [message] = render_telegram(answer.next_page(5))
    assert "الثاني." in message and "الأول." not in message and "عنوان 2" in message and "عنوان 1" not in message


# ---------------------------------------------------------------- properties

PIECES = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(list("<>&\"'\u200f\u200e\u202b\u202c\n ") + ["&amp;", "</b>", "<a href=", "😀", "👨‍👩‍👧", "رشاد. "]),
)
HOSTILE = st.lists(PIECES, max_size=200).map("".join)


@st.composite
def answers(draw) -> Answer:
    count = draw(st.integers(1, 4))
    texts = []
    for _ in range(count):
        text = draw(HOSTILE)
        if draw(st.booleans()):
            text = text * draw(st.integers(1, 40))  # very long excerpts
        texts.append(text)
    spans = [
        draw(st.lists(st.tuples(st.integers(-5, len(t) + 5), st.integers(-5, len(t) + 5)), max_size=6))
        for t in texts
    ]
    answer = make_answer(texts, spans)
    for excerpt in answer.excerpts:  # an answer phrase (Excerpt.answer), overlapping the highlights or not
        excerpt.answer = draw(st.one_of(st.none(), st.tuples(st.integers(-5, len(excerpt.text) + 5),
                                                             st.integers(-5, len(excerpt.text) + 5))))
    for source in answer.sources:
        source.title = draw(HOSTILE)
        source.url = draw(st.one_of(st.none(), st.just("https://e.x/?a=<1>&b='\"'"), st.just("ftp://x")))
    return answer


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
def test_every_message_fits_balances_and_keeps_the_text(answer):
    messages = render_telegram(answer)
    assert messages
    seen = []
    for message in messages:
        assert utf16_len(message) <= TELEGRAM_LIMIT
        assert message.strip()
        parsed = parse(message)  # balanced, only <b>, <u> and <a>
        text, _ = parse_html(message)  # accepted by Telegram's rules
        assert squash(text) == squash("".join(parsed.text))
        seen.append("".join(parsed.text))
    joined = squash("".join(seen))
    for excerpt in answer.excerpts:
        assert squash(clean_text(excerpt.text)) in joined
    for source in answer.sources:
        assert squash(clean_text(source.title)) in joined


@settings(max_examples=100, deadline=None)
@given(st.lists(HOSTILE, min_size=1, max_size=30), st.integers(60, 5000))
def test_packing_any_limit_keeps_every_character(lines, limit):
    blocks = [Block((Run(line, bold=i % 2 == 1),)) for i, line in enumerate(lines)]
    messages = pack_messages(blocks, limit=limit)
    for message in messages:
        assert utf16_len(message) <= limit
        parse(message)
    assert squash("".join("".join(parse(m).text) for m in messages)) == squash("".join(lines))


@settings(max_examples=100, deadline=None)
@given(answers(), st.booleans())
def test_terminal_render_never_fails_and_shows_every_excerpt(answer, color):
    text = render_terminal(answer, color=color)
    marks = str.maketrans("", "", "«»*")  # the question's words' and the answer phrase's (**) marks
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text).translate(marks)
    for excerpt in answer.excerpts:
        assert excerpt.text.translate(marks) in plain


# ---------------------------------------------------------------- dates

DATED = "ووصل نائب الرئيس الأميركي إلى إسرائيل بعد ظهر اليوم الثلاثاء، والتقى أمس مسؤولين."


def dated_answer(url: str | None = None) -> Answer:
    answer = make_answer([DATED, ARABIC])
    answer.sources[0].date = "2025-10-21"  # a Tuesday
    answer.sources[0].url = url
    return answer


def test_terminal_dates_sources_and_relative_days_outside_the_quote():
    lines = render_terminal(dated_answer(), color=False).splitlines()
    assert lines[0] == DATED + " [1]"  # the quote as written
    assert lines[1] == DATE_NOTE_MARK + "ظهر اليوم الثلاثاء (21 أكتوبر 2025)؛ أمس (20 أكتوبر 2025)"
    assert lines[3] == ARABIC + " [2]" and not lines[4].startswith(DATE_NOTE_MARK)  # an undated article: no note
    assert "[1] عنوان 1 (21 أكتوبر 2025) — 000.txt" in lines and "[2] عنوان 2 — 001.txt" in lines


def test_telegram_dates_beside_the_excerpt_and_the_linked_source():
    [message] = render_telegram(dated_answer("https://example.com/a"))
    parse_html(message)
    parsed = parse(message)
    text = "".join(parsed.text)
    assert DATED + " [1]\n" + DATE_NOTE_MARK + "ظهر اليوم الثلاثاء (21 أكتوبر 2025)" in text
    assert parsed.links == ["https://example.com/a"] and "عنوان 1 (21 أكتوبر 2025)" in text


def test_json_carries_structured_dates_and_verbatim_excerpts():
    answer = dated_answer()
    data = answer_data(answer)
    first, second = data["excerpts"]
    assert first["text"] == DATED and data["answer_text"] == answer.text
    assert [(d["phrase"], d["date"]) for d in first["dates"]] == [("ظهر اليوم الثلاثاء", "2025-10-21"), ("أمس", "2025-10-20")]
    for note in first["dates"]:
        assert DATED[note["start"]:note["end"]] == note["phrase"]
    assert second["dates"] == [] and data["sources"][0]["date"] == "2025-10-21"


@pytest.mark.slow
def test_real_answer_over_dated_seed_articles(tmp_path):
    """The seed articles given a date header, indexed with the real encoder: the answer quotes the
    sentence as written and dates its "اليوم الثلاثاء" beside it, in every format."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    article = corpus / "000_bfedeb9d58756a4b.txt"
    article.write_text("date: 2025-10-21\n" + article.read_text(encoding="utf-8"), encoding="utf-8")
    settings = Settings(_env_file=None, corpus_dir=corpus, index_dir=tmp_path / "index")
    build_index(settings, progress=False)
    answer = Pipeline.load(settings).answer("متى وصل نائب الرئيس الأميركي جاي دي فانس إلى إسرائيل؟")
    [source] = [s for s in answer.sources if s.doc_id == "000_bfedeb9d58756a4b"]
    assert source.date == "2025-10-21"
    dated = [e for e in answer.excerpts if "اليوم الثلاثاء" in e.text]
    assert dated, [e.text for e in answer.excerpts]
    assert dated[0].text in article.read_text(encoding="utf-8")  # the quote as written, no annotation in it
    assert "ظهر اليوم الثلاثاء (21 أكتوبر 2025)" in render_terminal(answer)
    assert "(21 أكتوبر 2025)" in "".join(parse("".join(render_telegram(answer))).text)
    data = answer_data(answer)
    notes = next(e["dates"] for e in data["excerpts"] if "اليوم الثلاثاء" in e["text"])
    assert ("ظهر اليوم الثلاثاء", "2025-10-21") in [(n["phrase"], n["date"]) for n in notes]



# ---------------------------------------------------------------- a question asked in English


def test_an_english_answer_words_its_frame_and_dates_in_english_and_keeps_the_quote():
    answer = dated_answer().model_copy(update={"language": "en", "message_id": "answer.unsure", "unsure": True})
    lines = render_terminal(answer, color=False).splitlines()
    assert lines[0] == word("answer.unsure", "en")
    assert lines[2] == DATED + " [1]"  # the quote as written
    assert lines[3] == DATE_NOTE_MARK + "ظهر اليوم الثلاثاء (21 October 2025); أمس (20 October 2025)"
    assert "Sources:" in lines and word("answer.sources") not in lines
    assert "[1] عنوان 1 (21 October 2025) — 000.txt" in lines
    text = "".join(parse("".join(render_telegram(answer))).text)
    assert text.startswith(word("answer.unsure", "en")) and "Sources:" in text and "(21 October 2025)" in text
    assert word("answer.sources") not in text and "أكتوبر" not in text


def test_an_english_abstention_is_worded_in_english():
    answer = Answer(question="Who won?", resolved_question="Who won?", abstained=True, language="en",
                    suggestions=[DocumentInfo(id="a", title="عنوان", source="a.txt")])
    assert render_terminal(answer).splitlines()[:3] == [word("answer.none", "en"), "", word("answer.suggestions", "en")]
    text = "".join(parse("".join(render_telegram(answer))).text)
    assert text.startswith(word("answer.none", "en")) and word("answer.suggestions", "en") in text
