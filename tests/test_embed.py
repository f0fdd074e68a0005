"""`bwot embed`: sketches and meshes embedded by a finished run's networks (tests/fake_run.py's run; for
meshes, that run given real rendered views of a few OFF meshes, a shape CNN and its extracted features)."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from fake_run import copy_run

from bwot.cli import main
from bwot.evaluation.evaluate import embed_queries, embed_targets
from bwot.features import build_backbone
from bwot.features.extract import extract_features
from bwot.features.inference import one_thread
from bwot.io import read_strings, save_torch
from bwot.metric import load_metric_model
from bwot.query.embed import FORMAT
from bwot.query.index import sha256

MODEL = Path("metric") / "ot" / "seed-0" / "model.pt"
CUBE_V = [(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
CUBE_F = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
TETRA_V = [(1, 1, 1), (-1, -1, 1), (-1, 1, -1), (1, -1, -1)]
TETRA_F = [(0, 1, 2), (0, 3, 1), (0, 2, 3), (1, 3, 2)]
PYRAMID_V = [(-1, -1, 0), (1, -1, 0), (1, 1, 0), (-1, 1, 0), (0, 0, 1.5)]
PYRAMID_F = [(0, 3, 2, 1), (0, 1, 4), (1, 2, 4), (2, 3, 4), (3, 0, 4)]


def write_off(path: Path, vertices, faces, stretch=(1.0, 1.0, 1.0)) -> Path:
    lines = ["OFF", f"{len(vertices)} {len(faces)} 0"]
    lines += [" ".join(repr(float(c) * s) for c, s in zip(v, stretch, strict=True)) for v in vertices]
    lines += [" ".join(str(i) for i in [len(f), *f]) for f in faces]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_meshes(folder: Path) -> list[Path]:
    """The four test meshes: folder/{cube,slab,tetra,pyramid}.off."""
    return [
        write_off(folder / "cube.off", CUBE_V, CUBE_F),
        write_off(folder / "slab.off", CUBE_V, CUBE_F, (2.0, 1.0, 0.3)),
        write_off(folder / "tetra.off", TETRA_V, TETRA_F),
        write_off(folder / "pyramid.off", PYRAMID_V, PYRAMID_F),
    ]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("embed")
    copy_run(root)
    return root


@pytest.fixture(scope="module")
def run(workdir) -> Path:
    return workdir / "results" / "fake"


@pytest.fixture(scope="module")
def sketch_files(run, workdir) -> list[Path]:
    tests = pd.read_csv(run / "manifest" / "sketches.csv")
    return [workdir / p for p in tests["path"]]


def test_the_runs_test_sketches_embed_as_evaluate_embeds_them(run, sketch_files, tmp_path, capsys):
    """`bwot embed --sketches` of the run's test sketch PNGs == `embed_queries` (evaluate's own call, on
    one thread as its rule) on features extracted from the run's sketch shard: bit for bit."""
    cfg = {"device": "cpu", "extract_batch_size": 16, "workers": 0, "amp": False}
    shard = run / "sketches" / "test" / "shard-0.h5"
    extract_features(run / "backbone" / "sketches.pt", [shard], tmp_path / "sketches.h5", "sketches", cfg)
    model = load_metric_model(run / MODEL)
    with one_thread():
        expected = embed_queries(model, tmp_path / "sketches.h5", "upright")
    out = tmp_path / "mine.h5"
    files = [str(p) for p in sketch_files]
    assert main(["embed", "--run", str(run), "--sketches", *files, "--out", str(out)]) == 0
    assert "6 sketches embedded" in capsys.readouterr().out
    with h5py.File(out) as f:
        ids, embeddings = read_strings(f["ids"]), f["embeddings"][()]
    assert list(ids) == [p.stem for p in sketch_files] == list(expected.ids)
    assert embeddings.dtype == np.float32 and embeddings.shape == expected.embeddings.shape
    assert np.array_equal(embeddings, expected.embeddings)
    # one alone, under another name: the same bits
    alone = tmp_path / "alone.h5"
    assert (
        main(["embed", "--run", str(run), "--sketches", files[3], "--names", "x", "--out", str(alone)]) == 0
    )
    with h5py.File(alone) as f:
        assert list(read_strings(f["ids"])) == ["x"]
        assert np.array_equal(f["embeddings"][()], expected.embeddings[3:4])


