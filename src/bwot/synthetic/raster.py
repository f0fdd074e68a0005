"""A tiny software renderer: orthographic cameras, a numpy z-buffer, visible feature lines.

Only what the sketches and the contact sheet need. Fully deterministic (no GL), so the same seed gives
the same pixels on every machine with the same numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.ndimage import maximum_filter

CREASE_RAD = np.deg2rad(35.0)  # dihedral angle above which an edge is drawn as a crease


@dataclass(frozen=True)
class Camera:
    """An orthographic camera: world -> pixel coordinates (x right, y down) and depth (larger = farther)."""

    forward: np.ndarray  # unit viewing direction
    right: np.ndarray
    up: np.ndarray
    scale: float  # pixels per world unit
    center: np.ndarray  # pixel position of the world origin (after `roll`)
    roll: float  # in-image rotation, radians

    @staticmethod
    def looking(azimuth: float, elevation: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Forward, right and up unit vectors of a camera at (azimuth, elevation) looking at the origin."""
        eye = np.array(
            [np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)]
        )
        forward = -eye
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        return forward, right, np.cross(right, forward)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (n, 2) and depths (n,) of world points (n, 3)."""
        u, v = points @ self.right, -(points @ self.up)
        c, s = np.cos(self.roll), np.sin(self.roll)
        xy = np.stack([c * u - s * v, s * u + c * v], axis=1) * self.scale + self.center
        return xy, points @ self.forward


def fit_camera(
    mesh: trimesh.Trimesh,
    azimuth: float,
    elevation: float,
    size: int,
    fill: float = 0.8,
    shift: tuple[float, float] = (0.0, 0.0),
    roll: float = 0.0,
) -> Camera:
    """A camera framing `mesh`: its larger projected extent is `fill` of the image, offset by `shift`."""
    forward, right, up = Camera.looking(azimuth, elevation)
    probe = Camera(forward, right, up, 1.0, np.zeros(2), roll)
    xy, _ = probe.project(mesh.vertices)
    lo, hi = xy.min(0), xy.max(0)
    scale = fill * size / max(float((hi - lo).max()), 1e-9)
    center = size / 2 - (lo + hi) / 2 * scale + np.asarray(shift) * size
    return Camera(forward, right, up, scale, center, roll)


def rasterize(
    xy: np.ndarray, depth: np.ndarray, faces: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Z-buffer of triangles in pixel space: (depth (size, size) with inf = empty, face id with -1 = empty).

    Triangles are grouped by bounding-box size (powers of two) and rasterised a group at a time with
    barycentric tests at pixel centres, so the work is vectorised without a per-triangle Python loop.
    """
    tri, tz = xy[faces], depth[faces]
    lo = np.clip(np.floor(tri.min(1) - 0.5), 0, size - 1).astype(np.int64)
    hi = np.clip(np.ceil(tri.max(1) - 0.5), 0, size - 1).astype(np.int64)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    onscreen = (tri.max(1) >= 0).all(1) & (tri.min(1) <= size).all(1)
    valid = (np.abs(area) > 1e-9) & onscreen
    span = hi - lo + 1
    level = np.ceil(np.log2(np.maximum(span, 1))).astype(np.int64)  # (m, 2): x and y size classes
    key = level[:, 0] * 64 + level[:, 1]
    flats, zs, ids = [], [], []
    for group_key in np.unique(key[valid]):
        sx, sy = 1 << int(group_key // 64), 1 << int(group_key % 64)
        group = np.flatnonzero(valid & (key == group_key))
        per_chunk = max(1, 2_000_000 // (sx * sy))
        for start in range(0, len(group), per_chunk):
            k = group[start : start + per_chunk]
            px = lo[k, 0, None, None] + np.arange(sx)[None, None, :]
            py = lo[k, 1, None, None] + np.arange(sy)[None, :, None]
            inside, z = _barycentric(tri[k], tz[k], area[k], px + 0.5, py + 0.5)
            inside &= (px <= hi[k, 0, None, None]) & (py <= hi[k, 1, None, None])
            sel = np.nonzero(inside)
            flats.append(py[sel[0], sel[1], 0] * size + px[sel[0], 0, sel[2]])
            zs.append(z[sel])
            ids.append(k[sel[0]])
    zbuf = np.full(size * size, np.inf)
    fid = np.full(size * size, -1, dtype=np.int64)
    if flats:
        flat, z, face = np.concatenate(flats), np.concatenate(zs), np.concatenate(ids)
        order = np.lexsort((face, z, flat))
        flat, z, face = flat[order], z[order], face[order]
        first = np.r_[True, flat[1:] != flat[:-1]]
        zbuf[flat[first]], fid[flat[first]] = z[first], face[first]
    return zbuf.reshape(size, size), fid.reshape(size, size)


def _barycentric(tri, tz, area, cx, cy):
    """Inside mask and interpolated depth at pixel centres (cx, cy) for each triangle (first axis)."""
    a, b, c = (tri[:, i, None, None, :] for i in range(3))

    def edge(p, q):
        return (q[..., 0] - p[..., 0]) * (cy - p[..., 1]) - (q[..., 1] - p[..., 1]) * (cx - p[..., 0])

    ar = area[:, None, None]
    w0, w1 = edge(b, c) / ar, edge(c, a) / ar
    w2 = 1.0 - w0 - w1
    inside = (w0 >= -1e-7) & (w1 >= -1e-7) & (w2 >= -1e-7)
    z = w0 * tz[:, 0, None, None] + w1 * tz[:, 1, None, None] + w2 * tz[:, 2, None, None]
    return inside, z


def feature_edges(mesh: trimesh.Trimesh, forward: np.ndarray) -> np.ndarray:
    """Vertex pairs (n, 2) of the lines a draughtsman draws: silhouettes, creases and open boundaries."""
    normals = mesh.face_normals
    pairs = mesh.face_adjacency
    facing = normals @ forward < 0
    silhouette = facing[pairs[:, 0]] != facing[pairs[:, 1]]
    crease = mesh.face_adjacency_angles > CREASE_RAD
    lines = mesh.face_adjacency_edges[silhouette | crease]
    counts = np.bincount(mesh.edges_unique_inverse, minlength=len(mesh.edges_unique))
    boundary = mesh.edges_unique[counts == 1]
    return np.concatenate([lines, boundary]).astype(np.int64)


def visible_polylines(
    mesh: trimesh.Trimesh,
    camera: Camera,
    size: int,
    step: float = 1.5,
    tolerance: float = 0.012,
    zbuffer_size: int = 128,
) -> list[np.ndarray]:
    """The visible parts of the feature lines, in pixels, chained into polylines (each (n, 2)).

    Visibility is tested against a z-buffer of `zbuffer_size` pixels (coarser than the image: faster,
    and lines right at an occluding contour are kept rather than broken).
    """
    xy, depth = camera.project(mesh.vertices)
    zsize = min(size, zbuffer_size)
    f = zsize / size
    zbuf, _ = rasterize(xy * f, depth, mesh.faces, zsize)
    # a line point is visible when something in its 3x3 neighbourhood is not in front of it
    zmax = maximum_filter(zbuf, size=3, mode="nearest")
    eps = tolerance * float(np.ptp(depth) or 1.0)
    edges = feature_edges(mesh, camera.forward)
    p, q = xy[edges[:, 0]], xy[edges[:, 1]]
    counts = np.maximum(2, np.ceil(np.linalg.norm(q - p, axis=1) / step).astype(np.int64) + 1)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    owner = np.repeat(np.arange(len(edges)), counts)
    t = (np.arange(counts.sum()) - starts[owner]) / (counts[owner] - 1)
    pts = p[owner] + t[:, None] * (q - p)[owner]
    z = depth[edges[owner, 0]] + t * (depth[edges[owner, 1]] - depth[edges[owner, 0]])
    ix = np.clip((pts[:, 0] * f).astype(np.int64), 0, zsize - 1)
    iy = np.clip((pts[:, 1] * f).astype(np.int64), 0, zsize - 1)
    vis = zmax[iy, ix] >= z - eps
    n_vis = np.add.reduceat(vis.astype(np.int64), starts) if len(edges) else np.zeros(0, np.int64)
    full = edges[n_vis == counts]
    pieces = []
    for k in np.flatnonzero((n_vis > 0) & (n_vis < counts)):
        sl = slice(starts[k], starts[k] + counts[k])
        pieces += [pts[sl][run] for run in _runs(vis[sl]) if len(run) >= 2]
    return _chain(full, xy) + pieces


def _runs(mask: np.ndarray) -> list[np.ndarray]:
    """Index arrays of the runs of True in a boolean vector."""
    idx = np.flatnonzero(mask)
    if not len(idx):
        return []
    return np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)


def _chain(edges: np.ndarray, xy: np.ndarray) -> list[np.ndarray]:
    """Join edges that meet end to end (at vertices shared by exactly two of them) into polylines."""
    incident: dict[int, list[int]] = {}
    for k, (u, v) in enumerate(edges.tolist()):
        incident.setdefault(u, []).append(k)
        incident.setdefault(v, []).append(k)
    used = np.zeros(len(edges), bool)
    lines = []
    for k in range(len(edges)):
        if used[k]:
            continue
        used[k] = True
        path = [int(edges[k, 0]), int(edges[k, 1])]
        for forward in (True, False):
            while True:
                end = path[-1] if forward else path[0]
                nxt = [j for j in incident[end] if not used[j]]
                if len(incident[end]) != 2 or not nxt:
                    break
                j = nxt[0]
                used[j] = True
                u, v = edges[j]
                other = int(v if u == end else u)
                if forward:
                    path.append(other)
                else:
                    path.insert(0, other)
                if other == (path[0] if forward else path[-1]):
                    break
        lines.append(xy[path])
    return lines


def shaded(mesh: trimesh.Trimesh, camera: Camera, size: int) -> np.ndarray:
    """A grey-shaded image (uint8, white background) with headlight Lambert shading."""
    xy, depth = camera.project(mesh.vertices)
    _, fid = rasterize(xy, depth, mesh.faces, size)
    light = np.abs(mesh.face_normals @ camera.forward)
    img = np.full(fid.shape, 255.0)
    hit = fid >= 0
    img[hit] = 70 + 150 * light[fid[hit]]
    return img.astype(np.uint8)
