"""`bwot query` and the retrieval index on a small run in the pipeline's file formats (tests/fake_run.py):
the index, the Retriever (every input kind, the same bits as the pipeline's path), bad input, the command.

The query of every test sketch of a real (tiny) run against its `evaluate` ranking is in
tests/test_query_workflow.py; `bwot serve`, its API and the page in a real browser in tests/test_serve.py.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from fake_run import CLASSES, N_MODELS, SKETCHES, SKIPPED, make_run
from PIL import Image

from bwot.cli import main
from bwot.evaluation.evaluate import DistanceMatrix
from bwot.evaluation.metrics import stable_argsort_rows
from bwot.features.extract import extract_features
from bwot.metric import MetricNets, load_metric_model, save_metric_model
from bwot.query import Retriever, read_index
from bwot.query.index import THUMBNAIL
from bwot.query.retriever import index_path


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("workflow"))


@pytest.fixture(scope="module")
def retriever(fake_run) -> Retriever:
    return Retriever(fake_run, "ot")


def test_index_holds_the_embedded_targets_in_manifest_order(fake_run):
    index = read_index(fake_run / "index" / "ot.h5")
    assert list(index.ids) == [f"m{i}" for i in range(N_MODELS) if f"m{i}" != SKIPPED]
    assert list(index.skipped_ids) == [SKIPPED]
    assert (index.attrs["n_targets"], index.attrs["n_skipped"], index.attrs["loss"]) == (N_MODELS, 1, "ot")
    assert index.classes == CLASSES and index.class_names([0, 4]) == ["chair", "table"]
    assert index.sketches == SKETCHES and index.distance == "euclidean"
    model = load_metric_model(fake_run / "metric" / "ot" / "seed-0" / "model.pt")
    with h5py.File(fake_run / "features" / "shapes.h5") as f:
        np.testing.assert_array_equal(index.embeddings, model.embed_shapes(f["pooled"][()]))
    thumbs = index.thumbnails([7, 0, 7])
    assert thumbs.shape == (3, THUMBNAIL, THUMBNAIL) and thumbs.dtype == np.uint8
    np.testing.assert_array_equal(thumbs[0], thumbs[2])
    assert index.files["backbone"] == (fake_run / "backbone" / "sketches.pt").resolve()


def test_a_query_is_the_pipeline_path_bit_for_bit(fake_run, retriever, tmp_path):
    """extract_features' upright feature -> the metric model -> DistanceMatrix -> the stable ranking: what
    evaluate computes for a test sketch, and what a query of its PNG file returns."""
    shard = fake_run / "sketches" / "test" / "shard-0.h5"
    ckpt = fake_run / "backbone" / "sketches.pt"
    cfg = {"device": "cpu", "extract_batch_size": 16, "workers": 0, "amp": False}
    extract_features(ckpt, [shard], tmp_path / "sketches.h5", "sketches", cfg)
    with h5py.File(tmp_path / "sketches.h5") as f:
        upright = f["features"][:, 0]
    model = load_metric_model(fake_run / "metric" / "ot" / "seed-0" / "model.pt")
    d = DistanceMatrix(model.embed_sketches(upright), retriever.index.embeddings)[:]
    order = stable_argsort_rows(d)
    tests = pd.read_csv(fake_run / "manifest" / "sketches.csv")
    root = fake_run.parent.parent
    results = retriever.search_many([root / p for p in tests["path"]], k=8)
    for row, result in enumerate(results):
        assert [h.row for h in result.hits] == order[row].tolist()
        assert [h.distance for h in result.hits] == d[row, order[row]].tolist()
    alone = retriever.search(root / tests["path"][3], k=8)  # alone or with others: the same bits
    assert [(h.id, h.distance) for h in alone.hits] == [(h.id, h.distance) for h in results[3].hits]
    assert [h.rank for h in alone.hits] == list(range(1, 9)) and SKIPPED not in [h.id for h in alone.hits]


def test_every_kind_of_input_gives_the_same_answer(fake_run, retriever):
    path = fake_run.parent.parent / "data" / "lamp" / "test" / "t1.png"
    expected = [(h.id, h.distance) for h in retriever.search(path, k=5).hits]
    data = path.read_bytes()
    gray = np.asarray(Image.open(path))
    rgba = Image.open(path).convert("RGBA")
    for source in (str(path), data, gray, rgba, Image.open(io.BytesIO(data))):
        assert [(h.id, h.distance) for h in retriever.search(source, k=5).hits] == expected
    result = retriever.search(data, k=3, name="upload.png")
    assert result.name == "upload.png" and result.image.shape == (32, 32) and len(result.hits) == 3
    assert retriever.search(path, k=50).hits[-1].rank == N_MODELS - 1  # never the skipped target


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"not an image at all", r"^upload\.png: not a readable image"),
        (b"", r"^upload\.png: empty file"),
        (np.full((60, 80), 255, np.uint8), r"^upload\.png: no ink"),
        (np.zeros((4, 5, 3), np.uint8), r"^upload\.png: not an \(H, W\) uint8 image array"),
    ],
)
def test_bad_sketches_are_one_line_naming_them(retriever, source, message):
    with pytest.raises(ValueError, match=message):
        retriever.search(source, name="upload.png")


def test_run_folders_that_cannot_answer_say_why(fake_run, tmp_path):
    with pytest.raises(ValueError, match=r"nowhere: no such run folder"):
        index_path(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: no trained metric model and no retrieval index"):
        index_path(tmp_path / "empty")
    with pytest.raises(ValueError, match=r"fake: loss 'npair' was not trained in this run \(trained: ot\)"):
        index_path(fake_run, "npair")
    assert index_path(fake_run) == fake_run / "index" / "ot.h5"
    half = tmp_path / "half"
    (half / "metric" / "contrastive").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no retrieval index .* contrastive were trained: run snakemake"):
        index_path(half)
    with pytest.raises(ValueError, match=r"contrastive\.h5: no retrieval index of loss 'contrastive'"):
        index_path(half, "contrastive")
    (half / "index").mkdir()
    (half / "index" / "contrastive.h5").write_bytes(b"garbage")
    with pytest.raises(OSError, match=r"contrastive\.h5: not a readable HDF5 file"):
        Retriever(half)


def test_a_stale_index_is_refused(fake_run, tmp_path):
    copy = tmp_path / "results" / "fake"
    shutil.copytree(fake_run, copy)
    model = copy / "metric" / "ot" / "seed-0" / "model.pt"
    save_metric_model(model, MetricNets(512, 512, [32], [32], 8), {"loss": "ot"})  # retrained
    with pytest.raises(
        ValueError, match=r"ot\.h5: built from another .*model\.pt \(the file changed since\)"
    ):
        Retriever(copy)
    model.unlink()
    with pytest.raises(ValueError, match=r"ot\.h5: its metric model .*model\.pt is missing"):
        Retriever(copy)


def test_query_command_table_json_and_picture(fake_run, capsys, tmp_path):
    root = fake_run.parent.parent
    sketch = root / "data" / "table" / "test" / "t2.png"
    assert main(["query", str(sketch), "--run", str(fake_run), "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "loss ot: 8 of 9 target models (1 skipped upstream), euclidean distance" in out
    rows = [line.split() for line in out.splitlines() if re.match(r"^\s+[123]\s+m\d", line)]
    assert [r[0] for r in rows] == ["1", "2", "3"] and all(r[2] in CLASSES for r in rows)

    png = tmp_path / "out" / "query.png"
    assert main(["query", str(sketch), str(sketch), "--run", str(fake_run), "--json", "--png", str(png)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["loss"] == "ot" and answer["targets"] == 8 and answer["targets_skipped"] == 1
    assert len(answer["queries"]) == 2 and len(answer["queries"][0]["results"]) == 8
    assert set(answer["queries"][0]["results"][0]) == {"rank", "id", "class", "distance"}
    assert Image.open(png).size[0] > 400


@pytest.mark.parametrize(
    ("sketch", "args", "message"),
    [
        ("README.md", [], r"README\.md: (unsupported format|not a readable image)"),
        ("missing.png", [], r"missing\.png: cannot read file"),
        (None, ["--loss", "npair"], r"fake: loss 'npair' was not trained in this run"),
        (None, ["-k", "0"], r"-k must be at least 1"),
    ],
)
def test_query_command_errors_are_one_line(fake_run, capsys, sketch, args, message):
    root = fake_run.parent.parent
    path = root / "data" / "chair" / "test" / "t0.png" if sketch is None else root / sketch
    if sketch == "README.md":
        path.write_text("# not a sketch\n")
    assert main(["query", str(path), "--run", str(fake_run), *args]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("bwot query: error: "), err
    assert re.search(message, err), err