def test_the_output_says_what_embedded(run, sketch_files, tmp_path):
    out = tmp_path / "e.h5"
    assert (
        main(
            [
                "embed",
                "--run",
                str(run),
                "--loss",
                "ot",
                "--sketches",
                str(sketch_files[0]),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with h5py.File(out) as f:
        attrs = dict(f.attrs)
        assert set(f) == {"ids", "embeddings"} and f["embeddings"].shape == (1, 8)
    assert attrs["format"] == FORMAT and attrs["modality"] == "sketches"
    assert Path(attrs["run"]) == run.resolve() and attrs["loss"] == "ot" and attrs["seed"] == 0
    assert attrs["distance"] == "euclidean"
    assert Path(attrs["backbone"]) == (run / "backbone" / "sketches.pt").resolve()
    assert attrs["backbone_sha256"] == sha256(run / "backbone" / "sketches.pt")
    assert Path(attrs["metric_model"]) == (run / MODEL).resolve()
    assert attrs["metric_model_sha256"] == sha256(run / MODEL)


def _fails(capsys, *argv: str) -> str:
    assert main(["embed", *argv]) == 1
    return capsys.readouterr().err


def test_bad_input_is_refused_naming_every_file_and_nothing_is_written(run, sketch_files, tmp_path, capsys):
    out = tmp_path / "e.h5"
    a, b = sketch_files[0], sketch_files[1]
    twin = shutil.copy(a, tmp_path / a.name)  # the same stem in another folder
    err = _fails(capsys, "--run", str(run), "--sketches", str(a), str(b), str(twin), "--out", str(out))
    assert f"repeated ids: '{a.stem}' ({a}, {twin})" in err and "--names" in err
    (tmp_path / "notes.png").write_text("not an image")
    missing, bad = tmp_path / "gone.png", tmp_path / "notes.png"
    err = _fails(capsys, "--run", str(run), "--sketches", str(a), str(missing), str(bad), "--out", str(out))
    assert "2 of 3 sketches cannot be embedded" in err
    assert f"{missing}: cannot read file" in err and f"{bad}: not a readable image" in err
    err = _fails(capsys, "--run", str(run), "--loss", "npair", "--sketches", str(a), "--out", str(out))
    assert "loss 'npair' was not trained in this run (trained: ot)" in err
    err = _fails(capsys, "--run", str(tmp_path / "nowhere"), "--sketches", str(a), "--out", str(out))
    assert "no such run folder" in err
    err = _fails(capsys, "--run", str(run), "--sketches", str(a), str(b), "--names", "one", "--out", str(out))
    assert "1 names for 2 files" in err
    err = _fails(capsys, "--run", str(run), "--meshes", str(tmp_path / "gone.off"), "--out", str(out))
    assert "no shape CNN" in err  # the fake run has none: refused before any rendering
    assert not out.exists() and not list(tmp_path.glob("*.h5*"))


# -- meshes ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mesh_run(tmp_path_factory) -> tuple[Path, list[Path]]:
    """The fake run with real targets: 4 OFF meshes rendered by `render_shard` (the run's views), an
    untrained resnet18 as its shape CNN, and their shape features extracted one mesh per batch."""
    from bwot.render import render_shard

    root = tmp_path_factory.mktemp("embed-meshes")
    run = copy_run(root)
    meshes = write_meshes(root / "models")
    manifest = pd.DataFrame(
        {"id": [p.stem for p in meshes], "class": "chair", "label": 0, "path": [str(p) for p in meshes]}
    )
    manifest.to_csv(root / "targets.csv", index=False)
    shutil.rmtree(run / "views")
    cfg = {
        "rig": "dodecahedron20",
        "size": 32,
        "shards": 1,
        "up": "z",
        "compression": "lzf",
        "on_bad_mesh": "error",
    }
    render_shard(
        root / "targets.csv", 0, run / "views" / "shard-0.h5", run / "views" / "shard-0.skipped.csv", cfg
    )
    torch.manual_seed(1)
    net = build_backbone("resnet18", None, 3)
    ckpt = {
        "backbone": "resnet18",
        "layer": "avgpool",
        "input_size": 32,
        "num_classes": 3,
        "view_style": "shaded",
    }
    save_torch(run / "backbone" / "shapes.pt", ckpt | {"state_dict": net.state_dict()})
    return run, meshes


def _extract_and_embed_targets(run: Path, out: Path, batch: int) -> tuple[np.ndarray, np.ndarray]:
    cfg = {"device": "cpu", "extract_batch_size": batch, "workers": 0, "amp": False}
    with one_thread():  # features and evaluate on one thread
        extract_features(run / "backbone" / "shapes.pt", [run / "views" / "shard-0.h5"], out, "shapes", cfg)
        ids, _, embeddings = embed_targets(load_metric_model(run / MODEL), out)
    return ids, embeddings


def test_meshes_embed_as_the_pipeline_embeds_its_targets(mesh_run, tmp_path, capsys):
    """Rendering is the run's (the views are its shard's, byte for byte); with one mesh per extraction
    batch on one thread, `bwot embed --meshes` == `embed_targets` (evaluate's call) bit for bit; against a
    batched extraction (4 meshes, 80 views a pass) it agrees to float32 rounding."""
    from bwot.query.embed import Embedder

    run, meshes = mesh_run
    embedder = Embedder(run, "ot")
    views = embedder.render_meshes(meshes)
    with h5py.File(run / "views" / "shard-0.h5") as f:
        assert np.array_equal(views, f["images"][()])
    ids, expected = _extract_and_embed_targets(run, tmp_path / "shapes-1.h5", batch=20)
    out = tmp_path / "meshes.h5"
    assert main(["embed", "--run", str(run), "--meshes", *map(str, meshes), "--out", str(out)]) == 0
    assert "4 meshes embedded" in capsys.readouterr().out
    with h5py.File(out) as f:
        assert list(read_strings(f["ids"])) == list(ids) == [p.stem for p in meshes]
        embeddings, attrs = f["embeddings"][()], dict(f.attrs)
    assert embeddings.dtype == np.float32 and np.array_equal(embeddings, expected)
    assert attrs["modality"] == "meshes" and (attrs["rig"], attrs["size"], attrs["up"]) == (
        "dodecahedron20",
        32,
        "z",
    )
    assert Path(attrs["backbone"]) == (run / "backbone" / "shapes.pt").resolve()
    assert (
        attrs["backbone_sha256"] == sha256(run / "backbone" / "shapes.pt") and attrs["view_style"] == "shaded"
    )
    _, batched = _extract_and_embed_targets(run, tmp_path / "shapes-4.h5", batch=80)
    np.testing.assert_allclose(embeddings, batched, rtol=1e-4, atol=1e-5)


def test_bad_meshes_are_named_all_at_once(mesh_run, tmp_path, capsys):
    run, meshes = mesh_run
    (tmp_path / "broken.off").write_text("OFF\n3 1 0\n0 0 0\n")  # truncated
    out = tmp_path / "e.h5"
    err = _fails(
        capsys,
        "--run",
        str(run),
        "--meshes",
        str(meshes[0]),
        str(tmp_path / "gone.off"),
        str(tmp_path / "broken.off"),
        "--out",
        str(out),
    )
    assert "2 of 3 meshes cannot be embedded" in err
    assert f"{tmp_path / 'gone.off'}: file not found" in err and f"{tmp_path / 'broken.off'}: " in err
    assert not out.exists()
