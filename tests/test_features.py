"""Backbones and features: layer cuts against torchvision, view pooling, training + extraction end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from conftest import REPO, edit_config, run_snakemake

from bwot.features import build_backbone, extract_features, load_backbone, resolve_layer, train_backbone
from bwot.features.backbones import cached_weights_path, load_pretrained
from bwot.features.data import index_shards
from bwot.features.inference import embed_items, embed_upright, one_thread
from bwot.features.layers import BACKBONES, LAYERS
from bwot.features.net import preprocess
from bwot.features.train import StreamSampler
from bwot.io import h5_writer, read_strings, save_torch, set_attrs, write_strings

torch.set_num_threads(2)

CFG = {
    "device": "cpu",
    "backbone": "resnet18",
    "layer": None,
    "weights": None,
    "input_size": 32,
    "epochs": 1,
    "batch_size": 16,
    "train_views": 2,
    "train_rotations": 1,
    "optimizer": "adamw",
    "lr": 0.001,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "schedule": "cosine",
    "step_epochs": 1,
    "step_gamma": 0.5,
    "patience": 2,
    "val_fraction": 0.25,
    "amp": True,
    "extract_batch_size": 16,
    "workers": 0,
}


def drawn_images(labels: np.ndarray, planes: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 (n, planes, size, size), white with a dark bar whose place depends on the label."""
    images = np.full((len(labels), planes, size, size), 255, dtype=np.uint8)
    for i, label in enumerate(labels):
        for p in range(planes):
            row = (3 * int(label) + p + int(rng.integers(0, 3))) % (size - 4)
            images[i, p, row : row + 4, 2:-2] = rng.integers(0, 60)
    return images


def write_shard(path, labels, planes, size, rng, *, prefix="m", split=None, start=0):
    """A views shard (split None) or a sketch shard of the given split, per the HDF5 contract."""
    labels = np.asarray(labels, dtype=np.int64)
    with h5_writer(path) as f:
        f.create_dataset("images", data=drawn_images(labels, planes, size, rng))
        write_strings(f, "ids", [f"{prefix}{start + i}" for i in range(len(labels))])
        f.create_dataset("labels", data=labels)
        if split is None:
            set_attrs(f, {"views": planes, "size": size, "rig": "test"})
        else:
            set_attrs(f, {"rotations": planes, "step_deg": 360.0 / planes, "split": split})
    return path


@pytest.fixture
def views(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(14) % 3
    return [
        write_shard(tmp_path / "views" / "shard-0.h5", labels[:8], 4, 32, rng),
        write_shard(tmp_path / "views" / "shard-1.h5", labels[8:], 4, 32, rng, start=8),
    ]


@pytest.fixture
def sketches(tmp_path):
    rng = np.random.default_rng(1)
    train = np.arange(12) % 3
    return [
        write_shard(tmp_path / "sk" / "train" / "shard-0.h5", train, 3, 32, rng, prefix="s", split="train"),
        write_shard(
            tmp_path / "sk" / "test" / "shard-0.h5", np.arange(6) % 3, 3, 32, rng, prefix="t", split="test"
        ),
    ]


def test_invalid_layer_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"'fc7' is not a feature layer of resnet18; valid layers: layer2, layer3, avgpool"
    ):
        resolve_layer("resnet18", "fc7")
    with pytest.raises(ValueError, match="valid layers: pool5, fc6, fc7"):
        build_backbone("alexnet", "avgpool", 3)
    assert resolve_layer("alexnet", None) == "fc7"


def _gray_rgb(n=2, size=64):
    gray = preprocess(torch.randint(0, 256, (n, size, size), dtype=torch.uint8), size)
    return gray, gray.repeat(1, 3, 1, 1)


