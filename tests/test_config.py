"""bwot.config: the schema as the one home of defaults, the frozen section types, clear errors, preflight."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from bwot.config import (
    SECTION_TYPES,
    Config,
    ConfigError,
    FeaturesConfig,
    MetricConfig,
    RenderConfig,
    defaults,
    preflight,
    schema,
    validate,
)
from bwot.features.layers import LAYERS, cached_weights_path, resolve_layer, torch_hub_dir
from bwot.losses.registry import LOSSES

CONFIGS = sorted(p.name for p in (REPO / "config").glob("*.yaml"))


def test_section_types_carry_the_schema_defaults():
    props = schema()["properties"]
    for section, cls in SECTION_TYPES.items():
        fields = {f.name for f in dataclasses.fields(cls)}
        assert fields == set(props[section]["properties"]), section
        assert dataclasses.asdict(cls()) == defaults(section), section
    assert RenderConfig().size == 64 and MetricConfig().lamb == 10.0 and MetricConfig().losses == list(LOSSES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        RenderConfig().size = 32  # type: ignore[misc]
    a, b = MetricConfig(), MetricConfig()
    assert a.sketch_widths == b.sketch_widths and a.sketch_widths is not b.sketch_widths  # no shared list


def test_loss_names_come_from_the_registry():
    metric = schema()["properties"]["metric"]["properties"]
    assert metric["losses"]["items"]["enum"] == list(LOSSES)
    assert schema()["properties"]["report"]["properties"]["gallery_loss"]["enum"] == [None, *LOSSES]
    with pytest.raises(ConfigError, match=r"'metric.losses.1': 'triplet' is not one of"):
        validate({"dataset": "builtin", "metric": {"losses": ["ot", "triplet"]}})


def test_values_are_checked_however_a_section_is_made():
    with pytest.raises(ConfigError, match=r"'render.rig': 'cube6' is not one of"):
        RenderConfig(rig="cube6")
    with pytest.raises(ConfigError, match=r"'features.epochs': 0 is less than the minimum of 1"):
        FeaturesConfig.from_mapping({"epochs": 0})
    assert FeaturesConfig.from_mapping({"epochs": 3}).epochs == 3
    cfg = MetricConfig(lr=0.1)
    assert MetricConfig.from_mapping(cfg) is cfg


def test_unknown_key_is_named_with_its_file_and_the_closest_key(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("dataset: builtin\nrender:\n  sise: 32\nmetric:\n  lamda: 3\n  zzz: 1\n")
    with pytest.raises(ConfigError) as info:
        Config.from_mapping(yaml.safe_load(path.read_text()), sources=[path])
    message = str(info.value)
    assert f"unknown key 'render.sise' (in {path}); did you mean 'render.size'?" in message
    assert f"unknown key 'metric.lamda' (in {path}); did you mean 'metric.lamb'?" in message
    assert f"unknown key 'metric.zzz' (in {path})" in message and "did you mean 'metric.zzz" not in message
    assert len(message.splitlines()) == 4  # the count, then one line per key: no schema dump
    with pytest.raises(ConfigError, match=r"unknown key 'renderr' \(from --config or the defaults\)"):
        Config.from_mapping({"dataset": "builtin", "renderr": {}}, sources=[path])


@pytest.mark.parametrize("name", [".", ".."])
def test_name_cannot_escape_results(name):
    with pytest.raises(ConfigError, match=rf"'name': '{name}' is not allowed .*not '\.' or '\.\.'"):
        Config.from_mapping({"dataset": "builtin", "name": name})
    assert Config.from_mapping({"dataset": "builtin", "name": "run.2"}).run_name == "run.2"


def test_config_fills_every_default_and_resolves_up():
    cfg = Config.from_mapping({"dataset": "builtin"})
    assert cfg.run_name == "builtin" and cfg.seed == 0 and cfg.up == "z"
    assert cfg.as_dict()["render"] == defaults("render")
    shrec = Config.from_mapping({"dataset": "shrec13", "render": {"up": "x"}})
    assert shrec.up == "x" and Config.from_mapping({"dataset": "shrec13"}).up == "y"
    protocol = cfg.protocol()
    assert protocol["features"]["backbone"] == "resnet18" and "shards" not in protocol["render"]


@pytest.mark.parametrize("name", CONFIGS)
def test_config_files_validate_and_hold_only_departures(name):
    """A config file lists what differs from the schema's defaults, nothing that repeats them."""
    raw = yaml.safe_load((REPO / "config" / name).read_text())
    Config.from_mapping(raw)
    same = [
        f"{section}.{key}"
        for section, values in raw.items()
        if section in SECTION_TYPES
        for key, value in values.items()
        if value == defaults(section)[key]
    ]
    same += [
        key for key, value in raw.items() if not isinstance(value, dict) and value == defaults().get(key)
    ]
    assert not same, f"config/{name} repeats defaults: {same}"


