"""`bwot add`: meshes added to a finished run's retrieval index without retraining (tests/fake_run.py's
run given real targets: 4 OFF meshes rendered by `render_shard`, a shape CNN, their shape features
extracted one mesh per batch on one thread, and the index of loss `ot` rebuilt from them)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from fake_run import SKETCHES, copy_run
from test_embed import CUBE_F, CUBE_V, MODEL, PYRAMID_F, PYRAMID_V, TETRA_F, TETRA_V, write_meshes, write_off

from bwot.cli import main
from bwot.features import build_backbone
from bwot.features.extract import extract_features
from bwot.features.inference import one_thread
from bwot.io import locked_folder, save_torch
from bwot.query import ann, build_index
from bwot.query.add import add_models
from bwot.query.index import read_index, sha256
from bwot.query.retriever import Retriever

INDEX = Path("index") / "ot.h5"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A workflow folder whose run's targets are the meshes models/{cube,slab,tetra,pyramid}.off."""
    from bwot.render import render_shard

    root = tmp_path_factory.mktemp("add-built")
    run = copy_run(root)
    meshes = write_meshes(root / "models")
    labels = [0, 1, 2, 0]
    manifest = pd.DataFrame(
        {
            "id": [p.stem for p in meshes],
            "class": [["chair", "lamp", "table"][x] for x in labels],
            "label": labels,
            "path": [str(p) for p in meshes],
        }
    )
    manifest.to_csv(run / "manifest" / "models.csv", index=False)
    shutil.rmtree(run / "views")
    (run / "index" / "ot.h5").unlink()
    cfg = {"rig": "dodecahedron20", "size": 32, "shards": 1, "up": "z", "compression": "lzf"}
    render_shard(
        run / "manifest" / "models.csv",
        0,
        run / "views" / "shard-0.h5",
        run / "views" / "shard-0.skipped.csv",
        cfg | {"on_bad_mesh": "error"},
    )
    torch.manual_seed(1)
    ckpt = {"backbone": "resnet18", "layer": "avgpool", "input_size": 32, "num_classes": 3}
    ckpt |= {"view_style": "shaded", "state_dict": build_backbone("resnet18", None, 3).state_dict()}
    save_torch(run / "backbone" / "shapes.pt", ckpt)
    extract = {"device": "cpu", "extract_batch_size": 20, "workers": 0, "amp": False}  # one mesh a batch
    with one_thread():
        extract_features(
            run / "backbone" / "shapes.pt",
            [run / "views" / "shard-0.h5"],
            run / "features" / "shapes.h5",
            "shapes",
            extract,
        )
    build_index(
        run / INDEX,
        metric_model=run / MODEL,
        backbone=run / "backbone" / "sketches.pt",
        shapes=run / "features" / "shapes.h5",
        views=[run / "views" / "shard-0.h5"],
        models_csv=run / "manifest" / "models.csv",
        classes_txt=run / "manifest" / "classes.txt",
        skipped_targets=[run / "views" / "shard-0.skipped.csv"],
        sketches=SKETCHES,
        view=1,
        seed=0,
    )
    return root


@pytest.fixture
def root(built, tmp_path) -> Path:
    """A fresh copy of the built workflow folder for each test."""
    shutil.copytree(built, tmp_path, dirs_exist_ok=True)
    return tmp_path


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _add(*argv: str) -> int:
    return main(["add", *argv])


