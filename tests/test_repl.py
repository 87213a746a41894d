"""The terminal front end driven through a pseudo-terminal (prompt, questions, commands, Ctrl-D,
Ctrl-C), and its non-interactive --json output."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SEED_CORPUS

from bot.render import render_terminal
from bot.texts import FORGOTTEN, REPL_PROMPT
from retrieval.answer import DecisionConfig
from retrieval.answer.catalog import word
from retrieval.ingest.documents import load_corpus
from retrieval.pipeline import Pipeline
from retrieval.settings import Settings
from retrieval.understand.checks import check_question

PROMPT = REPL_PROMPT
QUESTION = "من التقى رشاد؟"
IN_BAND = "كم عمر اللواء حسن رشاد؟"  # answered under the "not sure" notice (tests/test_unsure.py)
WAIT = 60.0  # seconds at most for any one expected output (start-up loads the model; a busy CI machine took over 20)
LONG_QUESTION = "من التقى رشاد " * 80  # 1,120 characters (1,119 trimmed), over MAX_QUESTION_CHARS


def shipped_band() -> tuple[float, float]:
    """The decision's abstention threshold and the upper edge of its "not sure" band."""
    return DecisionConfig.abstain_threshold, DecisionConfig.unsure_below


def refusal(question: str) -> str:
    """The one question check's words for ``question`` under the default settings."""
    return check_question(question, Settings.default("max_question_chars")).message

pytestmark = pytest.mark.slow  # every test runs the REPL as a subprocess

# session leader + controlling terminal, so Ctrl-C typed on the pty sends SIGINT as in a real terminal
_LAUNCH = ("import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
           "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r")


