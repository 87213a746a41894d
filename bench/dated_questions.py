"""Build dated questions from ANT news headlines (fixed seed): eval/dated_questions.jsonl.

How they are made (nothing is written by hand, so the set can be rebuilt and checked):

1. Every headline is cut into words (punctuation stripped); a *topic* is two adjacent content
   words of a headline (normalised: no stopwords, no digits, no month names, no generic words
   such as "مليون دولار" or "لأول مرة"), shown to the user as they are written in one headline.
2. A *recurring topic* is one whose words appear together in the headlines of at least
   ``--min-articles`` articles published in at least two different months: the topic alone cannot
   tell those articles apart, only their dates can.
3. ``month`` questions: a recurring topic and one month it appeared in, asked in one of several
   wordings (Egyptian or Levantine month names, Western or Arabic-Indic digits, "March 2018",
   "2018-03"); gold = every article of that month whose headline holds the topic.
   ``day`` questions: the same with one day ("يوم 6 مارس 2018", "2018-03-06", "٦/٣/٢٠١٨"), for a
   topic that appeared on other days too; gold = the articles of that day.
   ``latest`` questions: "ما آخر أخبار {topic}؟", "أحدث ...", "latest ..."; gold = the newest
   article(s) whose headline holds the topic (all those of its newest date).
4. Questions are drawn at random with ``--seed`` among all the candidates of each kind.

A question is right when one of its gold articles is among the top 5 articles retrieved
(bench/eval_dated.py). Build the set from the corpus that is indexed: gold is computed over the
articles of ``--corpus`` only.

    python bench/dated_questions.py                                   # the whole archive -> eval/dated_questions.jsonl
    python bench/dated_questions.py --corpus data/ant-sub1k-corpus/ant-1000.jsonl.gz --out data/dated-sub1k.jsonl
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval.text.arabic import STOPWORDS, normalize  # noqa: E402
from retrieval.text.calendar_ar import MONTHS_EGYPTIAN, MONTHS_LEVANTINE, month_number  # noqa: E402

ANT = ROOT.parent / "shared" / "data" / "ant-news" / "ant_news_2018.jsonl.gz"
ENGLISH_MONTHS = ("", "January", "February", "March", "April", "May", "June", "July", "August", "September",
                  "October", "November", "December")
# words that make a topic no topic: amounts, "for the first time", directions, time words
GENERIC = {normalize(w) for w in (
    "مليون مليار ألف دولار يورو جنيه درهم ريال لأول لاول مرة أول اول آخر اخر جديد جديدة عشرات مئات "
    "شمال جنوب شرق غرب شمالي جنوبي شرقي غربي اليوم أمس غدا الأسبوع العام السنة الشهر يوم عام سنة "
    "رغم بسبب ضد حول أكثر أقل خلال بعد قبل بين عبر نحو دون يكشف تكشف يعلن تعلن يؤكد تؤكد").split()}
_WORD = re.compile(r"[^\W_]+")
_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

MONTH_TEMPLATES = (
    "ماذا حدث بشأن {topic} في {eg} {year}؟",
    "أخبار {topic} في شهر {lev} {year_ar}",
    "{topic} في {eg} {year_ar}",
    "ما الجديد عن {topic} خلال {lev} {year}؟",
    "{topic} {en} {year}",
    "ماذا جرى مع {topic} في {eg}/{lev} {year}؟",
    "{topic} {year}-{mm}",
)
DAY_TEMPLATES = (
    "ماذا حدث بشأن {topic} يوم {d} {eg} {year}؟",
    "{topic} في {iso}",
    "أخبار {topic} بتاريخ {dmy_ar}",
    "{topic} on {en} {d}, {year}",
    "ما الجديد عن {topic} في {d_ar} {lev} {year_ar}؟",
)
LATEST_TEMPLATES = (
    "ما آخر أخبار {topic}؟",
    "أحدث تطورات {topic}",
    "آخر مستجدات {topic}",
    "latest on {topic}",
    "ماذا حدث مؤخراً بشأن {topic}؟",
)


def read_articles(corpus: Path) -> list[dict]:
    """(id, title, day) of every article with a title and a date."""
    opener = gzip.open if corpus.suffix == ".gz" else open
    articles = []
    with opener(corpus, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            try:
                day = date.fromisoformat(str(record.get("date", ""))[:10])
            except ValueError:
                continue
            if record.get("title"):
                articles.append({"id": str(record["id"]), "title": record["title"], "day": day})
    return articles


def topics(title: str) -> list[tuple[str, str]]:
    """(normalised key, words as written) of each pair of adjacent content words of a headline."""
    words = _WORD.findall(title)
    keys = [normalize(w) for w in words]
    good = [len(k) > 2 and k not in STOPWORDS and k not in GENERIC and not k.isdigit()
            and month_number(w) is None for w, k in zip(words, keys)]
    return [(f"{keys[i]} {keys[i + 1]}", f"{words[i]} {words[i + 1]}")
            for i in range(len(words) - 1) if good[i] and good[i + 1]]


def recurring(articles: list[dict], min_articles: int) -> dict[str, dict]:
    """Topics in the headlines of >= ``min_articles`` articles of >= 2 months: key -> articles, surface."""
    found: dict[str, dict] = defaultdict(lambda: {"articles": {}, "surface": None})
    for article in articles:
        for key, surface in topics(article["title"]):
            entry = found[key]
            entry["articles"][article["id"]] = article
            entry["surface"] = entry["surface"] or surface
    return {key: entry for key, entry in found.items()
            if len(entry["articles"]) >= min_articles
            and len({(a["day"].year, a["day"].month) for a in entry["articles"].values()}) >= 2}


def _fill(template: str, topic: str, day: date) -> str:
    return template.format(
        topic=topic, eg=MONTHS_EGYPTIAN[day.month], lev=MONTHS_LEVANTINE[day.month], en=ENGLISH_MONTHS[day.month],
        year=day.year, year_ar=str(day.year).translate(_INDIC), mm=f"{day.month:02d}", d=day.day,
        d_ar=str(day.day).translate(_INDIC), iso=day.isoformat(),
        dmy_ar=f"{day.day}/{day.month}/{day.year}".translate(_INDIC))


def candidates(topic_map: dict[str, dict]) -> dict[str, list[dict]]:
    """Every possible question of each kind (before the draw)."""
    out: dict[str, list[dict]] = {"month": [], "day": [], "latest": []}
    for key, entry in sorted(topic_map.items()):
        arts = sorted(entry["articles"].values(), key=lambda a: (a["day"], a["id"]))
        common = {"key": key, "topic": entry["surface"], "topic_articles": len(arts)}
        by_month: dict[tuple[int, int], list[dict]] = defaultdict(list)
        by_day: dict[date, list[dict]] = defaultdict(list)
        for article in arts:
            by_month[(article["day"].year, article["day"].month)].append(article)
            by_day[article["day"]].append(article)
        for (year, month), gold in sorted(by_month.items()):
            out["month"].append({**common, "day": date(year, month, 1), "gold": gold,
                                 "start": date(year, month, 1).isoformat(), "end": None})
        if len(by_day) >= 2:
            for day, gold in sorted(by_day.items()):
                out["day"].append({**common, "day": day, "gold": gold,
                                   "start": day.isoformat(), "end": day.isoformat()})
        newest = arts[-1]["day"]
        out["latest"].append({**common, "day": newest,
                              "gold": [a for a in arts if a["day"] == newest], "start": None, "end": None})
    return out


def build(articles: list[dict], seed: int, counts: dict[str, int], min_articles: int) -> list[dict]:
    rng = random.Random(seed)
    pool = candidates(recurring(articles, min_articles))
    questions = []
    templates = {"month": MONTH_TEMPLATES, "day": DAY_TEMPLATES, "latest": LATEST_TEMPLATES}
    for kind in ("month", "day", "latest"):
        drawn = rng.sample(pool[kind], min(counts[kind], len(pool[kind])))
        for item in drawn:
            template = rng.choice(templates[kind])
            questions.append({
                "id": f"{kind}-{len(questions) + 1:03d}",
                "kind": kind,
                "question": _fill(template, item["topic"], item["day"]),
                "topic": item["topic"],
                "period": None if kind == "latest" else {"unit": kind, "day": item["day"].isoformat()},
                "gold": [a["id"] for a in item["gold"]],
                "gold_titles": [a["title"] for a in item["gold"][:3]],
                "gold_dates": sorted({a["day"].isoformat() for a in item["gold"]}),
                "topic_articles": item["topic_articles"],
            })
    return questions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Example: python bench/dated_questions.py --out eval/dated_questions.jsonl")
    parser.add_argument("--corpus", type=Path, default=ANT, help="ANT JSON Lines (.jsonl or .jsonl.gz); default: the archive")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "dated_questions.jsonl")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--month", type=int, default=120, help="month questions to draw")
    parser.add_argument("--day", type=int, default=60, help="day questions to draw")
    parser.add_argument("--latest", type=int, default=80, help="latest questions to draw")
    parser.add_argument("--min-articles", type=int, default=3, help="headlines a topic must recur in")
    args = parser.parse_args(argv)
    articles = read_articles(args.corpus)
    questions = build(articles, args.seed, {"month": args.month, "day": args.day, "latest": args.latest},
                      args.min_articles)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        for question in questions:
            handle.write(json.dumps(question, ensure_ascii=False) + "\n")
    kinds = {kind: sum(q["kind"] == kind for q in questions) for kind in ("month", "day", "latest")}
    print(f"{len(questions)} questions from {len(articles)} articles -> {args.out} ({kinds})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
