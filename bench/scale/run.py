"""SHREC'14 at a fraction of its size: the whole pipeline at each scale, each stage's cost and growth.

    .venv/bin/python bench/scale/run.py --scales 0.0625 0.125 0.25     # run each scale, then the tables
    .venv/bin/python bench/scale/run.py --scales 0.0625 0.125 0.25 --part table   # tables of finished runs

`--part run` runs `snakemake --cores N --configfile CONFIG` on the synthetic preset shrec14-scale at each
scale (`synthetic.scale`, run name `scale-<1/k>`), under /usr/bin/time, one after the other; nothing else
should run meanwhile. `--part table` reads what the runs left: each job's Snakemake benchmark file
(seconds, CPU seconds, peak RSS, MB written), the manifests (items) and the CNNs' histories (images seen);
it fits each stage's growth exponent (log seconds against log items), projects the full size, checks the
projection of the largest scale made from the smaller ones, writes bench/out/scale.json and the figure
bench/scale/scaling.png, and prints the README's tables. `--workdir` reads runs made elsewhere (a copy of
the workflow run through SLURM by .ci/slurm.sh); `--same-as DIR` checks that its evaluation outputs equal,
byte for byte, those of the run of the same name under DIR (its results, or the SHA-256 digests its saved
record keeps). Each run's table is saved under bench/scale/measured/, and `--part table` reads a scale's
record where its results are gone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench" / "out"
MEASURED = REPO / "bench" / "scale" / "measured"  # each run's table, kept with the repository
FIGURE = REPO / "bench" / "scale" / "scaling.png"
# stages with a fixed budget (images seen, steps): their time is fitted against the targets, which their
# validation and sampling read over; every other stage against the items it works through
FIXED = ("train_backbone shapes", "train_backbone sketches", "train_metric")
# what each stage keeps on disk, under the run's results
KEPT = {
    "render_views": ["views/*.h5"], "prepare_sketches": ["sketches/*/*.h5"],
    "train_backbone shapes": ["backbone/shapes.*"], "train_backbone sketches": ["backbone/sketches.*"],
    "extract_features shapes": ["features/shapes.h5"], "extract_features sketches": ["features/sketches.h5"],
    "train_metric": ["metric/**/*"], "evaluate": ["eval/**/*"], "retrieval_index": ["index/*"],
}  # fmt: skip


def tag(scale: float) -> str:
    """`1-16` for 1/16: the run's name is scale-<tag>."""
    frac = Fraction(scale).limit_denominator(1000)
    return f"{frac.numerator}-{frac.denominator}"


def overlay(scale: float, cores: int) -> dict:
    """What one scale's run changes in the config: the synthetic SHREC'14 at `scale`, the run's name.

    A second --configfile, not --config: Snakemake reads a --config mapping's values as strings.
    """
    synthetic = {"preset": "shrec14-scale", "scale": scale, "workers": cores}
    return {"dataset": "builtin", "name": f"scale-{tag(scale)}", "synthetic": synthetic}


