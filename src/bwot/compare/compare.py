"""Two runs evaluated on the same queries and targets, compared with the report's own statistics.

A run is a results folder (`results/<name>/`) or a sweep point's (`results/<name>/sweep/<key>/<value>/`):
both hold `eval/<loss>/seed-<s>/` as `evaluate` writes it. For one loss, the per-query values of every
seed of each run go through the report's bootstrap (bwot.evaluation.bootstrap, as report.stats'
`run_bootstrap` calls it: the same replicates, seed and draws), with run A in the place of the reference
loss and run B in the place of a baseline: the paired differences B − A are then exactly what the report
would print for two losses with those per-query files. Per class, the same bootstrap on that class's query
sketches gives each run's AP and the paired difference. Runs whose queries or targets differ are refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bwot.evaluation.bootstrap import LEVEL, Bootstrap, Interval, bootstrap, load_values
from bwot.evaluation.metrics import METRICS
from bwot.io import PathLike, json_text, write_text
from bwot.report.plots import mean_pr_curve, plot_pr_curves
from bwot.report.stats import N_BOOT, cell, differences_markdown

EVAL_FILES = ("per_query.csv", "pr.csv", "per_class.csv", "ranking.npz", "metrics.json")
PER_QUERY_COLUMNS = ("query", "sketch", "label", *METRICS)
SCORING_KEYS = ("protocol", "pr_rule", "ap")  # evaluate's definitions: the metrics mean other things
SHOWN = 5  # differing ids named in a refusal
RUN_FORMS = "a RUN is results/<name> or a sweep point results/<name>/sweep/<key>/<value>"
OUTPUTS = ("compare.md", "compare.json", "pr_curves.png")


@dataclass
class RunEval:
    """The evaluate outputs of one loss of one run, every seed read and checked."""

    path: Path
    name: str  # how the tables name it: the run's folder name, or "<run> <key>=<value>" for a sweep point
    loss: str
    seeds: list[str]  # the seed folders' suffixes, in increasing order
    values: np.ndarray  # (seeds, query sketches, metrics), as the report's bootstrap takes them
    labels: np.ndarray  # (query sketches,) their classes
    sketches: list[str]  # the query sketches, in the order of `values`
    queries: list[str]  # the queries (per_query.csv `query`: <id>_r<k> under all_rotations)
    targets: list[str]  # ranking.npz target_ids: every target ranked
    target_labels: np.ndarray
    classes: dict[int, str]  # label -> class name (per_class.csv)
    pr: pd.DataFrame  # recall, precision: the PR curve averaged over seeds
    info: dict[str, Any]  # the first seed's metrics.json (protocol, distance, model, ...)


@dataclass(frozen=True)
class ClassDifference:
    """One class: each run's AP over its query sketches (mean over seeds) and the paired difference B − A."""

    label: int
    name: str
    n_sketches: int
    a: float
    b: float
    difference: Interval


