"""Mesh loading, validation, cleaning and normalisation.

Real meshes are messy (PSB/SHREC: coordinates near 1e6, duplicate vertices, degenerate faces,
non-manifold parts, stray vertices). Everything here works in float64; the renderer casts to float32 only
after the mesh is centred and scaled to the unit sphere. Meshes that cannot be rendered raise
`BadMeshError` with the file and the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUFFIXES = (".off", ".obj", ".ply", ".stl", ".glb", ".gltf")


class BadMeshError(ValueError):
    """A mesh that cannot be rendered; `path` and `reason` say which and why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh: `vertices` (n, 3) float64 and `faces` (m, 3) int64."""

    vertices: np.ndarray
    faces: np.ndarray


def load_mesh(path: str | Path) -> Mesh:
    """Read a mesh file (OFF strictly by our reader; OBJ, PLY, STL, GLB via trimesh, scenes flattened).

    Raises BadMeshError for unreadable or truncated files, non-finite coordinates, out-of-range face
    indices and meshes without faces.
    """
    path = Path(path)
    if not path.is_file():
        raise BadMeshError(path, "file not found")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise BadMeshError(path, f"unsupported mesh format '{suffix}' (known: {', '.join(SUFFIXES)})")
    try:
        mesh = read_off(path) if suffix == ".off" else _read_trimesh(path)
    except BadMeshError:
        raise
    except Exception as exc:  # any parser failure means an unreadable file
        raise BadMeshError(path, f"unreadable mesh file ({type(exc).__name__}: {exc})") from exc
    check_mesh(mesh, path)
    return mesh


def read_off(path: str | Path) -> Mesh:
    """Strict OFF reader: header counts must match the data (a truncated file is an error).

    Accepts `OFF` with the counts on the same or the next line, `#` comments, CRLF endings, polygon faces
    (fan-triangulated) and extra values (colours) after a vertex's coordinates or a face's indices.
    Plain triangle meshes take a vectorised path; anything else is parsed line by line.
    """
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    if "#" in text:
        text = re.sub(r"#[^\r\n]*", "", text)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    first = lines[0].split() if lines else []
    if not first or not first[0].upper().endswith("OFF"):
        raise BadMeshError(path, "not an OFF file (no OFF header)")
    head = first[1:] or (lines[1].split() if len(lines) > 1 else [])
    body = lines[1:] if first[1:] else lines[2:]
    try:
        n_vertices, n_faces = int(head[0]), int(head[1])
    except (IndexError, ValueError):
        raise BadMeshError(path, f"bad OFF counts line {' '.join(head)!r}") from None
    if len(body) < n_vertices + n_faces:
        raise BadMeshError(
            path,
            f"truncated file: header announces {n_vertices} vertices and {n_faces} faces, "
            f"found {len(body)} data lines",
        )
    vertices = _off_vertices(path, body[:n_vertices])
    return Mesh(vertices, _off_faces(path, body[n_vertices : n_vertices + n_faces]))


def _off_vertices(path: str | Path, lines: list[str]) -> np.ndarray:
    """(n, 3) float64 coordinates: the first three values of each vertex line."""
    try:
        flat = np.array(" ".join(lines).split(), dtype=np.float64)
        if flat.size == 3 * len(lines):
            return flat.reshape(-1, 3)
        return np.array([ln.split()[:3] for ln in lines], dtype=np.float64).reshape(-1, 3)
    except ValueError:
        raise BadMeshError(path, "unparsable or incomplete vertex line") from None


def _off_faces(path: str | Path, lines: list[str]) -> np.ndarray:
    """Triangles of OFF face lines `k i0 .. i(k-1) [extra]`: vectorised when all are plain triangles."""
    flat = " ".join(lines).split()
    if len(flat) == 4 * len(lines):
        try:
            table = np.array(flat, dtype=np.int64).reshape(-1, 4)
        except ValueError:
            table = None
        if table is not None and (table[:, 0] == 3).all():
            return table[:, 1:]
    return _off_polygons(path, [ln.split() for ln in lines])


def _off_polygons(path: str | Path, rows: list[list[str]]) -> np.ndarray:
    """Fan-triangulate OFF face rows `k i0 i1 ... i(k-1) [extra values]`, vectorised per polygon size."""
    try:
        sizes = np.array([int(row[0]) for row in rows], dtype=np.int64)
    except ValueError:
        raise BadMeshError(path, "unparsable face line") from None
    short = [i for i, row in enumerate(rows) if sizes[i] < 3 or len(row) < sizes[i] + 1]
    if short:
        raise BadMeshError(path, f"{len(short)} bad face line(s), first: {' '.join(rows[short[0]])!r}")
    tris = [np.zeros((0, 3), dtype=np.int64)]
    for k in np.unique(sizes):
        try:
            poly = np.array([rows[i][1 : k + 1] for i in np.flatnonzero(sizes == k)], dtype=np.int64)
        except ValueError:
            raise BadMeshError(path, "unparsable face index") from None
        tris += [poly[:, [0, j, j + 1]] for j in range(1, k - 1)]
    return np.concatenate(tris)


def _read_trimesh(path: Path) -> Mesh:
    import trimesh

    loaded = trimesh.load(path, force="mesh", process=False)
    if isinstance(loaded, trimesh.Scene):  # an empty scene stays a Scene
        loaded = loaded.to_mesh() if loaded.geometry else trimesh.Trimesh()
    faces = np.asarray(loaded.faces, dtype=np.int64).reshape(-1, 3)
    return Mesh(np.asarray(loaded.vertices, dtype=np.float64).reshape(-1, 3), faces)


def check_mesh(mesh: Mesh, path: str | Path) -> None:
    """Raise BadMeshError when the mesh has no faces, non-finite coordinates or bad face indices."""
    v, f = mesh.vertices, mesh.faces
    if len(f) == 0:
        raise BadMeshError(path, "mesh has no faces")
    bad = ~np.isfinite(v).all(axis=1)
    if bad.any():
        raise BadMeshError(path, f"{int(bad.sum())} of {len(v)} vertices have NaN or inf coordinates")
    if f.min() < 0 or f.max() >= len(v):
        raise BadMeshError(path, f"face indices outside [0, {len(v) - 1}] (min {f.min()}, max {f.max()})")


def clean_and_normalise(mesh: Mesh, path: str | Path = "<mesh>") -> Mesh:
    """Drop degenerate (zero-area) faces and unreferenced vertices, then centre the bounding box of what is
    left at the origin and scale its farthest vertex to distance 1. All in float64.

    Unreferenced vertices are dropped first so that stray points do not shrink the rendered shape.
    """
    v, f = mesh.vertices, mesh.faces
    # centre and scale roughly first so that the area test is relative (coordinates may be ~1e6)
    used = np.unique(f)
    lo, hi = v[used].min(axis=0), v[used].max(axis=0)
    extent = float((hi - lo).max())
    if not extent > 0:
        raise BadMeshError(path, "all faces are degenerate (the mesh is a single point)")
    v = (v - (lo + hi) / 2.0) / extent
    normals = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    keep = np.linalg.norm(normals, axis=1) > 1e-12
    if not keep.any():
        raise BadMeshError(path, f"all {len(f)} faces are degenerate (zero area)")
    f = f[keep]
    used, f = np.unique(f, return_inverse=True)
    v = v[used]
    lo, hi = v.min(axis=0), v.max(axis=0)
    v = v - (lo + hi) / 2.0
    v /= np.linalg.norm(v, axis=1).max()
    return Mesh(v, f.reshape(-1, 3).astype(np.int64))


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit normals of the faces (float64); zero-area faces get a zero normal."""
    n = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, norm, out=np.zeros_like(n), where=norm > 0)
