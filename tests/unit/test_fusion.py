"""The search's one fusion and its registry of signals, on plain arrays (no index)."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.errors import UnknownBackend
from retrieval.search import fusion
from retrieval.search.signals.base import SIGNALS, minmax, signal, weights_from
from retrieval.settings import Settings


def test_every_signal_file_registers_a_signal_and_an_unknown_name_lists_them() -> None:
    assert {"bm25", "dense", "sentence", "period", "recency", "prefer"} <= set(SIGNALS)
    with pytest.raises(UnknownBackend, match="choose one of: .*bm25.*dense"):
        signal("no-such-signal")


def test_weights_come_from_the_config_and_a_copy_changes_them() -> None:
    weights = weights_from(Settings())
    assert weights["dense"] == Settings().search.dense_weight and weights["bm25"] == pytest.approx(1 - Settings().search.dense_weight)
    assert weights_from(Settings().with_(sentence_weight=0.0))["sentence"] == 0.0


def test_the_weighted_mix_adds_each_signals_minmax_times_its_weight_over_any_number_of_signals() -> None:
    scores = {"a": np.array([1.0, 3.0, 2.0]), "b": np.array([10.0, 0.0, 5.0]), "c": np.array([0.0, 0.0, 1.0])}
    weights = {"a": 0.5, "b": 0.25, "c": 0.25}
    fused = fusion.mix(scores, weights, "weighted", 3)
    expected = 0.5 * minmax(scores["a"]) + 0.25 * minmax(scores["b"]) + 0.25 * minmax(scores["c"])
    assert np.allclose(fused, expected) and int(np.argmax(fused)) == 2
    assert np.allclose(fusion.mix({}, {}, "weighted", 4), np.zeros(4))


def test_rrf_adds_weighted_reciprocal_ranks_and_an_unknown_fusion_is_refused() -> None:
    fused = fusion.mix({"a": np.array([3.0, 1.0]), "b": np.array([1.0, 3.0])}, {"a": 1.0, "b": 1.0}, "rrf", 2)
    assert np.allclose(fused, [1 / 61 + 1 / 62, 1 / 62 + 1 / 61])
    with pytest.raises(UnknownBackend, match="weighted, rrf"):
        fusion.mix({}, {}, "max", 0)
