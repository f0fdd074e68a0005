"""Rebuild a dataset byte for byte from public git repositories, as a manifest shipped here describes it.

A manifest (`<name>.tsv` beside this module, e.g. `real13-dev.tsv`) has one row per file, tab-separated:

    dest_path  source_repo  source_commit  source_path  source_git_blob  bytes  sha256  derive

`dest_path` is the file's place under the output folder; `source_repo` (`owner/name` on GitHub),
`source_commit` (40 hex digits) and `source_path` where it comes from; `source_git_blob` the git blob id
of `source_path` at that commit (may be empty); `bytes` and `sha256` the size and hash of the file
written. `derive` is empty for a copy (the blob's bytes as they are) or says how the file is made from
its source:

    cla:model  cla:train  cla:test   the source .cla filtered to the ids of the manifest's target models,
                                     training or test sketches in the SHREC'13 layout (`filter_cla`)

`real13-dev.tsv` is the development set's PROVENANCE.tsv made exact: each of its 195 test sketches at its
place in the test folder (the last 15 ids of a class in the official training .cla), and its three .cla
files derived from the official ones (docs/datasets.md, "Building it").

Repositories are read from local clones (`sources`) or fetched from `remote` at the pinned commit with
no history and no blob that is not needed (a shallow, blob-less fetch, then the needed blobs in one
request). Every file is checked before it is written (size, sha256 and its source's git blob id),
written under a temporary name in its folder and renamed when complete: a killed run leaves only
complete, verified files, and a rerun skips them. Every file that fails is named, all at once.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
import shlex
import shutil
import stat
import subprocess
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bwot.datasets.cla import is_plain_name
from bwot.datasets.errors import DatasetError
from bwot.datasets.layouts import SHREC13
from bwot.io import atomic_path

COLUMNS = (
    "dest_path",
    "source_repo",
    "source_commit",
    "source_path",
    "source_git_blob",
    "bytes",
    "sha256",
    "derive",
)
DERIVES = ("", "cla:model", "cla:train", "cla:test")
GITHUB = "https://github.com/{repo}.git"
CACHE_PREFIX = ".bwot-fetch-"  # a fetch's scratch git repositories under the output folder, removed after
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_HEX40 = re.compile(r"[0-9a-f]{40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shipped:
    """A dataset that `bwot data` can build: its manifest and the pipeline command that runs on it."""

    name: str
    manifest: Path
    configfile: str  # relative to the repository root

    def pipeline_command(self, out: str | Path) -> str:
        """The command that runs the whole pipeline on the folder `out` (from the repository root)."""
        return (
            f".venv/bin/snakemake --cores 2 --configfile {self.configfile} "
            f"--config data_dir={shlex.quote(str(Path(out).resolve()))}"
        )


DATASETS: dict[str, Shipped] = {
    "real13-dev": Shipped(
        "real13-dev", Path(__file__).with_name("real13-dev.tsv"), "config/shrec13-cpu.yaml"
    ),
}


class FetchError(DatasetError):
    """A dataset that could not be built: a bad manifest, an unreachable repository or files that differ."""


@dataclass(frozen=True)
class Entry:
    """One manifest row: a file of the dataset and where it comes from."""

    dest: str
    repo: str
    commit: str
    path: str
    blob: str
    size: int
    sha256: str
    derive: str = ""

    @property
    def source(self) -> str:
        """Repository, commit and path, as errors name them."""
        return f"{self.repo}@{self.commit}:{self.path}"


@dataclass
class BuildResult:
    """What a build did: files written (`replaced`: those that were there but differed), files already
    there and correct, and blobs fetched from remotes."""

    out: Path
    written: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    fetched_blobs: int = 0

    @property
    def total(self) -> int:
        """Every file of the dataset that is now in `out`."""
        return len(self.written) + len(self.present)


# ------------------------------------------------------------------------------------------- the manifest


def read_manifest(path: str | Path) -> list[Entry]:
    """Read and check a manifest; every bad row is named at once (FetchError)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    except (OSError, UnicodeDecodeError) as exc:
        raise FetchError(f"{path}: cannot read the manifest ({exc})") from exc
    if not rows or tuple(rows[0]) != COLUMNS:
        raise FetchError(f"{path}: not a manifest (the header must be: {' '.join(COLUMNS)})")
    entries: list[Entry] = []
    problems: list[str] = []
    seen: set[str] = set()
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(COLUMNS):
            problems.append(f"line {n}: {len(row)} fields, expected {len(COLUMNS)}")
            continue
        dest, repo, commit, src, blob, size, sha, derive = row
        bad = _row_problems(dest, repo, commit, src, blob, size, sha, derive)
        if dest in seen:
            bad.append(f"{dest!r} appears twice")
        seen.add(dest)
        if bad:
            problems += [f"line {n}: {b}" for b in bad]
            continue
        entries.append(Entry(dest, repo, commit, src, blob, int(size), sha, derive))
    dirs = {p.as_posix() for e in entries for p in Path(e.dest).parents}
    problems += [f"{e.dest!r} is both a file and a folder" for e in entries if e.dest in dirs]
    if problems:
        raise FetchError(f"{path}: {len(problems)} problem(s) in the manifest", problems)
    return entries


