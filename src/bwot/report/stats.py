"""The report's statistics: intervals and paired differences of the losses, and the sweep table and plots.

The numbers come from bwot.evaluation.bootstrap (its docstring says how queries and seeds are drawn).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bwot.config import format_value
from bwot.evaluation.bootstrap import Bootstrap, Interval, bootstrap, load_values
from bwot.evaluation.metrics import METRICS
from bwot.io import PathLike
from bwot.report.plots import color, save_figure

N_BOOT = 2000


def run_bootstrap(per_query: Mapping[str, Sequence[PathLike]], n_boot: int = N_BOOT) -> Bootstrap:
    """The bootstrap of a run: per_query: loss -> its per_query.csv of each seed."""
    values, labels = read_per_query(per_query)
    return bootstrap(values, labels, n_boot=n_boot)


def read_per_query(per_query: Mapping[str, Sequence[PathLike]]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """per_query: loss -> its per_query.csv of each seed; -> (loss -> values (seeds, sketches, metrics),
    the sketches' labels), every loss on the same query sketches in the same order."""
    values, labels, order = {}, None, None
    for loss, paths in per_query.items():
        v, lab, ids = load_values([pd.read_csv(p, dtype={"query": str, "sketch": str}) for p in paths])
        if order is not None and ids != order:
            raise ValueError(f"{loss}: its per_query tables hold other query sketches than the first loss's")
        values[loss], labels, order = v, lab, ids
    if labels is None:
        raise ValueError("no per_query tables")
    return values, labels


PER_CLASS_COLUMNS = ["loss", "label", "class", "n_queries", "metric", "mean", "low", "high", "seed_std"]


def per_class_intervals(
    per_query: Mapping[str, Sequence[PathLike]],
    classes: Sequence[str],
    metric: str = "mAP",
    n_boot: int = N_BOOT,
) -> pd.DataFrame:
    """Each loss's `metric` per query class: the mean over the class's query sketches (and seeds) with its
    95% interval, from the run's bootstrap restricted to that class (its sketches drawn again, with
    replacement, and the seeds too); one row per loss and class, in the order of the losses and labels."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (one of {', '.join(METRICS)})")
    values, labels = read_per_query(per_query)
    rows = []
    for label in np.unique(labels):
        members = labels == label
        boot = bootstrap({loss: v[:, members] for loss, v in values.items()}, labels[members], n_boot=n_boot)
        for loss in values:
            iv = boot.intervals(loss)[metric]
            name = classes[label] if 0 <= label < len(classes) else str(label)
            rows.append([loss, int(label), name, int(members.sum()), metric, *_iv(iv)])
    table = pd.DataFrame(rows, columns=PER_CLASS_COLUMNS)
    order = {loss: i for i, loss in enumerate(values)}
    return table.sort_values(["loss", "label"], key=lambda c: c.map(order) if c.name == "loss" else c,
                             kind="stable", ignore_index=True)  # fmt: skip


def per_class_markdown(table: pd.DataFrame, seeds: int = 1) -> str:
    """per_class_intervals' table as markdown: a row per class (its number of query sketches), a column per
    loss, each cell the mean and its 95% interval."""
    losses = list(dict.fromkeys(table["loss"]))
    wide = table.pivot(index=["label", "class", "n_queries"], columns="loss")
    lines = [
        "| class | queries | " + " | ".join(losses) + " |",
        "|:--|--:|" + "--:|" * len(losses),
    ]
    for (_, name, n), row in wide.iterrows():
        cells = [
            cell(
                Interval(row[("mean", x)], row[("low", x)], row[("high", x)], row[("seed_std", x)]),
                seeds=seeds,
            )
            for x in losses
        ]
        lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _iv(iv: Interval) -> list[float]:
    return [iv.mean, iv.low, iv.high, iv.seed_std]


def best_significant(boot: Bootstrap, losses: Sequence[str], metric: str) -> str | None:
    """The loss with the highest value of `metric` when it is significantly above every other loss (its
    paired difference to each excludes 0), else None."""
    i = METRICS.index(metric)
    best = max(losses, key=lambda loss: boot.point(loss)[i])
    others = [loss for loss in losses if loss != best]
    if others and all(boot.differences(best, other)[metric].significant for other in others):
        return best
    return None


def cell(iv: Interval, digits: int = 3, seeds: int = 1) -> str:
    """'0.842 [0.80, 0.88]', or with several seeds '0.842 ± 0.010 [0.80, 0.88]' (± the std over seeds)."""
    spread = f" ± {iv.seed_std:.{digits}f}" if seeds > 1 else ""
    return f"{iv.mean:.{digits}f}{spread} [{iv.low:.{digits - 1}f}, {iv.high:.{digits - 1}f}]"


def intervals_markdown(
    boot: Bootstrap, losses: Sequence[str], seeds: int, paper: Mapping[str, float] | None
) -> str:
    """The results table: each loss's value with its 95% interval; bold only a significant best."""
    header = ["metric", *losses, *(["paper (OT)"] if paper else [])]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":--"] + ["--:"] * (len(header) - 1)) + "|"]
    for metric in METRICS:
        best = best_significant(boot, losses, metric) if len(losses) > 1 else None
        cells = []
        for loss in losses:
            text = cell(boot.intervals(loss)[metric], seeds=seeds)
            cells.append(f"**{text}**" if loss == best else text)
        if paper:
            cells.append(f"{paper[metric]:.3f}")
        lines.append("| " + " | ".join([metric, *cells]) + " |")
    return "\n".join(lines) + "\n"


