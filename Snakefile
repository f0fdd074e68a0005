"""bwot: sketch-based 3D shape retrieval with a batch-wise optimal-transport metric.

snakemake --cores N                                   # built-in benchmark (config/config.yaml)
snakemake --configfile config/shrec13.yaml --cores N  # SHREC13 (set data_dir)
"""

import os

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")
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


rule all:
    default_target: True
    input:
        rules.report.output,
