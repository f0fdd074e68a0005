"""bwot: sketch-based 3D shape retrieval with a batch-wise optimal-transport metric.

.venv/bin/snakemake --cores N                                   # built-in benchmark (config/config.yaml)
.venv/bin/snakemake --configfile config/shrec13.yaml --cores N  # SHREC13 (set data_dir)

The config is checked by bwot.config against the packaged schema (src/bwot/config/schema.yaml, the one home of
every key and default): a config file lists only what differs from the defaults. config/config.yaml is
read only when no --configfile is given, so another config never inherits the built-in benchmark's keys.
"""

import os

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import min_version

from bwot.config import Config, ConfigError, read_config_files
from bwot.workflow import check_devices, preflight

min_version("9.0")


if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


CONFIG_FILES = workflow.overwrite_configfiles or ["config/config.yaml"]
try:
    # each file within bwot's bounds (no alias bomb, no FIFO, no huge file) before `config` is walked
    read_config_files(CONFIG_FILES)
    CFG = Config.from_mapping(config, sources=CONFIG_FILES)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
if problems := preflight(CFG):
    raise WorkflowError(str(ConfigError(problems)))

# where the jobs run on this machine: cuda without usable CUDA stops the run, a GPU-sized run on auto that
# would fall back to the CPU is warned of (now, or when the run starts: onstart below; docs/gpu.md)
if problems := check_devices(CFG, workflow, started=False, warn=logger.warning):
    raise WorkflowError(str(ConfigError(problems)))
config.update(CFG.as_dict())  # every default filled in (captions and params read it)
# where envs/bwot.post-deploy.sh finds the project when `--sdm conda` builds the environment
os.environ.setdefault("BWOT_ROOT", workflow.basedir)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/render.smk"
include: "rules/sketches.smk"
include: "rules/features.smk"
include: "rules/metric.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/query.smk"


onstart:
    if problems := check_devices(CFG, workflow, started=True, warn=logger.warning):
        raise WorkflowError(str(ConfigError(problems)))


rule all:
    default_target: True
    input:
        rules.report.output,
        expand(rules.retrieval_index.output.index, loss=LOSSES),
