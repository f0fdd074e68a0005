"""Tests of the fast sketch decoding (libpng through imagecodecs) and of the exact shortcuts in find_ink.

Every fast path is compared bit for bit with the reference it replaces: Pillow's decoder and blend,
np.percentile, and labelling the whole ink mask.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from bwot.sketches import SketchError, find_ink, load_grayscale
from bwot.sketches import decode as decode_module
from bwot.sketches.decode import composite_rgba
from bwot.sketches.ink import ISOLATION_CELLS, SPECK_CELLS, lower_quartile, remove_specks

# ---------------------------------------------------------------- helpers


def strokes(side: int = 400, seed: int = 0) -> np.ndarray:
    """A (side, side) uint8 SHREC-like drawing: antialiased curves of grey ink on white."""
    rng = np.random.default_rng(seed)
    big = Image.new("L", (2 * side, 2 * side), 255)
    draw = ImageDraw.Draw(big)
    for _ in range(6):
        pts = rng.uniform(0.1, 0.9, (12, 2)) * 2 * side
        draw.line([tuple(p) for p in pts], fill=int(rng.integers(0, 80)), width=int(rng.integers(2, 9)))
    return np.asarray(big.reduce(2)).copy()


def ink_in_alpha(gray: np.ndarray) -> np.ndarray:
    """SHREC-style RGBA: black everywhere, the strokes in the alpha channel."""
    rgba = np.zeros((*gray.shape, 4), np.uint8)
    rgba[..., 3] = 255 - gray
    return rgba


def pillow_composite(rgba: np.ndarray) -> np.ndarray:
    """The reference: Pillow's convert("L") pasted on white through the alpha channel."""
    img = Image.fromarray(rgba, "RGBA")
    paper = Image.new("L", img.size, 255)
    paper.paste(img.convert("L"), mask=img.getchannel("A"))
    return np.asarray(paper)


