"""Every sentence a user reads, in one place: the REPL and the Telegram bot word the same
situation the same way, and a wording is reviewed (or translated) once.

Only words live here; the front ends decide where they appear. Error messages meant for
whoever runs the program (a missing index, a bad token) stay with their errors."""

from __future__ import annotations

EXAMPLE_QUESTION = "من التقى رشاد؟"
FOLLOW_UP_EXAMPLE = "ومتى كان ذلك؟"

# ---------------------------------------------------------------- the question check (every front end)

EMPTY_QUESTION = f"اكتب سؤالك عن الأخبار، مثلاً: {EXAMPLE_QUESTION}"
NO_WORDS = f"لم أجد في سؤالك كلمات أبحث عنها. اكتب سؤالك بالكلمات، مثلاً: {EXAMPLE_QUESTION}"
TOO_LONG = "سؤالك طويل جداً ({size} حرفاً)؛ الحد {limit} حرف. اختصره من فضلك."

# ---------------------------------------------------------------- greetings, thanks, goodbyes (retrieval/understand/smalltalk.py)

SMALL_TALK = {
    "salam": f"وعليكم السلام! اسألني عن الأخبار التي أعرفها، مثلاً: {EXAMPLE_QUESTION}",
    "greeting": f"أهلاً بك! اسألني عن الأخبار التي أعرفها، مثلاً: {EXAMPLE_QUESTION}",
    "thanks": "العفو! اسألني عن أي خبر متى شئت.",
    "ack": f"حسناً. اسألني عن الأخبار التي أعرفها متى شئت، مثلاً: {EXAMPLE_QUESTION}",
    "goodbye": "مع السلامة! أنا هنا متى احتجت إلى خبر.",
}

# ---------------------------------------------------------------- answers (composer and renderers)

NO_ANSWER = "لم أجد إجابة لهذا السؤال في المصادر المتاحة."
# leads an answer the composer is not sure of (Answer.unsure): the excerpts follow it
UNSURE = "هذه أقرب المقتطفات إلى سؤالك في المقالات، لكنها قد لا تجيب عنه."
SOURCES_HEADING = "المصادر:"
CORRECTED = "صحّحت الإملاء: "  # + "المخابرت ← المخابرات، ويتكف ← ويتكوف" (Answer.corrected)
SUGGESTIONS_HEADING = "مقالات قريبة (ليست إجابة):"
NO_MORE = "لا مزيد من المقتطفات."
FORGOTTEN = "بدأنا محادثة جديدة؛ نسيت الأسئلة السابقة."
# the bot's /new: it also deletes the stored answers (with their questions) and the votes on them (docs/privacy.md)
NEW_CONVERSATION = "بدأنا محادثة جديدة؛ حذفت ما سبق من أسئلة هذه المحادثة وإجاباتي عنها والتقييمات عليها."
# ends a reply cut at the bot's cap on messages per reply (bot/render.py MAX_REPLY_MESSAGES)
REPLY_CUT = "(اختصرت الرد: كان أطول من أن أرسله كاملاً.)"

# ---------------------------------------------------------------- the terminal (bot/repl.py)

REPL_BANNER = "{count} articles indexed. Type a question, or :help.  (Ctrl-D to quit)"
REPL_PROMPT = "سؤال> "
REPL_MORE_HINT = "(:more للمزيد)"
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

MORE_BUTTON = "المزيد"
COMMAND_DESCRIPTIONS = {
    "start": "تعريف بالبوت",
    "help": "كيف تسأل",
    "sources": "المقالات التي أعرفها",
    "new": "محادثة جديدة (نسيان الأسئلة السابقة)",
    "since": "مقالات منذ تاريخ معيّن فقط (/since off للإلغاء)",
    "latest": "أحدث العناوين مع تواريخها",
}
VOTE_USEFUL_BUTTON = "👍 مفيدة"
VOTE_NOT_USEFUL_BUTTON = "👎 غير مفيدة"
VOTE_THANKS = "شكراً، سجّلت رأيك."
VOTE_CHANGED = {"useful": "غيّرت رأيك: الإجابة مفيدة.", "not_useful": "غيّرت رأيك: الإجابة غير مفيدة."}
VOTE_SAME = "رأيك في هذه الإجابة مسجّل من قبل."
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


# ---------------------------------------------------------------- an answer to a question asked in English

# The words around an answer (never the quotes: they stay as the articles wrote them) for a question
# asked in English (Answer.language "en"). Keyed by the Arabic wording, so every wording has its
# translation next to it and a missing one falls back to the Arabic.
ENGLISH = {
    SMALL_TALK["salam"]: "Wa alaikum assalam! Ask me about the news I know, for example: Who did Hassan Rashad meet in Jerusalem?",
    SMALL_TALK["greeting"]: "Hello! Ask me about the news I know, for example: Who did Hassan Rashad meet in Jerusalem?",
    SMALL_TALK["thanks"]: "You are welcome! Ask me about any news whenever you like.",
    SMALL_TALK["ack"]: "All right. Ask me about the news I know whenever you like, for example: Who did Hassan Rashad meet in Jerusalem?",
    SMALL_TALK["goodbye"]: "Goodbye! I am here whenever you need the news.",
    TOO_LONG: "Your question is too long ({size} characters); the limit is {limit}. Please shorten it.",
    NO_ANSWER: "I found no answer to this question in the articles I have.",
    UNSURE: "These are the excerpts closest to your question, but they may not answer it.",
    SOURCES_HEADING: "Sources:",
    CORRECTED: "Spelling corrected: ",
    SUGGESTIONS_HEADING: "Related articles (not an answer):",
    NO_MORE: "No more excerpts.",
    REPLY_CUT: "(Reply shortened: it was too long to send in full.)",
    REPL_MORE_HINT: "(:more for more excerpts)",
    MORE_BUTTON: "More",
    VOTE_USEFUL_BUTTON: "👍 Useful",
    VOTE_NOT_USEFUL_BUTTON: "👎 Not useful",
    VOTE_THANKS: "Thank you, your vote is recorded.",
    VOTE_SAME: "Your vote on this answer was already recorded.",
    VOTE_CHANGED["useful"]: "Vote changed: the answer is useful.",
    VOTE_CHANGED["not_useful"]: "Vote changed: the answer is not useful.",
}


def question_language(question: str) -> str:
    """"en" when most of the question's letters are Latin (asked in English), else "ar"."""
    letters = [ch for ch in question if ch.isalpha()]
    latin = sum(ch.isascii() for ch in letters)
    return "en" if letters and latin > len(letters) / 2 else "ar"


def corrections_line(pairs: list[tuple[str, str]], language: str) -> str:
    """"صحّحت الإملاء: المخابرت ← المخابرات، ويتكف ← ويتكوف" (empty without corrections)."""
    if not pairs:
        return ""
    arrow, comma = (" → ", ", ") if language == "en" else (" ← ", "، ")
    return worded(CORRECTED, language) + comma.join(f"{typed}{arrow}{searched}" for typed, searched in pairs)


def worded(text: str, language: str) -> str:
    """``text`` (one of the wordings above) in ``language``; the Arabic when there is no translation."""
    return ENGLISH.get(text, text) if language == "en" else text
