"""The workflow as users run it: caching between stages, -R/--until per stage, failures, kills, configs.

The tests that run the pipeline use config/test-tiny.yaml in a private copy of the workflow.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, SNAKEMAKE, finished_run, planned_jobs, run_snakemake

from bwot.config import SECTIONS, Config, marked, properties
from bwot.datasets.layouts import layout_problems
from bwot.features.layers import cached_weights_path
from bwot.losses.registry import reads

pytestmark = pytest.mark.slow

CONFIG = "config/test-tiny.yaml"
RES = "results/tiny"  # `name: tiny` in config/test-tiny.yaml

# Each stage's rule and the rules upstream of it (the DAG of rules/*.smk).
UPSTREAM = {
    "synthesize_dataset": set(),
    "index_dataset": {"synthesize_dataset"},
    "render_views": {"synthesize_dataset", "index_dataset"},
    "prepare_sketches": {"synthesize_dataset", "index_dataset"},
    "train_backbone": {"synthesize_dataset", "index_dataset", "render_views", "prepare_sketches"},
}
UPSTREAM["extract_features"] = UPSTREAM["train_backbone"] | {"train_backbone"}
UPSTREAM["train_metric"] = UPSTREAM["extract_features"] | {"extract_features"}
UPSTREAM["evaluate"] = UPSTREAM["train_metric"] | {"train_metric"}
UPSTREAM["report"] = UPSTREAM["evaluate"] | {"evaluate"}
UPSTREAM["retrieval_index"] = UPSTREAM["train_metric"] | {"train_metric"}
STAGES = list(UPSTREAM)
DOWNSTREAM = {rule: {other for other in STAGES if rule in UPSTREAM[other]} for rule in STAGES}


def _smk(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, "--configfile", CONFIG, *args, check=check)


def _rules(jobs: dict[str, int]) -> set[str]:
    return set(jobs) - {"all"}


def _snapshot(workdir: Path) -> dict[str, int]:
    """Relative path -> mtime_ns of every file under results/ and resources/."""
    files = {}
    for top in ("results", "resources"):
        for path in (workdir / top).rglob("*"):
            if path.is_file():
                files[str(path.relative_to(workdir))] = path.stat().st_mtime_ns
    return files


def _changed(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {path for path, mtime in after.items() if before.get(path) != mtime}


def _metrics(workdir: Path) -> dict[str, dict]:
    return {
        p.parent.parent.name: json.loads(p.read_text())
        for p in sorted((workdir / RES / "eval").glob("*/seed-0/metrics.json"))
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A workflow copy with the whole tiny pipeline run once (shared; tests work on copies of it)."""
    return finished_run(tmp_path_factory.mktemp("finished"), CONFIG)


@pytest.fixture
def run_copy(finished, tmp_path) -> Path:
    """A private copy of the finished run (files, mtimes and Snakemake's metadata)."""
    workdir = tmp_path / "wf"
    shutil.copytree(finished, workdir, symlinks=True)
    return workdir


def test_full_run_is_complete_and_cached(finished):
    for name in ("metrics.md", "metrics.csv", "pr_curves.png", "convergence.png", "gallery.png"):
        assert (finished / RES / "report" / name).stat().st_size > 0, name
    losses = yaml.safe_load((finished / CONFIG).read_text())["metric"]["losses"]
    assert set(_metrics(finished)) == set(losses)
    assert planned_jobs(_smk(finished, "-n")) == {}
    summary = _smk(finished, "--summary").stdout
    header, *lines = [line.split("\t") for line in summary.splitlines() if "\t" in line]
    rows = [dict(zip(header, line, strict=True)) for line in lines]
    assert rows and all((r["status"], r["plan"]) == ("ok", "no update") for r in rows), summary


