"""The terminal front end: `python -m bot.repl` (interactive) or `--question "..." [--json]`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from bot import texts as messages
from bot.commands import parse_date_command
from retrieval.errors import RetrievalError, UnknownBackend
from retrieval.models import Answer, Conversation
from retrieval.search.retriever import MODES
from retrieval.service import Session, ask
from retrieval.understand.checks import check_mode
from retrieval.understand.timeframe import TimeFrame, conversation_window

EXIT_USAGE = 2  # argparse's status for a bad flag; a refused question is a bad argument too


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot.repl", description="Ask questions about the indexed Arabic news.",
                                     epilog='Example: python -m bot.repl --question "من التقى رشاد؟" --json')
    parser.add_argument("--question", "-q", help="answer this one question and exit")
    parser.add_argument("--json", action="store_true", help="with --question: print the answer as JSON")
    parser.add_argument("--k", type=int, help="passages to retrieve (default: TOP_K)")
    parser.add_argument("--mode", choices=MODES, help="retrieval mode (default: MODE)")
    parser.add_argument("--index-dir", type=Path, help="index folder (default: INDEX_DIR, data/index)")
    parser.add_argument("--no-color", action="store_true",
                        help="mark the question's words with «» and the answer phrase with ** instead of colour")
    return parser.parse_args(argv)


def answer_json(answer: Answer) -> str:
    """The JSON form for scripts: question, passages, excerpts (with their resolved relative dates),
    sources (with their dates), abstained."""
    from bot.render import answer_data

    return json.dumps(answer_data(answer), ensure_ascii=False, indent=1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    from bot.render import render_terminal
    from retrieval.live import LivePipeline
    from retrieval.settings import Settings

    settings = Settings(**({"index_dir": args.index_dir} if args.index_dir else {}))
    k = args.k or settings.top_k
    try:  # MODE from .env, checked before the index loads (--mode is checked by argparse)
        mode = check_mode(args.mode or settings.mode)
    except UnknownBackend as exc:
        print(f"error: MODE: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        live = LivePipeline.load(settings)
    except RetrievalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    color = sys.stdout.isatty() and not args.no_color
    if args.question is not None:
        answer = ask(live.current(), args.question, Session(conversation=None, k=k, mode=mode))
        if answer.refused == "too_long":  # a script gets a status it can test, and nothing on stdout
            print(f"error: {answer.message}", file=sys.stderr)
            return EXIT_USAGE
        print(answer_json(answer) if args.json else render_terminal(answer, color=color))
        return 0
    return _interactive(live, k, mode, color, render_terminal)


def _interactive(live, k: int, mode: str, color: bool, render) -> int:
    try:
        import readline  # noqa: F401  (arrow-key history and editing for input())
    except ImportError:  # pragma: no cover - not on every platform
        pass
    # Ctrl-C must leave the session even when the REPL was started by something that ignores SIGINT (a
    # script's background job, a supervisor): Python then installs no handler, and Ctrl-C would do nothing
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    docs = live.current().documents()
    print(messages.REPL_BANNER.format(count=len(docs)))
    conversation = Conversation()
    dates: dict[str, TimeFrame | None] = {"since": None, "until": None}  # kept across :new, like :k and :mode
    last: Answer | None = None
    while True:
        try:
            line = input(messages.REPL_PROMPT).strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not line:
            continue
        if line.startswith(":"):
            command, _, value = line[1:].partition(" ")
            value = value.strip()
            if command in ("quit", "q", "exit"):
                return 0
            if command == "help":
                print(messages.REPL_HELP.format(k=k, mode=mode, period=_period_label(dates)))
            elif command in ("since", "until"):
                changed = _set_date(dates, command, value, live.current().newest_date())
                print(messages.REPL_PERIOD.format(period=_period_label(dates)) if changed
                      else messages.REPL_BAD_DATE.format(value=value))
            elif command == "k" and value.isdigit() and 0 < int(value) <= 50:
                k = int(value)
                print(f"k = {k}")
            elif command == "mode" and value in MODES:
                mode = value
                print(f"mode = {mode}")
            elif command == "more":
                page = last.next_page(live.current().settings.answer_max_excerpts) if last else None
                if page is None:
                    print(messages.worded(messages.NO_MORE, last.language if last else "ar"))
                else:
                    last = page
                    _show(last, render, color)
            elif command == "new":
                conversation = Conversation()
                print(messages.FORGOTTEN)
            else:
                print(messages.REPL_UNKNOWN_COMMAND)
            continue
        # between questions: a newly built index is switched in (a refused one is logged once)
        if live.refresh():
            print(messages.REPL_INDEX_UPDATED.format(count=len(live.current().documents())), file=sys.stderr)
        try:
            last = ask(live.current(), line, Session(conversation=conversation, since=dates["since"], until=dates["until"],
                                                     k=k, mode=mode))
        except KeyboardInterrupt:
            print()
            continue
        _show(last, render, color)


def _set_date(dates: dict, command: str, value: str, reference) -> bool:
    """``:since DATE`` / ``:until DATE`` / ``... off``; False when ``value`` is not a date."""
    parsed = parse_date_command(value, reference)
    if parsed.valid:
        dates[command] = parsed.frame
    return parsed.valid


def _period_label(dates: dict) -> str:
    window = conversation_window(dates["since"], dates["until"])
    return window.label() if window else messages.ALL_DATES


def _show(answer: Answer, render, color: bool) -> None:
    """An answer or a page of "more", with the hint when excerpts are still held back."""
    print(render(answer, color=color))
    if answer.more:
        print(messages.worded(messages.REPL_MORE_HINT, answer.language))


if __name__ == "__main__":
    sys.exit(main())
