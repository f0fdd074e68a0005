"""`bwot compare`: two runs' paired differences are the report's own, per class, PR plot, refusals, CLI.

The runs are evaluate outputs of synthetic features in the pipeline's layout (results/<name>/eval/<loss>/
seed-<s>/, and a sweep point's results/<name>/sweep/<key>/<value>/eval/...), written by `evaluate` itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bwot.cli import main
from bwot.compare import compare_runs
from bwot.evaluation.bootstrap import bootstrap
from bwot.evaluation.evaluate import evaluate
from bwot.evaluation.metrics import METRICS
from bwot.evaluation.outputs import write_outputs
from bwot.io import write_strings
from bwot.report.stats import differences_markdown, run_bootstrap

CLASSES = ["disc", "box", "bar", "ring"]
N_BOOT = 400  # the report's own function is called with the same number below
SEEDS = (0, 1, 2)  # as config/ablation.yaml's metric.seeds


def write_features(root: Path, rotations: int = 2, drop_targets: int = 0) -> tuple[Path, Path]:
    """sketches.h5 (6 test sketches per class) and shapes.h5 (5-7 targets per class, the last
    `drop_targets` left out), features around one centre per class."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(len(CLASSES), 8)) * 2
    shape_labels = np.repeat(np.arange(len(CLASSES)), [5, 6, 7, 5])
    sk_labels = np.repeat(np.arange(len(CLASSES)), 6)
    shapes = (centres[shape_labels] + rng.normal(size=(len(shape_labels), 8))).astype(np.float32)
    sketches = (centres[sk_labels][:, None] + rng.normal(size=(len(sk_labels), rotations, 8)) * 1.3).astype(
        np.float32
    )
    keep = slice(0, len(shape_labels) - drop_targets)
    root.mkdir(parents=True, exist_ok=True)
    with h5py.File(root / "shapes.h5", "w") as f:
        f["pooled"] = shapes[keep]
        write_strings(f, "ids", [f"m{i}" for i in range(len(shape_labels))][keep])
        f["labels"] = shape_labels[keep]
    with h5py.File(root / "sketches.h5", "w") as f:
        f["features"] = sketches
        write_strings(f, "ids", [f"{1000 + i}" for i in range(len(sk_labels))])
        write_strings(f, "splits", ["test"] * len(sk_labels))
        f["labels"] = sk_labels
    return root / "sketches.h5", root / "shapes.h5"


class Noisy:
    """A "metric model": the identity plus noise on the sketch side (less noise = a better model)."""

    def __init__(self, noise: float, seed: int) -> None:
        self.noise, self.rng = noise, np.random.default_rng(seed)

    def embed_sketches(self, x: np.ndarray) -> np.ndarray:
        return x + self.rng.normal(size=x.shape) * self.noise

    def embed_shapes(self, x: np.ndarray) -> np.ndarray:
        return x


def write_eval(run: Path, loss: str, seed: int, noise: float, features: tuple[Path, Path], **kw) -> Path:
    """eval/<loss>/seed-<seed>/ of `run` as the evaluate rule writes it; returns the folder."""
    out = run / "eval" / loss / f"seed-{seed}"
    result = evaluate(Noisy(noise, seed), *features, **kw)
    write_outputs(
        result,
        metrics_json=out / "metrics.json",
        pr_csv=out / "pr.csv",
        per_class_csv=out / "per_class.csv",
        ranking_npz=out / "ranking.npz",
        per_query_csv=out / "per_query.csv",
        classes=CLASSES,
    )
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """results/ with: abl (ot and contrastive, three seeds) and its sweep point lamb=3.0 (ot only, a better
    model); s0 and s1 (ot, one seed each: abl's seeds 0 and 1 as runs of their own); rot (ot, the
    all_rotations protocol); fewer (ot, two targets fewer); pair and pair2 (contrastive and npair, no ot)."""
    root = tmp_path_factory.mktemp("compare") / "results"
    feats = write_features(root.parent / "features")
    fewer = write_features(root.parent / "features-fewer", drop_targets=2)
    for seed in SEEDS:
        write_eval(root / "abl", "ot", seed, 2.5, feats)
        write_eval(root / "abl", "contrastive", seed, 3.0, feats)
        write_eval(root / "abl" / "sweep" / "lamb" / "3.0", "ot", seed, 0.3, feats)
    for seed in (0, 1):
        shutil.copytree(root / "abl" / "eval" / "ot" / f"seed-{seed}", root / f"s{seed}/eval/ot/seed-{seed}")
    write_eval(root / "rot", "ot", 0, 1.2, feats, protocol="all_rotations")
    write_eval(root / "fewer", "ot", 0, 1.2, fewer)
    for run in ("pair", "pair2"):
        write_eval(root / run, "contrastive", 0, 1.0, feats)
        write_eval(root / run, "npair", 0, 1.5, feats)
    return root