def _another_value(prop: dict, value):
    """A valid value of a key other than `value` (its schema `prop`)."""
    if "enum" in prop:
        return next(v for v in prop["enum"] if v != value and v is not None)
    kind = prop["type"]
    if kind == "boolean":
        return not value
    if kind == "integer":
        return value + 1
    raise AssertionError(f"no other value for {prop}")


def test_a_bookkeeping_change_reruns_nothing(run_copy):
    """Every key marked x-bookkeeping (sketches.compression among them) changed at once: Snakemake plans no
    job, by any of its rerun triggers (params, input, code, software environment, mtime)."""
    path = run_copy / CONFIG
    cfg = yaml.safe_load(path.read_text())
    full = Config.from_mapping(cfg).as_dict()
    changed = []
    for section in SECTIONS:
        for key in marked(section, "x-bookkeeping"):
            if (section, key) == ("metric", "cuda_graphs"):  # preflight: only with sgd (test-tiny's is)
                assert full["metric"]["optimizer"] == "sgd"
            cfg.setdefault(section, {})[key] = _another_value(properties(section)[key], full[section][key])
            changed.append(f"{section}.{key}")
    assert "sketches.compression" in changed and len(changed) >= 8, changed
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert planned_jobs(_smk(run_copy, "-n")) == {}, changed


def test_metric_parameter_change_reruns_only_metric_and_after(run_copy):
    params_listed = set(_smk(run_copy, "--list-changes", "params").stdout.split())
    path = run_copy / CONFIG
    cfg = yaml.safe_load(path.read_text())
    cfg["metric"]["lamb"] = Config.from_mapping(cfg).metric.lamb / 2
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))

    planned = planned_jobs(_smk(run_copy, "-n"))
    assert _rules(planned) == {"train_metric", "evaluate", "report", "retrieval_index"}, planned
    readers = [loss for loss in cfg["metric"]["losses"] if reads(loss, "lamb")]  # only OT reads lamb
    assert readers and len(readers) < len(cfg["metric"]["losses"])
    assert planned["train_metric"] == len(readers)
    # Snakemake 9.27 also lists some unchanged outputs (the second output of a job): compare with before
    changed = set(_smk(run_copy, "--list-changes", "params").stdout.split()) - params_listed
    assert changed and all("/metric/" in path for path in changed), changed

    before = _snapshot(run_copy)
    _smk(run_copy)
    touched = _changed(before, _snapshot(run_copy))
    assert touched, "nothing was rerun"
    stages = {path.split("/")[2] if path.startswith("results/") else "resources" for path in touched}
    assert stages <= {"metric", "eval", "report", "index"}, sorted(touched)
    assert planned_jobs(_smk(run_copy, "-n")) == {}


def test_bookkeeping_and_the_other_modalitys_keys_rerun_nothing(run_copy):
    """Keys marked x-bookkeeping in the schema (checkpoints, logging, memory bounds) are not params of any
    job; a features key of one modality (x-modality) reruns only that modality's CNN and what follows."""
    path = run_copy / CONFIG
    cfg = yaml.safe_load(path.read_text())
    cfg["metric"] |= {"checkpoint_every": 7, "val_every": 9, "keep_checkpoints": True}
    cfg.setdefault("evaluate", {})["chunk_size"] = 5
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert planned_jobs(_smk(run_copy, "-n")) == {}
    cfg["features"]["train_views"] = Config.from_mapping(cfg).features.train_views - 1  # shapes only
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    planned = planned_jobs(_smk(run_copy, "-n"))
    assert planned["train_backbone"] == 1 and planned["extract_features"] == 1, planned


