"""`bwot evaluate`: the SHREC metrics of a trained metric model, without Snakemake."""

from __future__ import annotations

import argparse
from pathlib import Path

from bwot.config import EvaluateConfig, choices
from bwot.evaluation.evaluate import evaluate_files
from bwot.evaluation.inventory import Inventory
from bwot.io import json_text
from bwot.metric import load_metric_model

OUTPUTS = {
    "metrics": "metrics.json",
    "pr": "pr.csv",
    "per_class": "per_class.csv",
    "ranking": "ranking.npz",
    "per_query": "per_query.csv",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="metric/<loss>/seed-<s>/model.pt")
    parser.add_argument("sketches", type=Path, help="features/sketches.h5")
    parser.add_argument("shapes", type=Path, help="features/shapes.h5")
    parser.add_argument("--out", type=Path, required=True, help="folder for metrics.json, pr.csv, ...")
    parser.add_argument("--classes", type=Path, help="manifest/classes.txt (class names in per_class.csv)")
    parser.add_argument(
        "--protocol", choices=choices("evaluate", "protocol"), default=EvaluateConfig.protocol
    )
    parser.add_argument(
        "--distance", choices=choices("evaluate", "distance"), default=EvaluateConfig.distance
    )
    parser.add_argument(
        "--pr-rule",
        choices=choices("evaluate", "pr_rule"),
        default=EvaluateConfig.pr_rule,
        help="PR curve rule",
    )
    parser.add_argument(
        "--ap", choices=choices("evaluate", "ap"), default=EvaluateConfig.ap, help="AP divisor"
    )
    parser.add_argument("--ranklists", action="store_true", help="also write SHREC rank lists: OUT/ranklists")
    parser.add_argument(
        "--manifests",
        type=Path,
        help="folder with models.csv and sketches.csv: rank every target of the manifest (skipped ones last)",
    )
    parser.add_argument("--skipped-targets", type=Path, nargs="*", default=[], help="views skip reports")
    parser.add_argument(
        "--skipped-queries", type=Path, nargs="*", default=[], help="test sketch skip reports"
    )


def run(args: argparse.Namespace) -> int:
    cfg = {
        "protocol": args.protocol,
        "distance": args.distance,
        "ranklists": args.ranklists,
        "pr_rule": args.pr_rule,
        "ap": args.ap,
    }
    outputs = {key: args.out / name for key, name in OUTPUTS.items()}
    inventory = None
    if args.manifests:
        inventory = Inventory.from_files(
            args.manifests / "models.csv",
            args.manifests / "sketches.csv",
            args.skipped_targets,
            args.skipped_queries,
        )
    result = evaluate_files(
        args.model,
        args.sketches,
        args.shapes,
        outputs,
        cfg,
        classes_txt=args.classes,
        ranklists_dir=args.out / "ranklists",
        loader=load_metric_model,
        inventory=inventory,
    )
    print(json_text(result.summary()))
    return 0