def _env() -> dict[str, str]:
    names = Settings.env_names()
    env = {key: value for key, value in os.environ.items() if key.upper() not in names}
    env.update(PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8", TERM="dumb", LANG="C.UTF-8", LC_ALL="C.UTF-8")
    env.pop("INPUTRC", None)
    return env


class Terminal:
    """A child process on a pseudo-terminal, with bounded waits for its output."""

    def __init__(self, args: list[str], cwd: Path, launch: str = _LAUNCH) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.process = subprocess.Popen([sys.executable, "-c", launch, *args], stdin=slave, stdout=slave, stderr=slave,
                                        cwd=cwd, env=_env(), start_new_session=True, close_fds=True)
        os.close(slave)
        self.raw = b""
        self.cursor = 0  # in self.text: what was already matched

    @property
    def text(self) -> str:
        """Everything printed so far, terminal escapes and carriage returns removed."""
        return _ESCAPE.sub("", self.raw.decode("utf-8", errors="replace"))

    def _read(self, timeout: float) -> int:
        """Read what is there within ``timeout``: bytes read, 0 for none, -1 once the child closed the terminal."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return 0
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed the terminal
            return -1
        self.raw += data
        return len(data) or -1

    def expect(self, pattern: str, timeout: float = WAIT) -> str:
        """Wait for ``pattern`` after the cursor; return the output up to it and move past it."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.text.find(pattern, self.cursor)
            if found >= 0:
                chunk = self.text[self.cursor : found]
                self.cursor = found + len(pattern)
                return chunk
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._read(min(remaining, 0.5)) < 0:
                raise AssertionError(f"{pattern!r} not printed within {timeout:.0f} s; output after the cursor:\n"
                                     f"{self.text[self.cursor:]!r}")

    def settle(self, quiet: float = 0.3, timeout: float = 5.0) -> None:
        """Wait until nothing has been printed for ``quiet`` seconds, as a person would before
        pressing Ctrl-C: a signal that lands while readline is still echoing (outside its select)
        is only noticed at the next key press (CPython's readline loop), which no person can hit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(quiet) > 0:
            pass

    def interrupt(self) -> None:
        """Ctrl-C typed on the terminal (SIGINT to its foreground process group)."""
        self.settle()
        self.send("\x03")

    def send(self, data: str) -> None:
        os.write(self.master, data.encode("utf-8"))

    def ask(self, line: str) -> str:
        """Type ``line`` at the prompt; the output it caused, up to the next prompt."""
        self.send(line + "\r")
        return self.expect(PROMPT)

    def wait(self, timeout: float = WAIT) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.2)  # keep draining so the child never blocks on a full terminal
        while self._read(0.05) > 0:  # what is left after it exited
            pass
        if self.process.poll() is None:
            raise AssertionError(f"still running after {timeout:.0f} s; output:\n{self.text!r}")
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        os.close(self.master)


@pytest.fixture()
def repl(seed_index: Path, tmp_path: Path):
    terminal = Terminal(["-m", "bot.repl", "--index-dir", str(seed_index), "--no-color"], cwd=tmp_path)
    banner = terminal.expect(PROMPT)
    assert "5 articles indexed" in banner
    yield terminal
    terminal.close()


def test_a_session_of_questions_and_commands(repl: Terminal, seed_pipeline: Pipeline) -> None:
    help_text = repl.ask(":help")
    for command in (":k N", ":mode", ":more", ":new", ":help", ":quit"):
        assert command in help_text
    assert "now 5" in help_text and "now hybrid" in help_text

    empty = repl.ask("")
    assert empty.strip() == ""  # an empty line prints nothing, just the prompt again

    answer = repl.ask(QUESTION)
    assert "نتنياهو" in answer and "ويتكوف" in answer
    assert word("answer.sources") in answer
    assert "[1]" in answer and "[2]" in answer
    assert "«رشاد»" in answer  # --no-color marks the question's words with «»
    assert "\x1b[" not in answer
    assert word("answer.more_hint") in answer

    # :more pages what the answer holds back, page by page, as Answer.next_page does
    size = seed_pipeline.settings.answer.answer_max_excerpts
    page = seed_pipeline.answer(QUESTION).next_page(size)
    assert page is not None and page.more  # the seed question holds back more than one page
    while page is not None:
        shown = repl.ask(":more")
        assert render_terminal(page) in shown
        assert (word("answer.more_hint") in shown) == bool(page.more)
        page = page.next_page(size)
    assert word("answer.no_more") in repl.ask(":more")  # every held-back excerpt was shown

    assert "k = 3" in repl.ask(":k 3")
    assert "mode = bm25" in repl.ask(":mode bm25")
    help_now = repl.ask(":help")
    assert "now 3" in help_now and "now bm25" in help_now
    assert "Unknown command" in repl.ask(":k 0")
    assert "Unknown command" in repl.ask(":mode fastest")
    assert "نتنياهو" in repl.ask(QUESTION)  # still answers with the new k and mode

    repl.send(":quit\r")
    assert repl.wait() == 0
    assert "Traceback" not in repl.text


def test_an_english_question_is_framed_in_english_and_paged_to_the_end(repl: Terminal, seed_pipeline: Pipeline) -> None:
    question = "Who did Hassan Rashad meet in Jerusalem?"
    expected = seed_pipeline.answer(question)
    answer = repl.ask(question)
    assert "نتنياهو" in answer  # the quote, as the article wrote it
    assert word("answer.sources", "en") in answer and word("answer.sources") not in answer
    assert (word("answer.more_hint", "en") in answer) == bool(expected.more) and word("answer.more_hint") not in answer
    while expected.more:
        repl.ask(":more")
        expected = expected.next_page(seed_pipeline.settings.answer.answer_max_excerpts)
    assert word("answer.no_more", "en") in repl.ask(":more")
    assert word("answer.none", "en") in repl.ask("What is the capital of Japan?")
    repl.send(":q\r")
    assert repl.wait() == 0


def test_a_follow_up_and_new(repl: Terminal) -> None:
    assert "نتنياهو" in repl.ask("من التقى رشاد في القدس؟")
    assert "الثلاثاء" in repl.ask("ومتى كان ذلك؟")
    assert FORGOTTEN in repl.ask(":new")
    too_long = repl.ask(LONG_QUESTION)
    assert refusal(LONG_QUESTION) in too_long  # the words the bot and --question use
    assert "طويل جداً (1119 حرفاً)" in too_long and "الحد 1000" in too_long
    assert "نتنياهو" in repl.ask(QUESTION)  # the session goes on
    repl.send(":q\r")
    assert repl.wait() == 0


def test_since_and_until_filter_the_conversation_by_date(repl: Terminal) -> None:
    assert "now all dates" in repl.ask(":help")
    assert "Not a date" in repl.ask(":since soon")
    assert "dates: since 2099-03-01" in repl.ask(":since آذار ٢٠٩٩")  # no article is that new
    nothing = repl.ask(QUESTION)
    assert word("answer.none") in nothing and "نتنياهو" not in nothing
    assert "dates: 2099-03-01 – 2099-12-31" in repl.ask(":until 2099")
    assert FORGOTTEN in repl.ask(":new")
    assert "now 2099-03-01 – 2099-12-31" in repl.ask(":help")  # kept across :new, like :k and :mode
    assert "dates: until 2099-12-31" in repl.ask(":since off")
    assert "dates: all dates" in repl.ask(":until off")
    assert "نتنياهو" in repl.ask(QUESTION)
    repl.send(":quit\r")
    assert repl.wait() == 0


def test_ctrl_d_exits_cleanly(repl: Terminal) -> None:
    repl.send("\x04")
    assert repl.wait() == 0
    assert "Traceback" not in repl.text


def test_ctrl_c_at_the_prompt_exits_cleanly(repl: Terminal) -> None:
    repl.interrupt()
    assert repl.wait() == 0
    assert "Traceback" not in repl.text and "KeyboardInterrupt" not in repl.text


def test_ctrl_c_exits_even_when_the_repl_was_started_ignoring_sigint(seed_index: Path, tmp_path: Path) -> None:
    # a script's background job or a supervisor may start it with SIGINT ignored (inherited across exec):
    # Python then installs no KeyboardInterrupt handler, and Ctrl-C did nothing (a full test run hit this)
    ignoring = "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); " + _LAUNCH
    terminal = Terminal(["-m", "bot.repl", "--index-dir", str(seed_index), "--no-color"], cwd=tmp_path, launch=ignoring)
    try:
        terminal.expect(PROMPT)
        terminal.interrupt()
        assert terminal.wait() == 0
        assert "Traceback" not in terminal.text
    finally:
        terminal.close()


def test_ctrl_c_with_a_half_typed_line_exits_cleanly(repl: Terminal) -> None:
    repl.send("من التقى")
    repl.expect("من التقى")  # echoed: the line is being edited
    repl.interrupt()
    assert repl.wait() == 0
    assert "Traceback" not in repl.text


def test_question_json_has_the_documented_keys(seed_index: Path, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot.repl", "--index-dir", str(seed_index), "--question", QUESTION, "--json"],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, encoding="utf-8", timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"question", "resolved_question", "passages", "excerpts", "more", "sources", "abstained", "unsure", "confidence",
            "message", "suggestions", "refused", "answer_text", "mode", "k", "language"} <= set(data)
    assert data["question"] == QUESTION and data["abstained"] is False and data["unsure"] is False and data["language"] == "ar"
    assert data["confidence"] >= shipped_band()[1]  # sure: no notice
    assert data["message"] is None and data["suggestions"] == [] and data["refused"] is None
    assert (data["mode"], data["k"]) == ("hybrid", 5)
    assert len(data["passages"]) == 5
    for rank, passage in enumerate(data["passages"], start=1):
        assert {"chunk_index", "doc_id", "title", "source", "url", "date", "start", "end", "text", "score", "scores",
                "rank", "citation"} <= set(passage)
        assert passage["rank"] == rank and passage["citation"] == f"[{rank}]"
        text = next(doc.text for doc in load_corpus(SEED_CORPUS) if doc.source == passage["source"])  # furniture out
        assert text[passage["start"] : passage["end"]] == passage["text"]
    numbers = {source["number"] for source in data["sources"]}
    for source in data["sources"]:
        assert {"number", "doc_id", "title", "source", "url", "date"} <= set(source)
    assert data["excerpts"]
    for excerpt in data["excerpts"]:
        assert {"text", "doc_id", "start", "end", "citations", "highlights", "score", "dates"} <= set(excerpt)
        assert isinstance(excerpt["dates"], list)  # resolved relative days (none: the seed articles carry no date)
        assert set(excerpt["citations"]) <= numbers
        assert all(len(span) == 2 for span in excerpt["highlights"])
    assert data["answer_text"] == "\n".join(e["text"] for e in data["excerpts"])
    assert "نتنياهو" in data["answer_text"] and "ويتكوف" in data["answer_text"]


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_too_long_question_is_refused_with_a_message(seed_index: Path, tmp_path: Path, json_flag: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "bot.repl", "--index-dir", str(seed_index), "--question", LONG_QUESTION,
                             *json_flag],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, encoding="utf-8", timeout=300, check=False)
    assert result.returncode == 2
    assert result.stderr == f"error: {refusal(LONG_QUESTION)}\n"  # the interactive REPL and the bot say the same
    assert result.stdout == ""


def test_an_unknown_mode_in_the_settings_is_refused_before_loading(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot.repl", "--index-dir", str(tmp_path / "none"), "--question", QUESTION],
                            cwd=tmp_path, env={**_env(), "MODE": "fastest"}, capture_output=True, text=True,
                            encoding="utf-8", timeout=300, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "error: MODE: Unknown mode 'fastest'; choose one of: hybrid, bm25, dense.\n"


def test_question_json_when_not_sure(seed_index: Path, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot.repl", "--index-dir", str(seed_index), "--question", IN_BAND, "--json"],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, encoding="utf-8", timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    low, high = shipped_band()
    assert data["unsure"] is True and data["abstained"] is False and low <= data["confidence"] < high
    assert data["message"] == word("answer.unsure") and data["excerpts"]
    assert data["answer_text"] == "\n".join(e["text"] for e in data["excerpts"])  # the notice is not the answer
    text = subprocess.run([sys.executable, "-m", "bot.repl", "--index-dir", str(seed_index), "--question", IN_BAND],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, encoding="utf-8", timeout=300, check=False)
    assert text.returncode == 0 and text.stdout.startswith(word("answer.unsure") + "\n\n")


def test_the_notice_leads_an_unsure_answer_and_its_more_pages(repl: Terminal, seed_pipeline: Pipeline) -> None:
    answer = seed_pipeline.answer(IN_BAND)
    assert answer.unsure and answer.more
    shown = repl.ask(IN_BAND)
    assert word("answer.unsure") in shown and render_terminal(answer) in shown
    page = answer.next_page(seed_pipeline.settings.answer.answer_max_excerpts)
    shown = repl.ask(":more")
    assert word("answer.unsure") in shown and render_terminal(page) in shown  # a page of "more" keeps the notice
    assert word("answer.unsure") not in repl.ask(QUESTION)  # a sure answer has none


def test_question_json_when_abstaining(seed_index: Path, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot.repl", "--index-dir", str(seed_index), "--question",
                             "من فاز بكأس العالم 2022؟", "--json"],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, encoding="utf-8", timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["abstained"] is True and data["excerpts"] == [] and data["sources"] == []
    assert data["answer_text"] == data["message"] and data["message"]
    assert data["suggestions"] and all(set(s) == {"id", "title", "source", "url", "date"} for s in data["suggestions"])