def test_importing_the_config_does_not_import_torch():
    """The Snakefile imports bwot.config at parse time: it must stay light."""
    code = (
        "import sys, bwot.config as c, bwot.losses.registry, bwot.features.layers\n"
        "cfg = {'dataset': 'builtin', 'features': {'weights': 'imagenet', 'backbone': 'alexnet'}}\n"
        "c.preflight(c.Config.from_mapping(cfg))\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------- preflight


def write_shrec13_layout(root: Path, cla: bool = True) -> Path:
    for folder in (
        "SHREC13_SBR_TARGET_MODELS/models",
        "SHREC13_SBR_TRAINING_SKETCHES/SHREC13_SBR_TRAINING_SKETCHES",
        "SHREC13_SBR_TESTING_SKETCHES",
        "SHREC2013_Sketch_Evaluation",
    ):
        (root / folder).mkdir(parents=True, exist_ok=True)
    if cla:
        for name in ("Model", "Sketch_Train", "Sketch_Test"):
            (root / "SHREC2013_Sketch_Evaluation" / f"SHREC13_SBR_{name}.cla").write_text("PSB 1\n0 0\n")
    return root


def problems_of(**config) -> list[str]:
    return preflight(Config.from_mapping({"dataset": "builtin", **config}))


def test_preflight_passes_a_good_config(tmp_path):
    assert problems_of() == []
    assert problems_of(dataset="shrec13", data_dir=str(write_shrec13_layout(tmp_path))) == []


def test_preflight_names_a_missing_or_wrong_dataset_root(tmp_path):
    assert problems_of(dataset="shrec13") == [
        "data_dir is not set: dataset 'shrec13' needs it (--config data_dir=/path/to/shrec13)"
    ]
    assert problems_of(dataset="shrec14", data_dir=str(tmp_path / "nope")) == [
        f"data_dir '{tmp_path / 'nope'}' does not exist or is not a folder (dataset 'shrec14')"
    ]
    root = write_shrec13_layout(tmp_path / "half", cla=False)
    (root / "SHREC13_SBR_TESTING_SKETCHES").rmdir()
    (problem,) = problems_of(dataset="shrec13", data_dir=str(root))
    assert problem.startswith(f"data_dir '{root}' does not hold the shrec13 layout (docs/datasets.md): ")
    assert f"missing folder {root / 'SHREC13_SBR_TESTING_SKETCHES'}" in problem
    assert all(f"SHREC13_SBR_{n}.cla" in problem for n in ("Model", "Sketch_Train", "Sketch_Test"))
    assert problems_of(dataset="folder", data_dir=str(tmp_path)) == [
        f"data_dir '{tmp_path}' does not hold the folder layout (docs/datasets.md): "
        f"missing folder {tmp_path / 'models'}; missing folder {tmp_path / 'sketches'}"
    ]


def test_preflight_imagenet_weights_need_the_cached_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    features = {"backbone": "alexnet", "layer": "fc7", "weights": "imagenet"}
    (problem,) = problems_of(features=features)
    path = cached_weights_path("alexnet")
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    assert f"no cached ImageNet weights of alexnet at {path}" in problem
    assert "features.weights: null" in problem and "auto" in problem and "download" in problem
    assert problems_of(features={**features, "weights": "auto"}) == []
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    assert problems_of(features=features) == []


def test_preflight_weights_file_gallery_loss_and_layer(tmp_path):
    assert problems_of(features={"weights": str(tmp_path / "w.pth")}) == [
        f"features.weights '{tmp_path / 'w.pth'}': no such file (a torchvision state_dict or a bwot backbone)"
    ]
    (gallery,) = problems_of(metric={"losses": ["ot", "npair"]}, report={"gallery_loss": "lifted"})
    assert gallery.startswith("report.gallery_loss 'lifted' is not among metric.losses ['ot', 'npair']")
    (layer,) = problems_of(features={"backbone": "resnet18", "layer": "fc7"})
    assert layer == (
        "features.layer 'fc7' is not a layer of resnet18: use one of layer2, layer3, avgpool "
        "(or null for the usual one)"
    )


def test_preflight_gallery_view_and_cuda_graphs():
    (view,) = problems_of(render={"rig": "ring12"}, report={"gallery_view": 12})
    assert view == "report.gallery_view 12: the rig ring12 renders views 0..11 only"
    assert problems_of(report={"gallery_view": 19}) == []
    (graphs,) = problems_of(metric={"cuda_graphs": True, "optimizer": "adam"})
    assert graphs.startswith("metric.cuda_graphs: true needs metric.optimizer: sgd")
    assert problems_of(metric={"cuda_graphs": True, "sinkhorn_tol": 0.01}) != []
    assert problems_of(metric={"cuda_graphs": True}) == []


def test_torch_hub_dir_is_torchs(tmp_path, monkeypatch):
    import torch

    for env in ({"TORCH_HOME": str(tmp_path / "th")}, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}, {}):
        monkeypatch.delenv("TORCH_HOME", raising=False)
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert torch_hub_dir() == Path(torch.hub.get_dir()), env