def _row_problems(
    dest: str, repo: str, commit: str, src: str, blob: str, size: str, sha: str, derive: str
) -> list[str]:
    bad = []
    parts = dest.split("/")
    if not dest or not all(is_plain_name(p) and not p.startswith(".") for p in parts):
        bad.append(f"dest_path {dest!r} is not a relative path of plain names")
    if not _REPO.fullmatch(repo):
        bad.append(f"source_repo {repo!r} is not owner/name")
    if not _HEX40.fullmatch(commit):
        bad.append(f"source_commit {commit!r} is not 40 hex digits")
    if not src or src.startswith("/") or "\0" in src:
        bad.append(f"source_path {src!r} is not a path in a repository")
    if blob and not _HEX40.fullmatch(blob):
        bad.append(f"source_git_blob {blob!r} is not 40 hex digits")
    if not size.isdigit():
        bad.append(f"bytes {size!r} is not a size")
    if not _HEX64.fullmatch(sha):
        bad.append(f"sha256 {sha!r} is not 64 hex digits")
    if derive not in DERIVES:
        bad.append(f"derive {derive!r} is not one of {', '.join(repr(d) for d in DERIVES)}")
    return bad


def layout_ids(entries: Iterable[Entry], which: str) -> set[str]:
    """The ids of the manifest's files of one kind in the SHREC'13 layout: 'model' (the target models
    `SHREC13_SBR_TARGET_MODELS/models/m<id>.off`), 'train' or 'test' (`<sketch folder>/<class>/<split>/
    <id>.png`)."""
    ids: set[str] = set()
    if which == "model":
        prefix, suffix = SHREC13.model_name("\0").split("\0")
        base = SHREC13.models_dir + "/"
        for e in entries:
            name = e.dest[len(base) :] if e.dest.startswith(base) else "/"
            if "/" not in name and name.startswith(prefix) and name.endswith(suffix):
                ids.add(name[len(prefix) : len(name) - len(suffix)])
        return ids
    base = SHREC13.sketch_dirs[which] + "/"
    for e in entries:
        parts = e.dest[len(base) :].split("/") if e.dest.startswith(base) else []
        if len(parts) == 3 and parts[1] == which and parts[2].endswith(".png"):
            ids.add(parts[2][: -len(".png")])
    return ids


