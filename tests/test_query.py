"""`bwot query` and the retrieval index on a small run in the pipeline's file formats (tests/fake_run.py):
the index, the Retriever (every input kind, the same bits as the pipeline's path), bad input, the command.

The query of every test sketch of a real (tiny) run against its `evaluate` ranking is in
tests/test_query_workflow.py; `bwot serve`, its API and the page in a real browser in tests/test_serve.py.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import uvicorn
from fake_run import CLASSES, N_MODELS, SKETCHES, SKIPPED, make_run, zip_bomb
from PIL import Image

from bwot.cli import main
from bwot.evaluation.distances import DistanceMatrix
from bwot.evaluation.metrics import stable_argsort_rows
from bwot.features.extract import extract_features
from bwot.io import CheckpointError, load_torch
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
    assert "loss ot: 8 of 9 target models (1 skipped upstream), euclidean distance, exact search" in out
    rows = [line.split() for line in out.splitlines() if re.match(r"^\s+[123]\s+m\d", line)]
    assert [r[0] for r in rows] == ["1", "2", "3"] and all(r[2] in CLASSES for r in rows)

    png = tmp_path / "out" / "query.png"
    assert main(["query", str(sketch), str(sketch), "--run", str(fake_run), "--json", "--png", str(png)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["loss"] == "ot" and answer["targets"] == 8 and answer["targets_skipped"] == 1
    assert answer["backend"] == "exact"
    assert len(answer["queries"]) == 2 and len(answer["queries"][0]["results"]) == 8
    assert set(answer["queries"][0]["results"][0]) == {"rank", "id", "class", "distance"}
    assert Image.open(png).size[0] > 400


def test_hnsw_on_a_small_index_is_the_exact_answer(fake_run, capsys):
    """With fewer targets than the walk keeps candidates, the graph returns every target: the hnsw answer is
    the exact one, ids and distances (computed against the candidates alone: the same bits here)."""
    sketches = sorted(str(p) for p in (fake_run.parent.parent / "data").rglob("*.png"))
    answers = {}
    for backend in ("exact", "hnsw"):
        assert (
            main(["query", *sketches, "--run", str(fake_run), "-k", "5", "--json", "--backend", backend]) == 0
        )
        answers[backend] = json.loads(capsys.readouterr().out)
    assert answers["hnsw"].pop("backend") == "hnsw" and answers["exact"].pop("backend") == "exact"
    assert answers["hnsw"] == answers["exact"]


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


# ------------------------------------------------------------------- damaged indexes and the models they name


def _damaged_copy(fake_run: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the run (its workflow folder) to damage: (run folder, index file)."""
    shutil.copytree(fake_run.parent.parent, tmp_path, dirs_exist_ok=True)
    run = tmp_path / "results" / "fake"
    return run, run / "index" / "ot.h5"


def test_an_index_is_refused_with_every_problem_of_its_targets(fake_run, tmp_path):
    _run, index = _damaged_copy(fake_run, tmp_path)
    with h5py.File(index, "r+") as f:
        f["embeddings"][2, 0] = np.nan
        f["embeddings"][5] = -np.inf
        f["labels"][1] = -5
        f["ids"][3] = "m0"
        f["ids"][7] = ""
    with pytest.raises(ValueError) as err:
        read_index(index)
    message = str(err.value)
    assert message.startswith(f"{index}: a damaged retrieval index: ") and "\n" not in message
    assert "embeddings not finite (NaN or inf) for 2 of 8 targets: m2, m6" in message
    assert "labels outside 0..2 (the 3 classes) for 1 of 8 targets: m1 (label -5)" in message
    assert "empty ids for 1 of 8 targets" in message and "ids repeated: m0" in message


def test_many_bad_targets_are_counted_and_the_first_few_named(fake_run, tmp_path):
    _run, index = _damaged_copy(fake_run, tmp_path)
    with h5py.File(index, "r+") as f:
        f["embeddings"][:, 1] = np.nan
    with pytest.raises(ValueError, match=r"for 8 of 8 targets: m0, m1, m2, m3, m5, \.\.\.$"):
        read_index(index)


