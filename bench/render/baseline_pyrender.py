"""The usual way to render views with pyrender: a new OffscreenRenderer (context, shaders) per mesh.

The baseline of bench/render/run.py. Same cameras, image size and normalisation as bwot.render, with
pyrender's own shader and a directional light at the camera. Usable alone:
    python bench/render/baseline_pyrender.py MESH [MESH ...] --size 64
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import numpy as np
import pyrender
import trimesh


def render_mesh(path: str, size: int, poses: np.ndarray, yfov: float) -> np.ndarray:
    """(V, size, size) uint8 grey views of one mesh file."""
    mesh = trimesh.load(path, force="mesh")
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    mesh.apply_scale(1.0 / np.linalg.norm(mesh.vertices, axis=1).max())
    scene = pyrender.Scene(bg_color=[1.0, 1.0, 1.0, 1.0], ambient_light=[0.1, 0.1, 0.1])
    scene.add(pyrender.Mesh.from_trimesh(mesh, smooth=False))
    camera = scene.add(pyrender.PerspectiveCamera(yfov=yfov, aspectRatio=1.0), pose=poses[0])
    light = scene.add(pyrender.DirectionalLight(intensity=3.0), pose=poses[0])
    renderer = pyrender.OffscreenRenderer(size, size)
    views = []
    for pose in poses:
        scene.set_pose(camera, pose)
        scene.set_pose(light, pose)
        color, _ = renderer.render(scene)
        views.append(color.mean(axis=2).astype(np.uint8))
    renderer.delete()
    return np.stack(views)


def main() -> None:
    from bwot.render import camera_poses, camera_yfov

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("meshes", nargs="+")
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    poses = camera_poses("dodecahedron20", 3.0, "y")
    for path in args.meshes:
        views = render_mesh(path, args.size, poses, camera_yfov())
        print(path, views.shape, int((views < 250).sum()), "ink pixels")


if __name__ == "__main__":
    main()
