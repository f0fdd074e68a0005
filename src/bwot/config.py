"""The pipeline configuration: the packaged schema (schema.yaml) is the one home of every key and default.

`validate(config)` checks a whole config (closed sections, types, values) and fills in the defaults;
`Config.from_mapping(config)` gives it as frozen, typed sections (`cfg.render.size`), one type per section,
built from the schema: `RenderConfig`, `SketchesConfig`, `FeaturesConfig`, `MetricConfig`, ... . The
library's stages take these types (or plain mappings of the same keys: missing keys take the schema's
defaults, unknown keys are an error). `preflight(cfg)` finds, before any job runs, what would fail late: a
missing dataset root, weights that are not there, a gallery loss that is not trained, a feature layer the
backbone does not have.

Config files are read by `read_config_file` only (bounded: a regular file of at most MAX_CONFIG_BYTES
whose YAML, aliases expanded, has at most MAX_CONFIG_NODES nodes). This module is imported by the Snakefile
when it parses: it does not import torch.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from bwot.files import not_regular

SCHEMA_PATH = Path(__file__).with_name("schema.yaml")
SECTIONS = ("synthetic", "render", "sketches", "features", "metric", "evaluate", "report")
SHREC_DATASETS = ("shrec13", "shrec14")  # datasets in an official SHREC layout
TOP_LEVEL = ("dataset", "name", "data_dir", "seed", "sweep")
# the keys that define the method (not shards, devices, workers, logging, ...): a run that differs from
# the paper's config in one of them does not follow the paper's protocol
PROTOCOL_KEYS = {
    "render": ("rig", "size"),
    "sketches": ("size", "rotations", "step_deg"),
    "features": ("backbone", "layer", "weights", "input_size"),
    "metric": (
        "out_dim", "sketch_widths", "shape_widths", "batch_size", "margin", "lamb", "gamma",
        "sinkhorn_iters", "sinkhorn_log_domain", "sinkhorn_tol", "detach_plan", "npair_reg",
        "optimizer", "lr", "momentum", "decay_rate", "decay_steps", "steps", "epochs",
    ),
    "evaluate": ("protocol", "distance"),
}  # fmt: skip


# bounds of a config file: far above any real config (a few KB, a few hundred nodes), far below harm
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_NODES = 10_000
QUOTE_CHARS = 80  # a value quoted in a message is cut to this many characters
MAX_LISTED = 50  # problems a ConfigError's message lists (all are in .problems)


class ConfigError(ValueError):
    """A config that cannot be used; the message names every offending key and what to do."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems[:MAX_LISTED])
        if len(self.problems) > MAX_LISTED:
            lines += f"\n  ... and {len(self.problems) - MAX_LISTED} more"
        super().__init__(f"config: {len(self.problems)} problem(s):\n{lines}")


