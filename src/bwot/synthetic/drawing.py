"""Line drawings of meshes that look hand-made: visible silhouettes and creases as wobbly strokes.

The viewpoint, framing (scale, shift, small in-plane rotation), stroke width, jitter, gaps and dropped
strokes are all drawn from the instance's random generator, so a sketch is a function of its seed.
"""

from __future__ import annotations

import numpy as np
import trimesh
from PIL import Image, ImageDraw

from bwot.synthetic.raster import Camera, fit_camera, visible_polylines

SUPERSAMPLE = 2  # strokes are drawn at 2x and downsampled: anti-aliased, deterministic


def random_camera(
    mesh: trimesh.Trimesh, rng: np.random.Generator, size: int, view: tuple[float, float, bool] | None = None
) -> Camera:
    """A viewpoint a person might draw from, with random framing.

    `view` = (azimuth, spread, both sides): the eye's azimuth in degrees is drawn within `spread` of
    `azimuth` (or of its opposite, half the time, when `both sides`); None = any azimuth.
    """
    center, spread, both = view if view is not None else (0.0, 180.0, False)
    opposite = 180.0 if both and rng.random() < 0.5 else 0.0
    azimuth = np.deg2rad(center + opposite + rng.uniform(-spread, spread))
    elevation = np.deg2rad(rng.uniform(-5, 40))
    fill = rng.uniform(0.6, 0.9)
    shift = tuple(rng.uniform(-1, 1, 2) * (0.92 - fill) / 2)
    roll = np.deg2rad(rng.uniform(-12, 12))
    return fit_camera(mesh, azimuth, elevation, size, fill, shift, roll)


def sketch_strokes(
    lines: list[np.ndarray], rng: np.random.Generator, size: int
) -> list[tuple[np.ndarray, float]]:
    """Turn clean polylines into strokes (points, width): resampled, jittered, with gaps and dropouts."""
    base_width = rng.uniform(0.8, 2.2) * size / 256
    wobble = rng.uniform(0.3, 1.2) * size / 256
    p_drop, p_gap = rng.uniform(0.0, 0.12), rng.uniform(0.05, 0.3)
    strokes = []
    for line in lines:
        length = float(np.linalg.norm(np.diff(line, axis=0), axis=1).sum())
        # short strokes may be forgotten; the long outline strokes never are
        if length < 2.0 or (length < 0.25 * size and rng.random() < p_drop):
            continue
        pts = _resample(line, max(2, int(length / 3.0) + 1))
        pts = _jitter(pts, rng, wobble, length)
        pieces = [pts]
        if len(pts) > 8 and rng.random() < p_gap:
            cut = rng.integers(2, len(pts) - 3)
            gap = max(1, int(len(pts) * rng.uniform(0.05, 0.15)))
            pieces = [pts[:cut], pts[cut + gap :]]
        width = base_width * rng.uniform(0.7, 1.4)
        strokes += [(piece, width) for piece in pieces if len(piece) >= 2]
        if rng.random() < 0.08:  # a second, retraced pass
            strokes.append((_jitter(pts, rng, wobble, length), width * 0.8))
    return strokes


def _resample(line: np.ndarray, n: int) -> np.ndarray:
    """n points evenly spaced along a polyline."""
    seg = np.linalg.norm(np.diff(line, axis=0), axis=1)
    s = np.r_[0.0, np.cumsum(seg)]
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, line[:, 0]), np.interp(t, s, line[:, 1])], axis=1)


def _jitter(pts: np.ndarray, rng: np.random.Generator, amplitude: float, length: float) -> np.ndarray:
    """Smooth sideways wobble, a slight overall offset and over/under-shoot at both ends."""
    tangent = np.gradient(pts, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-9
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    t = np.linspace(0.0, 1.0, len(pts))
    waves = sum(
        rng.normal(0, amplitude) * np.sin(np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in (1, 2, 3)
    )
    out = pts + normal * waves[:, None] + rng.normal(0, amplitude * 0.5, 2)
    ends = min(3.0, 0.08 * length)
    out[0] -= tangent[0] * rng.uniform(-0.5, 1.0) * ends
    out[-1] += tangent[-1] * rng.uniform(-0.5, 1.0) * ends
    return out


def draw(strokes: list[tuple[np.ndarray, float]], size: int) -> Image.Image:
    """Render strokes black on white (mode 'L', size x size)."""
    big = Image.new("L", (size * SUPERSAMPLE, size * SUPERSAMPLE), 255)
    pen = ImageDraw.Draw(big)
    for pts, width in strokes:
        coords = [(float(x), float(y)) for x, y in np.round(pts * SUPERSAMPLE, 2)]
        w = max(1, round(width * SUPERSAMPLE))
        pen.line(coords, fill=0, width=w, joint="curve")
        r = w / 2
        for x, y in (coords[0], coords[-1]):  # round caps
            pen.ellipse((x - r, y - r, x + r, y + r), fill=0)
    return big.resize((size, size), Image.Resampling.BOX)


def sketch(
    mesh: trimesh.Trimesh,
    rng: np.random.Generator,
    size: int = 256,
    view: tuple[float, float, bool] | None = None,
) -> Image.Image:
    """A hand-drawn-looking line drawing of `mesh` from a random viewpoint (see `random_camera`)."""
    camera = random_camera(mesh, rng, size, view)
    return draw(sketch_strokes(visible_polylines(mesh, camera, size), rng, size), size)


def clean_lines(mesh: trimesh.Trimesh, camera: Camera, size: int, width: float = 1.0) -> Image.Image:
    """The visible feature lines of `mesh` drawn plainly (no jitter): for thumbnails."""
    return draw([(line, width) for line in visible_polylines(mesh, camera, size)], size)
