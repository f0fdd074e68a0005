"""`bwot data`: a dataset rebuilt byte for byte from git repositories (bwot.datasets.fetch), offline.

Three small local repositories stand for the real ones (same names and layouts, a few files each, pinned
at a commit that is not their last); a manifest made from them is built by fetching over file:// (the
blob-less fetch path) and from local clones (--from). The shipped manifest is checked file for file
against ../shared/data/real13-dev when it is there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from bwot.cli import main
from bwot.datasets import SHREC13, read_cla, read_shrec
from bwot.datasets import fetch as fetch_mod
from bwot.datasets.fetch import (
    COLUMNS,
    DATASETS,
    FetchError,
    build,
    filter_cla,
    git_blob_id,
    layout_ids,
    read_manifest,
)

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

MODELS = "SHREC13_SBR_TARGET_MODELS/models"
TRAIN = "SHREC13_SBR_TRAINING_SKETCHES/SHREC13_SBR_TRAINING_SKETCHES"
TEST = "SHREC13_SBR_TESTING_SKETCHES"
EVAL = "SHREC2013_Sketch_Evaluation"
MESHES_REPO, SKETCHES_REPO, TOOLKIT_REPO = (
    "kevin4998/MR-Shape-Database",
    "HPrinz/sketch-recognition",
    "garyzhao/Sketch3DToolkit",
)
SHAPES = "ShapeDatabase-UI/Content/Shapes/All"

# the official files' quirks: CRLF, tabs and double spaces in class lines, trailing tabs after ids
OFFICIAL_MODEL_CLA = (
    b"PSB 1\r\n3 5\r\n\r\nant\t 0 3\r\n0\r\n1\r\n2\t\r\n\r\ndog  0 1\r\n100\r\n\t\r\nchair   0 1\r\n785\r\n"
)
# LF, ids in no sorted order; 'bee' has no sketch here
OFFICIAL_TRAIN_CLA = (
    b"PSB 1\n3 9\n\nant 0 4\n249\n241\n247\n243\n\ndog  0 3\n5300\n5281\n5299\n\nbee 0 2\n1\n2\n"
)
# what the rule makes of them (written by hand): the first ids of a class are training, the last test
EXPECTED_MODEL_CLA = b"PSB 1\r\n2 3\r\n\r\nant 0 2\r\n0\r\n1\r\n\r\ndog 0 1\r\n100\r\n\r\n"
EXPECTED_TRAIN_CLA = b"PSB 1\n2 4\n\nant 0 2\n249\n241\n\ndog 0 2\n5300\n5281\n\n"
EXPECTED_TEST_CLA = b"PSB 1\n2 3\n\nant 0 2\n247\n243\n\ndog 0 1\n5299\n\n"


def _git(cwd: Path, *args: str) -> str:
    env = os.environ | {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    return subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def _commit(repo: Path, files: dict[str, bytes], message: str) -> str:
    for path, data in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(data)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def _make_repo(path: Path, files: dict[str, bytes]) -> str:
    """A repository holding `files` at the returned commit, with a later commit on top (so the builder
    must read the pinned commit, not the last); its server side allows blob-less fetches."""
    path.mkdir(parents=True)
    _git(path, "init", "-q")
    _git(path, "config", "uploadpack.allowFilter", "true")
    pinned = _commit(path, files, "pinned")
    _commit(path, {p: b"later\n" for p in files} | {"NEW": b"new\n"}, "later")
    return pinned


def _row(dest: str, repo: str, commit: str, path: str, blob: str, data: bytes, derive: str = "") -> list[str]:
    return [dest, repo, commit, path, blob, str(len(data)), hashlib.sha256(data).hexdigest(), derive]


def _write_manifest(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("\n".join("\t".join(r) for r in [list(COLUMNS), *rows]) + "\n")
    return path


@pytest.fixture
def repos(tmp_path: Path) -> dict:
    """Three repositories under remotes/<owner>/<name>, the files each dest gets, and their manifest."""
    return make_repos(tmp_path)


def make_repos(tmp_path: Path) -> dict:
    """The `repos` fixture: three small repositories in `tmp_path`, their manifest and expected files."""
    remotes = tmp_path / "remotes"
    meshes = {  # PSB_<id>.off -> m<id>.off; the last is in no class the model .cla keeps
        f"{SHAPES}/arthropod animal/PSB_0.off": b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n",
        f"{SHAPES}/arthropod animal/PSB_1.off": b"OFF\n3 1 0\n0 0 0\n2 0 0\n0 2 0\n3 0 1 2\n",
        f"{SHAPES}/quadruped animal/PSB_100.off": b"OFF\n3 1 0\n0 0 0\n3 0 0\n0 3 0\n3 0 1 2\n",
    }
    sketches = {f"img/{c}/{i}.png": f"png {c} {i}\n".encode() for c, i in _SKETCHES}
    toolkit = {
        "matlab/SHREC13/SHREC13_SBR_Model.cla": OFFICIAL_MODEL_CLA,
        "matlab/SHREC13/SHREC13_SBR_Sketch_Train.cla": OFFICIAL_TRAIN_CLA,
        "matlab/README.md": b"not needed\n",
    }
    commits = {
        MESHES_REPO: _make_repo(remotes / MESHES_REPO, meshes),
        SKETCHES_REPO: _make_repo(remotes / SKETCHES_REPO, sketches),
        TOOLKIT_REPO: _make_repo(remotes / TOOLKIT_REPO, toolkit),
    }

    def blob(repo: str, path: str) -> str:
        return _git(remotes / repo, "rev-parse", f"{commits[repo]}:{path}")

    rows, expected = [], {}
    for path, data in meshes.items():
        dest = f"{MODELS}/m{path.rsplit('PSB_', 1)[1]}"
        rows.append(_row(dest, MESHES_REPO, commits[MESHES_REPO], path, blob(MESHES_REPO, path), data))
        expected[dest] = data
    for (cls, i), split in zip(_SKETCHES, _SPLITS, strict=True):
        path, folder = f"img/{cls}/{i}.png", TRAIN if split == "train" else TEST
        dest = f"{folder}/{cls}/{split}/{i}.png"
        rows.append(
            _row(dest, SKETCHES_REPO, commits[SKETCHES_REPO], path, blob(SKETCHES_REPO, path), sketches[path])
        )
        expected[dest] = sketches[path]
    for name, source, derive, data in (
        ("Model", "SHREC13_SBR_Model.cla", "cla:model", EXPECTED_MODEL_CLA),
        ("Sketch_Train", "SHREC13_SBR_Sketch_Train.cla", "cla:train", EXPECTED_TRAIN_CLA),
        ("Sketch_Test", "SHREC13_SBR_Sketch_Train.cla", "cla:test", EXPECTED_TEST_CLA),
    ):
        dest, path = f"{EVAL}/SHREC13_SBR_{name}.cla", f"matlab/SHREC13/{source}"
        rows.append(
            _row(dest, TOOLKIT_REPO, commits[TOOLKIT_REPO], path, blob(TOOLKIT_REPO, path), data, derive)
        )
        expected[dest] = data
    manifest = _write_manifest(tmp_path / "manifest.tsv", rows)
    return {
        "remotes": remotes,
        "url": f"file://{remotes}/{{repo}}",
        "commits": commits,
        "rows": rows,
        "expected": expected,
        "manifest": manifest,
        "tmp": tmp_path,
    }


_SKETCHES = [
    ("ant", 249),
    ("ant", 241),
    ("ant", 247),
    ("ant", 243),
    ("dog", 5300),
    ("dog", 5281),
    ("dog", 5299),
]
_SPLITS = ["train", "train", "test", "test", "train", "train", "test"]


def _assert_built(out: Path, expected: dict[str, bytes]) -> None:
    """`out` holds exactly the expected files (nothing hidden, no temporary or scratch file)."""
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert files == expected
    assert not [p for p in out.rglob(".*")]


# ----------------------------------------------------------------------------------------- the .cla rule


def test_filter_cla_keeps_order_drops_empty_classes_and_normalises():
    keep = {"0", "1", "100"}
    assert filter_cla(OFFICIAL_MODEL_CLA, keep) == EXPECTED_MODEL_CLA
    assert filter_cla(OFFICIAL_TRAIN_CLA, {"249", "241", "5300", "5281"}) == EXPECTED_TRAIN_CLA
    assert filter_cla(OFFICIAL_TRAIN_CLA, set()) == b"PSB 1\n0 0\n\n"
    assert read_cla_bytes(EXPECTED_MODEL_CLA) == {"ant": ["0", "1"], "dog": ["100"]}
    with pytest.raises(ValueError, match="PSB"):
        filter_cla(b"OFF\n", keep)


def read_cla_bytes(data: bytes) -> dict[str, list[str]]:
    """bwot's own .cla reader on `data` (the derived files read as the pipeline reads them)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.cla"
        path.write_bytes(data)
        return read_cla(path)


