"""The search's named signals, one file each: importing this package registers every signal in it (base.SIGNALS).

    bm25.py      the question's words (BM25)             dense.py     the question's vector against the chunk's
    sentence.py  the chunk's sentence closest in meaning  period.py    articles of the period the question names
    recency.py   newer articles, for "latest" questions   prefer.py    articles the conversation's last answer cited
"""

import importlib
import pkgutil

from retrieval.search.signals.base import FIRST, LIFT, MIX, SIGNALS, UNKNOWN_DAY, Candidates, Signal, signal, weights_from

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module != "base":
        importlib.import_module(f"{__name__}.{_module}")

__all__ = ["FIRST", "LIFT", "MIX", "SIGNALS", "UNKNOWN_DAY", "Candidates", "Signal", "signal", "weights_from"]
