"""Arabic news retrieval: load, analyse, chunk, embed, index, retrieve, compose answers."""

__version__ = "0.1.0"
