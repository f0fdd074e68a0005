"""Decode a PNG or JPEG sketch with Pillow into an 8-bit grayscale array (ink dark on white paper).

Handled: 1-bit, 8-bit and 16-bit grayscale, palette (with or without transparency), RGB(A), CMYK, and
alpha composited on white. Pillow's decompression-bomb guard (`Image.MAX_IMAGE_PIXELS`) stays on: its
warning and its error both become a `SketchError`, like a truncated, corrupt or zero-size file.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from bwot.sketches.errors import SketchError

FORMATS = ("PNG", "JPEG", "MPO")  # MPO: multi-picture JPEG as written by cameras


def load_grayscale(path: str | os.PathLike[str], min_side: int | None = None) -> np.ndarray:
    """The image at `path` as a (H, W) uint8 array, transparent parts white.

    `min_side`: JPEGs may be decoded at a reduced scale (Pillow's draft) as long as both sides stay at
    least this long; PNGs are always decoded in full.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise SketchError(str(path), f"cannot read file ({err.strerror or err})") from err
    if size == 0:
        raise SketchError(str(path), "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                _check_header(path, img)
                if min_side and img.format in ("JPEG", "MPO"):
                    img.draft("L", _draft_size(img.size, min_side))
                img.load()
                return to_gray(img)
    except SketchError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise SketchError(str(path), f"decompression bomb refused by Pillow ({err})") from err
    except UnidentifiedImageError as err:
        zero = _zero_size_png(path)
        reason = zero or "not a readable image (unknown or corrupt header)"
        raise SketchError(str(path), reason) from err
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as err:
        raise SketchError(str(path), f"truncated or corrupt image data ({err})") from err


def _check_header(path: Path, img: Image.Image) -> None:
    if img.format not in FORMATS:
        raise SketchError(str(path), f"unsupported format {img.format} (expected PNG or JPEG)")
    if img.width <= 0 or img.height <= 0:
        raise SketchError(str(path), f"zero-size image ({img.width}x{img.height})")


def _zero_size_png(path: Path) -> str | None:
    """'zero-size image (WxH)' when `path` is a PNG whose header declares no pixels (Pillow refuses it)."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) == 24 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        if width == 0 or height == 0:
            return f"zero-size image ({width}x{height})"
    return None


def _draft_size(size: tuple[int, int], min_side: int) -> tuple[int, int]:
    """The draft request keeping the shorter side >= min_side (draft picks a scale >= the request)."""
    w, h = size
    scale = min(1.0, min_side / min(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def to_gray(img: Image.Image) -> np.ndarray:
    """A loaded Pillow image as (H, W) uint8 grayscale with any alpha composited on white."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "L")
    elif mode in ("RGB", "L") and "transparency" in img.info:
        img = img.convert("RGBA")  # tRNS chunk: one colour marked transparent
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        return _wide_to_uint8(np.asarray(img), 65535)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        return _wide_to_uint8(arr, 1.0 if arr.max(initial=0) <= 1.0 else 255.0)
    if mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        return _composite_on_white(img)
    if mode != "L":
        img = img.convert("L")
    return np.asarray(img)


def _wide_to_uint8(arr: np.ndarray, full_scale: float) -> np.ndarray:
    """Scale 16-bit (or float) grey levels to 0..255."""
    arr = np.clip(arr.astype(np.float32), 0, full_scale)
    return np.rint(arr * (255.0 / full_scale)).astype(np.uint8)


def _composite_on_white(img: Image.Image) -> np.ndarray:
    """Grey = grey * alpha + 255 * (1 - alpha): the image pasted on white paper through its alpha."""
    if img.mode not in ("LA", "RGBA"):
        img = img.convert("RGBA")
    paper = Image.new("L", img.size, 255)
    paper.paste(img.convert("L"), mask=img.getchannel("A"))
    return np.asarray(paper)
