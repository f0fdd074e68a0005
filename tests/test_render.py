"""Render stage: rigs, mesh loading and robustness, silhouettes against the camera model, the shard HDF5."""

from __future__ import annotations

import itertools
import logging
import math
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import trimesh
from conftest import REPO, edit_config, run_snakemake
from scipy.spatial import ConvexHull

from bwot.config import RenderConfig
from bwot.io import read_strings
from bwot.render import (
    BadMeshError,
    BadMeshesError,
    Mesh,
    ViewRenderer,
    camera_poses,
    camera_yfov,
    clean_and_normalise,
    load_mesh,
    look_at,
    render_shard,
    rig_directions,
)
from bwot.render.renderer import DISTANCE, INK

SIZE = 48


@pytest.fixture(scope="module")
def renderer():
    with ViewRenderer(SIZE) as r:
        yield r


def write_off(path: Path, vertices, faces, counts: tuple[int, int] | None = None) -> Path:
    """A plain OFF file (counts in the header may lie, to make truncated files)."""
    nv, nf = counts or (len(vertices), len(faces))
    lines = ["OFF", f"{nv} {nf} 0"]
    lines += [" ".join(repr(float(c)) for c in v) for v in vertices]
    lines += [" ".join(str(int(i)) for i in [len(f), *f]) for f in faces]
    path.write_text("\n".join(lines) + "\n")
    return path


def real_meshes(real_data: Path) -> list[Path]:
    paths = sorted((real_data / "meshes").glob("*.off"))
    assert len(paths) == 12
    return paths


# ---------------------------------------------------------------- rigs


def test_dodecahedron_rig_is_the_normalised_dodecahedron():
    phi = (1 + 5**0.5) / 2
    expected = [np.array(v, float) for v in itertools.product((1, -1), repeat=3)]
    for s, t in itertools.product((1, -1), repeat=2):  # the rig of docs/render.md, written out independently
        expected += [
            np.array(v, float) for v in [(0, s / phi, t * phi), (s / phi, t * phi, 0), (s * phi, 0, t / phi)]
        ]
    expected = np.array([v / np.linalg.norm(v) for v in expected])
    got = rig_directions("dodecahedron20")
    assert got.shape == (20, 3)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0)
    # the same 20 points (each matched exactly once)
    dist = np.linalg.norm(got[:, None] - expected[None], axis=2)
    assert sorted(dist.argmin(axis=1)) == list(range(20))
    assert dist.min(axis=1).max() < 1e-12
    # regular dodecahedron: every vertex has exactly 3 nearest neighbours, all at the same edge length
    d = np.linalg.norm(got[:, None] - got[None], axis=2) + np.eye(20) * 9
    edge = d.min()
    assert ((np.abs(d - edge) < 1e-9).sum(axis=1) == 3).all()


def test_ring12_rig():
    dirs = rig_directions("ring12", up="y")
    assert dirs.shape == (12, 3)
    np.testing.assert_allclose(dirs[:, 1], math.sin(math.radians(30)))  # elevation 30 above the xz plane
    az = np.degrees(np.arctan2(dirs[:, 0], dirs[:, 2])) % 360  # y-up: local x->z, local y->x
    np.testing.assert_allclose(np.sort(az), np.arange(0, 360, 30), atol=1e-9)
    with pytest.raises(ValueError, match="cube6"):
        rig_directions("cube6")


@pytest.mark.parametrize("up", ["x", "y", "z"])
def test_look_at_has_no_roll_and_handles_the_poles(up):
    axis = np.eye(3)["xyz".index(up)]
    for eye in [*rig_directions("dodecahedron20") * DISTANCE, axis * 3, -axis * 3, axis * 3 + 1e-9]:
        pose = look_at(eye, up)
        r = pose[:3, :3]
        assert np.isfinite(pose).all()
        np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
        np.testing.assert_allclose(-r[:, 2], -eye / np.linalg.norm(eye), atol=1e-12)  # looks at the origin
        np.testing.assert_allclose(pose[:3, 3], eye)
        if abs(np.dot(eye / np.linalg.norm(eye), axis)) < 0.999:
            assert abs(r[:, 0] @ axis) < 1e-12  # image x stays horizontal: no roll
            assert r[:, 1] @ axis > 0  # and image up points up
    np.testing.assert_array_equal(look_at(axis * 3, up), look_at(axis * 3, up))  # deterministic


