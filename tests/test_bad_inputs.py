"""One corpus of hostile and unusual inputs, each through the command a user runs (`bwot ...`).

Every bad input must: end with exit status 1 (never a traceback), name the file (or the config key) and
the reason on stderr, and leave no finished-looking output behind. Every valid but unusual input must
simply work. The cases are built in a temporary folder from a few real files (../shared/data/real).
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from fake_run import copy_run, zip_bomb
from PIL import Image

from bwot.cli import main
from bwot.datasets import format_cla
from bwot.datasets.layouts import SHREC13
from bwot.io import write_strings
from bwot.metric import MetricNets, save_metric_model
from bwot.query.index import sha256

# ----------------------------------------------------------------------------------------- builders

TET_V = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
TET_F = [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]


def off_text(vertices, faces, counts: tuple[int, int] | None = None) -> str:
    nv, nf = counts or (len(vertices), len(faces))
    lines = ["OFF", f"{nv} {nf} 0", *(" ".join(repr(float(c)) for c in v) for v in vertices)]
    lines += [" ".join(str(i) for i in [len(f), *f]) for f in faces]
    return "\n".join(lines) + "\n"


def png_with_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR announces width x height (0 allowed), with one empty IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b""))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def sketch_image(size: int = 120) -> np.ndarray:
    """A white image with a dark rectangle outline and a diagonal: a sketch with some ink."""
    img = np.full((size, size), 255, np.uint8)
    img[20:100, 20:23] = img[20:100, 97:100] = img[20:23, 20:100] = img[97:100, 20:100] = 0
    for i in range(20, 100):
        img[i, i : i + 3] = 0
    return img


@dataclass
class Case:
    """A command and what must come of it."""

    argv: list[str]
    status: int = 1
    says: list[str] = field(default_factory=list)  # substrings of stderr (file or key, and the reason)
    not_left: list[Path] = field(default_factory=list)  # outputs that must not exist afterwards
    made: list[Path] = field(default_factory=list)  # outputs that must exist (valid inputs)


def _render_case(
    tmp: Path, name: str, content: bytes | str | None, reason: str, suffix: str = ".off"
) -> Case:
    mesh = tmp / f"{name}{suffix}"
    if content is not None:
        mesh.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp / "models.csv").write_text(f"id,class,label,path\n{name},c,0,{mesh}\n")
    out = tmp / "views.h5"
    argv = ["render", "shard", "--models", str(tmp / "models.csv"), "--out", str(out), "--size", "32"]
    return Case(argv, says=[str(mesh), reason], not_left=[out])


def _sketch_case(tmp: Path, name: str, make: Callable[[Path], None], reason: str) -> Case:
    path = tmp / name
    make(path)
    (tmp / "sketches.csv").write_text(f"id,class,label,split,path\ns1,c,0,train,{path}\n")
    out = tmp / "train.h5"
    argv = ["sketches", str(tmp / "sketches.csv"), "--split", "train", "--out", str(out), "--size", "32"]
    return Case(argv, says=[str(path), reason], not_left=[out])


def _shrec_root(tmp: Path, models=None, train=None, test=None) -> Path:
    """A small SHREC'13 tree with real-looking files (meshes and sketches are only touched by index)."""
    models = models if models is not None else {"chair": ["1", "2"], "table": ["3"]}
    train = train if train is not None else {"chair": ["10", "11"], "table": ["12"]}
    test = test if test is not None else {"chair": ["20"], "table": ["21"]}
    root = tmp / "shrec"
    for which, classes in (("model", models), ("train", train), ("test", test)):
        path = root / SHREC13.cla_dirs[0] / SHREC13.cla_names[which]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(format_cla(classes))
    for ids in models.values():
        for i in (i for i in ids if "/" not in i):  # an id with a path has no file to write
            (root / SHREC13.models_dir).mkdir(parents=True, exist_ok=True)
            (root / SHREC13.models_dir / SHREC13.model_name(i)).write_text(off_text(TET_V, TET_F))
    for split, classes in (("train", train), ("test", test)):
        for cls, ids in classes.items():
            for i in ids:
                folder = root / SHREC13.sketch_dirs[split] / cls / split
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{i}.png").write_bytes(b"")
    for split in ("train", "test"):
        (root / SHREC13.sketch_dirs[split]).mkdir(parents=True, exist_ok=True)
    return root