def write_overlay(scale: float, cores: int) -> Path:
    """bench/out/scale-<tag>.yaml: the overlay of one scale, to give snakemake after the config."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"scale-{tag(scale)}.yaml"
    path.write_text(
        f"# bench/scale/run.py: the synthetic SHREC'14 at scale {scale}\n"
        + yaml.safe_dump(overlay(scale, cores))
    )
    return path


def run_scale(scale: float, config: str, cores: int, workdir: Path) -> dict:
    """The whole pipeline at `scale`, timed by /usr/bin/time; its wall, CPU and peak RSS."""
    OUT.mkdir(parents=True, exist_ok=True)
    name = f"scale-{tag(scale)}"
    timing, logfile = OUT / f"{name}.time", OUT / f"{name}.log"
    cmd = [
        "/usr/bin/time", "-v", "-o", str(timing),
        str(REPO / ".venv" / "bin" / "snakemake"), "--cores", str(cores),
        "--configfile", config, str(write_overlay(scale, cores)),
    ]  # fmt: skip
    print(f"{name}: {' '.join(cmd[4:])}", flush=True)
    start = time.time()
    with logfile.open("w") as log:
        done = subprocess.run(cmd, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        sys.exit(f"{name}: snakemake failed ({done.returncode}); see {logfile}")
    measured = parse_time(timing.read_text())
    measured |= {"scale": scale, "started": start, "config": config, "cores": cores, "machine": machine()}
    (OUT / f"{name}.json").write_text(json.dumps(measured, indent=2) + "\n")
    return measured


def parse_time(text: str) -> dict:
    """Wall seconds, CPU seconds and peak RSS (MB) from `/usr/bin/time -v`."""
    field = dict(line.strip().rsplit(": ", 1) for line in text.splitlines() if ": " in line)
    clock = [float(x) for x in field["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":")]
    h, m, s = [0.0, 0.0, *clock][-3:]
    return {
        "wall_s": 3600 * h + 60 * m + s,
        "cpu_s": float(field["User time (seconds)"]) + float(field["System time (seconds)"]),
        "peak_rss_mb": int(field["Maximum resident set size (kbytes)"]) / 1024,
    }


# -------------------------------------------------------------------------------------------- collect


@dataclass
class Run:
    """One finished run: where its files are and its config."""

    scale: float
    name: str
    workdir: Path
    config: dict

    @property
    def results(self) -> Path:
        return self.workdir / "results" / self.name

    @property
    def benchmarks(self) -> Path:
        return self.workdir / "benchmarks" / self.name


def load_run(scale: float, config: str, cores: int, workdir: Path) -> Run:
    """The finished run of `scale`, its config merged as Snakemake merges it."""
    from bwot.config import Config

    path = workdir / config if (workdir / config).is_file() else REPO / config  # slurm.sh --keep: no config/
    merged = yaml.safe_load(path.read_text()) or {}
    for key, value in overlay(scale, cores).items():  # as Snakemake merges config files: section by section
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = {**merged[key], **value} if both else value
    cfg = Config.from_mapping(merged, sources=[config])
    return Run(scale, f"scale-{tag(scale)}", workdir, {"cfg": cfg})


def job_table(path: Path) -> pd.DataFrame:
    """Every Snakemake benchmark file under `path`: one row per job (seconds, CPU, RSS, MB written)."""
    rows = []
    for tsv in sorted(path.rglob("*.tsv")):
        row = pd.read_csv(tsv, sep="\t").iloc[-1]
        rows.append({"job": str(tsv.relative_to(path).with_suffix("")), **row.to_dict()})
    return pd.DataFrame(rows)


def stage_of(job: str) -> str:
    """The stage a job belongs to: the rule, and the modality for the two CNN rules."""
    rule, _, rest = job.partition("/")
    return f"{rule} {rest.split('/')[0]}" if rule in ("train_backbone", "extract_features") else rule


def items_of(run: Run) -> dict[str, float]:
    """What each stage works through: targets, sketches, images seen, steps, (query, target) pairs."""
    models = len(pd.read_csv(run.results / "manifest" / "models.csv"))
    sketches = pd.read_csv(run.results / "manifest" / "sketches.csv")
    queries = int((sketches["split"] == "test").sum())
    losses = n_losses(run)
    images = {
        m: float(pd.read_csv(run.results / "backbone" / f"{m}.history.csv")["images"].sum())
        for m in ("shapes", "sketches")
    }
    return {
        "synthesize_dataset": models + len(sketches),
        "render_views": models,
        "prepare_sketches": len(sketches),
        "train_backbone shapes": images["shapes"],
        "train_backbone sketches": images["sketches"],
        "extract_features shapes": models,
        "extract_features sketches": len(sketches),
        "train_metric": losses * run.config["cfg"].metric.steps,
        "evaluate": losses * queries * models,
        "retrieval_index": losses * models,
    }


def collect(run: Run) -> pd.DataFrame:
    """Per stage: jobs, job-seconds, CPU seconds, peak RSS (MB), MB written, MB kept, items, and x (what
    its time is fitted against: its items, or the targets for a stage with a fixed budget)."""
    jobs = job_table(run.benchmarks)
    root = Path(run.config["cfg"].builtin_root).name
    synth = run.workdir / "benchmarks" / "synthesize_dataset" / f"{root}.tsv"
    if synth.is_file():
        row = pd.read_csv(synth, sep="\t").iloc[-1].to_dict()
        jobs = pd.concat([jobs, pd.DataFrame([{"job": "synthesize_dataset", **row}])], ignore_index=True)
    jobs["stage"] = jobs["job"].map(stage_of)
    table = jobs.groupby("stage").agg(
        jobs=("job", "size"), seconds=("s", "sum"), cpu_s=("cpu_time", "sum"),
        peak_rss_mb=("max_rss", "max"), written_mb=("io_out", "sum"),
    )  # fmt: skip
    items = items_of(run)
    table["items"] = [items.get(stage, math.nan) for stage in table.index]
    table["x"] = [items["render_views"] if st in FIXED else table.loc[st, "items"] for st in table.index]
    table["kept_mb"] = [kept_mb(run, st) for st in table.index]
    return table


def kept_mb(run: Run, stage: str) -> float:
    """MB of the files a stage keeps (the generated data set for synthesize_dataset)."""
    if stage == "synthesize_dataset":
        files = (run.workdir / run.config["cfg"].builtin_root).rglob("*")  # an absolute root stays itself
    else:
        files = (f for pattern in KEPT.get(stage, []) for f in run.results.glob(pattern))
    return sum(f.stat().st_size for f in files if f.is_file()) / 1e6


def machine() -> dict:
    """What the figures were measured on: the CPUs this process may use, their model, and the last commit
    that changed the pipeline (its code, rules and configs)."""
    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
             if line.startswith("model name")] if info.is_file() else []  # fmt: skip
    pipeline = ["src", "rules", "workflow", "config", "Snakefile"]
    head = subprocess.run(["git", "log", "-1", "--format=%h", "--", *pipeline], cwd=REPO, capture_output=True,
                          text=True)  # fmt: skip
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu": names[0] if names else "unknown",
        "commit": head.stdout.strip(),
    }


def save_record(run: Run, table: pd.DataFrame, timing: dict, label: str = "") -> Path:
    """bench/scale/measured/[<label>-]<name>.json: the run's stage table, its wall time, the machine and
    the digests of its evaluation outputs, so the tables, the figure and the comparison of outputs can be
    made from a clone that holds no results."""
    path = record_path(run.name, label)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        **timing, "scale": run.scale, "name": run.name, "losses": int(n_losses(run)),
        "steps": run.config["cfg"].metric.steps, "machine": timing.get("machine") or machine(),
        "stages": table.reset_index().to_dict(orient="records"), "outputs": outputs_digest(run.results),
    }  # fmt: skip
    path.write_text(json.dumps(record, indent=2, default=float) + "\n")
    return path


def record_path(name: str, label: str = "") -> Path:
    """bench/scale/measured/[<label>-]<name>.json."""
    return MEASURED / f"{label + '-' if label else ''}{name}.json"


def load_record(path: Path) -> tuple[pd.DataFrame, dict]:
    """A saved run: its stage table, and the rest of the record."""
    record = json.loads(path.read_text())
    return pd.DataFrame(record.pop("stages")).set_index("stage"), record


def n_losses(run: Run) -> int:
    """How many losses the run trained (its metric/ folders)."""
    return sum(1 for p in (run.results / "metric").iterdir() if p.is_dir())


# -------------------------------------------------------------------------------------------- analyse


def exponent(items: np.ndarray, seconds: np.ndarray) -> float:
    """The slope of log seconds on log items (nan when the items do not change)."""
    if np.ptp(np.log(items)) < 1e-9:
        return math.nan
    return float(np.polyfit(np.log(items), np.log(seconds), 1)[0])


def project(x: np.ndarray, seconds: np.ndarray, at: float) -> float:
    """A stage's seconds at `at`: the least-squares line seconds = a + b x (a start-up cost, a cost per
    item), or the mean where x does not change or the slope comes out negative. A line, not the power
    law: with a start-up cost the log-log slope is below 1 and the power law would under-project."""
    if np.ptp(x) < 1e-9 * max(1.0, float(np.max(x))):
        return float(np.mean(seconds))
    slope, intercept = np.polyfit(x, seconds, 1)
    return float(np.mean(seconds)) if slope < 0 else float(intercept + slope * at)


def full_x(losses: int, models: int, sketches: int, queries: int) -> dict:
    """Each stage's x (see collect) at a size of `models` targets, `sketches` sketches and `queries` test
    sketches, with `losses` losses trained."""
    return {stage: models for stage in FIXED} | {
        "synthesize_dataset": models + sketches,
        "render_views": models,
        "prepare_sketches": sketches,
        "extract_features shapes": models,
        "extract_features sketches": sketches,
        "evaluate": losses * queries * models,
        "retrieval_index": losses * models,
    }


def projected_wall(
    tables: dict[float, pd.DataFrame],
    walls: dict[float, float],
    scales: list[float],
    target: dict[str, float],
    synth: bool = True,
) -> float:
    """The wall time at `target` items from the runs at `scales`: each stage's job-seconds projected, summed,
    and turned into wall time by the largest of those runs' ratio of wall time to job-seconds."""
    total = 0.0
    for stage in target:
        if (stage == "synthesize_dataset" and not synth) or any(stage not in tables[s].index for s in scales):
            continue
        items = np.array([tables[s].loc[stage, "x"] for s in scales])
        seconds = np.array([tables[s].loc[stage, "seconds"] for s in scales])
        total += project(items, seconds, target[stage])
    big = max(scales)
    return total * walls[big] / tables[big]["seconds"].sum()


