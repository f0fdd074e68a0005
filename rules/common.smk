# Shared names and input functions: where each stage's outputs live is spelt in its own rule, and other
# rules refer to them (rules.<rule>.output.<name>); the folders and shard counts are spelt here.
import shutil

from bwot.workflow import job_params
from bwot.losses.registry import LOSSES as LOSS_NAMES

NAME = CFG.run_name
RES = f"results/{NAME}"
LOGS = f"logs/{NAME}"
BENCH = f"benchmarks/{NAME}"
LOSSES = CFG.metric.losses
SEEDS = CFG.metric_seeds
SWEEP = (
    f"{RES}/sweep/{{key}}/{{value}}"  # the outputs of one sweep point live below this
)
SWEEP_POINTS = CFG.sweep_points()
MODALITIES = ["shapes", "sketches"]
RENDER_SHARDS = range(CFG.render.shards)
SKETCH_SHARDS = range(CFG.sketches.shards)


wildcard_constraints:
    shard=r"\d+",
    seed=r"\d+",
    key="|".join(CFG.sweep) or "none",
    value=r"[^/]+",
    modality="shapes|sketches",
    split="train|test",
    loss="|".join(LOSS_NAMES),


def uses_gpu(device):
    """Whether a stage configured with `device` will run on a GPU (decides `resources: gpu`)."""
    if device.startswith("cuda"):
        return True
    return device == "auto" and shutil.which("nvidia-smi") is not None


def view_shards(kind="views"):
    """Every views shard (kind `views`) or their skip reports (`skipped`)."""
    return expand(getattr(rules.render_views.output, kind), shard=RENDER_SHARDS)


def sketch_shards(split, kind="sketches"):
    """Every sketch shard of `split` (kind `sketches`) or their skip reports (`skipped`)."""
    return expand(
        getattr(rules.prepare_sketches.output, kind), split=split, shard=SKETCH_SHARDS
    )


def backbone_images(wildcards):
    """Training images of one modality's backbone: views, or the training sketches."""
    if wildcards.modality == "shapes":
        return view_shards()
    return sketch_shards("train")


def feature_images(wildcards):
    """Images whose features one modality's file holds: views, or train and test sketches."""
    if wildcards.modality == "shapes":
        return view_shards()
    return sketch_shards("train") + sketch_shards("test")


def metric_params(wildcards):
    """What one train_metric job computes with (bwot.workflow.job_params): the keys its loss reads."""
    return job_params("metric", config["metric"], loss=wildcards.loss)


def sweep_metric_params(wildcards):
    """The metric params of a sweep point's job (its one key changed)."""
    point = CFG.sweep_point(wildcards.key, wildcards.value)
    values = CFG.metric_with(point.key, point.value).as_dict()
    return job_params("metric", values, loss=wildcards.loss)


def sweep_outputs(kind):
    """The evaluate outputs (`kind`) of every sweep point, loss and seed, in the config's order."""
    return [
        path
        for point in SWEEP_POINTS
        for loss in point.losses
        for path in expand(
            getattr(rules.sweep_evaluate.output, kind),
            key=point.key,
            value=point.label,
            loss=loss,
            seed=SEEDS,
        )
    ]


def evaluation_inputs(wildcards):
    """What evaluate reads besides the model: features, classes, and the manifests and skip reports (every
    target of the manifest is ranked, skipped ones last, and every skip is reported)."""
    return {
        "shapes": features("shapes"),
        "sketches": features("sketches"),
        "classes": rules.index_dataset.output.classes,
        "models": rules.index_dataset.output.models,
        "sketch_manifest": rules.index_dataset.output.sketches,
        "skipped_targets": view_shards("skipped"),
        "skipped_queries": sketch_shards("test", "skipped"),
    }


def features(modality):
    """The features file of one modality."""
    return expand(rules.extract_features.output.features, modality=modality)[0]


def weights_file(wildcards):
    """A local weights file (or a folder's <modality>.pt) of features.weights: an input of
    train_backbone, so that a new one reruns the training."""
    weights = CFG.features.weights
    if weights in (None, "auto", "imagenet"):
        return []
    if os.path.isdir(weights):
        return [os.path.join(weights, f"{wildcards.modality}.pt")]
    return [weights]
