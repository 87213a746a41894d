"""Keep an index in step with its corpus: watch the corpus files (watchfiles, debounced) and
rebuild after each batch of changes. A rebuild embeds only new or changed texts (``build_index``
reuses every other vector from the index it replaces), and the bot switches to the result on its
own (retrieval/live.py). Bad files are skipped and reported; nothing a file holds stops the watch, and
no failed build does either (its reason is reported and logged, the next change tries again)."""

from __future__ import annotations

import logging
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.embedders import Embedder
from retrieval.embedders import from_settings as embedder_from_settings
from retrieval.errors import RetrievalError
from retrieval.ingest.build import BuildResult, build_index
from retrieval.ingest.documents import SUPPORTED
from retrieval.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_DEBOUNCE_MS = 1000  # a copy of many files, or an editor's save in steps, is one update


@dataclass
class WatchUpdate:
    """One rebuild: the files that changed since the last one and what the build did (or its error)."""

    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    result: BuildResult | None = None
    error: str | None = None
    seconds: float = 0.0
    initial: bool = False  # the build when the watch starts

    @property
    def skipped(self) -> list[str]:
        """The skipped items that belong to the files of this update (all of them at the start)."""
        if self.result is None:
            return []
        changed = set(self.added) | set(self.modified)
        return [str(item) for item in self.result.report.skipped if self.initial or item.path in changed]

    def describe(self) -> str:
        """The one line the command prints for this update."""
        if self.initial:
            what = "start"
        else:
            parts = [f"{sign}{len(names)} {label} ({_names(names)})" for sign, label, names in
                     (("+", "added", self.added), ("~", "modified", self.modified), ("-", "deleted", self.deleted))
                     if names]
            what = ", ".join(parts)
        if self.error is not None:
            return f"{what}: not indexed: {self.error} ({self.seconds:.1f} s); the previous index stays"
        result = self.result
        done = ("index unchanged" if result.status == "unchanged" else
                f"embedded {result.embedded}, reused {result.reused}")
        line = (f"{what}: {result.documents} documents, {result.chunks} chunks; {done}; "
                f"{self.seconds:.1f} s")
        if skipped := self.skipped:
            line += f"; skipped {len(skipped)}: " + "; ".join(skipped)
        return line


def _names(names: list[str], most: int = 3) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def corpus_filter(corpus: Path) -> Callable[[object, str], bool]:
    """Which changes matter: files the loader reads (by suffix), not hidden ones (editors' swap and
    lock files, a build's temporary folders), inside the corpus (or the corpus file itself)."""
    corpus = corpus.resolve()
    single = corpus if corpus.is_file() else None

    def keep(change: object, path: str) -> bool:
        where = Path(path)
        if single is not None:
            return where == single
        try:
            parts = where.relative_to(corpus).parts
        except ValueError:
            return False
        return bool(parts) and not any(part.startswith(".") for part in parts) and where.name.lower().endswith(SUPPORTED)

    return keep


def watch_corpus(settings: Settings, on_update: Callable[[WatchUpdate], None], *,
                 debounce_ms: int = DEFAULT_DEBOUNCE_MS, stop_event=None, embedder: Embedder | None = None,
                 on_ready: Callable[[], None] | None = None) -> None:
    """Build once, then rebuild after each debounced batch of changes under ``settings.index.corpus_dir``,
    reporting each to ``on_update``, until ``stop_event`` is set (a ``threading.Event``) or
    KeyboardInterrupt. The model is loaded once for the whole watch."""
    import watchfiles

    corpus = Path(settings.index.corpus_dir).resolve()
    if not corpus.exists():
        raise RetrievalError(f"Corpus {settings.index.corpus_dir} does not exist; create it (or pass --corpus DIR) and watch again.")
    embedder = embedder or embedder_from_settings(settings)
    base = corpus if corpus.is_dir() else corpus.parent
    started = False
    # the watcher exists from the generator's first step on: the first build runs after that step, so
    # a file written during it (or right after ``on_ready``) is an update, never missed
    for changes in watchfiles.watch(base, watch_filter=corpus_filter(corpus), debounce=debounce_ms,
                                    stop_event=stop_event, recursive=corpus.is_dir(),
                                    yield_on_timeout=True, rust_timeout=200):
        if not started:
            started = True
            on_update(_build(settings, embedder, WatchUpdate(initial=True)))  # covers this first batch too
            if on_ready is not None:
                on_ready()
        elif changes:
            on_update(_build(settings, embedder, _describe_changes(changes, base)))


def _describe_changes(changes: set, base: Path) -> WatchUpdate:
    """One batch of (Change, path) as files added, modified and deleted. A batch is a set (no
    order), so a file's last state is read from the disk: a file both added and deleted within one
    debounce that is gone was never there; one deleted and written again was modified."""
    from watchfiles import Change

    kinds: dict[str, set] = {}
    for change, path in changes:
        kinds.setdefault(path, set()).add(change)
    update = WatchUpdate()
    for path, seen in sorted(kinds.items()):
        rel = Path(path).relative_to(base).as_posix()
        if Path(path).exists():
            (update.added if seen == {Change.added} else update.modified).append(rel)
        elif seen != {Change.added}:
            update.deleted.append(rel)
    return update


def _build(settings: Settings, embedder: Embedder, update: WatchUpdate) -> WatchUpdate:
    """One rebuild. No failure stops the watch: the previous index stays, the next change tries again."""
    started = time.perf_counter()
    try:
        update.result = build_index(settings, embedder=embedder, progress=None)
    except (RetrievalError, OSError) as exc:  # an empty corpus, a disk full, another build holding the lock
        update.error = _redacted(str(exc), settings)
    except Exception as exc:  # a bug, a model that failed: the reason and where it came from, never a dead watch
        update.error = _redacted(f"{type(exc).__name__}{_where(exc)}: {exc}", settings)
        log.error("rebuild of %s failed: %s; the previous index stays, the next change tries again",
                  settings.index.index_dir, update.error)
    update.seconds = time.perf_counter() - started
    return update


def _where(exc: BaseException) -> str:
    """' at file.py:LINE in function' of the frame that raised ``exc`` (no values, no secrets)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""


_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")  # user:password@ in an address


def _redacted(text: str, settings: Settings) -> str:
    """``text`` without the settings' secrets (bot token, Milvus token) or passwords in addresses."""
    for secret in (settings.telegram.telegram_bot_token, settings.backends.milvus_token):
        if secret is not None and (value := secret.get_secret_value()):
            text = text.replace(value, "***")
    return _USERINFO.sub("***@", text)


def poll_feeds(settings: Settings, feeds: list[str], on_report: Callable[[object], None], *, stop_event,
               on_event: Callable[[str], None] | None = None) -> None:
    """Read ``feeds`` now and then every FEED_POLL_SECONDS until ``stop_event`` is set, appending new
    articles to the corpus's FEED_FILE (which the corpus watch then indexes). Never raises for a
    feed or a page (they are in the report); an unexpected error is reported and the polling goes on."""
    from retrieval.ingest.feeds import FeedReport, FetchPolicy, follow_feeds

    out = Path(settings.index.corpus_dir) / settings.feeds.feed_file
    policy = FetchPolicy.from_settings(settings)
    while not stop_event.is_set():
        try:
            report = follow_feeds(feeds, out, policy, on_event=on_event)
        except Exception as exc:  # a full disk, a bug: reported; the next poll tries again
            report = FeedReport(failed=[("feeds", f"{type(exc).__name__}: {exc}")])
        on_report(report)
        stop_event.wait(settings.feeds.feed_poll_seconds)
