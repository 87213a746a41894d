"""The English wording of the message ids (an answer to a question asked in English; never the quotes: they stay
as the articles wrote them). An id missing here is worded in Arabic."""

EXAMPLE_QUESTION = "Who did Hassan Rashad meet in Jerusalem?"

MESSAGES = {
    "question.too_long": "Your question is too long ({size} characters); the limit is {limit}. Please shorten it.",
    "small_talk.salam": f"Wa alaikum assalam! Ask me about the news I know, for example: {EXAMPLE_QUESTION}",
    "small_talk.greeting": f"Hello! Ask me about the news I know, for example: {EXAMPLE_QUESTION}",
    "small_talk.thanks": "You are welcome! Ask me about any news whenever you like.",
    "small_talk.ack": f"All right. Ask me about the news I know whenever you like, for example: {EXAMPLE_QUESTION}",
    "small_talk.goodbye": "Goodbye! I am here whenever you need the news.",
    "answer.none": "I found no answer to this question in the articles I have.",
    "answer.unsure": "These are the excerpts closest to your question, but they may not answer it.",
    "answer.sources": "Sources:",
    "answer.corrected": "Spelling corrected: ",
    "answer.suggestions": "Related articles (not an answer):",
    "answer.no_more": "No more excerpts.",
    "answer.reply_cut": "(Reply shortened: it was too long to send in full.)",
    "answer.more_hint": "(:more for more excerpts)",
    "button.more": "More",
    "button.useful": "👍 Useful",
    "button.not_useful": "👎 Not useful",
    "vote.thanks": "Thank you, your vote is recorded.",
    "vote.same": "Your vote on this answer was already recorded.",
    "vote.changed.useful": "Vote changed: the answer is useful.",
    "vote.changed.not_useful": "Vote changed: the answer is not useful.",
}