def _index_case(
    tmp: Path, reason: str, which: str | None = None, text: str | bytes | None = None, **kw
) -> Case:
    root = _shrec_root(tmp, **kw)
    cla = root / SHREC13.cla_dirs[0] / SHREC13.cla_names[which or "model"]
    if text is not None:
        cla.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp / "manifest"
    argv = ["index", "shrec13", str(root), "--out", str(out)]
    return Case(argv, says=[str(cla), reason], not_left=[out / "models.csv"])


def _config_case(tmp: Path, text: str, says: list[str]) -> Case:
    path = tmp / "my.yaml"
    path.write_text(text)
    named = ("unknown", "not of type", "allowed", "YAML", "mapping")
    where = [str(path)] if any(word in says[0] or word in says[-1] for word in named) else []
    return Case(["config", str(path), "--check"], says=[*says, *where])


def _config_files_case(tmp: Path, files: list[str | Path], says: list[str]) -> Case:
    """`bwot config FILES --check`: a str is a config's text (written to tmp/1.yaml, tmp/2.yaml, ...), a
    Path is given as it is (a FIFO, a device, a folder); stderr names the first file and says `says`."""
    paths = []
    for i, item in enumerate(files, 1):
        if isinstance(item, str):
            (tmp / f"{i}.yaml").write_text(item)
            item = tmp / f"{i}.yaml"
        paths.append(item)
    return Case(["config", *map(str, paths), "--check"], says=[str(paths[0]), *says])


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _alias_bomb(levels: int) -> str:
    """A "billion laughs" of a few hundred bytes: 9**levels x's once its aliases are expanded."""
    names = "abcdefghijkl"
    lines = ["dataset: builtin", "a: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [f"{names[i]}: &{names[i]} [{', '.join([f'*{names[i - 1]}'] * 9)}]" for i in range(1, levels)]
    return "\n".join([*lines, f"name: *{names[levels - 1]}"]) + "\n"


class Evil:
    """A pickle that would run a command when loaded without weights_only."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/bwot-pwned",))


def _evil(path: Path) -> Path:
    torch.save({"state_dict": Evil()}, path)
    return path


def _features(tmp: Path, dim: int = 6) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    with h5py.File(tmp / "shapes.h5", "w") as f:
        f["pooled"] = rng.normal(size=(6, dim)).astype(np.float32)
        write_strings(f, "ids", [str(i) for i in range(6)])
        f["labels"] = np.arange(6) % 2
    with h5py.File(tmp / "sketches.h5", "w") as f:
        f["features"] = rng.normal(size=(4, 2, dim)).astype(np.float32)
        write_strings(f, "ids", [f"s{i}" for i in range(4)])
        write_strings(f, "splits", ["train", "train", "test", "test"])
        f["labels"] = np.arange(4) % 2
    return tmp / "sketches.h5", tmp / "shapes.h5"


def _evaluate_case(tmp: Path, model: Path | None = None, truncate: str | None = None) -> Case:
    sketches, shapes = _features(tmp)
    if model is None:
        model = tmp / "model.pt"
        save_metric_model(model, MetricNets(6, 6, [8], [8], 4), {"loss": "ot"})
    if truncate:
        path = tmp / f"{truncate}.h5"
        path.write_bytes(path.read_bytes()[:1500])
    out = tmp / "eval"
    argv = ["evaluate", str(model), str(sketches), str(shapes), "--out", str(out)]
    return Case(argv, not_left=[out / "metrics.json"])


# ---------------------------------------------------------------------------------------- the corpus


def _off_of(real: Path, lines: int) -> str:
    return "\n".join((real / "meshes" / "m423.off").read_text().splitlines()[:lines]) + "\n"


def _missing_cla(tmp: Path) -> Case:
    root = _shrec_root(tmp)
    (root / SHREC13.cla_dirs[0] / SHREC13.cla_names["test"]).unlink()
    out = tmp / "out"
    return Case(
        ["index", "shrec13", str(root), "--out", str(out)],
        says=["SHREC13_SBR_Sketch_Test.cla not found", str(root)],
        not_left=[out / "models.csv"],
    )


def _evaluate_bad_model(tmp: Path, make: Callable[[Path], Path], says: list[str]) -> Case:
    model = make(tmp / "model.pt")
    case = _evaluate_case(tmp, model=model)
    case.says = [str(model), *says]
    return case


def _junk(path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04 not really a zip")
    return path


def _evaluate_truncated(tmp: Path, what: str) -> Case:
    case = _evaluate_case(tmp, truncate=what)
    case.says = [str(tmp / f"{what}.h5"), "not a readable HDF5 file (truncated file"]
    return case


def _query_case(tmp: Path, damage: Callable[[Path], Path | None], says: list[str]) -> Case:
    """`bwot query` of a test sketch on a copy of a finished run (tests/fake_run.py) whose retrieval index
    (or a model it names) `damage` spoiled; stderr names the file `damage` returns (default: the index)."""
    run = copy_run(tmp)
    index = run / "index" / "ot.h5"
    named = damage(index) or index
    sketch = tmp / "data" / "chair" / "test" / "t0.png"
    return Case(["query", str(sketch), "--run", str(run)], says=[str(named), *says])


def _put(name: str, where: tuple | int, value: object) -> Callable[[Path], None]:
    """A damage: `name`[where] = value in the index."""

    def damage(index: Path) -> None:
        with h5py.File(index, "r+") as f:
            f[name][where] = value

    return damage


def _replace(name: str, make: Callable[[np.ndarray], np.ndarray] | None) -> Callable[[Path], None]:
    """A damage: the index's dataset `name` replaced by make(its values), or deleted (make None)."""

    def damage(index: Path) -> None:
        with h5py.File(index, "r+") as f:
            values = f[name][()]
            del f[name]
            if make is not None:
                f[name] = make(values)

    return damage


def _attr(key: str, value: str | None) -> Callable[[Path], None]:
    """A damage: the index's attribute `key` set to `value`, or deleted (None)."""

    def damage(index: Path) -> None:
        with h5py.File(index, "r+") as f:
            if value is None:
                del f.attrs[key]
            else:
                f.attrs[key] = value

    return damage


def _swap_model(make: Callable[[Path], object]) -> Callable[[Path], Path]:
    """A damage: the metric model the index names rewritten by `make`, the index's checksum edited to match
    (as if the index had been built with it); the model file is named."""

    def damage(index: Path) -> Path:
        with h5py.File(index, "r+") as f:
            model = (index.parent / f.attrs["metric_model"]).resolve()
            make(model)
            f.attrs["metric_model_sha256"] = sha256(model)
        return model

    return damage


def _backbone_elsewhere(index: Path) -> None:
    """A damage: the index names a real copy of its backbone outside the run folder (checksum right)."""
    run = index.parent.parent
    elsewhere = run.parent / "elsewhere" / "backbone.pt"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes((run / "backbone" / "sketches.pt").read_bytes())
    _attr("backbone", os.path.relpath(elsewhere, index.parent))(index)


def _index_folder(index: Path) -> None:
    index.unlink()
    index.mkdir()


def _metric(sketch_dim: int, loss: str) -> Callable[[Path], None]:
    return lambda p: save_metric_model(p, MetricNets(sketch_dim, 512, [32], [32], 8), {"loss": loss})


# name -> a builder of the case in its own empty folder (tmp) from the real files (real)
CASES: dict[str, Callable[[Path, Path], Case]] = {
    # meshes, through `bwot render shard`
    "mesh: empty file": lambda t, r: _render_case(t, "empty", b"", "not an OFF file"),
    "mesh: truncated": lambda t, r: _render_case(t, "trunc", _off_of(r, 40), "truncated file"),
    "mesh: NaN": lambda t, r: _render_case(
        t, "nan", off_text([*TET_V[:3], [math.nan, 0, 1]], TET_F), "NaN or inf"
    ),
    "mesh: inf": lambda t, r: _render_case(
        t, "inf", off_text([*TET_V[:3], [0, math.inf, 1]], TET_F), "NaN or inf"
    ),
    "mesh: index out of range": lambda t, r: _render_case(
        t, "idx", off_text(TET_V, [*TET_F, [0, 1, 9]]), "face indices outside"
    ),
    "mesh: degenerate only": lambda t, r: _render_case(
        t, "degen", off_text(TET_V, [[0, 0, 1], [1, 2, 2]]), "degenerate"
    ),
    "mesh: binary garbage": lambda t, r: _render_case(t, "garbage", bytes(range(256)) * 8, "not an OFF file"),
    "mesh: non-UTF-8 header": lambda t, r: _render_case(
        t, "latin", b"OFF\xe9\xff\n3 1 0\n0 0 0\n1 0 0\n", "not an OFF file|truncated"
    ),
    "mesh: no faces": lambda t, r: _render_case(t, "nofaces", off_text(TET_V, []), "no faces"),
    "mesh: missing file": lambda t, r: _render_case(t, "gone", None, "file not found"),
    # sketches, through `bwot sketches`
    "sketch: zero-byte": lambda t, r: _sketch_case(t, "zero.png", lambda p: p.write_bytes(b""), "empty file"),
    "sketch: truncated": lambda t, r: _sketch_case(
        t, "trunc.png", lambda p: p.write_bytes(_png(sketch_image())[:300]), "truncated or corrupt"
    ),
    "sketch: decompression bomb": lambda t, r: _sketch_case(
        t, "bomb.png", lambda p: p.write_bytes(png_with_header(40000, 40000)), "decompression bomb"
    ),
    "sketch: blank": lambda t, r: _sketch_case(
        t, "blank.png", lambda p: Image.new("L", (60, 60), 255).save(p), "no ink"
    ),
    "sketch: GIF named .png": lambda t, r: _sketch_case(
        t,
        "gif.png",
        lambda p: Image.fromarray(sketch_image()).save(p, format="GIF"),
        "unsupported format GIF",
    ),
    "sketch: TIFF named .png": lambda t, r: _sketch_case(
        t,
        "tiff.png",
        lambda p: Image.fromarray(sketch_image()).save(p, format="TIFF"),
        "unsupported format TIFF",
    ),
    "sketch: 1x1": lambda t, r: _sketch_case(
        t, "one.png", lambda p: Image.new("L", (1, 1), 0).save(p), "image too small for a sketch (1x1"
    ),
    "sketch: zero-size header": lambda t, r: _sketch_case(
        t, "zerosize.png", lambda p: p.write_bytes(png_with_header(0, 0)), "zero-size image"
    ),
    "sketch: a FIFO (no writer: an open would block)": lambda t, r: _sketch_case(
        t, "pipe.png", os.mkfifo, "not a regular file (a pipe or FIFO)"
    ),
    "sketch: a folder named .png": lambda t, r: _sketch_case(
        t, "dir.png", Path.mkdir, "not a regular file (a directory)"
    ),
    "sketch: 12x12 with ink": lambda t, r: _sketch_case(
        t,
        "small.png",
        lambda p: Image.fromarray(sketch_image()[::10, ::10]).save(p),
        "too small for a sketch (12x12",
    ),
    # .cla files, through `bwot index shrec13`
    "cla: count mismatch": lambda t, r: _index_case(
        t, "'chair' declares 3 ids but lists 2", text="PSB 1\n2 4\n\nchair 0 3\n1\n2\n\ntable 0 1\n3\n"
    ),
    "cla: duplicate id": lambda t, r: _index_case(
        t, "'1' appears 2 times", models={"chair": ["1", "1"], "table": ["3"]}
    ),
    "cla: id with a path": lambda t, r: _index_case(
        t, "'../x' (class 'table')", models={"chair": ["1", "2"], "table": ["../x"]}
    ),
    "cla: class with a path": lambda t, r: _index_case(
        t,
        "line 8: class name '../../../../elsewhere' is not a plain name",
        text="PSB 1\n2 3\n\nchair 0 2\n1\n2\n\n../../../../elsewhere 0 1\n3\n",
    ),
    "cla: id in two classes": lambda t, r: _index_case(
        t, "'2' appears 2 times", models={"chair": ["1", "2"], "table": ["2"]}
    ),
    "cla: sketch class with no models": lambda t, r: _index_case(
        t,
        "sketch class absent from the model classes",
        which="train",
        train={"chair": ["10"], "sofa": ["12"]},
    ),
    "cla: empty class": lambda t, r: _index_case(t, "empty class", models={"chair": ["1", "2"], "table": []}),
    "cla: non-UTF-8": lambda t, r: _index_case(
        t, "cannot read classification file", text=b"PSB 1\n1 1\n\nch\xe9\xff 0 1\n1\n"
    ),
    "cla: bad magic": lambda t, r: _index_case(t, "not a PSB .cla file", text="PSX 2\n1 1\n\nchair 0 1\n1\n"),
    "cla: missing file": lambda t, r: _missing_cla(t),
    # configs, through `bwot config FILE --check` (the checks the workflow makes before any job)
    "config: unknown key": lambda t, r: _config_case(
        t,
        "dataset: builtin\nrender:\n  sise: 32\n",
        ["unknown key 'render.sise'", "did you mean 'render.size'"],
    ),
    "config: wrong type": lambda t, r: _config_case(
        t, "dataset: builtin\nmetric:\n  steps: many\n", ["'metric.steps'", "'many' is not of type 'integer'"]
    ),
    "config: a float for an integer": lambda t, r: _config_case(
        t,
        "dataset: builtin\nfeatures:\n  epochs: 30.0\n",
        ["'features.epochs'", "30.0 is not of type 'integer'"],
    ),
    "config: not YAML": lambda t, r: _config_case(t, "dataset: [builtin\n", ["not a readable YAML file"]),
    "config: a list, not a mapping": lambda t, r: _config_case(
        t, "- dataset\n- builtin\n", ["holds a mapping of keys, not a list"]
    ),
    "config: name .": lambda t, r: _config_case(
        t, "dataset: builtin\nname: .\n", ["'name'", "'.' is not allowed"]
    ),
    "config: name ..": lambda t, r: _config_case(
        t, "dataset: builtin\nname: ..\n", ["'name'", "'..' is not allowed"]
    ),
    "config: missing data_dir": lambda t, r: _config_case(
        t, "dataset: shrec13\n", ["data_dir is not set", "dataset 'shrec13' needs it"]
    ),
    "config: empty data_dir": lambda t, r: _config_case(
        t, "dataset: shrec14\ndata_dir: ''\n", ["data_dir is not set"]
    ),
    "config: data_dir that is not there": lambda t, r: _config_case(
        t, "dataset: folder\ndata_dir: /nowhere/at/all\n", ["data_dir '/nowhere/at/all' does not exist"]
    ),
    "config: alias bomb": lambda t, r: _config_files_case(
        t, [_alias_bomb(9)], ["expands to 926177117 nodes", "it looks like an alias bomb"]
    ),
    "config: deeper alias bomb": lambda t, r: _config_files_case(
        t, [_alias_bomb(10)], ["expands to 8335593970 nodes", "it looks like an alias bomb"]
    ),
    "config: recursive alias": lambda t, r: _config_files_case(
        t, ["dataset: builtin\nname: &n [*n]\n"], ["an alias refers to the node that contains it"]
    ),
    "config: /dev/zero": lambda t, r: _config_files_case(
        t, [Path("/dev/zero")], ["not a regular file (a character device)"]
    ),
    "config: FIFO": lambda t, r: _config_files_case(
        t, [_fifo(t / "fifo.yaml")], ["not a regular file (a pipe or FIFO): write the config to a file"]
    ),
    "config: a folder": lambda t, r: _config_files_case(t, [t], ["not a regular file (a directory)"]),
    "config: 2 MiB of comments": lambda t, r: _config_files_case(
        t, ["dataset: builtin\n" + ("#" * 1023 + "\n") * 2048], ["larger than 1048576 bytes"]
    ),
    "config: NaN": lambda t, r: _config_files_case(
        t,
        ["dataset: builtin\nmetric:\n  lamb: .nan\n"],
        [f"'metric.lamb' (in {t / '1.yaml'}): nan is not a finite number"],
    ),
    "config: inf": lambda t, r: _config_files_case(
        t,
        ["dataset: builtin\nsketches:\n  step_deg: .inf\n"],
        [f"'sketches.step_deg' (in {t / '1.yaml'}): inf is not a finite number"],
    ),
    "config: -inf": lambda t, r: _config_files_case(
        t,
        ["dataset: builtin\nmetric:\n  margin: -.inf\n"],
        [f"'metric.margin' (in {t / '1.yaml'}): -inf is not a finite number"],
    ),
    "config: NaN in a sweep": lambda t, r: _config_files_case(
        t,
        ["dataset: builtin\nsweep:\n  gamma: [1.0, .nan]\n"],
        [f"'sweep.gamma.1' (in {t / '1.yaml'}): nan is not a finite number"],
    ),
    "config: seed 2^32": lambda t, r: _config_files_case(
        t,
        ["dataset: builtin\nseed: 4294967296\n"],
        [f"'seed' (in {t / '1.yaml'}): 4294967296 is greater than the maximum of 4294967295"],
    ),
    "config: 30-digit seed": lambda t, r: _config_files_case(
        t,
        ["dataset: builtin\nseed: 123456789012345678901234567890\n"],
        [f"'seed' (in {t / '1.yaml'}): 123456789012345678901234567890 is greater than the maximum"],
    ),
    "config: metric seed too big": lambda t, r: _config_files_case(
        t,
        ["dataset: builtin\nmetric:\n  seeds: [1, 4294967296]\n"],
        [f"'metric.seeds.1' (in {t / '1.yaml'}): 4294967296 is greater than the maximum of 4294967295"],
    ),
    "config: a section as a value, then as keys": lambda t, r: _config_files_case(
        t,
        ["dataset: builtin\nmetric: 5\n", "metric: {steps: 3}\n"],
        [f"'metric' in {t / '1.yaml'} is an integer, not a mapping of keys (as {t / '2.yaml'} gives it)"],
    ),
    "config: a section as a value": lambda t, r: _config_files_case(
        t,
        ["dataset: builtin\nrender: 64\n"],
        [f"'render' (in {t / '1.yaml'}): 64 is an integer, not a mapping of keys"],
    ),
    "config: a bad list item names its file": lambda t, r: _config_files_case(
        t,
        ["dataset: builtin\nmetric:\n  losses: [ot, no-such-loss]\n"],
        [f"'metric.losses.1' (in {t / '1.yaml'}): 'no-such-loss' is not one of"],
    ),
    "config: a bad sweep value names its file": lambda t, r: _config_files_case(
        t,
        ["sweep:\n  lamb: [3.0, -1.0]\n", "dataset: builtin\n"],
        [f"'sweep.lamb.1' (in {t / '1.yaml'}): -1.0 is less than or equal to the minimum of 0"],
    ),
    "config: a sweep of 1001 values": lambda t, r: _config_files_case(
        t,
        ["dataset: builtin\nsweep:\n  lamb: [" + ", ".join(f"{i}.5" for i in range(1001)) + "]\n"],
        [f"'sweep.lamb' (in {t / '1.yaml'}): 1001 values, more than 1000"],
    ),
    # retrieval indexes and models, through `bwot query`
    "index: NaN embedding": lambda t, r: _query_case(
        t, _put("embeddings", (2, 0), math.nan), ["embeddings not finite (NaN or inf) for 1 of 8 targets: m2"]
    ),
    "index: +inf embedding": lambda t, r: _query_case(
        t, _put("embeddings", (5, 3), math.inf), ["not finite (NaN or inf) for 1 of 8 targets: m6"]
    ),
    "index: -inf embedding": lambda t, r: _query_case(
        t, _put("embeddings", 0, -math.inf), ["not finite (NaN or inf) for 1 of 8 targets: m0"]
    ),
    "index: label -5": lambda t, r: _query_case(
        t, _put("labels", 1, -5), ["labels outside 0..2 (the 3 classes)", "m1 (label -5)"]
    ),
    "index: label 999": lambda t, r: _query_case(
        t, _put("labels", 6, 999), ["labels outside 0..2", "m7 (label 999)"]
    ),
    "index: embeddings one column short": lambda t, r: _query_case(
        t, _replace("embeddings", lambda e: e[:, :-1]), ["embeds to 8 dimensions, the index's targets have 7"]
    ),
    "index: duplicate id": lambda t, r: _query_case(t, _put("ids", 3, "m0"), ["ids repeated: m0"]),
    "index: empty id": lambda t, r: _query_case(t, _put("ids", 3, ""), ["empty ids for 1 of 8 targets"]),
    "index: unknown distance": lambda t, r: _query_case(
        t, _attr("distance", "manhattan"), ["unknown distance 'manhattan' (expected one of euclidean"]
    ),
    "index: no thumbnails": lambda t, r: _query_case(
        t, _replace("thumbnails", None), ["damaged retrieval index", "no 'thumbnails' dataset"]
    ),
    "index: thumbnails of the wrong shape": lambda t, r: _query_case(
        t,
        _replace("thumbnails", lambda x: x[:, :32, :32]),
        ["thumbnails must be (8, 96, 96) uint8, not uint8 (8, 32, 32)"],
    ),
    "index: no skipped_ids": lambda t, r: _query_case(t, _replace("skipped_ids", None), ["no 'skipped_ids'"]),
    "index: no format attribute": lambda t, r: _query_case(
        t, _attr("format", None), ["not a bwot retrieval index"]
    ),
    "index: a folder": lambda t, r: _query_case(t, _index_folder, ["a folder, not a retrieval index file"]),
    "index: backbone outside the run": lambda t, r: _query_case(
        t,
        _backbone_elsewhere,
        ["refused: its backbone '../../elsewhere/backbone.pt'", "outside the run folder"],
    ),
    "index: metric model of another loss": lambda t, r: _query_case(
        t,
        _swap_model(_metric(512, "contrastive")),
        ["does not fit", "trained with loss 'contrastive', the index is of loss 'ot'"],
    ),
    "index: metric model for other features": lambda t, r: _query_case(
        t,
        _swap_model(_metric(256, "ot")),
        ["takes sketch features of 256 dimensions, the backbone gives 512"],
    ),
    "index: random bytes as the metric model": lambda t, r: _query_case(
        t,
        _swap_model(lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096))),
        ["not a bwot metric model: unreadable or corrupt"],
    ),
    "index: zip bomb as the metric model": lambda t, r: _query_case(
        t, _swap_model(zip_bomb), ["refused", "zip bomb", "declare 209715200 bytes uncompressed"]
    ),
    # checkpoints and features given to `bwot evaluate`
    "checkpoint: malicious pickle as the model": lambda t, r: _evaluate_bad_model(
        t, _evil, ["refused", "could run code"]
    ),
    "checkpoint: corrupt model file": lambda t, r: _evaluate_bad_model(t, _junk, ["unreadable or corrupt"]),
    "hdf5: truncated sketches features": lambda t, r: _evaluate_truncated(t, "sketches"),
    "hdf5: truncated shapes features": lambda t, r: _evaluate_truncated(t, "shapes"),
}