def per_query_files(run: Path, loss: str = "ot") -> list[Path]:
    return sorted((run / "eval" / loss).glob("seed-*/per_query.csv"))


@pytest.mark.parametrize(
    ("a", "b", "names"),
    [
        ("abl", "abl/sweep/lamb/3.0", ("abl", "abl lamb=3.0")),  # three seeds each; a sweep point as a run
        ("s0", "s1", ("s0", "s1")),  # two seeds of one run, as two runs
    ],
)
def test_the_paired_intervals_are_the_reports(results, a, b, names):
    """The acceptance check: compare gives exactly the intervals that the report's own function (the
    bootstrap of report.stats, same replicates and seed) gives for the same two sets of per-query files."""
    comparison = compare_runs(results / a, results / b, n_boot=N_BOOT)
    assert (comparison.a.name, comparison.b.name) == names and comparison.loss == "ot"
    report = run_bootstrap(
        {names[0]: per_query_files(results / a), names[1]: per_query_files(results / b)}, n_boot=N_BOOT
    )
    assert comparison.differences() == report.differences(names[1], names[0])
    for name in names:
        assert comparison.boot.intervals(name) == report.intervals(name)
    table = differences_markdown(report, list(names), names[0])
    assert table in comparison.markdown()
    if a == "abl":  # the sweep point is the better model: significantly ahead in mAP
        assert comparison.differences()["mAP"].low > 0
        assert comparison.a.seeds == comparison.b.seeds == ["0", "1", "2"]


def test_per_class_ap_and_its_paired_interval(results):
    """Each class's AP is the mean over seeds of per_class.csv's, and its interval the report's bootstrap of
    that class's sketches alone."""
    comparison = compare_runs(results / "abl", results / "abl/sweep/lamb/3.0", n_boot=N_BOOT)
    assert [row.name for row in comparison.per_class] == CLASSES
    for side, run in (("a", results / "abl"), ("b", results / "abl/sweep/lamb/3.0")):
        tables = [pd.read_csv(p) for p in sorted((run / "eval" / "ot").glob("seed-*/per_class.csv"))]
        expected = np.mean([t["mAP"].to_numpy() for t in tables], axis=0)
        np.testing.assert_allclose([getattr(row, side) for row in comparison.per_class], expected)
    a, b = comparison.a, comparison.b
    mask = a.labels == 2
    boot = bootstrap({a.name: a.values[:, mask], b.name: b.values[:, mask]}, a.labels[mask], n_boot=N_BOOT)
    assert comparison.per_class[2].difference == boot.differences(b.name, a.name)["mAP"]
    assert comparison.per_class[2].n_sketches == 6
    assert "| bar | 6 |" in comparison.markdown()


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        (
            "rot",
            r"24 of the 24 query ids of .*/abl are not in the other run "
            r"\(1000, 1001, 1002, 1003, 1004, \.\.\.\)"
            r".*48 of the 48 query ids of .*/rot are not in the other run \(1000_r0, 1000_r1, 1001_r0",
        ),
        ("fewer", r"2 of the 23 target ids of .*/abl are not in the other run \(m21, m22\)"),
    ],
)
def test_runs_on_other_queries_or_targets_are_refused(results, other, expected):
    with pytest.raises(ValueError, match=expected) as err:
        compare_runs(results / "abl", results / other, n_boot=N_BOOT)
    assert "not evaluated on the same queries and targets" in str(err.value)


