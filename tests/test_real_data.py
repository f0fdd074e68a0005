"""The whole workflow on real SHREC'13 files: a slice of ../shared/data/real13-dev (real PSB meshes, among
them the thin door m1708, and real TU-Berlin sketches, in the official layout) to the report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, WORKFLOW_PARTS, run_snakemake

from bwot.datasets import format_cla, read_cla
from bwot.evaluation import read_ranklist
from bwot.evaluation.outputs import read_ranking

pytestmark = pytest.mark.slow

QUERY_CLASSES = ("ant", "hourglass", "wine-bottle")  # sketches and models
OTHER_CLASSES = ("axe", "door")  # models only: distractors (door holds m1708, 0.027 thick)
TRAIN, TEST = 6, 3  # sketches per query class
CLA = "SHREC2013_Sketch_Evaluation"


def make_slice(dev: Path, out: Path) -> dict[str, list[str]]:
    """A SHREC'13-layout copy of some classes of the dev set; returns the model classes written."""
    models = read_cla(dev / CLA / "SHREC13_SBR_Model.cla")
    train = read_cla(dev / CLA / "SHREC13_SBR_Sketch_Train.cla")
    test = read_cla(dev / CLA / "SHREC13_SBR_Sketch_Test.cla")
    kept = {c: models[c] for c in (*QUERY_CLASSES, *OTHER_CLASSES)}
    sketches = {
        "train": {c: train[c][:TRAIN] for c in QUERY_CLASSES},
        "test": {c: test[c][:TEST] for c in QUERY_CLASSES},
    }
    (out / CLA).mkdir(parents=True)
    (out / CLA / "SHREC13_SBR_Model.cla").write_text(format_cla(kept))
    (out / CLA / "SHREC13_SBR_Sketch_Train.cla").write_text(format_cla(sketches["train"]))
    (out / CLA / "SHREC13_SBR_Sketch_Test.cla").write_text(format_cla(sketches["test"]))
    (out / "SHREC13_SBR_TARGET_MODELS" / "models").mkdir(parents=True)
    for ids in kept.values():
        for i in ids:
            name = f"SHREC13_SBR_TARGET_MODELS/models/m{i}.off"
            shutil.copy(dev / name, out / name)
    folders = {
        "train": "SHREC13_SBR_TRAINING_SKETCHES/SHREC13_SBR_TRAINING_SKETCHES",
        "test": "SHREC13_SBR_TESTING_SKETCHES",
    }
    for split, classes in sketches.items():
        for cls, ids in classes.items():
            folder = out / folders[split] / cls / split
            folder.mkdir(parents=True)
            for i in ids:
                shutil.copy(dev / folders[split] / cls / split / f"{i}.png", folder / f"{i}.png")
    return kept


def test_real_shrec13_slice_runs_to_the_report(tmp_path, real13_dev):
    data = tmp_path / "data"
    kept = make_slice(real13_dev, data)
    n_models = sum(len(ids) for ids in kept.values())
    work = tmp_path / "wf"
    work.mkdir()
    for part in WORKFLOW_PARTS:
        src = REPO / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / part)
    cfg = yaml.safe_load((REPO / "config" / "test-tiny.yaml").read_text())
    del cfg["synthetic"]
    cfg |= {"dataset": "shrec13", "name": "real", "data_dir": str(data)}
    assert "ranklists" not in cfg.get("evaluate", {})  # shrec13 writes them by default
    (work / "real.yaml").write_text(yaml.safe_dump(cfg))
    run_snakemake(work, "--configfile", "real.yaml")

    res = work / "results" / "real"
    for loss in cfg["metric"]["losses"]:
        out = res / "eval" / loss / "seed-0"
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["n_targets"] == n_models and metrics["n_targets_skipped"] == 0  # every target ranked
        assert metrics["n_queries"] == TEST * len(QUERY_CLASSES)
        per_class = pd.read_csv(out / "per_class.csv")
        assert list(per_class["class"]) == list(QUERY_CLASSES)
        assert list(per_class["n_targets"]) == [len(kept[c]) for c in QUERY_CLASSES]
        # the SHREC rank lists parse back: every target once, most similar first, the top 10 of evaluate
        ranking = read_ranking(out / "ranking.npz")
        lists = sorted((out / "ranklists").iterdir())
        assert sorted(p.name for p in lists) == sorted(ranking["query_ids"])
        all_models = sorted(f"m{i}" for ids in kept.values() for i in ids)
        for path in lists:
            query, names, distances = read_ranklist(path)
            assert query == path.name and sorted(names) == all_models
            assert (distances[1:] >= distances[:-1]).all() and np.isfinite(distances).all()  # no inf
            assert "inf" not in path.read_text().lower()  # the official reader stops at a token like it
            row = list(ranking["query_ids"]).index(query)
            assert names[:10] == [f"m{ranking['target_ids'][t]}" for t in ranking["topk"][row]]
    md = (res / "report" / "metrics.md").read_text()
    assert f"shrec13 at `{data}`: {len(kept)} classes, {n_models} target models" in md
    assert f"{TRAIN * 3} training and {TEST * 3} test sketches (3 classes queried)" in md
    assert "**Skipped**: nothing" in md
    assert "**Differs from the paper's protocol** (Xu et al., SHREC13)" in md
    assert f"a subset of SHREC13: {n_models} of its 1258 target models" in md
    assert "`features.weights`: `None` (paper: `imagenet`)" in md or "`features.weights`: `null`" in md
    assert "`metric.steps`: `40` (paper: `255000`)" in md