# ----------------------------------------------------------------------------------------- config files


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A config file's mapping ({} when empty); ConfigError naming the file when it is not a regular file,
    is larger than MAX_CONFIG_BYTES, is not UTF-8 YAML, expands (aliases counted) to more than
    MAX_CONFIG_NODES nodes or MAX_CONFIG_BYTES of text, refers to itself, or is not a mapping.

    Every config file is read here: nothing blocks (a FIFO is refused before it is opened) and nothing
    grows past the bounds (a YAML alias bomb is refused before it is expanded)."""
    name = os.fspath(path)

    def refuse(problem: str) -> ConfigError:
        return ConfigError([f"{name}: {problem}"])

    try:
        # stat does not open: a FIFO or a device is refused without a read
        if kind := not_regular(os.stat(name).st_mode):
            raise refuse(f"not a regular file ({kind}): write the config to a file")
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as f:
            if kind := not_regular(os.fstat(f.fileno()).st_mode):  # replaced since the stat
                raise refuse(f"not a regular file ({kind}): write the config to a file")
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise refuse("no such file") from None
    except OSError as err:
        raise refuse(f"cannot be read ({err.strerror or err})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise refuse(f"larger than {MAX_CONFIG_BYTES} bytes: not a config file (a config is a few KB)")
    loader = None
    try:
        loader = yaml.SafeLoader(data.decode("utf-8"))
        loader.name = name  # YAML's messages name the file
        node = loader.get_single_node()
        if node is None:
            return {}
        nodes, chars = _expanded_size(node, {}, set())
        if nodes > MAX_CONFIG_NODES or chars > MAX_CONFIG_BYTES:
            raise refuse(
                f"its YAML expands to {nodes} nodes and {chars} characters (more than {MAX_CONFIG_NODES} "
                f"nodes or {MAX_CONFIG_BYTES} characters): it looks like an alias bomb (anchors & "
                "and aliases * nested to repeat a value exponentially)"
            )
        content = loader.construct_document(node)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise refuse(f"not a readable YAML file ({_clip(' '.join(str(err).split()), 300)})") from None
    except RecursionError:
        raise refuse("not a readable YAML file (nested too deeply)") from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(content, dict):
        raise refuse(f"a config file holds a mapping of keys, not a {type(content).__name__}")
    return content


def read_config_files(paths: Iterable[str | os.PathLike[str]]) -> dict[str, Any]:
    """Config files merged in order (read_config_file each): a later file's keys win, section by section,
    as Snakemake merges its --configfile files. ConfigError when a file gives a section keys that an
    earlier file set to a single value."""
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for path in paths:
        for key, value in read_config_file(path).items():
            if isinstance(value, dict) and key in merged and not isinstance(merged[key], dict):
                raise ConfigError([
                    f"'{_clip(str(key), QUOTE_CHARS)}' in {origin[key]} is {_kind(merged[key])}, not a "
                    f"mapping of keys (as {os.fspath(path)} gives it)"
                ])  # fmt: skip
            both = isinstance(value, dict) and isinstance(merged.get(key), dict)
            merged[key] = {**merged[key], **value} if both else value
            origin[key] = os.fspath(path)
    return merged


def _expanded_size(node: yaml.Node, memo: dict[int, tuple[int, int]], open_: set[int]) -> tuple[int, int]:
    """Nodes and scalar characters of `node` with every alias expanded, each shared node counted once
    (memo): linear in the file, however large the expansion. ConstructorError for a node inside itself."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in open_:
        raise yaml.constructor.ConstructorError(
            None,
            None,
            "an alias refers to the node that contains it (a recursive structure)",
            node.start_mark,
        )
    if isinstance(node, yaml.ScalarNode):
        size = (1, len(node.value))
    else:
        open_.add(key)
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for kv in node.value for n in kv]
        parts = [_expanded_size(child, memo, open_) for child in children]
        open_.discard(key)
        size = (1 + sum(n for n, _ in parts), sum(c for _, c in parts))
    memo[key] = size
    return size


