"""Load test of the hot switch: the real bot (`python -m bot`) over the loopback Bot API server,
N chats asking continuously while a news feed on 127.0.0.1 (tests/site_server.py) brings new
articles and the index the bot serves is rebuilt twice: each time `index_build.py --feed URL`
saves the feed's new articles into the corpus (a copy of corpus/, the seed articles) and builds
into the bot's index folder, as a cron job or `make watch` would.

    nice -n 5 .venv/bin/python bench/load_switch.py             # 20 chats, ~4 min on 2 shared cores

Prints answered / lost / duplicates; reply latency p50 / p95 / max by phase, a question belonging
to the phase in which it was asked ("during" = from the build's start to the bot's switch log
line); the bot's peak RSS and its RSS at each switch; errors (400s, ERROR log lines); and whether
the answers after each switch cite the new articles: once a switch is logged, every chat's next
question is one that only an article of that feed update answers (its title among the sources
and the answer's words in the text). Each chat asks its next question when the previous one is
answered (a user reading the reply); the seed questions of load_bot.py otherwise.

The chats are private chats: the bot's one message after a question is its answer (a chat asks
nothing more until it comes, so a second message is a duplicate). With --groups they are groups
that mention the bot and the answer quotes the question; there Telegram's limit of 20 messages a
minute per group (AIORateLimiter) sets the pace (about 6 s a question once the first minute's
budget is spent), not the bot.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from botapi_server import BOT_USERNAME, BotAPIServer  # noqa: E402
from common import machine_note  # noqa: E402
from load_bot import QUESTIONS, LoggedProcess, bot_env, clean_env, kib, percentile  # noqa: E402
from site_server import SiteServer, ant_articles  # noqa: E402

# ANT articles of tests/site_server.py (by number) that the seed corpus knows nothing about, each with
# a question only it answers and words its answer must hold; checked against an index of them all
FEED_QUESTIONS: dict[int, tuple[str, str]] = {
    4: ("أين قدمت الفنانة نشوي مصطفى مسرحيتها سيلفي مع الموت؟", "دبا الفجيرة"),
    7: ("من يشارك ليوناردو دي كابريو بطولة فيلم تارانتينو القادم؟", "براد"),
    9: ("من هن الممثلات اللواتي يكرمهن مهرجان تطوان لسينما البحر المتوسط؟", "منة شلبي"),
    10: ("من عرض على حسين فهمي رئاسة مهرجان القاهرة السينمائي؟", "إيناس عبد الدايم"),
    11: ("كم استمر زواج جنيفر أنيستون وجاستن ثيرو؟", "سنتين"),
    2: ("كم حصة من تركة جوني هاليداي تنازل عنها لابنته لورا سميت؟", "حصتين"),
}
BATCHES = [[4, 7, 9], [10, 11, 2]]  # what the feed brings before the first and before the second rebuild


@dataclass
class Asked:
    chat: int
    at: float
    text: str
    article: int | None = None  # the feed article that must answer it
    update: int = 0  # the feed update (1, 2) whose switch it follows
    replies: list = field(default_factory=list)


def cites(reply: str, title: str, words: str) -> bool:
    """The reply answers from the article: its words in the text and its title among the sources."""
    return words in reply and title in reply


def build(corpus: Path, index_dir: Path, feed: str | None) -> tuple[float, float, str]:
    """`index_build.py [--feed URL]` into the served index: (start, end, its last lines)."""
    started = time.monotonic()
    command = [sys.executable, str(ROOT / "index_build.py"), "--corpus", str(corpus), "--index-dir", str(index_dir),
               "--no-progress", *(["--feed", feed] if feed else [])]
    done = subprocess.run(command, cwd=corpus.parent, text=True,
                          env=clean_env(FETCH_ALLOW_PRIVATE="true"), capture_output=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"index_build.py failed ({done.returncode}):\n{done.stderr}")
    return started, time.monotonic(), "\n".join(done.stderr.strip().splitlines()[-2:])


def seed_setup(scratch: Path, cache: Path | None) -> tuple[Path, Path]:
    """A copy of corpus/ and its index in ``scratch``; the index is copied from ``cache`` when it
    holds one (built there otherwise), so that a second benchmark does not embed the seed again."""
    corpus, index_dir = scratch / "corpus", scratch / "index"
    shutil.copytree(ROOT / "corpus", corpus)
    if cache is not None and (cache / "manifest.json").is_file():
        shutil.copytree(cache, index_dir)
        build(corpus, index_dir, feed=None)  # a no-op when the cache is this corpus's index
    else:
        print(f"building the seed index in {index_dir} ...", file=sys.stderr)
        build(corpus, index_dir, feed=None)
        if cache is not None:
            shutil.copytree(index_dir, cache)
    return corpus, index_dir


def run(args: argparse.Namespace) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="load_switch-"))
    corpus, index_dir = seed_setup(scratch, args.seed_index)
    articles = {article.number: article for article in ant_articles(12)}
    with SiteServer(list(articles.values())) as site, BotAPIServer() as server:
        site.rss_articles, site.atom_articles, site.extra_rss, site.extra_atom = [], [], [], []
        feed = site.base + "/rss.xml"
        bot = LoggedProcess(bot_env(server, index_dir, scratch, RATE_LIMIT_PER_MINUTE="100000",
                                 INDEX_POLL_SECONDS=str(args.poll)), cwd=scratch)
        try:
            server.wait_for_request("getUpdates", timeout=180)
            return drive(args, server, bot, site, articles, corpus, index_dir, feed)
        finally:
            bot.stop()
            shutil.rmtree(scratch, ignore_errors=True)


def drive(args, server: BotAPIServer, bot: LoggedProcess, site: SiteServer, articles: dict, corpus: Path,
          index_dir: Path, feed: str) -> dict:
    lock = threading.Lock()
    queued: dict[int, list[tuple[int, int]]] = {}  # chat -> (article, update) to ask next
    events: dict[str, float] = {}
    notes: list[str] = []
    rss: dict[str, float] = {}
    stop_asking, failed = threading.Event(), []
    peak = [0]

    def timeline() -> None:
        try:
            time.sleep(args.before)
            rss["before"] = kib(bot.pid, "VmRSS") / 1024
            for update, batch in enumerate(BATCHES, start=1):
                mark = len(bot.lines)
                site.rss_articles = [*site.rss_articles, *(articles[number] for number in batch)]
                start, end, last = build(corpus, index_dir, feed)
                events[f"build{update}"], events[f"built{update}"] = start, end
                notes.append(f"update {update}: {last.replace(chr(10), ' | ')}")
                _, switched, line = bot.wait_line(f"(generation {update})", timeout=120, since=mark)
                events[f"switch{update}"] = switched
                rss[f"switch{update}"] = kib(bot.pid, "VmRSS") / 1024
                notes.append(f"switch {update}: {line.split(': ', 1)[-1]}")
                with lock:  # every chat's next question: one that only this update's articles answer
                    for position, chat in enumerate(chats):
                        queued.setdefault(chat, []).append((batch[position % len(batch)], update))
                time.sleep(args.after)
        except Exception as exc:  # reported in the results; the chats stop asking
            failed.append(f"{type(exc).__name__}: {exc}")
        finally:
            events["end"] = time.monotonic()
            stop_asking.set()

    def sample() -> None:
        while not stop_asking.is_set():
            peak[0] = max(peak[0], kib(bot.pid, "VmHWM"))
            stop_asking.wait(0.2)

    chats = [-(2_000_000 + n) for n in range(args.chats)] if args.groups else [2_000_000 + n for n in range(args.chats)]
    asked: dict[tuple[int, int], Asked] = {}  # (chat, the question's message id)
    latest: dict[int, Asked] = {}  # private chats: the question a message in the chat answers
    turn = dict.fromkeys(chats, 0)

    def ask(chat: int) -> None:
        with lock:
            article, update = queued[chat].pop(0) if queued.get(chat) else (None, 0)
        if article is None:
            text, turn[chat] = QUESTIONS[turn[chat] % len(QUESTIONS)], turn[chat] + 1
        else:
            text = FEED_QUESTIONS[article][0]
        if args.groups:
            message = server.send_group_text(chat, f"@{BOT_USERNAME} {text}", user_id=-chat)
        else:
            message = server.send_text(chat, text, user_id=chat)
        question = latest[chat] = asked[(chat, message["message_id"])] = Asked(chat, time.monotonic(), text, article,
                                                                               update)
        return question

    def answered(sent) -> Asked | None:
        if args.groups:
            return asked.get((sent.chat_id, sent.reply_to))  # None: a second part of a long answer
        return latest.get(sent.chat_id)

    events["start"] = time.monotonic()
    threading.Thread(target=timeline, daemon=True).start()
    threading.Thread(target=sample, daemon=True).start()
    for chat in chats:
        ask(chat)
    cursor = 0
    deadline = events["start"] + args.timeout
    while time.monotonic() < deadline:
        with server.cond:
            server.cond.wait_for(lambda seen=cursor: len(server.all_sent) > seen, 0.5)
            new, cursor = server.all_sent[cursor:], len(server.all_sent)
        for sent in new:
            question = answered(sent)
            if question is None:
                continue
            question.replies.append(sent)
            if len(question.replies) == 1 and not stop_asking.is_set():
                ask(sent.chat_id)
        if stop_asking.is_set() and all(question.replies for question in asked.values()):
            break
    with server.cond:  # a late duplicate would come now
        server.cond.wait_for(lambda: False, 3.0)
        late = server.all_sent[cursor:]
    for sent in late:
        if (question := answered(sent)) is not None:
            question.replies.append(sent)
    peak[0] = max(peak[0], kib(bot.pid, "VmHWM"))
    rss["end"] = kib(bot.pid, "VmRSS") / 1024
    return summarise(args, server, bot, articles, asked, events, notes, rss, peak[0] / 1024, failed)


def phase_of(at: float, events: dict[str, float]) -> str:
    bounds = [("build1", "before switch 1"), ("switch1", "during switch 1"), ("build2", "after switch 1"),
              ("switch2", "during switch 2")]
    for name, label in bounds:
        if at < events.get(name, float("inf")):
            return label
    return "after switch 2"


def summarise(args, server, bot, articles, asked, events, notes, rss, peak_mib, failed) -> dict:
    phases: dict[str, list[float]] = {}
    checks: dict[int, list[bool]] = {1: [], 2: []}
    for question in asked.values():
        got = question.replies
        if not got:
            continue
        phases.setdefault(phase_of(question.at, events), []).append((got[0].at - question.at) * 1000)
        if question.article is not None:
            article = articles[question.article]
            checks[question.update].append(cites(got[0].text, article.title, FEED_QUESTIONS[question.article][1]))
    answered = sum(1 for question in asked.values() if question.replies)
    duplicates = sum(len(question.replies) - 1 for question in asked.values() if len(question.replies) > 1)
    log = bot.text()
    result = {
        "chats": args.chats, "kind": "group" if args.groups else "private", "asked": len(asked), "answered": answered,
        "lost": len(asked) - answered,
        "duplicates": duplicates, "seconds": round(events["end"] - events["start"], 1),
        "builds_s": [round(events[f"built{n}"] - events[f"build{n}"], 1) for n in (1, 2) if f"built{n}" in events],
        "build_to_switch_s": [round(events[f"switch{n}"] - events[f"build{n}"], 1) for n in (1, 2)
                              if f"switch{n}" in events],
        "phases": {label: {"questions": len(values), "p50_ms": round(percentile(values, 0.5)),
                           "p95_ms": round(percentile(values, 0.95)), "max_ms": round(max(values))}
                   for label, values in phases.items()},
        "cites_new": {f"update {n}": f"{sum(ok)}/{len(ok)}" for n, ok in checks.items()},
        "peak_rss_mib": round(peak_mib), "rss_mib": {name: round(value) for name, value in rss.items()},
        "bad_requests": sum(1 for request in server.errors() if request.status == 400),
        "error_lines": sum(1 for line in log.splitlines() if " ERROR " in line or "Traceback" in line),
        "switch_lines": log.count("switched to the new index"), "notes": notes, "failed": failed,
        "machine": machine_note(),
    }
    return result


def report(result: dict) -> None:
    print(f"{result['chats']} {result['kind']} chats asking for {result['seconds']} s ({result['machine']})")
    print(f"asked {result['asked']}, answered {result['answered']}, lost {result['lost']}, "
          f"duplicates {result['duplicates']}; bad requests {result['bad_requests']}, "
          f"ERROR lines in the bot's log {result['error_lines']}, switches logged {result['switch_lines']}")
    print(f"builds (index_build.py --feed, wall) {result['builds_s']} s; from a build's start to the switch "
          f"{result['build_to_switch_s']} s")
    print(f"answers after each switch citing the update's new article: {result['cites_new']}")
    print(f"bot peak RSS {result['peak_rss_mib']} MiB; RSS before the first update, at each switch and at the end {result['rss_mib']} MiB")
    print("\n| phase (by when asked) | questions | p50 ms | p95 ms | max ms |\n|---|---|---|---|---|")
    for label, figures in result["phases"].items():
        print(f"| {label} | {figures['questions']} | {figures['p50_ms']} | {figures['p95_ms']} | {figures['max_ms']} |")
    for line in result["notes"] + result["failed"]:
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=20, help="chats asking continuously (default 20)")
    parser.add_argument("--before", type=float, default=20, help="seconds of questions before the first update")
    parser.add_argument("--after", type=float, default=25, help="seconds of questions after each switch")
    parser.add_argument("--groups", action="store_true", help="group chats mentioning the bot (default: private chats)")
    parser.add_argument("--seed-index", type=Path, help="copy the seed index from this folder (built there when empty)")
    parser.add_argument("--poll", type=float, default=2.0, help="the bot's INDEX_POLL_SECONDS (default 2)")
    parser.add_argument("--timeout", type=float, default=900, help="give up after this many seconds")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    result = run(args)
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    ok = (result["lost"] == 0 and result["duplicates"] == 0 and not result["failed"] and result["error_lines"] == 0
          and all(value.split("/")[0] == value.split("/")[1] != "0" for value in result["cites_new"].values()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
