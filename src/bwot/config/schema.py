"""The packaged schema (schema.yaml): the one home of every key, its type, bounds, default and meaning.

`schema()` is the JSON schema with what the loss registry declares filled in (loss names, the losses'
hyper-parameters as `metric:` keys). Its marks say what a key is for, beyond its value:

- `x-protocol: true`: the key defines the method; a run that changes it departs from the paper's protocol
  (`protocol_keys`).
- `x-bookkeeping: true`: logging, checkpoints, memory bounds, file packing: a change never reruns a job.
- `x-modality: shapes|sketches`: a features key read by one modality's CNN only.
- `x-extract: true`: a features key the feature extraction reads (the rest it takes from the trained CNN).
- `x-job-list: true`: the key says which jobs exist (shards, losses, seeds), not what one computes.
- `x-sweep: false`: a scalar metric key a sweep may not vary.

`validate(config)` checks a whole config against it and fills in the defaults.
"""

from __future__ import annotations

import copy
import difflib
import functools
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from bwot.config.errors import QUOTE_CHARS, ConfigError, clip, kind_of, quote
from bwot.config.files import read_config_file
from bwot.losses.registry import HYPERPARAMETERS, LOSSES, reads

SCHEMA_PATH = Path(__file__).with_name("schema.yaml")
SECTIONS = ("synthetic", "render", "sketches", "features", "metric", "evaluate", "report")
TOP_LEVEL = ("dataset", "name", "data_dir", "seed", "sweep")


@functools.cache
def schema() -> dict[str, Any]:
    """The packaged JSON schema, with the loss registry's names and hyper-parameters filled in."""
    spec = yaml.safe_load(SCHEMA_PATH.read_text())
    metric, report = spec["properties"]["metric"]["properties"], spec["properties"]["report"]["properties"]
    for key, prop in HYPERPARAMETERS.items():  # the losses' own keys: they define the method
        metric[key] = {**copy.deepcopy(prop), "x-protocol": True}
    metric["losses"]["items"]["enum"] = list(LOSSES)
    metric["losses"]["default"] = list(LOSSES)
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
    """The metric keys a sweep may vary: those with one number or boolean value, but bookkeeping and
    keys marked `x-sweep: false`."""
    scalar = {"number", "integer", "boolean"}
    out = []
    for key, prop in metric.items():
        kinds = prop.get("type")
        if prop.get("x-bookkeeping") or prop.get("x-sweep", True) is False or kinds is None:
            continue
        if set([kinds] if isinstance(kinds, str) else kinds) - {"null"} <= scalar:
            out.append(key)
    return out


def properties(section: str) -> dict[str, Any]:
    """The schema of each key of a section."""
    return schema()["properties"][section]["properties"]


def choices(section: str, key: str) -> list[Any]:
    """The values a key with an `enum` may take (a CLI's choices)."""
    return list(properties(section)[key]["enum"])


def marked(section: str, mark: str, value: Any = True) -> list[str]:
    """The keys of `section` whose schema has `mark` (e.g. "x-protocol") equal to `value`."""
    return [key for key, prop in properties(section).items() if prop.get(mark) == value]


def job_keys(
    section: str, *, modality: str | None = None, loss: str | None = None, extract: bool = False
) -> list[str]:
    """The keys of `section` that decide what one job computes (a change reruns the job), by the marks:
    not bookkeeping (`x-bookkeeping`) nor job lists (`x-job-list`); given `modality`, not the other
    modality's (`x-modality`); given `loss`, not those only other losses read; with `extract`, only the
    extraction's own (`x-extract`)."""
    return [
        key
        for key, prop in properties(section).items()
        if not prop.get("x-bookkeeping")
        and not prop.get("x-job-list")
        and (modality is None or prop.get("x-modality", modality) == modality)
        and (loss is None or reads(loss, key))
        and (not extract or prop.get("x-extract"))
    ]


def protocol_keys() -> dict[str, list[str]]:
    """The keys that define the method (`x-protocol`), per section that has any."""
    return {section: keys for section in SECTIONS if (keys := marked(section, "x-protocol"))}


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
                yield jsonschema.ValidationError(f"{quote(item)} appears more than once")
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
Validator = jsonschema.validators.extend(
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
    errors = sorted(Validator(spec).iter_errors(dict(config)), key=_path_order)
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
    where = clip(".".join(str(p) for p in path), 2 * QUOTE_CHARS)
    if error.validator == "additionalProperties":
        allowed = list(_subschema(spec, path).get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed), key=str)
        lines = []
        for key in unknown:
            full = clip(f"{where}.{key}" if where else str(key), 2 * QUOTE_CHARS)
            guess = difflib.get_close_matches(str(key), allowed, n=1) if len(str(key)) <= QUOTE_CHARS else []
            hint = f"; did you mean '{(where + '.') if where else ''}{guess[0]}'?" if guess else ""
            lines.append(f"unknown key '{full}'{_found_in([*path, key], docs, every=True)}{hint}")
        return "\n  - ".join(lines)
    found = _found_in(path, docs)
    if error.validator == "pattern":
        rule = _subschema(spec, path).get("description", f"must match {error.validator_value}")
        return f"'{where}'{found}: {quote(error.instance)} is not allowed ({rule})"
    if error.validator == "enum":
        return f"'{where}'{found}: {quote(error.instance)} is not one of {error.validator_value}"
    if error.validator == "type" and error.validator_value == "object" and len(path) == 1:
        return (
            f"'{where}'{found}: {quote(error.instance)} is {kind_of(error.instance)}, not a mapping of keys"
        )
    return f"'{where or '(top level)'}'{found}: {error_message(error)}"


def error_message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message of `error`, with the value quoted short (and NaN, inf said plainly)."""
    value = error.instance
    if error.validator == "type" and isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    if error.validator == "maxItems":
        why = f" ({error.schema['description']})" if "description" in error.schema else ""
        return f"{len(value)} values, more than {error.validator_value}{why}"
    text = repr(value)
    message = error.message.replace(text, quote(value)) if len(text) > QUOTE_CHARS else error.message
    return clip(message, 4 * QUOTE_CHARS)


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