def _clip(text: str, limit: int = QUOTE_CHARS) -> str:
    """`text`, cut to `limit` characters with '...' when longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quote(value: Any) -> str:
    """A value as a message quotes it: its repr, cut to QUOTE_CHARS."""
    return _clip(repr(value))


def _kind(value: Any) -> str:
    """'an integer', 'a string', ... : what a YAML value is, in words."""
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}
    return "null" if value is None else names.get(type(value), f"a {type(value).__name__}")


@functools.cache
def schema() -> dict[str, Any]:
    """The packaged JSON schema, with the loss names of bwot.losses.registry filled in."""
    from bwot.losses.registry import LOSSES

    spec = yaml.safe_load(SCHEMA_PATH.read_text())
    metric, report = spec["properties"]["metric"]["properties"], spec["properties"]["report"]["properties"]
    metric["losses"]["items"]["enum"] = list(LOSSES)
    report["gallery_loss"]["enum"] = [None, *LOSSES]
    sweep = spec["properties"]["sweep"]
    sweep["propertyNames"]["enum"] = sweepable_keys(metric)
    # each swept key's values are checked against the key's own schema (not null: a point has a value)
    sweep["properties"] = {
        key: {**sweep["additionalProperties"], "items": _sweep_items(metric[key])}
        for key in sweep["propertyNames"]["enum"]
    }
    return spec


def _sweep_items(prop: Mapping[str, Any]) -> dict[str, Any]:
    kinds = [prop["type"]] if isinstance(prop["type"], str) else prop["type"]
    items = {k: v for k, v in prop.items() if k not in ("default", "description") and not k.startswith("x-")}
    return items | {"type": [k for k in kinds if k != "null"]}


def sweepable_keys(metric: Mapping[str, Any]) -> list[str]:
    """The metric keys a sweep may vary: those with one number or boolean value (not device, losses,
    seeds, widths, the optimiser's name, the validation split, nor bookkeeping)."""
    scalar = {"number", "integer", "boolean"}
    kinds = {k: v.get("type") for k, v in metric.items() if not v.get("x-bookkeeping")}
    return [
        k
        for k, t in kinds.items()
        if k != "val_fraction"
        and t is not None
        and set([t] if isinstance(t, str) else t) - {"null"} <= scalar
    ]


# metric keys that say which train_metric jobs exist, not what one of them computes
JOB_LISTS = ("losses", "seeds")


def job_params(
    section: str, values: Mapping[str, Any], *, modality: str | None = None, loss: str | None = None
) -> dict[str, Any]:
    """The keys of a config section that decide what one job computes: a rule's params (a change reruns
    the job). Left out: bookkeeping (`x-bookkeeping` in the schema), the other modality's keys
    (`x-modality`, given `modality`), the keys only other losses read (given `loss`) and JOB_LISTS.
    A job's script takes the rest from the run's config (`full_section`)."""
    from bwot.losses.registry import reads

    props = schema()["properties"][section]["properties"]
    return {
        k: v
        for k, v in values.items()
        if not props[k].get("x-bookkeeping")
        and (modality is None or props[k].get("x-modality", modality) == modality)
        and (loss is None or reads(loss, k))
        and not (section == "metric" and k in JOB_LISTS)
    }


def full_section(config: Mapping[str, Any], section: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A job's whole section: the run's config under the job's params (a sweep point's value wins)."""
    return {**config[section], **params}


def defaults(section: str | None = None) -> dict[str, Any]:
    """The schema's defaults: of one section, or of the top-level keys with every section filled."""
    props = schema()["properties"]
    if section is not None:
        return {k: copy.deepcopy(v.get("default")) for k, v in props[section]["properties"].items()}
    out = {k: copy.deepcopy(props[k].get("default")) for k in TOP_LEVEL}
    return out | {s: defaults(s) for s in SECTIONS}


def _unique_items(validator: Any, unique: bool, instance: Any, spec: Mapping[str, Any]) -> Iterable[Any]:
    """uniqueItems in linear time (jsonschema's own check is quadratic for items it cannot sort, such as
    booleans among numbers): items are compared by a hashable form with JSON's equality."""
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[Any] = set()
    try:
        for item in instance:
            key = _json_key(item)
            if key in seen:
                yield jsonschema.ValidationError(f"{_quote(item)} appears more than once")
                return
            seen.add(key)
    except TypeError:  # an item of no JSON type and no hash
        yield from jsonschema.Draft202012Validator.VALIDATORS["uniqueItems"](
            validator, unique, instance, spec
        )


def _json_key(value: Any) -> Any:
    """A hashable form of a YAML value, equal for values JSON calls equal (1 and 1.0; not true and 1)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, list):
        return ("list", tuple(_json_key(v) for v in value))
    if isinstance(value, dict):
        return ("dict", frozenset((k, _json_key(v)) for k, v in value.items()))
    return ("value", value)


# JSON Schema counts 30.0 as an integer; a count or a size written as a float is a mistake here. A number
# is finite: NaN and infinities (YAML's .nan, .inf) would only fail at run time.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    validators={"uniqueItems": _unique_items},
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many({
        "integer": lambda _, value: isinstance(value, int) and not isinstance(value, bool),
        "number": lambda _, value: (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, float) and math.isfinite(value)),
    }),
)  # fmt: skip


def validate(config: Mapping[str, Any], sources: Iterable[str | os.PathLike[str]] = ()) -> dict[str, Any]:
    """A copy of `config` with every default filled in; ConfigError naming each bad key otherwise.

    `sources` (config file paths) are searched to say where an offending key was written.
    """
    spec = schema()
    errors = sorted(_Validator(spec).iter_errors(dict(config)), key=_path_order)
    if errors:
        docs = [(os.fspath(src), _read_quietly(src)) for src in sources]
        raise ConfigError([_describe(e, spec, docs) for e in errors])
    filled = {k: copy.deepcopy(v) for k, v in config.items()}
    for key in TOP_LEVEL:
        filled.setdefault(key, defaults().get(key))
    for section in SECTIONS:
        filled[section] = defaults(section) | dict(filled.get(section) or {})
    return filled


def _path_order(error: jsonschema.ValidationError) -> list[tuple[int, int, str]]:
    """Errors in key order, list items by index (a YAML key may be a number: no str/int comparison)."""
    return [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.path]


def _read_quietly(path: str | os.PathLike[str]) -> Any:
    try:
        return read_config_file(path)
    except ConfigError:
        return None


def _describe(error: jsonschema.ValidationError, spec: dict, docs: list[tuple[str, Any]]) -> str:
    """One line per problem: the key, where it was written, what is wrong, and the closest valid key."""
    path = list(error.path)
    where = _clip(".".join(str(p) for p in path), 2 * QUOTE_CHARS)
    if error.validator == "additionalProperties":
        allowed = list(_subschema(spec, path).get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed), key=str)
        lines = []
        for key in unknown:
            full = _clip(f"{where}.{key}" if where else str(key), 2 * QUOTE_CHARS)
            guess = difflib.get_close_matches(str(key), allowed, n=1) if len(str(key)) <= QUOTE_CHARS else []
            hint = f"; did you mean '{(where + '.') if where else ''}{guess[0]}'?" if guess else ""
            lines.append(f"unknown key '{full}'{_found_in([*path, key], docs, every=True)}{hint}")
        return "\n  - ".join(lines)
    found = _found_in(path, docs)
    if error.validator == "pattern":
        rule = _subschema(spec, path).get("description", f"must match {error.validator_value}")
        return f"'{where}'{found}: {_quote(error.instance)} is not allowed ({rule})"
    if error.validator == "enum":
        return f"'{where}'{found}: {_quote(error.instance)} is not one of {error.validator_value}"
    if error.validator == "type" and error.validator_value == "object" and len(path) == 1:
        return f"'{where}'{found}: {_quote(error.instance)} is {_kind(error.instance)}, not a mapping of keys"
    return f"'{where or '(top level)'}'{found}: {_message(error)}"


def _message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message of `error`, with the value quoted short (and NaN, inf said plainly)."""
    value = error.instance
    if error.validator == "type" and isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    if error.validator == "maxItems":
        why = f" ({error.schema['description']})" if "description" in error.schema else ""
        return f"{len(value)} values, more than {error.validator_value}{why}"
    text = repr(value)
    message = error.message.replace(text, _quote(value)) if len(text) > QUOTE_CHARS else error.message
    return _clip(message, 4 * QUOTE_CHARS)


def _subschema(spec: dict, path: Iterable[Any]) -> dict:
    node = spec
    for part in path:
        node = node.get("properties", {}).get(part, {})
    return node


def _found_in(path: Sequence[Any], docs: list[tuple[str, Any]], every: bool = False) -> str:
    """' (in FILE)' for the config file whose value of the key at `path` is used (the last that sets it;
    `every`: all that set it), ' (from --config or the defaults)' when none does."""
    if not docs or not path:
        return ""
    files = [name for name, data in docs if _has_key(data, path)]
    if files:
        return f" (in {', '.join(files if every else files[-1:])})"
    return " (from --config or the defaults)"


def _has_key(data: Any, path: Sequence[Any]) -> bool:
    """Whether a config file's mapping `data` holds the key (or list item) at `path`."""
    node = data
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return False
    return True


# ---------------------------------------------------------------------------------- frozen section types

_PYTHON_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list, "null": None}


