"""Render stage: meshes -> V grey-shaded views each (pyrender offscreen, EGL), sharded HDF5.

`PYOPENGL_PLATFORM` defaults to `egl` (set before pyrender is imported), so no set-up is needed.
"""

from bwot.render.meshes import BadMeshError, Mesh, clean_and_normalise, load_mesh, read_off
from bwot.render.renderer import ViewRenderer, blank_views, camera_yfov
from bwot.render.rigs import RIGS, camera_poses, look_at, rig_directions
from bwot.render.shard import BadMeshesError, render_shard

__all__ = [
    "RIGS",
    "BadMeshError",
    "BadMeshesError",
    "Mesh",
    "ViewRenderer",
    "blank_views",
    "camera_poses",
    "camera_yfov",
    "clean_and_normalise",
    "load_mesh",
    "look_at",
    "read_off",
    "render_shard",
    "rig_directions",
]
