"""`python -m bot` as a subprocess: exit codes, no network before the token is checked,
the token never printed, and one end-to-end run (long polling and webhook mode)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from botapi_server import TOKEN, BotAPIServer

from bot.security import REDACTOR, TokenError, check_token, install_token_redaction
from bot.texts import COMMAND_DESCRIPTIONS
from retrieval.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "من التقى رشاد؟"


def bot_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """A clean environment: no TELEGRAM_*/ALLOWED_* from the caller, the repo importable."""
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "ALLOWED_", "INDEX_", "STATE_", "RATE_"))
    }
    env.update(PYTHONPATH=str(ROOT), STATE_FILE=str(tmp_path / "state.sqlite3"), PYTHONUNBUFFERED="1")
    env.update(values)
    return env


def run_bot(tmp_path: Path, timeout: float = 60, **values: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=bot_env(tmp_path, **values),
        capture_output=True, text=True, timeout=timeout,
    )


@pytest.mark.slow
@pytest.mark.parametrize("token", [None, "123456:short"])
def test_missing_or_malformed_token_exits_2_before_any_network_call(tmp_path, token):
    with BotAPIServer() as server:
        values = {"TELEGRAM_BASE_URL": server.base_url}
        if token is not None:
            values["TELEGRAM_BOT_TOKEN"] = token
        result = run_bot(tmp_path, **values)
        assert server.requests == []
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TELEGRAM_BOT_TOKEN" in lines[0] and "Traceback" not in result.stderr
    if token:
        assert token not in result.stderr


@pytest.mark.parametrize(
    "token", ["", "  ", "not-a-token", "abc:" + "A" * 35, "123456:" + "a" * 29, "123456:" + "a" * 34 + "!", "123456: " + "a" * 35],
)
def test_check_token_rejects_malformed_tokens_without_echoing_them(token):
    with pytest.raises(TokenError) as error:
        check_token(Settings(_env_file=None, telegram_bot_token=token))
    assert "TELEGRAM_BOT_TOKEN" in str(error.value)
    if token.strip():
        assert token.strip() not in str(error.value)


def test_check_token_accepts_a_botfather_token():
    assert check_token(Settings(_env_file=None, telegram_bot_token=TOKEN)) == TOKEN


@pytest.mark.slow
def test_unknown_mode_exits_2_before_any_network_call(tmp_path, seed_index):
    with BotAPIServer() as server:
        result = run_bot(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=server.base_url,
                         INDEX_DIR=str(seed_index), MODE="fastest")
        assert server.requests == []
    assert result.returncode == 2
    assert result.stderr == "error: invalid settings: MODE: Unknown mode 'fastest'; choose one of: hybrid, bm25, dense.\n"


@pytest.mark.slow
def test_index_that_cannot_load_exits_1_with_its_message(tmp_path):
    with BotAPIServer() as server:
        result = run_bot(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=server.base_url,
                         INDEX_DIR=str(tmp_path / "no-index"))
        assert server.requests == []
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "no-index" in result.stderr
    assert TOKEN not in result.stderr


@pytest.mark.slow
def test_token_rejected_by_telegram_exits_1_without_printing_it(tmp_path, seed_index):
    wrong = "987654321:" + "Z" * 35
    with BotAPIServer() as server:  # knows only TOKEN: answers 401 to this one
        result = run_bot(tmp_path, TELEGRAM_BOT_TOKEN=wrong, TELEGRAM_BASE_URL=server.base_url,
                         INDEX_DIR=str(seed_index))
        assert [request.status for request in server.requests] == [401]
    assert result.returncode == 1
    assert "rejected" in result.stderr and "Traceback" not in result.stderr
    assert wrong not in result.stderr and "987654321" not in result.stderr


def _serve_one_question(server: BotAPIServer, process: subprocess.Popen, ready_method: str) -> str:
    try:
        server.wait_for_request(ready_method, timeout=60)
        server.send_text(501, QUESTION)
        [reply] = server.wait_for_messages(501, 1, timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output = process.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, output
    assert "نتنياهو" in reply.text
    return output


@pytest.mark.slow
def test_end_to_end_long_polling_and_graceful_stop(tmp_path, seed_index):
    with BotAPIServer() as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--log-level", "DEBUG"], cwd=tmp_path,
            env=bot_env(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=server.base_url,
                        INDEX_DIR=str(seed_index)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        stderr = _serve_one_question(server, process, "getUpdates")
        assert [c["command"] for c in server.commands] == list(COMMAND_DESCRIPTIONS)
    assert "answered chat=501" in stderr
    assert TOKEN not in stderr and TOKEN.replace(":", "%3A") not in stderr
    assert TOKEN.encode() not in (tmp_path / "state.sqlite3").read_bytes()


@pytest.mark.slow
def test_end_to_end_webhook_mode(tmp_path, seed_index):
    pytest.importorskip("tornado", reason="webhook mode needs python-telegram-bot[webhooks]")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with BotAPIServer() as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=tmp_path,
            env=bot_env(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=server.base_url,
                        INDEX_DIR=str(seed_index), TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram-hook",
                        TELEGRAM_WEBHOOK_LISTEN="127.0.0.1", TELEGRAM_WEBHOOK_PORT=str(port)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        stderr = _serve_one_question(server, process, "setWebhook")
        assert server.webhook["url"] == f"http://127.0.0.1:{port}/telegram-hook"
        secret = server.webhook["secret_token"]
        assert secret and TOKEN not in secret
        assert not any(request.method == "getUpdates" for request in server.requests)
    assert TOKEN not in stderr


def test_redaction_covers_messages_arguments_and_tracebacks(caplog):
    install_token_redaction(TOKEN)
    logger = logging.getLogger("test.redaction")
    with caplog.at_level(logging.INFO):
        logger.info("url http://x/bot%s/getMe", TOKEN)
        logger.info("encoded %s", TOKEN.replace(":", "%3A"))
        try:
            raise ValueError(f"The token `{TOKEN}` was rejected by the server.")
        except ValueError:
            logger.exception("failed")
    text = caplog.text + "".join(record.exc_text or "" for record in caplog.records)
    assert TOKEN not in text and "[REDACTED]" in text
    assert REDACTOR.redact(f"a {TOKEN} b") == "a [REDACTED] b"