def test_builtin_runs_with_other_settings_never_touch_each_others_inputs(run_copy):
    """Another seed (under another name) generates its own benchmark, beside the first: the first run stays
    complete. Another name with the same settings shares the benchmark. More workers rerun nothing."""
    first = Config.from_mapping(yaml.safe_load((run_copy / CONFIG).read_text()))
    second = Config.from_mapping({**yaml.safe_load((run_copy / CONFIG).read_text()), "seed": 1})
    assert first.builtin_root != second.builtin_root
    _smk(run_copy, "--config", "seed=1", "name=seed1", "--until", "index_dataset")
    assert (run_copy / first.builtin_root).is_dir() and (run_copy / second.builtin_root).is_dir()
    assert planned_jobs(_smk(run_copy, "-n")) == {}  # the first run: nothing to redo
    other_name = planned_jobs(_smk(run_copy, "-n", "--config", "name=again"))
    assert "synthesize_dataset" not in other_name and other_name["index_dataset"] == 1
    path = run_copy / CONFIG
    cfg = yaml.safe_load(path.read_text())
    cfg["synthetic"]["workers"] = 2  # the rule's threads: the same bytes, no rerun
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert planned_jobs(_smk(run_copy, "-n")) == {}


def test_seeds_and_sweeps_plan_exactly_their_jobs_and_keep_computed_points(run_copy):
    """Seeds and sweep points are wildcards of train_metric and evaluate only: the dry run plans one job per
    new (loss, seed) and per (point, loss that reads the key, seed); a computed point is never redone."""
    path = run_copy / CONFIG
    cfg = yaml.safe_load(path.read_text())
    losses = cfg["metric"]["losses"]  # ot, contrastive
    cfg["metric"]["seeds"] = [0, 1]
    cfg["sweep"] = {"lamb": [3.0], "margin": [0.5, 1.0]}  # margin 1.0 is the run's own: no job
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    jobs = planned_jobs(_smk(run_copy, "-n"))
    # lamb: ot only (2 seeds); margin 0.5: both losses (2 seeds); seed 1 of the run: every loss
    assert jobs == {
        "train_metric": len(losses),
        "evaluate": len(losses),
        "sweep_train_metric": 2 + 2 * len(losses),
        "sweep_evaluate": 2 + 2 * len(losses),
        "report": 1,
        "all": 1,
    }, jobs
    _smk(run_copy)
    report = (run_copy / RES / "report" / "metrics.md").read_text()
    assert (
        "## Sweeps" in report and "| lamb | 3.0 | ot |" in report and "2 seeds of the metric stage" in report
    )
    sweep = pd.read_csv(run_copy / RES / "report" / "sweep.csv")
    points = sweep[~sweep["run"]]
    assert sorted(zip(points["key"], points["loss"], strict=True)) == [
        ("lamb", "ot"),
        ("margin", "contrastive"),
        ("margin", "ot"),
    ]
    # each curve also passes through the run's own value: lamb 10 (ot), margin 1.0 (both losses)
    own = sweep[sweep["run"]]
    assert sorted(zip(own["key"], own["value"], own["loss"], strict=True)) == [
        ("lamb", 10.0, "ot"),
        ("margin", 1.0, "contrastive"),
        ("margin", 1.0, "ot"),
    ]
    assert (run_copy / RES / "report" / "sweep-lamb.png").stat().st_size > 0
    assert (run_copy / RES / "sweep" / "lamb" / "3.0" / "eval" / "ot" / "seed-1" / "per_query.csv").exists()
    before = _snapshot(run_copy)
    cfg["sweep"]["lamb"] = [3.0, 30.0]  # one more value: only its jobs (and the report) run
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert planned_jobs(_smk(run_copy, "-n")) == {
        "sweep_train_metric": 2,
        "sweep_evaluate": 2,
        "report": 1,
        "all": 1,
    }
    _smk(run_copy)
    touched = {p for p in _changed(before, _snapshot(run_copy)) if "/sweep/" in p}
    assert touched and all("/sweep/lamb/30.0/" in p for p in touched), sorted(touched)


@pytest.mark.parametrize("rule", STAGES)
def test_forcerun_reruns_the_stage_and_what_follows(finished, rule):
    planned = _rules(planned_jobs(_smk(finished, "-n", "-R", rule)))
    assert rule in planned
    assert planned == {rule} | DOWNSTREAM[rule], planned


