"""Snakemake entry point of rule `render_views`: one shard of the models manifest -> views HDF5."""

import contextlib

from bwot.logs import setup_logging
from bwot.render import RenderConfig, render_shard

sm = snakemake  # noqa: F821 (injected by Snakemake)
# stderr (logging and the tqdm progress bar with views/s) goes to the rule's log
with open(sm.log[0], "w", buffering=1) as log, contextlib.redirect_stderr(log):
    setup_logging()
    render_shard(
        sm.input.models,
        int(sm.wildcards.shard),
        sm.output.views,
        sm.output.skipped,
        RenderConfig.from_dict(sm.params.cfg),
        threads=sm.threads,
    )