def test_twenty_views_differ(renderer, real_data):
    views = renderer.render_file(real_meshes(real_data)[1])
    assert views.shape == (20, SIZE, SIZE) and views.dtype == np.uint8
    for i, j in itertools.combinations(range(20), 2):
        assert np.abs(views[i].astype(int) - views[j]).sum() > 0, (i, j)


# ------------------------------------------------------- silhouettes vs the camera model


def project(points: np.ndarray, pose: np.ndarray, size: int) -> np.ndarray:
    """Pixel coordinates (col, row; pixel centres at +0.5) of world points seen by the renderer's camera."""
    cam = (np.linalg.inv(pose) @ np.c_[points, np.ones(len(points))].T).T[:, :3]
    f = 1.0 / math.tan(camera_yfov() / 2)
    ndc = f * cam[:, :2] / -cam[:, 2:3]
    return np.c_[(ndc[:, 0] + 1) / 2 * size, (1 - ndc[:, 1]) / 2 * size]


def ink_stats(view: np.ndarray) -> tuple[int, np.ndarray]:
    rows, cols = np.nonzero(view < INK)
    return len(rows), np.array([cols.mean() + 0.5, rows.mean() + 0.5])


def assert_area(ink: int, area: float, perimeter: float) -> None:
    """With 4x MSAA a pixel is ink once one of its samples is covered, so the ink count exceeds the exact
    area by a fraction of the outline's pixels (about 0.3 of the perimeter here); a 2% error in the
    silhouette's scale would move it by about 0.4 of the perimeter."""
    assert 0.1 * perimeter < ink - area < 0.5 * perimeter, (ink, area, perimeter)


def test_sphere_is_centred_with_the_expected_area(renderer):
    sphere = trimesh.creation.icosphere(subdivisions=4)
    mesh = clean_and_normalise(Mesh(sphere.vertices * 7.0 + 100.0, sphere.faces))
    views = renderer.render(mesh)
    # a unit sphere at distance d subtends asin(1/d): silhouette radius tan(asin(1/d)) / tan(yfov/2)
    radius = math.tan(math.asin(1 / DISTANCE)) / math.tan(camera_yfov() / 2) * SIZE / 2
    area, perimeter = math.pi * radius**2, 2 * math.pi * radius
    for view in views:
        ink, centre = ink_stats(view)
        assert_area(ink, area, perimeter)
        np.testing.assert_allclose(centre, [SIZE / 2, SIZE / 2], atol=0.25)


def test_cube_silhouette_matches_the_projected_hull(renderer):
    box = trimesh.creation.box(extents=(2, 2, 2))
    mesh = clean_and_normalise(Mesh(box.vertices + 1e6, box.faces))  # raw coordinates near 1e6
    views = renderer.render(mesh)
    corners = np.array(list(itertools.product((-1, 1), repeat=3))) / math.sqrt(3)
    for view, pose in zip(views, renderer.poses, strict=True):
        hull = ConvexHull(project(corners, pose, SIZE))  # silhouette of a convex body = hull of its corners
        pts = hull.points[hull.vertices]
        x, y = pts[:, 0], pts[:, 1]
        cross = x * np.roll(y, -1) - np.roll(x, -1) * y
        centroid = np.array([((x + np.roll(x, -1)) * cross).sum(), ((y + np.roll(y, -1)) * cross).sum()])
        centroid /= 3 * cross.sum()
        ink, centre = ink_stats(view)
        assert abs(ink - hull.volume) < 0.6 * hull.area, (
            ink,
            hull.volume,
        )  # 2-d: volume=area, area=perimeter
        np.testing.assert_allclose(centre, centroid, atol=0.3)


