"""Embedding backends behind one interface; see base.py for the registry."""

from retrieval.embedders.base import Embedder, available, create

__all__ = ["Embedder", "available", "create"]
