"""A whole run's config: `Config.from_mapping(config)` validates it, fills the defaults and freezes it,
one typed object per section (`cfg.render.size`), and plans its sweeps."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from bwot.config import sections
from bwot.config.errors import ConfigError
from bwot.config.schema import SECTIONS, TOP_LEVEL, marked, protocol_keys, validate
from bwot.config.sections import SECTION_TYPES, MetricConfig
from bwot.losses.registry import reads

SHREC_DATASETS = ("shrec13", "shrec14")  # datasets in an official SHREC layout


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    """One value of one swept metric key, and the losses it is trained for."""

    key: str
    value: Any
    losses: list[str]

    @property
    def label(self) -> str:
        """The value as its folder name: results/<name>/sweep/<key>/<label>/."""
        return format_value(self.value)


def format_value(value: Any) -> str:
    """A config value as a stable, readable folder name (10.0 -> '10.0', 1e-05 -> '1e-05', True -> 'true')."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


@dataclasses.dataclass(frozen=True)
class Config:
    """A whole, validated config: the top-level keys and one frozen object per section."""

    dataset: str
    name: str | None
    data_dir: str | None
    seed: int
    sweep: dict[str, list[Any]]
    synthetic: sections.SyntheticConfig
    render: sections.RenderConfig
    sketches: sections.SketchesConfig
    features: sections.FeaturesConfig
    metric: sections.MetricConfig
    evaluate: sections.EvaluateConfig
    report: sections.ReportConfig

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any], sources: Iterable[str] = ()) -> Config:
        """Validate `config` (ConfigError naming every problem), fill the defaults and freeze it."""
        filled = validate(config, sources)
        # paths as the shell would read them: ~ is the home folder
        if filled["data_dir"]:
            filled["data_dir"] = os.path.expanduser(filled["data_dir"])
        if filled["features"]["weights"] not in (None, "auto", "imagenet"):
            filled["features"]["weights"] = os.path.expanduser(filled["features"]["weights"])
        if filled["evaluate"]["ranklists"] is None:  # SHREC's own evaluation tools read rank lists
            filled["evaluate"]["ranklists"] = filled["dataset"] in SHREC_DATASETS
        sections = {s: SECTION_TYPES[s].from_mapping(filled[s]) for s in SECTIONS}
        cfg = cls(**{k: filled[k] for k in TOP_LEVEL}, **sections)
        # each value was checked against its key's own schema (schema(): sweep.properties)
        problems = [
            f"sweep.{key}: no loss of metric.losses {cfg.metric.losses} reads it: the sweep would "
            "train nothing (add a loss that reads it, or remove the key)"
            for key in cfg.sweep
            if not any(reads(loss, key) for loss in cfg.metric.losses)
        ]
        if problems:
            raise ConfigError(problems)
        return cfg

    @property
    def run_name(self) -> str:
        """The results folder name: `name`, or the dataset key."""
        return self.name or self.dataset

    @property
    def metric_seeds(self) -> list[int]:
        """The seeds of the metric stage: metric.seeds, or [seed]."""
        return list(self.metric.seeds) if self.metric.seeds is not None else [self.seed]

    def sweep_points(self) -> list[SweepPoint]:
        """Every point of the one-at-a-time sweeps whose value is not the run's own (that one is the run).

        A point is trained for the losses that read its key (bwot.losses.registry.reads)."""
        return list(self._sweep_index.values())

    def sweep_point(self, key: str, label: str) -> SweepPoint:
        """The point of `key` whose folder name is `label` (a KeyError names some known ones)."""
        point = self._sweep_index.get((key, label))
        if point is not None:
            return point
        known = [f"{k}/{v}" for k, v in itertools.islice(self._sweep_index, 10)]
        more = f", ... ({len(self._sweep_index)} in all)" if len(self._sweep_index) > len(known) else ""
        raise KeyError(
            f"no sweep point {key}/{label} in the config (points: {', '.join(known) or 'none'}{more})"
        )

    @functools.cached_property
    def _sweep_index(self) -> dict[tuple[str, str], SweepPoint]:
        """(key, label) -> point, in the config's order: built once, so planning a sweep is linear."""
        index = {}
        for key, values in self.sweep.items():
            own = getattr(self.metric, key)
            losses = [loss for loss in self.metric.losses if reads(loss, key)]
            for value in values:
                if losses and not (value == own and isinstance(value, bool) == isinstance(own, bool)):
                    point = SweepPoint(key, value, list(losses))
                    index[(key, point.label)] = point
        return index

    def metric_with(self, key: str, value: Any) -> MetricConfig:
        """The metric section with one key changed, as a sweep point trains (checked: a value the key
        cannot take is a ConfigError)."""
        return MetricConfig.from_mapping(self.metric.as_dict() | {key: value})

    @property
    def builtin_root(self) -> str:
        """Where the built-in benchmark of this config is generated: keyed by what the files depend on (the
        seed and `synthetic:` but its bookkeeping), so built-in runs with other settings never share it."""
        bookkeeping = marked("synthetic", "x-bookkeeping")
        keys = {k: v for k, v in self.synthetic.as_dict().items() if k not in bookkeeping}
        if keys["scale"] == 1:  # the full size keeps the folder it had before `scale` existed
            del keys["scale"]
        digest = hashlib.sha256(json.dumps([keys, self.seed], sort_keys=True).encode()).hexdigest()
        return f"resources/builtin/{self.synthetic.preset}-seed{self.seed}-{digest[:8]}"

    @property
    def up(self) -> str:
        """The meshes' up axis: render.up, with `auto` = z for the built-in benchmark, y (PSB/SHREC) else."""
        if self.render.up != "auto":
            return self.render.up
        return "z" if self.dataset == "builtin" else "y"

    def as_dict(self) -> dict[str, Any]:
        """Plain nested dicts (for Snakemake params and JSON)."""
        return dataclasses.asdict(self)

    def protocol(self) -> dict[str, Any]:
        """The dataset, its root and the `x-protocol` keys of each section: what defines the run's method."""
        out: dict[str, Any] = {"dataset": self.dataset, "data_dir": self.data_dir}
        for section, keys in protocol_keys().items():
            values = getattr(self, section)
            out[section] = {k: getattr(values, k) for k in keys}
        return out