def _annotation(prop: Mapping[str, Any]) -> Any:
    kinds = prop.get("type")
    if kinds is None:  # an enum
        values = prop.get("enum", [])
        kinds = ["null" if v is None else "string" for v in values]
    kinds = [kinds] if isinstance(kinds, str) else kinds
    types = [_PYTHON_TYPES[k] for k in dict.fromkeys(kinds)]
    union = types[0] if types[0] is not None else type(None)
    for t in types[1:]:
        union = union | (type(None) if t is None else t)
    return union


def _section_type(section: str) -> type:
    """A frozen dataclass with the section's keys as fields and the schema's defaults."""
    props = schema()["properties"][section]["properties"]
    fields = []
    for key, prop in props.items():
        default = prop.get("default")
        if isinstance(default, list):
            fields.append(
                (key, _annotation(prop), dataclasses.field(default_factory=functools.partial(list, default)))
            )
        else:
            fields.append((key, _annotation(prop), dataclasses.field(default=default)))
    name = f"{section.title()}Config"
    cls = dataclasses.make_dataclass(
        name,
        fields,
        frozen=True,
        namespace={
            "__doc__": f"The `{section}:` section of the config (keys and defaults: bwot/schema.yaml).",
            "__post_init__": _check_section,
            "from_mapping": classmethod(_from_mapping),
            "as_dict": dataclasses.asdict,
            "section": section,
        },
    )
    cls.__module__ = __name__
    return cls


