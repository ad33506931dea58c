"""Pruning (picoface.study.sparsity, study.channels) and `picoface study prune` end to end: the CSR
break-even arithmetic on the thesis's example, each selection rule hitting the sparsity asked, the
masked fine-tune keeping pruned weights at zero, and channel pruning lowering MACs and the arena."""

import json

import numpy as np
import pytest

from picoface.cli import main
from picoface.study.sparsity import as_matrix, break_even, csr_bytes, index_bits, layer_storage, masks

import study_config


def test_csr_break_even_on_the_thesis_example():
    # eq. 2.19: 4 x 5 with 9 non-zeros (11 pruned); 32-bit values, column indices and row pointers
    a = np.array([[1, 0, 0, 2, 0], [3, 0, 4, 0, 0], [0, 5, 6, 0, 7], [8, 0, 0, 9, 0]], np.float32)
    assert csr_bytes(4, 5, 9, 32, 32, 32) == 9 * 8 + 5 * 4 == 92 > 4 * 5 * 4
    # alpha > (m n c + (m + 1) r) / (v + c) = (20*32 + 5*32) / 64 = 12.5: 13 pruned weights are needed
    assert break_even(4, 5, 32, 32, 32) == 13
    assert csr_bytes(4, 5, 20 - 13, 32, 32, 32) < 80 <= csr_bytes(4, 5, 20 - 12, 32, 32, 32)
    # int8 values, 8-bit columns, 16-bit row pointers: (mn*8 + (m+1)*16) / 16 = mn/2 + m + 1
    assert break_even(16, 144, 8, 8, 16) == 16 * 144 // 2 + 17 + 1
    assert index_bits(256) == 8 and index_bits(257) == 16 and index_bits(70000) == 32
    # a Conv2D kernel (kh, kw, in, out) is W with one row per output channel
    k = np.zeros((1, 1, 5, 4), np.float32)
    k[0, 0] = a.T
    np.testing.assert_array_equal(as_matrix(k, False), a)
    st = layer_storage(k, False)
    assert (st["m"], st["n"], st["pruned"], st["dense"]) == (4, 5, 11, 20.0)
    assert st["csr"] == 9 * 2 + 5 * 1 and st["alpha"] == break_even(4, 5, 8, 8, 8)


@pytest.mark.parametrize("rule", ["abs", "layer", "neuron"])
def test_rules_reach_the_sparsity(rule):
    rng = np.random.default_rng(0)
    kernels = [rng.normal(0.01, 0.2, (3, 3, 8, 16)), rng.normal(0, 1.5, (3, 3, 16, 1)), rng.normal(0, 0.05, (1, 1, 16, 32))]
    dw = [False, True, False]
    for target in (0.0, 0.3, 0.7, 0.9):
        keep, gamma = masks(kernels, dw, rule, target)
        total = sum(k.size for k in kernels)
        got = 1 - sum(m.sum() for m in keep) / total
        assert abs(got - target) < 0.01, (rule, target, got)
        assert all(m.shape == k.shape for m, k in zip(keep, kernels))
    # each rule's meaning: abs prunes the small weights of every layer alike (the 0.05-wide layer the most)
    keep, gamma = masks(kernels, dw, rule, 0.5)
    per_layer = [1 - m.mean() for m in keep]
    if rule == "abs":
        assert per_layer[2] > 0.9 and per_layer[1] < 0.2
        kept_vals = np.concatenate([np.abs(k[m > 0]) for k, m in zip(kernels, keep)])
        assert kept_vals.min() > gamma
    else:                               # relative rules prune each layer by its own spread
        assert all(0.3 < p < 0.7 for p in per_layer)
    if rule == "neuron":                # and each output channel by its own
        m = as_matrix(keep[0], False)
        assert np.all(0.2 < 1 - m.mean(axis=1)) and np.all(1 - m.mean(axis=1) < 0.8)


def _config(tmp_path):
    return study_config.write(tmp_path, "{formats: [tflite-float, tflite-int8], calib_images: 8, board: openmv_h7, "
                                        "parity_tolerance: 1.0}")


