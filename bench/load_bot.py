"""Load test: the real bot (`python -m bot`, a separate process) against the loopback Bot API
server, N group chats asking M questions each, all chats at once.

Prints answered / lost / duplicates, reply latency (p50, p95, max) and the bot's peak RSS.

    .venv/bin/python bench/load_bot.py --chats 200 --questions 5
    .venv/bin/python bench/load_bot.py --chats 20 --no-flood-limit   # without Telegram's 30 msg/s

Each chat is a group in which a user mentions the bot, so every answer quotes the question it
answers (that is how answers are matched to questions). By default a chat asks its next
question when the previous one is answered (a user reading the reply); --burst sends all of a
chat's questions at once (the bot's per-chat lock must keep them in order).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from botapi_server import BOT_USERNAME, TOKEN, BotAPIServer  # noqa: E402

QUESTIONS = [
    "من التقى رشاد؟",
    "ومتى كان ذلك؟",  # a follow-up: needs the chat's conversation
    "من فاز بكأس العالم 2022؟",  # unanswerable: abstention
    "أين التقى رئيس المخابرات المصرية حسن رشاد بنيامين نتنياهو؟",
    "كم عدد المحتجزين الذين ما زالوا لدى حماس في غزة؟",
]

# --no-flood-limit: the same Application without AIORateLimiter (to see the bot's own capacity)
CHILD = """
import sys
from bot.telegram import build_application
from retrieval.pipeline import Pipeline
from retrieval.settings import Settings
import logging
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
settings = Settings()
pipeline = Pipeline.load(settings)
pipeline.answer("من التقى رشاد؟")
build_application(settings, pipeline, rate_limit_requests=False).run_polling()
"""


def kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any setting the programs read (nothing from outside changes the run),
    the converted encoder of this checkout, and ``extra``."""
    from retrieval.settings import Settings

    names = Settings.env_names()
    env = {key: value for key, value in os.environ.items() if key.upper() not in names}
    env.update(PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8", MODELS_DIR=str(ROOT / "data" / "models"), **extra)
    return env


def bot_env(server: BotAPIServer, index_dir: Path, scratch: Path, **extra: str) -> dict[str, str]:
    """The bot's environment: the loopback Bot API server, the index, a state file of its own."""
    return clean_env(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=server.base_url, INDEX_DIR=str(index_dir),
                     STATE_FILE=str(scratch / "state.sqlite3"), **extra)


class LoggedProcess:
    """A child process (by default ``python -m bot``) whose log lines are read as they come, each with the
    time it arrived (``time.monotonic()``), so that a benchmark can place a switch on its clock."""

    def __init__(self, env: dict[str, str], cwd: Path, command: list[str] | None = None) -> None:
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self.process = subprocess.Popen(command or [sys.executable, "-m", "bot"], cwd=cwd, env=env, text=True,
                                        encoding="utf-8", errors="replace", stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        with self._cond:
            return "\n".join(line for _, line in self.lines)

    def wait_line(self, fragment: str, timeout: float, since: int = 0) -> tuple[int, float, str]:
        """The first log line from number ``since`` on that holds ``fragment``: (number, time, line)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for number in range(since, len(self.lines)):
                    if fragment in self.lines[number][1]:
                        return (number, *self.lines[number])
                since = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise RuntimeError(f"{self.process.args[-1]} did not log {fragment!r} (exit {self.process.poll()}):\n"
                                       + "\n".join(line for _, line in self.lines[-20:]))
                self._cond.wait(min(left, 0.5))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(10)


def _index(args: argparse.Namespace, scratch: Path) -> Path:
    if args.index_dir:
        return Path(args.index_dir)
    from retrieval.ingest.build import build_index
    from retrieval.settings import Settings

    index_dir = scratch / "index"
    print(f"building an index of {ROOT / 'corpus'} in {index_dir} ...", file=sys.stderr)
    build_index(Settings(_env_file=None, corpus_dir=ROOT / "corpus", index_dir=index_dir), progress=False)
    return index_dir


def run(args: argparse.Namespace) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="load_bot-"))
    index_dir = _index(args, scratch)
    with BotAPIServer() as server:
        env = bot_env(server, index_dir, scratch, RATE_LIMIT_PER_MINUTE=str(max(10, args.questions * 2)))
        command = [sys.executable, "-c", CHILD] if args.no_flood_limit else [sys.executable, "-m", "bot"]
        log_path = scratch / "bot.log"
        with open(log_path, "w", encoding="utf-8") as log_file:
            bot = subprocess.Popen(command, cwd=scratch, env=env, stdout=log_file, stderr=log_file)
        try:
            server.wait_for_request("getUpdates", timeout=120)
            result = drive(server, bot.pid, args)
        finally:
            bot.send_signal(signal.SIGTERM)
            try:
                bot.wait(timeout=60)
            except subprocess.TimeoutExpired:
                bot.kill()
        bot_log = log_path.read_text(encoding="utf-8")
    answered, lost, duplicates, latencies, peak_kib, seconds = result
    total = args.chats * args.questions
    mode = "burst" if args.burst else "conversational"
    limit = "off" if args.no_flood_limit else "on (30 msg/s, as Telegram)"
    print(f"chats={args.chats} questions/chat={args.questions} total={total} mode={mode} flood-limit={limit}")
    print(f"answered={answered} lost={lost} duplicates={duplicates} in {seconds:.1f} s"
          f" ({answered / seconds:.1f} answers/s)")
    print(f"latency ms: p50={percentile(latencies, 0.50):.0f} p95={percentile(latencies, 0.95):.0f}"
          f" max={max(latencies, default=float('nan')):.0f}")
    print(f"bot peak RSS: {peak_kib / 1024:.0f} MiB")
    print(f"bot log lines 'answered': {bot_log.count('answered chat=')}, token in log: {TOKEN in bot_log},"
          f" errors: {sum(1 for r in server.errors() if r.status == 400)} bad requests")
    return 0 if lost == 0 and duplicates == 0 else 1


def drive(server: BotAPIServer, pid: int, args: argparse.Namespace):
    """Ask every question; match each answer to its question by the message it quotes."""
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], kib(pid, "VmHWM"), kib(pid, "VmRSS"))
            done.wait(0.1)

    threading.Thread(target=sample, daemon=True).start()
    chats = [-(1_000_000 + number) for number in range(args.chats)]
    asked: dict[tuple[int, int], float] = {}  # (chat, question message id) -> when
    next_question = {chat: 0 for chat in chats}
    replies: dict[tuple[int, int], int] = {}
    latencies: list[float] = []

    def ask(chat: int) -> None:
        number = next_question[chat]
        next_question[chat] += 1
        text = f"@{BOT_USERNAME} {QUESTIONS[number % len(QUESTIONS)]}"
        message = server.send_group_text(chat, text, user_id=-chat)
        asked[(chat, message["message_id"])] = time.monotonic()

    started = time.monotonic()
    for chat in chats:
        for _ in range(args.questions if args.burst else 1):
            ask(chat)
    deadline = started + args.timeout
    cursor = 0
    while len(latencies) < len(asked) or any(n < args.questions for n in next_question.values()):
        with server.cond:
            server.cond.wait_for(lambda seen=cursor: len(server.all_sent) > seen, max(0.0, deadline - time.monotonic()))
            new, cursor = server.all_sent[cursor:], len(server.all_sent)
        if not new and time.monotonic() >= deadline:
            break
        for sent in new:
            key = (sent.chat_id, sent.reply_to)
            if key not in asked:
                continue  # the 2nd part of a long answer
            replies[key] = replies.get(key, 0) + 1
            if replies[key] == 1:
                latencies.append((sent.at - asked[key]) * 1000)
                if not args.burst and next_question[sent.chat_id] < args.questions:
                    ask(sent.chat_id)
    seconds = time.monotonic() - started
    # late duplicates would come now: give the bot a moment to send anything it still holds
    with server.cond:
        server.cond.wait_for(lambda: False, 2.0)
        for sent in server.all_sent[cursor:]:
            key = (sent.chat_id, sent.reply_to)
            if key in asked:
                replies[key] = replies.get(key, 0) + 1
    done.set()
    peak[0] = max(peak[0], kib(pid, "VmHWM"))
    total = args.chats * args.questions
    answered = sum(1 for count in replies.values() if count >= 1)
    duplicates = sum(count - 1 for count in replies.values() if count > 1)
    return answered, total - answered, duplicates, latencies, peak[0], seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=200, help="concurrent chats (default 200)")
    parser.add_argument("--questions", type=int, default=5, help="questions per chat (default 5)")
    parser.add_argument("--burst", action="store_true", help="send each chat's questions all at once")
    parser.add_argument("--no-flood-limit", action="store_true", help="run the bot without AIORateLimiter")
    parser.add_argument("--index-dir", help="an existing index (default: build one over corpus/ in a temp dir)")
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
