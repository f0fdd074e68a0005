# Stage 6b: the table of all losses (also as a page the HTML report shows), PR curves, convergence, a
# retrieval gallery, and per-class mAP, class confusion, the worst queries and a map of the embedding.
CAPTIONS = "../workflow/report/captions"
# the loss whose rankings and embedding the gallery and the figures of a class show
GALLERY_LOSS = CFG.report.gallery_loss or LOSSES[0]
# the paper's protocol, to say how this run differs from it (SHREC datasets only)
PAPER_CONFIG = (
    [os.path.join(workflow.basedir, "config", f"{CFG.dataset}.yaml")]
    if CFG.dataset in ("shrec13", "shrec14")
    else []
)


report: "../workflow/report/workflow.rst"


rule report:
    input:
        # every loss and seed, loss-major (the script splits them back with params losses and seeds)
        metrics=expand(rules.evaluate.output.metrics, loss=LOSSES, seed=SEEDS),
        pr=expand(rules.evaluate.output.pr, loss=LOSSES, seed=SEEDS),
        per_query=expand(rules.evaluate.output.per_query, loss=LOSSES, seed=SEEDS),
        ranking=expand(rules.evaluate.output.ranking, loss=LOSSES, seed=SEEDS),
        history=expand(rules.train_metric.output.history, loss=LOSSES, seed=SEEDS),
        sweep=sweep_outputs("per_query"),
        backbones=expand(rules.train_backbone.output.summary, modality=MODALITIES),
        views=view_shards(),
        test_sketches=sketch_shards("test"),
        classes=rules.index_dataset.output.classes,
        models=rules.index_dataset.output.models,
        sketches=rules.index_dataset.output.sketches,
        paper_config=PAPER_CONFIG,
        # the map of the embedding space: the gallery loss's first-seed metric applied to the features
        gallery_model=expand(
            rules.train_metric.output.model, loss=GALLERY_LOSS, seed=SEEDS[0]
        ),
        shape_features=features("shapes"),
        sketch_features=features("sketches"),
    output:
        table=report(
            f"{RES}/report/metrics.md",
            caption=f"{CAPTIONS}/metrics.rst",
            category="Results",
            labels={"figure": "results table (markdown)"},
        ),
        # the same as a page: the report shows HTML in place (CSV and markdown only as downloads)
        html=report(
            f"{RES}/report/metrics.html",
            caption=f"{CAPTIONS}/metrics_html.rst",
            category="Results",
            labels={"figure": "results table (page)"},
        ),
        csv=report(
            f"{RES}/report/metrics.csv",
            caption=f"{CAPTIONS}/metrics.rst",
            category="Results",
            labels={"figure": "results table"},
        ),
        pr=report(
            f"{RES}/report/pr_curves.png",
            caption=f"{CAPTIONS}/pr_curves.rst",
            category="Results",
            labels={"figure": "precision-recall"},
        ),
        pr_data=f"{RES}/report/pr_curves.csv",
        convergence=report(
            f"{RES}/report/convergence.png",
            caption=f"{CAPTIONS}/convergence.rst",
            category="Training",
            labels={"figure": "convergence"},
        ),
        gallery=report(
            f"{RES}/report/gallery.png",
            caption=f"{CAPTIONS}/gallery.rst",
            category="Results",
            labels={"figure": "retrieval gallery"},
        ),
        per_class=report(
            f"{RES}/report/per_class_map.csv",
            caption=f"{CAPTIONS}/per_class_map.rst",
            category="Results",
            labels={"figure": "mAP per class (table)"},
        ),
        per_class_figure=report(
            f"{RES}/report/per_class_map.png",
            caption=f"{CAPTIONS}/per_class_map.rst",
            category="Results",
            labels={"figure": "mAP per class"},
        ),
        confusion=report(
            f"{RES}/report/confusion.png",
            caption=f"{CAPTIONS}/confusion.rst",
            category="Results",
            labels={"figure": "class confusion"},
        ),
        worst=report(
            f"{RES}/report/worst_queries.png",
            caption=f"{CAPTIONS}/worst_queries.rst",
            category="Results",
            labels={"figure": "worst queries"},
        ),
        embedding=report(
            f"{RES}/report/embedding.png",
            caption=f"{CAPTIONS}/embedding.rst",
            category="Results",
            labels={"figure": "embedding map"},
        ),
        intervals=report(
            f"{RES}/report/intervals.csv",
            caption=f"{CAPTIONS}/intervals.rst",
            category="Results",
            labels={"figure": "95% intervals"},
        ),
        differences=report(
            f"{RES}/report/differences.csv",
            caption=f"{CAPTIONS}/differences.rst",
            category="Results",
            labels={"figure": "paired differences"},
        ),
        sweep=(
            [
                report(
                    f"{RES}/report/sweep.csv",
                    caption=f"{CAPTIONS}/sweep_table.rst",
                    category="Sweeps",
                    labels={"figure": "all points"},
                )
            ]
            if SWEEP_POINTS
            else []
        ),
        sweep_figures=[
            report(
                f"{RES}/report/sweep-{key}.png",
                caption=f"{CAPTIONS}/sweep.rst",
                category="Sweeps",
                labels={"figure": f"sweep of {key}"},
            )
            for key in dict.fromkeys(p.key for p in SWEEP_POINTS)
        ],
    log:
        f"{LOGS}/report.log",
    conda:
        "../envs/bwot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime="15m",
    params:
        dataset=CFG.dataset,
        name=NAME,
        seed=CFG.seed,
        losses=LOSSES,
        seeds=len(SEEDS),
        # (key, value, loss) of every sweep run, in the order of input.sweep (one file per seed each)
        sweep=[(p.key, p.value, loss) for p in SWEEP_POINTS for loss in p.losses],
        sweep_base={key: config["metric"][key] for key in CFG.sweep},
        cfg=job_params("report", config["report"]),
        # what the report says of the run: its protocol where there is a paper's to compare with
        run_config=(
            CFG.protocol()
            if PAPER_CONFIG
            else {"dataset": CFG.dataset, "data_dir": CFG.data_dir}
        ),
    script:
        "../workflow/scripts/report.py"