def _png(image: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_naming_the_file_and_the_reason(name, tmp_path, real_data, capsys):
    case = CASES[name](tmp_path, real_data)
    status = main(case.argv)
    err = capsys.readouterr().err
    assert status == case.status, err
    assert "Traceback" not in err
    for text in case.says:
        if "|" in text:
            assert any(t in err for t in text.split("|")), (text, err)
        else:
            assert text in err, (text, err)
    assert not Path("/tmp/bwot-pwned").exists()  # no pickle a case built ran
    for path in case.not_left:
        assert not path.exists(), path
        leftovers = [p for p in path.parent.glob(f".{path.name}.tmp-*")] if path.parent.exists() else []
        assert not leftovers, leftovers


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 35


# ------------------------------------------------------------------------ checkpoints in the library


def test_malicious_pickle_as_backbone_weights_is_refused(tmp_path):
    from bwot.features.backbones import load_pretrained
    from bwot.io import CheckpointError

    evil = _evil(tmp_path / "weights.pth")
    with pytest.raises(CheckpointError) as err:
        load_pretrained("resnet18", str(evil))
    message = str(err.value)
    assert str(evil) in message and "refused" in message and "weights_only" not in message
    assert not Path("/tmp/bwot-pwned").exists()


def test_poisoned_training_checkpoint_is_set_aside_and_training_starts_afresh(tmp_path, caplog):
    from bwot.metric import train_metric

    sketches, shapes = _features(tmp_path, dim=6)
    ckpt_dir = tmp_path / "checkpoints"
    ckpt_dir.mkdir()
    _evil(ckpt_dir / "checkpoint.pt")
    cfg = {"device": "cpu", "sketch_widths": [8], "shape_widths": [8], "out_dim": 4, "batch_size": 2}
    cfg |= {"steps": 4, "val_every": 2, "checkpoint_every": 2}  # checkpoints/ is removed at the end
    train_metric(shapes, sketches, tmp_path / "model.pt", tmp_path / "h.csv", ckpt_dir, cfg, "ot")
    assert (tmp_path / "model.pt").exists() and not ckpt_dir.exists()
    kept = tmp_path / "checkpoint.pt.unusable-1"  # beside checkpoints/, not in it
    assert kept.exists()  # kept for inspection, not deleted
    assert "refused" in caplog.text and "set aside" in caplog.text and str(kept) in caplog.text
    assert not Path("/tmp/bwot-pwned").exists()


# ------------------------------------------------------------------------------ valid, but unusual


def test_huge_coordinates_render(tmp_path, real_data):
    mesh = tmp_path / "far.off"
    body = (real_data / "meshes" / "m431.off").read_text().splitlines()
    nv = int(body[1].split()[0])
    far = [" ".join(repr(float(c) * 1e6 + 3e6) for c in line.split()[:3]) for line in body[2 : 2 + nv]]
    mesh.write_text("\n".join([*body[:2], *far, *body[2 + nv :]]) + "\n")
    (tmp_path / "models.csv").write_text(f"id,class,label,path\nfar,c,0,{mesh}\n")
    out = tmp_path / "v.h5"
    assert (
        main(["render", "shard", "--models", str(tmp_path / "models.csv"), "--out", str(out), "--size", "32"])
        == 0
    )
    with h5py.File(out) as f:
        assert f["images"].shape == (1, 20, 32, 32) and (f["images"][()] < 250).any()


def test_obj_without_its_mtl_renders(tmp_path):
    mesh = tmp_path / "a.obj"
    lines = ["mtllib missing.mtl", "usemtl wood", *(f"v {x} {y} {z}" for x, y, z in TET_V)]
    mesh.write_text("\n".join(lines + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in TET_F]) + "\n")
    (tmp_path / "models.csv").write_text(f"id,class,label,path\na,c,0,{mesh}\n")
    out = tmp_path / "v.h5"
    assert (
        main(["render", "shard", "--models", str(tmp_path / "models.csv"), "--out", str(out), "--size", "32"])
        == 0
    )
    assert out.exists()


