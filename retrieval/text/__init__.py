"""Arabic text: normalise, tokenize, stem, calendar words, relative dates."""
