"""The built-in procedural benchmark: layout, .cla files, determinism, meshes, sketches, presets, rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import trimesh
from conftest import REPO, edit_config, run_snakemake
from PIL import Image

from bwot.cli import main as bwot_main
from bwot.datasets import SHREC13, SHREC14, read_shrec
from bwot.datasets.manifest import read_dataset
from bwot.synthetic import CATALOGUE, PRESETS, Preset, class_sizes, class_specs, generate_dataset, make_shape
from bwot.synthetic.presets import SHREC14_MODELS, class_counts, scaled
from bwot.synthetic.raster import rasterize
from bwot.synthetic.writer import format_cla, plan

TINY = Preset("tiny", classes=4, min_models=2, max_models=6, train_sketches=3, test_sketches=2)
SIZE = 96
CLA_DIR, MODELS_DIR = SHREC13.cla_dirs[0], SHREC13.models_dir
TRAIN_DIR, TEST_DIR = SHREC13.sketch_dirs["train"], SHREC13.sketch_dirs["test"]


def _generate(root: Path, seed: int, workers: int = 1) -> Path:
    generate_dataset(root, seed=seed, preset=TINY, sketch_size=SIZE, workers=workers)
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("synth") / "seed0", 0)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _parse_cla(path: Path) -> tuple[tuple[int, int], dict[str, tuple[str, int, list[str]]]]:
    """A naive PSB .cla reader (independent of bwot.datasets): header counts, name -> (parent, count, ids)."""
    lines = [line.split() for line in path.read_text().splitlines()]
    assert lines[0] == ["PSB", "1"], path
    header = (int(lines[1][0]), int(lines[1][1]))
    classes, k = {}, 2
    while k < len(lines):
        if not lines[k]:
            k += 1
            continue
        name, parent, count = lines[k]
        ids = [line[0] for line in lines[k + 1 : k + 1 + int(count)]]
        classes[name] = (parent, int(count), ids)
        k += 1 + int(count)
    return header, classes


# ------------------------------------------------------------------------------------------ layout, .cla


def test_cla_files_parse_and_match_the_files(tiny: Path):
    clas = {
        kind: _parse_cla(tiny / CLA_DIR / f"SHREC13_SBR_{kind}.cla")
        for kind in ("Model", "Sketch_Train", "Sketch_Test")
    }
    names = [s.name for s in class_specs(TINY)]
    for kind, ((n_classes, n_items), classes) in clas.items():
        assert list(classes) == names, kind
        assert n_classes == len(classes)
        assert n_items == sum(len(ids) for _, _, ids in classes.values())
        for name, (parent, count, ids) in classes.items():
            assert parent == "0" and count == len(ids) > 0, (kind, name)
    models = clas["Model"][1]
    assert sorted(p.name for p in (tiny / MODELS_DIR).iterdir()) == sorted(
        f"m{i}.off" for _, _, ids in models.values() for i in ids
    )
    sketch_ids = []
    for kind, base, split, per_class in [
        ("Sketch_Train", TRAIN_DIR, "train", TINY.train_sketches),
        ("Sketch_Test", TEST_DIR, "test", TINY.test_sketches),
    ]:
        for name, (_, count, ids) in clas[kind][1].items():
            assert count == per_class
            assert sorted(p.name for p in (tiny / base / name / split).iterdir()) == sorted(
                f"{i}.png" for i in ids
            )
            sketch_ids += ids
    assert len(set(sketch_ids)) == len(sketch_ids), "sketch ids must be unique across the dataset"
    assert all(i.isdigit() and not i.startswith("0") for i in sketch_ids)


def test_the_shrec13_reader_reads_it(tiny: Path):
    from bwot.datasets import SHREC13, read_cla, read_shrec

    dataset = read_shrec(tiny, SHREC13)
    summary = json.loads((tiny / "builtin.json").read_text())
    assert len(dataset.models) == sum(summary["models"].values())
    assert len(dataset.sketches) == summary["train_sketches"] + summary["test_sketches"]
    classes = read_cla(tiny / CLA_DIR / "SHREC13_SBR_Model.cla")
    assert {name: len(ids) for name, ids in classes.items()} == summary["models"]


def test_format_cla_round_trips_through_read_cla(tmp_path: Path):
    from bwot.datasets import read_cla

    classes = {"chair": ["3", "1"], "potted_plant": ["2"]}
    (tmp_path / "x.cla").write_text(format_cla(classes))
    assert read_cla(tmp_path / "x.cla") == classes
    assert format_cla(classes).startswith("PSB 1\n2 3\n\nchair 0 2\n3\n1\n\npotted_plant 0 1\n2\n")


# ------------------------------------------------------------------------------------------ determinism


def test_same_seed_same_bytes_other_seed_other_bytes(tiny: Path, tmp_path: Path):
    again = _files(_generate(tmp_path / "again", 0, workers=2))  # and in any order
    assert again == _files(tiny)
    other = _files(_generate(tmp_path / "other", 1))
    common = [k for k in other if k in again and k.endswith((".off", ".png"))]
    assert sum(other[k] != again[k] for k in common) == len(common)


def test_existing_folder_is_not_overwritten(tiny: Path):
    with pytest.raises(FileExistsError, match="not empty"):
        generate_dataset(tiny, seed=0, preset=TINY)


# ------------------------------------------------------------------------------------------ content


def test_every_mesh_loads_with_faces(tiny: Path):
    for path in (tiny / MODELS_DIR).glob("*.off"):
        mesh = trimesh.load(path, force="mesh")
        assert 20 <= len(mesh.faces) <= 6000, path
        assert np.isfinite(mesh.vertices).all() and mesh.area > 0, path


def test_sketches_are_black_ink_on_white(tiny: Path):
    paths = sorted(tiny.glob("SHREC13_SBR_*/**/*.png"))
    assert len(paths) == TINY.classes * (TINY.train_sketches + TINY.test_sketches)
    for path in paths:
        img = Image.open(path)
        assert img.mode == "L" and img.size == (SIZE, SIZE), path
        a = np.asarray(img)
        border = np.r_[a[0], a[-1], a[:, 0], a[:, -1]]
        assert np.median(border) == 255 and np.median(a) == 255, path
        assert a.min() < 64, f"{path}: no dark ink"
        ink = (a < 128).mean()
        assert 0.003 < ink < 0.3, f"{path}: ink fraction {ink:.4f}"


def test_contact_sheet_written(tiny: Path):
    sheet = Image.open(tiny / "contact_sheet.png")
    assert sheet.width >= 3 * 128 and sheet.height >= 128
    assert (np.asarray(sheet) < 128).mean() > 0.005


def test_catalogue_classes_all_build():
    assert len(CATALOGUE) >= 20
    for k, (name, builder) in enumerate(CATALOGUE.items()):
        meshes = [make_shape(builder, np.random.default_rng([5, k, i])) for i in range(2)]
        for mesh in meshes:
            assert 20 <= len(mesh.faces) <= 6000, name
            extent = np.ptp(mesh.vertices, axis=0)
            assert 0.3 < extent.max() < 5, (name, extent)
        assert not np.allclose(meshes[0].bounds, meshes[1].bounds), f"{name}: no variation within the class"


def test_sketched_instances_are_not_the_targets():
    specs, items = plan(0, TINY)
    model = next(i for i in items if i.kind == "model" and i.cls == 0 and i.index == 0)
    drawn = next(i for i in items if i.kind == "train" and i.cls == 0 and i.index == 0)
    from bwot.synthetic.writer import item_rng

    a = make_shape(specs[0].builder, item_rng(0, model))
    b = make_shape(specs[0].builder, item_rng(0, drawn))
    assert a.vertices.shape != b.vertices.shape or not np.allclose(a.vertices, b.vertices)


# ------------------------------------------------------------------------------------------ presets


def test_default_preset_class_sizes_are_uneven():
    sizes = class_sizes(PRESETS["default"], 12, seed=0)
    assert len(sizes) == 12 and max(sizes) >= 3 * min(sizes)
    assert 150 <= sum(sizes) <= 200
    assert sizes != sorted(sizes), "sizes are shuffled over the classes"
    assert class_sizes(PRESETS["default"], 12, seed=1) != sizes


def test_shrec14_scale_plan_matches_shrec14():
    specs, items = plan(0, "shrec14-scale")
    assert len(specs) == 171 and len({s.name for s in specs}) == 171
    counts = {k: sum(i.kind == k for i in items) for k in ("model", "train", "test")}
    assert counts == {"model": 8987, "train": 8550, "test": 5130}
    per_class = {k: np.bincount([i.cls for i in items if i.kind == k], minlength=171) for k in counts}
    assert per_class["model"].tolist() == list(SHREC14_MODELS)  # the official sizes, class by class
    assert (per_class["train"] == 50).all() and (per_class["test"] == 30).all()
    assert np.percentile(SHREC14_MODELS, [0, 25, 50, 75, 100]).tolist() == [1, 7, 19, 58, 632]  # official
    assert len({i.id for i in items if i.kind != "model"}) == 8550 + 5130
    models = [i.id for i in items if i.kind == "model"]
    assert len(set(models)) == 8987 and all(len(m) == 6 and m.isdigit() for m in models)  # "000003"


@pytest.mark.parametrize(
    ("scale", "expected"),
    [(1 / 16, (613, 513, 342)), (1 / 8, (1156, 1026, 684)), (1 / 4, (2276, 2223, 1368))],
)
def test_shrec14_scale_at_a_fraction(scale, expected):
    counts = class_counts(PRESETS["shrec14-scale"], 171, 0, scale)
    assert tuple(sum(counts[k]) for k in ("model", "train", "test")) == expected
    assert counts["model"] == [max(1, int(n * scale + 0.5)) for n in SHREC14_MODELS]
    assert min(min(c) for c in counts.values()) == 1  # no class loses its last item
    assert scaled(5, 0.5) == 3 and scaled(1, 0.01) == 1
    with pytest.raises(ValueError, match="scale must be in"):
        scaled(5, 0)


def test_shrec14_scale_writes_the_shrec14_layout(tmp_path):
    root = tmp_path / "s14"
    summary = generate_dataset(
        root, preset="shrec14-scale", classes=3, scale=0.04, sketch_size=48, contact_sheet=False
    )
    assert summary["layout"] == "shrec14" and summary["scale"] == 0.04
    assert summary["models"] == dict(zip(summary["classes"], [13, 1, 2], strict=True))  # 314, 2, 57 x 0.04
    assert sorted(p.name for p in root.iterdir()) == [
        "SHREC14LSSTB_SKETCHES", "SHREC14LSSTB_TARGET_MODELS", "SHREC14_SBR_Model.cla",
        "SHREC14_SBR_Sketch_Test.cla", "SHREC14_SBR_Sketch_Train.cla", "builtin.json",
    ]  # fmt: skip
    official = read_shrec(root, SHREC14)  # the SHREC'14 reader takes it as a real archive
    builtin = read_dataset("builtin", root)
    assert [m.id for m in builtin.models] == [m.id for m in official.models]
    assert all(m.path.name == f"M{m.id}.off" and m.path.is_file() for m in builtin.models)
    assert {s.split for s in builtin.sketches} == {"train", "test"} and len(builtin.sketches) == 3 * (2 + 1)


def test_derived_classes_differ_from_their_base():
    specs = class_specs(PRESETS["shrec14-scale"])
    chair, chair2 = next(s for s in specs if s.name == "chair"), next(s for s in specs if s.name == "chair_2")
    assert chair2.base == "chair" and chair.variant is None and chair2.variant is not None
    ext = [
        np.ptp(make_shape(s.builder, np.random.default_rng(i), s.variant).vertices, 0)
        for s in (chair, chair2)
        for i in range(6)
    ]
    assert not np.allclose(np.mean(ext[:6], 0), np.mean(ext[6:], 0), rtol=0.03)


def test_too_many_classes_for_the_default_preset():
    with pytest.raises(ValueError, match="distinct classes"):
        class_specs(PRESETS["default"], len(CATALOGUE) + 1)


# ------------------------------------------------------------------------------------------ renderer


def _naive_zbuffer(xy: np.ndarray, depth: np.ndarray, faces: np.ndarray, size: int) -> np.ndarray:
    """Per pixel, per triangle: the nearest depth at the pixel centre (inf where nothing)."""
    z = np.full((size, size), np.inf)
    for y in range(size):
        for x in range(size):
            p = np.array([x + 0.5, y + 0.5])
            for f in faces:
                a, b, c = xy[f]
                m = np.array([b - a, c - a]).T
                if abs(np.linalg.det(m)) < 1e-9:
                    continue
                u, v = np.linalg.solve(m, p - a)
                if u >= -1e-7 and v >= -1e-7 and u + v <= 1 + 1e-7:
                    z[y, x] = min(
                        z[y, x],
                        depth[f[0]] + u * (depth[f[1]] - depth[f[0]]) + v * (depth[f[2]] - depth[f[0]]),
                    )
    return z


def test_rasterize_matches_a_naive_zbuffer():
    rng = np.random.default_rng(3)
    size = 24
    xy = rng.uniform(-4, size + 4, (30, 2))
    depth = rng.uniform(0, 1, 30)
    faces = rng.integers(0, 30, (25, 3))
    zbuf, fid = rasterize(xy, depth, faces, size)
    naive = _naive_zbuffer(xy, depth, faces, size)
    both = np.isfinite(zbuf) & np.isfinite(naive)
    # edge pixels may differ by the inside tolerance; everything else must agree
    assert (np.isfinite(zbuf) != np.isfinite(naive)).mean() < 0.01
    np.testing.assert_allclose(zbuf[both], naive[both], atol=1e-6)
    assert ((fid >= 0) == np.isfinite(zbuf)).all()


# ------------------------------------------------------------------------------------------ CLI and rule


def test_cli_writes_the_benchmark(tmp_path: Path, capsys):
    out = tmp_path / "cli"
    args = [
        "synth",
        "--out",
        str(out),
        "--classes",
        "2",
        "--seed",
        "3",
        "--sketch-size",
        "64",
        "--no-contact-sheet",
    ]
    assert bwot_main(args) == 0
    assert "2 classes" in capsys.readouterr().out
    summary = json.loads((out / "builtin.json").read_text())
    assert summary["classes"] == list(CATALOGUE)[:2] and summary["seed"] == 3
    assert not (out / "contact_sheet.png").exists()


@pytest.mark.slow
def test_rule_synthesize_dataset(workflow_dir: Path):
    shutil.copytree(REPO / "envs", workflow_dir / "envs", dirs_exist_ok=True)
    cfg = edit_config(workflow_dir, synthetic={"classes": 2, "sketch_size": 64})
    run_snakemake(workflow_dir, cfg["builtin_root"])
    root = workflow_dir / cfg["builtin_root"]
    assert (root / "contact_sheet.png").is_file()
    log = workflow_dir / "logs" / "synthesize_dataset" / f"{root.name}.log"
    assert log.read_text().count("wrote") == 1
    assert len(list((root / MODELS_DIR).glob("*.off"))) == sum(class_sizes(PRESETS["default"], 2, seed=0))
