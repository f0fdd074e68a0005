"""bench/scale/run.py's analysis: stages from Snakemake benchmark files, items, exponents, the projection."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

spec = importlib.util.spec_from_file_location("bench_scale", REPO / "bench" / "scale" / "run.py")
scale_bench = importlib.util.module_from_spec(spec)
sys.modules["bench_scale"] = scale_bench  # its dataclass looks its module up
spec.loader.exec_module(scale_bench)

SCALES = (1 / 16, 1 / 8, 1 / 4)
LOSSES = ("ot", "triplet")
# job-seconds = C * items ** B for the stages that grow; the fixed ones cost the same at every scale
LAWS = {"render_views": (0.05, 1.0), "prepare_sketches": (0.01, 1.0), "extract_features shapes": (0.02, 0.9)}


def _bench(path, seconds, rss=100.0, cpu=None, written=5.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    cpu = seconds * 1.5 if cpu is None else cpu
    path.write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        f"{seconds}\t0:00:01\t{rss}\t1\t1\t1\t0\t{written}\t0\t{cpu}\n"
    )


def _fake_run(work, scale):
    """A finished run's files as the workflow leaves them, with costs that follow LAWS."""
    name = f"scale-{scale_bench.tag(scale)}"
    res, bench = work / "results" / name, work / "benchmarks" / name
    models, sketches = round(8987 * scale), round(13680 * scale)
    (res / "manifest").mkdir(parents=True)
    pd.DataFrame({"id": range(models)}).to_csv(res / "manifest" / "models.csv", index=False)
    split = ["test"] * round(5130 * scale) + ["train"] * (sketches - round(5130 * scale))
    table = pd.DataFrame({"id": range(sketches), "split": split})
    table.to_csv(res / "manifest" / "sketches.csv", index=False)
    (res / "backbone").mkdir()
    for modality in ("shapes", "sketches"):
        pd.DataFrame({"epoch": [1, 2], "images": [7500, 7500]}).to_csv(
            res / "backbone" / f"{modality}.history.csv", index=False
        )
    for loss in LOSSES:
        (res / "metric" / loss).mkdir(parents=True)
        _bench(bench / "train_metric" / loss / "seed-0.tsv", 200.0)
        _bench(bench / "evaluate" / loss / "seed-0.tsv", 1e-6 * models * round(5130 * scale))
        _bench(bench / "retrieval_index" / f"{loss}.tsv", 1e-3 * models)
    c, b = LAWS["render_views"]
    for shard in range(4):  # four jobs, a quarter of the items each: their sum follows the law
        _bench(bench / "render_views" / f"shard-{shard}.tsv", c * models**b / 4, rss=300 + shard)
    _bench(bench / "prepare_sketches" / "train-shard-0.tsv", 0.01 * sketches)
    c, b = LAWS["extract_features shapes"]
    _bench(bench / "extract_features" / "shapes.tsv", c * models**b)
    (res / "features").mkdir()
    (res / "features" / "shapes.h5").write_bytes(b"\0" * 1000 * models)  # 1 kB a target, kept
    _bench(bench / "extract_features" / "sketches.tsv", 0.004 * sketches)
    _bench(bench / "train_backbone" / "shapes.tsv", 900.0)
    _bench(bench / "train_backbone" / "sketches.tsv", 950.0)
    return name


@pytest.fixture
def work(tmp_path):
    shutil.copytree(REPO / "config", tmp_path / "config")
    for scale in SCALES:
        name = _fake_run(tmp_path, scale)
        timing = {"wall_s": 1000.0 + 8000 * scale, "cpu_s": 1500.0 + 12000 * scale, "peak_rss_mb": 1200.0}
        (tmp_path / f"{name}.json").write_text(json.dumps(timing))
    return tmp_path