def test_an_index_is_refused_with_every_missing_or_misshapen_part(fake_run, tmp_path):
    _run, index = _damaged_copy(fake_run, tmp_path)
    with h5py.File(index, "r+") as f:
        del f["thumbnails"], f["skipped_ids"], f.attrs["n_skipped"]
    with pytest.raises(ValueError) as err:
        read_index(index)
    assert str(err.value) == (
        f"{index}: a damaged retrieval index: no 'skipped_ids' dataset; no 'thumbnails' dataset; "
        "no 'n_skipped' attribute"
    )
    _run, index = _damaged_copy(fake_run, tmp_path / "2")
    with h5py.File(index, "r+") as f:
        labels = f["labels"][()]
        del f["labels"]
        f["labels"] = labels.astype(np.float32)
        f.attrs["distance"] = "manhattan"
    with pytest.raises(ValueError) as err:
        read_index(index)
    assert "labels must be a 1-D integer array, not float32 (8,)" in str(err.value)
    assert "unknown distance 'manhattan' (expected one of euclidean, cosine)" in str(err.value)


def test_model_paths_must_stay_in_the_run_folder_after_symlinks(fake_run, tmp_path):
    run, index = _damaged_copy(fake_run, tmp_path)
    model = run / "metric" / "ot" / "seed-0" / "model.pt"
    outside = tmp_path / "outside.pt"
    model.replace(outside)
    model.symlink_to(outside)  # the same bytes, so the checksum agrees
    with pytest.raises(ValueError) as err:
        Retriever(run)
    assert str(err.value) == (
        f"{index}: refused: its metric model '../metric/ot/seed-0/model.pt' is {outside.resolve()}, "
        f"outside the run folder {run.resolve()}"
    )


def test_the_metric_model_must_fit_the_index_and_the_backbone(fake_run, tmp_path):
    index = read_index(fake_run / "index" / "ot.h5")
    model = tmp_path / "model.pt"
    save_metric_model(model, MetricNets(256, 512, [32], [32], 4), {"loss": "contrastive"})
    with pytest.raises(ValueError) as err:
        index.check_models(load_metric_model(model), feature_dim=512)
    assert str(err.value) == (
        f"{index.path}: its metric model {index.files['metric_model']} does not fit it: it was trained with "
        "loss 'contrastive', the index is of loss 'ot'; it embeds to 4 dimensions, the index's targets have "
        "8; it takes sketch features of 256 dimensions, the backbone gives 512"
    )
    index.check_models(load_metric_model(index.files["metric_model"]), feature_dim=512)  # its own: fits


def test_serve_refuses_to_start_on_a_damaged_index(fake_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: pytest.fail("serve started"))
    run, index = _damaged_copy(fake_run, tmp_path)
    with h5py.File(index, "r+") as f:
        f["labels"][0] = 999
    assert main(["serve", "--run", str(run), "--port", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"bwot serve: error: {index}: a damaged retrieval index: labels outside 0..2 (the 3 classes) for "
        "1 of 8 targets: m0 (label 999)"
    )


# ---------------------------------------------------------------------------- model files that are not


def test_random_bytes_are_a_corrupt_file_and_a_pickle_global_is_unsafe(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(
        CheckpointError, match=r"junk\.pt: not a bwot metric model: unreadable or corrupt"
    ) as err:
        load_torch(junk, "bwot metric model")
    assert "could run code" not in str(err.value)
    unsafe = tmp_path / "unsafe.pt"
    unsafe.write_bytes(pickle.dumps(os.getcwd, protocol=2))  # a GLOBAL: a pickle naming a function
    with pytest.raises(CheckpointError, match=r"unsafe\.pt: refused: .* which could run code"):
        load_torch(unsafe, "bwot metric model")


def test_a_zip_bomb_is_refused_from_its_directory_alone(tmp_path, monkeypatch):
    bomb = zip_bomb(tmp_path / "bomb.pt")
    small = tmp_path / "small.pt"  # a small entry, but deflated 1000 to 1: torch never writes that
    with zipfile.ZipFile(small, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model/data/0", bytes(1 << 20))
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: pytest.fail("an entry was decompressed"))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called"))
    with pytest.raises(CheckpointError) as err:
        load_torch(bomb, "bwot metric model")
    assert str(err.value).startswith(
        f"{bomb}: refused: not a bwot metric model but a zip bomb: its entries declare 209715200 bytes "
        f"uncompressed in a file of {bomb.stat().st_size} bytes"
    )
    with pytest.raises(CheckpointError, match=r"zip bomb: .*compressed entries such as model/data/0"):
        load_torch(small, "bwot metric model")