def test_shading_is_grey_on_white(renderer):
    views = renderer.render(clean_and_normalise(Mesh(*_box())))
    assert (views[:, 0, :] == 255).all() and (views[:, :, 0] == 255).all()  # white background
    ink = views < INK
    inner = ink[:, 1:-1, 1:-1] & ink[:, :-2, 1:-1] & ink[:, 2:, 1:-1] & ink[:, 1:-1, :-2] & ink[:, 1:-1, 2:]
    grey = views[:, 1:-1, 1:-1][inner]  # away from the anti-aliased outline
    assert grey.min() >= 0.12 * 255 - 1 and grey.max() <= 0.80 * 255 + 1  # ambient .. ambient + diffuse
    assert len(np.unique(grey)) >= 3  # shaded: faces at different angles differ


def _box():
    box = trimesh.creation.box(extents=(1, 2, 3))
    return np.asarray(box.vertices, float), np.asarray(box.faces, np.int64)


# ------------------------------------------------------------------- real meshes


def test_every_view_of_every_real_mesh_has_ink(real_data):
    with ViewRenderer(32) as r:
        for path in real_meshes(real_data):
            views = r.render_file(path)  # raises on a blank view
            assert views.shape == (20, 32, 32)
            assert ((views < INK).sum(axis=(1, 2)) >= 4).all(), path.name


# Reversing faces may move a pixel on an anti-aliased edge by a grey level or two (measured: at most 1 of
# 255 on m0, exactly 0 on the others), never more.
REVERSED_TOLERANCE = 2


@pytest.mark.parametrize("size", [32, 96])
def test_reversed_faces_give_the_same_views(real_data, size):
    """Both sides are drawn: half or all faces reversed (inconsistent winding) render like the original."""
    with ViewRenderer(size, up="y") as r:
        for path in real_meshes(real_data)[::3]:
            mesh = clean_and_normalise(load_mesh(path))
            ref = r.render(mesh).astype(int)
            half = mesh.faces.copy()
            half[::2] = half[::2, ::-1]
            for faces in (half, mesh.faces[:, ::-1].copy()):
                views = r.render(Mesh(mesh.vertices, faces))
                assert np.abs(views - ref).max() <= REVERSED_TOLERANCE, path.name
                assert (views < INK).sum() == (ref < INK).sum(), path.name


def test_thin_real_door_renders_in_every_view(real13_dev):
    """m1708 (a door 0.027 thick) failed with a blank view when back faces were culled."""
    path = real13_dev / "SHREC13_SBR_TARGET_MODELS" / "models" / "m1708.off"
    with ViewRenderer(64, up="y") as r:
        views = r.render_file(path)
    assert ((views < INK).sum(axis=(1, 2)) > 20).all()


