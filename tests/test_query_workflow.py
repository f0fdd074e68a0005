"""`bwot query` on a finished (tiny) run: every test sketch, queried from its PNG file, gets exactly the
ranking `evaluate` computed for it (ranking.npz: the same top 10, the same float32 distances)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import finished_run, run_snakemake

from bwot.cli import main
from bwot.evaluation.outputs import read_ranking
from bwot.query import read_index

pytestmark = pytest.mark.slow
CONFIG = "config/test-tiny.yaml"
RES = "results/tiny"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return finished_run(tmp_path_factory.mktemp("tiny"), CONFIG)


@pytest.mark.parametrize("loss", ["ot", "contrastive"])  # the losses of config/test-tiny.yaml
def test_every_test_sketch_queried_from_its_file_ranks_as_evaluate(finished, capsys, loss):
    run = finished / RES
    ranking = read_ranking(run / "eval" / loss / "seed-0" / "ranking.npz")
    manifest = pd.read_csv(run / "manifest" / "sketches.csv", dtype=str).set_index("id")
    files = [str(finished / manifest.loc[q, "path"]) for q in ranking["query_sketch_ids"]]
    assert len(files) == len(set(files)) > 0
    assert main(["query", *files, "--run", str(run), "--loss", loss, "-k", "10", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert [q["query"] for q in answer["queries"]] == files
    for i, query in enumerate(answer["queries"]):
        ids = [hit["id"] for hit in query["results"]]
        distances = np.array([hit["distance"] for hit in query["results"]], dtype=np.float32)
        assert ids == list(ranking["target_ids"][ranking["topk"][i]]), query["query"]
        np.testing.assert_array_equal(distances, ranking["topk_dist"][i], err_msg=query["query"])
    # one query alone: the same bits as among all the others
    assert main(["query", files[-1], "--run", str(run), "--loss", loss, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["queries"][0] == answer["queries"][-1]


def test_the_index_is_part_of_the_run(finished):
    run = finished / RES
    models = pd.read_csv(run / "manifest" / "models.csv", dtype=str)
    for loss in ("ot", "contrastive"):
        index = read_index(run / "index" / f"{loss}.h5")
        assert list(index.ids) == list(models["id"]) and index.attrs["n_skipped"] == 0
        assert index.attrs["loss"] == loss and index.attrs["seed"] == 0
        assert index.files["metric_model"] == (run / "metric" / loss / "seed-0" / "model.pt").resolve()
    dry = run_snakemake(finished, "-n", "--configfile", CONFIG)
    assert "Nothing to be done" in dry.stdout + dry.stderr