@dataclass
class Comparison:
    """Run B against run A for one loss: the report's bootstrap of both, and the per-class differences."""

    a: RunEval
    b: RunEval
    loss: str
    boot: Bootstrap  # keyed by a.name and b.name
    per_class: list[ClassDifference]
    n_boot: int

    def differences(self) -> dict[str, Interval]:
        """Per metric: B − A, paired, with its 95% interval (Bootstrap.differences, as the report)."""
        return self.boot.differences(self.b.name, self.a.name)

    def markdown(self) -> str:
        """The comparison as markdown: each run's metrics, the paired differences, per class, the PR plot."""
        a, b = self.a, self.b
        mean_ap = METRICS.index("mAP")
        lines = [
            f"# {b.name} vs {a.name} ({self.loss})\n",
            f"- A: `{a.path}`: {_describe(a)}",
            f"- B: `{b.path}`: {_describe(b)}\n",
            f"Both on the same {len(a.queries)} queries ({len(a.sketches)} query sketches of "
            f"{len(self.per_class)} classes, {a.info.get('protocol', '?')} protocol) against "
            f"{len(a.targets)} target models.\n",
            "## Each run\n",
            f"| metric | {a.name} | {b.name} |",
            "|:--|--:|--:|",
        ]
        ivs = {run.name: self.boot.intervals(run.name) for run in (a, b)}
        seeded = max(len(a.seeds), len(b.seeds)) > 1
        for m in METRICS:
            cells = [cell(ivs[run.name][m], seeds=len(run.seeds)) for run in (a, b)]
            lines.append(f"| {m} | {' | '.join(cells)} |")
        lines += [
            "\nEach cell: the mean over query sketches"
            + (" and seeds, ± the standard deviation over seeds," if seeded else "")
            + f" and its {LEVEL:.0%} interval from the report's bootstrap ({self.n_boot} replicates over the "
            "query sketches, stratified by class"
            + (", each run's seeds drawn again too" if seeded else "")
            + ").\n",
            f"## Paired differences ({b.name} − {a.name})\n",
            differences_markdown(self.boot, [a.name, b.name], a.name),
            "Each cell: B − A, the mean difference over query sketches (and seeds), paired (both runs on the "
            f"same resampled queries), with its {LEVEL:.0%} interval; `n.s.`: the interval contains 0, the "
            "difference is not significant at the 5% level. These are the numbers the report gives for two "
            "losses with these per-query files.\n",
            "## Per class: AP\n",
            f"| class | query sketches | {a.name} | {b.name} | {b.name} − {a.name} |",
            "|:--|--:|--:|--:|--:|",
        ]
        for row in self.per_class:
            cells = [
                row.name,
                str(row.n_sketches),
                f"{row.a:.3f}",
                f"{row.b:.3f}",
                _difference(row.difference),
            ]
            lines.append(f"| {' | '.join(cells)} |")
        lines += [
            "\nEach row: the mean AP over the class's query sketches (and seeds), and the paired difference "
            "from the same bootstrap on that class's sketches alone. The classes are not corrected for "
            "multiple comparisons: with many classes, about 5% exclude 0 by chance.\n",
            f"PR curves of both runs (each averaged over its seeds): `pr_curves.png` (mAP: A "
            f"{self.boot.point(a.name)[mean_ap]:.3f}, B {self.boot.point(b.name)[mean_ap]:.3f}).\n",
        ]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """compare.json: both runs with their intervals and PR curves, the differences, per class."""

        def run(r: RunEval) -> dict[str, Any]:
            return {
                "path": str(r.path),
                "name": r.name,
                "seeds": r.seeds,
                "distance": r.info.get("distance"),
                "model": r.info.get("model"),
                "metrics": {
                    m: {"mean": iv.mean, "low": iv.low, "high": iv.high, "seed_std": iv.seed_std}
                    for m, iv in self.boot.intervals(r.name).items()
                },
                "pr": {"recall": r.pr["recall"].tolist(), "precision": r.pr["precision"].tolist()},
            }

        return {
            "loss": self.loss,
            "protocol": self.a.info.get("protocol"),
            "n_queries": len(self.a.queries),
            "n_sketches": len(self.a.sketches),
            "n_targets": len(self.a.targets),
            "n_boot": self.n_boot,
            "level": LEVEL,
            "a": run(self.a),
            "b": run(self.b),
            "differences": {m: _difference_dict(d) for m, d in self.differences().items()},
            "per_class": [
                {
                    "label": row.label,
                    "class": row.name,
                    "n_sketches": row.n_sketches,
                    "a": row.a,
                    "b": row.b,
                }
                | _difference_dict(row.difference)
                for row in self.per_class
            ],
        }

    def write(self, out: PathLike) -> list[Path]:
        """compare.md, compare.json and pr_curves.png into `out`, each atomically; returns their paths."""
        out = Path(out)
        md, js, png = (out / name for name in OUTPUTS)
        runs = {f"{tag}: {run.name}": run for tag, run in (("A", self.a), ("B", self.b))}
        plot_pr_curves(  # first: the likeliest to fail, before any text is written
            {label: run.pr for label, run in runs.items()},
            png,
            maps={
                label: float(self.boot.point(run.name)[METRICS.index("mAP")]) for label, run in runs.items()
            },
            title=f"Precision-recall, {self.loss}: {self.b.name} vs {self.a.name}",
        )
        write_text(js, json_text(self.as_dict()) + "\n")
        write_text(md, self.markdown())
        return [md, js, png]

    def default_out(self) -> Path:
        """compare-<A>-vs-<B>-<loss>, in the current folder (names made safe for a folder name)."""
        return Path(f"compare-{_safe(self.a.name)}-vs-{_safe(self.b.name)}-{_safe(self.loss)}")


