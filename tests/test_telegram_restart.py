"""`python -m bot` stopped with SIGTERM while questions are in flight, then started again:
the conversation persisted before the stop is still there, and no question is answered twice."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from botapi_server import TOKEN, BotAPIServer
from test_telegram_main import bot_env

IN_FLIGHT_CHATS = range(702, 708)

pytestmark = pytest.mark.slow  # two bot subprocesses, one stopped with SIGTERM


def start_bot(tmp_path, server: BotAPIServer, seed_index) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot"], cwd=tmp_path,
        env=bot_env(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=server.base_url, INDEX_DIR=str(seed_index),
                    RATE_LIMIT_PER_MINUTE="100"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def stop_bot(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def test_sigterm_with_questions_in_flight_then_restart(tmp_path, seed_index):
    with BotAPIServer() as server:
        first = start_bot(tmp_path, server, seed_index)
        try:
            server.wait_for_request("getUpdates", timeout=60)
            server.send_text(701, "من التقى رشاد في القدس؟")
            server.wait_for_messages(701, 1, timeout=60)
            for chat in IN_FLIGHT_CHATS:  # questions still being answered when SIGTERM arrives
                server.send_text(chat, "كم عدد المحتجزين لدى حماس في غزة؟")
            time.sleep(0.2)
        finally:
            stderr = stop_bot(first)
        assert first.returncode == 0, stderr
        assert "Traceback" not in stderr, stderr

        second = start_bot(tmp_path, server, seed_index)
        try:
            # every in-flight question is answered: before the stop or after the restart
            for chat in IN_FLIGHT_CHATS:
                server.wait_for_messages(chat, 1, timeout=60)
            # the conversation persisted before the stop: the follow-up is understood
            server.send_text(701, "ومتى كان ذلك؟")
            replies = server.wait_for_messages(701, 2, timeout=60)
            assert "الثلاثاء" in replies[1].text
            server.wait_for(lambda: server.pending_updates() == 0, timeout=30, what="all updates fetched")
            time.sleep(1.0)  # a duplicate would be sent within this
        finally:
            stderr = stop_bot(second)
        assert second.returncode == 0, stderr
        for chat in IN_FLIGHT_CHATS:
            answers = [m for m in server.sent_to(chat) if "101" in m.text or "لم أجد" in m.text]
            assert len(server.sent_to(chat)) == 1 and len(answers) == 1, [m.text[:60] for m in server.sent_to(chat)]
        assert server.errors() == [] or all(r.status == 409 for r in server.errors())
