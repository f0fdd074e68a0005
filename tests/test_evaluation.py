"""SHREC retrieval metrics (hand-computed, against a naive loop, chunked), rank lists, the evaluate stage."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from bwot.evaluation import (
    NoRelevantTargetsError,
    per_class_table,
    per_query_metrics,
    read_ranklist,
    retrieval_metrics,
)
from bwot.evaluation.distances import DistanceMatrix, pairwise_distances
from bwot.evaluation.evaluate import evaluate, evaluate_files
from bwot.evaluation.inventory import Inventory
from bwot.evaluation.metrics import stable_argsort_rows
from bwot.evaluation.outputs import read_ranking
from bwot.evaluation.ranklists import model_name, write_ranklists
from bwot.evaluation.reference import naive_metrics
from bwot.io import write_strings

SCALARS = ("NN", "FT", "ST", "E", "DCG", "mAP")


def one(d, query_label, target_labels, **rules):
    return retrieval_metrics(np.array([d], dtype=np.float64), [query_label], target_labels, **rules)


def inv_log2(i):
    return 1.0 / math.log2(i)


# ---------------------------------------------------------------- hand-computed cases


def test_mixed_list_with_tie():
    # order (stable): t1 L1, t3 L1, t0 L0, t2 L0 (tie 0.5 keeps t0 before t2), t4 L1 -> G = 0 0 1 1 0
    m = one([0.5, 0.1, 0.5, 0.2, 0.9], 0, [0, 1, 0, 1, 1])
    assert m["NN"] == 0
    assert m["FT"] == 0  # first C = 2
    assert m["ST"] == 1  # first 2C = 4: both relevant
    p, r = 2 / 5, 2 / 2  # list shorter than 32: P over the 5 retrieved
    assert m["E"] == pytest.approx(2 * p * r / (p + r))
    assert m["DCG"] == pytest.approx((inv_log2(3) + inv_log2(4)) / (1 + inv_log2(2)))
    assert m["mAP"] == pytest.approx((1 / 3 + 2 / 4) / 2)
    np.testing.assert_allclose(m["precision"], [0, 0, 1 / 3, 2 / 4, 2 / 5])
    np.testing.assert_allclose(m["recall"], [0, 0, 0.5, 1, 1])
    # every_query, C = 2: recall 0.05..0.5 reached at the 1st relevant (rank 3), 0.55..1 at the 2nd (rank 4)
    every = one([0.5, 0.1, 0.5, 0.2, 0.9], 0, [0, 1, 0, 1, 1], pr_rule="every_query")
    np.testing.assert_allclose(every["pr_precision"], [1 / 3] * 10 + [2 / 4] * 10)
    # shrec, C = 2: counts from recall 0.5 (k C >= 20), interpolated between p_1 = 1/3 and p_2 = 1/2
    shrec = [0.0] * 9 + [1 / 3 + (k - 10) / 10 * (1 / 2 - 1 / 3) for k in range(10, 20)] + [1 / 2]
    np.testing.assert_allclose(m["pr_precision"], shrec)
    np.testing.assert_allclose(m["pr_recall"], np.arange(1, 21) / 20)


def test_ties_keep_target_order():
    # all distances equal: the ranking is the target order, G = 0 1 1
    m = one([0.3, 0.3, 0.3], 0, [1, 0, 0])
    assert m["NN"] == 0
    assert m["FT"] == 0.5
    assert m["ST"] == 1  # 2C = 4 > 3 targets: clamped to the list end
    assert m["E"] == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    assert m["DCG"] == pytest.approx((1 + inv_log2(3)) / 2)
    assert m["mAP"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    # the same targets listed the other way round: the relevant one comes first
    assert one([0.3, 0.3, 0.3], 0, [0, 0, 1])["NN"] == 1


def test_class_with_one_target():
    labels = [2, 0, 1, 0]
    m = one([0.4, 0.1, 0.2, 0.3], 2, labels)  # the single relevant target is last
    assert (m["NN"], m["FT"], m["ST"]) == (0, 0, 0)
    assert m["E"] == pytest.approx(2 * 0.25 * 1 / 1.25)
    assert m["DCG"] == pytest.approx(inv_log2(4))  # ideal DCG of C = 1 is 1
    assert m["mAP"] == pytest.approx(0.25)
    np.testing.assert_allclose(
        one([0.4, 0.1, 0.2, 0.3], 2, labels, pr_rule="every_query")["pr_precision"], [0.25] * 20
    )
    np.testing.assert_allclose(m["pr_precision"], [0.0] * 20)  # shrec: C = 1 never counts
    best = one([0.0, 0.1, 0.2, 0.3], 2, labels)
    assert [best[k] for k in ("NN", "FT", "ST", "DCG", "mAP")] == [1, 1, 1, 1, 1]
    assert best["E"] == pytest.approx(2 * 0.25 / 1.25)  # P32 over the 4 retrieved


def test_second_tier_clamped_to_list_end():
    m = one([0.9, 0.8, 0.7, 0.1], 0, [0, 0, 0, 1])  # G = 0 1 1 1, C = 3, 2C = 6 > 4
    assert m["FT"] == pytest.approx(2 / 3)
    assert m["ST"] == 1


def test_long_list_e_measure_uses_first_32():
    n, c = 40, 10
    labels = np.ones(n, int)
    labels[30:] = 0  # the relevant targets are ranks 31..40 (distance = index)
    m = one(np.arange(n, dtype=float), 0, labels)
    p, r = 2 / 32, 2 / c  # ranks 31 and 32 are within the first 32
    assert m["E"] == pytest.approx(2 * p * r / (p + r))
    assert (m["NN"], m["FT"], m["ST"]) == (0, 0, 0)
    assert m["mAP"] == pytest.approx(np.mean([j / (30 + j) for j in range(1, c + 1)]))
    dcg = sum(inv_log2(i) for i in range(31, 41))
    assert m["DCG"] == pytest.approx(dcg / (1 + sum(inv_log2(j) for j in range(2, c + 1))))
    # PR every_query: recall k/20 with C = 10 needs m = ceil(k/2) relevant targets, reached at rank 30 + m
    expected = [math.ceil(k / 2) / (30 + math.ceil(k / 2)) for k in range(1, 21)]
    every = one(np.arange(n, dtype=float), 0, labels, pr_rule="every_query")
    np.testing.assert_allclose(every["pr_precision"], expected)
    # shrec: counts from k = 2 (k C >= 20); hit position k/2, between p_floor and p_floor+1, p_m = m/(30+m)
    p = [j / (30 + j) for j in range(1, c + 1)]
    shrec = [0.0] + [p[k // 2 - 1] if k % 2 == 0 else (p[k // 2 - 1] + p[k // 2]) / 2 for k in range(2, 21)]
    np.testing.assert_allclose(m["pr_precision"], shrec)


def test_means_over_queries():
    d = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    m = retrieval_metrics(d, [0, 0], [0, 1, 1])  # NN 1 and 0
    assert m["NN"] == 0.5
    assert m["mAP"] == pytest.approx((1 + 1 / 3) / 2)
    np.testing.assert_allclose(m["precision"], [0.5, 0.25, 1 / 3])


# ---------------------------------------------------------------- errors


def test_query_class_without_targets_is_named():
    d = np.zeros((3, 2))
    with pytest.raises(NoRelevantTargetsError, match=r"7 \(2 queries\)"):
        retrieval_metrics(d, [7, 0, 7], [0, 1])


def test_bad_shapes_and_nan():
    with pytest.raises(ValueError, match="shape"):
        retrieval_metrics(np.zeros((2, 3)), [0], [0, 0, 0])
    d = np.zeros((5, 2))
    d[1, 0] = d[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN distances in 2 query rows: \[1, 4\]"):
        retrieval_metrics(d, [0] * 5, [0, 1], chunk_size=2)  # every bad row named, across chunks


# ---------------------------------------------------------------- against the naive loop, chunking


def random_case(rng, ties: bool, dtype=np.float64):
    nq, nt, nc = int(rng.integers(1, 60)), int(rng.integers(1, 120)), int(rng.integers(1, 8))
    tl = rng.integers(0, nc, nt)
    ql = rng.choice(np.unique(tl), nq)
    d = rng.integers(0, 4, (nq, nt)) if ties else rng.random((nq, nt))
    return d.astype(dtype), ql, tl


@pytest.mark.parametrize("seed", range(12))
def test_equals_naive_loop(seed):
    rng = np.random.default_rng(seed)
    d, ql, tl = random_case(rng, ties=seed % 2 == 0, dtype=np.float32 if seed % 3 else np.float64)
    fast = retrieval_metrics(d, ql, tl, chunk_size=int(rng.integers(1, 20)))
    slow = naive_metrics(d, ql, tl)
    for key in SCALARS:
        assert fast[key] == pytest.approx(slow[key], abs=1e-12), key
    for key in ("precision", "recall", "pr_precision"):
        np.testing.assert_allclose(fast[key], slow[key], atol=1e-12, err_msg=key)


def test_per_query_values_equal_naive():
    rng = np.random.default_rng(99)
    d, ql, tl = random_case(rng, ties=True)
    q = per_query_metrics(d, ql, tl)
    slow = naive_metrics(d, ql, tl)["per_query"]
    for ours, key in ((q.NN, "NN"), (q.FT, "FT"), (q.ST, "ST"), (q.E, "E"), (q.DCG, "DCG"), (q.AP, "AP")):
        np.testing.assert_allclose(ours, [s[key] for s in slow], atol=1e-12, err_msg=key)


def test_chunked_equals_unchunked():
    rng = np.random.default_rng(5)
    tl = rng.integers(0, 9, 300)
    ql = rng.choice(np.unique(tl), 101)
    d = rng.integers(0, 50, (101, 300)).astype(np.float32)
    whole = per_query_metrics(d, ql, tl, chunk_size=10_000, topk=10)
    for chunk in (1, 7, 64):
        part = per_query_metrics(d, ql, tl, chunk_size=chunk, topk=10)
        for name in ("NN", "FT", "ST", "E", "DCG", "AP", "pr", "topk"):
            np.testing.assert_array_equal(getattr(part, name), getattr(whole, name), err_msg=name)
        np.testing.assert_allclose(part.precision_sum, whole.precision_sum, rtol=1e-12)
        np.testing.assert_allclose(part.recall_sum, whole.recall_sum, rtol=1e-12)


def test_fast_stable_argsort_matches_numpy():
    rng = np.random.default_rng(3)
    x = (rng.integers(-4, 4, (9, 200)) * rng.choice([1e-30, 0.5, 1e30], (9, 1))).astype(np.float32)
    x[0, :4] = -0.0
    x[1, :3] = np.inf
    x[2, :3] = -np.inf
    np.testing.assert_array_equal(stable_argsort_rows(x), np.argsort(x, axis=1, kind="stable"))


def test_topk_are_the_best_targets():
    d = np.array([[0.5, 0.1, 0.5, 0.2, 0.9]], dtype=np.float32)
    q = per_query_metrics(d, [0], [0, 1, 0, 1, 1], topk=10)
    np.testing.assert_array_equal(q.topk, [[1, 3, 0, 2, 4]])


# ---------------------------------------------------------------- distances and rank lists


def test_pairwise_distances():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 4)), rng.normal(size=(7, 4))
    ref = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
    np.testing.assert_allclose(pairwise_distances(a, b, "euclidean"), ref, rtol=1e-5, atol=1e-6)
    lazy = DistanceMatrix(a, b, "euclidean", tile_rows=2)  # rows computed on demand, two at a time
    assert lazy.shape == (5, 7) and len(lazy) == 5
    np.testing.assert_allclose(lazy[1:4], ref[1:4], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lazy[::2], ref[::2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lazy[[4, 0]], ref[[4, 0]], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lazy[3], ref[3], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(
        per_query_metrics(lazy, [0] * 5, [0, 1] * 3 + [0], chunk_size=2, topk=3).topk,
        per_query_metrics(np.asarray(lazy), [0] * 5, [0, 1] * 3 + [0], topk=3).topk,
    )
    cos = 1 - (a @ b.T) / np.linalg.norm(a, axis=1)[:, None] / np.linalg.norm(b, axis=1)[None]
    np.testing.assert_allclose(pairwise_distances(a, b, "cosine"), cos, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="manhattan"):
        pairwise_distances(a, b, "manhattan")


def test_distance_rows_are_the_same_bits_alone_or_with_others():
    """Rows are computed in tiles of one fixed size (bwot.tiles, the last padded): one query's distances
    are those it gets among many, bit for bit, whatever the tile it falls in."""
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(41, 100)).astype(np.float32), rng.normal(size=(300, 100)).astype(np.float32)
    for kind in ("euclidean", "cosine"):
        together = DistanceMatrix(a, b, kind)[:]
        alone = np.concatenate([DistanceMatrix(a[i : i + 1], b, kind)[:] for i in range(len(a))])
        np.testing.assert_array_equal(alone, together)
        np.testing.assert_array_equal(DistanceMatrix(a, b, kind)[[40, 3]], together[[40, 3]])


def test_ranklist_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    d = rng.random((4, 6)).astype(np.float32)
    d[0, :3] = 0.25  # a tie: target order kept
    queries, targets = ["1921", "7", "s_3", "4"], ["665", "000003", "64", "chair_01", "6", "12"]
    folder = write_ranklists(tmp_path / "ranklists", queries, targets, d)
    assert sorted(p.name for p in folder.iterdir()) == sorted(queries)
    for i, q in enumerate(queries):
        text = (folder / q).read_text().splitlines()
        assert text[0] == q and len(text) == 7
        name, names, dist = read_ranklist(folder / q)
        order = np.argsort(d[i], kind="stable")
        assert name == q
        assert names == [model_name(targets[j]) for j in order]
        np.testing.assert_array_equal(dist.astype(np.float32), d[i, order])
    assert read_ranklist(folder / "1921")[1][:3] == ["m665", "m000003", "m64"]
    # rewritten in place: the old folder is replaced, not merged
    write_ranklists(folder, ["x"], targets, d[:1])
    assert [p.name for p in folder.iterdir()] == ["x"]
    assert not list(tmp_path.glob(".ranklists*"))


def _read_as_shrec_tools(path: Path) -> tuple[str, list[str], list[float]]:
    """A rank list read the way the official C++ reader reads it: whitespace tokens, the query name, then
    (model, distance) pairs until the first distance token that is not a number (where it stops, silently)."""
    tokens = path.read_text().split()
    names, distances = [], []
    for name, token in zip(tokens[1::2], tokens[2::2], strict=False):
        if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", token):  # strtod's decimal numbers
            break
        names.append(name)
        distances.append(float(token))
    return tokens[0], names, distances


def test_ranklist_of_skipped_targets_is_read_whole_by_the_official_reader(tmp_path):
    """A target skipped upstream has distance +inf: written as a finite distance above every real one, so
    a reader that stops at the first token that is not a number reads the whole list, in rank order."""
    d = np.array([[0.5, np.inf, 0.25, np.inf, 2.0], [np.inf] * 5], np.float32)
    targets = ["1", "2", "3", "4", "5"]
    folder = write_ranklists(tmp_path / "ranklists", ["q1", "q2"], targets, d)
    query, names, dist = _read_as_shrec_tools(folder / "q1")
    assert query == "q1" and names == ["m3", "m1", "m5", "m2", "m4"]  # the skipped two last, in order
    assert dist[:3] == [0.25, 0.5, 2.0] and dist[3] == dist[4] == 5.0 > max(dist[:3])
    assert "inf" not in (folder / "q1").read_text() and "nan" not in (folder / "q1").read_text()
    assert _read_as_shrec_tools(folder / "q2")[1] == ["m1", "m2", "m3", "m4", "m5"]  # all skipped: 1.0 each


def test_rank_lists_are_written_by_default_for_shrec_datasets():
    from bwot.config import Config

    assert Config.from_mapping({"dataset": "shrec13", "data_dir": "/d"}).evaluate.ranklists is True
    assert Config.from_mapping({"dataset": "shrec14", "data_dir": "/d"}).evaluate.ranklists is True
    assert Config.from_mapping({"dataset": "builtin"}).evaluate.ranklists is False
    off = {"dataset": "shrec13", "data_dir": "/d", "evaluate": {"ranklists": False}}
    assert Config.from_mapping(off).evaluate.ranklists is False


def test_ranklist_rejects_bad_names(tmp_path):
    with pytest.raises(ValueError, match="a/b"):
        write_ranklists(tmp_path / "r", ["a/b", "ok"], ["1"], np.zeros((2, 1)))
    with pytest.raises(ValueError, match="dup"):
        write_ranklists(tmp_path / "r", ["dup", "dup"], ["1"], np.zeros((2, 1)))
    bad = tmp_path / "bad"
    bad.write_text("q\nm1 0.5\nm2\n")
    with pytest.raises(ValueError, match=r"\[3\]"):
        read_ranklist(bad)


# ---------------------------------------------------------------- the evaluate stage


class FakeModel:
    """Identity embedding of the first `dim` features: lets the stage run without a trained metric."""

    def __init__(self, dim=None):
        self.dim = dim
        self.calls = []

    def embed_sketches(self, x):
        self.calls.append(("sketches", x.shape))
        return np.asarray(x, np.float32)[:, : self.dim]

    def embed_shapes(self, x):
        self.calls.append(("shapes", x.shape))
        return np.asarray(x, np.float32)[:, : self.dim]


def write_features(tmp_path, n_classes=3, per_class=4, rotations=3, dim=5, seed=0, drop_class=None):
    """Feature files by the contract: class centres + noise, so retrieval is good but not perfect."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)) * 3
    shape_labels = np.repeat(np.arange(n_classes), per_class)
    if drop_class is not None:
        shape_labels = shape_labels[shape_labels != drop_class]
    shapes = tmp_path / "shapes.h5"
    with h5py.File(shapes, "w") as f:
        pooled = centres[shape_labels] + rng.normal(size=(len(shape_labels), dim))
        f["pooled"] = pooled.astype(np.float32)
        f["features"] = np.repeat(pooled[:, None], 2, axis=1).astype(np.float32)
        write_strings(f, "ids", [str(100 + i) for i in range(len(shape_labels))])
        f["labels"] = shape_labels
    sk_labels = np.repeat(np.arange(n_classes), 2 * per_class)
    splits = np.tile(["train", "test"], len(sk_labels) // 2)
    sketches = tmp_path / "sketches.h5"
    with h5py.File(sketches, "w") as f:
        feats = centres[sk_labels][:, None] + rng.normal(size=(len(sk_labels), rotations, dim)) * 1.5
        f["features"] = feats.astype(np.float32)
        write_strings(f, "ids", [f"s{i}" for i in range(len(sk_labels))])
        write_strings(f, "splits", splits)
        f["labels"] = sk_labels
    return sketches, shapes


def outputs(tmp_path):
    return {k: tmp_path / "eval" / v for k, v in OUT_NAMES.items()}


OUT_NAMES = {
    "metrics": "metrics.json",
    "pr": "pr.csv",
    "per_class": "per_class.csv",
    "ranking": "ranking.npz",
}


def test_evaluate_files_writes_the_contract(tmp_path):
    sketches, shapes = write_features(tmp_path)
    (tmp_path / "classes.txt").write_text("cat\ndog\ncup\n")
    model = FakeModel()
    seen = {}

    def loader(path, device):
        seen.update(path=path, device=device)
        return model

    out = outputs(tmp_path)
    cfg = {"protocol": "upright", "distance": "euclidean", "ranklists": True}
    result = evaluate_files(
        "model.pt",
        sketches,
        shapes,
        out,
        cfg,
        classes_txt=tmp_path / "classes.txt",
        ranklists_dir=tmp_path / "eval" / "ranklists",
        loader=loader,
    )
    assert seen == {"path": "model.pt", "device": "cpu"}
    metrics = json.loads(out["metrics"].read_text())
    assert set(SCALARS) <= set(metrics)
    assert (metrics["n_queries"], metrics["n_targets"]) == (12, 12)  # 3 classes x 4 test sketches
    assert (metrics["protocol"], metrics["distance"]) == ("upright", "euclidean")
    # the stage's numbers are retrieval_metrics of the features it was given (rotation 0, test rows)
    with h5py.File(sketches) as f:
        test = np.flatnonzero(f["splits"].asstr()[()] == "test")
        q, ql = f["features"][()][test, 0], f["labels"][()][test]
    with h5py.File(shapes) as f:
        t, tl = f["pooled"][()], f["labels"][()]
    expected = retrieval_metrics(pairwise_distances(q, t), ql, tl)
    for key in SCALARS:
        assert metrics[key] == pytest.approx(expected[key])
    pr = pd.read_csv(out["pr"])
    assert list(pr.columns) == ["recall", "precision"] and len(pr) == 20
    np.testing.assert_allclose(pr["precision"], expected["pr_precision"])
    per_class = pd.read_csv(out["per_class"])
    assert list(per_class["class"]) == ["cat", "dog", "cup"]
    assert list(per_class["n_queries"]) == [4, 4, 4] and list(per_class["n_targets"]) == [4, 4, 4]
    assert per_class["mAP"].mean() == pytest.approx(metrics["mAP"])  # equal class sizes
    ranking = read_ranking(out["ranking"])
    assert ranking["topk"].shape == (12, 10) and ranking["topk_dist"].shape == (12, 10)
    assert (np.diff(ranking["topk_dist"], axis=1) >= 0).all()
    assert list(ranking["query_ids"][:2]) == ["s1", "s3"]
    assert ranking["target_ids"][ranking["topk"][0, 0]] == result.target_ids[result.metrics.topk[0, 0]]
    # rank lists agree with ranking.npz
    name, names, dist = read_ranklist(tmp_path / "eval" / "ranklists" / "s1")
    top_ids = [f"m{ranking['target_ids'][j]}" for j in ranking["topk"][0]]
    assert name == "s1" and names[:10] == top_ids and len(names) == 12
    np.testing.assert_allclose(dist[:10], ranking["topk_dist"][0], rtol=1e-6)


def test_all_rotations_protocol_and_cosine(tmp_path):
    sketches, shapes = write_features(tmp_path, rotations=3)
    result = evaluate(FakeModel(), sketches, shapes, protocol="all_rotations", distance="cosine")
    assert len(result.queries.ids) == 12 * 3
    assert list(result.queries.ids[:4]) == ["s1_r0", "s1_r1", "s1_r2", "s3_r0"]
    assert list(result.queries.rotations[:4]) == [0, 1, 2, 0]
    upright = evaluate(FakeModel(), sketches, shapes, protocol="upright", distance="cosine")
    np.testing.assert_array_equal(result.queries.embeddings[::3], upright.queries.embeddings)
    np.testing.assert_array_equal(result.distances[::3], upright.distances)
    assert result.summary()["distance"] == "cosine"


def test_missing_target_class_names_the_sketches(tmp_path):
    sketches, shapes = write_features(tmp_path, drop_class=1)
    with pytest.raises(NoRelevantTargetsError, match=r"labels \[1\].*s9"):
        evaluate(FakeModel(), sketches, shapes)


def test_no_ranklists_unless_asked(tmp_path):
    sketches, shapes = write_features(tmp_path)
    cfg = {"protocol": "upright", "distance": "euclidean", "ranklists": False}
    evaluate_files(
        "m",
        sketches,
        shapes,
        outputs(tmp_path),
        cfg,
        ranklists_dir=tmp_path / "rl",
        loader=lambda p, device: FakeModel(),
    )
    assert not (tmp_path / "rl").exists()


def test_with_the_real_metric_model(tmp_path):
    from bwot import metric

    sketches, shapes = write_features(tmp_path, dim=6)
    nets = metric.MetricNets(6, 6, [8], [8, 8], 4)
    metric.save_metric_model(tmp_path / "model.pt", nets, {"loss": "ot"})
    cfg = {"protocol": "upright", "distance": "euclidean", "ranklists": False}
    result = evaluate_files(
        tmp_path / "model.pt", sketches, shapes, outputs(tmp_path), cfg, loader=metric.load_metric_model
    )
    assert result.queries.embeddings.shape == (12, 4)
    assert json.loads(outputs(tmp_path)["metrics"].read_text())["n_targets"] == 12


def test_console_script(tmp_path, capsys):
    from bwot import metric
    from bwot.cli import main

    sketches, shapes = write_features(tmp_path, dim=6)
    metric.save_metric_model(tmp_path / "model.pt", metric.MetricNets(6, 6, [8], [8, 8], 4), {"loss": "ot"})
    args = ["evaluate", str(tmp_path / "model.pt"), str(sketches), str(shapes), "--out", str(tmp_path / "o")]
    assert main([*args, "--protocol", "all_rotations", "--ranklists"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["n_queries"] == 36 and printed["protocol"] == "all_rotations"
    assert json.loads((tmp_path / "o" / "metrics.json").read_text()) == printed
    assert len(list((tmp_path / "o" / "ranklists").iterdir())) == 36


# ------------------------------------------------------------- every target ranked, skips reported


def write_inventory(tmp_path, sketches, shapes, extra_targets=(), extra_queries=(), skip=True):
    """Manifests listing the feature files' items plus `extra_*` ids (of class 0) that have no features,
    and (when `skip`) skip reports that give them a reason."""
    with h5py.File(shapes) as f:
        t_ids, t_labels = list(f["ids"].asstr()[()]), list(f["labels"][()])
    with h5py.File(sketches) as f:
        s_ids, s_labels, splits = (
            list(f["ids"].asstr()[()]),
            list(f["labels"][()]),
            list(f["splits"].asstr()[()]),
        )
    for position, tid in extra_targets:
        t_ids.insert(position, tid)
        t_labels.insert(position, 0)
    models = pd.DataFrame({"id": t_ids, "class": [f"c{v}" for v in t_labels], "label": t_labels, "path": "m"})
    models["path"] = [f"/data/{i}.off" for i in t_ids]
    s_ids += list(extra_queries)
    s_labels += [0] * len(extra_queries)
    splits += ["test"] * len(extra_queries)
    sk = pd.DataFrame({"id": s_ids, "class": [f"c{v}" for v in s_labels], "label": s_labels, "split": splits})
    sk["path"] = [f"/data/{i}.png" for i in s_ids]
    models.to_csv(tmp_path / "models.csv", index=False)
    sk.to_csv(tmp_path / "sketches.csv", index=False)
    reason = "no ink in any of the 20 views"
    pd.DataFrame(
        [(t, f"/data/{t}.off", reason) for _, t in extra_targets] if skip else [],
        columns=["id", "path", "reason"],
    ).to_csv(tmp_path / "views.skipped.csv", index=False)
    pd.DataFrame(
        [(q, f"/data/{q}.png", "no ink") for q in extra_queries] if skip else [],
        columns=["id", "path", "reason"],
    ).to_csv(tmp_path / "test.skipped.csv", index=False)
    return Inventory.from_files(
        tmp_path / "models.csv",
        tmp_path / "sketches.csv",
        [tmp_path / "views.skipped.csv"],
        [tmp_path / "test.skipped.csv"],
    )


def test_skipped_relevant_target_counts_and_is_ranked_last(tmp_path):
    """The metrics with one skipped target of class 0 equal those of the full ranking with that target
    moved to the end of every list (C keeps the official class size)."""
    sketches, shapes = write_features(tmp_path)
    inventory = write_inventory(tmp_path, sketches, shapes, extra_targets=[(5, "777")])
    result = evaluate(FakeModel(), sketches, shapes, inventory=inventory)
    assert len(result.target_ids) == 13 and result.target_ids[5] == "777"
    d, ql, tl = _upright_distances(sketches, shapes)
    moved = np.insert(d, 5, d.max() + 1.0, axis=1)  # the skipped target, last in every list
    expected = retrieval_metrics(moved, ql, np.insert(tl, 5, 0))
    for key in SCALARS:
        assert result.summary()[key] == pytest.approx(expected[key], abs=1e-12)
    # without the skipped target the class-0 queries would have C = 4, not 5: other numbers
    assert retrieval_metrics(d, ql, tl)["mAP"] != pytest.approx(expected["mAP"])
    summary = result.summary()
    assert summary["n_targets"] == 13 and summary["n_targets_skipped"] == 1
    assert summary["skipped"]["targets"] == [
        {"id": "777", "class": "c0", "path": "/data/777.off", "reason": "no ink in any of the 20 views"}
    ]
    per_class = per_class_table(result.metrics, result.queries.labels, result.target_labels)
    assert list(per_class["n_targets"]) == [5, 4, 4]


def test_skipped_target_is_last_in_every_rank_list(tmp_path):
    sketches, shapes = write_features(tmp_path)
    inventory = write_inventory(tmp_path, sketches, shapes, extra_targets=[(0, "777"), (9, "778")])
    cfg = {"protocol": "upright", "distance": "euclidean", "ranklists": True}
    evaluate_files(
        "m", sketches, shapes, outputs(tmp_path), cfg, ranklists_dir=tmp_path / "rl",
        loader=lambda p, device: FakeModel(), inventory=inventory,
    )  # fmt: skip
    for path in (tmp_path / "rl").iterdir():
        _, names, dist = read_ranklist(path)
        assert len(names) == 14 and names[-2:] == ["m777", "m778"]  # in manifest order, after the rest
        # finite (the official reader stops at 'inf'), above every real distance of the list
        assert np.isfinite(dist).all() and dist[-1] == dist[-2] > dist[:-2].max()


def test_skipped_query_sketch_is_listed(tmp_path):
    sketches, shapes = write_features(tmp_path)
    inventory = write_inventory(tmp_path, sketches, shapes, extra_queries=["s99"])
    summary = evaluate(FakeModel(), sketches, shapes, inventory=inventory).summary()
    assert summary["n_queries"] == 12 and summary["n_queries_skipped"] == 1
    assert summary["skipped"]["queries"] == [
        {"id": "s99", "class": "c0", "path": "/data/s99.png", "reason": "no ink"}
    ]


def test_items_missing_without_a_skip_record_are_an_error(tmp_path):
    sketches, shapes = write_features(tmp_path)
    inventory = write_inventory(
        tmp_path, sketches, shapes, extra_targets=[(2, "777"), (3, "778")], extra_queries=["s99"], skip=False
    )
    with pytest.raises(
        ValueError, match=r"2 target\(s\) of the manifest have no features and no skip record: 777, 778"
    ):
        evaluate(FakeModel(), sketches, shapes, inventory=inventory)
    inventory = write_inventory(tmp_path, sketches, shapes, extra_queries=["s99"], skip=False)
    with pytest.raises(ValueError, match=r"1 test sketch\(s\) .* no skip record: s99"):
        evaluate(FakeModel(), sketches, shapes, inventory=inventory)


def test_features_of_an_unlisted_target_are_an_error(tmp_path):
    sketches, shapes = write_features(tmp_path)
    inventory = write_inventory(tmp_path, sketches, shapes)
    inventory.targets = inventory.targets[inventory.targets["id"] != "101"].reset_index(drop=True)
    with pytest.raises(ValueError, match=r"shapes.h5: target id\(s\) not in the models manifest: 101"):
        evaluate(FakeModel(), sketches, shapes, inventory=inventory)


# ------------------------------------------------------------- PR by the SHREC rule (evaluate.pr_rule), AP


def shrec_pr_by_definition(relevance, sizes):
    """The SHREC evaluation code's 20-point PR curve, a plain loop from its definition (Sketch3DToolkit's
    CalAvgPerf/InterpolatePerf): `relevance` holds each query's G list in rank order, `sizes` its C. At level
    j a query counts when C >= 2 and C >= 20 / j; its value interpolates, at position xx = (j / 20) C, the
    precisions at hits fix(xx) and fix(xx) + 1 (both clamped to 1..C); the level is the mean of the queries
    that count, 0 when none does."""
    curve = []
    for j in range(1, 21):
        total, valid = 0.0, 0
        for g, c in zip(relevance, sizes, strict=True):
            if c < 2 or c < 20 / j:
                continue
            hits, at_hit = 0, []
            for rank, gi in enumerate(g, start=1):
                if gi:
                    hits += 1
                    at_hit.append(hits / rank)
            xx = j / 20 * c
            x1 = int(xx)
            dx = xx - x1
            x2 = min(max(x1 + 1, 1), c)
            x1 = min(max(x1, 1), c)
            total += at_hit[x1 - 1] * (1 - dx) + at_hit[x2 - 1] * dx
            valid += 1
        curve.append(total / valid if valid else 0.0)
    return np.array(curve)


def every_query_pr_by_definition(relevance, sizes):
    """The `every_query` rule from its definition: every query at every level, the precision at the first
    rank where its recall reaches k/20; the mean over all queries."""
    curve = []
    for k in range(1, 21):
        values = []
        for g, c in zip(relevance, sizes, strict=True):
            hits = 0
            for rank, gi in enumerate(g, start=1):
                hits += gi
                if hits * 20 >= k * c:  # recall hits / C >= k / 20
                    values.append(hits / rank)
                    break
        curve.append(float(np.mean(values)))
    return np.array(curve)


def relevance_lists(d, ql, tl):
    """Each query's G list: targets sorted by distance, ties in target order."""
    return [[int(tl[j] == q) for j in np.argsort(row, kind="stable")] for row, q in zip(d, ql, strict=True)]


def worked_example():
    """One query, C = 3 among 40 targets, the relevant ones at ranks 1, 3 and 6."""
    labels = np.ones(40, int)
    labels[[0, 2, 5]] = 0
    return np.arange(40, dtype=float)[None], [0], labels


def test_pr_shrec_worked_example():
    d, ql, tl = worked_example()
    q = per_query_metrics(d, ql, tl)
    assert q.pr_rule == "shrec"
    # k C >= 20 from k = 7: recall 0.05 .. 0.30 do not count the query (NaN), and report 0 (none counts)
    assert np.isnan(q.pr[0, :6]).all() and not np.isnan(q.pr[0, 6:]).any()
    m = retrieval_metrics(d, ql, tl)
    np.testing.assert_array_equal(m["pr_precision"][:6], 0.0)
    # hit precisions p = 1, 2/3, 1/2; recall 0.35: position 1.05, 0.95 p_1 + 0.05 p_2
    assert m["pr_precision"][6] == pytest.approx(0.98333333333)
    assert m["pr_precision"][13] == pytest.approx(0.65)  # recall 0.70: position 2.1, 0.9 p_2 + 0.1 p_3
    assert m["pr_precision"][19] == pytest.approx(0.5)  # recall 1: p_3
    np.testing.assert_allclose(
        m["pr_precision"], shrec_pr_by_definition([[1, 0, 1, 0, 0, 1] + [0] * 34], [3])
    )
    # every_query: every level, the precision at hit ceil(3k / 20)
    every = retrieval_metrics(d, ql, tl, pr_rule="every_query")["pr_precision"]
    np.testing.assert_allclose(every, [1] * 6 + [2 / 3] * 7 + [1 / 2] * 7)


def test_pr_shrec_class_of_one_never_counts_and_empty_levels_are_zero():
    tl = np.array([0, 1, 1, 1, 1, 2, 2])  # C = 1 (class 0), 4 (class 1), 2 (class 2)
    d = np.array([[0.5, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7], [0.0, 0.3, 0.1, 0.6, 0.2, 0.4, 0.5]])
    q = per_query_metrics(d, [0, 1], tl)
    assert np.isnan(q.pr[0]).all()  # C = 1: not even at recall 1
    assert np.isnan(q.pr[1, :4]).all() and not np.isnan(q.pr[1, 4:]).any()  # C = 4 counts from k = 5
    curve = retrieval_metrics(d, [0, 1], tl)["pr_precision"]
    np.testing.assert_array_equal(curve[:4], 0.0)  # no query counts: 0, as the SHREC code reports it
    np.testing.assert_allclose(curve[4:], q.pr[1, 4:])  # only the C = 4 query is averaged
    np.testing.assert_allclose(curve, shrec_pr_by_definition(relevance_lists(d, [0, 1], tl), [1, 4]))
    assert retrieval_metrics(d[:1], [0], tl)["pr_precision"].tolist() == [0.0] * 20  # C = 1 alone: all 0
    # every_query counts both, at every level
    every = retrieval_metrics(d, [0, 1], tl, pr_rule="every_query")["pr_precision"]
    np.testing.assert_allclose(every, every_query_pr_by_definition(relevance_lists(d, [0, 1], tl), [1, 4]))


@pytest.mark.parametrize("seed", range(10))
def test_pr_rules_equal_their_definitions_on_random_rankings(seed):
    rng = np.random.default_rng(100 + seed)
    d, ql, tl = random_case(rng, ties=seed % 2 == 0, dtype=np.float32 if seed % 3 else np.float64)
    g, sizes = relevance_lists(d, ql, tl), [int((tl == q).sum()) for q in ql]
    chunk = int(rng.integers(1, 20))
    shrec = retrieval_metrics(d, ql, tl, chunk_size=chunk)["pr_precision"]
    np.testing.assert_allclose(shrec, shrec_pr_by_definition(g, sizes), atol=1e-12)
    every = retrieval_metrics(d, ql, tl, chunk_size=chunk, pr_rule="every_query")["pr_precision"]
    np.testing.assert_allclose(every, every_query_pr_by_definition(g, sizes), atol=1e-12)
    for rule in ("shrec", "every_query"):  # bwot.evaluation.reference, the loop of bench/evaluate, agrees
        slow = naive_metrics(d, ql, tl, pr_rule=rule)["pr_precision"]
        np.testing.assert_allclose(slow, shrec if rule == "shrec" else every, atol=1e-12)


def test_pr_shrec_from_rank_lists_as_the_official_reader_reads_them(tmp_path):
    """The PR curve of a run's rank lists, parsed as the C++ reader parses them and scored by the rule's
    definition, is the curve evaluate computes."""
    rng = np.random.default_rng(7)
    tl = rng.integers(0, 5, 90)
    tl[:5] = np.arange(5)  # every class has a target
    tl[tl == 4] = 3
    tl[4] = 4  # class 4 has one target (C = 1)
    ql = rng.choice(np.arange(5), 30)
    d = rng.random((30, 90)).astype(np.float32)
    d[:, 10:20] = 0.5  # ties
    queries, targets = [f"q{i}" for i in range(30)], [str(1000 + j) for j in range(90)]
    folder = write_ranklists(tmp_path / "ranklists", queries, targets, d)
    target_class = {model_name(t): int(c) for t, c in zip(targets, tl, strict=True)}
    sizes = [int((tl == q).sum()) for q in ql]
    g = []
    for name, q in zip(queries, ql, strict=True):
        query, names, _ = _read_as_shrec_tools(folder / name)
        assert query == name and len(names) == len(targets)
        g.append([int(target_class[n] == q) for n in names])
    m = retrieval_metrics(d, ql, tl)
    np.testing.assert_allclose(m["pr_precision"], shrec_pr_by_definition(g, sizes), atol=1e-12)
    every = retrieval_metrics(d, ql, tl, pr_rule="every_query")["pr_precision"]
    np.testing.assert_allclose(every, every_query_pr_by_definition(g, sizes), atol=1e-12)
    # and the AP of the toolkit (sum of the hit precisions / C) from the same lists
    ap = [ap_by_definition(x, c) for x, c in zip(g, sizes, strict=True)]
    assert m["mAP"] == pytest.approx(np.mean(ap), abs=1e-12)


def ap_by_definition(relevance, divisor):
    """AP of one G list: the sum of the precisions at its relevant ranks, divided by `divisor`."""
    hits, total = 0, 0.0
    for rank, gi in enumerate(relevance, start=1):
        if gi:
            hits += 1
            total += hits / rank
    return total / divisor


@pytest.mark.parametrize("seed", range(6))
def test_ap_max_class_size_equals_a_plain_loop(seed):
    rng = np.random.default_rng(200 + seed)
    d, ql, tl = random_case(rng, ties=seed % 2 == 0)
    g, sizes = relevance_lists(d, ql, tl), [int((tl == q).sum()) for q in ql]
    c_max = max(sizes)
    q = per_query_metrics(d, ql, tl, chunk_size=int(rng.integers(1, 5)), ap="max_class_size")
    assert q.ap == "max_class_size"
    np.testing.assert_allclose(q.AP, [ap_by_definition(x, c_max) for x in g], atol=1e-12)
    own = per_query_metrics(d, ql, tl)
    np.testing.assert_allclose(own.AP, [ap_by_definition(x, c) for x, c in zip(g, sizes, strict=True)])
    mean = retrieval_metrics(d, ql, tl, ap="max_class_size")["mAP"]
    assert mean == pytest.approx(naive_metrics(d, ql, tl, ap="max_class_size")["mAP"], abs=1e-12)
    # the other five metrics and the PR curve do not depend on `ap`
    for name in ("NN", "FT", "ST", "E", "DCG", "pr"):
        np.testing.assert_array_equal(getattr(q, name), getattr(own, name), err_msg=name)


def test_ap_max_class_size_by_hand():
    # two queries: class 0 (C = 2, hits at ranks 1 and 3), class 1 (C = 4, hits at ranks 1..4)
    tl = np.array([0, 1, 0, 1, 1, 1])
    d = np.array([[0, 1, 2, 3, 4, 5], [5, 0, 4, 1, 2, 3]], dtype=float)
    own = retrieval_metrics(d, [0, 1], tl)["mAP"]
    assert own == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)
    largest = retrieval_metrics(d, [0, 1], tl, ap="max_class_size")["mAP"]
    assert largest == pytest.approx(((1 + 2 / 3) / 4 + 4 / 4) / 2)  # both divided by C_max = 4


def test_unknown_rules_are_refused():
    with pytest.raises(ValueError, match="pr_rule 'interpolated'"):
        retrieval_metrics(np.zeros((1, 2)), [0], [0, 1], pr_rule="interpolated")
    with pytest.raises(ValueError, match="ap 'retrieved'"):
        retrieval_metrics(np.zeros((1, 2)), [0], [0, 1], ap="retrieved")


def test_evaluate_files_follows_the_rules_of_the_config(tmp_path):
    from bwot.config import EvaluateConfig, job_keys, protocol_keys

    assert (EvaluateConfig.pr_rule, EvaluateConfig.ap) == ("shrec", "class_size")
    assert {"pr_rule", "ap"} <= set(protocol_keys()["evaluate"])  # a change is a departure from the paper
    assert {"pr_rule", "ap"} <= set(job_keys("evaluate"))  # and reruns evaluate
    sketches, shapes = write_features(tmp_path, per_class=3)
    d, ql, tl = _upright_distances(sketches, shapes)
    for rules in ({}, {"pr_rule": "every_query", "ap": "max_class_size"}):
        out = outputs(tmp_path / ("_".join(rules.values()) or "defaults"))
        cfg = {"protocol": "upright", "distance": "euclidean", "ranklists": False} | rules
        evaluate_files("m", sketches, shapes, out, cfg, loader=lambda p, device: FakeModel())
        expected = retrieval_metrics(d, ql, tl, **rules)
        metrics = json.loads(out["metrics"].read_text())
        assert metrics["pr_rule"] == rules.get("pr_rule", "shrec")
        assert metrics["ap"] == rules.get("ap", "class_size")
        assert metrics["mAP"] == pytest.approx(expected["mAP"])
        pr = pd.read_csv(out["pr"])
        assert not pr["precision"].isna().any()
        np.testing.assert_allclose(pr["precision"], expected["pr_precision"])
    # C = 3: under shrec recall 0.05 .. 0.30 count no query, pr.csv says 0 there
    shrec = pd.read_csv(outputs(tmp_path / "defaults")["pr"])
    assert (shrec["precision"][:6] == 0).all() and (shrec["precision"][6:] > 0).all()


def _upright_distances(sketches, shapes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances of the upright test sketches to the targets of two feature files, and both labels."""
    with h5py.File(sketches) as f:
        test = np.flatnonzero(f["splits"].asstr()[()] == "test")
        q, ql = f["features"][()][test, 0], f["labels"][()][test]
    with h5py.File(shapes) as f:
        t, tl = f["pooled"][()], f["labels"][()]
    return pairwise_distances(q, t), ql, tl
