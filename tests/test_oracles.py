"""The toy world's oracles: the classifier's file format and API (metrics.oracle), and the training loop
(toyworld.oracles) on a small budget, and the committed oracles (data/toy/oracles): ≥ 99% on fresh renders and on the
committed base model's reconstructions of them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from metrics.errors import MetricsError
from metrics.oracle import OracleNet, load_oracle, predict, save_oracle
from toyworld.oracles import FACTORS, SEEDS_PER_SET, TEST_SEEDS, OracleTraining, evaluate, render_set, train_oracle
from toyworld.render import render


def test_saved_oracle_reloads_with_its_classes_and_gives_the_same_predictions(tmp_path):
    torch.manual_seed(0)
    net = OracleNet(FACTORS["style"], "style", width=4).eval()
    images = [render("star", "dots", 1), render("ring", "sketch", 2)]
    save_oracle(net, tmp_path / "style.safetensors", {"test_accuracy": "0.5"})
    again = load_oracle(tmp_path / "style.safetensors")
    assert again.classes == FACTORS["style"] and again.factor == "style" and again.width == 4
    before, after = predict(net, images), predict(again, images)
    for a, b in zip(before, after, strict=True):
        assert a.label == b.label and a.label in FACTORS["style"]
        assert a.probability == pytest.approx(max(a.probabilities.values()))
        assert sum(a.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert a.features.shape == (16,) and np.allclose(a.features, b.features, atol=1e-6)


def test_a_file_that_is_not_an_oracle_is_a_clear_error(tmp_path):
    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(MetricsError, match="is not an oracle file"):
        load_oracle(tmp_path / "other.safetensors")


def test_render_sets_are_deterministic_and_test_seeds_never_train_seeds():
    a, labels_a = render_set(20, first_seed=5)
    b, labels_b = render_set(20, first_seed=5)
    assert np.array_equal(a, b) and all(np.array_equal(labels_a[f], labels_b[f]) for f in FACTORS)
    assert TEST_SEEDS > 100 * SEEDS_PER_SET  # a hundred training sets of up to 10⁶ images fit below the test seeds


def test_training_learns_the_style_and_evaluation_counts_a_confusion_matrix():
    images, labels = render_set(600, first_seed=0)
    test, test_labels = render_set(300, first_seed=TEST_SEEDS)
    config = OracleTraining(steps=60, batch_size=48, lr=5e-3, width=8)
    net, losses = train_oracle("style", images, labels["style"], config, progress=False)
    result = evaluate(net, test, test_labels["style"])
    confusion = np.array(result["confusion"])
    assert confusion.sum() == 300 and np.trace(confusion) / 300 == pytest.approx(result["accuracy"])
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    assert result["accuracy"] > 3 / len(FACTORS["style"])  # three times chance after 60 small steps


FRESH_SEEDS = 2 * 10**9  # beyond every training and test set the committed oracles were made with


def test_the_committed_oracles_are_right_on_99_percent_of_fresh_renders_and_their_reconstructions():
    from toyworld.build import BASE_MODEL, ORACLES, load_oracles
    from toyworld.oracles import reconstructed_uint8
    from toyworld.pretrain import reconstruct
    from unziplora.pipelines import load_pipeline

    oracles = load_oracles(ORACLES)
    vae = load_pipeline(str(BASE_MODEL)).vae
    images, labels = render_set(600, first_seed=FRESH_SEEDS)
    reconstructions = reconstructed_uint8(lambda x: reconstruct(vae, x), images)
    for factor, net in oracles.items():
        assert net.classes == FACTORS[factor]
        for name, batch in (("renders", images), ("reconstructions", reconstructions)):
            accuracy = evaluate(net, batch, labels[factor])["accuracy"]
            assert accuracy >= 0.99, f"{factor} oracle on fresh {name}: {accuracy:.3f}"
