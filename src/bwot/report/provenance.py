"""What a results table was computed on: the dataset and its counts, what was skipped, the devices and
weights, and, on SHREC13/SHREC14, every way the run differs from the paper's protocol.

The paper's protocol is the repository's config of that dataset (config/shrec13.yaml, config/shrec14.yaml:
the original's hyper-parameters); the official sizes of the benchmarks are those of bwot.datasets.layouts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bwot.config import protocol_keys, read_config_file, validate
from bwot.datasets.layouts import SHREC13, SHREC14
from bwot.datasets.manifest import read_manifest
from bwot.io import PathLike, read_attrs

OFFICIAL = {"shrec13": SHREC13.official, "shrec14": SHREC14.official}


def dataset_counts(models_csv: PathLike, sketches_csv: PathLike) -> dict[str, int]:
    """Classes (of the models), target models, train and test sketches, and the classes queried."""
    models, sketches = read_manifest(models_csv), read_manifest(sketches_csv)
    test = sketches[sketches["split"] == "test"]
    return {
        "classes": int(models["class"].nunique()),
        "models": len(models),
        "train": int((sketches["split"] == "train").sum()),
        "test": len(test),
        "query_classes": int(test["class"].nunique()),
    }


def protocol_differences(run: Mapping[str, Any], paper: Mapping[str, Any]) -> list[str]:
    """`section.key: run value (paper: value)` for every protocol key where the two configs differ."""
    run, paper = validate(run), validate(paper)
    out = []
    for section, keys in protocol_keys().items():
        for key in keys:
            if run[section][key] != paper[section][key]:
                out.append(
                    f"`{section}.{key}`: {_show(run[section][key])} (paper: {_show(paper[section][key])})"
                )
    return out


def subset_differences(dataset: str, counts: Mapping[str, int]) -> list[str]:
    """How the data differs from the distributed benchmark's size (a subset, another split)."""
    official = OFFICIAL.get(dataset)
    if official is None:
        return []
    names = {
        "models": "target models",
        "classes": "classes",
        "train": "training sketches",
        "test": "test sketches",
    }
    diffs = [f"{counts[k]} of its {official[k]} {names[k]}" for k in names if counts[k] != official[k]]
    return [f"a subset of {dataset.upper()}: " + ", ".join(diffs)] if diffs else []


def run_section(
    *,
    dataset: str,
    data_dir: str | None,
    counts: Mapping[str, int],
    metrics: Mapping[str, Mapping[str, Any]],
    backbones: Sequence[Mapping[str, Any]],
    run_config: Mapping[str, Any] | None = None,
    paper_config: Mapping[str, Any] | None = None,
    feature_devices: Mapping[str, str | None] | None = None,
) -> str:
    """The markdown section "The run" of metrics.md. `feature_devices`: {modality: the device its features
    were extracted on} (`read_feature_devices`), for the line of the devices each stage used."""
    where = f" at `{data_dir}`" if data_dir and dataset != "builtin" else ""
    lines = [
        "## The run",
        "",
        f"- **Dataset**: {dataset}{where}: {counts['classes']} classes, {counts['models']} target models, "
        f"{counts['train']} training and {counts['test']} test sketches ({counts['query_classes']} classes "
        "queried).",
    ]
    first = next(iter(metrics.values()))
    lines.append(_skipped_line(first.get("skipped", {})))
    for b in backbones:
        lines.append(
            f"- **{b['modality'].capitalize()} CNN**: {b['backbone']} ({b['layer']}), weights: "
            f"{b['weights']}, trained on {b['device']}: validation accuracy {b['best_score']:.3f} "
            f"(epoch {b['best_epoch']} of {b['epochs']}, {b['classes']} classes)."
        )
    trained = {loss: v.get("model", {}) for loss, v in metrics.items()}
    models = [f"{loss} {m.get('steps', '?')} steps on {m.get('device', '?')}" for loss, m in trained.items()]
    lines.append(f"- **Metric networks**: {', '.join(models)}.")
    lines.append(devices_line(backbones, feature_devices or {}, trained))
    if paper_config is not None and run_config is not None:
        diffs = subset_differences(dataset, counts) + protocol_differences(run_config, paper_config)
        if first.get("n_targets_skipped") or first.get("n_queries_skipped"):
            diffs.append("items skipped as bad (above)")
        if diffs:
            lines += ["", f"**Differs from the paper's protocol** (Xu et al., {dataset.upper()}):", ""]
            lines += [f"- {d}" for d in diffs]
        else:
            lines += ["", f"The run follows the paper's protocol on {dataset.upper()}."]
    return "\n".join(lines) + "\n"


def read_feature_devices(files: Mapping[str, PathLike]) -> dict[str, str | None]:
    """{modality: the device its features file (features/<modality>.h5) was extracted on, its `device`
    attribute; None for a file written before extraction recorded it}."""
    return {modality: read_attrs(path).get("device") for modality, path in files.items()}


def devices_line(
    backbones: Sequence[Mapping[str, Any]],
    features: Mapping[str, str | None],
    models: Mapping[str, Mapping[str, Any]],
) -> str:
    """The devices each torch stage used, as recorded by its outputs: train_backbone per modality (its
    summary JSON), extract_features per modality (the features file), train_metric per loss (the model's
    meta, as evaluate copies it into metrics.json). "not recorded" where an output does not say."""

    def each(pairs: Sequence[tuple[str, Any]]) -> str:
        return ", ".join(f"{name} {device or 'not recorded'}" for name, device in pairs) or "not recorded"

    stages = {
        "train_backbone": each([(b["modality"], b.get("device")) for b in backbones]),
        "extract_features": each(list(features.items())),
        "train_metric": each([(loss, m.get("device")) for loss, m in models.items()]),
    }
    return "- **Devices**: " + "; ".join(f"{stage}: {used}" for stage, used in stages.items()) + "."


def _skipped_line(skipped: Mapping[str, Sequence[Mapping[str, str]]]) -> str:
    targets, queries = skipped.get("targets", []), skipped.get("queries", [])
    if not targets and not queries:
        return "- **Skipped**: nothing: every target model is ranked and every test sketch is a query."
    parts = []
    if targets:
        parts.append(f"{len(targets)} target model(s), still counted and ranked last for every query: "
                     + "; ".join(f"{t['id']} ({t['class']}): {t['reason']}" for t in targets))  # fmt: skip
    if queries:
        parts.append(f"{len(queries)} test sketch(es), not queried: "
                     + "; ".join(f"{q['id']} ({q['class']}): {q['reason']}" for q in queries))  # fmt: skip
    return "- **Skipped**: " + " — ".join(parts) + "."


def read_json(path: PathLike) -> dict[str, Any]:
    """A JSON file as a dict."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_yaml(path: PathLike) -> dict[str, Any]:
    """A config file as a dict (an empty file: {}), read within bwot.config.read_config_file's bounds."""
    return read_config_file(path)


def _show(value: Any) -> str:
    return "`null`" if value is None else f"`{value}`"


__all__ = [
    "dataset_counts",
    "devices_line",
    "protocol_differences",
    "read_feature_devices",
    "read_json",
    "read_yaml",
    "run_section",
]