def test_tag_and_overlay_name_each_scale(tmp_path, monkeypatch):
    assert [scale_bench.tag(s) for s in (1 / 16, 0.125, 0.5, 1.0)] == ["1-16", "1-8", "1-2", "1-1"]
    monkeypatch.setattr(scale_bench, "OUT", tmp_path)
    path = scale_bench.write_overlay(0.125, 2)
    assert path == tmp_path / "scale-1-8.yaml"
    assert yaml.safe_load(path.read_text()) == {
        "dataset": "builtin",
        "name": "scale-1-8",
        "synthetic": {"preset": "shrec14-scale", "scale": 0.125, "workers": 2},
    }
    # the run's config as snakemake makes it from both files: the schema accepts every value's type
    cfg = scale_bench.load_run(0.125, "config/shrec14-cpu.yaml", 2, REPO).config["cfg"]
    assert (cfg.synthetic.scale, cfg.synthetic.workers, cfg.features.epoch_images) == (0.125, 2, 7500)


def test_parse_time_reads_wall_cpu_and_rss():
    text = (
        "\tUser time (seconds): 100.5\n\tSystem time (seconds): 4.5\n"
        "\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02:03.5\n"
        "\tMaximum resident set size (kbytes): 2048\n"
    )
    assert scale_bench.parse_time(text) == {"wall_s": 3723.5, "cpu_s": 105.0, "peak_rss_mb": 2.0}
    short = text.replace("1:02:03.5", "2:03.5")
    assert scale_bench.parse_time(short)["wall_s"] == 123.5


def test_stages_items_and_fitted_exponents(work):
    runs = {s: scale_bench.load_run(s, "config/shrec14-cpu.yaml", 2, work) for s in SCALES}
    tables = {s: scale_bench.collect(r) for s, r in runs.items()}
    t = tables[1 / 8]
    assert t.loc["render_views", "jobs"] == 4 and t.loc["render_views", "peak_rss_mb"] == 303
    assert t.loc["render_views", "items"] == round(8987 / 8)
    assert t.loc["train_backbone sketches", "items"] == 15000  # images seen, from the history
    assert t.loc["train_metric", "items"] == len(LOSSES) * 4000  # config/shrec14-cpu.yaml's steps
    assert t.loc["evaluate", "items"] == len(LOSSES) * round(5130 / 8) * round(8987 / 8)
    assert t.loc["train_metric", "seconds"] == 400 and t.loc["train_metric", "cpu_s"] == 600

    def fitted(stage):
        x = np.array([tables[s].loc[stage, "x"] for s in SCALES])
        seconds = np.array([tables[s].loc[stage, "seconds"] for s in SCALES])
        return scale_bench.exponent(x, seconds)

    for stage, (_, b) in LAWS.items():
        assert fitted(stage) == pytest.approx(b, abs=1e-9)
    assert fitted("evaluate") == pytest.approx(1.0, abs=1e-3)  # linear in the (query, target) pairs
    # a fixed budget: fitted against the targets (its validation grows with them); here it does not grow
    assert t.loc["train_backbone shapes", "x"] == round(8987 / 8)
    assert fitted("train_backbone shapes") == pytest.approx(0.0, abs=1e-9)
    assert t.loc["extract_features shapes", "kept_mb"] == pytest.approx(round(8987 / 8) / 1000)
    assert math.isnan(scale_bench.exponent(np.array([5.0, 5.0]), np.array([1.0, 2.0])))

    # the projection: each stage's line at the full size's x, times the largest run's wall/job-seconds
    walls = {s: 1000.0 + 8000 * s for s in SCALES}
    full = scale_bench.full_x(len(LOSSES), 8987, 13680, 5130)
    assert full["render_views"] == 8987 and full["train_backbone shapes"] == 8987
    assert full["evaluate"] == len(LOSSES) * 5130 * 8987
    expected = sum(
        scale_bench.project(
            np.array([tables[s].loc[st, "x"] for s in SCALES]),
            np.array([tables[s].loc[st, "seconds"] for s in SCALES]),
            full[st],
        )
        for st in full
        if st in tables[1 / 4].index
    )
    ratio = walls[1 / 4] / tables[1 / 4]["seconds"].sum()
    got = scale_bench.projected_wall(tables, walls, list(SCALES), full)
    assert got == pytest.approx(expected * ratio)
    assert scale_bench.project(np.array([10.0, 20.0]), np.array([3.0, 6.0]), 40.0) == pytest.approx(12.0)
    # a start-up cost and a cost per item: the line keeps both (a power law through them would give 18.1)
    assert scale_bench.project(np.array([10.0, 20.0]), np.array([13.0, 16.0]), 40.0) == pytest.approx(22.0)
    # no growth to fit, or a falling line from noise: the mean
    assert scale_bench.project(np.array([10.0, 10.0]), np.array([3.0, 5.0]), 40.0) == pytest.approx(4.0)
    assert scale_bench.project(np.array([10.0, 20.0]), np.array([5.0, 3.0]), 40.0) == pytest.approx(4.0)