def test_open_plane_seen_edge_on_is_drawn_as_a_line(caplog):
    """A zero-thickness square in the z = 0 plane: the 4 cameras of the dodecahedron rig that lie in that
    plane see it edge-on; those views show a line (its edges), the others the square; not a bad mesh."""
    corners = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float)
    square = Mesh(corners, np.array([[0, 1, 2], [0, 2, 3]]))
    edge_on = np.flatnonzero(np.abs(rig_directions("dodecahedron20")[:, 2]) < 1e-12).tolist()
    assert len(edge_on) == 4
    with ViewRenderer(SIZE, up="z") as r:
        views, lines = r.render_with_lines(clean_and_normalise(square))
    assert lines == edge_on
    ink = (views < INK).sum(axis=(1, 2))
    assert (ink[edge_on] >= SIZE // 2).all() and (ink[edge_on] <= 3 * SIZE).all()  # a line across the view
    others = np.setdiff1d(np.arange(20), edge_on)
    assert (ink[others] > 4 * SIZE).all()  # the square itself


def test_raw_psb_mess_renders_like_the_clean_mesh(renderer, real_data, tmp_path):
    """Coordinates near 1e6, duplicate vertices, degenerate and zero-area faces, a non-manifold fin, a stray
    vertex and ~20k faces: the views match those of the clean mesh."""
    clean = trimesh.load(real_meshes(real_data)[1], process=False)  # m431, a house
    clean = clean.subdivide().subdivide()
    v, f = np.asarray(clean.vertices, float), np.asarray(clean.faces, np.int64)
    assert len(f) > 20000
    n = len(v)
    raw_v = np.vstack([v, v, [v[0] * 0.5 + v[1] * 0.5], [[50.0, 50.0, 50.0]]]) * 1e6 + [3e6, -2e6, 1e6]
    raw_f = np.vstack(
        [
            np.where(np.arange(len(f))[:, None] % 2 == 0, f, f + n),  # half the faces use duplicate vertices
            [[0, 0, 1], [2, 2, 2]],  # repeated indices
            [[0, 1, 2 * n]],  # zero area: the midpoint of 0-1 (vertex 2n) is collinear
            [[f[0, 0], f[0, 1], f[1, 2] + n]],  # a third face on an existing edge: non-manifold
        ]
    )
    raw = write_off(tmp_path / "raw.off", raw_v, raw_f)  # the stray vertex 2n+1 is unreferenced
    ref = renderer.render(clean_and_normalise(Mesh(v, f)))
    got = renderer.render_file(raw)
    diff = np.abs(got.astype(int) - ref).mean(axis=(1, 2))
    assert diff.max() < 0.5, diff  # (keeping the stray vertex would shift and shrink: ~20)


@pytest.mark.parametrize("fmt", ["obj", "ply", "stl", "glb"])
def test_other_formats_and_flattened_scenes(renderer, tmp_path, fmt):
    a = trimesh.creation.box(extents=(1, 1, 1))
    b = trimesh.creation.icosphere(radius=0.5)
    scene = trimesh.Scene()
    scene.add_geometry(a, transform=trimesh.transformations.translation_matrix([3, 0, 0]))
    scene.add_geometry(b, transform=trimesh.transformations.translation_matrix([-3, 0, 0]))
    path = tmp_path / f"scene.{fmt}"
    scene.export(path)
    mesh = load_mesh(path)
    lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    np.testing.assert_allclose([lo[0], hi[0]], [-3.5, 3.5], atol=1e-5)  # both parts, transforms applied
    assert len(mesh.faces) == len(a.faces) + len(b.faces)
    assert renderer.render_file(path).shape == (20, SIZE, SIZE)


def test_off_polygons_comments_and_crlf(tmp_path):
    path = tmp_path / "quad.off"
    path.write_bytes(
        b"OFF\r\n# a comment\r\n4 1 0\r\n0 0 0\r\n1 0 0\r\n1 1 0\r\n0 1 0\r\n4 0 1 2 3 255 0 0\r\n"
    )
    mesh = load_mesh(path)
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3]])
    (tmp_path / "inline.off").write_text("OFF 3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    assert len(load_mesh(tmp_path / "inline.off").faces) == 1


# ---------------------------------------------------------------------- bad meshes

TRI = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
TET = [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]


def _bad_cases(tmp: Path, real: Path) -> dict[str, tuple[Path, str]]:
    text = (real / "meshes" / "m423.off").read_text()
    lines = text.splitlines()
    cases = {
        "no faces": (write_off(tmp / "nofaces.off", TRI, []), "no faces"),
        "nan": (write_off(tmp / "nan.off", [*TRI[:3], [math.nan, 0, 1]], TET), "NaN or inf"),
        "inf": (write_off(tmp / "inf.off", [*TRI[:3], [0, math.inf, 1]], TET), "NaN or inf"),
        "index": (write_off(tmp / "index.off", TRI, [*TET, [0, 1, 9]]), "face indices outside"),
        "degenerate": (write_off(tmp / "degen.off", TRI, [[0, 0, 1], [0, 1, 1]]), "degenerate"),
        "garbage": (tmp / "garbage.off", "not an OFF file"),
        "empty": (tmp / "empty.off", "not an OFF file"),
        "truncated at a line": (tmp / "trunc_line.off", "truncated file"),
        "truncated mid-line": (tmp / "trunc_mid.off", "truncated file|unparsable"),
        "missing": (tmp / "missing.off", "file not found"),
        "bad ply": (tmp / "bad.ply", "unreadable mesh file"),
        "unknown format": (tmp / "mesh.xyz", "unsupported mesh format"),
    }
    (tmp / "garbage.off").write_bytes(b"\x00\x01\x02garbage\xff")
    (tmp / "empty.off").write_text("")
    (tmp / "trunc_line.off").write_text("\n".join(lines[:60]) + "\n")  # 35 vertices, 23 of 48 faces
    (tmp / "trunc_mid.off").write_text(text[: text.index(lines[20]) + 5])
    (tmp / "bad.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 9\n")
    (tmp / "mesh.xyz").write_text("0 0 0\n")
    return cases


def test_each_bad_mesh_is_named_with_its_reason(renderer, tmp_path, real_data):
    for name, (path, reason) in _bad_cases(tmp_path, real_data).items():
        with pytest.raises(BadMeshError, match=reason) as info:
            renderer.render_file(path)
        assert str(path) in str(info.value), name
        assert info.value.path == str(path)


# ------------------------------------------------------------------------- shards


def _manifest(tmp: Path, real: Path, bad: dict[str, Path]) -> Path:
    rows = [
        {"id": p.stem, "class": "c", "label": i % 3, "path": str(p)}
        for i, p in enumerate(real_meshes(real)[:4])
    ]
    for i, (name, path) in enumerate(bad.items()):
        rows.insert(1 + 2 * i, {"id": name, "class": "bad", "label": 9, "path": str(path)})
    csv = tmp / "models.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


def test_shard_contract_and_skip_report(tmp_path, real_data, caplog):
    bad = {
        "nan": write_off(tmp_path / "nan.off", [*TRI[:3], [math.nan, 0, 1]], TET),
        "gone": tmp_path / "x.off",
    }
    models = _manifest(tmp_path, real_data, bad)  # m423 nan m431 gone m432 m689
    cfg = RenderConfig(size=32, shards=1, on_bad_mesh="skip")
    with caplog.at_level(logging.INFO):
        skipped = render_shard(models, 0, tmp_path / "v0.h5", tmp_path / "v0.skipped.csv", cfg)
    with h5py.File(tmp_path / "v0.h5") as f:
        images = f["images"]
        assert images.dtype == np.uint8 and images.shape == (4, 20, 32, 32)
        assert images.chunks == (1, 20, 32, 32) and images.compression == "gzip"
        assert list(read_strings(f["ids"])) == ["m423", "m431", "m432", "m689"]
        assert f["labels"].dtype == np.int64 and list(f["labels"][()]) == [0, 1, 2, 0]
        assert dict(f.attrs) == {"views": 20, "size": 32, "rig": "dodecahedron20", "up": "y"}
        with ViewRenderer(32) as r:
            np.testing.assert_array_equal(images[1], r.render_file(real_data / "meshes" / "m431.off"))
    report = pd.read_csv(tmp_path / "v0.skipped.csv", dtype=str, keep_default_na=False)
    assert list(report.columns) == ["id", "path", "reason"]
    assert list(report["id"]) == ["nan", "gone"] and report.equals(skipped)
    assert "NaN" in report["reason"][0] and "not found" in report["reason"][1]
    assert "views/s" in caplog.text  # the tqdm bar, with its rate, in the log

    # shard 2 of 3 = rows 4 and 5 of the manifest: two good meshes, an empty skip report with its header
    render_shard(models, 2, tmp_path / "v1.h5", tmp_path / "v1.skipped.csv", replace(cfg, shards=3))
    with h5py.File(tmp_path / "v1.h5") as f:
        assert list(read_strings(f["ids"])) == ["m432", "m689"]
    assert (tmp_path / "v1.skipped.csv").read_text().strip() == "id,path,reason"

    # more shards than meshes: shard 0 of 7 is empty, and still a valid file
    render_shard(models, 0, tmp_path / "v2.h5", tmp_path / "v2.skipped.csv", replace(cfg, shards=7))
    with h5py.File(tmp_path / "v2.h5") as f:
        assert f["images"].shape == (0, 20, 32, 32) and len(f["ids"]) == len(f["labels"]) == 0


def test_shard_error_names_all_bad_meshes_and_writes_nothing(tmp_path, real_data):
    bad = {
        "nan": write_off(tmp_path / "nan.off", [*TRI[:3], [math.nan, 0, 1]], TET),
        "gone": tmp_path / "x.off",
    }
    models = _manifest(tmp_path, real_data, bad)
    cfg = RenderConfig(size=32, shards=1, compression="lzf")
    with pytest.raises(BadMeshesError) as info:
        render_shard(models, 0, tmp_path / "v.h5", tmp_path / "v.skipped.csv", cfg)
    msg = str(info.value)
    assert "2 bad mesh(es)" in msg and "on_bad_mesh: skip" in msg
    for name, path in bad.items():
        assert f"{name} ({path})" in msg
    assert not list(tmp_path.glob("v*"))  # no output, not even a temporary file


def test_shard_needs_the_manifest_columns(tmp_path):
    (tmp_path / "models.csv").write_text("id,class\nm1,c\n")
    with pytest.raises(ValueError, match="missing column"):
        render_shard(tmp_path / "models.csv", 0, tmp_path / "v.h5", tmp_path / "s.csv", RenderConfig())


def test_ring12_renders(real_data):
    with ViewRenderer(32, rig="ring12") as r:
        assert r.render_file(real_meshes(real_data)[0]).shape == (12, 32, 32)
    assert camera_poses("ring12", DISTANCE, "y").shape == (12, 4, 4)


# ------------------------------------------------------------------------- the rule


@pytest.mark.slow
def test_rule_renders_a_shard_with_progress_in_its_log(workflow_dir, real_data):
    if not (workflow_dir / "envs").exists():  # the rule's conda: file (snakemake's metadata records it)
        shutil.copytree(REPO / "envs", workflow_dir / "envs")
    for folder in ("models", "sketches"):  # the folder layout (the manifests below are what is read)
        (workflow_dir / "data" / folder).mkdir(parents=True)
    edit_config(
        workflow_dir,
        dataset="folder",
        data_dir=str(workflow_dir / "data"),
        name="t",
        render={"size": 32, "shards": 1, "on_bad_mesh": "skip"},
    )
    manifest = workflow_dir / "results" / "t" / "manifest"  # index_dataset's outputs, already there
    manifest.mkdir(parents=True)
    meshes = real_meshes(real_data)[:2]
    rows = [{"id": p.stem, "class": "c", "label": 0, "path": str(p)} for p in meshes]
    rows.append({"id": "broken", "class": "c", "label": 0, "path": str(workflow_dir / "broken.off")})
    pd.DataFrame(rows).to_csv(manifest / "models.csv", index=False)
    (manifest / "sketches.csv").write_text("id,class,label,split,path\n")
    (manifest / "classes.txt").write_text("c\n")
    run_snakemake(workflow_dir, "results/t/views/shard-0.h5")
    with h5py.File(workflow_dir / "results/t/views/shard-0.h5") as f:
        assert f["images"].shape == (2, 20, 32, 32)
        assert list(read_strings(f["ids"])) == [p.stem for p in meshes]
    skipped = pd.read_csv(workflow_dir / "results/t/views/shard-0.skipped.csv")
    assert list(skipped["id"]) == ["broken"]
    log = (workflow_dir / "logs/t/render_views/shard-0.log").read_text()
    assert "views/s" in log and "1 skipped" in log


def test_torchvision_can_be_imported_after_rendering():
    """Mesa's llvmpipe and triton (which torchvision loads) each carry an LLVM: rendering first and then
    importing torchvision crashed the process until bwot.render loaded triton's first."""
    code = "from bwot.render import ViewRenderer\nwith ViewRenderer(16):\n    pass\n"
    code += "import torchvision\nprint('ok')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