def test_alexnet_fc7_is_the_second_fc_relu_of_torchvision():
    torch.manual_seed(0)
    tv = torchvision.models.alexnet().eval()
    net = build_backbone("alexnet", "fc7", 5, tv.state_dict()).eval()
    gray, rgb = _gray_rgb()
    with torch.no_grad():
        expected = tv.classifier[:6](torch.flatten(tv.avgpool(tv.features(rgb)), 1))
        got = net.embed(gray)
    assert got.shape == (2, 4096)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_resnet_avgpool_and_layer3_match_torchvision():
    torch.manual_seed(0)
    tv = torchvision.models.resnet18().eval()
    gray, rgb = _gray_rgb(size=32)
    with torch.no_grad():
        x = tv.maxpool(tv.relu(tv.bn1(tv.conv1(rgb))))
        l3 = tv.layer3(tv.layer2(tv.layer1(x)))
        pooled = torch.flatten(tv.avgpool(tv.layer4(l3)), 1)
        for layer, expected in (("avgpool", pooled), ("layer3", l3.mean(dim=(2, 3)))):
            net = build_backbone("resnet18", layer, 4, tv.state_dict()).eval()
            torch.testing.assert_close(net.embed(gray), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_loading_without_torchvision_builds_torchvisions_network(tmp_path, backbone):
    """load_backbone builds bwot.features.arch's layers (no torchvision import): for every feature layer
    of every backbone, the state_dict of a torchvision-built network loads into them key for key, shape for
    shape, and gives the same features bit for bit."""
    size = 64 if backbone == "alexnet" else 32
    images = torch.randint(
        0, 256, (2, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    for layer in LAYERS[backbone]:
        torch.manual_seed(1)
        net = build_backbone(backbone, layer, 7).eval()
        for module in net.modules():  # batch norm statistics other than the defaults
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
        path = tmp_path / f"{backbone}-{layer}.pt"
        meta = {"backbone": backbone, "layer": layer, "input_size": size, "num_classes": 7}
        save_torch(path, meta | {"state_dict": net.state_dict()})
        loaded, _ = load_backbone(path)
        ours = {k: (v.shape, v.dtype) for k, v in loaded.state_dict().items()}
        assert ours == {k: (v.shape, v.dtype) for k, v in net.state_dict().items()}
        expected = embed_upright(net.to(memory_format=torch.channels_last), images, size, torch.device("cpu"))
        assert torch.equal(embed_upright(loaded, images, size, torch.device("cpu")), expected), layer


def test_a_query_imports_no_torchvision():
    """What `bwot query` imports: no torchvision (1.2 s: it imports torch._dynamo), no pandas, no
    matplotlib."""
    code = (
        "import json, sys, bwot.query.cli; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert not {"torchvision", "pandas", "matplotlib"} & set(json.loads(out)), out


def test_view_pooling_is_the_max_over_views():
    torch.manual_seed(0)
    net = build_backbone("resnet18", "avgpool", 5).eval()
    x = torch.randn(2, 3, 1, 32, 32)
    with torch.no_grad():
        per_view = net.embed(x.flatten(0, 1)).view(2, 3, -1)
        expected = net.head(torch.stack([per_view[:, v] for v in range(3)]).max(dim=0).values)
        torch.testing.assert_close(net(x), expected)


def test_missing_weights_file_fails_naming_it(tmp_path, views):
    missing = tmp_path / "nowhere" / "resnet18.pth"
    cfg = {**CFG, "weights": str(missing)}
    with pytest.raises(FileNotFoundError, match=str(missing)):
        train_backbone(views, tmp_path / "m.pt", tmp_path / "h.csv", "shapes", cfg)
    assert not (tmp_path / "m.pt").exists()


def test_weights_from_file_and_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert load_pretrained("resnet18", "auto") == (None, "scratch")  # empty cache: from scratch
    with pytest.raises(FileNotFoundError, match=r"resnet18-f37072fd\.pth"):
        load_pretrained("resnet18", "imagenet")
    state = torchvision.models.resnet18().state_dict()
    cached = cached_weights_path("resnet18")
    cached.parent.mkdir(parents=True)
    torch.save(state, cached)
    for spec in ("auto", "imagenet", str(cached)):
        loaded, source = load_pretrained("resnet18", spec)
        assert source == str(cached)
        net = build_backbone("resnet18", None, 3, loaded)
        torch.testing.assert_close(net.trunk[0][0].weight, state["conv1.weight"].sum(1, keepdim=True))


def test_bad_shards_are_all_named(tmp_path, views):
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("images", data=np.zeros((2, 4, 32, 32), dtype=np.float32))
    nofile = tmp_path / "absent.h5"
    with pytest.raises(ValueError) as err:
        index_shards([views[0], bad, nofile])
    assert "bad.h5" in str(err.value) and "absent.h5" in str(err.value)


def _read(path):
    with h5py.File(path, "r") as f:
        out = {k: (read_strings(f[k]) if f[k].dtype.kind == "O" else f[k][()]) for k in f}
        return out, dict(f.attrs)


def test_shapes_end_to_end(tmp_path, views):
    model, history, out = (
        tmp_path / "b" / "shapes.pt",
        tmp_path / "b" / "shapes.history.csv",
        tmp_path / "shapes.h5",
    )
    summary = train_backbone(views, model, history, "shapes", CFG, seed=0)
    hist = pd.read_csv(history)
    assert list(hist.columns) == [
        "epoch", "loss", "train_acc", "val_acc", "images", "images_per_s", "lr", "wall_s"
    ]  # fmt: skip
    assert len(hist) == 1 and hist["images_per_s"].iloc[0] > 0
    assert hist["images"].iloc[0] == summary["train_items"] * 2 == 22  # one pass, train_views 2
    ckpt = torch.load(model, weights_only=True)
    assert (ckpt["backbone"], ckpt["layer"], ckpt["input_size"], ckpt["num_classes"]) == (
        "resnet18",
        "avgpool",
        32,
        3,
    )
    extract_features(model, views, out, "shapes", CFG)
    data, attrs = _read(out)
    assert set(data) == {"features", "pooled", "ids", "labels"}
    assert data["features"].shape == (14, 4, 512) and data["features"].dtype == np.float32
    np.testing.assert_array_equal(data["pooled"], data["features"].max(axis=1))
    assert list(data["ids"]) == [f"m{i}" for i in range(14)]
    np.testing.assert_array_equal(data["labels"], np.arange(14) % 3)
    assert attrs["backbone"] == "resnet18" and attrs["layer"] == "avgpool" and attrs["input_size"] == 32

    # a reloaded checkpoint gives identical features, again and in-process
    again = tmp_path / "again.h5"
    extract_features(model, views, again, "shapes", {**CFG, "extract_batch_size": 12})  # spans shards
    np.testing.assert_array_equal(_read(again)[0]["features"], data["features"])
    workers = tmp_path / "workers.h5"  # DataLoader worker processes open their own HDF5 handles
    extract_features(model, views, workers, "shapes", {**CFG, "workers": 2})
    np.testing.assert_array_equal(_read(workers)[0]["features"], data["features"])
    net, _ = load_backbone(model)
    with h5py.File(views[1], "r") as f:
        direct = embed_items(net, torch.from_numpy(f["images"][()]), 32, torch.device("cpu"))
    np.testing.assert_allclose(direct.numpy(), data["features"][8:], rtol=1e-5, atol=1e-6)


def test_sketches_end_to_end(tmp_path, sketches):
    model, history, out = tmp_path / "sk.pt", tmp_path / "sk.csv", tmp_path / "sketches.h5"
    # training sees the train shard only; the test shard must not be needed
    cfg = {**CFG, "epochs": 2, "workers": 1}
    summary = train_backbone(sketches[:1], model, history, "sketches", cfg, seed=0)
    assert summary["epochs"] == 2 and summary["val_items"] == 3
    extract_features(model, sketches, out, "sketches", CFG)
    data, _ = _read(out)
    assert set(data) == {"features", "ids", "labels", "splits"}
    assert data["features"].shape == (18, 3, 512)
    assert list(data["splits"]) == ["train"] * 12 + ["test"] * 6
    assert list(data["ids"][-6:]) == [f"t{i}" for i in range(6)]
    # the upright copy (what a query is) went alone through the CNN, as `bwot query` embeds a sketch: the
    # same bits; the other rotations in batches (a single image takes other kernels: close, not equal)
    net, _ = load_backbone(model)
    with h5py.File(sketches[1], "r") as f:
        images = torch.from_numpy(f["images"][()])
    cpu = torch.device("cpu")
    with one_thread():  # a query's pass: one image on one thread (more threads split the sums otherwise)
        alone = torch.stack([embed_items(net, images[i : i + 1, :1], 32, cpu)[0, 0] for i in range(6)])
    np.testing.assert_array_equal(alone.numpy(), data["features"][12:, 0])
    np.testing.assert_array_equal(embed_upright(net, images[:, 0], 32, cpu).numpy(), data["features"][12:, 0])
    batched = embed_items(net, images, 32, cpu).numpy()
    np.testing.assert_allclose(batched, data["features"][12:], rtol=1e-4, atol=1e-5)


def test_stream_sampler_cuts_epochs_from_one_stream_of_passes():
    sampler = StreamSampler(5, 3, torch.Generator().manual_seed(0))
    epochs = [list(sampler) for _ in range(5)]
    assert len(sampler) == 3 and all(len(e) == 3 for e in epochs)
    stream = [i for e in epochs for i in e]
    for k in range(3):  # each pass is a permutation, wherever the epochs cut it
        assert sorted(stream[5 * k : 5 * k + 5]) == list(range(5))
    assert stream[:5] != stream[5:10]
    with pytest.raises(ValueError, match="positive epoch"):
        StreamSampler(5, 0, torch.Generator())


def test_epoch_images_fix_the_budget_whatever_the_data_size(tmp_path, views, sketches):
    """features.epoch_images: every epoch sees that many images, for a small and a large dataset alike."""
    rng = np.random.default_rng(3)
    more = [
        write_shard(tmp_path / "more" / f"shard-{i}.h5", np.arange(30) % 3, 4, 32, rng, start=30 * i)
        for i in range(2)
    ]
    cfg = {**CFG, "epochs": 2, "epoch_images": 10, "train_views": 2}
    for shards in (views, more):
        train_backbone(shards, tmp_path / "s.pt", tmp_path / "s.csv", "shapes", cfg)
        assert pd.read_csv(tmp_path / "s.csv")["images"].tolist() == [10, 10]  # 5 models x 2 views a step
    cfg = {**cfg, "epoch_images": 7, "sketch_views": 2}  # sketches and line views drawn from one stream
    for extra in (views, more):
        summary = train_backbone(
            sketches, tmp_path / "k.pt", tmp_path / "k.csv", "sketches", cfg, extra_views=extra
        )
        assert pd.read_csv(tmp_path / "k.csv")["images"].tolist() == [7, 7]
        assert summary["line_views"] == 2 * (14 if extra is views else 60)


def test_train_uses_only_training_sketches(tmp_path, sketches):
    # a test shard given to training by mistake is ignored: the split counts come from the train rows
    summary = train_backbone(sketches, tmp_path / "m.pt", tmp_path / "h.csv", "sketches", CFG, seed=0)
    assert summary["val_items"] == 3


@pytest.mark.slow
def test_rules_train_and_extract(workflow_dir):
    """The two rules on hand-made manifests and shards (upstream stages not needed)."""
    if not (workflow_dir / "envs").exists():  # the rules name envs/bwot.yaml
        shutil.copytree(REPO / "envs", workflow_dir / "envs")
    cfg = edit_config(
        workflow_dir,
        features={"device": "cpu", "input_size": 32, "epochs": 1, "batch_size": 16, "train_views": 2},
        render={"shards": 2},  # views: shard-0 and shard-1 below; sketches: one shard per split
        sketches={"shards": 1},
    )
    res = workflow_dir / "results" / "builtin"
    (workflow_dir / cfg["builtin_root"]).mkdir(parents=True)
    rng = np.random.default_rng(0)
    labels = np.arange(14) % 3
    manifest = res / "manifest"
    manifest.mkdir(parents=True)
    (manifest / "classes.txt").write_text("a\nb\nc\n")
    models = pd.DataFrame({"id": [f"m{i}" for i in range(14)], "label": labels})
    models["class"], models["path"] = models.label.map("abc".__getitem__), "x.off"
    models.to_csv(manifest / "models.csv", index=False)
    rows = [(f"s{i}", i % 3, "train") for i in range(12)] + [(f"t{i}", i % 3, "test") for i in range(6)]
    sk = pd.DataFrame(rows, columns=["id", "label", "split"])
    sk["class"], sk["path"] = sk.label.map("abc".__getitem__), "x.png"
    sk.to_csv(manifest / "sketches.csv", index=False)
    write_shard(res / "views" / "shard-0.h5", labels[:8], 4, 32, rng)
    write_shard(res / "views" / "shard-1.h5", labels[8:], 4, 32, rng, start=8)
    write_shard(
        res / "sketches" / "train" / "shard-0.h5", np.arange(12) % 3, 3, 32, rng, prefix="s", split="train"
    )
    write_shard(
        res / "sketches" / "test" / "shard-0.h5", np.arange(6) % 3, 3, 32, rng, prefix="t", split="test"
    )
    for shard in [*res.glob("views/*.h5"), *res.glob("sketches/*/*.h5")]:
        shard.with_suffix(".skipped.csv").write_text("id,path,reason\n")
    targets = [f"results/builtin/features/{m}.h5" for m in ("shapes", "sketches")]
    run_snakemake(workflow_dir, *targets, "--allowed-rules", "train_backbone", "extract_features")
    shapes, _ = _read(res / "features" / "shapes.h5")
    sketch, _ = _read(res / "features" / "sketches.h5")
    assert shapes["features"].shape == (14, 4, 512) and sketch["features"].shape == (18, 3, 512)
    assert (res / "backbone" / "shapes.history.csv").exists()


@pytest.mark.slow
def test_workflow_names_a_missing_weights_file(workflow_dir):
    edit_config(workflow_dir, features={"weights": "/nowhere/resnet18.pth"})
    proc = run_snakemake(workflow_dir, "-n", check=False)
    assert proc.returncode != 0
    assert "features.weights '/nowhere/resnet18.pth': no such file" in proc.stdout + proc.stderr


# ---------------------------------------------------------------- views as line drawings


def test_line_drawing_of_a_rendered_view_is_framed_like_a_sketch(real_data):
    from bwot.features.lines import line_drawing, line_drawings
    from bwot.render import ViewRenderer

    with ViewRenderer(64, up="y") as r:
        views = r.render_file(real_data / "meshes" / "m431.off")  # a house
    lines = line_drawing(views[3])
    assert lines.shape == (64, 64) and lines.dtype == np.uint8
    ink = lines < 128
    assert 0.04 < ink.mean() < 0.5  # lines, not a filled silhouette
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    # framed to the lines with a 5% margin, like a sketch: the longer side spans ~90% of the image
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 >= 0.85 * 64
    assert min(rows[0], cols[0]) >= 1 and max(rows[-1], cols[-1]) <= 62
    solid = views[3] < 250
    assert ink.sum() < solid.sum()  # the inside of the silhouette is not inked
    both = line_drawings(views[:4][None])
    assert both.shape == (1, 4, 64, 64) and np.array_equal(both[0, 3], lines)
    blank = np.full((64, 64), 255, np.uint8)
    assert (line_drawing(blank) == 255).all()
    assert line_drawings(views[:4][None], size=40).shape == (1, 4, 40, 40)  # at another sketch size
    assert line_drawing(blank, size=40).shape == (40, 40)


def test_sketch_cnn_trains_on_line_views_too_and_shapes_on_lines(tmp_path, views, sketches, caplog):
    """features.sketch_views: the views' line drawings join the sketch CNN's training set (its label space
    is the models' classes); features.view_style: lines: the shape CNN trains and extracts on lines."""
    import logging

    cfg = {**CFG, "sketch_views": 2}
    with caplog.at_level(logging.INFO):
        summary = train_backbone(
            sketches, tmp_path / "s.pt", tmp_path / "s.csv", "sketches", cfg, extra_views=views
        )
    assert summary["line_views"] == 14 * 2 and summary["view_style"] is None
    history = pd.read_csv(tmp_path / "s.csv")
    plain = train_backbone(sketches, tmp_path / "p.pt", tmp_path / "p.csv", "sketches", CFG)
    assert plain["line_views"] == 0
    # views rendered larger than the sketches: their line drawings are drawn at the sketches' size
    big = [write_shard(tmp_path / "big" / "shard-0.h5", np.arange(6) % 3, 4, 48, np.random.default_rng(2))]
    mixed = train_backbone(sketches, tmp_path / "m.pt", tmp_path / "m.csv", "sketches", cfg, extra_views=big)
    assert mixed["line_views"] == 6 * 2
    # the epoch saw the 9 training sketches and 28 line views: more images than without them
    assert history["images_per_s"].iloc[0] > 0 and summary["train_items"] == plain["train_items"]
    lines = {**CFG, "view_style": "lines"}
    shapes = train_backbone(views, tmp_path / "v.pt", tmp_path / "v.csv", "shapes", lines)
    assert shapes["view_style"] == "lines"
    _, meta = load_backbone(tmp_path / "v.pt")
    assert meta["view_style"] == "lines"
    extract_features(tmp_path / "v.pt", views, tmp_path / "f.h5", "shapes", lines)
    extract_features(tmp_path / "v.pt", views, tmp_path / "g.h5", "shapes", CFG)  # the style is the model's
    a, _ = _read(tmp_path / "f.h5")
    b, _ = _read(tmp_path / "g.h5")
    np.testing.assert_array_equal(a["features"], b["features"])


def test_a_bwot_backbone_checkpoint_initialises_another_run(tmp_path, views):
    """features.weights: another run's backbone/<modality>.pt (e.g. pretrained on the built-in benchmark):
    the trunk is copied whole, the classifier (other classes) is new; another backbone is refused."""
    train_backbone(views, tmp_path / "pre.pt", tmp_path / "pre.csv", "shapes", CFG)
    pre = torch.load(tmp_path / "pre.pt", weights_only=True)
    state, source = load_pretrained("resnet18", str(tmp_path / "pre.pt"))
    assert source == str(tmp_path / "pre.pt")
    net = build_backbone("resnet18", None, 7, state)
    for key, value in net.trunk.state_dict().items():
        torch.testing.assert_close(value, pre["state_dict"][f"trunk.{key}"])
    assert net.head[-1].out_features == 7
    with pytest.raises(ValueError, match="does not fit resnet34 at this layer"):
        build_backbone("resnet34", None, 7, state)


# ---------------------------------------------------------------- CPU against CUDA (`pytest -m gpu`)


@pytest.fixture
def exact_float32():
    """CUDA float32 without TF32 (cuDNN uses it for convolutions by default), restored afterwards."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.gpu
@pytest.mark.parametrize("backbone", ["alexnet", "resnet18"])
@pytest.mark.parametrize(("amp", "tol"), [(False, 1e-4), (True, 3e-2)])
def test_embed_items_cpu_and_cuda_agree(backbone, amp, tol, exact_float32):
    """embed_items on CUDA against the CPU, same weights and images: the largest difference is within
    `tol` of the largest feature (float32: 1e-4; AMP float16, as extraction runs on a GPU: 3e-2)."""
    torch.manual_seed(0)
    net = build_backbone(backbone, None, 5).eval()
    images = torch.from_numpy(drawn_images(np.arange(4) % 3, 3, 64, np.random.default_rng(0)))
    want = embed_items(net.to(memory_format=torch.channels_last), images, 64, torch.device("cpu"))
    net = net.cuda().to(memory_format=torch.channels_last)
    got = embed_items(net, images, 64, torch.device("cuda"), amp)
    assert got.shape == want.shape and got.shape[:2] == (4, 3)
    assert got.device.type == "cpu" and got.dtype == torch.float32 and want.abs().max() > 0
    assert (got - want).abs().max() <= tol * want.abs().max()


@pytest.mark.gpu
def test_extract_features_on_cuda_matches_the_cpu(tmp_path, views, exact_float32):
    """extract_features on CUDA (batches spanning shards, the copy back overlapped with the next batch)
    writes the CPU's file: the same ids, labels and layout, features within 1e-4 of the largest, and the
    pooled features exactly the max over the views it wrote."""
    torch.manual_seed(0)
    net = build_backbone("resnet18", None, 3)
    model = tmp_path / "m.pt"
    torch.save(
        {"backbone": "resnet18", "layer": "avgpool", "input_size": 32, "num_classes": 3,
         "state_dict": net.state_dict()},
        model,
    )  # fmt: skip
    cfg = {**CFG, "extract_batch_size": 12}
    extract_features(model, views, tmp_path / "cpu.h5", "shapes", cfg)
    extract_features(model, views, tmp_path / "cuda.h5", "shapes", {**cfg, "device": "cuda", "amp": False})
    (cpu, _), (gpu, attrs) = _read(tmp_path / "cpu.h5"), _read(tmp_path / "cuda.h5")
    assert list(gpu["ids"]) == list(cpu["ids"]) and (gpu["labels"] == cpu["labels"]).all()
    assert gpu["features"].shape == cpu["features"].shape and attrs["backbone"] == "resnet18"
    assert np.abs(gpu["features"] - cpu["features"]).max() <= 1e-4 * np.abs(cpu["features"]).max()
    np.testing.assert_array_equal(gpu["pooled"], gpu["features"].max(axis=1))
