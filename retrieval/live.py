"""A pipeline that follows its index: when ``index_build.py`` swaps a new index in, the next
``refresh()`` loads it and later questions get it, without a restart.

Front ends take ``live.current()`` once per question and keep that reference until the answer
is sent, so a question in flight finishes on the index it started on; the holder drops its own
reference to the old pipeline at the switch, and the old index (its memory maps included) is
freed when the last question holding it ends. A new index that is damaged or built for another
embedder is refused with the loader's message and the old one keeps serving.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import RetrievalError
from retrieval.index import Index
from retrieval.index.layout import MANIFEST
from retrieval.pipeline import Pipeline
from retrieval.settings import Settings

log = logging.getLogger(__name__)

# (inode, size, mtime in ns) of manifest.json: a build writes a new manifest in a new folder and
# swaps the folder in, so each of these changes; None while there is no manifest (mid-swap)
Signature = tuple[int, int, int] | None


@dataclass(frozen=True)
class Switch:
    """One switch to a new index, as logged and passed to ``on_switch``."""

    generation: int
    documents: int
    chunks: int
    previous_documents: int
    previous_chunks: int
    created_at: str
    build_seconds: float
    load_seconds: float

    def describe(self) -> str:
        return (f"switched to the new index (generation {self.generation}): {self.documents} documents, "
                f"{self.chunks} chunks (was {self.previous_documents}, {self.previous_chunks}); built at "
                f"{self.created_at or '?'} in {self.build_seconds:.1f} s, loaded in {self.load_seconds:.2f} s")


def manifest_signature(index_dir: Path) -> Signature:
    """What identifies the manifest on disk, for one ``stat`` (cheap enough to ask before every question)."""
    try:
        stat = os.stat(Path(index_dir) / MANIFEST)
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def prepare_tables(index: Index) -> None:
    """Build what questions look words up in (the English names' table, the spelling table) for ``index``."""
    index.lexicon.prepare()


class LivePipeline:
    """Holds the pipeline in use and switches it when the index on disk changes.

    ``current()`` costs nothing (a reference read); ``refresh()`` costs one ``stat`` when nothing
    changed, and loads the new index (outside any lock the questions take) when it did. Without
    ``settings`` the holder is fixed: it serves the pipeline it was given and never switches
    (tests that script a pipeline, front ends given a ready pipeline)."""

    def __init__(self, pipeline: Pipeline, settings: Settings | None = None, *,
                 signature: Signature = None,
                 on_switch: Callable[[Switch], None] | None = None) -> None:
        self._pipeline = pipeline
        self.settings = settings
        self.on_switch = on_switch
        self.generation = 0
        self.refused: str | None = None  # the message of the last new index refused (None once one is used)
        self._signature = signature if signature is not None else (
            manifest_signature(settings.index.index_dir) if settings is not None else None)
        self._refused_signature: Signature = None
        self._load_lock = threading.Lock()  # one load at a time; questions never take it
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    @classmethod
    def load(cls, settings: Settings, **options) -> LivePipeline:
        """Load the index of ``settings`` (raises as ``Pipeline.load`` does: the first index must be usable)."""
        signature = manifest_signature(settings.index.index_dir)  # before loading: a build finishing meanwhile is seen next time
        live = cls(Pipeline.load(settings), settings, signature=signature, **options)
        # the English names' lookup table (retrieval/understand/names.py; 3.7 s on the whole archive) and the spelling
        # table (retrieval/understand/spelling.py), built in the background so the first question does not wait for them
        threading.Thread(target=prepare_tables, args=(live.current().index,), name="names", daemon=True).start()
        return live

    @property
    def follows_index(self) -> bool:
        return self.settings is not None

    def current(self) -> Pipeline:
        """The pipeline to answer the next question with; keep the reference for the whole question."""
        return self._pipeline

    def changed(self) -> bool:
        """True when the manifest on disk differs from the one in use and was not already refused."""
        if self.settings is None:
            return False
        signature = manifest_signature(self.settings.index.index_dir)
        return signature is not None and signature != self._signature and signature != self._refused_signature

    def refresh(self) -> bool:
        """Switch to the index on disk if it changed and can be used; True when a switch happened.
        Never raises for a bad index: it is logged (once per manifest), kept in ``refused``,
        and the pipeline in use keeps serving. Safe to call from several threads."""
        if not self.changed():
            return False
        with self._load_lock:
            signature = manifest_signature(self.settings.index.index_dir)
            if signature is None or signature in (self._signature, self._refused_signature):
                return False  # another thread switched (or refused) while this one waited
            old = self._pipeline
            started = time.perf_counter()
            try:
                # the embedder is reused: Index.load refuses an index built for another one
                index = Index.load(self.settings.index.index_dir, self.settings)
                new = Pipeline(self.settings, index, old.embedder, old.reader)
                prepare_tables(index)  # off the question path, like the load itself
            except (RetrievalError, OSError) as exc:
                self._refused_signature, self.refused = signature, str(exc)
                log.error("the new index at %s was refused; still serving the previous one (%d documents): %s",
                          self.settings.index.index_dir, len(old.index.documents), exc)
                return False
            switch = Switch(
                generation=self.generation + 1,
                documents=len(index.documents), chunks=len(index),
                previous_documents=len(old.index.documents), previous_chunks=len(old.index),
                created_at=index.manifest.created_at, build_seconds=index.manifest.build_seconds,
                load_seconds=time.perf_counter() - started,
            )
            # the signature seen before loading: a build swapped in during the load is loaded next time
            self._signature = signature
            self._pipeline, self.generation, self.refused = new, switch.generation, None
            del old  # the questions still holding it keep it alive until they end
        log.info("%s", switch.describe())
        if self.on_switch is not None:
            self.on_switch(switch)
        return True

    # ------------------------------------------------------------ polling

    def start_polling(self, interval: float) -> None:
        """Call ``refresh`` every ``interval`` seconds in a daemon thread (the bot: a switch never
        waits for a question, and a question never waits for a load). 0 or less: no polling."""
        if interval <= 0 or self.settings is None or self._poller is not None:
            return
        self._stop.clear()
        self._poller = threading.Thread(target=self._poll, args=(interval,), name="index-poller", daemon=True)
        self._poller.start()

    def stop_polling(self, timeout: float = 30.0) -> None:
        """Stop the polling thread (waits for a load in progress to finish)."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout)
            self._poller = None

    def _poll(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.refresh()
            except Exception:  # never let the poller die: the next tick tries again
                log.exception("checking the index for a new build failed")
