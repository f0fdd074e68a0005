"""Camera rigs: unit view directions around the origin and the matching camera poses.

A rig is an ordered set of unit vectors; camera k sits at `distance * directions[k]`, looks at the origin
and has no roll (its image "up" is the world up axis projected onto the image plane).
"""

from __future__ import annotations

import numpy as np

PHI = (1.0 + 5.0**0.5) / 2.0
RIGS = ("dodecahedron20", "ring12")
AXES = {"x": 0, "y": 1, "z": 2}


def resolve_up(up: str) -> str:
    """The up axis of `render.up`: `auto` is y, the axis of PSB and SHREC meshes (the workflow resolves it
    per dataset before: bwot.config.Config.up)."""
    return "y" if up == "auto" else up


def dodecahedron_vertices() -> np.ndarray:
    """The 20 vertices of the regular dodecahedron (docs/render.md), not normalised, in a fixed order."""
    cube = [(x, y, z) for x in (1, -1) for y in (1, -1) for z in (1, -1)]
    a, b = 1.0 / PHI, PHI
    rest = []
    for s in (1, -1):
        for t in (1, -1):
            rest += [(0.0, s * a, t * b), (s * a, t * b, 0.0), (s * b, 0.0, t * a)]
    return np.array(cube + rest, dtype=np.float64)


def ring_directions(n: int = 12, elevation_deg: float = 30.0, up: str = "z") -> np.ndarray:
    """`n` directions at azimuth 0, 360/n, ... and a fixed elevation above the plane normal to `up`."""
    az = np.deg2rad(np.arange(n) * 360.0 / n)
    el = np.deg2rad(elevation_deg)
    local = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.full(n, np.sin(el))], axis=1)
    # local (x, y, z=up) -> world axes, keeping a right-handed frame: up=z: xyz; up=y: zxy; up=x: yzx
    k = AXES[up]
    order = [(k + 1) % 3, (k + 2) % 3, k]
    out = np.empty_like(local)
    out[:, order] = local
    return out


def rig_directions(rig: str, up: str = "z") -> np.ndarray:
    """The (V, 3) unit view directions of a named rig."""
    if rig == "dodecahedron20":
        v = dodecahedron_vertices()
        return v / np.linalg.norm(v, axis=1, keepdims=True)
    if rig == "ring12":
        return ring_directions(12, 30.0, up)
    raise ValueError(f"unknown camera rig '{rig}' (known: {', '.join(RIGS)})")


def look_at(eye: np.ndarray, up: str = "z") -> np.ndarray:
    """4x4 camera-to-world pose (OpenGL: camera looks down -z) at `eye`, looking at the origin, no roll.

    When the view direction is (nearly) parallel to the up axis, the next axis in x->y->z order is used as
    "up" instead, so cameras at the poles get a well-defined, deterministic pose.
    """
    eye = np.asarray(eye, dtype=np.float64)
    back = eye / np.linalg.norm(eye)  # camera +z points away from the target
    world_up = np.eye(3)[AXES[up]]
    right = np.cross(world_up, back)
    if np.linalg.norm(right) < 1e-6:
        right = np.cross(np.eye(3)[(AXES[up] + 1) % 3], back)
    right /= np.linalg.norm(right)
    cam_up = np.cross(back, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, cam_up, back, eye
    return pose


def camera_poses(rig: str, distance: float, up: str = "z") -> np.ndarray:
    """(V, 4, 4) camera poses of a rig at `distance` from the origin."""
    return np.stack([look_at(distance * d, up) for d in rig_directions(rig, up)])