def filter_cla(data: bytes, keep: Collection[str]) -> bytes:
    """A PSB .cla file (`data`, as distributed) restricted to the ids in `keep`.

    The rule that turns the official SHREC'13 files into the development set's (it reproduces all three
    byte for byte): classes and ids stay in the official order and a class left with no id is dropped;
    every line is written again with single spaces and no trailing whitespace (`PSB 1`,
    `<classes> <ids>`, then per class a blank line, `<name> <parent> <count>` and its ids, one a line);
    the line endings are the official file's (CRLF or LF), and the file ends with a blank line.
    Raises ValueError for a file that is not a PSB .cla file.
    """
    eol = "\r\n" if b"\r\n" in data else "\n"
    lines = [line.split() for line in data.decode("utf-8-sig").splitlines()]
    lines = [tokens for tokens in lines if tokens]
    if len(lines) < 2 or lines[0] != ["PSB", "1"] or len(lines[1]) != 2:
        raise ValueError("not a PSB .cla file (it must start with 'PSB 1' and '<classes> <ids>')")
    classes: dict[str, tuple[str, list[str]]] = {}
    current: list[str] | None = None
    for tokens in lines[2:]:
        if len(tokens) == 3 and tokens[2].isdigit():
            current = classes.setdefault(tokens[0], (tokens[1], []))[1]
        elif len(tokens) == 1 and current is not None:
            current.append(tokens[0])
        else:
            raise ValueError(f"not a PSB .cla line: {' '.join(tokens)!r}")
    kept = {name: (parent, [i for i in ids if i in keep]) for name, (parent, ids) in classes.items()}
    kept = {name: value for name, value in kept.items() if value[1]}
    total = sum(len(ids) for _, ids in kept.values())
    out = [f"PSB 1{eol}{len(kept)} {total}{eol}"]
    for name, (parent, ids) in kept.items():
        out.append(f"{eol}{name} {parent} {len(ids)}{eol}" + "".join(f"{i}{eol}" for i in ids))
    out.append(eol)
    return "".join(out).encode()


# ------------------------------------------------------------------------------------------ git sources


def _git_env() -> dict[str, str]:
    # no prompt for credentials (a missing repository would ask for them), no lazy fetch of a blob that a
    # partial clone lacks (the fetch of what is needed is explicit), messages in English
    return os.environ | {"GIT_TERMINAL_PROMPT": "0", "GIT_NO_LAZY_FETCH": "1", "LC_ALL": "C"}


def _git(where: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-C", str(where), *args], input=stdin, capture_output=True, env=_git_env(), check=False
    )