def test_a_copy_of_a_target_is_added_and_ranks_right_after_it(root, capsys):
    """A copy of cube.off added as 'cube-copy' gets cube's embedding and thumbnail bit for bit, and a
    query ranks it right after cube (same distance; ties keep index order, the added rows come last)."""
    run = root / "results" / "fake"
    before = read_index(run / INDEX)
    (root / "new").mkdir()
    copy = shutil.copy(root / "models" / "cube.off", root / "new" / "cube-copy.off")
    assert _add("--run", str(run), str(copy)) == 0
    assert "1 models added (class unlabelled), 5 targets now (loss ot)" in capsys.readouterr().out
    index = read_index(run / INDEX)
    assert list(index.ids) == [*before.ids, "cube-copy"]
    cube = list(index.ids).index("cube")
    assert index.embeddings.dtype == np.float32
    assert np.array_equal(index.embeddings[:4], before.embeddings)
    assert np.array_equal(index.embeddings[4], index.embeddings[cube])
    assert np.array_equal(index.thumbnails([4])[0], index.thumbnails([cube])[0])
    assert index.classes == [*before.classes, "unlabelled"] and index.class_names([4]) == ["unlabelled"]
    assert list(index.labels[:4]) == list(before.labels) and index.attrs == before.attrs
    # bwot query, on every test sketch: cube-copy right after cube, at the same distance
    sketches = sorted((root / "data").rglob("*.png"))
    assert main(["query", "--run", str(run), "-k", "5", "--json", *map(str, sketches)]) == 0
    queries = json.loads(capsys.readouterr().out)["queries"]
    assert len(queries) == 6
    for query in queries:
        ids = [hit["id"] for hit in query["results"]]
        at = ids.index("cube")
        assert ids[at + 1] == "cube-copy", ids
        assert query["results"][at]["distance"] == query["results"][at + 1]["distance"]
        assert query["results"][at + 1]["class"] == "unlabelled"
    # the Python API (what bwot serve uses) sees it too
    hits = Retriever(run).search(sketches[0], k=5).hits
    assert "cube-copy" in [h.id for h in hits]


def test_provenance_is_recorded_and_kept_across_additions(root, monkeypatch, capsys):
    run = root / "results" / "fake"
    a = write_off(root / "new" / "big-cube.off", CUBE_V, CUBE_F, (1.5, 1.5, 1.5))
    b = write_off(root / "new" / "flat.off", TETRA_V, TETRA_F, (1.0, 1.0, 0.2))
    start = datetime.now().astimezone().replace(microsecond=0)
    assert _add("--run", str(run), "--loss", "ot", str(a), "--class", "lamp") == 0
    assert _add("--run", str(run), str(b), "--names", "thin", "--class", "vase") == 0
    capsys.readouterr()
    index = read_index(run / INDEX)
    assert list(index.ids[-2:]) == ["big-cube", "thin"]
    assert index.class_names([4, 5]) == ["lamp", "vase"] and index.classes[-1] == "vase"
    assert index.classes[:3] == ["chair", "lamp", "table"] and len(index.classes) == 4
    added = index.added
    assert list(added["added_ids"]) == ["big-cube", "thin"]
    assert list(added["added_sources"]) == [str(a.resolve()), str(b.resolve())]
    assert all(Path(s).is_absolute() for s in added["added_sources"])
    assert list(added["added_sha256"]) == [sha256(a), sha256(b)]
    for when in added["added_at"]:
        assert start <= datetime.fromisoformat(when) <= datetime.now().astimezone()
    # a relative path is recorded absolute
    c = write_off(root / "new" / "pyr.off", PYRAMID_V, PYRAMID_F, (1.0, 2.0, 1.0))
    monkeypatch.chdir(root / "new")
    assert _add("--run", str(run), "pyr.off") == 0
    assert read_index(run / INDEX).added["added_sources"][-1] == str(c.resolve())


