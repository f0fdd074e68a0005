"""Benchmark of the sketch stage: sketches/s per core from 1111x1111 PNGs, 20 rotations each.

Generates SHREC-like sketches (smooth pen strokes, 2-6 px wide, on white; a third stored as RGBA with
the ink in the alpha channel, as some SHREC files are), then times, in this one process (one core):
decoding alone (libpng fast path and Pillow only), each step of the preprocessing, `preprocess_sketch`
per format, and `prepare_shard` end to end (HDF5 written: gzip and lzf on the mix, gzip per format).
Also times the HDF5 writing alone: h5py's gzip filter against chunks compressed by zlib-ng and written
with `write_direct_chunk` (same gzip-filtered dataset). Writes bench/out/sketches-<size>.json and prints a
Markdown table.

    .venv/bin/python bench/sketches/run.py [--n 60] [--size 64] [--repeat 3]
    .venv/bin/python bench/sketches/run.py --figure docs/img/sketch_rotations.png   # the README picture
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from bwot.config import SketchesConfig
from bwot.sketches import find_ink, load_grayscale, prepare_shard, preprocess_sketch
from bwot.sketches.normalise import normalise
from bwot.sketches.rotate import rotations
from bwot.sketches.shard import _write_item

OUT = Path(__file__).resolve().parents[1] / "out"
SIDE = 1111


def draw_sketch(rng: np.random.Generator, side: int = SIDE) -> Image.Image:
    """A line drawing like SHREC's: a few smooth strokes around one object, antialiased, on white."""
    big = Image.new("L", (side * 2, side * 2), 255)  # drawn at 2x, then reduced: antialiased strokes
    draw = ImageDraw.Draw(big)
    centre = rng.uniform(0.4, 0.6, 2) * side * 2
    radius = rng.uniform(0.25, 0.4) * side * 2
    for _ in range(rng.integers(4, 12)):
        t = np.linspace(0, 2 * np.pi * rng.uniform(0.2, 1.0), 120) + rng.uniform(0, 2 * np.pi)
        r = radius * rng.uniform(0.3, 1.0) * (1 + 0.15 * np.sin(rng.integers(2, 6) * t + rng.uniform(0, 6)))
        shift = rng.normal(0, radius * 0.3, 2)
        pts = np.stack([centre[0] + shift[0] + r * np.cos(t), centre[1] + shift[1] + r * np.sin(t)], 1)
        draw.line(
            [tuple(p) for p in pts],
            fill=int(rng.integers(0, 60)),
            width=int(rng.integers(2, 7)) * 2,
            joint="curve",
        )
    return big.reduce(2)


