"""The pipeline configuration, the bottom floor of bwot: it imports no stage (docs/architecture.md).

- `schema` (schema.yaml): the one home of every key, its meaning and default, and the marks that say what a
  key is for (`x-protocol`, `x-bookkeeping`, ...); the losses' names and hyper-parameters come from
  bwot.losses.registry.
- `sections`: one frozen, typed class per section (`RenderConfig`, `MetricConfig`, ...).
- `run`: `Config`, a whole validated run config, and its sweep points.
- `files`: the bounded reader of config files; `errors`: ConfigError.

What only the workflow needs (each job's params, the checks before any job runs) is in bwot.workflow.
Nothing here imports torch: the Snakefile imports this package when it parses.
"""

from bwot.config.errors import ConfigError
from bwot.config.files import MAX_CONFIG_BYTES, MAX_CONFIG_NODES, read_config_file, read_config_files
from bwot.config.run import SHREC_DATASETS, Config, SweepPoint, format_value
from bwot.config.schema import (
    SECTIONS,
    choices,
    defaults,
    job_keys,
    marked,
    properties,
    protocol_keys,
    schema,
    validate,
)
from bwot.config.sections import (
    SECTION_TYPES,
    EvaluateConfig,
    FeaturesConfig,
    MetricConfig,
    RenderConfig,
    ReportConfig,
    Section,
    SketchesConfig,
    SyntheticConfig,
)

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_NODES",
    "SECTIONS",
    "SECTION_TYPES",
    "SHREC_DATASETS",
    "Config",
    "ConfigError",
    "EvaluateConfig",
    "FeaturesConfig",
    "MetricConfig",
    "RenderConfig",
    "ReportConfig",
    "Section",
    "SketchesConfig",
    "SweepPoint",
    "SyntheticConfig",
    "choices",
    "defaults",
    "format_value",
    "job_keys",
    "marked",
    "properties",
    "protocol_keys",
    "read_config_file",
    "read_config_files",
    "schema",
    "validate",
]
