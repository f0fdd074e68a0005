# Shared names and input functions. Every path of the pipeline is spelt here once.
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


# Shards: a fixed count per stage, so every job is known before the manifests exist.
VIEW_SHARDS = [f"{RES}/views/shard-{i}.h5" for i in range(config["render"]["shards"])]
SKETCH_SHARDS = {
    split: [
        f"{RES}/sketches/{split}/shard-{i}.h5"
        for i in range(config["sketches"]["shards"])
    ]
    for split in SPLITS
}


def backbone_images(wildcards):
    """Training images of one modality's backbone: views, or the training sketches."""
    return VIEW_SHARDS if wildcards.modality == "shapes" else SKETCH_SHARDS["train"]


def feature_images(wildcards):
    """Images whose features one modality's file holds: views, or train and test sketches."""
    if wildcards.modality == "shapes":
        return VIEW_SHARDS
    return SKETCH_SHARDS["train"] + SKETCH_SHARDS["test"]