def test_runs_scored_otherwise_are_refused(results, tmp_path):
    """The same queries and targets, but AP defined otherwise (evaluate.ap, recorded in metrics.json)."""
    for run, ap in (("s0", "class_size"), ("s1", "max_class_size")):
        shutil.copytree(results / run, tmp_path / run)
        path = next((tmp_path / run).glob("eval/ot/seed-*/metrics.json"))
        path.write_text(json.dumps(json.loads(path.read_text()) | {"ap": ap}))
    with pytest.raises(ValueError, match=r"ap class_size in .*/s0 but max_class_size in .*/s1"):
        compare_runs(tmp_path / "s0", tmp_path / "s1", n_boot=10)


def test_the_loss_by_default_and_when_ambiguous(results):
    """ot when both have it; else the only loss both evaluated; else --loss, naming the choices."""
    assert compare_runs(results / "abl", results / "pair", n_boot=10).loss == "contrastive"
    assert compare_runs(results / "pair", results / "pair2", loss="npair", n_boot=10).loss == "npair"
    with pytest.raises(
        ValueError, match=r"both runs evaluated contrastive, npair \(not ot\): choose one with"
    ):
        compare_runs(results / "pair", results / "pair2", n_boot=10)
    with pytest.raises(
        ValueError, match=r"/abl/sweep/lamb/3.0: loss 'contrastive' was not evaluated .*it has ot"
    ):
        compare_runs(results / "abl", results / "abl/sweep/lamb/3.0", loss="contrastive")


def test_the_command_prints_and_writes_markdown_json_and_png(results, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert (
        main(["compare", str(results / "abl"), str(results / "abl/sweep/lamb/3.0"), "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    md = (out / "compare.md").read_text()
    assert md in printed and f"to {out}/" in printed
    assert md.startswith("# abl lamb=3.0 vs abl (ot)\n")
    assert "## Paired differences (abl lamb=3.0 − abl)" in md and "| metric | abl lamb=3.0 − abl |" in md
    data = json.loads((out / "compare.json").read_text())
    assert data["loss"] == "ot" and data["n_boot"] == 2000 and data["n_queries"] == 24
    assert set(data["differences"]) == set(METRICS) and len(data["per_class"]) == len(CLASSES)
    assert data["a"]["seeds"] == ["0", "1", "2"] and len(data["b"]["pr"]["precision"]) == 20
    with Image.open(out / "pr_curves.png") as png:
        assert png.format == "PNG" and png.width > 400 and png.height > 300
        assert np.asarray(png.convert("L")).std() > 10  # something is drawn
    assert sorted(p.name for p in out.iterdir()) == ["compare.json", "compare.md", "pr_curves.png"]


def test_the_default_output_folder(results, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(results / "s0"), str(results / "s1")]) == 0
    assert (tmp_path / "compare-s0-vs-s1-ot" / "compare.md").is_file()
    assert "compare-s0-vs-s1-ot/" in capsys.readouterr().out


def test_bad_input_exits_1_naming_the_path_and_writes_nothing(results, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(results / "s0", broken)
    (broken / "eval/ot/seed-0/pr.csv").unlink()
    (tmp_path / "empty").mkdir()
    cases = [
        ([str(tmp_path / "nowhere"), str(results / "s0")], "nowhere: no such folder"),
        ([str(tmp_path / "empty"), str(results / "s0")], "empty: no evaluation outputs"),
        (
            [str(results / "abl/eval/ot"), str(results / "s0")],
            f"the run holding it is {(results / 'abl').resolve()}",
        ),
        ([str(results / "s0"), str(broken)], "broken/eval/ot/seed-0: no pr.csv"),
        (
            [str(results / "s0"), str(results / "pair"), "--loss", "npair"],
            "s0: loss 'npair' was not evaluated",
        ),
        ([str(results / "abl"), str(results / "rot")], "not evaluated on the same queries"),
    ]
    out = tmp_path / "out"
    for args, message in cases:
        assert main(["compare", *args, "--out", str(out)]) == 1, args
        err = capsys.readouterr().err
        assert err.startswith("bwot compare: error: ") and message in err, err
        assert not out.exists()


def test_the_bwot_command_does_not_import_compare_until_used():
    code = (
        "import sys; from bwot.cli import build_parser; build_parser(); print('bwot.compare' in sys.modules)"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    )