def _stderr(proc: subprocess.CompletedProcess[bytes]) -> str:
    lines = [line for line in proc.stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"git exited with {proc.returncode}"


def _is_repo(path: Path) -> bool:
    """A clone (`.git` inside) or a bare repository at `path` itself (not a folder inside one)."""
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def _has_commit(path: Path, commit: str) -> bool:
    return _git(path, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0


@dataclass
class Source:
    """One repository at one commit, read with git: a local clone or a scratch repository it was fetched
    into (`url` set)."""

    repo: str
    commit: str
    git_dir: Path
    url: str | None = None

    def tree(self) -> dict[str, tuple[str, str]]:
        """path -> (object type, object id) of every file in the commit (blobs need not be there)."""
        proc = _git(self.git_dir, "ls-tree", "-r", "-z", "--full-tree", self.commit)
        if proc.returncode:
            raise FetchError(f"{self.repo}@{self.commit}: cannot list the commit ({_stderr(proc)})")
        files = {}
        for record in proc.stdout.decode("utf-8", errors="surrogateescape").split("\0"):
            if record:
                meta, path = record.split("\t", 1)
                _, kind, oid = meta.split()
                files[path] = (kind, oid)
        return files

    def missing(self, oids: Collection[str]) -> list[str]:
        """The objects of `oids` that are not in the repository (a blob-less fetch has none yet; a
        scratch repository is small, so all its objects are listed)."""
        proc = _git(self.git_dir, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)")
        present = set(proc.stdout.decode().split())
        return [o for o in oids if o not in present]

    def fetch_blobs(self, oids: Sequence[str]) -> None:
        """Fetch the blobs `oids` from the remote in one request (as git's own partial clone does)."""
        if not oids or self.url is None:
            return
        proc = _git(
            self.git_dir,
            *("-c", "fetch.negotiationAlgorithm=noop", "fetch", "origin", "--no-tags"),
            *("--no-write-fetch-head", "--recurse-submodules=no", "--filter=blob:none", "--stdin"),
            stdin="".join(f"{o}\n" for o in oids).encode(),
        )
        if proc.returncode:
            raise FetchError(
                f"{self.repo}@{self.commit}: cannot fetch {len(oids)} file(s) from {self.url} "
                f"({_stderr(proc)})"
            )

    def blobs(self, oids: Iterable[str]) -> Iterator[tuple[str, bytes | None]]:
        """(oid, content, or None when the repository lacks it) of each blob, read by `git cat-file
        --batch`, one object at a time (no pipe fills up while the other waits)."""
        proc = None
        try:
            for oid in oids:
                if proc is None:
                    proc = self._cat_file()
                stdin, stdout = proc.stdin, proc.stdout
                assert stdin is not None and stdout is not None
                try:
                    stdin.write(f"{oid}\n".encode())
                    stdin.flush()
                    header = stdout.readline().split()
                except BrokenPipeError:
                    header = []
                if len(header) != 3:  # "<oid> missing", or git stopped at an object a partial clone lacks
                    if not header:
                        _close(proc)
                        proc = None
                    yield oid, None
                    continue
                data = stdout.read(int(header[2]))
                stdout.read(1)  # the newline after the content
                yield oid, data
        finally:
            if proc is not None:
                _close(proc)

    def _cat_file(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["git", "-C", str(self.git_dir), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_git_env(),
        )


def _close(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        try:
            if pipe is not None:
                pipe.close()
        except BrokenPipeError:
            pass
    proc.wait(timeout=60)


def find_local(repo: str, commit: str, paths: Sequence[Path]) -> tuple[Path | None, list[Path]]:
    """The first local repository among `paths` that holds `commit` of `repo`, and the clones of `repo`
    found without it.

    Each path is a repository (a clone or a bare one, used for every repository whose commit it holds)
    or a folder of clones named like the repository: `<path>/<name>`, `<path>/<name>.git`,
    `<path>/<owner>/<name>` or `<path>/<owner>/<name>.git`.
    """
    owner, name = repo.split("/")
    stale: list[Path] = []
    for path in paths:
        candidates = (
            [path]
            if _is_repo(path)
            else [path / name, path / f"{name}.git", path / owner / name, path / owner / f"{name}.git"]
        )
        for candidate in candidates:
            if not _is_repo(candidate):
                continue
            if _has_commit(candidate, commit):
                return candidate, stale
            if candidate != path:  # named like the repository, at another commit
                stale.append(candidate)
    return None, stale


def fetch_source(repo: str, commit: str, url: str, scratch: Path) -> Source:
    """A scratch bare repository in `scratch` holding `commit` of `url` with its trees and no blobs (a
    server without partial clone sends them all, which works too)."""
    git_dir = scratch / repo.replace("/", "__")
    git_dir.mkdir(parents=True, exist_ok=True)
    steps = [
        ("init", "--bare", "-q"),
        ("remote", "add", "origin", url),
        ("fetch", "--depth", "1", "--no-tags", "--filter=blob:none", "origin", commit),
    ]
    for args in steps:
        proc = _git(git_dir, *args)
        if proc.returncode:
            raise FetchError(f"{repo}@{commit}: cannot fetch it from {url} ({_stderr(proc)})")
    return Source(repo, commit, git_dir, url)


# ------------------------------------------------------------------------------------------------ build


def build(
    out: str | Path,
    manifest: str | Path,
    sources: Sequence[str | Path] = (),
    remote: str = GITHUB,
    fetch: bool = True,
) -> BuildResult:
    """Build the dataset of `manifest` in `out`: files already there and correct are kept, the others
    read from the local repositories `sources` (see `find_local`) or fetched from `remote` (a URL with
    `{repo}` for owner/name), checked and written atomically.

    Raises FetchError naming every file that could not be written (with its repository, commit and
    path, and what differs) after writing all the others.
    """
    out = Path(out)
    entries = read_manifest(manifest)
    froms = [Path(p) for p in sources]
    bad_froms = [f"--from {p}: not a folder" for p in froms if not p.is_dir()]
    if bad_froms:
        raise FetchError(f"{len(bad_froms)} bad source path(s)", bad_froms)
    if out.exists() and not out.is_dir():
        raise FetchError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out, entries)

    result = BuildResult(out)
    todo: list[Entry] = []
    problems: list[str] = []
    for e in entries:
        state = _state(out / e.dest, e)
        if state == "ok":
            result.present.append(e.dest)
        elif state == "folder":
            problems.append(f"{e.dest}: a folder is in the way")
        else:
            todo.append(e)
            if state == "differs":
                result.replaced.append(e.dest)
    if result.present:
        log.info("%d of %d files already there and correct", len(result.present), len(entries))

    groups: dict[tuple[str, str], list[Entry]] = {}
    for e in todo:
        groups.setdefault((e.repo, e.commit), []).append(e)
    scratch = out / f"{CACHE_PREFIX}{os.getpid()}"
    try:
        for (repo, commit), group in sorted(groups.items()):
            try:
                source = _open_source(repo, commit, froms, remote, fetch, scratch)
                problems += _copy_group(source, group, entries, out, result)
            except FetchError as exc:
                problems.append(f"{exc} ({len(group)} file(s) not written)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.replaced = [d for d in result.replaced if d in set(result.written)]
    if problems:
        log.info("%d files written, %d already there", len(result.written), len(result.present))
        raise FetchError(
            f"{out}: {len(problems)} file(s) or source(s) refused (every other file is written and "
            "checked; a rerun keeps them)",
            problems,
        )
    return result


def _state(path: Path, e: Entry) -> str:
    """'ok' (there, right size and sha256), 'missing', 'differs' or 'folder'."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return "missing"
    if stat.S_ISDIR(st.st_mode):
        return "folder"
    if not stat.S_ISREG(st.st_mode) or st.st_size != e.size:  # a link or a special file is replaced
        return "differs"
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return "ok" if digest.hexdigest() == e.sha256 else "differs"


def _open_source(
    repo: str, commit: str, froms: Sequence[Path], remote: str, fetch: bool, scratch: Path
) -> Source:
    if shutil.which("git") is None:
        raise FetchError(f"{repo}@{commit}: git is needed to read the repository and is not on PATH")
    local, stale = find_local(repo, commit, froms)
    if local is not None:
        log.info("%s@%s: reading %s", repo, commit[:8], local)
        return Source(repo, commit, local)
    without = f"; clones without that commit: {', '.join(map(str, stale))}" if stale else ""
    if not fetch:
        looked = ", ".join(map(str, froms)) or "no --from given"
        raise FetchError(f"{repo}@{commit}: in no local repository (looked in: {looked}){without}")
    url = remote.replace("{repo}", repo)
    if stale:
        log.warning(
            "%s@%s: %s hold another commit; fetching it", repo, commit[:8], ", ".join(map(str, stale))
        )
    log.info("%s@%s: fetching from %s", repo, commit[:8], url)
    return fetch_source(repo, commit, url, scratch)


def _copy_group(
    source: Source, group: list[Entry], entries: list[Entry], out: Path, result: BuildResult
) -> list[str]:
    """Write the files of `group` (one repository at one commit), one blob at a time; return the
    problems."""
    problems: list[str] = []
    tree = source.tree()
    by_blob: dict[str, list[Entry]] = {}  # blob id at the source path -> the files made from it
    for e in group:
        kind, oid = tree.get(e.path, ("", ""))
        if kind != "blob":
            problems.append(f"{e.dest}: {e.source}: {'not a file' if kind else 'no such file'} in the commit")
        else:
            by_blob.setdefault(oid, []).append(e)
    if source.url is not None and (missing := source.missing(by_blob)):
        log.info("%s@%s: fetching %d file(s)", source.repo, source.commit[:8], len(missing))
        source.fetch_blobs(missing)
        result.fetched_blobs += len(missing)
    for oid, data in source.blobs(by_blob):
        for e in by_blob[oid]:
            problem = _write_checked(e, oid, data, entries, out, source.git_dir)
            if problem:
                problems.append(problem)
            else:
                result.written.append(e.dest)
    return problems


def _write_checked(
    e: Entry, oid: str, data: bytes | None, entries: list[Entry], out: Path, where: Path
) -> str | None:
    """Check the file that `e` makes of blob `oid` (content `data`) and write it; or say what is wrong."""
    if data is None:
        return f"{e.dest}: {e.source}: git blob {oid} is not in {where}"
    differs = _blob_differs(e, data, oid)
    if not differs:
        try:
            data = _derive(e, data, entries)
        except ValueError as exc:
            differs = [f"cannot derive it ({exc})"]
    if not differs and (len(data) != e.size or hashlib.sha256(data).hexdigest() != e.sha256):
        differs = [
            f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}; "
            f"the manifest expects {e.size} bytes, sha256 {e.sha256}"
        ]
    if differs:
        what = f"{e.derive} of " if e.derive else ""
        return f"{e.dest}: {what}{e.source}: " + "; ".join(differs)
    with atomic_path(out / e.dest) as tmp:
        tmp.write_bytes(data)
    return None


def _blob_differs(e: Entry, data: bytes, oid: str) -> list[str]:
    """What is wrong with a source blob: its id against the manifest's and its content against its id."""
    actual = git_blob_id(data)
    if actual != oid:
        return [f"the object store holds {actual} under blob id {oid} (a corrupt repository)"]
    if not e.blob or oid == e.blob:
        return []
    if e.derive:  # the file is made from this source: its content is checked after
        return [f"git blob {oid}; the manifest expects git blob {e.blob}"]
    found = f"git blob {oid}, {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}"
    return [f"{found}; the manifest expects git blob {e.blob}, {e.size} bytes, sha256 {e.sha256}"]


def _derive(e: Entry, data: bytes, entries: list[Entry]) -> bytes:
    if not e.derive:
        return data
    which = e.derive.split(":", 1)[1]  # cla:model / cla:train / cla:test
    return filter_cla(data, layout_ids(entries, which))


def git_blob_id(data: bytes) -> str:
    """The git (SHA-1) blob id of `data`, as `git hash-object` gives it."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _remove_leftovers(out: Path, entries: list[Entry]) -> None:
    """Remove what a killed run left: temporary files beside the manifest's files (bwot.io.atomic_path
    names them `.<name>.tmp-<pid>`) and scratch repositories, unless their process still runs."""
    for folder, names in _names_by_folder(entries).items():
        if not (out / folder).is_dir():
            continue
        for tmp in (out / folder).glob(".*.tmp-*"):
            name, _, pid = tmp.name[1:].rpartition(".tmp-")
            if name in names and not _running(pid):
                log.info("removing %s (left by a killed run)", tmp)
                tmp.unlink(missing_ok=True)
    for scratch in out.glob(f"{CACHE_PREFIX}*"):
        if not _running(scratch.name[len(CACHE_PREFIX) :]):
            shutil.rmtree(scratch, ignore_errors=True)


def _names_by_folder(entries: Iterable[Entry]) -> dict[str, set[str]]:
    folders: dict[str, set[str]] = {}
    for e in entries:
        folder, _, name = e.dest.rpartition("/")
        folders.setdefault(folder or ".", set()).add(name)
    return folders


def _running(pid: str) -> bool:
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return int(pid) != os.getpid()