@pytest.mark.tf
def test_channel_pruning_rebuilds_a_smaller_net():
    import keras

    from picoface.export.tflite import fold
    from picoface.study.channels import prune_channels
    from picoface.train.config import load_config
    from picoface.train.model import build_model, count_macs

    cfg = load_config(None, ["model.width=0.25", "model.extra_blocks=0", "model.activation=relu"])
    folded = fold(build_model(cfg.model, 64, 64), cfg.model)
    same, _, counts = prune_channels(folded, cfg.model, 0.0)
    x = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    np.testing.assert_allclose(same(x).numpy(), folded(x).numpy(), atol=1e-5)       # nothing removed: same net
    small, m, counts = prune_channels(folded, cfg.model, 0.5)
    assert all(k <= (n + 1) // 2 + 3 for k, n in counts.values()) and count_macs(small) < 0.5 * count_macs(folded)
    assert small.output_shape == folded.output_shape and m.channels[1:] == [counts["b%d_pw" % i][0] for i in range(len(counts))]
    # the kept channels are the ones with the largest norms, and they carry their weights along
    k = folded.get_layer("b0_pw").get_weights()[0]
    norms = np.sqrt((k ** 2).sum(axis=(0, 1, 2)))
    kept = np.sort(np.argsort(-norms, kind="stable")[:counts["b0_pw"][0]])
    np.testing.assert_array_equal(small.get_layer("b0_pw").get_weights()[0], k[..., kept])
    np.testing.assert_array_equal(small.get_layer("b1_dw").get_weights()[0], folded.get_layer("b1_dw").get_weights()[0][:, :, kept, :])
    assert isinstance(small, keras.Model)


@pytest.mark.tf
@pytest.mark.slow
def test_prune_study(tmp_path, capsys):
    cfg = _config(tmp_path)
    assert main(["train", "--config", str(cfg), "--quiet", "--no-export"]) == 0
    out = tmp_path / "study"
    argv = ["study", "prune", "--base", str(cfg), "--model", str(tmp_path / "run" / "best.keras"), "--budget", "0.06",
            "--sparsities", "0,80", "--channels", "50", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    s = json.loads((out / "study.json").read_text())
    ids = ["dense", "abs-80", "layer-80", "neuron-80", "channels-50"]
    assert s["kind"] == "prune" and s["finished"] == ids
    rows = {r["id"]: r for r in s["results"]}
    for r in rows.values():
        d = r["details"]
        assert d["finetune"]["steps"] >= 1 and r["arena_bytes"] > 0 and r["limits"] == "ok (openmv_h7)"
        assert set(r["score"]["ap"]) == {"far", "mid", "close", "mean"}
        assert r["bytes"] == round(d["tflite_bytes"] - d["weights_dense_bytes"] + d["weights_stored_bytes"]) or \
            abs(r["bytes"] - (d["tflite_bytes"] - d["weights_dense_bytes"] + d["weights_stored_bytes"])) <= 1
    assert rows["dense"]["details"]["sparsity"] < 0.01 and rows["dense"]["details"]["layers_csr_smaller"].startswith("0 of")
    for rule in ("abs", "layer", "neuron"):
        d = rows["%s-80" % rule]["details"]
        assert abs(d["sparsity"] - 0.8) < 0.01                 # the masked fine-tune kept the zeros
        assert not d["layers_csr_smaller"].startswith("0 of")  # 80 % is past the break-even of most layers
        assert rows["%s-80" % rule]["bytes"] < rows["dense"]["bytes"]
        assert rows["%s-80" % rule]["macs"] == rows["dense"]["macs"]     # zeros are still multiplied
        for b in d["break_even"]:
            assert (b["pruned"] >= b["alpha"]) == (b["alpha"] <= b["pruned"])
    ch = rows["channels-50"]
    assert ch["macs"] < 0.6 * rows["dense"]["macs"] and ch["arena_bytes"] < rows["dense"]["arena_bytes"]
    md = (out / "study.md").read_text()
    assert all("| %s |" % i in md for i in ids) and (out / "study.png").is_file()