def make_pngs(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """n sketch PNGs in `folder`; every third one RGBA with the ink in alpha."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        img = draw_sketch(rng)
        if i % 3 == 2:
            alpha = Image.eval(img, lambda v: 255 - v)
            img = Image.merge("RGBA", [Image.new("L", img.size, 0)] * 3 + [alpha])
        path = folder / f"{i}.png"
        img.save(path)
        paths.append(path)
    return paths


def rates(fn, items: list, repeat: int) -> tuple[float, float, float]:
    """Items per second: (best wall-clock pass, sum of each item's best wall time, best CPU-time pass).

    The last two discount other processes on a shared machine: each item's best of `repeat` runs, and
    the process's own CPU time (time.process_time) instead of the wall clock.
    """
    best_pass, best_cpu, best_item = float("inf"), float("inf"), np.full(len(items), np.inf)
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        for i, item in enumerate(items):
            t0 = time.perf_counter()
            fn(item)
            best_item[i] = min(best_item[i], time.perf_counter() - t0)
        best_pass = min(best_pass, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    n = len(items)
    return n / best_pass, n / float(best_item.sum()), n / max(best_cpu, 1e-9)


def _write_shard_images(path: Path, images: list[np.ndarray], direct: bool) -> None:
    """The sketch shard's images dataset (one gzip-1 chunk a sketch), written through h5py's filter or,
    with `direct`, by prepare_shard's own writer (zlib-ng + write_direct_chunk)."""
    with h5py.File(path, "w") as f:
        dset = f.create_dataset(
            "images",
            (len(images), *images[0].shape),
            np.uint8,
            chunks=(1, *images[0].shape),
            compression="gzip",
            compression_opts=1,
        )
        for i, image in enumerate(images):
            if direct:
                _write_item(dset, i, image)
            else:
                dset[i] = image


def figure(path: Path, sketch: Path, size: int = 128) -> None:
    """The README picture: a real sketch as stored, and its 20 preprocessed rotations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = SketchesConfig(size=size)
    rotated = preprocess_sketch(sketch, cfg)
    fig = plt.figure(figsize=(13, 3.3))
    grid = fig.add_gridspec(2, 12, width_ratios=[2.2, 0.15] + [1] * 10, hspace=0.3, wspace=0.06)
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(np.asarray(Image.open(sketch).convert("L")), cmap="gray", vmin=0, vmax=255)
    ax.set_title(
        f"{sketch.parent.name}/{sketch.name}\n{Image.open(sketch).size[0]} px, as stored", fontsize=9
    )
    ax.axis("off")
    for k in range(cfg.rotations):
        ax = fig.add_subplot(grid[k // 10, 2 + k % 10])
        ax.imshow(rotated[k], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{k * cfg.step_deg:g}°", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"prepare_sketches: ink cropped, padded square, {size} px, 20 rotations of 18° (white corners)"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--figure", type=Path, help="only draw the README picture to this path")
    parser.add_argument("--sketch", type=Path, default=Path("../shared/data/real/sketches/camel/3211.png"))
    args = parser.parse_args()
    if args.figure:
        figure(args.figure, args.sketch)
        return
    cfg = SketchesConfig(size=args.size)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = make_pngs(folder, args.n)
        grays = [load_grayscale(p) for p in paths]
        inks = [find_ink(g) for g in grays]
        normed = [
            normalise(g, k, cfg.size, margin=cfg.margin, thicken=cfg.thicken, min_stroke=cfg.min_stroke)
            for g, k in zip(grays, inks, strict=True)
        ]
        gray_paths = [p for i, p in enumerate(paths) if i % 3 != 2]
        rgba_paths = [p for i, p in enumerate(paths) if i % 3 == 2]
        pillow = functools.partial(load_grayscale, fast_png=False)
        preprocess = functools.partial(preprocess_sketch, cfg=cfg)
        steps = {
            "decode, all": rates(load_grayscale, paths, args.repeat),
            "decode, grayscale PNGs": rates(load_grayscale, gray_paths, args.repeat),
            "decode, RGBA PNGs (alpha composited)": rates(load_grayscale, rgba_paths, args.repeat),
            "decode with Pillow only (before), all": rates(pillow, paths, args.repeat),
            "decode with Pillow only, grayscale PNGs": rates(pillow, gray_paths, args.repeat),
            "decode with Pillow only, RGBA PNGs": rates(pillow, rgba_paths, args.repeat),
            "find ink": rates(find_ink, grays, args.repeat),
            "normalise (crop, levels, thicken, resize)": rates(
                lambda gk: normalise(
                    *gk, cfg.size, margin=cfg.margin, thicken=cfg.thicken, min_stroke=cfg.min_stroke
                ),
                list(zip(grays, inks, strict=True)),
                args.repeat,
            ),
            "20 rotations": rates(lambda im: rotations(im, cfg.rotations, cfg.step_deg), normed, args.repeat),
            "preprocess_sketch (all of the above), all": rates(preprocess, paths, args.repeat),
            "preprocess_sketch, grayscale PNGs": rates(preprocess, gray_paths, args.repeat),
            "preprocess_sketch, RGBA PNGs": rates(preprocess, rgba_paths, args.repeat),
        }
        rotated = [preprocess(p) for p in paths]
        for label, direct in (("h5py gzip 1", False), ("zlib-ng 1, write_direct_chunk", True)):
            whole, _, cpu = rates(
                lambda _, d=direct: _write_shard_images(folder / "w.h5", rotated, d), [None], args.repeat
            )
            steps[f"HDF5 writing alone: {label}"] = (whole * args.n, float("nan"), cpu * args.n)
        for name, comp, subset in (
            ("all", "gzip", paths),
            ("all", "lzf", paths),
            ("grayscale PNGs", "gzip", gray_paths),
            ("RGBA PNGs", "gzip", rgba_paths),
        ):
            manifest = folder / f"sketches-{len(subset)}.csv"
            rows = [(str(i), "c", 0, "train", str(p)) for i, p in enumerate(subset)]
            pd.DataFrame(rows, columns=["id", "class", "label", "split", "path"]).to_csv(
                manifest, index=False
            )
            shard_cfg = SketchesConfig(size=args.size, shards=1, compression=comp)
            out = folder / f"shard-{comp}.h5"

            def run(
                _: object, shard_cfg: SketchesConfig = shard_cfg, out: Path = out, m: Path = manifest
            ) -> None:
                prepare_shard(m, out, folder / "skipped.csv", split="train", shard=0, cfg=shard_cfg)

            whole, _, cpu = rates(run, [None], args.repeat)
            steps[f"prepare_shard end to end, {comp}, {name}"] = (
                whole * len(subset),
                float("nan"),
                cpu * len(subset),
            )
    result = {
        "n": args.n,
        "size": args.size,
        "source": f"{SIDE}x{SIDE} PNG (1/3 RGBA)",
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "sketches_per_s_per_core": {
            k: {"wall_best_pass": a, "wall_per_item_best": None if np.isnan(b) else b, "cpu_time": c}
            for k, (a, b, c) in steps.items()
        },
    }
    OUT.mkdir(exist_ok=True)
    (OUT / f"sketches-{args.size}.json").write_text(json.dumps(result, indent=2) + "\n")
    head = f"{args.n} sketches {SIDE}x{SIDE} -> 20 x {args.size}x{args.size}"
    print(f"| step ({head}), sketches/s per core | wall, best pass | wall, per-item best | CPU time |")
    print("|---|---:|---:|---:|")
    for name, (whole, item, cpu) in steps.items():
        print(f"| {name} | {whole:.0f} | {'' if np.isnan(item) else f'{item:.0f}'} | {cpu:.0f} |")


if __name__ == "__main__":
    main()