def test_ids_must_be_new_and_nothing_is_written_otherwise(root, capsys):
    run = root / "results" / "fake"
    digest = sha256(run / INDEX)
    twin = write_off(root / "other" / "cube.off", CUBE_V, CUBE_F, (1.0, 1.0, 2.0))
    x = write_off(root / "new" / "x.off", CUBE_V, CUBE_F, (1.0, 2.0, 2.0))
    assert _add("--run", str(run), str(twin), str(x)) == 1
    err = capsys.readouterr().err
    assert "ids not new (already targets of the index: cube)" in err and "--names" in err
    assert _add("--run", str(run), str(x), str(twin), "--names", "slab", "tetra") == 1
    assert "already targets of the index: slab, tetra" in capsys.readouterr().err
    assert _add("--run", str(run), str(x), str(twin), "--names", "a", "a") == 1
    assert f"repeated ids: 'a' ({x}, {twin})" in capsys.readouterr().err
    assert sha256(run / INDEX) == digest
    assert _add("--run", str(run), str(x), "--names", "m4") == 0  # m4 is not a target of this run
    capsys.readouterr()
    digest = sha256(run / INDEX)
    assert _add("--run", str(run), str(twin), "--names", "m4") == 1  # now it is
    assert "already targets of the index: m4" in capsys.readouterr().err
    assert _add("--run", str(run), str(root / "gone.off")) == 1
    assert "1 of 1 meshes cannot be embedded" in capsys.readouterr().err
    assert _add("--run", str(run), "--loss", "npair", str(x)) == 1
    assert "loss 'npair' was not trained" in capsys.readouterr().err
    assert sha256(run / INDEX) == digest
    assert [p.name for p in (run / "index").iterdir()] == ["ot.h5"]


def test_skipped_targets_ids_are_refused(root, capsys):
    run = root / "results" / "fake"
    with h5py.File(run / INDEX, "a") as f:  # pretend 'ghost' was skipped upstream
        del f["skipped_ids"]
        f.create_dataset("skipped_ids", data=np.array(["ghost"], dtype=object), dtype=h5py.string_dtype())
    x = write_off(root / "new" / "ghost.off", CUBE_V, CUBE_F, (1.0, 2.0, 2.0))
    assert _add("--run", str(run), str(x)) == 1
    assert "targets of the run skipped upstream: ghost" in capsys.readouterr().err


def test_a_failure_before_the_rename_leaves_the_old_index(root, monkeypatch, capsys):
    """The new file is complete (written and checked) when `os.replace` fails: the old one is intact."""
    import bwot.io

    run = root / "results" / "fake"
    digest = sha256(run / INDEX)
    x = write_off(root / "new" / "x.off", CUBE_V, CUBE_F, (1.0, 2.0, 2.0))
    seen = []

    def failing_replace(src, dst):
        seen.append(read_index(src).ids[-1])  # the temporary file is a whole, valid index
        raise OSError("disk gone")

    monkeypatch.setattr(bwot.io.os, "replace", failing_replace)
    assert _add("--run", str(run), str(x)) == 1
    assert "disk gone" in capsys.readouterr().err and seen == ["x"]
    monkeypatch.undo()
    assert sha256(run / INDEX) == digest and len(read_index(run / INDEX)) == 4
    assert [p.name for p in (run / "index").iterdir()] == ["ot.h5"]  # the temporary file removed


KILLED = """
import sys, time
from pathlib import Path
import bwot.query.add as add

original = add._copy_and_append
def slow(old, f, *rest):
    original(old, f, *rest)
    f.flush()
    Path(sys.argv[3]).write_text("written")
    time.sleep(120)  # killed here: the new file written, not yet renamed
add._copy_and_append = slow
add.add_models(sys.argv[1], [sys.argv[2]])
"""


def test_a_kill_mid_write_leaves_the_old_index(root):
    run = root / "results" / "fake"
    digest = sha256(run / INDEX)
    x = write_off(root / "new" / "x.off", CUBE_V, CUBE_F, (1.0, 2.0, 2.0))
    marker = root / "marker"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(run), str(x), str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the writer did not get to the write"
        temporary = [p for p in (run / "index").iterdir() if p.name != "ot.h5"]
        assert temporary and temporary[0].stat().st_size > 0  # it is writing beside the index
    finally:
        proc.kill()
        proc.wait()
    assert sha256(run / INDEX) == digest and len(read_index(run / INDEX)) == 4
    assert len(Retriever(run).index) == 4  # a query still finds the old index (the leftover is ignored)