AFTER_MANIFEST = ["views", "sketches", "backbone", "features", "metric", "eval", "report", "index"]
BETWEEN_MANIFEST_AND_METRIC = ["render_views", "prepare_sketches", "train_backbone", "extract_features"]
# One output of each stage, as a target: what precedes it must run, nothing after it.
STAGE_TARGET = {
    "render_views": f"{RES}/views/shard-0.h5",
    "prepare_sketches": f"{RES}/sketches/test/shard-0.h5",
    "train_backbone": f"{RES}/backbone/shapes.pt",
    "extract_features": f"{RES}/features/sketches.h5",
}


@pytest.fixture
def manifest_only(run_copy) -> Path:
    """The finished copy with everything after the manifests removed."""
    for folder in AFTER_MANIFEST:
        shutil.rmtree(run_copy / RES / folder)
    return run_copy


@pytest.mark.parametrize("rule", STAGES)
def test_until_runs_the_stage_and_what_precedes(manifest_only, rule):
    if rule in ("synthesize_dataset", "index_dataset"):
        planned = _rules(planned_jobs(_smk(manifest_only, "-n", "-R", rule, "--until", rule)))
    else:
        planned = _rules(planned_jobs(_smk(manifest_only, "-n", "--until", rule)))
    assert planned == ({rule} | UPSTREAM[rule]) - ({"synthesize_dataset", "index_dataset"} - {rule}), planned


@pytest.mark.parametrize("rule", BETWEEN_MANIFEST_AND_METRIC)
def test_stage_target_runs_the_stage_and_what_precedes(manifest_only, rule):
    planned = _rules(planned_jobs(_smk(manifest_only, "-n", STAGE_TARGET[rule])))
    assert rule in planned and planned <= UPSTREAM[rule] | {rule}, planned
    assert not planned & DOWNSTREAM[rule], planned


def test_until_on_a_fresh_tree(workflow_dir):
    """`--until prepare_sketches` from nothing: dataset, manifests and every sketch shard, nothing more."""
    _smk(workflow_dir, "--until", "prepare_sketches")
    shards = Config.from_mapping(yaml.safe_load((workflow_dir / CONFIG).read_text())).sketches.shards
    made = sorted(p.relative_to(workflow_dir / RES / "sketches") for p in (workflow_dir / RES).rglob("*.h5"))
    assert made == [Path(s) / f"shard-{i}.h5" for s in ("test", "train") for i in range(shards)], made
    assert planned_jobs(_smk(workflow_dir, "-n", "--until", "prepare_sketches")) == {}


