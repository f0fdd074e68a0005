"""Tests of the sketch stage: decoding, ink detection, normalisation, rotations, shards, bad input."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import edit_config, run_snakemake
from PIL import Image, ImageDraw
from scipy import ndimage

from bwot.config import ConfigError, SketchesConfig
from bwot.io import read_attrs, read_strings
from bwot.sketches import (
    SketchError,
    SketchShardError,
    find_ink,
    load_grayscale,
    normalise_gray,
    prepare_shard,
    preprocess_sketch,
    rotations,
)
from bwot.sketches.ink import stroke_width
from bwot.sketches.shard import _deflate_only, _write_item

# ---------------------------------------------------------------- helpers


def drawing(size=(300, 200), paper=255, ink=0, width=3, box=(40, 30, 260, 170)) -> np.ndarray:
    """A (H, W) uint8 drawing: an ellipse and a cross inside `box` = (left, top, right, bottom)."""
    img = Image.new("L", size, paper)
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = box
    draw.ellipse(box, outline=ink, width=width)
    draw.line([(left, top), (right, bottom)], fill=ink, width=width)
    return np.asarray(img).copy()


def ink_box(gray: np.ndarray, threshold: int = 128) -> tuple[int, int, int, int]:
    """Naive bounding box (top, left, bottom, right exclusive) of the pixels darker than threshold."""
    ys, xs = np.nonzero(gray < threshold)
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


def png_bytes(width: int, height: int, rows: bytes = b"") -> bytes:
    """A hand-made 8-bit grayscale PNG (lets us write sizes Pillow refuses to write, such as 0x0)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def write_manifest(folder: Path, paths: list[Path], splits: list[str] | None = None) -> Path:
    """A sketches.csv for `paths` (ids s0, s1, ...; label i % 3)."""
    splits = splits or ["train"] * len(paths)
    rows = [
        (f"s{i}", f"c{i % 3}", i % 3, split, str(p))
        for i, (p, split) in enumerate(zip(paths, splits, strict=True))
    ]
    manifest = folder / "sketches.csv"
    pd.DataFrame(rows, columns=["id", "class", "label", "split", "path"]).to_csv(manifest, index=False)
    return manifest


@pytest.fixture
def sketch_png(tmp_path: Path) -> Path:
    path = tmp_path / "good.png"
    Image.fromarray(drawing()).save(path)
    return path


# ---------------------------------------------------------------- decoding


def test_decode_grayscale_png(tmp_path: Path) -> None:
    gray = drawing()
    Image.fromarray(gray).save(tmp_path / "a.png")
    assert np.array_equal(load_grayscale(tmp_path / "a.png"), gray)