def test_only_the_index_changes_so_evaluate_is_untouched(root, capsys):
    """Adding rewrites the index and nothing else in the run: evaluate's inputs (features, models,
    manifests) and its outputs are byte for byte as before (evaluate does not read the index)."""
    run = root / "results" / "fake"
    before = _digests(run)
    x = write_off(root / "new" / "x.off", CUBE_V, CUBE_F, (1.0, 2.0, 2.0))
    assert _add("--run", str(run), str(x)) == 0
    after = _digests(run)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed == {str(INDEX)}
    evaluation = Path(__file__).resolve().parents[1] / "src" / "bwot" / "evaluation"
    assert not [p for p in evaluation.rglob("*.py") if "bwot.query" in p.read_text()]


def _damaged(path: Path, edit) -> str:
    with h5py.File(path, "a") as f:
        edit(f)
    with pytest.raises(ValueError) as err:
        read_index(path)
    return str(err.value)


def test_read_index_checks_the_added_records(root, capsys):
    run = root / "results" / "fake"
    x = write_off(root / "new" / "x.off", CUBE_V, CUBE_F, (1.0, 2.0, 2.0))
    assert _add("--run", str(run), str(x)) == 0
    good = run / INDEX

    def case(name, edit) -> str:
        path = run / "index" / f"{name}.h5"
        shutil.copy(good, path)
        return _damaged(path, edit)

    def replace(key, values):
        def edit(f):
            del f[key]
            f.create_dataset(key, data=np.array(values, dtype=object), dtype=h5py.string_dtype())

        return edit

    assert "added models recorded in part" in case("part", lambda f: f.__delitem__("added_sources"))
    assert "1 added_ids, 2 added_sources" in case("apart", replace("added_sources", ["a", "b"]))
    assert "added models that are not targets: nope" in case("stray", replace("added_ids", ["nope"]))

    def numbers(f):
        del f["added_at"]
        f["added_at"] = np.array([1.0])

    assert "'added_at' must hold strings" in case("numbers", numbers)
    assert "added models also skipped: x" in case("skipped", replace("skipped_ids", ["x"]))
    assert len(read_index(good).added["added_ids"]) == 1


# ------------------------------------------------------------------ real meshes, a running server, the graph


def test_real_psb_meshes_are_added_and_come_back_from_query(root, real_data, capsys):
    """Two real Princeton Shape Benchmark meshes join the run's index; each one's own embedding (bwot embed)
    finds it first, at distance 0, and bwot query lists them among every target."""
    run = root / "results" / "fake"
    psb = [shutil.copy(real_data / "meshes" / f"{m}.off", root / f"psb-{m}.off") for m in ("m423", "m689")]
    assert _add("--run", str(run), *map(str, psb), "--class", "psb") == 0
    assert "2 models added (class psb), 6 targets now" in capsys.readouterr().out
    index = read_index(run / INDEX)
    assert list(index.ids[-2:]) == ["psb-m423", "psb-m689"] and index.class_names([4, 5]) == ["psb"] * 2
    assert list(index.added["added_sources"]) == [str(Path(p).resolve()) for p in psb]
    out = root / "psb.h5"
    assert main(["embed", "--run", str(run), "--meshes", *map(str, psb), "--out", str(out)]) == 0
    capsys.readouterr()
    with h5py.File(out) as f:
        embedded = f["embeddings"][()]
    np.testing.assert_array_equal(embedded, index.embeddings[4:])  # the same path, the same bits
    retriever = Retriever(run)
    rows, dists = retriever.rank(embedded, 1)
    assert [int(r[0]) for r in rows] == [4, 5] and [float(d[0]) for d in dists] == [0.0, 0.0]
    sketch = sorted((root / "data").rglob("*.png"))[0]
    assert main(["query", str(sketch), "--run", str(run), "-k", "6", "--json"]) == 0
    ids = [hit["id"] for hit in json.loads(capsys.readouterr().out)["queries"][0]["results"]]
    assert {"psb-m423", "psb-m689"} <= set(ids)


