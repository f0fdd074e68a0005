"""A small finished run in the pipeline's file formats, for `bwot query` and `bwot serve` tests: manifests,
a views shard pair (one target skipped upstream), a test sketch shard from real PNG files, an untrained
sketch CNN, a metric model, shape features and the retrieval index of loss `ot` built from them."""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw

from bwot.config import SketchesConfig
from bwot.features import build_backbone
from bwot.io import h5_writer, save_torch, set_attrs, write_strings
from bwot.metric import MetricNets, save_metric_model
from bwot.query import build_index
from bwot.sketches import preprocess_sketch

CLASSES = ["chair", "lamp", "table"]
SKETCHES = SketchesConfig(size=32, rotations=4, step_deg=90.0, thicken="never")
N_MODELS, SKIPPED = 9, "m4"  # m4 was skipped upstream (a bad mesh): no views, no embedding


def draw_sketch(path: Path, label: int, seed: int) -> Path:
    """A 200 px PNG line drawing whose shape depends on the class."""
    rng = np.random.default_rng(seed)
    img = Image.new("L", (200, 200), 255)
    draw = ImageDraw.Draw(img)
    x0, y0 = rng.integers(20, 60, 2)
    shapes = [
        lambda: draw.rectangle((x0, y0, x0 + 100, y0 + 110), outline=0, width=4),
        lambda: draw.ellipse((x0, y0, x0 + 120, y0 + 90), outline=0, width=4),
        lambda: draw.line((x0, y0, x0 + 110, y0 + 120, x0, y0 + 120), fill=0, width=4),
    ]
    shapes[label]()
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def make_run(root: Path) -> Path:
    """results/fake/ of a workflow folder `root`: manifests, views and test sketch shards, a sketch CNN,
    a metric model, shape features, and the retrieval index of loss `ot` built from them."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    run = root / "results" / "fake"
    # manifests: 9 models (m4 skipped), 6 test sketches drawn as PNGs (paths relative to `root`)
    models = pd.DataFrame(
        {"id": [f"m{i}" for i in range(N_MODELS)], "label": np.arange(N_MODELS) % 3}
    ).assign(**{"class": lambda t: [CLASSES[x] for x in t["label"]], "path": lambda t: "models/" + t["id"]})
    (run / "manifest").mkdir(parents=True)
    models[["id", "class", "label", "path"]].to_csv(run / "manifest" / "models.csv", index=False)
    (run / "manifest" / "classes.txt").write_text("".join(f"{c}\n" for c in CLASSES))
    tests = pd.DataFrame({"id": [f"t{i}" for i in range(6)], "label": np.arange(6) % 3, "split": "test"})
    tests["class"] = [CLASSES[x] for x in tests["label"]]
    tests["path"] = [f"data/{c}/test/{i}.png" for c, i in zip(tests["class"], tests["id"], strict=True)]
    for row in tests.itertuples():
        draw_sketch(root / row.path, row.label, seed=int(row.id[1:]))
    tests[["id", "class", "label", "split", "path"]].to_csv(run / "manifest" / "sketches.csv", index=False)
    # the sketch shard, as prepare_sketches writes it
    images = np.stack([preprocess_sketch(root / p, SKETCHES) for p in tests["path"]])
    with h5_writer(run / "sketches" / "test" / "shard-0.h5") as f:
        f["images"] = images
        write_strings(f, "ids", tests["id"])
        f["labels"] = tests["label"].to_numpy()
        set_attrs(f, {"rotations": 4, "step_deg": 90.0, "split": "test", "size": 32})
    # views shards (m4 in shard 0's skip report) and pooled shape features
    kept = models[models["id"] != SKIPPED]
    for shard, part in enumerate((kept.iloc[:4], kept.iloc[4:])):
        with h5_writer(run / "views" / f"shard-{shard}.h5") as f:
            f["images"] = rng.integers(0, 256, (len(part), 3, 24, 24), dtype=np.uint8)
            write_strings(f, "ids", part["id"])
            f["labels"] = part["label"].to_numpy()
        reason = [[SKIPPED, "models/m4", "no ink in any view"]] if shard == 0 else []
        pd.DataFrame(reason, columns=["id", "path", "reason"]).to_csv(
            run / "views" / f"shard-{shard}.skipped.csv", index=False
        )
    with h5_writer(run / "features" / "shapes.h5") as f:
        f["pooled"] = rng.normal(size=(len(kept), 512)).astype(np.float32)
        write_strings(f, "ids", kept["id"])
        f["labels"] = kept["label"].to_numpy()
    # an (untrained) sketch CNN in the checkpoint format of train_backbone, and a metric model
    net = build_backbone("resnet18", None, 3)
    ckpt = {"backbone": "resnet18", "layer": "avgpool", "input_size": 32, "num_classes": 3}
    save_torch(run / "backbone" / "sketches.pt", ckpt | {"state_dict": net.state_dict()})
    nets = MetricNets(512, 512, [32], [32], 8)
    save_metric_model(run / "metric" / "ot" / "seed-0" / "model.pt", nets, {"loss": "ot"})
    build_index(
        run / "index" / "ot.h5",
        metric_model=run / "metric" / "ot" / "seed-0" / "model.pt",
        backbone=run / "backbone" / "sketches.pt",
        shapes=run / "features" / "shapes.h5",
        views=sorted((run / "views").glob("shard-*.h5")),
        models_csv=run / "manifest" / "models.csv",
        classes_txt=run / "manifest" / "classes.txt",
        skipped_targets=sorted((run / "views").glob("shard-*.skipped.csv")),
        sketches=SKETCHES,
        view=1,
        seed=0,
    )
    return run


_BUILT: list[Path] = []  # the workflow folder of the run built once per test session


def copy_run(root: Path) -> Path:
    """results/fake/ of the workflow folder `root`: a copy of `make_run`'s run (and its sketch PNGs), built
    once per test session (building takes seconds, copying a fraction of one)."""
    if not _BUILT:
        built = Path(tempfile.mkdtemp(prefix="bwot-fake-run-"))
        atexit.register(shutil.rmtree, built, ignore_errors=True)
        logging.disable(logging.INFO)  # a handler of an earlier test may write to a closed stream
        try:
            make_run(built)
        finally:
            logging.disable(logging.NOTSET)
        _BUILT.append(built)
    shutil.copytree(_BUILT[0], root, dirs_exist_ok=True)
    return root / "results" / "fake"


def zip_bomb(path: Path, megabytes: int = 200) -> Path:
    """A zip of `megabytes` MB of zeros, deflated to a few hundred KB (written in 1 MB pieces)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("model/data/0", "w") as f:
        zeros = bytes(1 << 20)
        for _ in range(megabytes):
            f.write(zeros)
    return path