def test_shipped_manifest_reads_and_follows_the_split():
    """The shipped manifest: 589 models, 455 + 195 sketches (35 + 15 a class), three derived .cla files."""
    entries = read_manifest(DATASETS["real13-dev"].manifest)
    assert len(entries) == 1242
    assert len(layout_ids(entries, "model")) == 589
    train, test = layout_ids(entries, "train"), layout_ids(entries, "test")
    assert (len(train), len(test)) == (455, 195) and not train & test
    derived = {e.dest.rsplit("/", 1)[1]: (e.derive, e.path) for e in entries if e.derive}
    assert derived == {
        "SHREC13_SBR_Model.cla": ("cla:model", "matlab/SHREC13/SHREC13_SBR_Model.cla"),
        "SHREC13_SBR_Sketch_Train.cla": ("cla:train", "matlab/SHREC13/SHREC13_SBR_Sketch_Train.cla"),
        "SHREC13_SBR_Sketch_Test.cla": ("cla:test", "matlab/SHREC13/SHREC13_SBR_Sketch_Train.cla"),
    }
    assert all(e.blob for e in entries)


def test_shipped_manifest_describes_real13_dev(real13_dev: Path):
    """Every file of ../shared/data/real13-dev (but its README and PROVENANCE) is in the manifest, at its
    path, with its size and sha256, and the manifest names nothing else."""
    entries = {e.dest: e for e in read_manifest(DATASETS["real13-dev"].manifest)}
    files = {
        p.relative_to(real13_dev).as_posix()
        for p in real13_dev.rglob("*")
        if p.is_file() and p.parent != real13_dev
    }
    assert files == set(entries)
    wrong = []
    for dest, e in entries.items():
        data = (real13_dev / dest).read_bytes()
        if (len(data), hashlib.sha256(data).hexdigest()) != (e.size, e.sha256):
            wrong.append(dest)
        if not e.derive and git_blob_id(data) != e.blob:
            wrong.append(f"{dest} (blob)")
    assert not wrong