def test_saved_records_give_the_same_tables_without_the_results(work, tmp_path_factory, monkeypatch):
    import argparse

    measured = tmp_path_factory.mktemp("measured")
    monkeypatch.setattr(scale_bench, "MEASURED", measured)
    args = argparse.Namespace(config="config/shrec14-cpu.yaml", cores=2, workdir=work, label="")
    runs, tables, walls, losses = scale_bench.measurements(list(SCALES), args)
    names = sorted(p.name for p in measured.iterdir())
    assert names == ["scale-1-16.json", "scale-1-4.json", "scale-1-8.json"]
    assert len(runs) == 3 and losses == len(LOSSES) and walls[1 / 8]["wall_s"] == 2000.0
    record = json.loads((measured / "scale-1-8.json").read_text())
    assert record["machine"]["cpus"] >= 1 and record["steps"] == 4000

    shutil.rmtree(work / "results")  # a clone without results: the records stand in
    runs2, tables2, walls2, losses2 = scale_bench.measurements(list(SCALES), args)
    assert runs2 == {} and walls2 == walls and losses2 == losses
    for s in SCALES:
        pd.testing.assert_frame_equal(tables2[s], tables[s], check_dtype=False)

    args.label = "slurm"  # no record of that name, no results: a clear stop
    missing = r"neither results under .* nor a saved record .*/slurm-scale-1-16\.json"
    with pytest.raises(SystemExit, match=missing):
        scale_bench.measurements(list(SCALES), args)


def test_same_outputs_names_what_differs(work, tmp_path_factory):
    run = scale_bench.load_run(1 / 16, "config/shrec14-cpu.yaml", 2, work)
    (run.results / "eval" / "ot").mkdir(parents=True)
    (run.results / "eval" / "ot" / "metrics.csv").write_text("a,b\n1,2\n")
    other = tmp_path_factory.mktemp("other")
    twin = other / "results" / run.name / "eval" / "ot" / "metrics.csv"
    twin.parent.mkdir(parents=True)
    twin.write_text("a,b\n1,2\n")
    assert scale_bench.same_outputs(run, other) == ["report/metrics.csv"]  # missing there
    (run.results / "report").mkdir()
    (run.results / "report" / "metrics.csv").write_text("x\n")
    (other / "results" / run.name / "report").mkdir()
    (other / "results" / run.name / "report" / "metrics.csv").write_text("x\n")
    assert scale_bench.same_outputs(run, other) == []
    twin.write_text("a,b\n1,3\n")
    assert scale_bench.same_outputs(run, other) == ["eval/ot/metrics.csv"]
    (twin.parent / "extra.csv").write_text("only there\n")
    assert scale_bench.same_outputs(run, other) == ["eval/ot/extra.csv", "eval/ot/metrics.csv"]

    # a workdir without the results: the digests its saved record keeps
    saved = other / "bench" / "scale" / "measured" / f"{run.name}.json"
    saved.parent.mkdir(parents=True)
    saved.write_text(json.dumps({"outputs": scale_bench.outputs_digest(run.results)}))
    shutil.rmtree(other / "results")
    assert scale_bench.same_outputs(run, other) == []
    (run.results / "eval" / "ot" / "metrics.csv").write_text("a,b\n1,4\n")
    assert scale_bench.same_outputs(run, other) == ["eval/ot/metrics.csv"]
    saved.unlink()
    with pytest.raises(SystemExit, match="nothing to compare with"):
        scale_bench.same_outputs(run, other)
