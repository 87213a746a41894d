"""`python -m bot` stopped with SIGTERM while questions are in flight, then started again:
the conversation persisted before the stop is still there, and no question is answered twice.

Every wait is for an event (a request the loopback Bot API server recorded, a message it
received, the bot process exiting), never a fixed sleep: on a loaded machine a sleep window is
either too short (a flaky failure) or wasted time."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botapi_server import TOKEN, BotAPIServer
from conftest import clean_env

pytestmark = pytest.mark.slow  # two bot subprocesses, the first stopped with SIGTERM

IN_FLIGHT_CHATS = range(702, 708)
# generous: each is a ceiling on one event (start-up loads the model), not a time the test spends
TIMEOUT = 120.0


class Bot:
    """One `python -m bot` process; its log goes to a file (a pipe nobody reads while the bot
    runs could fill up and block the bot's logging)."""

    def __init__(self, tmp_path: Path, server: BotAPIServer, seed_index: Path, name: str) -> None:
        self.log = tmp_path / f"{name}.log"
        with open(self.log, "w", encoding="utf-8") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot"], cwd=tmp_path,
                env={**clean_env(), "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_BASE_URL": server.base_url,
                     "INDEX_DIR": str(seed_index), "RATE_LIMIT_PER_MINUTE": "100",
                     "STATE_FILE": str(tmp_path / "state.sqlite3")},  # both bots share the state file
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=handle, text=True,
            )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> str:
        """SIGTERM, then wait for the process to exit: a graceful stop handles every update the
        bot has fetched before it exits, so after this no further message can arrive."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the bot did not stop within {TIMEOUT}s after SIGTERM:\n{self.text()}") from None
        return self.text()


def wait_until(server: BotAPIServer, bot: Bot, predicate, what: str) -> None:
    """Wait until ``predicate()`` holds for the server's records (re-checked whenever the server
    records something), failing at once with the bot's log if the bot process exits meanwhile."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:  # in slices of a second, only to notice an exited bot without waiting for TIMEOUT
            server.wait_for(predicate, timeout=min(1.0, max(0.0, deadline - time.monotonic())), what=what)
            return
        except AssertionError:
            if bot.process.poll() is not None:
                raise AssertionError(f"the bot exited ({bot.process.returncode}) before {what}:\n{bot.text()}") from None
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {TIMEOUT}s waiting for {what}:\n{bot.text()}") from None


def polled(server: BotAPIServer) -> bool:
    """The bot is ready: it has asked for updates."""
    return any(request.method == "getUpdates" for request in server.requests)


def answered(server: BotAPIServer, chat: int, count: int = 1):
    return lambda: len(server.sent.get(chat, [])) >= count


def fetched(server: BotAPIServer):
    """Every update was fetched and confirmed (by the offset of the bot's next getUpdates)."""
    return lambda: not server.updates


def test_sigterm_with_questions_in_flight_then_restart(tmp_path, seed_index):
    with BotAPIServer() as server:
        first = Bot(tmp_path, server, seed_index, "first")
        try:
            wait_until(server, first, lambda: polled(server), "the first getUpdates")
            server.send_text(701, "من التقى رشاد؟")
            wait_until(server, first, answered(server, 701), "the answer in chat 701")
            for chat in IN_FLIGHT_CHATS:  # questions still being answered when SIGTERM arrives
                server.send_text(chat, "كم عدد المحتجزين لدى حماس في غزة؟")
            # the bot has taken every question; answering six takes far longer than sending a
            # signal, so SIGTERM arrives while they are queued or being answered
            wait_until(server, first, fetched(server), "the questions fetched")
        finally:
            log = first.stop()
        assert first.process.returncode == 0, log
        assert "Traceback" not in log, log

        second = Bot(tmp_path, server, seed_index, "second")
        try:
            # every in-flight question is answered: before the stop or after the restart
            for chat in IN_FLIGHT_CHATS:
                wait_until(server, second, answered(server, chat), f"the answer in chat {chat}")
            # the conversation persisted before the stop: the follow-up (held by the server until
            # the new bot asks for updates) is understood
            server.send_text(701, "ومتى كان ذلك؟")
            wait_until(server, second, answered(server, 701, 2), "the follow-up's answer in chat 701")
            assert "الثلاثاء" in server.sent_to(701)[1].text
            # every update fetched, so a duplicate answer, if any, is sent before stop() returns
            wait_until(server, second, fetched(server), "all updates fetched")
        finally:
            log = second.stop()
        assert second.process.returncode == 0, log
        assert "Traceback" not in log, log
        for chat in IN_FLIGHT_CHATS:
            answers = [m for m in server.sent_to(chat) if "101" in m.text or "لم أجد" in m.text]
            assert len(server.sent_to(chat)) == 1 and len(answers) == 1, [m.text[:60] for m in server.sent_to(chat)]
        assert len(server.sent_to(701)) == 2, [m.text[:60] for m in server.sent_to(701)]
        assert all(r.status == 409 for r in server.errors()), [(r.method, r.status, r.description) for r in server.errors()]
