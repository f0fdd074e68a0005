"""Offscreen rendering of grey-shaded views with pyrender (EGL: Mesa on a CPU, NVIDIA on a GPU).

One `ViewRenderer` holds one OpenGL context, one compiled shader and one scene whose camera is moved
around the rig; rendering another mesh only swaps the mesh node. This reuse is what makes it fast: the
usual per-mesh `OffscreenRenderer` pays a context and shader compilation for every mesh.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # must precede the first OpenGL import


import numpy as np
import pyrender
from OpenGL import GL
from pyrender.constants import GLTF
from pyrender.shader_program import ShaderProgramCache

from bwot.render.meshes import BadMeshError, Mesh, clean_and_normalise, face_normals, load_mesh
from bwot.render.rigs import camera_poses


def _load_tritons_llvm_first() -> None:
    """torch's CUDA build ships triton, whose library carries its own LLVM; torchvision loads it. Loaded
    after Mesa's llvmpipe (an EGL context on a CPU) has loaded libLLVM, it crashes the process (measured:
    render, then `import torchvision`: segmentation fault); loaded first, both work. It costs ~0.1 s."""
    try:
        import triton._C.libtriton  # noqa: F401
    except ImportError:  # a CPU-only torch: no triton, nothing to do
        pass


SHADER_DIR = Path(__file__).with_name("shaders")
# pyrender culls back faces unless the material is double-sided: real meshes have inconsistent winding
DOUBLE_SIDED = pyrender.MetallicRoughnessMaterial(doubleSided=True)
DISTANCE = 3.0  # camera distance from the centre, in units of the mesh's bounding-sphere radius
FILL = 0.92  # the unit sphere's silhouette radius as a fraction of half the image
INK = 250  # a pixel darker than this is ink (the background is exactly 255)
_live = 0  # open ViewRenderers in this process (they share one EGL display)
log = logging.getLogger(__name__)


def camera_yfov(distance: float = DISTANCE, fill: float = FILL) -> float:
    """Vertical field of view (radians) that makes the unit sphere's silhouette span `fill` of the image."""
    return 2.0 * math.atan(math.tan(math.asin(1.0 / distance)) / fill)


