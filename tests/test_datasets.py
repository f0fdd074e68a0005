"""Dataset readers: real .cla files, the SHREC13/SHREC14/folder layouts, and every validation error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from bwot.datasets import DatasetError, format_cla, read_cla, read_dataset, write_manifests
from bwot.datasets.layouts import SHREC13, SHREC14

REAL_COUNTS = {
    "SHREC13/SHREC13_SBR_Model.cla": (90, 1258),
    "SHREC13/SHREC13_SBR_Sketch.cla": (90, 7200),
    "SHREC13/SHREC13_SBR_Sketch_Train.cla": (90, 4500),
    "SHREC13/SHREC13_SBR_Sketch_Test.cla": (90, 2700),
    "SHREC14/SHREC14_SBR_Model.cla": (171, 8987),
    "SHREC14/SHREC14_SBR_Sketch.cla": (171, 13680),
    "SHREC14/SHREC14_SBR_Sketch_Train.cla": (171, 8550),
    "SHREC14/SHREC14_SBR_Sketch_Test.cla": (171, 5130),
}


# ----------------------------------------------------------------------------------------------- read_cla


@pytest.mark.parametrize("name", sorted(REAL_COUNTS))
def test_read_real_cla(real_data, name):
    classes = read_cla(real_data / "cla" / name)
    n_classes, n_items = REAL_COUNTS[name]
    assert len(classes) == n_classes
    assert sum(len(ids) for ids in classes.values()) == n_items
    assert all(ids for ids in classes.values())
    # ids are plain tokens: no tabs, spaces or carriage returns survive
    assert all(i.strip() == i and i for ids in classes.values() for i in ids)


def test_real_cla_details(real_data):
    models14 = read_cla(real_data / "cla/SHREC14/SHREC14_SBR_Model.cla")
    assert next(iter(models14)) == "airplane"
    assert models14["airplane"][:2] == ["000003", "000017"]  # zero padding kept
    models13 = read_cla(real_data / "cla/SHREC13/SHREC13_SBR_Model.cla")
    assert "ant" in models13 and "axe" in models13  # class lines with tabs
    assert models13["ant"] == [i.strip() for i in models13["ant"]]
    # order is the file's order
    raw = (real_data / "cla/SHREC13/SHREC13_SBR_Model.cla").read_text()
    assert raw.index("\nairplane") < raw.index("\nant") and list(models13)[:2] == ["airplane", "ant"]


def test_cla_round_trip(tmp_path):
    classes = {"chair": ["000001", "7"], "table": ["3"]}
    path = tmp_path / "x.cla"
    path.write_text(format_cla(classes).replace("\n", "\r\n"))
    assert read_cla(path) == classes


def test_cla_count_mismatch_names_file_class_and_counts(tmp_path):
    path = tmp_path / "bad.cla"
    path.write_text("PSB 1\n2 5\n\nchair 0 3\n1\n2\n\ntable 0 1\n3\n4\n5\n")
    with pytest.raises(DatasetError) as err:
        read_cla(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "'chair' declares 3 ids but lists 2" in msg
    assert "'table' declares 1 ids but lists 3" in msg  # every class, not only the first


def test_cla_header_mismatch(tmp_path):
    path = tmp_path / "bad.cla"
    path.write_text("PSB 1\n3 4\nchair 0 2\n1\n2\ntable 0 2\n3\n4\n")
    with pytest.raises(DatasetError, match="declares 3 classes but the file has 2"):
        read_cla(path)


def test_cla_not_psb(tmp_path):
    path = tmp_path / "x.cla"
    path.write_text("hello\n")
    with pytest.raises(DatasetError, match=r"x\.cla: not a PSB"):
        read_cla(path)


# ------------------------------------------------------------------------------------------ SHREC layouts


def _touch(path: Path, data: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def make_shrec(root: Path, spec, models: dict, train: dict, test: dict, cla_dir: str | None = None) -> None:
    """Write a SHREC tree with empty files for the given .cla contents."""
    cla_dir = cla_dir if cla_dir is not None else spec.cla_dirs[0]
    for which, classes in (("model", models), ("train", train), ("test", test)):
        _touch(root / cla_dir / spec.cla_names[which], format_cla(classes).encode())
    for ids in models.values():
        for i in ids:
            _touch(root / spec.models_dir / spec.model_name(i))
    for split, classes in (("train", train), ("test", test)):
        for cls, ids in classes.items():
            for i in ids:
                _touch(root / spec.sketch_dirs[split] / cls / split / f"{i}.png")


@pytest.mark.parametrize(("spec", "edition"), [(SHREC13, "SHREC13"), (SHREC14, "SHREC14")])
def test_shrec_layout_from_real_cla(tmp_path, real_data, spec, edition):
    cla = real_data / "cla" / edition
    models = read_cla(cla / f"{edition}_SBR_Model.cla")
    train = read_cla(cla / f"{edition}_SBR_Sketch_Train.cla")
    test = read_cla(cla / f"{edition}_SBR_Sketch_Test.cla")
    make_shrec(tmp_path, spec, models, train, test)
    dataset = read_dataset(spec.layout, tmp_path)
    assert dataset.classes == list(models)
    assert len(dataset.models) == sum(map(len, models.values()))
    assert sum(s.split == "train" for s in dataset.sketches) == sum(map(len, train.values()))
    assert sum(s.split == "test" for s in dataset.sketches) == sum(map(len, test.values()))
    out = tmp_path / "manifest"
    write_manifests(spec.layout, tmp_path, out / "models.csv", out / "sketches.csv", out / "classes.txt")
    table = pd.read_csv(out / "models.csv", dtype=str, keep_default_na=False)
    assert list(table.columns) == ["id", "class", "label", "path"]
    first = table.iloc[0]
    assert first["id"] == models["airplane"][0] and first["label"] == "0"
    assert Path(first["path"]).name == spec.model_name(first["id"])
    sketches = pd.read_csv(out / "sketches.csv", dtype=str)
    assert list(sketches.columns) == ["id", "class", "label", "split", "path"]
    assert (out / "classes.txt").read_text().splitlines() == list(models)


def test_shrec13_with_real_meshes_and_sketches(tmp_path, real_data):
    """A small SHREC13 tree made of the real files: meshes by their SHREC13 class, real sketches."""
    model_cla = read_cla(real_data / "cla/SHREC13/SHREC13_SBR_Model.cla")
    meshes = {p.stem[1:]: p for p in (real_data / "meshes").glob("m*.off")}
    models = {c: [i for i in ids if i in meshes] for c, ids in model_cla.items()}
    models = {c: ids for c, ids in models.items() if ids}
    assert sorted(models) == ["house", "potted_plant", "sword", "table"]
    for ids in models.values():
        for i in ids:
            _touch(tmp_path / SHREC13.models_dir / f"m{i}.off", meshes[i].read_bytes())
    sketch_files = sorted((real_data / "sketches").glob("*/*.png"))
    train, test = {c: [] for c in models}, {c: [] for c in models}
    for k, path in enumerate(sketch_files):
        cls = list(models)[k % len(models)]
        split, target = ("train", train) if k % 3 else ("test", test)
        target[cls].append(path.stem)
        _touch(tmp_path / SHREC13.sketch_dirs[split] / cls / split / path.name, path.read_bytes())
    for which, classes in (("model", models), ("train", train), ("test", test)):
        _touch(tmp_path / SHREC13.cla_dirs[0] / SHREC13.cla_names[which], format_cla(classes).encode())
    dataset = read_dataset("shrec13", tmp_path)
    assert len(dataset.models) == 12 and len(dataset.sketches) == 12
    assert all(m.path.stat().st_size > 0 for m in dataset.models)


def _problem_tree(root: Path) -> None:
    models = {"chair": ["1", "2", "3"], "table": ["4", "5"], "lamp": []}
    train = {"chair": ["10", "11"], "table": ["12"], "dragon": ["13"]}
    test = {"chair": ["20", "11"], "table": ["../../etc/passwd", "a/b"]}
    make_shrec(root, SHREC13, models, train, test)
    # two listed models with no file, two files with no listed id
    (root / SHREC13.models_dir / "m2.off").unlink()
    (root / SHREC13.models_dir / "m5.off").unlink()
    _touch(root / SHREC13.models_dir / "m98.off")
    _touch(root / SHREC13.models_dir / "m99.off")
    _touch(root / SHREC13.sketch_dirs["train"] / "chair" / "train" / "77.png")


def test_shrec_validation_reports_every_problem(tmp_path):
    _problem_tree(tmp_path)
    with pytest.raises(DatasetError) as err:
        read_dataset("shrec13", tmp_path)
    msg = str(err.value)
    assert str(tmp_path) in msg
    expected = [
        "listed id with no file (2): '2' (class 'chair'",
        "listed id with no file (2): '5' (class 'table'",
        "file with no listed id (3)",
        "m98.off",
        "m99.off",
        "77.png",
        "sketch class absent from the model classes (1): 'dragon'",
        "sketch id in both splits or twice (1): '11' appears 2 times",
        "id that is not a plain file name (2): '../../etc/passwd'",
        "id that is not a plain file name (2): 'a/b'",
        "empty class (1): 'lamp'",
    ]
    for line in expected:
        assert line in msg, f"missing {line!r} in:\n{msg}"


def test_duplicate_model_ids(tmp_path):
    make_shrec(tmp_path, SHREC13, {"chair": ["1", "2"], "table": ["2"]}, {"chair": ["5"]}, {"chair": ["6"]})
    with pytest.raises(DatasetError, match=r"duplicate id \(1\): '2' appears 2 times"):
        read_dataset("shrec13", tmp_path)


def test_no_manifest_written_on_error(tmp_path):
    _problem_tree(tmp_path / "root")
    out = tmp_path / "manifest"
    with pytest.raises(DatasetError):
        write_manifests("shrec13", tmp_path / "root", out / "models.csv", out / "sketches.csv", out / "c.txt")
    assert not out.exists() or not any(out.iterdir())


def test_missing_cla_and_root(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_dataset("shrec14", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=r"SHREC14_SBR_Model\.cla not found"):
        read_dataset("shrec14", tmp_path)


# ------------------------------------------------------------------------------------------ folder layout


def test_folder_layout(tmp_path, real_data):
    meshes = sorted((real_data / "meshes").glob("*.off"))
    for k, mesh in enumerate(meshes):
        cls = ["house", "table"][k % 2]
        shutil.copy(mesh, _dir(tmp_path / "models" / cls) / mesh.name)
    sketches = sorted((real_data / "sketches").glob("*/*.png"))
    for k, sketch in enumerate(sketches):
        cls, split = ["house", "table"][k % 2], ["train", "test"][k % 3 == 0]
        shutil.copy(sketch, _dir(tmp_path / "sketches" / cls / split) / sketch.name)
    _touch(tmp_path / "models" / "house" / "house.mtl")  # ignored with a warning, not an error
    dataset = read_dataset("folder", tmp_path)
    assert dataset.classes == ["house", "table"]
    assert len(dataset.models) == 12 and len(dataset.sketches) == 12
    assert {s.split for s in dataset.sketches} == {"train", "test"}


def _dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_folder_layout_problems(tmp_path):
    _touch(tmp_path / "models" / "chair" / "a.off")
    _touch(tmp_path / "models" / "table" / "a.obj")  # duplicate id 'a'
    _dir(tmp_path / "models" / "lamp")  # empty class
    _touch(tmp_path / "models" / "stray.off")  # no class folder
    _touch(tmp_path / "sketches" / "chair" / "train" / "s1.png")
    _touch(tmp_path / "sketches" / "dragon" / "test" / "s2.png")  # unknown class
    _touch(tmp_path / "sketches" / "chair" / "validation" / "s3.png")  # not a split
    with pytest.raises(DatasetError) as err:
        read_dataset("folder", tmp_path)
    msg = str(err.value)
    for part in [
        "duplicate id (1): 'a'",
        "empty class (1): 'lamp'",
        "stray.off",
        "sketch class absent from the model classes (1): 'dragon'",
        "validation",
    ]:
        assert part in msg, f"missing {part!r} in:\n{msg}"


def test_cli_index(tmp_path):
    from bwot.cli import main

    make_shrec(
        tmp_path / "d", SHREC13, {"chair": ["1"], "table": ["2", "3"]}, {"chair": ["4"]}, {"table": ["5"]}
    )
    assert main(["index", "shrec13", str(tmp_path / "d"), "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "classes.txt").read_text() == "chair\ntable\n"