def test_failing_job_leaves_no_partial_output(run_copy):
    features = run_copy / RES / "features" / "sketches.h5"
    stat = features.stat()
    features.write_bytes(features.read_bytes()[:4096])  # a truncated (corrupt) input ...
    os.utime(features, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... that looks unchanged to Snakemake
    eval_dir = run_copy / RES / "eval"
    proc = _smk(run_copy, "-R", "evaluate", "--keep-going", check=False)  # every evaluate job fails
    assert proc.returncode != 0
    assert "Error in rule evaluate" in proc.stdout + proc.stderr
    left = [p for p in eval_dir.rglob("*") if p.is_file()]
    assert not left, f"failed evaluate jobs left files: {left}"


def _wait_for_incomplete(workdir: Path, proc: subprocess.Popen, timeout: float) -> bool:
    """Wait until Snakemake has marked a job's output as in progress (a job is running)."""
    marks = workdir / ".snakemake" / "incomplete"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if marks.is_dir() and any(marks.iterdir()):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_run_completes_with_rerun_incomplete(run_copy, sig):
    expected = _metrics(run_copy)
    target = f"{RES}/eval/ot/seed-0/metrics.json"
    cmd = [
        str(SNAKEMAKE),
        "--cores",
        "2",
        "--directory",
        str(run_copy),
        "--snakefile",
        str(run_copy / "Snakefile"),
    ]
    cmd += ["--configfile", CONFIG, "-R", "train_metric", target]
    proc = subprocess.Popen(
        cmd, cwd=run_copy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        assert _wait_for_incomplete(run_copy, proc, timeout=120), "no job started before snakemake ended"
        time.sleep(0.5)
        os.killpg(proc.pid, sig)  # snakemake and its job, as a scheduler or Ctrl-C would
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0, "snakemake finished before it was killed"

    if sig == signal.SIGKILL:  # no chance to clean up: the lock stays, as after a crash
        _smk(run_copy, "--unlock")
    _smk(run_copy, "--rerun-incomplete", target)
    assert planned_jobs(_smk(run_copy, "-n", target)) == {}
    again = _metrics(run_copy)
    for key, value in expected["ot"].items():
        if isinstance(value, float):
            assert again["ot"][key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
        else:
            assert again["ot"][key] == value, key


# --- configs and profiles (independent of the stages) ------------------------------------------------


@pytest.mark.parametrize("name", ["shrec13", "shrec14"])
def test_shrec_configs_use_the_original_hyper_parameters(name):
    cfg = Config.from_mapping(yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())).as_dict()
    assert cfg["dataset"] == name
    assert (cfg["features"]["backbone"], cfg["features"]["layer"]) == ("alexnet", "fc7")
    assert cfg["features"]["weights"] == "imagenet"
    assert cfg["render"]["rig"] == "dodecahedron20"
    assert cfg["render"]["size"] == cfg["sketches"]["size"] == cfg["features"]["input_size"] == 224
    assert (cfg["sketches"]["rotations"], cfg["sketches"]["step_deg"]) == (20, 18.0)
    metric = cfg["metric"]
    assert (metric["lamb"], metric["margin"], metric["batch_size"]) == (10.0, 1.0, 30)
    assert (metric["optimizer"], metric["lr"], metric["momentum"]) == ("sgd", 0.0005, 0.9)
    assert (metric["decay_rate"], metric["decay_steps"]) == (0.9, 60000)
    train_sketches = {"shrec13": 90 * 50, "shrec14": 8550}[name]
    assert metric["steps"] == 170 * 2850 * train_sketches // 8550  # 170 epochs of SHREC14's 2850 steps


@pytest.mark.parametrize("name", ["shrec13", "shrec14"])
def test_shrec_config_dry_run_passes_validation(workflow_dir, tmp_path, monkeypatch, name):
    """The SHREC configs plan the whole run once data_dir holds the layout and the ImageNet weights are in
    torchvision's cache (an empty stand-in file here: the check looks only for its presence)."""
    data = tmp_path / "data"
    for problem in layout_problems(name, data):
        if problem.startswith("missing folder "):
            Path(problem.removeprefix("missing folder ")).mkdir(parents=True)
    for problem in layout_problems(name, data):  # the .cla files, in the first folder looked in
        cla = problem.split(" classification file ")[1].split(" ")[0]
        (data / cla).write_text("PSB 1\n0 0\n")
    assert layout_problems(name, data) == []
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = cached_weights_path("alexnet")
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"")
    args = ["-n", "--configfile", f"config/{name}.yaml", "--config", f"data_dir={data}"]
    proc = run_snakemake(workflow_dir, *args)
    assert "index_dataset" in proc.stdout + proc.stderr
    weights.unlink()  # without the weights the run stops before any job, naming the file
    proc = run_snakemake(workflow_dir, *args, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and f"no cached ImageNet weights of alexnet at {weights}" in out


@pytest.mark.parametrize("profile", ["local", "slurm"])
def test_profile_is_accepted(workflow_dir, profile):
    proc = run_snakemake(workflow_dir, "-n", "--profile", str(REPO / "profiles" / profile))
    assert "index_dataset" in proc.stdout + proc.stderr
