"""Decode a PNG or JPEG sketch into an 8-bit grayscale array (ink dark on white paper).

Handled: 1-bit, 8-bit and 16-bit grayscale, palette (with or without transparency), RGB(A), CMYK, and
alpha composited on white. Pillow parses every header, so its decompression-bomb guard
(`Image.MAX_IMAGE_PIXELS`) stays on: its warning and its error both become a `SketchError`, like a
truncated, corrupt or zero-size file.

Fast path: the two common sketch PNGs, 8-bit grayscale and 8-bit RGBA (no palette, no tRNS, not
interlaced, not animated), are decoded by libpng through imagecodecs (about twice Pillow's speed; the
same pixels, bit for bit), and RGBA whose colour is black everywhere (the ink in the alpha channel) is
composited as 255 - alpha, which is exactly what Pillow's blend gives then. Whatever libpng refuses is
decoded again by Pillow, so a bad file gets Pillow's verdict and reason. One difference remains: metadata
chunks after the image data (text, time) are checked by Pillow only when it decodes the file itself.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO

import imagecodecs
import numpy as np
from PIL import Image, UnidentifiedImageError

from bwot.files import not_regular
from bwot.sketches.errors import SketchError

FORMATS = ("PNG", "JPEG", "MPO")  # MPO: multi-picture JPEG as written by cameras
REUSE_PIXELS = 4096 * 4096  # RGBA decode buffers up to this size (64 MB) are kept for the next file
_local = threading.local()


def load_grayscale(
    path: str | os.PathLike[str], min_side: int | None = None, *, fast_png: bool = True
) -> np.ndarray:
    """The image at `path` as a (H, W) uint8 array, transparent parts white.

    `min_side`: JPEGs may be decoded at a reduced scale (Pillow's draft) as long as both sides stay at
    least this long; PNGs are always decoded in full. `fast_png=False` decodes everything with Pillow
    (the reference the libpng path is tested against).
    """
    path = Path(path)
    try:
        if kind := not_regular(os.stat(path).st_mode):  # a FIFO would block the open, a device never end
            raise SketchError(str(path), f"not a regular file ({kind})")
        f = open(path, "rb")  # closed by the `with f` below; Pillow reads only what it needs
    except OSError as err:
        raise SketchError(str(path), f"cannot read file ({err.strerror or err})") from err
    with f:
        if os.fstat(f.fileno()).st_size == 0:
            raise SketchError(str(path), "empty file (0 bytes)")
        return _decode(f, str(path), min_side, fast_png)


def decode_grayscale(data: bytes, name: str = "<upload>", min_side: int | None = None) -> np.ndarray:
    """The bytes of an image file (an upload, a drawing) as `load_grayscale` reads a file: the same
    decoders, the same pixels, the same errors (a SketchError naming `name`)."""
    if not data:
        raise SketchError(name, "empty file (0 bytes)")
    return _decode(io.BytesIO(data), name, min_side, True)


def _decode(f: BinaryIO, name: str, min_side: int | None, fast_png: bool) -> np.ndarray:
    """Decode the image file open as `f` (not empty, at its start); `name` names it in errors."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(f) as img:
                _check_header(name, img)
                fast = _decode_png_fast(img, f) if fast_png else None
                if fast is not None:
                    return fast
                if min_side and img.format in ("JPEG", "MPO"):
                    img.draft("L", _draft_size(img.size, min_side))
                img.load()
                return to_gray(img)
    except SketchError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise SketchError(name, f"decompression bomb refused by Pillow ({err})") from err
    except UnidentifiedImageError as err:
        f.seek(0)
        zero = _zero_size_png(f.read(24))
        reason = zero or "not a readable image (unknown or corrupt header)"
        raise SketchError(name, reason) from err
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as err:
        raise SketchError(name, f"truncated or corrupt image data ({err})") from err


def _check_header(name: str, img: Image.Image) -> None:
    if img.format not in FORMATS:
        raise SketchError(name, f"unsupported format {img.format} (expected PNG or JPEG)")
    if img.width <= 0 or img.height <= 0:
        raise SketchError(name, f"zero-size image ({img.width}x{img.height})")


def _zero_size_png(data: bytes) -> str | None:
    """'zero-size image (WxH)' when `data` is a PNG whose header declares no pixels (Pillow refuses it)."""
    head = data[:24]
    if len(head) == 24 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        if width == 0 or height == 0:
            return f"zero-size image ({width}x{height})"
    return None


def _decode_png_fast(img: Image.Image, f: BinaryIO) -> np.ndarray | None:
    """The grayscale of an 8-bit grayscale or RGBA PNG decoded by libpng; None: let Pillow decode it.

    Only files whose pixels libpng and Pillow store alike take this path (Pillow's tile raw mode equals
    its mode: 8 bits a sample); palette, tRNS, 16-bit, LA, interlaced and animated files go to Pillow,
    and so does anything libpng refuses, so that errors keep Pillow's reasons.
    """
    if img.format != "PNG" or img.mode not in ("L", "RGBA") or len(img.tile) != 1:
        return None
    rawmode = img.tile[0][3]  # PNG: the raw mode string (8-bit samples: the mode itself)
    if rawmode != img.mode or img.info.get("interlace") or "transparency" in img.info:
        return None
    if getattr(img, "n_frames", 1) != 1:
        return None
    f.seek(0)
    data = f.read()  # only now the whole file: Pillow found an image of an allowed size in its header
    try:
        arr = imagecodecs.png_decode(data, out=_rgba_buffer(img.size) if img.mode == "RGBA" else None)
    except (RuntimeError, ValueError, MemoryError):  # libpng refused (PngError): Pillow decodes, words it
        return None
    shape = (img.height, img.width) if img.mode == "L" else (img.height, img.width, 4)
    if arr.dtype != np.uint8 or arr.shape != shape:
        return None
    return arr if img.mode == "L" else composite_rgba(arr)


def _rgba_buffer(size: tuple[int, int]) -> np.ndarray:
    """A reused (H, W, 4) uint8 buffer for RGBA decoding, this thread's.

    A fresh 5 MB array costs ~2.5 ms of page faults at 1111 px; only the grayscale composite (a new
    array) leaves the decoder, so nothing returned aliases the buffer.
    """
    width, height = size
    if width * height > REUSE_PIXELS:
        return np.empty((height, width, 4), np.uint8)
    buf = getattr(_local, "rgba", None)
    if buf is None or buf.shape[:2] != (height, width):
        buf = _local.rgba = np.empty((height, width, 4), np.uint8)
    return buf


def composite_rgba(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 RGBA pasted on white paper through its alpha -> (H, W) uint8, as Pillow does.

    Pillow's blend is round((255 * (255 - a) + L * a) / 255) = 255 - a + round(L * a / 255), with L
    the luma of the colour: where the colour is black (L = 0) that is exactly 255 - a, one cheap pass.
    Any other colour goes through Pillow's own convert("L") and paste.
    """
    rgba = np.ascontiguousarray(rgba)
    height, width = rgba.shape[:2]
    pixels = rgba.view(np.uint32).reshape(-1)  # one word a pixel: no temporary of the whole image
    if np.little_endian and not int(np.bitwise_or.reduce(pixels)) & 0x00FFFFFF:
        alpha = np.right_shift(pixels, 24, out=np.empty(pixels.shape, np.uint8), casting="unsafe")
        return np.invert(alpha, out=alpha).reshape(height, width)
    img = Image.frombuffer("RGBA", (width, height), rgba, "raw", "RGBA", 0, 1)
    paper = Image.new("L", img.size, 255)
    paper.paste(img.convert("L"), mask=img)
    return np.asarray(paper)


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
