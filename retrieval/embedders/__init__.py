"""Embedding backends behind one interface; see base.py for the registry."""

from retrieval.embedders.base import Embedder, available, create, from_settings

__all__ = ["Embedder", "available", "create", "from_settings"]