@pytest.mark.parametrize("kind", ["16-bit grey", "alpha only", "CMYK JPEG"])
def test_unusual_sketch_files_work(tmp_path, kind):
    image = sketch_image()
    path = tmp_path / ("s.jpg" if "JPEG" in kind else "s.png")
    if kind == "16-bit grey":
        Image.fromarray(image.astype(np.uint16) * 257).save(path)
    elif kind == "alpha only":
        rgba = np.zeros((*image.shape, 4), np.uint8)
        rgba[..., 3] = 255 - image
        Image.fromarray(rgba, "RGBA").save(path)
    else:
        Image.fromarray(image).convert("CMYK").save(path, format="JPEG")
    (tmp_path / "sketches.csv").write_text(f"id,class,label,split,path\ns1,c,0,train,{path}\n")
    out = tmp_path / "train.h5"
    args = ["sketches", str(tmp_path / "sketches.csv"), "--split", "train", "--out", str(out), "--size", "32"]
    assert main(args) == 0
    with h5py.File(out) as f:
        upright = f["images"][0, 0]
    assert (upright < 128).sum() > 20  # the ink came through


def test_cla_with_crlf_and_tabs_indexes(tmp_path):
    root = _shrec_root(tmp_path)
    cla = root / SHREC13.cla_dirs[0] / SHREC13.cla_names["model"]
    cla.write_bytes(b"PSB 1\r\n2  3\r\n\r\nchair\t0\t2\r\n1\r\n2 \r\n\r\ntable 0  1\r\n3\r\n")
    out = tmp_path / "manifest"
    assert main(["index", "shrec13", str(root), "--out", str(out)]) == 0
    assert (out / "models.csv").read_text().count("\n") == 4