def test_decode_rgba_composites_alpha_on_white(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    rgba[:10, :, 3] = 0  # fully transparent band: white whatever its colour
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    rgb = rgba[..., :3].astype(float)
    luma = (rgb[..., 0] * 299 + rgb[..., 1] * 587 + rgb[..., 2] * 114) / 1000
    alpha = rgba[..., 3] / 255
    expected = luma * alpha + 255 * (1 - alpha)
    got = load_grayscale(tmp_path / "a.png")
    assert got.dtype == np.uint8 and got.shape == (40, 50)
    assert np.abs(got - expected).max() <= 1.5
    assert (got[:10] == 255).all()


def test_decode_ink_only_in_alpha(tmp_path: Path) -> None:
    """SHREC-style RGBA: black everywhere, the strokes drawn in the alpha channel."""
    gray = drawing()
    rgba = np.zeros((*gray.shape, 4), np.uint8)
    rgba[..., 3] = 255 - gray
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert np.abs(load_grayscale(tmp_path / "a.png").astype(int) - gray).max() <= 1


def test_decode_gray_alpha(tmp_path: Path) -> None:
    la = np.stack([np.full((20, 20), 100, np.uint8), np.full((20, 20), 128, np.uint8)], -1)
    Image.fromarray(la, "LA").save(tmp_path / "a.png")
    assert np.abs(load_grayscale(tmp_path / "a.png").astype(int) - (100 * 128 + 255 * 127) / 255).max() <= 1


def test_decode_16_bit(tmp_path: Path) -> None:
    wide = (np.arange(64 * 32, dtype=np.uint32).reshape(32, 64) * 32).astype(np.uint16)
    Image.fromarray(wide).save(tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").mode.startswith("I")
    expected = np.rint(wide / 257.0)
    assert np.abs(load_grayscale(tmp_path / "a.png") - expected).max() <= 1


@pytest.mark.parametrize("transparent", [False, True])
def test_decode_palette(tmp_path: Path, transparent: bool) -> None:
    index = np.zeros((30, 30), np.uint8)
    index[5:25, 10:12] = 1
    index[:3] = 2
    img = Image.fromarray(index, "P")
    img.putpalette([255, 255, 255, 0, 0, 0, 200, 0, 0] + [0] * (3 * 253))
    if transparent:
        img.info["transparency"] = 2
        img.save(tmp_path / "a.png", transparency=2)
    else:
        img.save(tmp_path / "a.png")
    got = load_grayscale(tmp_path / "a.png")
    assert (got[5:25, 10:12] == 0).all() and (got[10:, 20:] == 255).all()
    red_luma = round(200 * 299 / 1000)
    assert (got[:3] == (255 if transparent else red_luma)).all()


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_decode_jpeg(tmp_path: Path, mode: str) -> None:
    gray = drawing(width=6)
    Image.fromarray(gray).convert(mode).save(tmp_path / "a.jpg", quality=95)
    got = load_grayscale(tmp_path / "a.jpg")
    assert got.shape == gray.shape
    assert np.abs(got.astype(int) - gray).mean() < 3


def test_decode_jpeg_draft_keeps_min_side(tmp_path: Path) -> None:
    Image.fromarray(drawing(size=(1200, 1000), box=(100, 100, 1100, 900), width=12)).save(tmp_path / "a.jpg")
    got = load_grayscale(tmp_path / "a.jpg", min_side=128)
    assert min(got.shape) >= 128 and got.shape[1] < 1200


def test_decode_one_bit(tmp_path: Path) -> None:
    gray = drawing()
    Image.fromarray(gray).convert("1", dither=Image.Dither.NONE).save(tmp_path / "a.png")
    assert np.array_equal(load_grayscale(tmp_path / "a.png"), np.where(gray < 128, 0, 255))


# ---------------------------------------------------------------- ink


def test_ink_box_of_a_known_drawing() -> None:
    gray = drawing()
    ink = find_ink(gray)
    assert ink.box == ink_box(gray, ink.threshold)
    top, left, bottom, right = ink.box
    assert abs(top - 30) <= 2 and abs(left - 40) <= 2 and abs(bottom - 171) <= 2 and abs(right - 261) <= 2


def test_ink_box_large_image_within_one_cell() -> None:
    gray = drawing(size=(1111, 1111), box=(200, 333, 901, 1000), width=4)
    ink = find_ink(gray)
    assert ink.cell > 1
    truth = ink_box(gray, ink.threshold)
    assert all(abs(a - b) < ink.cell for a, b in zip(ink.box, truth, strict=True))


def test_ink_faint_strokes_on_noisy_off_white_paper() -> None:
    rng = np.random.default_rng(1)
    clean = drawing(size=(400, 300), paper=0, ink=60, width=2, box=(60, 50, 330, 240))  # darkness
    gray = 215.0 - clean + rng.normal(0, 4, clean.shape)  # off-white paper, faint ink, light noise
    gray[10, 380] = gray[290, 5] = gray[5, 5] = 90  # isolated specks, outside the drawing
    gray = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    ink = find_ink(gray)
    assert abs(ink.paper - 215) <= 5 and 2 <= ink.noise <= 6
    top, left, bottom, right = ink.box
    assert abs(top - 50) <= 2 and abs(left - 60) <= 2 and abs(bottom - 241) <= 2 and abs(right - 331) <= 2
    assert len(ink.specks) == 3
    out = normalise_gray(gray, SketchesConfig(size=64))
    corners = np.concatenate([out[:6, :6].ravel(), out[-6:, -6:].ravel()])
    assert (corners >= 250).all()  # paper became white, noise gone
    assert out.min() < 60  # faint ink became dark


@pytest.mark.parametrize("size", [64, 224])
def test_noisy_paper_stays_white_after_thickening(size: int) -> None:
    """Large noisy scans: the block minimum used for thickening must not turn the paper's noise grey."""
    rng = np.random.default_rng(2)
    clean = drawing(size=(1111, 1111), paper=0, ink=90, width=3, box=(100, 150, 1000, 950))
    gray = np.clip(np.rint(225.0 - clean + rng.normal(0, 6, clean.shape)), 0, 255).astype(np.uint8)
    out = normalise_gray(gray, SketchesConfig(size=size))
    paper = ndimage.binary_dilation(out < 200, iterations=2) == 0  # away from the strokes
    assert (out[paper] >= 250).mean() > 0.99
    assert out.min() < 40


def test_ink_keeps_a_dot_near_strokes() -> None:
    gray = drawing()
    gray[104:106, 150:152] = 0  # an eye: small, but 2 px from the diagonal stroke
    gray[190:192, 290:292] = 0  # a speck: as small, far from everything
    ink = find_ink(gray)
    assert ink.specks.tolist() == [[190, 290], [190, 291], [191, 290], [191, 291]]
    assert ink.box == ink_box(gray[:180, :280], ink.threshold)


def test_blank_and_speck_only_images_have_no_ink(tmp_path: Path) -> None:
    from bwot.sketches import NoInkError

    with pytest.raises(NoInkError, match="no ink"):
        find_ink(np.full((100, 100), 240, np.uint8))
    specks = np.full((100, 100), 255, np.uint8)
    specks[10, 10] = specks[80, 50] = 0
    with pytest.raises(NoInkError, match="specks"):
        find_ink(specks)


@pytest.mark.parametrize("width", [2, 5, 9])
def test_stroke_width_estimate(width: int) -> None:
    gray = drawing(size=(600, 500), box=(50, 50, 550, 450), width=width)
    ink = find_ink(gray)
    assert stroke_width(gray, ink.box, ink.threshold, 1) == pytest.approx(width, rel=0.3)


# ---------------------------------------------------------------- normalisation


@pytest.mark.parametrize("size", [32, 64, 224])
def test_normalised_sketch_is_centred_with_margin(size: int) -> None:
    gray = drawing(size=(500, 400), box=(300, 40, 480, 300), width=6)  # off-centre, taller than wide
    out = normalise_gray(gray, SketchesConfig(size=size, margin=0.1, thicken="never"))
    assert out.shape == (size, size) and out.dtype == np.uint8
    top, left, bottom, right = ink_box(out, 200)
    expected_side = size / 1.2
    assert bottom - top == pytest.approx(expected_side, abs=max(2, size * 0.04))
    assert (top + bottom) / 2 == pytest.approx(size / 2, abs=max(1.5, size * 0.03))
    assert (left + right) / 2 == pytest.approx(size / 2, abs=max(1.5, size * 0.03))
    assert out[0].min() == 255 and out[:, 0].min() == 255


def test_thickening_modes_on_thin_strokes() -> None:
    gray = drawing(size=(1111, 1111), box=(100, 100, 1000, 1000), width=2)
    darkness = {}
    for mode in ("never", "auto", "always"):
        out = normalise_gray(gray, SketchesConfig(size=64, thicken=mode))
        darkness[mode] = int((out < 128).sum())
    assert darkness["never"] < darkness["auto"] <= darkness["always"]
    thick = drawing(size=(300, 300), box=(20, 20, 280, 280), width=12)
    never = normalise_gray(thick, SketchesConfig(size=64, thicken="never"))
    assert np.array_equal(normalise_gray(thick, SketchesConfig(size=64, thicken="auto")), never)


# ---------------------------------------------------------------- rotations


def _naive_rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Counter-clockwise rotation about the centre by plain inverse mapping (scipy, bilinear, white)."""
    size = image.shape[0]
    c = (size - 1) / 2.0
    theta = np.deg2rad(degrees)
    ys, xs = np.mgrid[0:size, 0:size].astype(float)
    # display coordinates (y down): rotating the picture counter-clockwise samples it clockwise
    src_x = c + (xs - c) * np.cos(theta) - (ys - c) * np.sin(theta)
    src_y = c + (xs - c) * np.sin(theta) + (ys - c) * np.cos(theta)
    return ndimage.map_coordinates(image.astype(float), [src_y, src_x], order=1, cval=255.0)


@pytest.mark.parametrize("size", [31, 64])
def test_rotation_k_is_rotation_0_turned(size: int) -> None:
    gray = drawing(size=(300, 300), box=(30, 60, 270, 240), width=8)
    upright = normalise_gray(gray, SketchesConfig(size=size, thicken="never"))
    rotated = rotations(upright, 20, 18.0)
    assert rotated.shape == (20, size, size) and rotated.dtype == np.uint8
    assert np.array_equal(rotated[0], upright)
    inside = np.hypot(*(np.mgrid[0:size, 0:size] - (size - 1) / 2)) < size / 2 - 1.5
    for k in range(1, 20):
        naive = _naive_rotate(upright, 18.0 * k)
        diff = np.abs(rotated[k].astype(float) - naive)[inside]
        assert diff.max() <= 2, k
        pil = np.asarray(Image.fromarray(upright).rotate(18.0 * k, Image.Resampling.BILINEAR, fillcolor=255))
        assert np.abs(rotated[k].astype(float) - pil)[inside].mean() < 3, k


def test_quarter_turns_are_exact_and_counter_clockwise() -> None:
    image = np.full((64, 64), 255, np.uint8)
    image[30:34, 32:60] = 0  # an arrow pointing right
    rotated = rotations(image, 20, 18.0)
    for k, quarter in ((5, 1), (10, 2), (15, 3)):
        assert np.abs(rotated[k].astype(int) - np.rot90(image, quarter)).max() <= 1
    assert rotated[5][4:32, 30:34].max() == 0  # now pointing up


def test_partial_turn_counts_agree_with_the_full_turn() -> None:
    image = normalise_gray(drawing(), SketchesConfig(size=40))
    full = rotations(image, 20, 18.0)  # quarter-turn shortcut
    assert np.array_equal(rotations(image, 7, 18.0), full[:7])  # one table for all copies
    assert np.array_equal(rotations(image, 3, 90.0), full[[0, 5, 10]])


def test_rotated_corners_are_white() -> None:
    image = np.zeros((64, 64), np.uint8)  # all ink: corners of the rotated copies come from outside
    rotated = rotations(image, 20, 18.0)
    assert rotated[1, 0, 0] == 255 and rotated[2, -1, -1] == 255 and rotated[0, 0, 0] == 0


# ---------------------------------------------------------------- real sketches


@pytest.mark.parametrize("size", [224, 64])
def test_real_tu_berlin_sketches_keep_visible_strokes(real_data: Path, size: int) -> None:
    paths = sorted((real_data / "sketches").glob("*/*.png"))
    assert len(paths) >= 12
    cfg = SketchesConfig(size=size)
    for path in paths:
        out = preprocess_sketch(path, cfg)
        assert out.shape == (20, size, size)
        for k in (0, 7):
            image = out[k]
            dark = image < 128
            assert image.min() < 40, path  # strokes are dark, not washed-out grey
            assert dark.mean() > 0.02, path  # and not vanishing at this size
            # the strokes stay connected lines, not scattered dots
            labels, _ = ndimage.label(dark, structure=np.ones((3, 3)))
            assert np.bincount(labels.ravel())[1:].max() > 0.3 * dark.sum(), path
        top, left, bottom, right = ink_box(out[0], 200)
        assert max(bottom - top, right - left) >= 0.85 * size, path


# ---------------------------------------------------------------- bad input


def test_bad_inputs_name_file_and_reason(tmp_path: Path, sketch_png: Path) -> None:
    cfg = SketchesConfig()
    good = sketch_png.read_bytes()
    cases = {
        "truncated.png": (good[: len(good) // 2], "truncated or corrupt"),
        "corrupt.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "not a readable image"),
        "noise.png": (np.random.default_rng(0).bytes(2000), "not a readable image"),
        "empty.png": (b"", "empty file"),
        "zero.png": (png_bytes(0, 0), r"zero-size image \(0x0\)"),
        "zero-wide.png": (png_bytes(0, 5), r"zero-size image \(0x5\)"),
        "gif.png": (None, "unsupported format GIF"),
        "blank.png": (None, "no ink"),
    }
    for name, (data, _) in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
    Image.new("P", (20, 20)).save(tmp_path / "gif.png", format="GIF")
    Image.new("L", (50, 50), 250).save(tmp_path / "blank.png")
    for name, (_, reason) in cases.items():
        with pytest.raises(SketchError, match=reason) as err:
            preprocess_sketch(tmp_path / name, cfg)
        assert err.value.path == str(tmp_path / name) and str(tmp_path / name) in str(err.value)
    with pytest.raises(SketchError, match="cannot read file"):
        preprocess_sketch(tmp_path / "missing.png", cfg)


def test_decompression_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.fromarray(drawing(size=(120, 100))).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)  # error above 2x, warning above 1x
    with pytest.raises(SketchError, match="decompression bomb"):
        load_grayscale(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 8000)  # 12000 px: Pillow only warns; we refuse
    with pytest.raises(SketchError, match="decompression bomb"):
        load_grayscale(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20000)
    assert load_grayscale(tmp_path / "bomb.png").shape == (100, 120)


# ---------------------------------------------------------------- shards


def _sketch_files(folder: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        path = folder / f"sk{i}.png"
        Image.fromarray(drawing(box=(40 + 5 * i, 30, 260, 170 - 5 * i), width=2 + i)).save(path)
        paths.append(path)
    return paths


def test_shard_hdf5_contract(tmp_path: Path) -> None:
    paths = _sketch_files(tmp_path, 7)
    manifest = write_manifest(tmp_path, paths, ["train", "test", "train", "train", "test", "train", "train"])
    cfg = {"size": 32, "rotations": 20, "step_deg": 18.0, "shards": 2, "thicken": "auto"}
    out, skipped = tmp_path / "train" / "shard-1.h5", tmp_path / "train" / "shard-1.skipped.csv"
    assert prepare_shard(manifest, out, skipped, split="train", shard=1, cfg=cfg) == 3
    with h5py.File(out, "r") as f:
        images = f["images"]
        assert images.shape == (3, 20, 32, 32) and images.dtype == np.uint8
        assert images.chunks == (1, 20, 32, 32) and images.compression == "gzip"
        assert list(read_strings(f["ids"])) == ["s3", "s5", "s6"]  # train rows 2..4 (of 5), in file order
        assert f["labels"].dtype == np.int64 and list(f["labels"][()]) == [0, 2, 0]
        expected = preprocess_sketch(paths[3], SketchesConfig(**cfg))
        assert np.array_equal(images[0], expected)
    assert read_attrs(out) == {"rotations": 20, "step_deg": 18.0, "split": "train", "size": 32}
    report = pd.read_csv(skipped)
    assert list(report.columns) == ["id", "path", "reason"] and report.empty
    with pytest.raises(ValueError, match=r"shard 3 out of range 0\.\.1 \(shards: 2\)"):
        prepare_shard(manifest, out, skipped, split="train", shard=3, cfg=cfg)
    # more shards than sketches (2 test sketches, 3 shards): shard 0 is empty, and still a valid file
    empty = tmp_path / "test" / "shard-0.h5"
    assert prepare_shard(manifest, empty, skipped, split="test", shard=0, cfg={**cfg, "shards": 3}) == 0
    with h5py.File(empty, "r") as f:
        assert f["images"].shape == (0, 20, 32, 32) and len(f["ids"]) == len(f["labels"]) == 0


def _shard_with_bad_files(tmp_path: Path) -> tuple[Path, list[Path]]:
    paths = _sketch_files(tmp_path, 3)
    (tmp_path / "cut.png").write_bytes(paths[0].read_bytes()[:200])
    Image.new("L", (40, 40), 255).save(tmp_path / "white.png")
    paths = [paths[0], tmp_path / "cut.png", paths[1], tmp_path / "white.png", paths[2]]
    return write_manifest(tmp_path, paths), paths


def test_shard_error_lists_every_bad_file(tmp_path: Path) -> None:
    manifest, _ = _shard_with_bad_files(tmp_path)
    out = tmp_path / "out" / "shard-0.h5"
    with pytest.raises(SketchShardError) as err:
        prepare_shard(
            manifest, out, tmp_path / "out" / "s.csv", split="train", shard=0, cfg={"size": 32, "shards": 1}
        )
    assert len(err.value.problems) == 2
    assert "cut.png (id s1): truncated" in str(err.value) and "white.png (id s3): no ink" in str(err.value)
    assert not out.exists() and list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("compression", ["gzip", "lzf", "none"])
def test_shard_skip_mode_leaves_out_and_lists(tmp_path: Path, compression: str) -> None:
    manifest, paths = _shard_with_bad_files(tmp_path)
    out, skipped = tmp_path / "shard-0.h5", tmp_path / "shard-0.skipped.csv"
    cfg = {"size": 32, "shards": 1, "on_bad_sketch": "skip", "compression": compression}
    assert prepare_shard(manifest, out, skipped, split="train", shard=0, cfg=cfg) == 3
    with h5py.File(out, "r") as f:
        assert list(read_strings(f["ids"])) == ["s0", "s2", "s4"] and f["images"].shape[0] == 3
        assert f["images"].compression == (None if compression == "none" else compression)
        for stored, path in zip(f["images"], [paths[0], paths[2], paths[4]], strict=True):
            assert np.array_equal(stored, preprocess_sketch(path, SketchesConfig(size=32)))
    report = pd.read_csv(skipped, dtype=str)
    assert list(report["id"]) == ["s1", "s3"] and list(report["path"]) == [str(paths[1]), str(paths[3])]
    assert (
        report["reason"].str.contains("truncated").iloc[0] and report["reason"].str.contains("no ink").iloc[1]
    )


@pytest.mark.parametrize(
    "filters",
    [
        {"compression": "gzip", "compression_opts": 1},
        {"compression": "gzip", "fletcher32": True},
        {"shuffle": True},
    ],
)
def test_chunks_written_directly_only_under_deflate_alone(tmp_path: Path, filters: dict) -> None:
    """Deflate alone: the chunk is written whole (zlib-ng); any other filter pipeline goes through h5py."""
    item = np.random.default_rng(0).integers(0, 256, (20, 16, 16), dtype=np.uint8)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        images = f.create_dataset("images", (3, 20, 16, 16), np.uint8, chunks=(1, 20, 16, 16), **filters)
        assert _deflate_only(images) == (filters == {"compression": "gzip", "compression_opts": 1})
        _write_item(images, 1, item)
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert np.array_equal(f["images"][1], item) and not f["images"][0].any()


def test_unknown_config_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'sketches.sizes'; did you mean 'sketches.size'\?"):
        SketchesConfig.from_mapping({"sizes": 64})
    with pytest.raises(ConfigError, match=r"'sketches.thicken': 'sometimes' is not one of"):
        SketchesConfig(thicken="sometimes")


# ---------------------------------------------------------------- workflow


@pytest.mark.slow
def test_rule_prepare_sketches(workflow_dir: Path, real_data: Path) -> None:
    root = workflow_dir / "data"
    for cls in ("camel", "cat"):
        (root / "models" / cls).mkdir(parents=True)
        (root / "models" / cls / f"m_{cls}.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
        for split, names in (("train", [0, 1]), ("test", [2])):
            (root / "sketches" / cls / split).mkdir(parents=True)
            for i in names:
                src = sorted((real_data / "sketches" / cls).glob("*.png"))[i]
                (root / "sketches" / cls / split / src.name).write_bytes(src.read_bytes())
    edit_config(workflow_dir, dataset="folder", data_dir=str(root), sketches={"shards": 2, "size": 48})
    if not (workflow_dir / "envs").exists():  # conda: directives point there
        shutil.copytree(Path(__file__).resolve().parents[1] / "envs", workflow_dir / "envs")
    run_snakemake(workflow_dir, "all_sketches")
    res = workflow_dir / "results" / "folder" / "sketches"
    assert sorted(p.name for p in (res / "train").glob("*.h5")) == ["shard-0.h5", "shard-1.h5"]
    for shard in (0, 1):  # two test sketches, one per shard
        with h5py.File(res / "test" / f"shard-{shard}.h5", "r") as f:
            assert f["images"].shape == (1, 20, 48, 48) and f.attrs["split"] == "test"
    assert (
        (workflow_dir / "logs" / "folder" / "prepare_sketches" / "train-shard-0.log")
        .read_text()
        .count("sketches/s")
    )


def test_cli_preview_and_shard(tmp_path: Path) -> None:
    from bwot.cli import main

    paths = _sketch_files(tmp_path, 3)
    assert main(["sketches", *map(str, paths[:2]), "--out", str(tmp_path / "p.png"), "--size", "32"]) == 0
    assert Image.open(tmp_path / "p.png").size == (20 * 32, 2 * 32)
    manifest = write_manifest(tmp_path, paths)
    args = ["sketches", str(manifest), "--split", "train", "--out", str(tmp_path / "s.h5"), "--size", "32"]
    assert main(args) == 0
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f["images"].shape == (3, 20, 32, 32)
    assert pd.read_csv(tmp_path / "s.skipped.csv").empty