def _check_section(self: Any) -> None:
    """Values are checked against the section's schema however the object was made."""
    spec = schema()["properties"][self.section]
    errors = list(_Validator(spec).iter_errors(dataclasses.asdict(self)))
    if errors:
        raise ConfigError([f"'{self.section}.{'.'.join(map(str, e.path))}': {_message(e)}" for e in errors])


def _from_mapping(cls: type, cfg: Mapping[str, Any] | Any) -> Any:
    """The section from a mapping of its keys (missing ones take the defaults; unknown ones are an error),
    or the object itself when it is already of this type."""
    if isinstance(cfg, cls):
        return cfg
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(cfg) - known)
    if unknown:
        problems = []
        for key in unknown:
            guess = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"; did you mean '{cls.section}.{guess[0]}'?" if guess else ""
            problems.append(f"unknown key '{cls.section}.{key}'{hint}")
        raise ConfigError(problems)
    return cls(**dict(cfg))


SyntheticConfig = _section_type("synthetic")
RenderConfig = _section_type("render")
SketchesConfig = _section_type("sketches")
FeaturesConfig = _section_type("features")
MetricConfig = _section_type("metric")
EvaluateConfig = _section_type("evaluate")
ReportConfig = _section_type("report")
SECTION_TYPES = {
    "synthetic": SyntheticConfig,
    "render": RenderConfig,
    "sketches": SketchesConfig,
    "features": FeaturesConfig,
    "metric": MetricConfig,
    "evaluate": EvaluateConfig,
    "report": ReportConfig,
}


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
    synthetic: Any
    render: Any
    sketches: Any
    features: Any
    metric: Any
    evaluate: Any
    report: Any

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any], sources: Iterable[str] = ()) -> Config:
        """Validate `config` (ConfigError naming every problem), fill the defaults and freeze it."""
        from bwot.losses.registry import reads

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
        from bwot.losses.registry import reads

        index = {}
        for key, values in self.sweep.items():
            own = getattr(self.metric, key)
            losses = [loss for loss in self.metric.losses if reads(loss, key)]
            for value in values:
                if losses and not (value == own and isinstance(value, bool) == isinstance(own, bool)):
                    point = SweepPoint(key, value, list(losses))
                    index[(key, point.label)] = point
        return index

    def sweep_metric(self, key: str, value: Any) -> Any:
        """The metric section of a sweep point (checked: a value the key cannot take is a ConfigError)."""
        return MetricConfig.from_mapping(self.metric.as_dict() | {key: value})

    @property
    def builtin_root(self) -> str:
        """Where the built-in benchmark of this config is generated: keyed by what the files depend on (the
        seed and `synthetic:` but its `workers`), so built-in runs with other settings never share it."""
        keys = {k: v for k, v in dataclasses.asdict(self.synthetic).items() if k != "workers"}
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
        """The dataset, its root and the PROTOCOL_KEYS of each section: what defines the run's method."""
        out: dict[str, Any] = {"dataset": self.dataset, "data_dir": self.data_dir}
        for section, keys in PROTOCOL_KEYS.items():
            values = getattr(self, section)
            out[section] = {k: getattr(values, k) for k in keys}
        return out