def test_a_running_retriever_takes_up_added_models(root, caplog):
    """What bwot serve does before each batch: the index file replaced by bwot add is read again; one
    rebuilt for other model files (a retrained run) is not taken, and the loaded one answers on."""
    run = root / "results" / "fake"
    retriever = Retriever(run)
    sketch = sorted((root / "data").rglob("*.png"))[0]
    assert not retriever.refresh() and len(retriever.search(sketch, k=10).hits) == 4
    x = write_off(root / "new" / "x.off", CUBE_V, CUBE_F, (1.0, 2.0, 2.0))
    add_models(run, [x])  # not main(): its logging set-up would take caplog's handler away
    assert retriever.refresh() and not retriever.refresh()
    assert "x" in [h.id for h in retriever.search(sketch, k=10).hits]
    retrained = run / "index" / "retrained.h5"
    shutil.copy(run / INDEX, retrained)
    with h5py.File(retrained, "a") as f:
        f.attrs["backbone_sha256"] = "0" * 64
    os.replace(retrained, run / INDEX)
    with caplog.at_level(logging.WARNING, logger="bwot.query.retriever"):
        assert not retriever.refresh() and len(retriever.index) == 5
    assert "rebuilt for other model files (retrained?): restart to use it" in caplog.text


def test_a_large_index_keeps_its_graph_and_bwot_add_extends_it(root, monkeypatch, capsys):
    """Above HNSW_ABOVE targets (here 4) the index holds its HNSW graph: built when an addition crosses the
    size, extended by the next one; auto then answers with it, as exact does on so few targets."""
    monkeypatch.setattr(ann, "HNSW_ABOVE", 4)
    run = root / "results" / "fake"
    x = write_off(root / "new" / "x.off", CUBE_V, CUBE_F, (1.0, 2.0, 2.0))
    y = write_off(root / "new" / "y.off", TETRA_V, TETRA_F, (1.0, 1.0, 0.2))
    for mesh, rows in ((x, 5), (y, 6)):
        assert _add("--run", str(run), str(mesh)) == 0
        with h5py.File(run / INDEX) as f:
            assert f.attrs["hnsw_rows"] == rows and f["hnsw"].dtype == np.uint8
    sketches = sorted((root / "data").rglob("*.png"))
    auto, exact = Retriever(run), Retriever(run, backend="exact")
    assert (auto.backend, exact.backend) == ("hnsw", "exact")
    for a, e in zip(auto.search_many(sketches, k=6), exact.search_many(sketches, k=6), strict=True):
        assert [(h.id, h.distance) for h in a.hits] == [(h.id, h.distance) for h in e.hits]
    capsys.readouterr()
    message = _damaged(run / INDEX, lambda f: f.attrs.__setitem__("hnsw_rows", 5))
    assert "its HNSW graph covers 5 rows, not the 6 targets" in message


def test_additions_to_one_run_wait_for_each_other(root, caplog):
    """While another writer holds the index folder's lock, bwot add waits (and says so), then adds on top
    of what that writer left: no addition is lost to a concurrent one."""
    run = root / "results" / "fake"
    x = write_off(root / "new" / "x.off", CUBE_V, CUBE_F, (1.0, 2.0, 2.0))
    done: list[dict] = []
    with caplog.at_level(logging.INFO, logger="bwot.io"), locked_folder(run / "index"):
        writer = threading.Thread(target=lambda: done.append(add_models(run, [x])))
        writer.start()
        deadline = time.monotonic() + 120
        while "another bwot add is writing this run's index: waiting" not in caplog.text:
            assert writer.is_alive() and time.monotonic() < deadline, "bwot add did not wait for the lock"
            time.sleep(0.05)
        assert len(read_index(run / INDEX)) == 4 and not done  # still waiting
    writer.join(timeout=300)
    assert done and done[0]["targets"] == 5 and list(read_index(run / INDEX).ids)[-1] == "x"
