"""Write a generated benchmark in the SHREC13 or SHREC14 layout (docs/datasets.md), .cla files included.

```
SHREC13: DIR/SHREC13_SBR_TRAINING_SKETCHES/SHREC13_SBR_TRAINING_SKETCHES/<class>/train/<id>.png
         DIR/SHREC13_SBR_TESTING_SKETCHES/<class>/test/<id>.png
         DIR/SHREC13_SBR_TARGET_MODELS/models/m<id>.off
         DIR/SHREC2013_Sketch_Evaluation/SHREC13_SBR_{Model,Sketch_Train,Sketch_Test}.cla
SHREC14: DIR/SHREC14LSSTB_SKETCHES/SHREC14LSSTB_SKETCHES/<class>/{train,test}/<id>.png
         DIR/SHREC14LSSTB_TARGET_MODELS/M<6 digits>.off
         DIR/SHREC14_SBR_{Model,Sketch_Train,Sketch_Test}.cla
both:    DIR/contact_sheet.png, DIR/builtin.json (which names the layout)
```

Every item has its own random generator, seeded by (seed, kind, class, index), so items can be made
in any order or in parallel and the same seed always gives byte-identical files. Sketches are drawn
from freshly sampled instances, never from the target models.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import trimesh

from bwot.datasets.layouts import SHREC13, SHREC14, ShrecSpec
from bwot.io import atomic_path
from bwot.synthetic.contact import ClassBlock
from bwot.synthetic.contact import contact_sheet as make_sheet
from bwot.synthetic.drawing import sketch
from bwot.synthetic.parts import pose
from bwot.synthetic.presets import ClassSpec, Preset, class_counts, class_specs, get_preset
from bwot.synthetic.shapes import PREFERRED_VIEWS, make_shape

log = logging.getLogger(__name__)

KIND = {"model": 0, "train": 1, "test": 2}
LAYOUTS = {spec.layout: spec for spec in (SHREC13, SHREC14)}


@dataclass(frozen=True)
class Item:
    """One file to generate: a target model or a sketch of a split."""

    kind: str  # model | train | test
    cls: int  # index into the class list
    index: int  # index within its class and kind
    id: str


def plan(
    seed: int, preset: str | Preset = "default", classes: int | None = None, scale: float = 1.0
) -> tuple[list[ClassSpec], list[Item]]:
    """The classes and every item of a benchmark at a fraction `scale` of every class's size; ids are unique
    across the dataset, as in SHREC (model ids of the SHREC14 layout zero-padded to 6 digits, as written)."""
    spec = get_preset(preset)
    specs = class_specs(spec, classes)
    counts = class_counts(spec, len(specs), seed, scale)
    items = []
    for kind in ("model", "sketch"):
        kinds = ["model"] if kind == "model" else ["train", "test"]
        slots = [(k, c, i) for k in kinds for c in range(len(specs)) for i in range(counts[k][c])]
        ids = np.random.default_rng([seed, 4, len(kinds)]).permutation(len(slots)) + 1
        width = 6 if kind == "model" and spec.layout == "shrec14" else 0
        items += [Item(k, c, i, f"{n:0{width}d}") for (k, c, i), n in zip(slots, ids.tolist(), strict=True)]
    return specs, items


def layout_spec(preset: str | Preset) -> ShrecSpec:
    """The SHREC layout a preset is written in."""
    return LAYOUTS[get_preset(preset).layout]


def item_path(root: Path, specs: list[ClassSpec], item: Item, layout: ShrecSpec = SHREC13) -> Path:
    """Where an item lives in `layout`."""
    if item.kind == "model":
        return root / layout.models_dir / layout.model_name(item.id)
    return root / layout.sketch_dirs[item.kind] / specs[item.cls].name / item.kind / f"{item.id}.png"


def _class_block(
    root: Path, specs: list[ClassSpec], items: list[Item], c: int, layout: ShrecSpec
) -> ClassBlock:
    """Class `c` on the contact sheet: its first target model and first two training sketches."""
    models = [i for i in items if i.kind == "model" and i.cls == c]
    sketches = [i for i in items if i.kind == "train" and i.cls == c][:2]
    return ClassBlock(
        specs[c].name,
        len(models),
        item_path(root, specs, models[0], layout),
        [item_path(root, specs, s, layout) for s in sketches],
    )


def item_rng(seed: int, item: Item) -> np.random.Generator:
    """The generator of one item: independent of every other item and of the generation order."""
    return np.random.default_rng([seed, KIND[item.kind], item.cls, item.index])


def make_model(spec: ClassSpec, rng: np.random.Generator) -> trimesh.Trimesh:
    """A target model: a fresh instance in a random pose (yaw, small tilt, scale, offset)."""
    return pose(make_shape(spec.builder, rng, spec.variant), rng)


def format_off(mesh: trimesh.Trimesh) -> str:
    """OFF text with fixed float formatting (deterministic)."""
    lines = [f"OFF\n{len(mesh.vertices)} {len(mesh.faces)} 0"]
    lines += [f"{x:.6f} {y:.6f} {z:.6f}" for x, y, z in mesh.vertices.tolist()]
    lines += [f"3 {a} {b} {c}" for a, b, c in mesh.faces.tolist()]
    return "\n".join(lines) + "\n"


def format_cla(classes: dict[str, list[str]]) -> str:
    """PSB .cla text: `PSB 1`, `<classes> <items>`, then per class `<name> 0 <count>` and its ids."""
    total = sum(len(ids) for ids in classes.values())
    blocks = [f"{name} 0 {len(ids)}\n" + "".join(f"{i}\n" for i in ids) for name, ids in classes.items()]
    return f"PSB 1\n{len(classes)} {total}\n\n" + "\n".join(blocks)


def _write_item(job: tuple[Path, int, list[ClassSpec], Item, int, str]) -> None:
    root, seed, specs, item, size, layout = job  # the layout by name: a ShrecSpec does not pickle
    path = item_path(root, specs, item, LAYOUTS[layout])
    rng = item_rng(seed, item)
    if item.kind == "model":
        mesh = make_model(specs[item.cls], rng)
        if not len(mesh.faces) or not np.isfinite(mesh.vertices).all():
            raise RuntimeError(
                f"synthetic benchmark: class '{specs[item.cls].name}' built an empty mesh ({path})"
            )
        path.write_text(format_off(mesh))
    else:
        spec = specs[item.cls]
        instance = make_shape(spec.builder, rng, spec.variant)
        sketch(instance, rng, size, PREFERRED_VIEWS.get(spec.base)).save(path, format="PNG")


def generate_dataset(
    out: str | Path,
    seed: int = 0,
    preset: str | Preset = "default",
    classes: int | None = None,
    sketch_size: int = 256,
    scale: float = 1.0,
    workers: int = 1,
    contact_sheet: bool = True,
) -> dict:
    """Generate the benchmark under `out` (written in a temporary folder, renamed when complete), in the
    preset's layout, at a fraction `scale` of every class's size.

    Returns the summary also written to `out/builtin.json`.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"synthetic benchmark: {out} exists and is not empty; remove it first")
    if out.exists():
        out.rmdir()
    specs, items = plan(seed, preset, classes, scale)
    layout = layout_spec(preset)
    start = time.perf_counter()
    with atomic_path(out) as tmp:
        tmp.mkdir()
        for item in items:  # folders first, so workers only write files
            item_path(tmp, specs, item, layout).parent.mkdir(parents=True, exist_ok=True)
        jobs = [(tmp, seed, specs, item, sketch_size, layout.layout) for item in items]
        _run(jobs, workers, start)
        by_kind = {k: {s.name: [] for s in specs} for k in KIND}
        for item in items:
            by_kind[item.kind][specs[item.cls].name].append(item.id)
        cla_dir = tmp / layout.cla_dirs[0]
        cla_dir.mkdir(parents=True, exist_ok=True)
        for kind, name in layout.cla_names.items():
            (cla_dir / name).write_text(format_cla(by_kind[kind]))
        elapsed = time.perf_counter() - start
        summary = {
            "generator": "bwot.synthetic",
            "seed": seed,
            "preset": get_preset(preset).name,
            "layout": layout.layout,
            "scale": scale,
            "sketch_size": sketch_size,
            "classes": [s.name for s in specs],
            "models": {n: len(v) for n, v in by_kind["model"].items()},
            "train_sketches": sum(len(v) for v in by_kind["train"].values()),
            "test_sketches": sum(len(v) for v in by_kind["test"].values()),
        }
        (tmp / "builtin.json").write_text(json.dumps(summary, indent=2) + "\n")
        if contact_sheet:
            sheet = make_sheet([_class_block(tmp, specs, items, c, layout) for c in range(len(specs))])
            sheet.save(tmp / "contact_sheet.png", format="PNG")
    log.info(
        "wrote %s: %d classes, %d models, %d train + %d test sketches in %.1f s (%.1f items/s)",
        out,
        len(specs),
        sum(summary["models"].values()),
        summary["train_sketches"],
        summary["test_sketches"],
        elapsed,
        len(items) / elapsed,
    )
    return summary


def _run(jobs: list, workers: int, start: float) -> None:
    """Write every item, in `workers` processes; log progress now and then."""
    every = max(1, len(jobs) // 10)
    if workers <= 1:
        for k, job in enumerate(jobs, 1):
            _write_item(job)
            if k % every == 0:
                log.info("%d/%d items (%.1f s)", k, len(jobs), time.perf_counter() - start)
        return
    with get_context("fork").Pool(workers) as pool:
        for k, _ in enumerate(pool.imap_unordered(_write_item, jobs, chunksize=8), 1):
            if k % every == 0:
                log.info("%d/%d items (%.1f s)", k, len(jobs), time.perf_counter() - start)