def compare_runs(
    run_a: PathLike, run_b: PathLike, loss: str | None = None, n_boot: int = N_BOOT
) -> Comparison:
    """Run B against run A for `loss` (default: ot, or the only loss both evaluated).

    ValueError, naming the path and the problem, when a run is missing, has no evaluate outputs or not the
    loss, or when the two were not evaluated on the same queries and targets."""
    a_path, b_path = Path(run_a), Path(run_b)
    loss = choose_loss(a_path, b_path, loss)
    a_name, b_name = run_names(a_path, b_path)
    a, b = read_run(a_path, loss, a_name), read_run(b_path, loss, b_name)
    check_same(a, b)
    b_values = b.values  # as the report has them: even a copy in another memory layout sums in another order
    if b.sketches != a.sketches:  # the same sketches in another order: B's in A's order
        order = {s: i for i, s in enumerate(b.sketches)}
        b_values = b.values[:, [order[s] for s in a.sketches]]
    boot = bootstrap({a.name: a.values, b.name: b_values}, a.labels, n_boot=n_boot)
    return Comparison(a, b, loss, boot, class_differences(a, b, b_values, n_boot), n_boot)


def evaluated_losses(run: Path) -> list[str]:
    """The losses with at least one eval/<loss>/seed-<s>/ folder in `run`, by name."""
    root = run / "eval"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(seed_folders(run, p.name)))


def seed_folders(run: Path, loss: str) -> list[Path]:
    """eval/<loss>/seed-<s>/ of `run`, by seed (numerically where the seeds are numbers): the report's order
    (metric.seeds') unless the config lists the seeds otherwise; the order decides which draw is whose."""
    folders = [p for p in (run / "eval" / loss).glob("seed-*") if p.is_dir()]
    return sorted(folders, key=lambda p: _seed_key(p.name.removeprefix("seed-")))


def choose_loss(a: Path, b: Path, loss: str | None) -> str:
    """`loss` when both runs evaluated it; without one, ot or the only loss both evaluated."""
    have = {}
    for run in (a, b):
        check_run(run)
        have[run] = evaluated_losses(run)
    if loss is not None:
        for run in (a, b):
            if loss not in have[run]:
                raise ValueError(
                    f"{run}: loss {loss!r} was not evaluated (no {run / 'eval' / loss}/seed-<s>/; "
                    f"it has {', '.join(have[run])})"
                )
        return loss
    common = [name for name in have[a] if name in have[b]]
    if not common:
        raise ValueError(
            f"no loss was evaluated in both runs: {a} has {', '.join(have[a])}; {b} has {', '.join(have[b])}"
        )
    if "ot" in common:
        return "ot"
    if len(common) == 1:
        return common[0]
    raise ValueError(f"both runs evaluated {', '.join(common)} (not ot): choose one with --loss")