class ViewRenderer:
    """Render (V, size, size) uint8 views (grey shading, ink dark on white) of meshes around a camera rig.

    Use as a context manager, or call `close()`; one instance serves every mesh of a process.
    """

    def __init__(
        self, size: int, rig: str = "dodecahedron20", up: str = "y", threads: int | None = None
    ) -> None:
        self.size, self.rig, self.up = size, rig, up
        self.poses = camera_poses(rig, DISTANCE, up)
        self.camera = pyrender.PerspectiveCamera(
            yfov=camera_yfov(), znear=DISTANCE - 1.5, zfar=DISTANCE + 1.5, aspectRatio=1.0
        )
        self._scene = pyrender.Scene(bg_color=[1.0, 1.0, 1.0, 1.0], ambient_light=[0.0, 0.0, 0.0])
        self._camera_node = self._scene.add(self.camera, pose=self.poses[0])
        self._mesh_node: pyrender.Node | None = None
        if threads:
            os.environ.setdefault("LP_NUM_THREADS", str(threads))  # Mesa llvmpipe's raster threads
        global _live
        _load_tritons_llvm_first()
        try:
            self._gl = pyrender.OffscreenRenderer(size, size)
        except Exception as exc:
            platform = os.environ["PYOPENGL_PLATFORM"]
            raise RuntimeError(
                f"cannot create an offscreen OpenGL context (PYOPENGL_PLATFORM={platform}): EGL needs "
                "Mesa's libEGL and llvmpipe (e.g. apt install libegl1 libgl1-mesa-dri) or a GPU driver"
            ) from exc
        _live += 1
        self._gl._renderer = _GreyRenderer(size, size)  # holds no GL object yet: safe to swap

    @property
    def views(self) -> int:
        """Number of views per mesh (cameras of the rig)."""
        return len(self.poses)

    def render(self, mesh: Mesh) -> np.ndarray:
        """Views of a mesh already centred and scaled to the unit sphere: (V, size, size) uint8.

        Both sides of every face are drawn (no back-face culling; the shader's |cos| shades a reversed face
        like the original), so inconsistent winding changes nothing. A view in which the faces leave no ink
        (an open, zero-thickness surface seen exactly edge-on) is drawn again from the mesh's edges as
        1-pixel lines, so the surface shows as the line it is.
        """
        views, _ = self.render_with_lines(mesh)
        return views

    def render_with_lines(self, mesh: Mesh) -> tuple[np.ndarray, list[int]]:
        """`render`, and the indices of the views that were drawn from the edges as lines."""
        tri = mesh.vertices[mesh.faces]  # (m, 3, 3) float64, flat shading: one normal per face
        normals = np.repeat(face_normals(mesh.vertices, mesh.faces), 3, axis=0)
        views = self._draw(tri.reshape(-1, 3), normals, GLTF.TRIANGLES, range(self.views))
        blank = blank_views(views)
        if blank:
            edges, edge_normals = mesh_edges(mesh)
            views[blank] = self._draw(edges, edge_normals, GLTF.LINES, blank)
        return views, blank

    def _draw(self, positions: np.ndarray, normals: np.ndarray, mode: int, cameras) -> np.ndarray:
        """Render one primitive (triangles or lines, double-sided) from the rig's cameras `cameras`."""
        primitive = pyrender.Primitive(
            positions=positions.astype(np.float32),
            normals=normals.astype(np.float32),
            mode=mode,
            material=DOUBLE_SIDED,
        )
        if self._mesh_node is not None:
            self._scene.remove_node(self._mesh_node)
        self._mesh_node = self._scene.add(pyrender.Mesh([primitive]))
        cameras = list(cameras)
        out = np.empty((len(cameras), self.size, self.size), dtype=np.uint8)
        for i, k in enumerate(cameras):
            self._scene.set_pose(self._camera_node, self.poses[k])
            out[i], _ = self._gl.render(self._scene)
        return out

    def render_file(self, path: str | Path) -> np.ndarray:
        """Load, clean, normalise and render one mesh file; BadMeshError when it cannot be rendered.

        A mesh is bad when it cannot be read or cleaned (meshes.py) or when no view shows any ink. Views
        drawn as lines (edge-on surfaces) and any view still without ink are logged as warnings.
        """
        views, lines = self.render_with_lines(clean_and_normalise(load_mesh(path), path))
        blank = blank_views(views)
        if len(blank) == len(views):
            raise BadMeshError(path, f"no ink in any of the {len(views)} views: the mesh is degenerate")
        if lines:
            log.warning("%s: views %s show the mesh edge-on: drawn as lines", path, lines)
        if blank:
            log.warning("%s: views %s are still blank (a sub-pixel mesh seen edge-on)", path, blank)
        return views

    def close(self) -> None:
        """Free the OpenGL resources and context (other live renderers of the process keep working)."""
        global _live
        if self._gl is None:
            return
        gl, self._gl = self._gl, None
        _live -= 1
        platform = gl._platform
        platform.make_current()
        gl._renderer.delete()
        if _live > 0 and hasattr(platform, "_egl_context"):
            # pyrender would eglTerminate the display, which every EGL context of the process shares
            from OpenGL import EGL

            EGL.eglMakeCurrent(
                platform._egl_display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, EGL.EGL_NO_CONTEXT
            )
            EGL.eglDestroyContext(platform._egl_display, platform._egl_context)
        else:
            platform.delete_context()
        gl._platform = gl._renderer = None  # its __del__ must not free anything again

    def __enter__(self) -> ViewRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _GreyRenderer(pyrender.Renderer):
    """pyrender's renderer with our shader (mesh.vert/mesh.frag: headlight, two-sided, no specular) and a
    read-back of the red channel only (the shader writes grey), skipping the depth buffer."""

    def __init__(self, width: int, height: int) -> None:
        super().__init__(width, height)
        self._program_cache = ShaderProgramCache(shader_dir=str(SHADER_DIR))

    def _read_main_framebuffer(self, scene: pyrender.Scene, flags: int) -> tuple[np.ndarray, None]:
        width, height = self._main_fb_dims
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._main_fb_ms)  # resolve the multisampled buffer
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._main_fb)
        GL.glBlitFramebuffer(0, 0, width, height, 0, 0, width, height, GL.GL_COLOR_BUFFER_BIT, GL.GL_LINEAR)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._main_fb)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        buf = GL.glReadPixels(0, 0, width, height, GL.GL_RED, GL.GL_UNSIGNED_BYTE)
        return np.frombuffer(buf, dtype=np.uint8).reshape(height, width)[::-1], None


def mesh_edges(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """The mesh's unique edges as line-segment end points (2E, 3) and a normal per end point (the normal
    of a face the edge belongs to, so the shader lights a line like the surface it bounds)."""
    f = mesh.faces
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    face_of = np.tile(np.arange(len(f)), 3)
    edges.sort(axis=1)
    edges, first = np.unique(edges, axis=0, return_index=True)
    normals = face_normals(mesh.vertices, f)[face_of[first]]
    return mesh.vertices[edges].reshape(-1, 3), np.repeat(normals, 2, axis=0)


def blank_views(views: np.ndarray) -> list[int]:
    """Indices of views without a single ink pixel."""
    return [k for k, view in enumerate(views) if not (view < INK).any()]
