"""The reader's question tower (retrieval/reader): the shipped weights load only with their checksum,
their ONNX graph computes what torch computes with the same weights, READER=off gives today's
composer, and on the real seed corpus the reader answers what the plain composer could not."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import SEED_CORPUS, seed_settings

from retrieval.answer.scoring import candidates
from retrieval.pipeline import Pipeline
from retrieval.reader.tower import WEIGHTS, ReaderError, ensure_graph, load_meta, load_tower

MEETING = "000_bfedeb9d58756a4b"  # Rashad meets Netanyahu in Jerusalem


def test_the_shipped_tower_names_its_data_licence_and_command() -> None:
    meta = load_meta()
    assert meta["provenance"]["licence"].startswith("CC BY-SA 4.0")
    assert meta["provenance"]["command"].startswith("python -m retrieval.reader.train")
    assert any("XQuAD" in d for d in meta["provenance"]["data"])
    assert WEIGHTS.stat().st_size < 40 * 2**20  # the bound for weights kept in the repo
    assert meta["parameters"] > 1_000_000


def test_damaged_or_missing_weights_are_refused_with_the_fix(tmp_path) -> None:
    copy = tmp_path / WEIGHTS.name
    shutil.copy(WEIGHTS.with_suffix(".json"), copy.with_suffix(".json"))
    data = bytearray(WEIGHTS.read_bytes())
    data[len(data) // 2] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(ReaderError, match="checksum.*damaged"):
        load_meta(copy)
    with pytest.raises(ReaderError, match="READER=off"):
        load_meta(tmp_path / "missing.safetensors")
    copy.with_suffix(".json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ReaderError, match="unreadable"):
        load_meta(copy)


def test_weights_for_another_model_are_refused(tmp_path) -> None:
    copy = tmp_path / WEIGHTS.name
    shutil.copy(WEIGHTS, copy)
    meta = load_meta()
    meta["base_weights"] = "0" * 16
    copy.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ReaderError, match="other e5 weights"):
        ensure_graph(tmp_path / "models", copy)


@pytest.mark.slow
def test_the_onnx_tower_computes_what_torch_computes_with_the_shipped_layers() -> None:
    torch = pytest.importorskip("torch")
    from safetensors.numpy import load_file

    from retrieval.reader.train import QuestionTower

    questions = ["من التقى رشاد؟", "Who did Hassan Rashad meet in Jerusalem?", "متى وصل ويتكوف إلى القاهرة؟"]
    tower = load_tower()
    torch_tower = QuestionTower(freeze=0, threads=1)
    plain = torch_tower.embed(questions)
    torch_tower.load_state({k: v.astype(np.float32) for k, v in load_file(str(WEIGHTS)).items()})
    tuned = torch_tower.embed(questions)
    onnx = np.stack([tower.embed_query(q) for q in questions])
    assert np.min(np.sum(onnx * tuned, axis=1)) > 0.9999
    # and the tuned layers are not the plain model's: the graph really carries them
    assert np.max(np.sum(onnx * plain, axis=1)) < 0.999
    del torch


def test_the_trainable_sentence_side_starts_as_e5s_sentence_vectors() -> None:
    """train.py --sentence-layers: the top layers run over the lower layers' cached states give, before any
    step, the sentence vectors the whole model gives (the index's, up to its 4-bit runtime)."""
    pytest.importorskip("torch")
    from retrieval.embedders.e5 import OnnxE5Embedder
    from retrieval.reader.train import MODELS_DIR, QuestionTower, SentenceTower

    sentences = ["التقى رئيس المخابرات المصرية، اللواء حسن رشاد، رئيس الوزراء الإسرائيلي في القدس.",
                 "استقبل اللواء حسن رشاد مبعوث الرئيس الأمريكي ستيف ويتكوف في القاهرة.", "قصيرة."]
    tower = QuestionTower(freeze=4, threads=1)
    side = SentenceTower(tower, sentences, layers=2)
    vectors = side.embed_all()
    index_vectors = OnnxE5Embedder(models_dir=MODELS_DIR).embed_passages(sentences)
    assert vectors.shape == (3, 384) and np.min(np.sum(vectors * index_vectors, axis=1)) > 0.99
    assert {name.split(".")[0] for name in side.state()} == {"0", "1"}  # the two top layers, trainable
    assert all(p.requires_grad for p in side.parameters())


@pytest.fixture(scope="module")
def reader_pipeline(seed_index) -> Pipeline:
    return Pipeline.load(seed_settings(seed_index, reader="on"))


def test_reader_off_is_the_plain_composer(seed_index, reader_pipeline: Pipeline) -> None:
    off = Pipeline.load(seed_settings(seed_index))  # the default
    assert off.reader is None and reader_pipeline.reader is not None
    question = "Who did Hassan Rashad meet in Jerusalem?"
    on_answer, off_answer = reader_pipeline.answer(question), off.answer(question)
    assert "reader_ms" in on_answer.timings_ms and "reader_ms" not in off_answer.timings_ms
    # the same retrieval; the composer differs only by the reader's vector
    assert [p.chunk_index for p in on_answer.passages] == [p.chunk_index for p in off_answer.passages]
    tower, reader_pipeline.reader = reader_pipeline.reader, None
    try:
        assert reader_pipeline.answer(question).text == off_answer.text
    finally:
        reader_pipeline.reader = tower
    with pytest.raises(Exception, match="READER must be on or off"):
        Pipeline.load(seed_settings(seed_index, reader="maybe"))


def test_the_tower_ranks_the_answering_sentence_first_and_spreads_the_scores(reader_pipeline: Pipeline) -> None:
    seed_pipeline = reader_pipeline
    # "who did Rashad meet in Jerusalem": the sentence naming Netanyahu is the tower's best match among
    # the meeting article's sentences, by a clear margin where the plain e5 vector barely separates them
    index = seed_pipeline.index
    passages = seed_pipeline.retriever.search("لقاء رشاد نتنياهو القدس", k=5)
    cands = [c for c in candidates(index, passages) if c.passage.doc_id == MEETING]
    rows = index.sentence_vectors[[c.sentence_index for c in cands]]
    question = "من التقى رشاد في القدس؟"
    tuned = rows @ seed_pipeline.reader.embed_query(question)
    plain = rows @ seed_pipeline.embedder.embed_query(question)
    assert "نتنياهو" in cands[int(np.argmax(tuned))].text
    assert np.ptp(tuned) > 2 * np.ptp(plain)


@pytest.mark.slow
def test_the_reader_keeps_quotes_verbatim_and_abstention_unchanged(seed_index, reader_pipeline: Pipeline) -> None:
    on = reader_pipeline
    off = Pipeline.load(seed_settings(seed_index, reader="off"))
    questions = [json.loads(line)["question"] for name in ("seed_qa", "unanswerable")
                 for line in (SEED_CORPUS.parent / "eval" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    texts = {p.stem: p.read_text(encoding="utf-8") for p in SEED_CORPUS.iterdir()}
    changed = 0
    for question in questions:
        a, b = on.answer(question), off.answer(question)
        # whether to answer is decided on the plain vector: the reader only reorders the sentences
        assert (a.abstained, a.confidence) == (b.abstained, b.confidence), question
        assert all(e.text in texts[e.doc_id] for e in a.excerpts), question
        changed += a.text != b.text
    assert changed  # and it does reorder some


def test_training_examples_point_at_the_sentence_holding_the_answer_and_folds_keep_articles_whole() -> None:
    from conftest import ROOT

    from retrieval.reader.data import fold_of, load

    xquad = ROOT.parent / "shared" / "data" / "xquad"
    if not (xquad / "xquad.ar.json").is_file():
        pytest.skip("../shared/data/xquad is not beside the repository")
    data = load(xquad, None, languages=("ar", "en"))
    arabic = {e.qid: e for e in data.examples if e.language == "ar"}
    answers = {qa["id"]: qa["answers"][0]["text"] for a in json.loads((xquad / "xquad.ar.json").read_text(encoding="utf-8"))["data"]
               for p in a["paragraphs"] for qa in p["qas"]}
    assert len(arabic) > 1100  # nearly all 1,190: an answer across two sentences is left out
    for example in data.examples:
        assert example.gold in example.sentences
        assert answers[example.qid].strip() in data.sentences[example.gold]
        # the English question is the same question: same gold sentence, same article, same fold
        twin = arabic[example.qid]
        assert (example.gold, example.article, fold_of(example.article)) == (twin.gold, twin.article, fold_of(twin.article))
    assert {fold_of(e.article) for e in data.examples} == {0, 1}