def hms(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def figure(tables: dict[float, pd.DataFrame], exponents: dict[str, float], full: dict[str, float]) -> None:
    """Seconds against x per stage, log-log: the measured points, the fitted line through them and on to
    the full size (dashed, its projection an open circle), and each stage's exponent."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.5, 5.5), dpi=120)
    scales = sorted(tables)
    for k, stage in enumerate(tables[scales[0]].index):
        x = np.array([tables[s].loc[stage, "x"] for s in scales])
        seconds = np.array([tables[s].loc[stage, "seconds"] for s in scales])
        color = plt.cm.tab10(k % 10)
        b = exponents[stage]
        unit = " (in targets)" if stage in FIXED else ""
        ax.plot(x, seconds, "o", color=color, label=f"{stage}: exponent {b:.2f}{unit}")
        if stage in full:
            end = full[stage]
            xs = np.geomspace(x.min(), x.max(), 20)
            ax.plot(xs, [project(x, seconds, v) for v in xs], "-", color=color, lw=1)
            xs = np.geomspace(x.max(), end, 20)
            ax.plot(xs, [project(x, seconds, v) for v in xs], "--", color=color, lw=1)
            ax.plot([end], [project(x, seconds, end)], "o", mfc="none", color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("items of the stage: targets, sketches or query-target pairs (training stages: targets)")
    ax.set_ylabel("job-seconds of the stage")
    fractions = ", ".join(f"1/{round(1 / s)}" for s in scales)
    title = f"Synthetic SHREC'14 at {fractions} (dots), projected to full size (circles), 2 cores"
    ax.set_title(title, loc="left")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(FIGURE)
    plt.close(fig)


def outputs_digest(results: Path) -> dict[str, str]:
    """The SHA-256 of every file `evaluate` wrote (under eval/) and of the report's metrics table."""
    files = [*sorted(results.glob("eval/**/*")), results / "report" / "metrics.csv"]
    return {
        str(path.relative_to(results)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in files
        if path.is_file()
    }


def same_outputs(run: Run, other: Path) -> list[str]:
    """The evaluation files and report table of `run` that differ from those of the run of the same name
    under the workdir `other` (its results, else its saved record), or are missing in either."""
    theirs = other / "results" / run.name
    if theirs.is_dir():
        reference = outputs_digest(theirs)
    else:
        record = other / MEASURED.relative_to(REPO) / f"{run.name}.json"
        if not record.is_file():
            sys.exit(f"{run.name}: nothing to compare with: neither {theirs} nor {record}")
        reference = json.loads(record.read_text()).get("outputs", {})
    ours = outputs_digest(run.results)
    names = sorted(set(ours) | set(reference) | {"report/metrics.csv"})
    return [name for name in names if name not in ours or ours.get(name) != reference.get(name)]


def measurements(scales: list[float], args: argparse.Namespace) -> tuple[dict, dict, dict, int]:
    """Each scale's stage table and whole-run figures (wall_s, cpu_s, peak_rss_mb): from its results where
    they are (and saved to its record under bench/scale/measured/), else from that record. Also the runs
    that have results, and the number of losses trained."""
    runs, tables, walls, losses = {}, {}, {}, 0
    for s in scales:
        run = load_run(s, args.config, args.cores, args.workdir)
        record = record_path(run.name, args.label)
        if run.results.is_dir():
            kept = [args.workdir / f"{run.name}.json", OUT / f"{run.name}.json"]  # slurm.sh --keep, or here
            timing = next((json.loads(p.read_text()) for p in kept if p.is_file()), {"wall_s": math.nan})
            runs[s], tables[s], losses = run, collect(run), n_losses(run)
            saved = save_record(run, tables[s], timing, args.label)
            print(f"{run.name}: measured {run.results}; saved {saved}")
        elif record.is_file():
            tables[s], timing = load_record(record)
            losses = timing["losses"]
            print(f"{run.name}: no results under {run.results}; the saved record {record}")
        else:
            sys.exit(f"{run.name}: neither results under {run.results} nor a saved record {record}")
        walls[s] = {k: timing.get(k, math.nan) for k in ("wall_s", "cpu_s", "peak_rss_mb")}
    return runs, tables, walls, losses


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", type=float, nargs="+", required=True)
    parser.add_argument("--config", default="config/shrec14-cpu.yaml")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--part", choices=["run", "table", "all", "overlay"], default="all")
    parser.add_argument("--workdir", type=Path, default=REPO, help="where the runs are (default: here)")
    parser.add_argument("--same-as", type=Path, help="check the evaluation outputs against this workdir's")
    parser.add_argument("--no-figure", action="store_true")
    parser.add_argument("--label", default="", help="prefix of the saved records (e.g. slurm)")
    args = parser.parse_args()
    scales = sorted(args.scales)
    if args.part == "overlay":  # only the second config file of each scale (for a run made elsewhere)
        for scale in scales:
            print(write_overlay(scale, args.cores))
        return 0
    if args.part in ("run", "all"):
        for scale in scales:
            run_scale(scale, args.config, args.cores, args.workdir)
    if args.part == "run":
        return 0
    runs, tables, timings, losses = measurements(scales, args)
    walls = {s: t["wall_s"] for s, t in timings.items()}
    cpus = {s: t["cpu_s"] for s, t in timings.items()}
    rss = {s: t["peak_rss_mb"] for s, t in timings.items()}
    stages = list(tables[scales[0]].index)
    exponents = {
        st: exponent(np.array([tables[s].loc[st, "x"] for s in scales]),
                     np.array([tables[s].loc[st, "seconds"] for s in scales]))
        for st in stages
    }  # fmt: skip
    rss_ratio = {st: tables[scales[-1]].loc[st, "peak_rss_mb"] / tables[scales[0]].loc[st, "peak_rss_mb"]
                 for st in stages}  # fmt: skip

    print("| stage | " + " | ".join(f"1/{round(1 / s)} items, s, RSS MB, MB kept" for s in scales)
          + " | exponent | RSS ratio |")  # fmt: skip
    print("|---|" + "--:|" * (len(scales) + 2))
    for st in stages:
        cells = []
        for s in scales:
            r = tables[s].loc[st]
            cells.append(f"{r['items']:,.0f}, {r['seconds']:.1f}, {r['peak_rss_mb']:.0f}, {r['kept_mb']:.0f}")
        b = exponents[st]
        print(f"| {st} | " + " | ".join(cells) + f" | {b:.2f}{' (targets)' if st in FIXED else ''} | "
              f"{rss_ratio[st]:.2f} |")  # fmt: skip
    print()
    for s in scales:
        t = tables[s]
        print(f"1/{round(1 / s)}: wall {hms(walls[s])}, CPU {cpus[s] / 60:.1f} min, "
              f"peak RSS {rss[s]:.0f} MB, job-seconds {t['seconds'].sum():.0f}, "
              f"kept {t['kept_mb'].sum():.0f} MB")  # fmt: skip

    full = full_x(losses, 8987, 13680, 5130)
    shrec13 = full_x(losses, 1258, 7200, 2700)
    summary = {
        "scales": scales,
        "runs": timings,
        "exponents": exponents,
        "rss_ratio": rss_ratio,
        "tables": {str(s): tables[s].reset_index().to_dict(orient="records") for s in scales},
        "projected_full_wall_s": projected_wall(tables, walls, scales, full),
        "projected_full_wall_s_no_synth": projected_wall(tables, walls, scales, full, synth=False),
        "projected_shrec13_wall_s_no_synth": projected_wall(tables, walls, scales, shrec13, synth=False),
        "dominant_at_full": max(full, key=lambda st: project(
            np.array([tables[s].loc[st, "x"] for s in scales]),
            np.array([tables[s].loc[st, "seconds"] for s in scales]), full[st])),
    }  # fmt: skip
    if len(scales) >= 3:  # the largest scale, projected from the smaller ones
        target = {st: tables[scales[-1]].loc[st, "x"] for st in stages}
        summary["check"] = {
            "scale": scales[-1],
            "projected_wall_s": projected_wall(tables, walls, scales[:-1], target),
            "measured_wall_s": walls[scales[-1]],
        }
    print(f"\nprojected full size (8987 targets, 13680 sketches): {hms(summary['projected_full_wall_s'])}; "
          f"the real archives (no generation): SHREC'14 {hms(summary['projected_full_wall_s_no_synth'])}, "
          f"SHREC'13 {hms(summary['projected_shrec13_wall_s_no_synth'])}; "
          f"dominant stage at full size: {summary['dominant_at_full']}")  # fmt: skip
    if "check" in summary:
        c = summary["check"]
        print(
            f"check: 1/{round(1 / c['scale'])} projected from the smaller scales "
            f"{hms(c['projected_wall_s'])}, measured {hms(c['measured_wall_s'])}"
        )
    per_stage = {
        st: {"full_items": full[st], "projected_s": project(
            np.array([tables[s].loc[st, "x"] for s in scales]),
            np.array([tables[s].loc[st, "seconds"] for s in scales]), full[st])}
        for st in stages
    }  # fmt: skip
    summary["per_stage_full"] = per_stage
    big = scales[-1]
    print(f"job-seconds projected to full size (wall / job-seconds at 1/{round(1 / big)}: "
          f"{walls[big] / tables[big]['seconds'].sum():.2f}): "
          + ", ".join(f"{st} {v['projected_s']:.0f}" for st, v in
                      sorted(per_stage.items(), key=lambda kv: -kv[1]["projected_s"])))  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "scale.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    if not args.no_figure:
        figure(tables, exponents, full)
    if args.same_as:
        if len(runs) < len(scales):
            sys.exit("--same-as compares results: some scales have only a saved record")
        for run in runs.values():
            differ = same_outputs(run, args.same_as)
            verdict = f"differ: {', '.join(differ)}" if differ else "evaluation outputs equal, byte for byte"
            print(f"{run.name} against {args.same_as}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