# ------------------------------------------------------------------------------------------- preflight


def preflight(cfg: Config) -> list[str]:
    """What would fail after jobs have run, found now: each problem names the key and the fix."""
    problems = _dataset_problems(cfg) + _weights_problems(cfg.features)
    from bwot.features.layers import LAYERS

    layers = LAYERS[cfg.features.backbone]
    if cfg.features.layer is not None and cfg.features.layer not in layers:
        problems.append(
            f"features.layer '{cfg.features.layer}' is not a layer of {cfg.features.backbone}: "
            f"use one of {', '.join(layers)} (or null for the usual one)"
        )
    views = int(re.search(r"\d+$", cfg.render.rig).group())  # a rig's name ends with its number of views
    if cfg.report.gallery_view >= views:
        problems.append(
            f"report.gallery_view {cfg.report.gallery_view}: the rig {cfg.render.rig} renders views "
            f"0..{views - 1} only"
        )
    if cfg.metric.cuda_graphs and (cfg.metric.optimizer != "sgd" or cfg.metric.sinkhorn_tol is not None):
        problems.append(
            "metric.cuda_graphs: true needs metric.optimizer: sgd and metric.sinkhorn_tol: null "
            f"(not {cfg.metric.optimizer} and {cfg.metric.sinkhorn_tol}): change them, or cuda_graphs: false"
        )
    gallery = cfg.report.gallery_loss
    if gallery is not None and gallery not in cfg.metric.losses:
        problems.append(
            f"report.gallery_loss '{gallery}' is not among metric.losses {cfg.metric.losses}: "
            "add it there, or set report.gallery_loss: null (the first loss)"
        )
    return problems


def _dataset_problems(cfg: Config) -> list[str]:
    if cfg.dataset == "builtin":
        return []
    if not cfg.data_dir:
        hint = f"--config data_dir=/path/to/{cfg.dataset}"
        return [f"data_dir is not set: dataset '{cfg.dataset}' needs it ({hint})"]
    root = Path(cfg.data_dir)
    if not root.is_dir():
        return [f"data_dir '{root}' does not exist or is not a folder (dataset '{cfg.dataset}')"]
    from bwot.datasets.layouts import layout_problems

    missing = layout_problems(cfg.dataset, root)
    if not missing:
        return []
    return [
        f"data_dir '{root}' does not hold the {cfg.dataset} layout (docs/datasets.md): {'; '.join(missing)}"
    ]


def _weights_problems(features: Any) -> list[str]:
    weights = features.weights
    if weights in (None, "auto"):
        return []
    if weights == "imagenet":
        from bwot.features.layers import cached_weights_path

        path = cached_weights_path(features.backbone)
        if path.is_file():
            return []
        return [
            f"features.weights 'imagenet': no cached ImageNet weights of {features.backbone} at {path} "
            "(torchvision's cache: $TORCH_HOME/hub/checkpoints, default ~/.cache/torch/hub/checkpoints; "
            "nothing is downloaded). Put the file there, or run without them: features.weights: null "
            "(from scratch) or auto (use them when present)"
        ]
    path = Path(weights)  # ~ already expanded by Config.from_mapping
    if path.is_dir():
        missing = [f"{m}.pt" for m in ("shapes", "sketches") if not (path / f"{m}.pt").is_file()]
        if missing:
            return [
                f"features.weights '{weights}': a folder of backbones, but {', '.join(missing)} is not in it"
            ]
        return []
    if not path.is_file():
        return [f"features.weights '{weights}': no such file (a torchvision state_dict or a bwot backbone)"]
    return []


__all__ = [
    "JOB_LISTS",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_NODES",
    "PROTOCOL_KEYS",
    "SECTIONS",
    "SECTION_TYPES",
    "Config",
    "ConfigError",
    "EvaluateConfig",
    "FeaturesConfig",
    "MetricConfig",
    "RenderConfig",
    "ReportConfig",
    "SketchesConfig",
    "SyntheticConfig",
    "defaults",
    "full_section",
    "job_params",
    "preflight",
    "read_config_file",
    "read_config_files",
    "schema",
    "validate",
]
