"""Dataset readers: SHREC13, SHREC14, a generic folder layout, and the manifests they produce."""

from bwot.datasets.cla import format_cla, read_cla
from bwot.datasets.errors import DatasetError
from bwot.datasets.layouts import SHREC13, SHREC14, Dataset, Item, read_folder, read_shrec
from bwot.datasets.manifest import read_dataset, read_manifest, write_manifests

__all__ = [
    "SHREC13",
    "SHREC14",
    "Dataset",
    "DatasetError",
    "Item",
    "format_cla",
    "read_cla",
    "read_dataset",
    "read_folder",
    "read_manifest",
    "read_shrec",
    "write_manifests",
]
