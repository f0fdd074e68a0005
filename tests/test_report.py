"""The report: tables in the original's shape, PR/convergence plots and the gallery, on synthetic inputs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bwot.evaluation.bootstrap import bootstrap
from bwot.evaluation.evaluate import evaluate
from bwot.evaluation.outputs import write_outputs
from bwot.io import write_strings
from bwot.losses.registry import LOSSES as REGISTRY
from bwot.report import PAPER, build_report, metrics_table
from bwot.report.build import LossFiles
from bwot.report.embedding import MapInputs
from bwot.report.gallery import gallery_rows, pick_queries
from bwot.report.stats import differences_markdown, intervals_markdown
from bwot.report.tables import PAPER_COLUMN

LOSSES = list(REGISTRY)  # every loss, as the default config trains them
CLASSES = ["disc", "box", "bar", "ring", "cross", "wedge"]
ROWS = ["NN", "FT", "ST", "E", "DCG", "mAP"]


def glyph(kind: int, size: int, filled: bool, rng) -> np.ndarray:
    """A white image with a dark shape of one of six kinds (ink dark on white, as the contract says)."""
    yy, xx = np.mgrid[:size, :size] / (size - 1) - 0.5
    jitter = rng.normal(0, 0.03, 2)
    y, x = yy - jitter[0], xx - jitter[1]
    r = np.hypot(x, y)
    inside = [
        r < 0.35,
        (abs(x) < 0.3) & (abs(y) < 0.3),
        (abs(x) < 0.4) & (abs(y) < 0.1),
        (r < 0.38) & (r > 0.22),
        ((abs(x) < 0.08) | (abs(y) < 0.08)) & (abs(x) < 0.38) & (abs(y) < 0.38),
        (y > -0.3) & (y < 0.3) & (abs(x) < (y + 0.3) * 0.6),
    ][kind]
    if filled:
        shade = 90 + 80 * (x - y + 1) / 2  # a lit look for the "views"
        return np.where(inside, shade, 255).astype(np.uint8)
    edge = inside ^ np.roll(inside, 1, 0) | inside ^ np.roll(inside, 1, 1)
    return np.where(edge, 0, 255).astype(np.uint8)


def make_inputs(root, n_classes=6, per_class=5, views=3, rotations=2, size=48, seed=0, steps=400):
    """Shards, features, per-loss eval outputs and histories by the contracts; returns build_report kwargs."""
    rng = np.random.default_rng(seed)
    shape_labels = np.repeat(np.arange(n_classes), per_class + np.arange(n_classes) % 3)
    shape_ids = [str(i) for i in range(len(shape_labels))]
    view_shards = []
    for s, rows in enumerate(np.array_split(np.arange(len(shape_labels)), 2)):
        path = root / f"views/shard-{s}.h5"
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            f["images"] = np.array([[glyph(shape_labels[i], size, True, rng)] * views for i in rows])
            write_strings(f, "ids", [shape_ids[i] for i in rows])
            f["labels"] = shape_labels[rows]
        view_shards.append(path)
    sk_labels = np.repeat(np.arange(n_classes), 4)
    sk_ids = [f"{1000 + i}" for i in range(len(sk_labels))]
    sketch_shards = [root / "sketches/test/shard-0.h5"]
    sketch_shards[0].parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(sketch_shards[0], "w") as f:
        f["images"] = np.array([[glyph(c, size, False, rng)] * rotations for c in sk_labels])
        write_strings(f, "ids", sk_ids)
        f["labels"] = sk_labels
    centres = rng.normal(size=(n_classes, 8)) * 2
    with h5py.File(root / "shapes.h5", "w") as f:
        f["pooled"] = (centres[shape_labels] + rng.normal(size=(len(shape_labels), 8))).astype(np.float32)
        write_strings(f, "ids", shape_ids)
        f["labels"] = shape_labels
    with h5py.File(root / "sketches.h5", "w") as f:
        feats = centres[sk_labels][:, None] + rng.normal(size=(len(sk_labels), rotations, 8)) * 1.3
        f["features"] = feats.astype(np.float32)
        write_strings(f, "ids", sk_ids)
        write_strings(f, "splits", ["test"] * len(sk_ids))
        f["labels"] = sk_labels
    (root / "classes.txt").write_text("".join(f"{c}\n" for c in CLASSES[:n_classes]))

    class Noisy:  # each "loss" = identity embedding plus its own amount of noise
        def __init__(self, noise):
            self.noise = noise

        def embed_sketches(self, x):
            return x + rng.normal(size=x.shape) * self.noise

        def embed_shapes(self, x):
            return x

    paths = {k: [] for k in ("metrics", "pr", "ranking", "history", "per_query")}
    for i, loss in enumerate(LOSSES):
        out = root / "eval" / loss
        result = evaluate(Noisy(0.5 + i), root / "sketches.h5", root / "shapes.h5")
        files = {
            k: out / n for k, n in [("metrics", "metrics.json"), ("pr", "pr.csv"), ("ranking", "ranking.npz")]
        }
        write_outputs(
            result,
            metrics_json=files["metrics"],
            pr_csv=files["pr"],
            per_class_csv=out / "per_class.csv",
            ranking_npz=files["ranking"],
            per_query_csv=out / "per_query.csv",
        )
        step = np.arange(1, steps + 1) * 10
        loss_curve = (5 - i) * np.exp(-step / 1500) + rng.normal(0, 0.15, steps) + 1
        val = np.full(steps, np.nan)
        val[49::50] = 0.9 - 0.1 * i - 0.5 * np.exp(-step[49::50] / 1000)
        history = pd.DataFrame(
            {
                "step": step,
                "loss": loss_curve,
                "part_ss": 0.0,
                "part_pp": 0.0,
                "part_sp1": 0.0,
                "part_sp2": 0.0,
                "lr": 5e-4,
                "val_map": val,
                "wall_s": step / 100,
            }
        )
        history.to_csv(out.parent.parent / f"history-{loss}.csv", index=False, na_rep="")
        for k in ("metrics", "pr", "ranking"):
            paths[k].append(files[k])
        paths["per_query"].append(out / "per_query.csv")
        paths["history"].append(out.parent.parent / f"history-{loss}.csv")
    report = root / "report"
    outputs = {
        "table": report / "metrics.md",
        "csv": report / "metrics.csv",
        "pr": report / "pr_curves.png",
        "pr_data": report / "pr_curves.csv",
        "convergence": report / "convergence.png",
        "gallery": report / "gallery.png",
        "intervals": report / "intervals.csv",
        "differences": report / "differences.csv",
        "sweep": report / "sweep.csv",
        "sweep_figures": [report / "sweep-lamb.png"],
        "html": report / "metrics.html",
        "per_class": report / "per_class_map.csv",
        "per_class_figure": report / "per_class_map.png",
        "confusion": report / "confusion.png",
        "worst": report / "worst_queries.png",
        "embedding": report / "embedding.png",
    }
    return dict(
        losses=LossFiles.split(LOSSES, 1, **paths),
        views=view_shards,
        test_sketches=sketch_shards,
        classes=root / "classes.txt",
        outputs=outputs,
        n_boot=300,
    ), paths


def metrics_of(loss_values):
    return {loss: dict(zip(ROWS, values, strict=True)) for loss, values in loss_values.items()}


def test_table_shape_and_paper_column():
    values = metrics_of({"ot": [0.7, 0.6, 0.8, 0.3, 0.8, 0.65], "npair": [0.6, 0.5, 0.7, 0.3, 0.7, 0.55]})
    table = metrics_table(values, "shrec14")
    assert list(table.index) == ROWS
    assert list(table.columns) == ["ot", "npair", PAPER_COLUMN]
    assert table.loc["mAP", PAPER_COLUMN] == 0.591 and table.loc["NN", PAPER_COLUMN] == 0.536
    assert metrics_table(values, "shrec13").loc["E", PAPER_COLUMN] == PAPER["shrec13"]["E"] == 0.366
    assert PAPER_COLUMN not in metrics_table(values, "builtin").columns


def test_only_a_significant_best_is_bold():
    """ot clearly ahead on every query: bold, and the difference to it significant; two losses with the
    same per-query values up to noise: neither bold, the difference 'n.s.'."""
    labels = np.repeat(np.arange(4), 10)
    rng = np.random.default_rng(0)
    base = rng.uniform(0.3, 0.7, (1, 40, 6))
    boot = bootstrap(
        {"ot": base + 0.2, "npair": base, "twin": base + rng.normal(0, 0.01, base.shape)}, labels
    )
    table = intervals_markdown(boot, ["ot", "npair", "twin"], 1, PAPER["shrec13"]).splitlines()
    assert table[0] == "| metric | ot | npair | twin | paper (OT) |"
    assert table[2].startswith("| NN | **") and table[2].endswith(" | 0.713 |")
    assert "**" not in intervals_markdown(boot, ["npair", "twin"], 1, None)  # a tie: nobody in bold
    diffs = differences_markdown(boot, ["ot", "npair", "twin"], "npair").splitlines()
    assert diffs[0] == "| metric | ot − npair | twin − npair |"
    assert diffs[-1].count("n.s.") == 1 and " n.s." not in diffs[-1].split("|")[2]


def test_differences_are_to_ot_wherever_it_stands(tmp_path):
    kwargs, _ = make_inputs(tmp_path)
    kwargs["losses"] = dict(reversed(list(kwargs["losses"].items())))  # ot last
    build_report(**kwargs, dataset="builtin", name="demo", cfg={"gallery_queries": 2})
    md = kwargs["outputs"]["table"].read_text()
    others = [loss for loss in reversed(LOSSES) if loss != "ot"]
    assert "## Paired differences to ot" in md and f"| metric | {' − ot | '.join(others)} − ot |" in md
    assert set(pd.read_csv(kwargs["outputs"]["differences"])["reference"]) == {"ot"}


def test_sweep_curves_pass_through_the_runs_own_value(tmp_path):
    """The sweep table and figure hold each swept point and the run's own value (the main table's
    models), in increasing order of value."""
    from bwot.report.stats import SweepRun

    kwargs, paths = make_inputs(tmp_path)
    ot = paths["per_query"][LOSSES.index("ot")]
    sweep = [SweepRun("lamb", 30.0, "ot", [ot]), SweepRun("lamb", 3.0, "ot", [ot])]
    build_report(**kwargs, dataset="builtin", sweep=sweep, sweep_base={"lamb": 10.0})
    table = pd.read_csv(kwargs["outputs"]["sweep"])
    assert list(zip(table["value"], table["run"], strict=True)) == [(3.0, False), (10.0, True), (30.0, False)]
    assert table["mean"].nunique() == 1  # the same per-query values at every point here
    md = kwargs["outputs"]["table"].read_text()
    assert "| lamb | 10.0 (the run) | ot |" in md
    assert kwargs["outputs"]["sweep_figures"][0].stat().st_size > 0


def test_table_names_missing_metrics():
    with pytest.raises(ValueError, match=r"npair.*DCG"):
        metrics_table({"npair": {"NN": 1, "FT": 1, "ST": 1, "E": 1, "mAP": 1}})


def test_build_report_on_synthetic_inputs(tmp_path):
    kwargs, paths = make_inputs(tmp_path)
    build_report(
        **kwargs,
        dataset="shrec13",
        name="demo",
        cfg={"gallery_queries": 5, "gallery_view": 1},
        embedding=MapInputs(
            metric_model(tmp_path / "model.pt"), tmp_path / "sketches.h5", tmp_path / "shapes.h5"
        ),
        seed=3,
    )
    out = kwargs["outputs"]
    table = pd.read_csv(out["csv"])
    assert list(table["metric"]) == ROWS and list(table.columns) == ["metric", *LOSSES, PAPER_COLUMN]
    for loss, path in zip(LOSSES, paths["metrics"], strict=True):
        values = json.loads(path.read_text())
        assert table.set_index("metric").loc["mAP", loss] == pytest.approx(values["mAP"])
    md = out["table"].read_text()
    assert (
        md.startswith("# Retrieval results: demo (shrec13)")
        and "| mAP |" in md
        and "24 queries (upright protocol)" in md
        and "## Paired differences to ot" in md
        and f"| metric | {' | '.join(f'{loss} − ot' for loss in LOSSES[1:])} |" in md
    )
    intervals = pd.read_csv(out["intervals"])
    assert len(intervals) == 6 * len(LOSSES) and (intervals["low"] <= intervals["mean"]).all()
    assert (intervals["mean"] <= intervals["high"]).all()
    mean_map = intervals.set_index(["loss", "metric"]).loc[("ot", "mAP"), "mean"]
    assert mean_map == pytest.approx(table.set_index("metric").loc["mAP", "ot"])
    differences = pd.read_csv(out["differences"])
    assert set(differences["loss"]) == set(LOSSES) - {"ot"} and set(differences["reference"]) == {"ot"}
    pr = pd.read_csv(out["pr_data"])
    assert list(pr.columns) == ["recall", *LOSSES] and len(pr) == 20
    for key in ("pr", "convergence", "gallery", "per_class_figure", "confusion", "worst", "embedding"):
        with Image.open(out[key]) as image:
            assert image.format == "PNG" and min(image.size) > 300, key
            pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
        assert len(np.unique(pixels, axis=0)) > 20, f"{key} looks empty"
    with Image.open(out["gallery"]) as image:
        rgb = np.asarray(image.convert("RGB")).astype(int)
    green = (rgb[..., 1] > 130) & (rgb[..., 0] < 60) & (rgb[..., 2] < 100)
    red = (rgb[..., 0] > 190) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)
    assert green.sum() > 100 and red.sum() > 100  # both right and wrong models framed


def test_gallery_rows_follow_the_ranking(tmp_path):
    kwargs, paths = make_inputs(tmp_path)
    with np.load(paths["ranking"][0]) as data:
        ranking = {k: data[k] for k in data.files}
    picked = pick_queries(ranking, 4)
    assert len(set(ranking["query_labels"][picked])) == 4  # spread over classes
    everyone = pick_queries(ranking, 100)  # more than there are: each query once
    assert sorted(everyone) == list(range(len(ranking["query_ids"])))
    classes = CLASSES
    rows = gallery_rows(ranking, kwargs["test_sketches"], kwargs["views"], classes, n_queries=4, view=2)
    for row, r in zip(rows, picked, strict=True):
        labels = ranking["target_labels"][ranking["topk"][r]]
        assert row.correct == [bool(x == ranking["query_labels"][r]) for x in labels]
        assert row.query_class == classes[ranking["query_labels"][r]]
        assert len(row.images) == 10 and row.images[0].shape == (48, 48)
    with pytest.raises(ValueError, match="image index 5"):
        gallery_rows(ranking, kwargs["test_sketches"], kwargs["views"], classes, n_queries=2, view=5)


def test_gallery_names_missing_ids(tmp_path):
    kwargs, paths = make_inputs(tmp_path)
    shutil.copy(kwargs["views"][0], tmp_path / "only.h5")
    with np.load(paths["ranking"][0]) as data:
        ranking = {k: data[k] for k in data.files}
    with pytest.raises(ValueError, match="ids not found"):
        gallery_rows(ranking, kwargs["test_sketches"], [tmp_path / "only.h5"], CLASSES, n_queries=6)


def test_history_without_columns_is_named(tmp_path):
    kwargs, paths = make_inputs(tmp_path)
    pd.DataFrame({"step": [1], "loss": [1.0]}).to_csv(paths["history"][2], index=False)
    with pytest.raises(ValueError, match=r"history-lifted.csv.*val_map"):
        build_report(**kwargs, dataset="builtin")


# ---------------------------------------------------------------- the rules, in a workflow copy


def fake_upstream(root, losses=LOSSES, dim=8, seed=0):
    """Every upstream output of results/builtin by the contracts, timestamps in dependency order,
    so that snakemake has only `evaluate` and `report` left to run."""
    import os

    from bwot.metric import MetricNets, save_metric_model

    rng = np.random.default_rng(seed)
    res = root / "results" / "builtin"
    n_classes = 4
    shape_labels = np.repeat(np.arange(n_classes), [3, 4, 5, 3])
    sk_labels = np.repeat(np.arange(n_classes), 6)
    split = np.tile(["train", "train", "test"], len(sk_labels) // 3)
    stamps: list[tuple[int, object]] = []

    def made(level, path):
        stamps.append((level, path))
        return path

    from conftest import edit_config

    cfg = edit_config(root, render={"shards": 1}, sketches={"shards": 1})  # one shard per stage, as below
    made(0, root / cfg["builtin_root"]).mkdir(parents=True)
    (res / "manifest").mkdir(parents=True)
    names = [CLASSES[c] for c in range(n_classes)]
    made(1, res / "manifest" / "classes.txt").write_text("".join(f"{c}\n" for c in names))
    models = pd.DataFrame(
        {
            "id": [str(i) for i in range(len(shape_labels))],
            "class": [names[c] for c in shape_labels],
            "label": shape_labels,
            "path": "x.off",
        }
    )
    sketches = pd.DataFrame(
        {
            "id": [str(100 + i) for i in range(len(sk_labels))],
            "class": [names[c] for c in sk_labels],
            "label": sk_labels,
            "split": split,
            "path": "x.png",
        }
    )
    models.to_csv(made(1, res / "manifest" / "models.csv"), index=False)
    sketches.to_csv(made(1, res / "manifest" / "sketches.csv"), index=False)

    def shard(path, ids, labels, images):
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(made(2, path), "w") as f:
            f["images"] = images
            write_strings(f, "ids", ids)
            f["labels"] = labels
        made(2, path.with_suffix(".skipped.csv")).write_text("id,path,reason\n")

    views = np.array([[glyph(c, 32, True, rng)] * 2 for c in shape_labels])
    shard(res / "views" / "shard-0.h5", models["id"], shape_labels, views)
    for s in ("train", "test"):
        rows = np.flatnonzero(split == s)
        images = np.array([[glyph(sk_labels[i], 32, False, rng)] * 2 for i in rows])
        shard(res / "sketches" / s / "shard-0.h5", sketches["id"][rows], sk_labels[rows], images)
    (res / "backbone").mkdir()
    for m in ("shapes", "sketches"):
        made(3, res / "backbone" / f"{m}.pt").write_bytes(b"not read")
        made(3, res / "backbone" / f"{m}.history.csv").write_text("epoch\n")
        summary = {"modality": m, "backbone": "resnet18", "layer": "avgpool", "weights": "scratch"}
        summary |= {"device": "cpu", "best_score": 0.75, "best_epoch": 2, "epochs": 3, "classes": n_classes}
        made(3, res / "backbone" / f"{m}.json").write_text(json.dumps(summary))
    centres = rng.normal(size=(n_classes, dim)) * 2
    (res / "features").mkdir()
    with h5py.File(made(4, res / "features" / "shapes.h5"), "w") as f:
        pooled = (centres[shape_labels] + rng.normal(size=(len(shape_labels), dim))).astype(np.float32)
        f["features"] = pooled[:, None]
        f["pooled"] = pooled
        write_strings(f, "ids", models["id"])
        f["labels"] = shape_labels
    with h5py.File(made(4, res / "features" / "sketches.h5"), "w") as f:
        feats = centres[sk_labels][:, None] + rng.normal(size=(len(sk_labels), 2, dim))
        f["features"] = feats.astype(np.float32)
        write_strings(f, "ids", sketches["id"])
        write_strings(f, "splits", split)
        f["labels"] = sk_labels
    for i, loss in enumerate(losses):
        folder = res / "metric" / loss / "seed-0"
        folder.mkdir(parents=True)
        torch_seed = __import__("torch").manual_seed(i)  # noqa: F841
        save_metric_model(made(5, folder / "model.pt"), MetricNets(dim, dim, [16], [16], 4), {"loss": loss})
        step = np.arange(1, 101) * 10
        h = pd.DataFrame(
            {
                "step": step,
                "loss": 2 / np.sqrt(step),
                "part_ss": 0,
                "part_pp": 0,
                "part_sp1": 0,
                "part_sp2": 0,
                "lr": 5e-4,
                "val_map": np.where(step % 250 == 0, 0.5 + step / 4000, np.nan),
                "wall_s": step / 10,
            }
        )
        h.to_csv(made(5, folder / "history.csv"), index=False, na_rep="")
    base = 1_700_000_000
    for level, path in stamps:
        os.utime(path, (base + 100 * level, base + 100 * level))


@pytest.fixture(scope="module")
def fake_finished(tmp_path_factory) -> tuple[Path, str]:
    """A workflow copy on fake_upstream's outputs after `snakemake` (evaluate, retrieval_index, report) and
    `snakemake --report report.html`; and the output of its dry run before that."""
    from conftest import REPO, WORKFLOW_PARTS, run_snakemake

    root = tmp_path_factory.mktemp("workflow")
    for part in WORKFLOW_PARTS:  # envs/ too: conda: directives are resolved when metadata is recorded
        (shutil.copytree if (REPO / part).is_dir() else shutil.copy2)(REPO / part, root / part)
    fake_upstream(root)
    dry = run_snakemake(root, "-n", "--rerun-triggers", "mtime")
    run_snakemake(root, "--rerun-triggers", "mtime")
    run_snakemake(root, "--rerun-triggers", "mtime", "--report", str(root / "report.html"))
    return root, dry.stdout + dry.stderr


@pytest.mark.slow
def test_rules_evaluate_report_and_html_report(fake_finished):
    workflow_dir, dry = fake_finished
    stats = re.findall(r"^(\w+)\s+(\d+)$", dry, flags=re.M)
    n = str(len(LOSSES))
    assert dict(stats) == {
        "evaluate": n,
        "retrieval_index": n,
        "report": "1",
        "all": "1",
        "total": str(2 * len(LOSSES) + 2),
    }
    res = workflow_dir / "results" / "builtin"
    for loss in LOSSES:
        metrics = json.loads((res / "eval" / loss / "seed-0" / "metrics.json").read_text())
        assert metrics["n_queries"] == 8 and metrics["n_targets"] == 15
    table = pd.read_csv(res / "report" / "metrics.csv")
    assert list(table.columns) == ["metric", *LOSSES]
    for name in ("pr_curves.png", "convergence.png", "gallery.png", "metrics.md"):
        assert (res / "report" / name).stat().st_size > 0
    for loss in LOSSES:  # the retrieval index of `bwot query` (the backbone file is only checksummed)
        assert (res / "index" / f"{loss}.h5").stat().st_size > 0
    text = (workflow_dir / "report.html").read_text(errors="replace")
    assert len(text) > 10_000
    for needle in ("gallery.png", "pr_curves.png", "convergence.png", "metrics.csv", "per_class.csv"):
        assert needle in text, needle
    figures = ("per_class_map.png", "confusion.png", "worst_queries.png", "embedding.png")
    for name in ("metrics.html", "per_class_map.csv", *figures):
        assert (res / "report" / name).stat().st_size > 0 and name in text, name


# ------------------------------------------------ understanding a result: per class, confusion, worst, map


def metric_model(path: Path, dim: int = 8) -> Path:
    """An (untrained) metric model file of `dim`-d features, as train_metric writes it."""
    import torch

    from bwot.metric import MetricNets, save_metric_model

    torch.manual_seed(0)
    save_metric_model(path, MetricNets(dim, dim, [16], [16], 4), {"loss": "ot"})
    return path


def test_per_class_intervals_hold_each_class_mean(tmp_path):
    """Each class's mean is evaluate's per-class mAP; the interval holds it, and is empty only when every
    query of the class has the same AP."""
    from bwot.report.stats import per_class_intervals, per_class_markdown

    _, paths = make_inputs(tmp_path)
    per_query = {loss: [p] for loss, p in zip(LOSSES, paths["per_query"], strict=True)}
    table = per_class_intervals(per_query, CLASSES, n_boot=300)
    assert list(table["loss"].unique()) == LOSSES and len(table) == len(LOSSES) * len(CLASSES)
    for loss, path in zip(LOSSES, paths["per_query"], strict=True):
        evaluated = pd.read_csv(path.parent / "per_class.csv").set_index("label")
        mine = table[table["loss"] == loss].set_index("label")
        assert list(mine["class"]) == CLASSES
        assert mine["mean"].to_numpy() == pytest.approx(evaluated.loc[mine.index, "mAP"].to_numpy())
        assert (mine["n_queries"] == evaluated.loc[mine.index, "n_queries"]).all()
        spread = pd.read_csv(path).groupby("label")["mAP"].std().to_numpy() > 1e-12
        assert ((mine["high"] - mine["low"] > 0).to_numpy() == spread).all()
    assert (table["low"] <= table["mean"] + 1e-12).all() and (table["mean"] <= table["high"] + 1e-12).all()
    md = per_class_markdown(table).splitlines()
    assert md[0] == f"| class | queries | {' | '.join(LOSSES)} |" and len(md) == 2 + len(CLASSES)
    assert md[2].startswith("| disc | 4 | ")


def test_class_confusion_is_row_normalised():
    from bwot.report.classes import class_confusion

    ranking = {
        "query_labels": np.array([0, 0, 1]),
        "target_labels": np.array([0, 1, 1, 2]),
        "topk": np.array([[0, 1, 2, 3], [0, 3, 1, 2], [1, 2, 3, 0]]),
        "topk_dist": np.array([[1, 2, 3, np.inf], [1, 2, 3, 4], [1, 2, 3, 4.0]]),
    }
    matrix, queries = class_confusion(ranking, 3, k=4)
    # class 0: 3 finite models of query 0 (0, 1, 1) and 4 of query 1 (0, 2, 1, 1): 2x class 0, 4x 1, 1x 2
    assert matrix[0] == pytest.approx([2 / 7, 4 / 7, 1 / 7])
    assert matrix[1] == pytest.approx([1 / 4, 2 / 4, 1 / 4])
    assert np.isnan(matrix[2]).all() and list(queries) == [2, 1, 0]
    assert np.nansum(matrix, axis=1) == pytest.approx([1, 1, 0])


def test_worst_queries_are_the_upright_ones_of_lowest_ap(tmp_path):
    from bwot.report.gallery import worst_queries

    kwargs, paths = make_inputs(tmp_path)
    with np.load(paths["ranking"][-1]) as data:
        ranking = {k: data[k] for k in data.files}
    per_query = pd.read_csv(paths["per_query"][-1], dtype={"query": str, "sketch": str})
    worst = worst_queries(per_query.sample(frac=1, random_state=0), ranking, 5)  # any row order
    assert list(worst["mAP"]) == sorted(per_query["mAP"])[:5]
    assert list(ranking["query_ids"][worst["row"]]) == list(worst["query"])
    rows = gallery_rows(ranking, kwargs["test_sketches"], kwargs["views"], CLASSES, rows=worst["row"],
                        notes=[f"AP {ap:.2f}" for ap in worst["mAP"]])  # fmt: skip
    assert [r.note for r in rows] == [f"AP {ap:.2f}" for ap in worst["mAP"]]
    assert [r.query_class for r in rows] == [CLASSES[x] for x in worst["label"]]
    per_query.loc[0, "query"] = "nowhere"
    with pytest.raises(ValueError, match="nowhere"):
        worst_queries(per_query, ranking, 5)


def test_embedding_map_is_bounded_and_seeded(tmp_path):
    """At most max_per_modality points of each modality (a seeded draw), t-SNE with the run's seed (the same
    seed, the same map), PCA for a handful of points."""
    from bwot.report.embedding import embedding_map

    make_inputs(tmp_path)
    inputs = MapInputs(metric_model(tmp_path / "model.pt"), tmp_path / "sketches.h5", tmp_path / "shapes.h5")
    n_shapes = len(h5py.File(tmp_path / "shapes.h5", "r")["ids"])
    points = embedding_map(inputs, seed=5, max_per_modality=20)
    assert points.method == "t-SNE" and points.n_sketches == (20, 24) and points.n_shapes == (20, n_shapes)
    assert points.xy.shape == (40, 2) and points.is_sketch.sum() == 20 and np.isfinite(points.xy).all()
    again = embedding_map(inputs, seed=5, max_per_modality=20)
    assert np.array_equal(points.xy, again.xy) and np.array_equal(points.labels, again.labels)
    small = embedding_map(inputs, seed=5, max_per_modality=3, distance="cosine")
    assert small.method == "PCA" and small.xy.shape == (6, 2)


def test_embedding_caption_says_the_bound():
    from conftest import REPO

    from bwot.report.embedding import MAX_PER_MODALITY, MIN_TSNE

    caption = (REPO / "workflow" / "report" / "captions" / "embedding.rst").read_text()
    assert f"At most {MAX_PER_MODALITY} points" in caption and f"fewer than {MIN_TSNE} points" in caption


def test_metrics_html_is_metrics_md_as_a_page(tmp_path):
    """Every table of metrics.md is a table of metrics.html, with the same cells, escaped."""
    from bwot.report.html import markdown_html

    kwargs, _ = make_inputs(tmp_path)
    build_report(**kwargs, dataset="builtin", name="demo", cfg={"gallery_queries": 2})
    md = kwargs["outputs"]["table"].read_text()
    page = kwargs["outputs"]["html"].read_text()
    tables = re.findall(r"(?:^\|.*\n)+", md, flags=re.M)
    assert page.count("<table>") == len(tables) == 3  # results, paired differences, per class
    for line in tables[0].splitlines()[2:]:
        cells = [c.strip().replace("**", "") for c in line.strip("|").split("|")]
        assert all(f">{c}<" in page.replace("<strong>", "").replace("</strong>", "") for c in cells), line
    assert "<h2>Per class</h2>" in page and "<script" not in page
    html = markdown_html("# a <b> & `x<y`\n\n| h |\n|--:|\n| **1** |\n", "t")
    assert "<h1>a &lt;b&gt; &amp; <code>x&lt;y</code></h1>" in html
    assert '<td style="text-align:right"><strong>1</strong></td>' in html


@pytest.mark.slow
def test_html_report_shows_the_numbers_in_the_page(fake_finished, tmp_path):
    """snakemake --report's page, in headless Chromium: Results > results table (page) shows every number of
    the results table with its interval, the paired differences and the mAP per class."""
    import os

    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from test_serve import _closing, chromium

    from bwot.evaluation.bootstrap import Interval
    from bwot.report.stats import cell

    root, _ = fake_finished
    report = root / "results" / "builtin" / "report"
    with _closing(chromium(tmp_path)) as browser:
        browser.get((root / "report.html").as_uri())
        # the page is built by its scripts: a click that lands before they handle it does nothing, so each
        # step clicks again until what it opens is there (waiting on the page's state, not on time)
        stale = [StaleElementReferenceException]
        wait = WebDriverWait(browser, 60, poll_frequency=1, ignored_exceptions=stale)
        entry = "//tr[td[normalize-space()='results table (page)']]"

        def click_until(target: tuple[str, str], link: tuple[str, str]):
            def step(b):
                if found := b.find_elements(*target):
                    return found
                for element in b.find_elements(*link)[:1]:
                    element.click()
                return False

            return wait.until(step)

        click_until((By.XPATH, entry), (By.LINK_TEXT, "Results"))
        frames = click_until((By.TAG_NAME, "iframe"), (By.XPATH, f"{entry}//a[@iconname='eye']"))
        browser.switch_to.frame(frames[0])
        text = wait.until(lambda b: b.find_element(By.TAG_NAME, "body").text)
        browser.switch_to.default_content()
        shot = Path(os.environ.get("BWOT_SCREENSHOT", tmp_path / "report.png"))
        assert browser.save_screenshot(str(shot))
    assert "Retrieval results: builtin" in text and "Paired differences to ot" in text
    intervals = pd.read_csv(report / "intervals.csv")
    for row in intervals.itertuples():
        assert cell(Interval(row.mean, row.low, row.high, np.nan)) in text, row
    for row in pd.read_csv(report / "differences.csv").itertuples():
        assert f"{row.difference:+.3f} [{row.low:+.3f}, {row.high:+.3f}]" in text, row
    for row in pd.read_csv(report / "per_class_map.csv").itertuples():
        assert cell(Interval(row.mean, row.low, row.high, np.nan)) in text, row
