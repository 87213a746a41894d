"""The terminal front end: `python -m bot.repl` (interactive) or `--question "..." [--json]`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from bot import texts as messages
from bot.commands import MORE, NEW, QUIT, SINCE, UNTIL, Command, parse_command, parse_date_command
from retrieval.answer.catalog import word
from retrieval.errors import RetrievalError, UnknownBackend
from retrieval.models import Answer
from retrieval.search.retriever import MODES
from retrieval.service import Session, ask
from retrieval.understand.checks import check_mode

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
    k = args.k or settings.search.top_k
    try:  # MODE from .env, checked before the index loads (--mode is checked by argparse)
        mode = check_mode(args.mode or settings.search.mode)
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
    # the conversation, the period (kept across :new, like :k and :mode) and the last answer (for :more)
    session = Session(k=k, mode=mode)
    while True:
        try:
            line = input(messages.REPL_PROMPT).strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not line:
            continue
        command = parse_command(line, ":")
        if command is not None:
            if command.name == QUIT:
                return 0
            _command(command, session, live, render, color)
            continue
        # between questions: a newly built index is switched in (a refused one is logged once)
        if live.refresh():
            print(messages.REPL_INDEX_UPDATED.format(count=len(live.current().documents())), file=sys.stderr)
        try:
            answer = ask(live.current(), line, session)
        except KeyboardInterrupt:
            print()
            continue
        _show(answer, render, color)


def _command(command: Command, session: Session, live, render, color: bool) -> None:
    """Carry out one of the REPL's commands (bot/commands.py reads them) and print what it says."""
    name, value = command.name, command.value
    if name == "help":
        print(messages.REPL_HELP.format(k=session.k, mode=session.mode, period=_period_label(session)))
    elif name in (SINCE, UNTIL):
        parsed = parse_date_command(value, live.current().newest_date())
        if parsed.valid:
            setattr(session, name, parsed.frame)
        print(messages.REPL_PERIOD.format(period=_period_label(session)) if parsed.valid
              else messages.REPL_BAD_DATE.format(value=value))
    elif name == "k" and value.isdigit() and 0 < int(value) <= 50:
        session.k = int(value)
        print(f"k = {session.k}")
    elif name == "mode" and value in MODES:
        session.mode = value
        print(f"mode = {session.mode}")
    elif name == MORE:
        last = session.last
        page = last.next_page(live.current().settings.answer.answer_max_excerpts) if last else None
        if page is None:
            print(word("answer.no_more", last.language if last else "ar"))
        else:
            session.last = page
            _show(page, render, color)
    elif name == NEW:
        session.forget()
        print(messages.FORGOTTEN)
    else:
        print(messages.REPL_UNKNOWN_COMMAND)


def _period_label(session: Session) -> str:
    window = session.within
    return window.label() if window else messages.ALL_DATES


def _show(answer: Answer, render, color: bool) -> None:
    """An answer or a page of "more", with the hint when excerpts are still held back."""
    print(render(answer, color=color))
    if answer.more:
        print(word("answer.more_hint", answer.language))


if __name__ == "__main__":
    sys.exit(main())