def test_rule_rebuilds_real13_dev_cla_files(real13_dev: Path, real_data: Path):
    """The three .cla files of the development set come out of the official ones (../shared/data/real,
    copied from the pinned Sketch3DToolkit commit) byte for byte, by the manifest's rule."""
    entries = read_manifest(DATASETS["real13-dev"].manifest)
    for e in (e for e in entries if e.derive):
        official = (real_data / "cla" / "SHREC13" / Path(e.path).name).read_bytes()
        assert git_blob_id(official) == e.blob, e.path
        derived = filter_cla(official, layout_ids(entries, e.derive.split(":")[1]))
        assert derived == (real13_dev / e.dest).read_bytes(), e.dest
        assert hashlib.sha256(derived).hexdigest() == e.sha256
    # the test sketches are the last 15 ids of each query class in the official training .cla
    official = read_cla(real_data / "cla" / "SHREC13" / "SHREC13_SBR_Sketch_Train.cla")
    dev = read_cla(real13_dev / EVAL / "SHREC13_SBR_Sketch_Test.cla")
    assert dev == {c: official[c][35:] for c in dev}


# ---------------------------------------------------------------------------------------------- building


def test_build_by_fetching_over_file_urls(repos: dict, capsys: pytest.CaptureFixture[str]):
    """`bwot data` fetches each repository at its pinned commit with no blob but the needed ones, checks
    and writes every file, and prints the pipeline command; the folder reads as SHREC'13."""
    out = repos["tmp"] / "out"
    argv = ["data", "real13-dev", "--out", str(out), "--manifest", str(repos["manifest"])]
    assert main([*argv, "--remote", repos["url"]]) == 0
    _assert_built(out, repos["expected"])
    printed = capsys.readouterr().out
    assert "real13-dev: 13 files in" in printed and "(13 written, 0 already there)" in printed
    command = ".venv/bin/snakemake --cores 2 --configfile config/shrec13-cpu.yaml --config data_dir="
    assert f"{command}{out.resolve()}\n" in printed
    dataset = read_shrec(out, SHREC13)
    assert (len(dataset.models), len(dataset.sketches)) == (3, 7)
    assert [s.id for s in dataset.sketches if s.split == "test"] == ["247", "243", "5299"]


def test_fetch_takes_only_the_needed_blobs(repos: dict):
    """A blob-less fetch: the blobs read are the 12 the files need (10 copies, 2 official .cla files)."""
    result = build(repos["tmp"] / "out", repos["manifest"], remote=repos["url"])
    assert (len(result.written), result.fetched_blobs) == (13, 12)


