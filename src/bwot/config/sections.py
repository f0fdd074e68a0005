"""One frozen, typed class per config section: `cfg.render.size` is an `int` an editor knows.

Each class lists its keys with their Python types; the `@section` decorator takes every default from the
schema (its one home) and refuses, at import, a class whose fields are not exactly the section's keys. A
value is checked against the schema however an object is made: `RenderConfig(size=8)` raises ConfigError.
The stages take these types, or plain mappings of the same keys (`from_mapping`: missing keys take the
defaults, unknown keys are an error naming the closest one).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar, dataclass_transform

from bwot.config.errors import ConfigError
from bwot.config.schema import Validator, error_message, properties, schema

_S = TypeVar("_S", bound="Section")


class Section:
    """What every section type shares: its name, `from_mapping`, `as_dict` and the schema check."""

    section: ClassVar[str]

    def __post_init__(self) -> None:
        """Values are checked against the section's schema however the object was made."""
        spec = schema()["properties"][self.section]
        errors = list(Validator(spec).iter_errors(self.as_dict()))
        if errors:
            raise ConfigError(
                [f"'{self.section}.{'.'.join(map(str, e.path))}': {error_message(e)}" for e in errors]
            )

    @classmethod
    def from_mapping(cls: type[_S], cfg: Mapping[str, Any] | _S) -> _S:
        """The section from a mapping of its keys (missing ones take the defaults; unknown ones are an
        error), or the object itself when it is already of this type."""
        if isinstance(cfg, cls):
            return cfg
        known = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        unknown = sorted(set(cfg) - set(known))
        if unknown:
            problems = []
            for key in unknown:
                guess = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f"; did you mean '{cls.section}.{guess[0]}'?" if guess else ""
                problems.append(f"unknown key '{cls.section}.{key}'{hint}")
            raise ConfigError(problems)
        return cls(**dict(cfg))

    def as_dict(self) -> dict[str, Any]:
        """The section as a plain mapping of its keys."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass_transform(frozen_default=True)
def section(name: str) -> Callable[[type[_S]], type[_S]]:
    """A frozen dataclass of the section `name`: its fields' defaults come from the schema. TypeError at
    import when the fields are not exactly the section's keys."""

    def make(cls: type[_S]) -> type[_S]:
        props = properties(name)
        fields = list(inspect.get_annotations(cls))
        missing, extra = [k for k in props if k not in fields], [k for k in fields if k not in props]
        if missing or extra:
            raise TypeError(
                f"{cls.__name__} must have one field per key of the schema's '{name}' section: "
                f"missing {missing}, not in the schema {extra}"
            )
        for key in fields:
            default = props[key].get("default")
            if isinstance(default, list | dict):
                setattr(
                    cls, key, dataclasses.field(default_factory=functools.partial(copy.deepcopy, default))
                )
            else:
                setattr(cls, key, default)
        cls.section = name
        return dataclasses.dataclass(frozen=True)(cls)

    return make


@section("synthetic")
class SyntheticConfig(Section):
    """The `synthetic:` section: the built-in benchmark."""

    preset: str
    classes: int | None
    scale: float
    sketch_size: int
    workers: int


@section("render")
class RenderConfig(Section):
    """The `render:` section: the views of each model."""

    rig: str
    size: int
    shards: int
    up: str
    compression: str
    on_bad_mesh: str


@section("sketches")
class SketchesConfig(Section):
    """The `sketches:` section: normalised, rotated sketches."""

    size: int
    rotations: int
    step_deg: float
    shards: int
    margin: float
    thicken: str
    min_stroke: float
    compression: str
    on_bad_sketch: str


@section("features")
class FeaturesConfig(Section):
    """The `features:` section: the CNN of each modality, trained and run."""

    device: str
    backbone: str
    layer: str | None
    weights: str | None
    input_size: int
    epochs: int
    epoch_images: int | None
    batch_size: int
    train_views: int
    train_rotations: int
    view_style: str
    sketch_views: int
    optimizer: str
    lr: float
    momentum: float
    weight_decay: float
    schedule: str
    step_epochs: int
    step_gamma: float
    patience: int
    val_fraction: float
    amp: bool
    extract_batch_size: int
    workers: int


@section("metric")
class MetricConfig(Section):
    """The `metric:` section: the metric networks and their training. The losses' hyper-parameters are
    declared by bwot.losses.registry (HYPERPARAMETERS); each has its typed field here."""

    device: str
    losses: list[str]
    seeds: list[int] | None
    out_dim: int
    sketch_widths: list[int]
    shape_widths: list[int]
    batch_size: int
    optimizer: str
    lr: float
    momentum: float
    decay_rate: float
    decay_steps: int
    steps: int
    epochs: int | None
    val_every: int
    checkpoint_every: int
    val_fraction: float
    keep_checkpoints: bool
    cuda_graphs: bool
    # the losses' hyper-parameters
    margin: float
    lamb: float
    gamma: float
    sinkhorn_iters: int
    sinkhorn_log_domain: bool
    sinkhorn_tol: float | None
    detach_plan: bool
    npair_reg: float


@section("evaluate")
class EvaluateConfig(Section):
    """The `evaluate:` section: ranking the targets for each test sketch, and the metrics."""

    protocol: str
    distance: str
    pr_rule: str
    ap: str
    ranklists: bool | None
    chunk_size: int


@section("report")
class ReportConfig(Section):
    """The `report:` section: tables, plots and the gallery."""

    gallery_queries: int
    gallery_loss: str | None
    gallery_view: int


SECTION_TYPES: dict[str, type[Section]] = {
    cls.section: cls
    for cls in (
        SyntheticConfig,
        RenderConfig,
        SketchesConfig,
        FeaturesConfig,
        MetricConfig,
        EvaluateConfig,
        ReportConfig,
    )
}
