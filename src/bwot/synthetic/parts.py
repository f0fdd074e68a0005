"""Primitive parts the procedural classes are assembled from, and the per-instance parameter sampler.

All parts live in one frame: z up, x the object's length (front), y its side. Parts are plain
`trimesh.Trimesh` objects; a shape is their concatenation (no boolean union is needed for rendering).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import trimesh
from trimesh import creation

Vec = Sequence[float] | np.ndarray


class Sampler:
    """Draws the parameters of one instance.

    Without a variant every draw covers its whole range. A variant (used to derive many distinct classes
    from one builder, for the shrec14-scale preset) narrows the k-th draw to a fixed sub-range and fixes
    the k-th yes/no choice, so instances of one variant resemble each other more than those of another.
    """

    def __init__(self, rng: np.random.Generator, variant: np.ndarray | None = None):
        self.rng = rng
        self.variant = variant
        self._k = 0

    def _anchor(self) -> float | None:
        if self.variant is None:
            return None
        value = float(self.variant[self._k % len(self.variant)])
        self._k += 1
        return value

    def u(self, lo: float, hi: float) -> float:
        """A uniform value in [lo, hi] (a variant draws from a fixed 40% sub-range)."""
        anchor = self._anchor()
        if anchor is not None:
            width = 0.4 * (hi - lo)
            lo = lo + anchor * (hi - lo - width)
            hi = lo + width
        return float(self.rng.uniform(lo, hi))

    def i(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi], both included."""
        return min(hi, int(np.floor(self.u(lo, hi + 1 - 1e-9))))

    def flag(self, p: float) -> bool:
        """True with probability p (a variant fixes the answer)."""
        anchor = self._anchor()
        return (anchor if anchor is not None else float(self.rng.random())) < p

    def pick(self, options: Sequence):
        """One of `options`, uniformly."""
        return options[self.i(0, len(options) - 1)]


def box(center: Vec, size: Vec) -> trimesh.Trimesh:
    """An axis-aligned box."""
    mesh = creation.box(extents=np.asarray(size, float))
    mesh.apply_translation(center)
    return mesh


def rod(a: Vec, b: Vec, r: float, sections: int = 14) -> trimesh.Trimesh:
    """A capped cylinder from point a to point b."""
    return creation.cylinder(radius=r, segment=np.array([a, b], float), sections=sections)


def ball(center: Vec, radii: Vec | float, subdivisions: int = 2) -> trimesh.Trimesh:
    """A sphere, or an axis-aligned ellipsoid when `radii` has three values."""
    mesh = creation.icosphere(subdivisions=subdivisions)
    mesh.vertices = mesh.vertices * np.broadcast_to(np.asarray(radii, float), 3) + np.asarray(center, float)
    return mesh


def cone(base: Vec, apex: Vec, r: float, sections: int = 20) -> trimesh.Trimesh:
    """A cone with its base disc centred at `base` and its tip at `apex`."""
    base, apex = np.asarray(base, float), np.asarray(apex, float)
    axis = apex - base
    mesh = creation.cone(radius=r, height=float(np.linalg.norm(axis)), sections=sections)
    mesh.apply_transform(trimesh.geometry.align_vectors([0, 0, 1], axis / np.linalg.norm(axis)))
    mesh.apply_translation(base)
    return mesh


def lathe(profile: Sequence[tuple[float, float]], base: Vec = (0, 0, 0), sections: int = 24):
    """A solid of revolution about the z axis through `base`; profile = [(radius, height), ...]."""
    mesh = creation.revolve(np.asarray(profile, float), sections=sections)
    mesh.apply_translation(base)
    return mesh


def ring(center: Vec, major: float, minor: float, axis: Vec = (0, 0, 1)) -> trimesh.Trimesh:
    """A torus around `axis`."""
    mesh = creation.torus(major, minor, major_sections=28, minor_sections=10)
    axis = np.asarray(axis, float)
    mesh.apply_transform(trimesh.geometry.align_vectors([0, 0, 1], axis / np.linalg.norm(axis)))
    mesh.apply_translation(center)
    return mesh


def hull(points: Vec) -> trimesh.Trimesh:
    """The convex hull of a few points (wedges, roofs, wings, blades, fins)."""
    return trimesh.convex.convex_hull(np.asarray(points, float))


def slab(center: Vec, size: Vec, taper: float = 1.0, axis: int = 0) -> trimesh.Trimesh:
    """A box whose +axis end is scaled by `taper` across the other two axes (a frustum of a box)."""
    c, s = np.asarray(center, float), np.asarray(size, float) / 2
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    far = corners[:, axis] > 0
    other = [k for k in range(3) if k != axis]
    scaled = corners * s
    scaled[np.ix_(far, other)] *= taper
    return hull(scaled + c)


def assemble(parts: list[trimesh.Trimesh]) -> trimesh.Trimesh:
    """Concatenate parts into one mesh (duplicate vertices merged, degenerate faces removed)."""
    mesh = trimesh.util.concatenate(parts)
    mesh = trimesh.Trimesh(mesh.vertices, mesh.faces, process=True)
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.remove_unreferenced_vertices()
    return mesh


def deform(mesh: trimesh.Trimesh, rng: np.random.Generator, amount: float = 1.0) -> trimesh.Trimesh:
    """Small smooth deformation: near-identity stretch and shear, a taper and a gentle bend."""
    v = mesh.vertices - mesh.bounds.mean(axis=0)
    extent = float(np.ptp(v, axis=0).max()) or 1.0
    linear = np.eye(3) + amount * np.diag(rng.uniform(-0.1, 0.1, 3))
    linear += amount * rng.uniform(-0.04, 0.04, (3, 3)) * (1 - np.eye(3))
    v = v @ linear.T
    t = amount * rng.uniform(-0.12, 0.12)  # taper along z
    v[:, :2] *= 1 + t * v[:, 2:3] / extent
    bend = amount * rng.uniform(-0.08, 0.08)  # bend of x about the z axis
    v[:, 2] += bend * (v[:, 0] / extent) ** 2 * extent
    return trimesh.Trimesh(v, mesh.faces, process=False)


def pose(mesh: trimesh.Trimesh, rng: np.random.Generator, tilt_deg: float = 8.0) -> trimesh.Trimesh:
    """Random yaw (about z), a small tilt, a random scale and offset: the target models' arbitrary pose."""
    yaw = rng.uniform(0, 2 * np.pi)
    tilt = np.deg2rad(rng.uniform(-tilt_deg, tilt_deg, 2))
    rot = trimesh.transformations.euler_matrix(tilt[0], tilt[1], yaw, "sxyz")
    out = mesh.copy()
    out.apply_transform(rot)
    out.apply_scale(float(np.exp(rng.uniform(np.log(0.5), np.log(2.0)))))
    out.apply_translation(rng.uniform(-0.3, 0.3, 3))
    return out
