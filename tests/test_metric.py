"""Metric networks, the model file, the training data and the trainer (resume equivalence included)."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO

from bwot.config import MetricConfig
from bwot.io import h5_writer, write_strings
from bwot.losses.registry import LOSSES
from bwot.metric import MetricNets, load_metric_model, save_metric_model, train_metric
from bwot.metric.data import load_metric_data, validation_map
from bwot.metric.trainer import CHECKPOINT, STEP_COLUMNS, total_steps
from bwot.splits import holdout_split


@pytest.fixture(autouse=True)
def one_thread():
    """Train on one thread, as the rule does (small OpenMP kernels crawl on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SMALL = {
    "device": "cpu",
    "sketch_widths": [32, 16, 8],
    "shape_widths": [32, 32, 16, 8],
    "out_dim": 6,
    "batch_size": 8,
    "steps": 12,
    "val_every": 4,
    "checkpoint_every": 6,
    "lr": 0.01,
}


def write_features(folder, n_classes=4, n_shapes=20, n_train=24, n_test=8, rotations=3, dim=12, seed=0):
    """Feature files by the contract (features/shapes.h5, features/sketches.h5), classes separable."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim))
    shape_labels = np.arange(n_shapes) % n_classes
    shapes = np.abs(centres[shape_labels] + 0.3 * rng.normal(size=(n_shapes, dim))).astype(np.float32)
    with h5_writer(folder / "shapes.h5") as f:
        f["features"] = np.repeat(shapes[:, None], 2, 1)
        f["pooled"] = shapes
        f["labels"] = shape_labels
        write_strings(f, "ids", [f"m{i}" for i in range(n_shapes)])
    n = n_train + n_test
    labels = np.arange(n) % n_classes
    feats = np.abs(centres[labels][:, None] + 0.3 * rng.normal(size=(n, rotations, dim))).astype(np.float32)
    with h5_writer(folder / "sketches.h5") as f:
        f["features"] = feats
        f["labels"] = labels
        write_strings(f, "ids", [f"s{i}" for i in range(n)])
        write_strings(f, "splits", ["train"] * n_train + ["test"] * n_test)
    return folder / "shapes.h5", folder / "sketches.h5"


def run(tmp_path, loss="ot", name="run", stop_at=None, **cfg):
    shapes, sketches = tmp_path / "shapes.h5", tmp_path / "sketches.h5"
    if not shapes.exists():
        write_features(tmp_path)
    out = tmp_path / name
    train_metric(
        shapes, sketches, out / "model.pt", out / "history.csv", out / "checkpoints",
        {**SMALL, **cfg}, loss, seed=3, stop_at=stop_at,
    )  # fmt: skip
    return out


def test_networks_match_the_original_layout_and_init():
    nets = MetricNets(64, 64)
    kinds = [type(m).__name__ for m in nets.sketch]
    assert kinds == ["Linear", "ReLU", "Linear", "ReLU", "Linear", "Linear"]
    assert [m.out_features for m in nets.sketch if isinstance(m, torch.nn.Linear)] == [2000, 1000, 500, 100]
    kinds = [type(m).__name__ for m in nets.shape]
    assert kinds == ["Linear", "ReLU", "Linear", "ReLU", "Linear", "ReLU", "Linear", "Linear"]
    assert [m.out_features for m in nets.shape if isinstance(m, torch.nn.Linear)] == [
        2000,
        2000,
        1000,
        500,
        100,
    ]
    first, last = nets.sketch[0], nets.sketch[5]
    assert first.weight.std().item() == pytest.approx(0.01 * 0.88, rel=0.05)  # truncated at 2 std
    assert first.weight.abs().max().item() <= 0.02 and last.weight.abs().max().item() <= 0.2
    assert last.weight.std().item() == pytest.approx(0.1 * 0.88, rel=0.1)
    assert float(first.bias.detach().abs().max()) == 0.0


def test_model_file_round_trip(tmp_path):
    nets = MetricNets(12, 10, [8], [8, 8], 5)
    save_metric_model(tmp_path / "m.pt", nets, {"loss": "ot"})
    model = load_metric_model(tmp_path / "m.pt")
    x = np.random.default_rng(0).normal(size=(7, 12)).astype(np.float32)
    got = model.embed_sketches(x)
    assert got.dtype == np.float32 and got.shape == (7, 5)
    np.testing.assert_allclose(got, nets.sketch(torch.from_numpy(x)).detach().numpy(), rtol=1e-6)
    assert model.embed_shapes(np.zeros((3, 10))).shape == (3, 5)
    with pytest.raises(ValueError, match=r"shape \(n, 10\)"):
        model.embed_shapes(np.zeros((3, 12)))
    torch.save({"weights": 1}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"bad\.pt: not a bwot metric model"):
        load_metric_model(tmp_path / "bad.pt")


def test_a_row_embeds_to_the_same_bits_alone_or_with_others(tmp_path):
    """Rows go through the networks in tiles of one fixed size (bwot.tiles): a query embedded alone gets
    the bits `evaluate` gets for it among all test sketches (BLAS rounds 1 or 2 rows otherwise)."""
    nets = MetricNets(64, 48, [256, 128], [256, 128, 64], 16)
    save_metric_model(tmp_path / "m.pt", nets, {"loss": "ot"})
    model = load_metric_model(tmp_path / "m.pt")
    x = np.random.default_rng(1).normal(size=(37, 64)).astype(np.float32)
    together = model.embed_sketches(x)
    alone = np.concatenate([model.embed_sketches(x[i : i + 1]) for i in range(len(x))])
    np.testing.assert_array_equal(alone, together)
    np.testing.assert_array_equal(model.embed_sketches(x[5:9]), together[5:9])
    np.testing.assert_allclose(together, nets.sketch(torch.from_numpy(x)).detach().numpy(), rtol=1e-5)


def test_training_data_holds_out_whole_sketches(tmp_path):
    shapes, sketches = write_features(tmp_path, n_train=40, rotations=5)
    data = load_metric_data(shapes, sketches, val_fraction=0.25, seed=0)
    assert len(data.val_sketches) == 8 and len(data.sketches) == 32 * 5  # round(0.25 * 10) = 2 per class
    # every rotation of a training sketch is a sample, none of a held-out sketch
    for v in data.val_sketches:
        assert not (np.abs(data.sketches - v).sum(1) == 0).any()
    assert data.shapes.shape == (20, 12)


def test_training_data_reads_the_rows_of_the_split(tmp_path):
    """Training sketches among test ones: exactly the rows of the held-in and held-out training sketches."""
    shapes, sketches = write_features(tmp_path, n_train=30, n_test=12, rotations=3)
    with h5py.File(sketches, "a") as f:  # interleave the splits
        splits = np.array(["train", "test", "train"] * 14)
        del f["splits"]
        write_strings(f, "splits", splits)
        feats, labels = f["features"][()], f["labels"][()]
    train = np.flatnonzero(splits == "train")
    fit, val = holdout_split(labels[train], 0.2, 5)
    data = load_metric_data(shapes, sketches, val_fraction=0.2, seed=5)
    assert np.array_equal(data.sketches, feats[train][fit].reshape(-1, 12))
    assert np.array_equal(data.sketch_labels, np.repeat(labels[train][fit], 3))
    assert np.array_equal(data.val_sketches, feats[train][val, 0])
    assert np.array_equal(data.val_labels, labels[train][val])


def test_bad_feature_files_are_reported(tmp_path):
    shapes, _ = write_features(tmp_path)
    with h5_writer(tmp_path / "bad.h5") as f:
        f["features"] = np.zeros((2, 3, 7), np.float32)
        f["labels"] = np.zeros(2, int)
        write_strings(f, "splits", ["train", "val"])
    with pytest.raises(
        ValueError, match=r"bad.h5: 'features' must be .*bad.h5: unknown split values \['val'\]"
    ):
        load_metric_data(shapes, tmp_path / "bad.h5", 0.2, 0)
    with h5_writer(tmp_path / "none.h5") as f:
        f["labels"] = np.zeros(2, int)
    with pytest.raises(ValueError, match=r"none.h5: missing datasets \['features', 'splits'\]"):
        load_metric_data(shapes, tmp_path / "none.h5", 0.2, 0)


def test_validation_map_is_the_evaluation_map_of_queries_with_targets():
    """The trainer's validation mAP is bwot.evaluation's (a naive loop here); a held-out sketch whose class
    has no shape has no AP and is left out (the old copy of AP differed there)."""
    rng = np.random.default_rng(0)
    dist = rng.random((6, 9))
    ql, tl = np.array([0, 1, 2, 0, 3, 1]), rng.integers(0, 3, 9)
    aps = []
    for q in range(6):
        order = sorted(range(9), key=lambda t: (dist[q, t], t))
        hits, precisions = 0, []
        for rank, t in enumerate(order, 1):
            if tl[t] == ql[q]:
                hits += 1
                precisions.append(hits / rank)
        if precisions:  # class 3 has no shape: left out
            aps.append(np.mean(precisions))
    assert len(aps) == 5
    assert validation_map(dist, ql, tl) == pytest.approx(np.mean(aps), rel=1e-12)
    assert np.isnan(validation_map(dist[:1], np.array([7]), tl))


@pytest.mark.parametrize("loss", list(LOSSES))
def test_each_loss_trains_and_writes_outputs(tmp_path, loss):
    out = run(tmp_path, loss, steps=40, val_every=20)
    hist = pd.read_csv(out / "history.csv")
    assert list(hist.columns) == STEP_COLUMNS
    assert hist["step"].tolist() == list(range(1, 41))
    assert hist["val_map"].notna().sum() == 2 and np.isfinite(hist["loss"]).all()
    if loss != "npair":
        parts = hist[["part_ss", "part_pp", "part_sp1", "part_sp2"]].sum(axis=1)
        np.testing.assert_allclose(parts, hist["loss"], rtol=1e-5)
    # tiny nets start collapsed (outputs ~1e-5): the gradients of contrastive, triplet (squared distances)
    # and n-pair (dot products) vanish; test_losses checks that the summed losses fall on free embeddings
    if loss in ("ot", "lifted"):
        assert hist["loss"].iloc[-10:].mean() < hist["loss"].iloc[:5].mean()
    assert not (out / "checkpoints").exists()
    model = load_metric_model(out / "model.pt")
    assert model.meta["loss"] == loss
    assert model.embed_sketches(np.zeros((2, 12))).shape == (2, 6)


@pytest.mark.parametrize("loss", ["ot", "npair"])  # the two samplers: four batches, one paired batch
def test_killed_and_resumed_run_ends_bit_identical(tmp_path, loss):
    full = run(tmp_path, loss, "full")
    part = run(tmp_path, loss, "part", stop_at=8)  # "killed" after step 8; last checkpoint at step 6
    assert (part / "checkpoints" / CHECKPOINT).exists() and not (part / "model.pt").exists()
    run(tmp_path, loss, "part")
    a = torch.load(full / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(part / "model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    ha, hb = pd.read_csv(full / "history.csv"), pd.read_csv(part / "history.csv")
    pd.testing.assert_frame_equal(ha.drop(columns="wall_s"), hb.drop(columns="wall_s"))


def test_epochs_replace_steps():
    assert total_steps(MetricConfig(steps=7, epochs=None, batch_size=30), 100) == 7
    assert total_steps(MetricConfig(steps=7, epochs=2, batch_size=30), 100) == 8  # 2 x ceil(100 / 30)


def test_checkpoint_of_another_config_is_ignored(tmp_path, caplog):
    run(tmp_path, "ot", "x", stop_at=6)
    out = run(tmp_path, "ot", "x", lr=0.02)
    assert "ignoring it and starting afresh" in caplog.text
    assert len(pd.read_csv(out / "history.csv")) == 12


@pytest.mark.slow
def test_snakemake_resumes_a_killed_train_metric_job(workflow_dir):
    """Kill `snakemake` while train_metric runs; the rerun resumes from the checkpoint, same final model."""
    import os
    import shutil
    import signal
    import subprocess
    import time

    from conftest import SNAKEMAKE

    if (REPO / "envs").is_dir() and not (workflow_dir / "envs").exists():
        shutil.copytree(REPO / "envs", workflow_dir / "envs")
    features = workflow_dir / "results" / "builtin" / "features"
    features.mkdir(parents=True)
    write_features(features, dim=24)
    full_cfg = yaml.safe_load((workflow_dir / "config/config.yaml").read_text()).get("metric", {})
    cfg = {**full_cfg, **SMALL, "steps": 1500, "checkpoint_every": 100, "val_every": 1000}
    (workflow_dir / "small.yaml").write_text(yaml.safe_dump({"dataset": "builtin", "metric": cfg}))
    target = "results/builtin/metric/ot/seed-0/model.pt"
    cmd = [str(SNAKEMAKE), target, "--cores", "1", "--configfile", "small.yaml"]
    ckpt = workflow_dir / "results/builtin/metric/ot/seed-0/checkpoints" / CHECKPOINT
    proc = subprocess.Popen(
        cmd, cwd=workflow_dir, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=120)
    assert ckpt.exists() and not (workflow_dir / target).exists()
    done = subprocess.run(cmd, cwd=workflow_dir, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    log_text = (workflow_dir / "logs/builtin/train_metric/ot/seed-0.log").read_text()
    assert "resumed from" in log_text
    # the same training in one go, in this process (one thread, as the rule)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = workflow_dir / "ref"
        train_metric(
            features / "shapes.h5", features / "sketches.h5", ref / "model.pt", ref / "history.csv",
            ref / "ck", cfg, "ot", seed=0,
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    a = torch.load(ref / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(workflow_dir / target, weights_only=True)["state_dict"]
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ---------------------------------------------------------------- CPU against CUDA (`pytest -m gpu`)


@pytest.mark.gpu
def test_metric_networks_forward_cpu_equal_cuda_in_float64():
    """The original's two networks (4096-d in, 100 out) in float64: CUDA equals CPU to rtol 1e-10."""
    torch.manual_seed(0)
    nets = MetricNets(4096, 4096).double()
    x = torch.randn(60, 4096, dtype=torch.float64).abs()
    want = (nets.sketch(x), nets.shape(x))
    nets.cuda()
    got = (nets.sketch(x.cuda()).cpu(), nets.shape(x.cuda()).cpu())
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b.detach(), rtol=1e-10, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.parametrize("loss", list(LOSSES))
def test_training_on_cuda_follows_the_cpu_run(tmp_path, loss):
    """The same seed on CUDA (float32) draws the same batches from the same initial weights: the first
    losses agree with the CPU run's to rtol 1e-4; the model says it was trained on cuda."""
    cpu = pd.read_csv(run(tmp_path, loss, "cpu") / "history.csv")
    out = run(tmp_path, loss, "cuda", device="cuda")
    gpu = pd.read_csv(out / "history.csv")
    assert list(gpu.columns) == STEP_COLUMNS and np.isfinite(gpu["loss"]).all()
    np.testing.assert_allclose(gpu["loss"].iloc[:3], cpu["loss"].iloc[:3], rtol=1e-4)
    assert gpu["val_map"].notna().sum() == cpu["val_map"].notna().sum()
    assert load_metric_model(out / "model.pt").meta["device"].startswith("cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("loss", list(LOSSES))
def test_cuda_training_steps_never_wait_for_the_device(tmp_path, loss):
    """No host sync inside a training step (sampling, forward, loss, backward, update): torch's sync debug
    mode turns any synchronising call into an error."""
    from bwot.metric.trainer import make_train_step, setup

    shapes, sketches = write_features(tmp_path)
    cfg = MetricConfig.from_mapping({**SMALL, "device": "cuda"})
    train_step = make_train_step(setup(shapes, sketches, tmp_path / "ck", cfg, loss, seed=0))
    for _ in range(2):  # warm-up: lazy initialisation (cuBLAS, pinned memory) may synchronise once
        train_step(0.01)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        values = [train_step(0.01)[0] for _ in range(10)]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(torch.stack(values)).all()


@pytest.mark.gpu
@pytest.mark.parametrize("loss", list(LOSSES))
def test_cuda_graphs_train_as_eager(tmp_path, loss):
    """metric.cuda_graphs: the captured step (warm-up undone, the first step's momentum as eager's) trains
    as the eager one: the same losses (rtol 1e-5) and weights (atol 1e-6); resuming works as well."""
    eager = run(tmp_path, loss, "eager", device="cuda")
    graphs = run(tmp_path, loss, "graphs", device="cuda", cuda_graphs=True)
    ha, hb = pd.read_csv(eager / "history.csv"), pd.read_csv(graphs / "history.csv")
    np.testing.assert_allclose(hb["loss"], ha["loss"], rtol=1e-5)
    a = torch.load(eager / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(graphs / "model.pt", weights_only=True)["state_dict"]
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6)
    part = run(tmp_path, loss, "part", stop_at=8, device="cuda", cuda_graphs=True)
    run(tmp_path, loss, "part", device="cuda", cuda_graphs=True)
    hp = pd.read_csv(part / "history.csv")
    np.testing.assert_allclose(hp["loss"], ha["loss"], rtol=1e-5)


def test_cuda_graphs_are_ignored_on_cpu(tmp_path):
    """The switch is a CUDA one: on a CPU the run is the eager run, bit for bit."""
    a = run(tmp_path, "ot", "plain")
    b = run(tmp_path, "ot", "switched", cuda_graphs=True)
    pd.testing.assert_frame_equal(
        pd.read_csv(a / "history.csv").drop(columns="wall_s"),
        pd.read_csv(b / "history.csv").drop(columns="wall_s"),
    )
