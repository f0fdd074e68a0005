# Shared names and input functions. Every path of the pipeline is spelt here once.
import math
import shutil

NAME = config.get("name") or config["dataset"]
RES = f"results/{NAME}"
LOGS = f"logs/{NAME}"
BENCH = f"benchmarks/{NAME}"
BUILTIN_ROOT = "resources/builtin"
MODALITIES = ["shapes", "sketches"]
SPLITS = ["train", "test"]


wildcard_constraints:
    shard=r"\d+",
    modality="shapes|sketches",
    split="train|test",
    loss="ot|contrastive|lifted|npair",


def dataset_root():
    """The dataset root: the generated benchmark for `builtin`, else the configured data_dir."""
    if config["dataset"] == "builtin":
        return BUILTIN_ROOT
    if not config.get("data_dir"):
        raise ValueError(f"config: dataset '{config['dataset']}' needs data_dir")
    return config["data_dir"]


def uses_gpu(device):
    """Whether a stage configured with `device` will run on a GPU (decides `resources: gpu`)."""
    if device.startswith("cuda"):
        return True
    return device == "auto" and shutil.which("nvidia-smi") is not None


def _count_rows(path, split=None):
    from bwot.datasets import read_manifest

    table = read_manifest(path)
    return len(table) if split is None else int((table["split"] == split).sum())


def view_shards(wildcards):
    """All views shards, known once the manifest exists (checkpoint)."""
    models = checkpoints.index_dataset.get().output.models
    n = math.ceil(_count_rows(models) / config["render"]["shard_size"])
    return [f"{RES}/views/shard-{i}.h5" for i in range(n)]


def sketch_shards(split):
    """Input function: the sketch shards of one split."""

    def shards(wildcards):
        sketches = checkpoints.index_dataset.get().output.sketches
        n = math.ceil(_count_rows(sketches, split) / config["sketches"]["shard_size"])
        return [f"{RES}/sketches/{split}/shard-{i}.h5" for i in range(n)]

    return shards


def backbone_images(wildcards):
    """Training images of one modality's backbone: views, or the training sketches."""
    if wildcards.modality == "shapes":
        return view_shards(wildcards)
    return sketch_shards("train")(wildcards)


def feature_images(wildcards):
    """Images whose features one modality's file holds: views, or train and test sketches."""
    if wildcards.modality == "shapes":
        return view_shards(wildcards)
    return sketch_shards("train")(wildcards) + sketch_shards("test")(wildcards)