def check_run(run: Path) -> None:
    """A ValueError unless `run` is a folder with evaluate outputs (eval/<loss>/seed-<s>/)."""
    if not run.exists():
        raise ValueError(f"{run}: no such folder ({RUN_FORMS})")
    if not run.is_dir():
        raise ValueError(f"{run}: not a folder ({RUN_FORMS})")
    if not evaluated_losses(run):
        parts = run.resolve().parts
        hint = ""
        if "eval" in parts:  # a folder inside eval/: name the run that holds it
            top = Path(*parts[: len(parts) - parts[::-1].index("eval") - 1])
            hint = f"; the run holding it is {top}"
        raise ValueError(
            f"{run}: no evaluation outputs (no eval/<loss>/seed-<s>/ folder: is the run finished? "
            f"{RUN_FORMS}){hint}"
        )


def run_names(a: Path, b: Path) -> tuple[str, str]:
    """Names for the tables: each folder's name ("<run> <key>=<value>" for a sweep point); the paths as
    given when these are equal; "(A)" and "(B)" added when even those are (a run against itself)."""
    names = _name(a), _name(b)
    if names[0] == names[1]:
        names = str(a), str(b)
    if names[0] == names[1]:
        names = f"{names[0]} (A)", f"{names[1]} (B)"
    return names


def read_run(run: Path, loss: str, name: str) -> RunEval:
    """Every seed's evaluate outputs of `loss` in `run`, checked: each file present and readable, the seeds
    on the same query sketches."""
    folders = seed_folders(run, loss)
    for folder in folders:
        missing = [f for f in EVAL_FILES if not (folder / f).is_file()]
        if missing:
            raise ValueError(f"{folder}: no {', '.join(missing)} (an unfinished or failed evaluate job?)")
    try:
        values, labels, sketches = load_values([_per_query(f / "per_query.csv") for f in folders])
    except ValueError as err:
        raise ValueError(f"{run / 'eval' / loss}: {err}") from None
    first = folders[0]
    targets, target_labels = _targets(first / "ranking.npz")
    return RunEval(
        path=run,
        name=name,
        loss=loss,
        seeds=[f.name.removeprefix("seed-") for f in folders],
        values=values,
        labels=labels.astype(np.int64),
        sketches=[str(s) for s in sketches],
        queries=_per_query(first / "per_query.csv")["query"].tolist(),
        targets=targets,
        target_labels=target_labels,
        classes=_classes(first / "per_class.csv"),
        pr=mean_pr_curve([f / "pr.csv" for f in folders]),
        info=_metrics_json(first / "metrics.json"),
    )


def check_same(a: RunEval, b: RunEval) -> None:
    """A ValueError naming what differs unless both runs ranked the same targets for the same queries, with
    the same classes, and scored them alike (SCORING_KEYS of metrics.json)."""
    problems = [  # scored otherwise (metrics.json records these; a key absent from either is not compared)
        f"{key} {a.info[key]} in {a.path} but {b.info[key]} in {b.path}"
        for key in SCORING_KEYS
        if key in a.info and key in b.info and a.info[key] != b.info[key]
    ]
    problems += _differing("query", a.queries, b.queries, a.path, b.path)
    problems += _differing("target", a.targets, b.targets, a.path, b.path)
    if not problems:
        for what, ids_a, lab_a, ids_b, lab_b in (
            ("query sketches", a.sketches, a.labels, b.sketches, b.labels),
            ("targets", a.targets, a.target_labels, b.targets, b.target_labels),
        ):
            of_b = dict(zip(ids_b, lab_b, strict=True))
            other = [i for i, lab in zip(ids_a, lab_a, strict=True) if of_b[i] != lab]
            if other:
                problems.append(f"{len(other)} {what} are of another class in {b.path} ({_first(other)})")
        renamed = [f"{a.classes[k]}/{b.classes[k]}" for k in a.classes if a.classes[k] != b.classes.get(k)]
        if renamed:
            problems.append(f"{len(renamed)} classes are named otherwise ({_first(renamed)})")
    if problems:
        raise ValueError(
            f"{a.path} and {b.path} were not evaluated on the same queries and targets: "
            + "; ".join(problems)
            + " (compare runs of one dataset and split, evaluated alike)"
        )


