"""The front ends' own words (the REPL's help and prompts, Telegram's commands, buttons' answers, /since), in
one place: the REPL and the Telegram bot word the same situation the same way.

The words around an answer (the engine's messages, headings, the buttons' labels, the votes' thanks) are message
ids worded by retrieval/answer/catalog (Arabic, English) with ``word(message_id, language)``: they are not
repeated here. Error messages meant for whoever runs the program stay with their errors."""

from __future__ import annotations

from retrieval.answer.catalog.ar import EXAMPLE_QUESTION

FOLLOW_UP_EXAMPLE = "ومتى كان ذلك؟"
FORGOTTEN = "بدأنا محادثة جديدة؛ نسيت الأسئلة السابقة."
# the bot's /new: it also deletes the stored answers (with their questions) and the votes on them (docs/privacy.md)
NEW_CONVERSATION = "بدأنا محادثة جديدة؛ حذفت ما سبق من أسئلة هذه المحادثة وإجاباتي عنها والتقييمات عليها."

# ---------------------------------------------------------------- the terminal (bot/repl.py)

REPL_BANNER = "{count} articles indexed. Type a question, or :help.  (Ctrl-D to quit)"
REPL_PROMPT = "سؤال> "
REPL_INDEX_UPDATED = "(index updated: {count} articles)"
REPL_UNKNOWN_COMMAND = "Unknown command or value; :help lists them."
REPL_HELP = f"""Ask a question in Arabic or English and press Enter. Commands:
  :k N                 passages to retrieve (now {{k}})
  :mode hybrid|bm25|dense   retrieval mode (now {{mode}})
  :more                the next excerpts of the last answer
  :new                 forget the conversation (follow-ups start afresh)
  :since DATE          only articles published on or after DATE (2018-03-01, مارس 2018, 2018); :since off
  :until DATE          only articles published on or before DATE; :until off   (now {{period}})
  :help                this help
  :quit                leave (or Ctrl-D / Ctrl-C)
Example: {EXAMPLE_QUESTION}
A date in the question ("في مارس 2018", "آخر أخبار ...") favours the articles of that time."""
REPL_PERIOD = "dates: {period}"
REPL_BAD_DATE = "Not a date: {value!r}. Try :since 2018-03-01, :since مارس 2018, :since 2018 or :since off."
ALL_DATES = "all dates"

# ---------------------------------------------------------------- Telegram (bot/)

COMMAND_DESCRIPTIONS = {
    "start": "تعريف بالبوت",
    "help": "كيف تسأل",
    "sources": "المقالات التي أعرفها",
    "new": "محادثة جديدة (نسيان الأسئلة السابقة)",
    "since": "مقالات منذ تاريخ معيّن فقط (/since off للإلغاء)",
    "latest": "أحدث العناوين مع تواريخها",
}
VOTE_FORGOTTEN = "شكراً لك. لم أعد أحتفظ بهذه الإجابة فلم أسجّل الرأي؛ اطرح سؤالك من جديد إن شئت."
LATEST_HEADING = "أحدث العناوين:"
NO_DATED_ARTICLES = "لا أعرف تواريخ نشر المقالات التي عندي، فلا أستطيع ترتيبها من الأحدث. جرّب /sources"
TEXT_ONLY = "أفهم الأسئلة المكتوبة فقط. اكتب سؤالك بالعربية، مثل: " + EXAMPLE_QUESTION
EDITED = "لا أتابع تعديل الرسائل؛ أرسل سؤالك في رسالة جديدة."
RATE_LIMITED = "أسئلة كثيرة في وقت قصير. انتظر دقيقة ثم اسأل من جديد."
NOT_ALLOWED = "عذراً، هذا البوت خاص ولا يجيب في هذه المحادثة."
STALE_BUTTON = "انتهت صلاحية هذا الزر. اطرح سؤالك من جديد."
UNKNOWN_COMMAND = "أمر غير معروف. الأوامر: /help و /sources و /latest و /new و /since"
SINCE_SET = "سأجيب من المقالات المنشورة منذ {day} فقط. لإلغاء ذلك: /since off"
SINCE_OFF = "سأجيب من المقالات في كل التواريخ."
SINCE_NOW = "أجيب الآن من المقالات المنشورة منذ {day} فقط. لإلغاء ذلك: /since off"
SINCE_USAGE = "اكتب تاريخاً بعد الأمر، مثلاً: /since 2018-03-01 أو /since مارس 2018. للإلغاء: /since off"
SINCE_BAD = "لم أفهم التاريخ «{value}». اكتب مثلاً: /since 2018-03-01 أو /since آذار 2018 أو /since 2018."
SORRY = "عذراً، حدث خطأ أثناء معالجة رسالتك. حاول مرة أخرى بعد قليل."


def count_articles(count: int) -> str:
    """"5 مقالات", "12 مقالاً": Arabic number agreement."""
    if count == 1:
        return "مقال واحد"
    if count == 2:
        return "مقالان"
    if 3 <= count % 100 <= 10:
        return f"{count} مقالات"
    return f"{count} مقالاً"


def telegram_help(article_count: int, bot_username: str | None, in_group: bool) -> str:
    """The /start and /help text; in a group it says how to address the bot."""
    group_hint = ""
    if in_group and bot_username:
        group_hint = f"\nفي المجموعات: اذكرني (@{bot_username}) أو ردّ على رسالتي."
    return (
        "أجيب عن الأسئلة من مقالات إخبارية عربية"
        f" ({count_articles(article_count)})، باقتباسات حرفية من المقالات مع أرقام مصادرها.\n"
        f"اكتب سؤالك بالعربية، مثلاً: {EXAMPLE_QUESTION}\n"
        "بالفصحى أو بالعامية (مين قابل رشاد؟) أو بالإنجليزية (Who did Hassan Rashad meet in Jerusalem?).\n"
        f"يمكنك أن تتابع بسؤال قصير مثل: {FOLLOW_UP_EXAMPLE}\n"
        "إن لم أجد الجواب في المقالات قلت ذلك ولم أخمّن، وإن لم أتأكد منه نبّهتك قبل المقتطفات.\n"
        "اذكر الوقت إن شئت (في مارس 2018، آخر أخبار ...) فأقدّم مقالات ذلك الوقت.\n"
        "تحت كل إجابة زرّان (👍 / 👎): رأيك يساعدنا على تحسين الإجابات."
        f"{group_hint}\n\n"
        "/sources المقالات التي أعرفها\n"
        "/latest أحدث العناوين مع تواريخها\n"
        "/new محادثة جديدة\n"
        "/since تاريخ: مقالات منذ ذلك التاريخ فقط\n"
        "/help هذه الرسالة"
    )


def telegram_sources(titles: list[str], listed: int) -> str:
    """The /sources text: a count line, then at most ``listed`` titles."""
    lines = [f"أعرف {count_articles(len(titles))}:"]
    lines += [f"• {title}" for title in titles[:listed]]
    if len(titles) > listed:
        lines.append(f"… وغيرها ({count_articles(len(titles) - listed)}).")
    return "\n".join(lines)