def test_build_from_local_clones(repos: dict, tmp_path: Path):
    """--from: a folder of clones (<owner>/<name>, <name>.git) or one repository per path; no fetch."""
    clones = tmp_path / "clones"
    _git(tmp_path, "clone", "-q", str(repos["remotes"] / MESHES_REPO), str(clones / "MR-Shape-Database"))
    _git(
        tmp_path,
        "clone",
        "-q",
        "--bare",
        str(repos["remotes"] / TOOLKIT_REPO),
        str(clones / "Sketch3DToolkit.git"),
    )
    out = tmp_path / "out"
    argv = ["data", "real13-dev", "--out", str(out), "--manifest", str(repos["manifest"]), "--no-fetch"]
    sketches = repos["remotes"] / SKETCHES_REPO  # a repository given by its own path
    assert main([*argv, "--from", str(clones), "--from", str(sketches)]) == 0
    _assert_built(out, repos["expected"])
    # a folder of clones named <owner>/<name> serves all three
    out2 = tmp_path / "out2"
    result = build(out2, repos["manifest"], sources=[repos["remotes"]], fetch=False)
    assert (len(result.written), result.fetched_blobs) == (13, 0)
    _assert_built(out2, repos["expected"])


def test_a_missing_repository_is_named(repos: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """No clone and no fetch, or a remote that is not there: the repository and commit are named, and the
    files of the other repositories are written."""
    out = tmp_path / "out"
    argv = ["data", "real13-dev", "--out", str(out), "--manifest", str(repos["manifest"])]
    only_meshes = tmp_path / "only"
    shutil.copytree(repos["remotes"] / MESHES_REPO, only_meshes / MESHES_REPO)
    assert main([*argv, "--no-fetch", "--from", str(only_meshes)]) == 1
    err = capsys.readouterr().err
    for repo in (SKETCHES_REPO, TOOLKIT_REPO):
        assert f"{repo}@{repos['commits'][repo]}: in no local repository" in err
    assert sorted(p.name for p in (out / MODELS).iterdir()) == ["m0.off", "m1.off", "m100.off"]

    with pytest.raises(FetchError, match=rf"{SKETCHES_REPO}@\w+: cannot fetch it from file://"):
        build(tmp_path / "out3", repos["manifest"], remote=f"file://{tmp_path}/nowhere/{{repo}}")


def test_tampered_files_are_refused_by_name(repos: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A repository whose files differ from the manifest at the pinned commit: every such file is named
    (repository, commit, path, what differs), none of them is written, nothing half-written is left, and
    the others are written."""
    tampered = tmp_path / "tampered"
    for repo in (MESHES_REPO, TOOLKIT_REPO):
        _git(tmp_path, "clone", "-q", str(repos["remotes"] / repo), str(tampered / repo))
        _git(tampered / repo, "checkout", "-q", repos["commits"][repo])
    bad_meshes = _commit(
        tampered / MESHES_REPO,
        {
            f"{SHAPES}/arthropod animal/PSB_1.off": b"OFF\nchanged\n",
            f"{SHAPES}/quadruped animal/PSB_100.off": b"x",
        },
        "tampered",
    )
    official = OFFICIAL_TRAIN_CLA.replace(b"249\n241\n", b"241\n249\n")  # training order swapped
    bad_toolkit = _commit(
        tampered / TOOLKIT_REPO, {"matlab/SHREC13/SHREC13_SBR_Sketch_Train.cla": official}, "t"
    )
    # the manifest pins the tampered commits but expects the original files
    pins = {repos["commits"][MESHES_REPO]: bad_meshes, repos["commits"][TOOLKIT_REPO]: bad_toolkit}
    rows = [[r[0], r[1], pins.get(r[2], r[2]), *r[3:]] for r in repos["rows"]]
    rows[0][4] = ""  # m0.off: no blob id, checked by size and sha256 only (it is right)
    manifest = _write_manifest(tmp_path / "tampered.tsv", rows)
    out = tmp_path / "out"
    argv = ["data", "real13-dev", "--out", str(out), "--manifest", str(manifest), "--no-fetch"]
    assert main([*argv, "--from", str(tampered), "--from", str(repos["remotes"])]) == 1
    err = capsys.readouterr().err
    assert "4 file(s) or source(s) refused" in err
    assert f"{MODELS}/m1.off: {MESHES_REPO}@{bad_meshes}:{SHAPES}/arthropod animal/PSB_1.off: git blob" in err
    assert f"{MODELS}/m100.off: {MESHES_REPO}@{bad_meshes}:{SHAPES}/quadruped animal/PSB_100.off" in err
    assert "1 bytes, sha256 2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881" in err
    for name in ("Train", "Test"):  # both come from the tampered training .cla
        assert (
            f"{EVAL}/SHREC13_SBR_Sketch_{name}.cla: cla:{name.lower()} of {TOOLKIT_REPO}@{bad_toolkit}" in err
        )
    expected = {
        d: v
        for d, v in repos["expected"].items()
        if d not in {f"{MODELS}/m1.off", f"{MODELS}/m100.off"} and "Sketch_T" not in d
    }
    _assert_built(out, expected)


def test_resume_after_a_killed_run(repos: dict, monkeypatch: pytest.MonkeyPatch):
    """A run killed while writing leaves only complete files; a rerun writes only what is missing or
    wrong (and fetches only its blobs), and removes what a killed process left."""
    out = repos["tmp"] / "out"
    real = fetch_mod.atomic_path
    calls = []

    @contextmanager
    def killed_at_the_fifth(path):
        with real(path) as tmp:
            yield tmp
            calls.append(path)
            if len(calls) == 5:  # the temporary file is written; the kill comes before the rename
                raise KeyboardInterrupt

    monkeypatch.setattr(fetch_mod, "atomic_path", killed_at_the_fifth)
    with pytest.raises(KeyboardInterrupt):
        build(out, repos["manifest"], remote=repos["url"])
    monkeypatch.undo()
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert len(written) == 4 and all(out.joinpath(d).read_bytes() == repos["expected"][d] for d in written)
    assert not list(out.rglob(".*"))

    result = build(out, repos["manifest"], remote=repos["url"])
    assert set(result.present) == written and len(result.written) == 9 and result.fetched_blobs == 8
    _assert_built(out, repos["expected"])

    # a SIGKILL leaves a temporary file and a scratch repository; a file deleted, another one changed
    (out / MODELS / ".m1.off.tmp-999999999").write_bytes(b"half")
    (out / ".bwot-fetch-999999999" / "x").mkdir(parents=True)
    (out / MODELS / "m1.off").unlink()
    (out / TRAIN / "ant" / "train" / "249.png").write_bytes(b"edited")
    result = build(out, repos["manifest"], remote=repos["url"])
    assert sorted(result.written) == [f"{MODELS}/m1.off", f"{TRAIN}/ant/train/249.png"]
    assert result.replaced == [f"{TRAIN}/ant/train/249.png"] and result.fetched_blobs == 2
    _assert_built(out, repos["expected"])

    result = build(out, repos["manifest"], remote="file:///nowhere/{repo}", fetch=False)  # no git at all
    assert (len(result.present), result.written) == (13, [])


def test_manifest_problems_are_all_named(tmp_path: Path):
    row = ["a/b.off", "o/n", "0" * 40, "p", "", "3", "0" * 64, ""]
    bad = [
        ["../x", *row[1:]],
        [row[0], "not a repo", "abc", *row[3:]],
        [*row[:5], "x", "0" * 63, "cla:other"],
        ["a", *row[1:]],  # a file where a.../ is a folder
    ]
    with pytest.raises(FetchError) as exc:
        read_manifest(_write_manifest(tmp_path / "m.tsv", [row, *bad]))
    text = str(exc.value)
    for part in ("'../x'", "'not a repo'", "'abc'", "bytes 'x'", "sha256 '000", "derive 'cla:other'"):
        assert part in text
    assert "'a' is both a file and a folder" in text
    (tmp_path / "h.tsv").write_text("dest\tsource\n")
    with pytest.raises(FetchError, match="not a manifest"):
        read_manifest(tmp_path / "h.tsv")


def test_data_is_a_command(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        main(["data", "--help"])
    text = capsys.readouterr().out
    assert "real13-dev" in text and "--from PATH" in text and "--manifest" not in text


def test_a_clone_without_the_blobs_is_named(repos: dict, tmp_path: Path):
    """A local partial clone that lacks the blobs (no lazy fetch from a local source): each file named."""
    clone = tmp_path / "partial" / "MR-Shape-Database"
    remote = f"file://{repos['remotes'] / MESHES_REPO}"
    _git(tmp_path, "clone", "-q", "--filter=blob:none", "--no-checkout", remote, str(clone))
    out = tmp_path / "out"
    with pytest.raises(FetchError) as exc:
        build(out, repos["manifest"], sources=[clone.parent, repos["remotes"]], fetch=False)
    assert len(exc.value.problems) == 3
    assert all(f"{MESHES_REPO}@" in p and f"is not in {clone}" in p for p in exc.value.problems)
    assert not (out / MODELS).exists() and len(list(out.rglob("*.png"))) == 7