def class_differences(a: RunEval, b: RunEval, b_values: np.ndarray, n_boot: int) -> list[ClassDifference]:
    """Per class (in label order): each run's AP and the paired difference, from the report's bootstrap on
    that class's query sketches alone (`b_values`: B's values in A's sketch order)."""
    i = METRICS.index("mAP")
    rows = []
    for label in np.unique(a.labels):
        mask = a.labels == label
        boot = bootstrap(
            {a.name: a.values[:, mask], b.name: b_values[:, mask]}, a.labels[mask], n_boot=n_boot
        )
        rows.append(
            ClassDifference(
                label=int(label),
                name=a.classes.get(int(label), str(label)),
                n_sketches=int(mask.sum()),
                a=float(boot.point(a.name)[i]),
                b=float(boot.point(b.name)[i]),
                difference=boot.differences(b.name, a.name)["mAP"],
            )
        )
    return rows


# --------------------------------------------------------------------------------------------- helpers


def _name(run: Path) -> str:
    parts = run.resolve().parts
    if len(parts) >= 4 and parts[-3] == "sweep":
        return f"{parts[-4]} {parts[-2]}={parts[-1]}"
    return parts[-1] if parts else str(run)


def _seed_key(seed: str) -> tuple[int, int | str]:
    return (0, int(seed)) if re.fullmatch(r"-?\d+", seed) else (1, seed)


def _safe(name: str) -> str:
    return re.sub(r"[^\w.=+-]+", "_", name).strip("_") or "run"


def _first(ids: list[str]) -> str:
    shown = ", ".join(str(i) for i in ids[:SHOWN])
    return shown + (", ..." if len(ids) > SHOWN else "")


def _differing(what: str, ids_a: list[str], ids_b: list[str], a: Path, b: Path) -> list[str]:
    set_a, set_b = set(ids_a), set(ids_b)
    out = []
    for ids, other, path, n in ((ids_a, set_b, a, len(ids_a)), (ids_b, set_a, b, len(ids_b))):
        only = [i for i in ids if i not in other]
        if only:
            out.append(
                f"{len(only)} of the {n} {what} ids of {path} are not in the other run ({_first(only)})"
            )
    return out


def _difference(d: Interval) -> str:
    text = f"{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"
    return text if d.significant else f"{text} n.s."


def _difference_dict(d: Interval) -> dict[str, Any]:
    return {"difference": d.mean, "low": d.low, "high": d.high, "significant": d.significant}


def _describe(run: RunEval) -> str:
    seeds = f"{len(run.seeds)} seed{'s' if len(run.seeds) > 1 else ''} ({', '.join(run.seeds)})"
    steps = (run.info.get("model") or {}).get("steps")
    return f"{seeds}, {run.info.get('distance', '?')} distance" + (f", {steps} metric steps" if steps else "")


def _read_csv(path: Path, columns: tuple[str, ...], **kwargs: Any) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, **kwargs)
    except ValueError as err:  # pandas' parser and empty-file errors
        raise ValueError(f"{path}: unreadable ({err})") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(missing)} (has {', '.join(map(str, table.columns))})")
    return table


def _per_query(path: Path) -> pd.DataFrame:
    return _read_csv(path, PER_QUERY_COLUMNS, dtype={"query": str, "sketch": str})  # as report.stats reads it


def _classes(path: Path) -> dict[int, str]:
    table = _read_csv(path, ("label", "class"), dtype={"class": str})
    return {int(label): name for label, name in zip(table["label"], table["class"], strict=True)}


def _targets(path: Path) -> tuple[list[str], np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return [str(t) for t in data["target_ids"]], np.asarray(data["target_labels"], dtype=np.int64)
    except Exception as err:  # a truncated zip, a foreign file, missing arrays
        raise ValueError(f"{path}: not a ranking.npz of evaluate ({type(err).__name__}: {err})") from None


def _metrics_json(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not JSON ({err})") from None
    if not isinstance(info, dict):
        raise ValueError(f"{path}: not a metrics.json of evaluate (not an object)")
    return info
