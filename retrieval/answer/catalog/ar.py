"""The Arabic wording of every message id (the reference catalog: every id is here)."""

EXAMPLE_QUESTION = "من التقى رشاد؟"

MESSAGES = {
    # the question check (understand/checks.py)
    "question.empty": f"اكتب سؤالك عن الأخبار، مثلاً: {EXAMPLE_QUESTION}",
    "question.no_words": f"لم أجد في سؤالك كلمات أبحث عنها. اكتب سؤالك بالكلمات، مثلاً: {EXAMPLE_QUESTION}",
    "question.too_long": "سؤالك طويل جداً ({size} حرفاً)؛ الحد {limit} حرف. اختصره من فضلك.",
    # greetings, thanks, goodbyes (understand/smalltalk.py)
    "small_talk.salam": f"وعليكم السلام! اسألني عن الأخبار التي أعرفها، مثلاً: {EXAMPLE_QUESTION}",
    "small_talk.greeting": f"أهلاً بك! اسألني عن الأخبار التي أعرفها، مثلاً: {EXAMPLE_QUESTION}",
    "small_talk.thanks": "العفو! اسألني عن أي خبر متى شئت.",
    "small_talk.ack": f"حسناً. اسألني عن الأخبار التي أعرفها متى شئت، مثلاً: {EXAMPLE_QUESTION}",
    "small_talk.goodbye": "مع السلامة! أنا هنا متى احتجت إلى خبر.",
    # the decision (answer/decide.py)
    "answer.none": "لم أجد إجابة لهذا السؤال في المصادر المتاحة.",
    # leads an answer the composer is not sure of (Decision.UNSURE): the excerpts follow it
    "answer.unsure": "هذه أقرب المقتطفات إلى سؤالك في المقالات، لكنها قد لا تجيب عنه.",
    # the words around an answer (bot/render.py)
    "answer.sources": "المصادر:",
    "answer.corrected": "صحّحت الإملاء: ",  # + "المخابرت ← المخابرات، ويتكف ← ويتكوف" (Answer.corrected)
    "answer.suggestions": "مقالات قريبة (ليست إجابة):",
    "answer.no_more": "لا مزيد من المقتطفات.",
    # ends a reply cut at the bot's cap on messages per reply (bot/render.py MAX_REPLY_MESSAGES)
    "answer.reply_cut": "(اختصرت الرد: كان أطول من أن أرسله كاملاً.)",
    "answer.more_hint": "(:more للمزيد)",
    "button.more": "المزيد",
    "button.useful": "👍 مفيدة",
    "button.not_useful": "👎 غير مفيدة",
    "vote.thanks": "شكراً، سجّلت رأيك.",
    "vote.same": "رأيك في هذه الإجابة مسجّل من قبل.",
    "vote.changed.useful": "غيّرت رأيك: الإجابة مفيدة.",
    "vote.changed.not_useful": "غيّرت رأيك: الإجابة غير مفيدة.",
}
