"""From a new article in a feed to the bot citing it: `index_build.py --watch --feed URL` reading
the feed every FEED_POLL_SECONDS (60), the real bot (`python -m bot`, INDEX_POLL_SECONDS 2) over the
loopback Bot API server, and a news site on 127.0.0.1 (tests/site_server.py) whose RSS feed gains
one article at a time, at a random moment of the poll cycle.

    nice -n 5 .venv/bin/python bench/feed_latency.py            # 6 articles, ~8 min

After each publication a user asks, every --ask-every seconds, a question only the new article
answers, until an answer cites it (its title among the sources and the answer's words in the
text). Prints each article's delay and its parts, from the two programs' own log lines as they
arrive: waiting for the feed to be read, fetching and saving, indexing (the watch's update),
the bot's switch, the answer; then the median, minimum and maximum.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from botapi_server import BOT_USERNAME, BotAPIServer  # noqa: E402
from common import machine_note  # noqa: E402
from load_bot import LoggedProcess, bot_env, clean_env  # noqa: E402
from load_switch import FEED_QUESTIONS, cites, seed_setup  # noqa: E402
from site_server import SiteServer, ant_articles  # noqa: E402


def run(args: argparse.Namespace) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="feed_latency-"))
    corpus, index_dir = seed_setup(scratch, args.seed_index)
    articles = {article.number: article for article in ant_articles(12)}
    order = list(FEED_QUESTIONS)[: args.items]
    rng = random.Random(args.seed)
    with SiteServer(list(articles.values())) as site, BotAPIServer() as server:
        site.rss_articles, site.atom_articles, site.extra_rss, site.extra_atom = [], [], [], []
        feed = site.base + "/rss.xml"
        watch = LoggedProcess(clean_env(FETCH_ALLOW_PRIVATE="true", FEED_POLL_SECONDS=str(args.feed_poll)), cwd=scratch,
                              command=[sys.executable, str(ROOT / "index_build.py"), "--watch", "--feed", feed,
                                       "--corpus", str(corpus), "--index-dir", str(index_dir)])
        bot = LoggedProcess(bot_env(server, index_dir, scratch, RATE_LIMIT_PER_MINUTE="100000",
                                    INDEX_POLL_SECONDS=str(args.index_poll)), cwd=scratch)
        try:
            watch.wait_line("start: ", timeout=300)
            server.wait_for_request("getUpdates", timeout=180)
            items = [measure(args, number, generation, articles[number], site, server, watch, bot, rng)
                     for generation, number in enumerate(order, start=1)]
        finally:
            watch.stop()
            bot.stop()
            shutil.rmtree(scratch, ignore_errors=True)
    delays = [item["delay_s"] for item in items]
    return {"items": items, "median_s": round(statistics.median(delays), 1), "min_s": round(min(delays), 1),
            "max_s": round(max(delays), 1), "feed_poll_s": args.feed_poll, "index_poll_s": args.index_poll,
            "ask_every_s": args.ask_every, "machine": machine_note()}


def measure(args, number: int, generation: int, article, site: SiteServer, server: BotAPIServer,
            watch: LoggedProcess, bot: LoggedProcess, rng: random.Random) -> dict:
    question, words = FEED_QUESTIONS[number]
    time.sleep(rng.uniform(0, args.feed_poll))  # a random moment of the feed's poll cycle
    watch_mark, bot_mark = len(watch.lines), len(bot.lines)
    site.rss_articles = [*site.rss_articles, article]
    published = time.monotonic()
    deadline = published + 2 * args.feed_poll + args.timeout
    asks = 0
    while True:
        if time.monotonic() > deadline:
            raise RuntimeError(f"article {number} not cited within {deadline - published:.0f} s:\n{watch.text()[-2000:]}")
        chat = -(3_000_000 + generation * 10_000 + asks)  # a new chat each time: no conversation to follow
        asks += 1
        asked = time.monotonic()
        message = server.send_group_text(chat, f"@{BOT_USERNAME} {question}", user_id=-chat)
        wanted = message["message_id"]
        server.wait_for(lambda c=chat, m=wanted: any(s.reply_to == m for s in server.sent.get(c, [])), 120, "the answer")
        reply = next(s for s in server.sent_to(chat) if s.reply_to == wanted)
        if cites(reply.text, article.title, words):
            cited = reply.at
            break
        time.sleep(max(0.0, asked + args.ask_every - time.monotonic()))
    _, saved, _ = watch.wait_line(f"saved: {article.title}", timeout=5, since=watch_mark)
    _, indexed, _ = watch.wait_line("(feeds.jsonl)", timeout=5, since=watch_mark)
    _, switched, _ = bot.wait_line("switched to the new index", timeout=5, since=bot_mark)
    item = {"article": number, "delay_s": round(cited - published, 1), "asks": asks,
            "until_saved_s": round(saved - published, 1), "indexing_s": round(indexed - saved, 1),
            "until_switch_s": round(switched - indexed, 1), "until_cited_s": round(cited - switched, 1)}
    print(json.dumps(item), file=sys.stderr, flush=True)
    return item


def report(result: dict) -> None:
    print(f"FEED_POLL_SECONDS={result['feed_poll_s']:g}, INDEX_POLL_SECONDS={result['index_poll_s']:g}, "
          f"a question every {result['ask_every_s']:g} s; {result['machine']}")
    print("\n| article | feed to cited answer s | until saved | indexing | until the bot's switch | until cited |"
          "\n|---|---|---|---|---|---|")
    for item in result["items"]:
        print(f"| {item['article']} | {item['delay_s']} | {item['until_saved_s']} | {item['indexing_s']} | "
              f"{item['until_switch_s']} | {item['until_cited_s']} |")
    print(f"\nmedian {result['median_s']} s (min {result['min_s']}, max {result['max_s']}) over {len(result['items'])} articles")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=6, help=f"articles published one by one (at most {len(FEED_QUESTIONS)})")
    parser.add_argument("--feed-poll", type=float, default=60, help="FEED_POLL_SECONDS for the watch (default 60)")
    parser.add_argument("--index-poll", type=float, default=2, help="the bot's INDEX_POLL_SECONDS (default 2)")
    parser.add_argument("--ask-every", type=float, default=2, help="seconds between two questions (default 2)")
    parser.add_argument("--seed", type=int, default=13, help="random seed of the publication moments")
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed per article beyond two polls")
    parser.add_argument("--seed-index", type=Path, help="copy the seed index from this folder (built there when empty)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    result = run(args)
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
