"""The web application of `bwot serve`: one page to draw, upload or pick a sketch, and a small JSON API.

    GET  /                          the page (static/index.html, app.js, style.css: no build step)
    GET  /api/info                  the run, loss, distance, target counts, k
    GET  /api/tests                 the run's test sketches: [{id, class}]
    GET  /api/tests/{id}.png        a test sketch as the CNN sees it (upright, preprocessed)
    POST /api/search?k=10           body: an image file (the canvas as PNG, an upload) -> the hits
                                    (header X-Sketch-Name: what to call it in answers and errors)
    POST /api/search/test/{id}?k=   a test sketch (its preprocessed copy in the run) -> the hits
    GET  /api/thumbnails/{row}.png  a target's thumbnail (from the index)

Everything is served from this process: no CDN, no web fonts, no analytics, FastAPI's own /docs (which
loads Swagger UI from a CDN) switched off. A bad image is a 422 whose `detail` is one line naming the
problem. The HTTP guards (bwot.serve.http) answer only the allowed Host names, add security headers,
and bound every body in size and time. Queries that arrive together are answered as one batch, with the
same bits as one at a time (bwot.serve.batcher).
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.middleware.trustedhost import TrustedHostMiddleware

from bwot.datasets.manifest import read_manifest
from bwot.io import open_h5, read_strings
from bwot.query.retriever import QueryResult, Retriever
from bwot.serve.batcher import QueryBatcher
from bwot.serve.http import LOOPBACK_NAMES, SecurityHeaders, UploadAbandoned, peer, read_body, safe_text
from bwot.tiles import TILE_ROWS

STATIC = Path(__file__).with_name("static")
MAX_UPLOAD = 32 * 2**20  # bytes of an uploaded image
MAX_K = 100
BODY_TIMEOUT = 30.0  # seconds an upload may take
log = logging.getLogger("bwot.serve")


@dataclass
class TestSketches:
    """The run's test sketches that reached the sketch shards: id, class, and where their images are."""

    ids: list[str]
    classes: dict[str, str]
    where: dict[str, tuple[Path, int]]  # id -> (shard, row)

    @classmethod
    def of_run(cls, run_dir: Path) -> TestSketches:
        """From manifest/sketches.csv and sketches/test/shard-*.h5 (none when the run has neither).

        A shard left over from an earlier run with more shards is older than the current ones: where an
        id is in several shards, the newest shard's image is the one shown."""
        manifest = run_dir / "manifest" / "sketches.csv"
        if not manifest.is_file():
            return cls([], {}, {})
        table = read_manifest(manifest)
        table = table[table["split"] == "test"]
        where: dict[str, tuple[Path, int]] = {}
        shards = sorted((run_dir / "sketches" / "test").glob("shard-*.h5"), key=lambda p: p.stat().st_mtime)
        for shard in shards:
            with open_h5(shard) as f:
                where |= {sid: (shard, row) for row, sid in enumerate(read_strings(f["ids"]))}
        ids = [sid for sid in table["id"] if sid in where]
        return cls(ids, dict(zip(table["id"], table["class"], strict=True)), where)

    def image(self, sketch_id: str) -> np.ndarray:
        """The upright preprocessed copy (size, size) uint8 of a test sketch."""
        if sketch_id not in self.where:
            raise HTTPException(404, f"no test sketch '{sketch_id}' in this run")
        shard, row = self.where[sketch_id]
        with open_h5(shard) as f:
            return f["images"][row, 0]


def png(image: np.ndarray) -> bytes:
    """A (H, W) uint8 image as PNG bytes."""
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def create_app(
    retriever: Retriever,
    k: int = 10,
    *,
    hosts: Sequence[str] = LOOPBACK_NAMES,
    body_timeout: float = BODY_TIMEOUT,
    workers: int | None = None,
    max_batch: int = TILE_ROWS,
) -> FastAPI:
    """The application answering from `retriever` (k: the page's default number of models; hosts: the
    Host names it answers, bwot.serve.http.allowed_hosts; body_timeout: seconds an upload may take;
    workers: threads for the CNN passes of a batch; max_batch: queries answered together at most)."""
    app = FastAPI(title="bwot", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts), www_redirect=False)
    app.add_middleware(SecurityHeaders)  # outermost: on the Host refusals too
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    tests = TestSketches.of_run(retriever.run_dir)
    batcher = QueryBatcher(retriever, workers, max_batch)
    app.state.batcher = batcher

    def answer(result: QueryResult, truth: str | None) -> JSONResponse:
        """The hits as the page reads them (a JSONResponse as is: FastAPI has nothing to convert)."""
        sketch = base64.b64encode(png(result.image)).decode()
        hits = [
            hit.as_dict()
            | {
                "thumbnail": f"/api/thumbnails/{hit.row}.png",
                "correct": None if truth is None else hit.class_name == truth,
            }
            for hit in result.hits
        ]
        seen = f"data:image/png;base64,{sketch}"  # what the CNN saw
        return JSONResponse({"query": result.name, "class": truth, "sketch": seen, "results": hits})

    def check_k(value: int) -> int:
        if not 1 <= value <= MAX_K:
            raise HTTPException(422, f"k must be between 1 and {MAX_K}, got {value}")
        return value

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        retriever.refresh()
        return retriever.summary() | {
            "classes": len(retriever.index.classes),
            "test_sketches": len(tests.ids),
            "k": k,
            "max_k": MAX_K,
        }

    @app.get("/api/tests")
    def test_list() -> list[dict[str, str]]:
        return [{"id": sid, "class": tests.classes[sid]} for sid in tests.ids]

    @app.get("/api/tests/{sketch_id}.png")
    def test_image(sketch_id: str) -> Response:
        return Response(png(tests.image(sketch_id)), media_type="image/png")

    @app.post("/api/search", response_model=None)
    async def search(request: Request, k: int = k) -> Response:
        check_k(k)
        try:
            body = await read_body(request, MAX_UPLOAD, body_timeout)
        except UploadAbandoned as gone:
            log.info("%s: %s", peer(request.client), gone)
            return Response(status_code=400)  # nobody reads it
        name = safe_text(unquote(request.headers.get("x-sketch-name", "")) or "the drawing")
        return answer(await batcher.search_file(body, name, k), None)

    @app.post("/api/search/test/{sketch_id}", response_model=None)
    async def search_test(sketch_id: str, k: int = k) -> Response:
        check_k(k)
        image = await run_in_threadpool(tests.image, sketch_id)
        result = await batcher.search(image, sketch_id, k)
        return answer(result, tests.classes[sketch_id])

    @app.get("/api/thumbnails/{row}.png")
    def thumbnail(row: int) -> Response:
        index = retriever.index  # rows are only ever appended: a row stays the same target
        if not 0 <= row < len(index):
            raise HTTPException(404, f"no target row {row} (the index has {len(index)})")
        headers = {"Cache-Control": "max-age=3600"}
        return Response(png(index.thumbnails([row])[0]), media_type="image/png", headers=headers)

    @app.exception_handler(ValueError)
    async def bad_input(request: Request, err: ValueError) -> JSONResponse:
        return JSONResponse({"detail": safe_text(str(err), 1000)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, err: RequestValidationError) -> JSONResponse:
        """A parameter FastAPI could not read (k=abc, a row that is no number): one line too."""
        problems = [
            f"{e['loc'][-1]}: {e['msg']} ({safe_text(str(e.get('input')), 40)})" for e in err.errors()
        ]
        return JSONResponse({"detail": safe_text("; ".join(problems), 1000)}, status_code=422)

    return app