def test_weight_file_names_are_torchvisions():
    import torchvision

    for backbone in LAYERS:
        url = torchvision.models.get_model_weights(backbone).DEFAULT.url
        assert cached_weights_path(backbone).name == url.rsplit("/", 1)[-1], backbone


def test_integers_written_as_floats_are_refused():
    with pytest.raises(ConfigError, match=r"'features.epochs': 30.0 is not of type 'integer'"):
        validate({"dataset": "builtin", "features": {"epochs": 30.0}})
    with pytest.raises(ConfigError, match=r"'metric.steps': 4.0 is not of type 'integer'"):
        MetricConfig.from_mapping({"steps": 4.0})
    assert validate({"dataset": "builtin", "metric": {"lr": 1}})["metric"]["lr"] == 1  # a number may be 1


def test_layers_and_their_defaults():
    assert resolve_layer("alexnet", None) == "fc7" and resolve_layer("resnet50", None) == "avgpool"
    assert set(LAYERS) == {"alexnet", "vgg11_bn", "resnet18", "resnet34", "resnet50"}
    with pytest.raises(ValueError, match="valid layers: layer2, layer3, avgpool"):
        resolve_layer("resnet18", "fc6")


def test_home_in_paths_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = Config.from_mapping({"dataset": "folder", "data_dir": "~/data", "features": {"weights": "~/w.pt"}})
    assert cfg.data_dir == str(tmp_path / "data") and cfg.features.weights == str(tmp_path / "w.pt")


def test_a_sweep_no_loss_reads_is_refused():
    with pytest.raises(ConfigError, match=r"sweep.lamb: no loss of metric.losses \['contrastive'\] reads it"):
        Config.from_mapping(
            {"dataset": "builtin", "metric": {"losses": ["contrastive"]}, "sweep": {"lamb": [1]}}
        )
