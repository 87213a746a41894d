"""The terminal front end: `python -m bot.repl` (interactive) or `--question "..." [--json]`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from retrieval.errors import RetrievalError
from retrieval.models import Answer, Conversation
from retrieval.retriever import MODES

HELP = """Ask a question in Arabic or English and press Enter. Commands:
  :k N                 passages to retrieve (now {k})
  :mode hybrid|bm25|dense   retrieval mode (now {mode})
  :more                the next excerpts of the last answer
  :new                 forget the conversation (follow-ups start afresh)
  :help                this help
  :quit                leave (or Ctrl-D / Ctrl-C)
Example: من التقى رشاد؟"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot.repl", description="Ask questions about the indexed Arabic news.",
                                     epilog='Example: python -m bot.repl --question "من التقى رشاد؟" --json')
    parser.add_argument("--question", "-q", help="answer this one question and exit")
    parser.add_argument("--json", action="store_true", help="with --question: print the answer as JSON")
    parser.add_argument("--k", type=int, help="passages to retrieve (default: TOP_K)")
    parser.add_argument("--mode", choices=MODES, help="retrieval mode (default: MODE)")
    parser.add_argument("--index-dir", type=Path, help="index folder (default: INDEX_DIR, data/index)")
    parser.add_argument("--no-color", action="store_true", help="mark highlights with «» instead of colour")
    return parser.parse_args(argv)


def answer_json(answer: Answer) -> str:
    """The JSON form for scripts: question, passages, excerpts, sources, abstained."""
    data = answer.model_dump(mode="json")
    data["answer_text"] = answer.text
    return json.dumps(data, ensure_ascii=False, indent=1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    from bot.render import render_terminal
    from retrieval.pipeline import Pipeline
    from retrieval.settings import Settings

    settings = Settings(**({"index_dir": args.index_dir} if args.index_dir else {}))
    k, mode = args.k or settings.top_k, args.mode or settings.mode
    try:
        pipeline = Pipeline.load(settings)
    except RetrievalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    color = sys.stdout.isatty() and not args.no_color
    if args.question is not None:
        if too_long := _too_long(args.question, settings.max_question_chars):
            print(f"error: {too_long}", file=sys.stderr)
            return 2
        answer = pipeline.answer(args.question, k=k, mode=mode)
        print(answer_json(answer) if args.json else render_terminal(answer, color=color))
        return 0
    return _interactive(pipeline, k, mode, color, render_terminal)


def _too_long(question: str, limit: int) -> str | None:
    """The polite refusal for a question over ``limit`` characters (None when it fits)."""
    from retrieval.pipeline import TOO_LONG

    size = len(question.strip())
    return TOO_LONG.format(size=size, limit=limit) if size > limit else None


def _interactive(pipeline, k: int, mode: str, color: bool, render) -> int:
    try:
        import readline  # noqa: F401  (arrow-key history and editing for input())
    except ImportError:  # pragma: no cover - not on every platform
        pass
    docs = pipeline.documents()
    print(f"{len(docs)} articles indexed. Type a question, or :help.  (Ctrl-D to quit)")
    conversation = Conversation()
    last: Answer | None = None
    while True:
        try:
            line = input("سؤال> ").strip()
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
                print(HELP.format(k=k, mode=mode))
            elif command == "k" and value.isdigit() and 0 < int(value) <= 50:
                k = int(value)
                print(f"k = {k}")
            elif command == "mode" and value in MODES:
                mode = value
                print(f"mode = {mode}")
            elif command == "more":
                if last is None or not last.more:
                    print("لا مزيد.")
                else:
                    print(render(last.model_copy(update={"excerpts": last.more, "more": []}), color=color))
                    last = last.model_copy(update={"more": []})
            elif command == "new":
                conversation = Conversation()
                print("بدأنا محادثة جديدة.")
            else:
                print("Unknown command or value; :help lists them.")
            continue
        if too_long := _too_long(line, pipeline.settings.max_question_chars):
            print(too_long)
            continue
        try:
            last = pipeline.answer(line, conversation, k=k, mode=mode)
        except KeyboardInterrupt:
            print()
            continue
        print(render(last, color=color))
        if last.more:
            print("(:more للمزيد)")


if __name__ == "__main__":
    sys.exit(main())
