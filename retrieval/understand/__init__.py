"""Understand: the question text and the conversation -> a typed Query (retrieval/understand/query.py)."""
