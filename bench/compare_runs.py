"""Are two runs' results the same bits? Compares two results folders (results/<name>/) loss by loss.

    python bench/compare_runs.py OLD/results/builtin NEW/results/builtin [--losses ot contrastive ...]

For each loss (default: those both runs trained) and seed it compares, byte for byte, the evaluation's
outputs (metrics.json, per_query.csv, pr.csv, per_class.csv, ranking.npz), the metric networks' weights
tensor by tensor, and history.csv column by column but `wall_s` (the time a step took). It prints one line
per file and exits 1 when anything differs: the check that a change of the code left the figures alone.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
from pathlib import Path

import pandas as pd
import torch

EVAL_FILES = ("metrics.json", "per_query.csv", "pr.csv", "per_class.csv", "ranking.npz")


def same_weights(a: Path, b: Path) -> bool:
    """Whether two metric model files hold the same tensors, bit for bit."""
    sa = torch.load(a, map_location="cpu", weights_only=False)["state_dict"]
    sb = torch.load(b, map_location="cpu", weights_only=False)["state_dict"]
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def same_history(a: Path, b: Path) -> bool:
    """Whether two history.csv files are equal in every column but the wall-clock time."""
    ha, hb = pd.read_csv(a), pd.read_csv(b)
    return list(ha.columns) == list(hb.columns) and ha.drop(columns="wall_s").equals(
        hb.drop(columns="wall_s")
    )


def compare(old: Path, new: Path, losses: list[str] | None) -> list[tuple[str, bool]]:
    """(file, same) for every compared file of every loss and seed."""
    found = sorted({p.parent.parent.name for p in old.glob("eval/*/seed-*/metrics.json")})
    rows = []
    for loss in losses or found:
        for seed in sorted(p.name for p in (old / "eval" / loss).glob("seed-*")):
            ev, mo = Path("eval", loss, seed), Path("metric", loss, seed)
            for name in EVAL_FILES:
                rows.append((str(ev / name), filecmp.cmp(old / ev / name, new / ev / name, shallow=False)))
            rows.append((str(mo / "model.pt"), same_weights(old / mo / "model.pt", new / mo / "model.pt")))
            rows.append(
                (str(mo / "history.csv"), same_history(old / mo / "history.csv", new / mo / "history.csv"))
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="a results/<name>/ folder")
    parser.add_argument("new", type=Path, help="the results/<name>/ folder to compare with it")
    parser.add_argument("--losses", nargs="+", help="the losses to compare (default: every loss of OLD)")
    args = parser.parse_args()
    rows = compare(args.old, args.new, args.losses)
    for name, same in rows:
        print(f"{'same  ' if same else 'DIFFER'} {name}")
    differ = sum(not same for _, same in rows)
    print(f"{len(rows) - differ} of {len(rows)} files the same" + (f", {differ} differ" if differ else ""))
    return 1 if differ or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
