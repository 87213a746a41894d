"""Ingest: files, feeds and watched folders -> documents -> chunks -> an index build."""
