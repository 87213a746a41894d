"""Sentence vectors pooled from the chunk's own forward pass, against sentences embedded on their own.

A build embeds every chunk and then every sentence again (the composer ranks sentences by their
similarity to the question): on the ANT archive the sentences are half the tokens. Pooling each
sentence's token states out of the chunk's pass would halve the build. This measures what that does
to what users see, on the evaluation sets' cached indexes (the same ones evaluate.py uses): each
set is evaluated twice in one run, with the index's own sentence vectors and with pooled ones.

    .venv/bin/python bench/pooled_sentences.py --sets xquad-ar,arcd,seed

A sentence that two chunks share (the chunk overlap) gets the mean of its tokens' states over both.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

SETS = {
    "xquad-ar": {"squad": Path("../shared/data/xquad/xquad.ar.json")},
    "arcd": {"squad": Path("../shared/data/arcd/arcd-train.json")},
    "seed": {"qa": Path("eval/seed_qa.jsonl"), "corpus": Path("corpus"), "unanswerable": Path("eval/unanswerable.jsonl"),
             "conversations": Path("eval/conversations.jsonl")},
}


class HiddenStates:
    """The converted q4 encoder with its last hidden states as an output (added in memory)."""

    def __init__(self, embedder) -> None:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper

        model = onnx.load(str(embedder.folder / "encoder-q4.onnx"))
        layer_out = next(n.output[0] for n in reversed(model.graph.node) if n.op_type == "LayerNormalization")
        model.graph.output.append(helper.make_tensor_value_info(layer_out, TensorProto.FLOAT, ["batch", "length", 384]))
        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        self._out = layer_out
        self._e = embedder

    def states(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]], callable]:
        """Token states of ``passage: text`` (no <s>/</s>), their offsets in the normalised text, and
        the map from a character position of ``text`` to one of the normalised text."""
        tok = self._e.tokenizer
        prefix = "passage: "
        normalised = tok.normalise(prefix + text)
        encoding = tok._tok.encode(normalised, add_special_tokens=False)  # noqa: SLF001
        ids = encoding.ids
        out = np.zeros((len(ids), 384), np.float32)
        for lo in range(0, max(len(ids), 1), 510):  # windows as the embedder uses them
            window = ids[lo : lo + 510]
            feed = np.array([[tok.bos, *window, tok.eos]], np.int64)
            embeds = np.asarray(self._e._word[feed], dtype=np.float32)  # noqa: SLF001
            hidden = self._session.run([self._out], {"inputs_embeds": embeds, "attention_mask": np.ones_like(feed)})[0]
            out[lo : lo + len(window)] = hidden[0, 1 : 1 + len(window)]
        return out, encoding.offsets, lambda c: len(tok.normalise(prefix + text[:c]))


def pooled_sentence_vectors(index, embedder, progress=None) -> np.ndarray:
    hidden = HiddenStates(embedder)
    sums = np.zeros((len(index.sentences), 384), np.float64)
    counts = np.zeros(len(index.sentences), np.int64)
    spans = index.chunk_sentences
    for i in range(len(index.chunks)):
        _, start, _, text = index.chunk(i)
        states, offsets, at = hidden.states(text)
        token_starts = np.array([a for a, _ in offsets])
        for row in range(*spans[i]):
            _, s, e = index.sentences[row]
            lo, hi = at(int(s) - start), at(int(e) - start)
            picked = (token_starts >= lo) & (token_starts < hi)
            if picked.any():
                sums[row] += states[picked].sum(0)
                counts[row] += int(picked.sum())
        if progress:
            progress(i + 1, len(index.chunks))
    vectors = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], 0).astype(np.float32)
    missing = np.flatnonzero(counts == 0)
    if len(missing):  # a sentence no chunk holds (should not happen): its own vector
        vectors[missing] = index.sentence_vectors[missing]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def evaluate(pipeline, spec: dict, items, unanswerable, conversations) -> dict:
    from retrieval.evaluation import Evaluator

    ev = Evaluator(pipeline, pipeline.settings.search.mode, pipeline.settings.search.top_k)
    ev.qa(items)
    ev.unanswerable(unanswerable)
    if conversations:
        ev.conversations(conversations)
    m = ev.report.to_dict()
    m.pop("failures")
    return m


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="xquad-ar,arcd,seed")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from retrieval.evaluation import cached_index, read_conversations, read_qa, read_squad, squad_corpus
    from retrieval.pipeline import Pipeline
    from retrieval.settings import Settings

    results = {}
    for name in args.sets.split(","):
        spec = SETS[name]
        if "squad" in spec:
            docs, items, held = read_squad(spec["squad"], 0)
            corpus = squad_corpus(spec["squad"], docs, 0)
            unanswerable, conversations = held, []
        else:
            items, corpus = read_qa(spec["qa"]), spec["corpus"]
            unanswerable, conversations = read_qa(spec["unanswerable"]), read_conversations(spec["conversations"])
        pipeline = Pipeline.load(cached_index(corpus, Settings()))
        own = pipeline.index.sentence_vectors
        t0 = time.perf_counter()
        pooled = pooled_sentence_vectors(pipeline.index, pipeline.embedder)
        seconds = time.perf_counter() - t0
        cos = (np.asarray(own) * pooled).sum(1)
        row = {"sentences": len(own), "pooling_s": round(seconds, 1),
               "cos_own_pooled_mean": round(float(cos.mean()), 4), "cos_own_pooled_min": round(float(cos.min()), 4)}
        row["own"] = evaluate(pipeline, spec, items, unanswerable, conversations)
        pipeline.index.sentence_vectors = pooled
        row["pooled"] = evaluate(pipeline, spec, items, unanswerable, conversations)
        pipeline.index.sentence_vectors = own
        results[name] = row
        print(f"\n## {name}: {row['sentences']:,} sentences, cosine own/pooled mean {row['cos_own_pooled_mean']}, "
              f"min {row['cos_own_pooled_min']}")
        print("| sentence vectors | answer recall | passage recall@1 | mean chars | unanswerable abstained "
              "| answerable abstained | conversations |\n|---|---|---|---|---|---|---|")
        for kind in ("own", "pooled"):
            m = row[kind]
            ab = m["abstention"]
            print(f"| {kind} | {m['answer_recall']:.3f} | {m['passage_recall']['1']:.3f} | {m['mean_answer_chars']} "
                  f"| {ab['abstained_correctly']}/{ab['unanswerable']} | {ab['answerable_abstained']}/{m['n_questions']} "
                  f"| {m['conversation_recall'] if m['conversation_recall'] is not None else '-'} |")
        sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
