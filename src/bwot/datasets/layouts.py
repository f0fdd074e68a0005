"""Dataset layouts -> one in-memory `Dataset` (classes, models, sketches), validated as a whole.

Layouts (docs/datasets.md): SHREC13 and SHREC14 (files named by their .cla ids) and a generic folder layout
`models/<class>/*.{off,obj,ply,stl,glb}`, `sketches/<class>/{train,test}/*.{png,jpg,jpeg}`. Every problem
found (missing files, unlisted files, unknown sketch classes, duplicate or unsafe ids, empty classes) is
collected and reported together before anything is written.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bwot.datasets.cla import is_plain_name, read_cla
from bwot.datasets.errors import DatasetError

MESH_SUFFIXES = (".off", ".obj", ".ply", ".stl", ".glb")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "test")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One model or sketch: its id as written, class, file and (sketches only) split."""

    id: str
    cls: str
    path: Path
    split: str = ""


@dataclass
class Dataset:
    """A whole dataset: model classes in label order, models, sketches."""

    name: str
    root: Path
    classes: list[str]
    models: list[Item]
    sketches: list[Item]


@dataclass
class Problems:
    """Collects every problem of a dataset under a heading per kind, then raises them all at once."""

    root: Path
    kinds: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, item: str) -> None:
        self.kinds.setdefault(kind, []).append(item)

    def raise_if_any(self, layout: str) -> None:
        if not self.kinds:
            return
        lines = [f"{kind} ({len(items)}): {item}" for kind, items in self.kinds.items() for item in items]
        total = sum(len(items) for items in self.kinds.values())
        raise DatasetError(f"{self.root}: {layout} dataset has {total} problem(s)", lines)


# ----------------------------------------------------------------------------------------- SHREC layouts


@dataclass(frozen=True)
class ShrecSpec:
    """Where one SHREC edition keeps its files."""

    layout: str
    cla_names: dict[str, str]  # "model" / "train" / "test" -> .cla file name
    cla_dirs: tuple[str, ...]  # folders (relative to root) searched for the .cla files
    models_dir: str
    model_name: Callable[[str], str]
    sketch_dirs: dict[str, str]  # split -> folder holding <class>/<split>/<id>.png
    official: dict[str, int]  # the distributed benchmark's size: classes, models, train and test sketches


SHREC13 = ShrecSpec(
    layout="shrec13",
    cla_names={
        s: f"SHREC13_SBR_{n}.cla"
        for s, n in {"model": "Model", "train": "Sketch_Train", "test": "Sketch_Test"}.items()
    },
    cla_dirs=("SHREC2013_Sketch_Evaluation", "."),
    models_dir="SHREC13_SBR_TARGET_MODELS/models",
    model_name=lambda i: f"m{i}.off",
    sketch_dirs={
        "train": "SHREC13_SBR_TRAINING_SKETCHES/SHREC13_SBR_TRAINING_SKETCHES",
        "test": "SHREC13_SBR_TESTING_SKETCHES",
    },
    official={"classes": 90, "models": 1258, "train": 4500, "test": 2700},
)

SHREC14 = ShrecSpec(
    layout="shrec14",
    cla_names={
        s: f"SHREC14_SBR_{n}.cla"
        for s, n in {"model": "Model", "train": "Sketch_Train", "test": "Sketch_Test"}.items()
    },
    cla_dirs=(".", "SHREC14_SBR_Evaluation", "SHREC2014_Sketch_Evaluation", "Evaluation"),
    models_dir="SHREC14LSSTB_TARGET_MODELS",
    model_name=lambda i: f"M{i}.off",
    sketch_dirs={s: "SHREC14LSSTB_SKETCHES/SHREC14LSSTB_SKETCHES" for s in SPLITS},
    official={"classes": 171, "models": 8987, "train": 8550, "test": 5130},
)


def _find_cla(root: Path, spec: ShrecSpec, which: str) -> Path:
    name = spec.cla_names[which]
    candidates = [root / d / name for d in spec.cla_dirs]
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise DatasetError(f"{root}: {spec.layout} classification file {name} not found (looked in: {looked})")


def layout_problems(kind: str, root: str | Path) -> list[str]:
    """The folders and .cla files of layout `kind` that are missing under `root` (a quick check that does
    not read them; the readers check everything else)."""
    root = Path(root)
    if kind == "folder":
        return [f"missing folder {root / d}" for d in ("models", "sketches") if not (root / d).is_dir()]
    spec = SHREC14 if kind == "shrec14" else SHREC13
    problems = [
        f"missing folder {root / d}"
        for d in dict.fromkeys([spec.models_dir, *spec.sketch_dirs.values()])
        if not (root / d).is_dir()
    ]
    for which, name in spec.cla_names.items():
        if not any((root / d / name).is_file() for d in spec.cla_dirs):
            looked = ", ".join(str(root / d) for d in spec.cla_dirs)
            problems.append(f"missing {which} classification file {name} (looked in {looked})")
    return problems


