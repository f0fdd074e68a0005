"""bwot.config: the schema as the one home of defaults, the frozen section types, clear errors, preflight."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from bwot.config import (
    MAX_CONFIG_BYTES,
    SECTION_TYPES,
    Config,
    ConfigError,
    FeaturesConfig,
    MetricConfig,
    RenderConfig,
    defaults,
    read_config_file,
    read_config_files,
    schema,
    validate,
)
from bwot.features.layers import BACKBONES, LAYERS, cached_weights_path, resolve_layer, torch_hub_dir
from bwot.losses.registry import HYPERPARAMETERS, LOSSES
from bwot.workflow import preflight

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
    assert MetricConfig().losses == list(LOSSES)  # the default: every registered loss
    with pytest.raises(ConfigError, match=r"'metric.losses.1': 'no-such-loss' is not one of"):
        validate({"dataset": "builtin", "metric": {"losses": ["ot", "no-such-loss"]}})


def test_loss_hyperparameters_come_from_the_registry():
    """Each loss declares its hyper-parameters; the schema takes them (type, bounds, default, meaning)."""
    metric = schema()["properties"]["metric"]["properties"]
    for key, prop in HYPERPARAMETERS.items():
        assert {k: v for k, v in metric[key].items() if k != "x-protocol"} == prop, key
        assert metric[key]["x-protocol"] and key in schema()["properties"]["sweep"]["propertyNames"]["enum"]
    assert {k for entry in LOSSES.values() for k in entry.keys} == set(HYPERPARAMETERS)


def test_every_key_has_a_description():
    spec = schema()
    missing = [k for k, p in spec["properties"].items() if "description" not in p]
    for section, prop in spec["properties"].items():
        missing += [f"{section}.{k}" for k, p in prop.get("properties", {}).items() if "description" not in p]
    assert not missing


def test_section_types_must_list_the_schemas_keys():
    from bwot.config.sections import Section, section

    with pytest.raises(TypeError, match=r"missing \['size', 'shards', .*not in the schema \['sise'\]"):

        @section("render")
        class Wrong(Section):
            rig: str
            sise: int


def test_code_lists_of_allowed_values_equal_the_schema():
    """Where a stage keeps its own list of allowed values (its CLI's choices, its checks), it is the
    schema's, so a value added to one is added to the other."""
    from bwot.datasets.manifest import KINDS
    from bwot.evaluation.distances import DISTANCES
    from bwot.evaluation.evaluate import PROTOCOLS
    from bwot.optim import OPTIMIZERS
    from bwot.render.rigs import RIGS
    from bwot.synthetic.presets import PRESETS

    props = schema()["properties"]
    enum = {s: {k: p.get("enum") for k, p in props[s]["properties"].items()} for s in SECTION_TYPES}
    assert list(BACKBONES) == enum["features"]["backbone"] and set(LAYERS) == set(BACKBONES)
    assert list(RIGS) == enum["render"]["rig"]
    assert list(OPTIMIZERS) == enum["features"]["optimizer"] == enum["metric"]["optimizer"]
    assert list(PROTOCOLS) == enum["evaluate"]["protocol"]
    assert list(DISTANCES) == enum["evaluate"]["distance"]
    assert set(PRESETS) == set(enum["synthetic"]["preset"])
    assert list(KINDS) == props["dataset"]["enum"]


def test_marks_say_what_each_key_is_for():
    from bwot.config import job_keys, protocol_keys

    assert protocol_keys()["render"] == ["rig", "size"] and "shards" not in protocol_keys()["render"]
    assert set(HYPERPARAMETERS) <= set(protocol_keys()["metric"])
    assert job_keys("features", extract=True) == ["device", "amp", "extract_batch_size", "workers"]
    assert "compression" not in job_keys("sketches") and "size" in job_keys("sketches")
    assert "workers" not in job_keys("synthetic")
    shapes, sketches = job_keys("features", modality="shapes"), job_keys("features", modality="sketches")
    assert "train_views" in shapes and "train_views" not in sketches and "train_rotations" in sketches
    assert "lamb" in job_keys("metric", loss="ot") and "lamb" not in job_keys("metric", loss="triplet")
    assert not {"losses", "seeds", "val_every"} & set(job_keys("metric"))


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
    """The Snakefile imports bwot.config and bwot.workflow at parse time: they must stay light."""
    code = (
        "import sys, bwot.config as c, bwot.workflow as w\n"
        "cfg = {'dataset': 'builtin', 'features': {'weights': 'imagenet', 'backbone': 'alexnet'}}\n"
        "w.preflight(c.Config.from_mapping(cfg))\n"
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


# ------------------------------------------------------------------------------------- config files


def test_read_config_file_reads_a_mapping_with_its_aliases(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("dataset: builtin\nmetric:\n  sketch_widths: &w [64, 32]\n  shape_widths: *w\n")
    data = read_config_file(path)
    assert data["metric"]["shape_widths"] == [64, 32]
    assert Config.from_mapping(data).metric.shape_widths == [64, 32]
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    assert read_config_file(tmp_path / "empty.yaml") == {}
    with pytest.raises(ConfigError, match=f"{tmp_path / 'none.yaml'}: no such file"):
        read_config_file(tmp_path / "none.yaml")
    (tmp_path / "list.yaml").write_text("- dataset\n")
    with pytest.raises(ConfigError, match="holds a mapping of keys, not a list"):
        read_config_file(tmp_path / "list.yaml")


def test_read_config_file_refuses_what_is_not_a_regular_file_without_reading_it(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")  # no writer: a read would block
    read_end, write_end = os.pipe()  # what a shell's <(...) gives: /dev/fd/N
    try:
        for path, kind in [
            (tmp_path / "fifo.yaml", "a pipe or FIFO"),
            (f"/dev/fd/{read_end}", "a pipe or FIFO"),
            ("/dev/zero", "a character device"),
            (tmp_path, "a directory"),
        ]:
            with pytest.raises(ConfigError) as info:
                read_config_file(path)
            assert f"{path}: not a regular file ({kind}): write the config to a file" in str(info.value)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_read_config_file_bounds_size_and_expansion(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("dataset: builtin\n" + "#" * MAX_CONFIG_BYTES)
    with pytest.raises(ConfigError, match=f"{big}: larger than {MAX_CONFIG_BYTES} bytes"):
        read_config_file(big)
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]"] + [
        f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]" for a, b in zip("abc", "bcd", strict=True)
    ]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(laughs) + "\n")  # d: 10**4 x's; 12,349 nodes in all (keys counted)
    with pytest.raises(ConfigError, match=f"{bomb}: its YAML expands to 12349 nodes .* alias bomb"):
        read_config_file(bomb)
    bomb.write_text("\n".join(laughs[:3]) + "\n")  # the same aliases, 1,237 nodes: a config
    assert len(read_config_file(bomb)["c"]) == 10
    long = tmp_path / "long.yaml"  # few nodes, a long value repeated: bounded in characters too
    long.write_text(f"a: &a {'x' * 100_000}\nb: [{', '.join(['*a'] * 20)}]\n")
    with pytest.raises(ConfigError, match="25 nodes and 2100002 characters"):
        read_config_file(long)
    loop = tmp_path / "loop.yaml"
    loop.write_text("a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match=f"{loop}: not a readable YAML file .*refers to the node that"):
        read_config_file(loop)


def test_read_config_files_merges_sections_in_order(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("dataset: builtin\nmetric: {steps: 3, lr: 0.1}\nseed: 1\n")
    b.write_text("metric: {steps: 5}\nseed: 2\n")
    assert read_config_files([a, b]) == {"dataset": "builtin", "metric": {"steps": 5, "lr": 0.1}, "seed": 2}
    a.write_text("dataset: builtin\nmetric: 5\n")
    with pytest.raises(ConfigError, match=rf"'metric' in {a} is an integer, not a mapping of keys \(as {b}"):
        read_config_files([a, b])


def test_messages_quote_values_short(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text(
        f"dataset: builtin\nname: [{'x' * 50_000}]\nrender:\n  rig: {'y' * 50_000}\n  {'z' * 1000}: 1\n"
    )
    with pytest.raises(ConfigError) as info:
        Config.from_mapping(read_config_file(path), sources=[path])
    message = str(info.value)
    assert len(message) < 2000, message[:3000]
    assert f"'render.rig' (in {path}): 'yyyy" in message and "yyy... is not one of" in message
    assert f"'name' (in {path}): ['xxxx" in message and f"unknown key 'render.{'z' * 40}" in message
    with pytest.raises(ConfigError) as info:
        MetricConfig(device="q" * 10_000)
    assert len(str(info.value)) < 500
    with pytest.raises(ConfigError) as info:  # two problems an item: all kept, the first 50 listed
        validate({"dataset": "builtin", "metric": {"losses": [[i] for i in range(3000)] + [[1.0]]}})
    assert len(info.value.problems) == 6003 and str(info.value).endswith("\n  ... and 5953 more")
    assert "'metric.losses': [1.0] appears more than once" in info.value.problems  # JSON: 1 == 1.0


def test_a_key_is_named_in_the_file_that_sets_it(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("dataset: builtin\nmetric:\n  seeds: [1, -2]\n  lamb: 1.0\n  zzz: 1\n")
    b.write_text("metric:\n  lamb: -1.0\n  zzz: 2\nsweep:\n  gamma: [0.0]\n")
    with pytest.raises(ConfigError) as info:
        Config.from_mapping(read_config_files([a, b]), sources=[a, b])
    problems = info.value.problems
    assert f"'metric.seeds.1' (in {a}): -2 is less than the minimum of 0" in problems
    assert f"'metric.lamb' (in {b}): -1.0 is less than or equal to the minimum of 0" in problems  # b's value
    assert f"'sweep.gamma.0' (in {b}): 0.0 is less than or equal to the minimum of 0" in problems
    assert f"unknown key 'metric.zzz' (in {a}, {b})" in problems  # every file that writes it


def test_numbers_are_finite():
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(ConfigError, match=rf"'metric.margin': {value} is not a finite number"):
            MetricConfig(margin=value)
        with pytest.raises(
            ConfigError, match=rf"'sweep.lamb.1' \(from --config or the defaults\): {value} is"
        ):
            validate({"dataset": "builtin", "sweep": {"lamb": [1.0, value]}}, sources=["none.yaml"])
    assert MetricConfig(margin=10**30).margin == 10**30  # an integer is a number, and finite


@pytest.mark.parametrize("seeds", [{"seed": 2**32}, {"seed": 10**29}, {"metric": {"seeds": [0, 2**32]}}])
def test_seeds_are_what_numpy_and_torch_accept(seeds):
    with pytest.raises(ConfigError, match="is greater than the maximum of 4294967295"):
        Config.from_mapping({"dataset": "builtin", **seeds})
    cfg = Config.from_mapping({"dataset": "builtin", "seed": 2**32 - 1, "metric": {"seeds": [0, 2**32 - 1]}})
    assert cfg.metric_seeds == [0, 2**32 - 1]


# -------------------------------------------------------------------------------------------- sweeps


def test_sweep_values_are_checked_against_their_keys_schema():
    def problems(sweep):
        with pytest.raises(ConfigError) as info:
            Config.from_mapping({"dataset": "builtin", "sweep": sweep})
        return info.value.problems

    assert problems({"steps": [3.0]}) == ["'sweep.steps.0': 3.0 is not of type 'integer'"]
    assert problems({"sinkhorn_tol": [None]}) == ["'sweep.sinkhorn_tol.0': None is not of type 'number'"]
    assert problems({"lamb": [1, 1.0]}) == ["'sweep.lamb': 1.0 appears more than once"]
    assert problems({"detach_plan": [True, 1]}) == ["'sweep.detach_plan.1': 1 is not of type 'boolean'"]
    (too_many,) = problems({"lamb": [i + 0.5 for i in range(1001)]})
    assert too_many.startswith("'sweep.lamb': 1001 values, more than 1000 (at most 1000 values a key")
    cfg = Config.from_mapping({"dataset": "builtin", "sweep": {"detach_plan": [True, False]}})
    assert [p.label for p in cfg.sweep_points()] == ["true"]  # false is the run's own


def test_sweep_points_are_planned_once_and_found_by_label():
    values = [i + 0.5 for i in range(1000)]
    cfg = Config.from_mapping({"dataset": "builtin", "sweep": {"lamb": values, "margin": [1.0, 2.0]}})
    points = cfg.sweep_points()
    assert [(p.key, p.value) for p in points] == [("lamb", v) for v in values] + [("margin", 2.0)]
    assert all(cfg.sweep_point(p.key, p.label) is p for p in points)
    assert points[0].losses == ["ot"] and points[0].losses is not points[1].losses
    points.clear()  # the caller's copy
    assert len(cfg.sweep_points()) == 1001
    with pytest.raises(
        KeyError, match=r"no sweep point lamb/7 in the config \(points: lamb/0.5, .* in all\)"
    ):
        cfg.sweep_point("lamb", "7")
    assert cfg.metric_with("lamb", 3.5).lamb == 3.5