def both(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(fast decode, Pillow-only decode) of one file."""
    return load_grayscale(path), load_grayscale(path, fast_png=False)


@pytest.fixture
def libpng_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the calls of imagecodecs.png_decode made by load_grayscale."""
    calls: list[int] = []
    real = imagecodecs.png_decode

    def counting(data: bytes, **kwargs: object) -> np.ndarray:
        calls.append(len(data))
        return real(data, **kwargs)

    monkeypatch.setattr(decode_module.imagecodecs, "png_decode", counting)
    return calls


# ---------------------------------------------------------------- fast PNG decoding


def test_fast_path_equals_pillow_on_grayscale_and_rgba(tmp_path: Path, libpng_calls: list[int]) -> None:
    rng = np.random.default_rng(0)
    gray = strokes()
    noise = rng.integers(0, 256, (97, 131), dtype=np.uint8)
    colour = rng.integers(0, 256, (90, 120, 4), dtype=np.uint8)
    colour[..., 3] = rng.choice([0, 1, 127, 128, 254, 255], (90, 120)).astype(np.uint8)
    hidden = ink_in_alpha(gray)
    hidden[..., :3] = np.where(hidden[..., 3:] == 0, 255, 0)  # white colour only under transparent pixels
    images = {
        "gray.png": Image.fromarray(gray),
        "noise.png": Image.fromarray(noise),
        "alpha_ink.png": Image.fromarray(ink_in_alpha(gray), "RGBA"),
        "colour.png": Image.fromarray(colour, "RGBA"),
        "hidden_colour.png": Image.fromarray(hidden, "RGBA"),
    }
    for name, img in images.items():
        img.save(tmp_path / name)
        fast, reference = both(tmp_path / name)
        assert fast.dtype == np.uint8 and fast.shape == img.size[::-1], name
        assert np.array_equal(fast, reference), name
    assert len(libpng_calls) == len(images)  # all five went through libpng
    assert np.array_equal(load_grayscale(tmp_path / "alpha_ink.png"), gray)


def test_fast_path_equals_pillow_on_real_sketches(real_data: Path, libpng_calls: list[int]) -> None:
    paths = sorted((real_data / "sketches").glob("*/*.png"))
    assert paths
    for path in paths:
        fast, reference = both(path)
        assert np.array_equal(fast, reference), path
    assert len(libpng_calls) == len(paths)


def test_other_pngs_stay_on_pillow(tmp_path: Path, libpng_calls: list[int]) -> None:
    gray = strokes(120)
    Image.fromarray(gray).save(tmp_path / "trns_gray.png", transparency=255)
    Image.fromarray(gray).convert("RGB").save(tmp_path / "trns_rgb.png", transparency=(255, 255, 255))
    Image.fromarray(gray).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(np.stack([gray, 255 - gray], -1), "LA").save(tmp_path / "la.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "wide.png")
    Image.fromarray(gray < 128).save(tmp_path / "bits.png")
    frames = [Image.fromarray(gray), Image.fromarray(255 - gray)]
    frames[0].save(tmp_path / "animated.png", save_all=True, append_images=frames[1:])  # APNG
    for path in sorted(tmp_path.glob("*.png")):
        assert load_grayscale(path).shape == gray.shape, path
    assert libpng_calls == []
    # Transparent paper (tRNS on white) composites to white: only the ink is left.
    assert (load_grayscale(tmp_path / "trns_gray.png")[gray == 255] == 255).all()
    assert np.array_equal(load_grayscale(tmp_path / "animated.png"), gray)  # the first frame, as Pillow


def test_rgba_buffer_reuse_does_not_alias_results(tmp_path: Path) -> None:
    first, second = strokes(200, seed=1), strokes(200, seed=2)
    Image.fromarray(ink_in_alpha(first), "RGBA").save(tmp_path / "a.png")
    Image.fromarray(ink_in_alpha(second), "RGBA").save(tmp_path / "b.png")
    a = load_grayscale(tmp_path / "a.png")
    b = load_grayscale(tmp_path / "b.png")
    assert np.array_equal(a, first) and np.array_equal(b, second)


def test_composite_rgba_equals_pillow_blend() -> None:
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (64, 80, 4), dtype=np.uint8)
    extremes = rng.choice([0, 1, 2, 127, 128, 253, 254, 255], (64, 80)).astype(np.uint8)
    for alpha in (rgba[..., 3].copy(), extremes):
        rgba[..., 3] = alpha
        assert np.array_equal(composite_rgba(rgba), pillow_composite(rgba))  # any colour: Pillow's path
        black = rgba.copy()
        black[..., :3] = 0
        assert np.array_equal(composite_rgba(black), pillow_composite(black))  # the 255 - alpha path
        assert np.array_equal(composite_rgba(black), 255 - alpha)
    one_grey_pixel = np.zeros((5, 5, 4), np.uint8)
    one_grey_pixel[..., 3] = 200
    one_grey_pixel[2, 2, 1] = 1  # a single non-black colour sends the whole image to Pillow's blend
    assert np.array_equal(composite_rgba(one_grey_pixel), pillow_composite(one_grey_pixel))
    assert composite_rgba(one_grey_pixel[:, ::-1]).shape == (5, 5)  # non-contiguous input


# ---------------------------------------------------------------- bad files on the fast path


def chunk_offsets(data: bytes) -> dict[bytes, int]:
    """Offset of the first chunk of each kind in a PNG."""
    offsets, pos = {}, 8
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        offsets.setdefault(data[pos + 4 : pos + 8], pos)
        pos += 12 + size
    return offsets


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_damaged_files_get_pillows_verdict(tmp_path: Path, mode: str) -> None:
    """Truncated anywhere or corrupted: the fast decoder fails exactly where Pillow does, same reason."""
    gray = strokes(160)
    img = Image.fromarray(gray) if mode == "L" else Image.fromarray(ink_in_alpha(gray), "RGBA")
    img.save(tmp_path / "good.png")
    good = (tmp_path / "good.png").read_bytes()
    idat = chunk_offsets(good)[b"IDAT"]
    cuts = sorted({*range(0, len(good), max(1, len(good) // 40)), idat + 8, idat + 9, len(good) - 12})
    variants = {f"cut{c}": good[:c] for c in cuts}
    flipped = bytearray(good)
    flipped[idat + 8 + (len(good) - idat) // 2] ^= 0x5A  # a damaged byte inside the compressed data
    variants["flipped"] = bytes(flipped)
    crc = bytearray(good)
    crc[idat + 8 + int.from_bytes(good[idat : idat + 4], "big")] ^= 1  # a wrong IDAT checksum only
    variants["bad_crc"] = bytes(crc)
    for name, data in variants.items():
        path = tmp_path / f"{name}.png"
        path.write_bytes(data)
        outcomes = []
        for fast in (True, False):
            try:
                outcomes.append(load_grayscale(path, fast_png=fast))
            except SketchError as err:
                assert err.path == str(path)
                outcomes.append(err.reason)
        fast_outcome, pillow_outcome = outcomes
        if isinstance(pillow_outcome, str):
            assert fast_outcome == pillow_outcome, name
        else:
            assert isinstance(fast_outcome, np.ndarray) and np.array_equal(fast_outcome, pillow_outcome), name
    assert "truncated or corrupt" in load_reason(tmp_path / f"cut{idat + 9}.png")


def load_reason(path: Path) -> str:
    """The SketchError reason for `path` (fails the test when it decodes)."""
    with pytest.raises(SketchError) as err:
        load_grayscale(path)
    return err.value.reason


def test_bomb_guard_runs_before_libpng(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.fromarray(ink_in_alpha(strokes(100)), "RGBA").save(tmp_path / "bomb.png")

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("libpng must not see a refused image")

    monkeypatch.setattr(decode_module.imagecodecs, "png_decode", refuse)
    for limit in (4000, 8000):  # 10000 px: above 2x the limit (Pillow's error), then above 1x (its warning)
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        assert "decompression bomb refused by Pillow" in load_reason(tmp_path / "bomb.png")


def test_zero_size_and_empty_files(tmp_path: Path) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc

    ihdr = (0).to_bytes(4, "big") + (7).to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    zero = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )
    (tmp_path / "zero.png").write_bytes(zero)
    (tmp_path / "empty.png").write_bytes(b"")
    assert load_reason(tmp_path / "zero.png") == "zero-size image (0x7)"
    assert load_reason(tmp_path / "empty.png") == "empty file (0 bytes)"
    assert load_reason(tmp_path / "missing.png").startswith("cannot read file")


# ---------------------------------------------------------------- exact shortcuts in find_ink


def test_lower_quartile_equals_numpy_percentile() -> None:
    rng = np.random.default_rng(5)
    for n in [*range(1, 40), 999, 1000, 1001, 1002, 65537]:
        values = rng.integers(0, 256, n).astype(np.uint8)
        assert lower_quartile(values) == float(np.percentile(values, 25)), n


def naive_remove_specks(mask: np.ndarray) -> np.ndarray:
    """Reference: label the whole mask, drop every small group with no other ink within the margin."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    keep = mask.copy()
    pad = ISOLATION_CELLS
    for label in range(1, count + 1):
        ys, xs = np.nonzero(labels == label)
        if len(ys) > SPECK_CELLS:
            continue
        window = mask[
            max(0, ys.min() - pad) : ys.max() + 1 + pad, max(0, xs.min() - pad) : xs.max() + 1 + pad
        ]
        if np.count_nonzero(window) == len(ys):
            keep[ys, xs] = False
    return keep


def test_remove_specks_equals_labelling_the_whole_mask() -> None:
    rng = np.random.default_rng(7)
    for trial in range(30):
        mask = rng.random((60, 70)) < (0.002 if trial % 2 else 0.03)
        mask[10 + trial % 20, 5:40] = trial % 3 != 0  # a stroke, sometimes
        cleaned, cells = remove_specks(mask)
        assert np.array_equal(cleaned, naive_remove_specks(mask)), trial
        assert sorted(map(tuple, cells.tolist())) == sorted(zip(*np.nonzero(mask & ~cleaned), strict=True))
    empty = np.zeros((8, 8), bool)
    assert not remove_specks(empty)[0].any() and len(remove_specks(empty)[1]) == 0


def test_find_ink_with_specks_on_a_large_sketch() -> None:
    clean = strokes(1111, seed=4)
    gray = clean.copy()
    gray[20:26, 1090:1096] = 0  # an isolated speck far from the strokes: left out of the box
    ink = find_ink(gray)
    assert len(ink.specks) and ink.box == find_ink(clean).box
    assert ink.box[0] > 26 and ink.box[3] < 1090