def read_shrec(root: str | Path, spec: ShrecSpec) -> Dataset:
    """Read a SHREC13/SHREC14 root through its .cla files; every problem is reported at once."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset root does not exist or is not a folder")
    problems = Problems(root)
    model_cla = _find_cla(root, spec, "model")
    model_classes = read_cla(model_cla)
    sketch_clas = {split: _find_cla(root, spec, split) for split in SPLITS}
    sketch_classes = {split: read_cla(path) for split, path in sketch_clas.items()}

    models_dir = root / spec.models_dir
    models = [Item(i, c, models_dir / spec.model_name(i)) for c, ids in model_classes.items() for i in ids]
    _check_ids(problems, model_cla, model_classes)
    _check_files(problems, models, model_cla)
    listed = {m.path.name for m in models}
    if models_dir.is_dir():
        for path in sorted(models_dir.iterdir()):
            if path.suffix.lower() in MESH_SUFFIXES and path.name not in listed:
                problems.add("file with no listed id", f"{path} (not in {model_cla.name})")
    else:
        problems.add("missing folder", f"{models_dir} (target models)")

    sketches: list[Item] = []
    for split in SPLITS:
        cla, classes = sketch_clas[split], sketch_classes[split]
        base = root / spec.sketch_dirs[split]
        items = [Item(i, c, base / c / split / f"{i}.png", split) for c, ids in classes.items() for i in ids]
        _check_ids(problems, cla, classes)
        _check_files(problems, items, cla)
        _check_sketch_classes(problems, cla, classes, model_classes)
        listed = {s.path for s in items}
        for path in sorted(base.glob(f"*/{split}/*")) if base.is_dir() else []:
            if path.suffix.lower() in IMAGE_SUFFIXES and path not in listed:
                problems.add("file with no listed id", f"{path} (not in {cla.name})")
        if not base.is_dir():
            problems.add("missing folder", f"{base} ({split} sketches)")
        sketches += items
    _check_duplicates(
        problems,
        [s.id for s in sketches],
        "sketch id in both splits or twice",
        f"{sketch_clas['train'].name} + {sketch_clas['test'].name}",
    )
    problems.raise_if_any(spec.layout)
    return Dataset(spec.layout, root, list(model_classes), models, sketches)


def _check_ids(problems: Problems, cla: Path, classes: dict[str, list[str]]) -> None:
    for name, ids in classes.items():
        if not ids:
            problems.add("empty class", f"'{name}' in {cla}")
        for i in ids:
            if not is_plain_name(i):
                problems.add("id that is not a plain file name", f"{i!r} (class '{name}') in {cla}")
    _check_duplicates(problems, [i for ids in classes.values() for i in ids], "duplicate id", str(cla))


def _check_duplicates(problems: Problems, ids: Iterable[str], kind: str, where: str) -> None:
    for item_id, count in Counter(ids).items():
        if count > 1:
            problems.add(kind, f"{item_id!r} appears {count} times in {where}")


def _check_files(problems: Problems, items: list[Item], cla: Path) -> None:
    for item in items:
        if is_plain_name(item.id) and not item.path.is_file():
            problems.add(
                "listed id with no file", f"{item.id!r} (class '{item.cls}', {cla.name}): {item.path}"
            )


def _check_sketch_classes(problems: Problems, cla: Path, classes: dict, model_classes: dict) -> None:
    for name in classes:
        if name not in model_classes:
            problems.add("sketch class absent from the model classes", f"'{name}' in {cla}")


# ----------------------------------------------------------------------------------------- folder layout


def read_folder(root: str | Path) -> Dataset:
    """Read the generic layout: models/<class>/*.{mesh}, sketches/<class>/{train,test}/*.{image}."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset root does not exist or is not a folder")
    problems = Problems(root)
    models_dir, sketches_dir = root / "models", root / "sketches"
    for folder in (models_dir, sketches_dir):
        if not folder.is_dir():
            problems.add("missing folder", str(folder))
    problems.raise_if_any("folder")

    classes = sorted(p.name for p in models_dir.iterdir() if p.is_dir())
    models: list[Item] = []
    for name in classes:
        files = _files(models_dir / name, MESH_SUFFIXES)
        if not files:
            problems.add("empty class", f"'{name}': no {'/'.join(MESH_SUFFIXES)} file in {models_dir / name}")
        models += [Item(p.stem, name, p) for p in files]
    for path in sorted(models_dir.iterdir()):
        if path.is_file():
            problems.add("file with no class folder", str(path))

    sketches: list[Item] = []
    for class_dir in sorted(p for p in sketches_dir.iterdir() if p.is_dir()):
        if class_dir.name not in classes:
            problems.add("sketch class absent from the model classes", f"'{class_dir.name}' ({class_dir})")
        found = 0
        for split in SPLITS:
            files = _files(class_dir / split, IMAGE_SUFFIXES)
            sketches += [Item(p.stem, class_dir.name, p, split) for p in files]
            found += len(files)
        if not found:
            problems.add("empty class", f"'{class_dir.name}': no sketch in {class_dir}/{{train,test}}")
        for path in sorted(class_dir.iterdir()):
            if path.name not in SPLITS:
                problems.add("file with no split folder", f"{path} (expected {class_dir}/train or /test)")

    for item in models + sketches:  # the same rule as the SHREC readers: ids are plain file names
        if not is_plain_name(item.id):
            problems.add("id that is not a plain file name", f"{item.id!r} ({item.path})")
    _check_duplicates(problems, [m.id for m in models], "duplicate id", f"{models_dir} (file names)")
    _check_duplicates(problems, [s.id for s in sketches], "duplicate id", f"{sketches_dir} (file names)")
    problems.raise_if_any("folder")
    return Dataset("folder", root, classes, models, sketches)


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.is_file())
    ignored = [p.name for p in files if p.suffix.lower() not in suffixes]
    if ignored:  # e.g. .mtl beside .obj: said, not silently dropped
        log.warning(
            "%s: ignoring %d file(s) that are not %s: %s",
            folder,
            len(ignored),
            "/".join(suffixes),
            ", ".join(ignored),
        )
    return [p for p in files if p.suffix.lower() in suffixes]