def differences_markdown(boot: Bootstrap, losses: Sequence[str], reference: str) -> str:
    """Each baseline minus the reference loss, paired, with its interval; 'n.s.' where it contains 0."""
    others = [loss for loss in losses if loss != reference]
    header = ["metric", *(f"{loss} − {reference}" for loss in others)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":--"] + ["--:"] * len(others)) + "|"]
    for metric in METRICS:
        cells = []
        for loss in others:
            d = boot.differences(loss, reference)[metric]
            text = f"{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"
            cells.append(text if d.significant else f"{text} n.s.")
        lines.append("| " + " | ".join([metric, *cells]) + " |")
    return "\n".join(lines) + "\n"


def intervals_frame(
    boot: Bootstrap, losses: Sequence[str], reference: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """intervals.csv (loss, metric, mean, low, high, seed_std) and differences.csv (loss, reference,
    metric, difference, low, high, significant)."""
    rows = [
        {"loss": loss, "metric": m, "mean": iv.mean, "low": iv.low, "high": iv.high, "seed_std": iv.seed_std}
        for loss in losses
        for m, iv in boot.intervals(loss).items()
    ]
    diffs = [
        {
            "loss": loss,
            "reference": reference,
            "metric": m,
            "difference": d.mean,
            "low": d.low,
            "high": d.high,
        }
        | {"significant": d.significant}
        for loss in losses
        if reference is not None and loss != reference
        for m, d in boot.differences(loss, reference).items()
    ]
    columns = ["loss", "reference", "metric", "difference", "low", "high", "significant"]
    return pd.DataFrame(rows), pd.DataFrame(diffs, columns=columns)


# --------------------------------------------------------------------------------------------- sweeps


@dataclass(frozen=True)
class SweepRun:
    """The per_query files of one loss at one value of one swept key (one per seed)."""

    key: str
    value: object
    loss: str
    per_query: list[PathLike]


SWEEP_COLUMNS = ["key", "value", "loss", "metric", "mean", "low", "high", "seed_std", "run"]


def sweep_table(
    runs: Sequence[SweepRun], own: Sequence[SweepRun] = (), metric: str = "mAP", n_boot: int = N_BOOT
) -> pd.DataFrame:
    """key, value, loss, mean, low, high of `metric` for every sweep run and for the run's `own` value of
    each swept key (column `run` True), each with its own bootstrap; by key, loss, then value."""
    rows = []
    for run, is_own in [*((r, False) for r in runs), *((r, True) for r in own)]:
        iv = run_bootstrap({run.loss: run.per_query}, n_boot=n_boot).intervals(run.loss)[metric]
        value = format_value(run.value)
        rows.append([run.key, value, run.loss, metric, iv.mean, iv.low, iv.high, iv.seed_std, is_own])
    table = pd.DataFrame(rows, columns=SWEEP_COLUMNS)
    order = {name: i for i, name in enumerate(dict.fromkeys([*table["key"], *table["loss"]]))}
    return table.sort_values(  # stable: the config's order of keys and losses, then increasing values
        ["key", "loss", "value"],
        key=lambda col: _numeric(col) if col.name == "value" else col.map(order),
        kind="stable",
        ignore_index=True,
    )


def plot_sweep(
    table: pd.DataFrame, key: str, path: PathLike, *, base: object = None, title: str = ""
) -> None:
    """mAP (with its 95% interval as error bars) against the value of `key`, one line per loss; the run's own
    value (its point in the table, and a dotted line) marked. A log axis when every value is positive and
    they span more than 10x."""
    rows = table[table["key"] == key]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for i, (loss, group) in enumerate(rows.groupby("loss", sort=False)):
        group = group.sort_values("value", key=_numeric)
        x = _numeric(group["value"]).to_numpy()
        err = np.vstack([group["mean"] - group["low"], group["high"] - group["mean"]])
        ax.errorbar(
            x, group["mean"], yerr=err, marker="o", ms=4, capsize=3, lw=1.6, color=color(loss, i), label=loss
        )
    values = _numeric(rows["value"])
    if len(values) and (values > 0).all() and values.max() > 10 * values.min():
        ax.set_xscale("log")
    if base is not None:
        ax.axvline(float(base), color="0.6", ls=":", lw=1)  # float(True) == 1.0, as _numeric
    ax.set(xlabel=key, ylabel="mAP (95% interval)", title=title or f"Sweep of {key}")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    save_figure(fig, path)


def _numeric(values: pd.Series) -> pd.Series:
    """Sweep values (their folder names) as numbers: booleans as 0 and 1."""
    return values.astype(str).str.lower().replace({"true": "1", "false": "0"}).astype(float)
