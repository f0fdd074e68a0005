"""Shared helpers: atomic writes, HDF5 strings, stratified hold-out splits."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from bwot.io import (
    atomic_path,
    h5_writer,
    read_attrs,
    read_rows,
    read_strings,
    set_attrs,
    write_json,
    write_strings,
)
from bwot.splits import holdout_split, shard_bounds


def test_atomic_path_renames_on_success(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    assert list(target.parent.iterdir()) == [target]


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.h5"
    target.write_text("old")
    with pytest.raises(RuntimeError), h5_writer(target) as f:
        f["x"] = np.arange(3)
        raise RuntimeError("killed")
    assert target.read_text() == "old"  # untouched
    assert list(tmp_path.iterdir()) == [target]  # no temp file left


def test_h5_strings_and_attrs(tmp_path):
    with h5_writer(tmp_path / "a.h5") as f:
        write_strings(f, "ids", ["000003", "m12", "é"])
        write_strings(f, "empty", [])
        set_attrs(f, {"size": 64, "rig": "dodecahedron20"})
    with h5py.File(tmp_path / "a.h5") as f:
        assert list(read_strings(f["ids"])) == ["000003", "m12", "é"]
        assert len(read_strings(f["empty"])) == 0
    assert read_attrs(tmp_path / "a.h5") == {"size": 64, "rig": "dodecahedron20"}


def test_read_rows_is_fancy_indexing_in_any_order_block_by_block(tmp_path):
    data = np.random.default_rng(0).normal(size=(23, 3, 2))
    with h5_writer(tmp_path / "x.h5") as f:
        f["x"] = data
    rows = np.array([22, 0, 7, 7, 5, 21, 6, 0])  # unsorted, repeated, both ends, across block edges
    with h5py.File(tmp_path / "x.h5") as f:
        for block in (1, 4, 5, 100):
            got = read_rows(f["x"], rows, block=block)
            assert got.dtype == np.float32 and np.array_equal(got, data[rows].astype(np.float32))
        assert read_rows(f["x"], np.array([], int)).shape == (0, 3, 2)
        with pytest.raises(IndexError, match=r"x.h5:/x: rows outside 0..22"):
            read_rows(f["x"], np.array([3, 23]))


def test_write_json_round_trips_and_keeps_key_order(tmp_path):
    value = {"mAP": 0.5, "NN": 1, "skipped": {"targets": [{"id": "000003", "reason": "é"}]}, "model": None}
    write_json(tmp_path / "m.json", value)
    text = (tmp_path / "m.json").read_text()
    assert json.loads(text) == value
    assert list(json.loads(text)) == ["mAP", "NN", "skipped", "model"]  # insertion order
    assert text.endswith("}\n") and '\n  "NN": 1,' in text  # indented, one key a line
    assert list(tmp_path.iterdir()) == [tmp_path / "m.json"]  # no temp file left


def test_holdout_split_is_stratified_and_deterministic():
    labels = np.repeat(np.arange(4), [1, 2, 10, 40])
    train, val = holdout_split(labels, 0.2, seed=3)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(labels)))
    assert set(labels[train]) == {0, 1, 2, 3}  # every class keeps training data
    assert np.bincount(labels[val], minlength=4).tolist() == [0, 0, 2, 8]
    again = holdout_split(labels, 0.2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, val), again, strict=True))
    other = holdout_split(labels, 0.2, seed=4)
    assert not np.array_equal(val, other[1])


@pytest.mark.parametrize(("n", "shards"), [(0, 1), (5, 1), (7, 3), (180, 4), (4, 7), (1258, 20)])
def test_shard_bounds_cover_every_row_once_in_order(n, shards):
    bounds = [shard_bounds(n, i, shards) for i in range(shards)]
    rows = [row for start, stop in bounds for row in range(start, stop)]
    assert rows == list(range(n))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1


def test_shard_bounds_refuse_a_shard_out_of_range():
    with pytest.raises(ValueError, match=r"shard 3 out of range 0\.\.2 \(shards: 3\)"):
        shard_bounds(10, 3, 3)
    with pytest.raises(ValueError, match="shards must be >= 1"):
        shard_bounds(10, 0, 0)


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys):
    from bwot.cli import main

    (tmp_path / "sketches.csv").write_text("id,class,label,split,path\n")
    args = ["sketches", str(tmp_path / "sketches.csv"), "--split", "train", "--out", str(tmp_path / "o.h5")]
    assert main([*args, "--shard", "3"]) == 1
    assert capsys.readouterr().err.strip() == "bwot sketches: error: shard 3 out of range 0..0 (shards: 1)"
    assert main(["sketches", str(tmp_path / "missing.csv"), "--split", "train", "--out", "o.h5"]) == 1
    assert "missing.csv" in capsys.readouterr().err


def test_json_is_strict_nan_becomes_null(tmp_path):
    import json
    import math

    from bwot.io import json_text, write_json

    obj = {"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf}], "d": (2, "x")}
    assert json.loads(json_text(obj)) == {"a": None, "b": [1.0, None, {"c": None}], "d": [2, "x"]}
    write_json(tmp_path / "x.json", obj)
    assert "NaN" not in (tmp_path / "x.json").read_text()
