"""Every shell command of the docs runs as printed in a fresh clone after `make run` (issue #24).

Where commands are read (DOC_PAGES: README.md, docs/*.md, config/README.md, profiles/README.md,
bench/README.md):
- fenced blocks marked ```sh, ```bash, ```shell, ```zsh or ```console (in ```console only the `$ ` lines:
  the rest is output), and bare ``` blocks whose lines look like commands (the first word is a program of
  PROGRAMS or a `.venv/bin/` path). ```text, ```yaml, ```python, ... never count: a synopsis with
  placeholders (`bwot query SKETCH [SKETCH ...]`) is ```text;
- a table cell that is nothing but a code span holding a whole command: a program followed by an option
  (`-...`), or `make <target>` (config/README.md's "run" column).
A line ending in `\\` goes on with the next; `# ...` comments and a leading `$ ` are dropped; `&&`, `||`,
`;` and `|` separate commands; leading `NAME=value` words are the command's environment.

The convention: the programs of the project's virtualenv (made by `make run` / `make test`) are written
out, `.venv/bin/snakemake`, `.venv/bin/bwot`, `.venv/bin/python`, `.venv/bin/pytest`, so that a command
works copied alone; other programs (OTHER_PROGRAMS: make, git, cd, sbatch, ...) are written bare.

What is checked (`static_problems`, fast, and the `slow` tests):
- every command: the convention; every relative path it names as an input (not the value of an output
  option, OUTPUT_OPTIONS) exists in the repository (a glob must match), or is a file written out on the
  same page (a ```yaml block whose first line is `# NAME.yaml: ...`). Paths under results/ and resources/
  are what `make run` makes: `test_run_products_exist` globs them in this checkout's finished run, and is
  skipped without one. Absolute paths and paths outside the repository (`/data/SHREC13`,
  `../shared/data/...`) are the user's data: not required;
- snakemake: `--cores`/`-c`/`--jobs`/`-j`, or a `--profile` whose config.yaml sets `cores` or `jobs`; every
  `--configfile` and `--profile` exists; (slow) a dry run of the command as printed with `-n` added, in a
  copy of the workflow (tests/conftest.py's WORKFLOW_PARTS and profiles/), where a `data_dir` (on the
  command line or in a written-out config) that is not there becomes a tiny fake root in the config's
  layout (tests/test_datasets.py's `make_shrec`), and torchvision's cache holds empty ImageNet weights
  files, so preflight passes and the dry run checks config files, keys, rule and target names;
- bwot: the subcommand's own parser (the one `bwot` builds) accepts the arguments: the subcommand,
  options, choices and required arguments;
- make: a target of the Makefile;
- python: the script (or `-m` module) exists; (slow) `SCRIPT --help` succeeds and lists every option used;
- pytest: (slow) `--collect-only` of the arguments as printed selects at least one test.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import glob
import importlib
import importlib.util
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import REPO, WORKFLOW_PARTS

DOC_PAGES = ["README.md", "docs/*.md", "config/README.md", "profiles/README.md", "bench/README.md"]
SHELL_LANGS = {"sh", "bash", "shell", "zsh", "console"}
VENV_BIN = Path(sys.executable).parent  # the virtualenv the tests run in: .venv/bin after `make test`
VENV_PROGRAMS = {"snakemake", "bwot", "python", "python3", "pytest", "ruff", "snakefmt", "pip"}
OTHER_PROGRAMS = {
    "make", "git", "cd", "source", "export", "sbatch", "squeue", "scontrol", "bash", "sh", "nvidia-smi",
    "ls", "cat", "mkdir", "cp", "rm", "tar", "unzip", "curl", "wget", "apt-get", "docker",
}  # fmt: skip
PROGRAMS = VENV_PROGRAMS | OTHER_PROGRAMS
OUTPUT_OPTIONS = {"--out", "--png", "--report", "-o", "--output"}  # their values are written, not read
RUN_PRODUCTS = ("results/", "resources/")  # made by `make run`, absent from a fresh clone
OPERATORS = {"&&", "||", ";", "|", "&"}
ENV_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
PATH_LIKE = re.compile(r"/|\.[A-Za-z][A-Za-z0-9]{0,4}$")
FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<lang>[^\s`]*)")
TABLE_CELL = re.compile(r"`([^`|]+)`")  # a table cell that is one code span
WRITTEN_FILE = re.compile(r"^#\s*(?P<name>[\w.-]+\.ya?ml):")


@dataclass(frozen=True)
class Command:
    """One command of a page: where it starts, its environment words and its words (as a shell splits
    them, globs unexpanded)."""

    page: str
    line: int
    text: str
    env: tuple[tuple[str, str], ...]
    argv: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def program(self) -> str:
        """The program's name: `.venv/bin/bwot` -> bwot."""
        return Path(self.argv[0]).name if self.argv[0].startswith(".venv/bin/") else self.argv[0]


@dataclass
class Page:
    """The commands of one page and the files it writes out (```yaml blocks headed `# NAME.yaml:`)."""

    commands: list[Command] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ reading


def _words(text: str) -> list[str]:
    """The words of a shell line: quotes removed, `# ...` dropped, operators as words of their own."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def _looks_like_command(line: str) -> bool:
    words = line.removeprefix("$ ").split()
    while words and ENV_WORD.match(words[0]):
        words = words[1:]
    return bool(words) and (words[0] in PROGRAMS or words[0].startswith((".venv/", "./")))


def split_commands(text: str, page: str, line: int) -> list[Command]:
    """The commands of one logical line (continuations joined): split at operators, env words apart."""
    commands = []
    current: list[str] = []
    for word in [*_words(text), ";"]:
        if word not in OPERATORS:
            current.append(word)
            continue
        env = []
        while current and ENV_WORD.match(current[0]):
            name, value = current.pop(0).split("=", 1)
            env.append((name, value))
        if current:
            commands.append(Command(page, line, text, tuple(env), tuple(current)))
        current = []
    return commands


def _logical_lines(lines: list[tuple[int, str]], console: bool) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each command line of a block: `\\` continuations joined, prompts off."""
    start, parts = 0, []
    for number, raw in lines:
        text = raw.rstrip()
        if not parts:
            if console and not text.lstrip().startswith("$ "):
                continue  # output
            text = text.lstrip().removeprefix("$ ")
            start = number
        if text.endswith("\\"):
            parts.append(text[:-1])
            continue
        parts.append(text)
        yield start, " ".join(parts)
        parts = []
    if parts:
        yield start, " ".join(parts)


def read_page(text: str, page: str) -> Page:
    """The commands of a Markdown page (see the module docstring for which blocks and spans count)."""
    result = Page()
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            if lines[i].lstrip().startswith("|"):
                for cell in lines[i].strip().strip("|").split("|"):
                    span = TABLE_CELL.fullmatch(cell.strip())
                    words = span[1].split() if span else []
                    if (
                        span
                        and _looks_like_command(span[1])
                        and (any(w.startswith("-") for w in words[1:]) or words[0] == "make")
                    ):
                        result.commands += split_commands(span[1], page, i + 1)
            i += 1
            continue
        fence, lang = opened["fence"], opened["lang"].lower()
        body: list[tuple[int, str]] = []
        i += 1
        while i < len(lines) and not re.match(rf"^ {{0,3}}{fence[0]}{{{len(fence)},}}\s*$", lines[i]):
            body.append((i + 1, lines[i]))
            i += 1
        i += 1  # the closing fence
        if lang in ("yaml", "yml") and body and (name := WRITTEN_FILE.match(body[0][1])):
            result.files[name["name"]] = "\n".join(text for _, text in body) + "\n"
        shell = lang in SHELL_LANGS or (lang == "" and any(_looks_like_command(t) for _, t in body))
        if shell:
            for number, logical in _logical_lines(body, console=lang == "console"):
                result.commands += split_commands(logical, page, number)
    return result


def doc_pages(repo: Path = REPO) -> dict[str, Page]:
    """Every page of DOC_PAGES, by its path relative to `repo`."""
    paths = sorted({p for pattern in DOC_PAGES for p in repo.glob(pattern)})
    return {str(p.relative_to(repo)): read_page(p.read_text(), str(p.relative_to(repo))) for p in paths}


# ----------------------------------------------------------------------------------------- static checks


def _option_values(args: Iterable[str], *names: str) -> list[str]:
    """The values of options `names` in `args` (`--opt v1 v2` up to the next option, or `--opt=v`)."""
    values, taking = [], False
    for word in args:
        if word.startswith("-"):
            key, eq, value = word.partition("=")
            taking = key in names and not eq
            if key in names and eq:
                values.append(value)
        elif taking:
            values.append(word)
    return values


def _exists(path: str, repo: Path, page: Page) -> bool:
    if path in page.files:
        return True
    if glob.has_magic(path):
        return bool(glob.glob(path, root_dir=repo))
    return (repo / path).exists()


def input_paths(cmd: Command) -> list[str]:
    """The relative paths a command reads (env values included; values of OUTPUT_OPTIONS, python's `-c`
    code and `key=value` words left out); for snakemake only its --configfile, --profile and --snakefile."""
    if cmd.program == "snakemake":
        return _option_values(cmd.argv[1:], "--configfile", "--configfiles", "--profile", "--snakefile", "-s")
    paths, skip = [value for _, value in cmd.env], False
    for word in cmd.argv[1:]:
        if skip:
            skip = False
            continue
        if word.startswith("-"):
            key, eq, value = word.partition("=")
            skip = not eq and (key in OUTPUT_OPTIONS or (key == "-c" and cmd.program.startswith("python")))
            if eq and key not in OUTPUT_OPTIONS:
                paths.append(value)
            continue
        if "=" not in word:
            paths.append(word)
    return [p for p in paths if PATH_LIKE.search(p) and not p.startswith(("/", "~", "..", "http"))]


def _snakemake_problems(cmd: Command, repo: Path, page: Page) -> list[str]:
    args = cmd.argv[1:]
    problems = []
    profiles = _option_values(args, "--profile")
    profile_sets_cores = False
    for profile in profiles:
        config = repo / profile / "config.yaml"
        if not config.is_file():
            problems.append(f"--profile {profile}: no {profile}/config.yaml")
        else:
            profile_sets_cores |= bool({"cores", "jobs"} & set(yaml.safe_load(config.read_text()) or {}))
    has_cores = any(w.split("=")[0] in ("--cores", "-c", "--jobs", "-j") or re.fullmatch(r"-[cj]\d+", w)
                    for w in args)  # fmt: skip
    if not has_cores and not profile_sets_cores:
        problems.append("snakemake needs --cores N (or a --profile that sets cores): add --cores")
    for value in _option_values(args, "--config"):
        if "=" not in value:
            problems.append(f"--config {value}: not KEY=VALUE")
    return problems


def _bwot_problem(args: list[str]) -> str | None:
    """What `bwot` would say about `args` before running anything (its parsers), or None."""
    from bwot.cli import COMMANDS

    if not args or args[0] not in COMMANDS:
        return f"`bwot {' '.join(args[:1])}`: not a bwot command (one of {', '.join(COMMANDS)})"
    name = args[0]
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"bwot {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)  # as bwot.cli.main builds it
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(args[1:])
    except SystemExit as stop:
        if stop.code:
            return err.getvalue().strip().splitlines()[-1]
    return None


def _make_targets(repo: Path) -> set[str]:
    text = (repo / "Makefile").read_text()
    targets = set()
    for match in re.finditer(r"^([\w.-]+(?:[ \t]+[\w.-]+)*)[ \t]*:(?!=)", text, re.MULTILINE):
        targets.update(t for t in match[1].split() if not t.startswith("."))
    return targets


def _run_name(mapping: dict) -> str:
    from bwot.config import Config

    return Config.from_mapping(mapping).run_name


def run_names(repo: Path, page: Page) -> set[str]:
    """The results folders the configs of config/ and those written out on `page` make."""
    texts = [p.read_text() for p in sorted((repo / "config").glob("*.yaml"))] + list(page.files.values())
    return {_run_name(yaml.safe_load(text) or {}) for text in texts}


def default_run(repo: Path = REPO) -> str:
    """The run of `make run` (config/config.yaml)."""
    return _run_name(yaml.safe_load((repo / "config/config.yaml").read_text()) or {})


def static_problems(cmd: Command, page: Page, repo: Path = REPO) -> list[str]:
    """Every problem of `cmd` found without running it, each as '<page>:<line>: <problem>'."""
    problems = []
    first = cmd.argv[0]
    if first.startswith(".venv/bin/"):
        if cmd.program not in VENV_PROGRAMS or not (VENV_BIN / cmd.program).exists():
            problems.append(f"{first}: not a program of the virtualenv")
    elif first in VENV_PROGRAMS:
        problems.append(f"bare `{first}`: write `.venv/bin/{first}` (the virtualenv of make run/make test)")
    elif first not in OTHER_PROGRAMS:
        problems.append(f"`{first}`: not a program the convention knows (.venv/bin/..., make, git, ...)")
    args = list(cmd.argv[1:])
    if cmd.program == "snakemake":
        problems += _snakemake_problems(cmd, repo, page)
    elif cmd.program == "bwot" and (problem := _bwot_problem(args)):
        problems.append(problem)
    elif cmd.program == "make":
        targets = _make_targets(repo)
        problems += [f"make {t}: not a Makefile target" for t in args if "=" not in t and t not in targets]
    elif cmd.program in ("python", "python3") and args[:1] == ["-m"] and len(args) > 1:
        if importlib.util.find_spec(args[1]) is None:
            problems.append(f"python -m {args[1]}: no such module")
    for path in input_paths(cmd):
        if path.startswith("results/") and (run := path.split("/")[1]) not in run_names(repo, page):
            problems.append(f"{path}: no config of config/ (or of this page) makes a run named {run!r}")
        elif not path.startswith(RUN_PRODUCTS) and not _exists(path, repo, page):
            problems.append(f"{path}: no such file in the repository")
    return [f"{cmd.where}: {p}   [{cmd.text.strip()}]" for p in problems]


# ------------------------------------------------------------------------------------------------- tests

PAGES = doc_pages()
COMMANDS = [(cmd, page) for page in PAGES.values() for cmd in page.commands]


def _unique(program: str) -> dict[tuple[str, ...], list[Command]]:
    """The commands of `program`, once per distinct environment and words, with every place they are."""
    found: dict[tuple[str, ...], list[Command]] = {}
    for cmd, _ in COMMANDS:
        if cmd.program == program:
            found.setdefault(tuple(f"{k}={v}" for k, v in cmd.env) + cmd.argv, []).append(cmd)
    return found


BAD_PAGE = """\
# A rotten page

```sh
snakemake --cores 2                                   # bare
.venv/bin/snakemake --configfile config/test-tiny.yaml
.venv/bin/snakemake --cores 2 --configfile config/nope.yaml
.venv/bin/bwot query results/builtin/a.png --run results/builtin \\
    --frobnicate                                      # unknown option
.venv/bin/bwot frob
make nosuchtarget
.venv/bin/python bench/nope/run.py
```

```text
bwot query SKETCH --run results/<name>                # a synopsis: not checked
```

| file | run |
|---|---|
| x | `snakemake --configfile config/config.yaml` |

```console
$ .venv/bin/bwot config config/nope.yaml --check
config/nope.yaml: no such file
```
"""


def test_checker_reports_rotten_commands() -> None:
    """Each kind of rot is reported with its page and line; the good parts pass."""
    page = read_page(BAD_PAGE, "bad.md")
    assert [(c.line, c.program) for c in page.commands] == [
        (4, "snakemake"), (5, "snakemake"), (6, "snakemake"), (7, "bwot"), (9, "bwot"), (10, "make"),
        (11, "python"), (20, "snakemake"), (23, "bwot"),
    ]  # fmt: skip
    assert page.commands[3].argv[-1] == "--frobnicate"  # continuation joined, comment dropped
    problems = [p for cmd in page.commands for p in static_problems(cmd, page)]
    expected = [
        "bad.md:4: bare `snakemake`",
        "bad.md:5: snakemake needs --cores",
        "bad.md:6: config/nope.yaml: no such file",
        "bad.md:7: bwot query: error: unrecognized arguments: --frobnicate",
        "bad.md:9: `bwot frob`: not a bwot command",
        "bad.md:10: make nosuchtarget: not a Makefile target",
        "bad.md:11: bench/nope/run.py: no such file",
        "bad.md:20: bare `snakemake`",
        "bad.md:20: snakemake needs --cores",
        "bad.md:23: config/nope.yaml: no such file",
    ]
    assert [p[: len(e)] for p, e in zip(problems, expected, strict=True)] == expected, problems


def test_extraction_details() -> None:
    """Prompts, env words, operators, `--opt=value`, written-out files and bare fences."""
    text = (
        "```yaml\n# mine.yaml: a config\ndataset: builtin\n```\n\n"
        "```\nA=1 B=config/config.yaml .venv/bin/pytest tests/test_docs_commands.py"
        " && make test; cd /tmp\n```\n\n"
        "```\nmodels/<class>/*.off    (a layout, not commands)\n```\n\n"
        "```bash\n$ .venv/bin/snakemake --cores=2 --configfile=mine.yaml -n   # plan\n```\n"
    )
    page = read_page(text, "p.md")
    assert page.files == {"mine.yaml": "# mine.yaml: a config\ndataset: builtin\n"}
    assert [(c.line, c.env, c.argv) for c in page.commands] == [
        (7, (("A", "1"), ("B", "config/config.yaml")), (".venv/bin/pytest", "tests/test_docs_commands.py")),
        (7, (), ("make", "test")),
        (7, (), ("cd", "/tmp")),
        (15, (), (".venv/bin/snakemake", "--cores=2", "--configfile=mine.yaml", "-n")),
    ]
    assert all(not static_problems(c, page) for c in page.commands)
    assert input_paths(page.commands[0]) == ["config/config.yaml", "tests/test_docs_commands.py"]
    code = read_page("```sh\n.venv/bin/python -c 'print(1/2)' bench/x.py --out a/b.json\n```\n", "p.md")
    assert input_paths(code.commands[0]) == ["bench/x.py"]


def test_docs_have_commands() -> None:
    """The extractor finds the docs' commands (a guard against a format change that finds none)."""
    kinds = {program: len(_unique(program)) for program in ("snakemake", "bwot", "make", "python")}
    assert all(kinds.values()), kinds
    assert len(COMMANDS) >= 40, len(COMMANDS)


def test_commands_follow_the_convention_and_name_real_things() -> None:
    """Every command of the docs: the convention, real options, targets, config files and paths."""
    problems = [p for cmd, page in COMMANDS for p in static_problems(cmd, page)]
    assert not problems, "\n".join(problems)


def test_run_products_exist() -> None:
    """The paths of `make run`'s results (results/<its name>/) and built-in benchmark (resources/builtin/)
    the commands read are there in this checkout's finished run (skipped without one). The results of
    other configs' runs are not checked here (static_problems checks that a config makes them)."""
    run = default_run()
    if not (REPO / "results" / run / "report" / "metrics.md").is_file():
        pytest.skip(f"no finished `make run` in this checkout (results/{run}/report/metrics.md)")
    products = (f"results/{run}/", "resources/builtin/")
    missing = [
        f"{cmd.where}: {path}: not made by `make run`"
        for cmd, page in COMMANDS
        for path in input_paths(cmd)
        if (path + "/").startswith(products) and not _exists(path, REPO, page)
    ]
    assert not missing, "\n".join(missing)


# ------------------------------------------------------------------------------- slow: commands that run


@pytest.fixture(scope="module")
def docs_workflow(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A copy of the workflow and profiles/, fake SHREC roots and an ImageNet cache of empty files."""
    from test_datasets import make_shrec

    from bwot.datasets.layouts import SHREC13, SHREC14
    from bwot.features.layers import WEIGHT_FILES

    work = tmp_path_factory.mktemp("docs-workflow")
    for part in [*WORKFLOW_PARTS, "profiles"]:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, work / part)
        else:
            (work / part).write_bytes(src.read_bytes())
    data = tmp_path_factory.mktemp("docs-data")
    models, train, test = {"chair": ["1", "2"], "table": ["3"]}, {"chair": ["4"]}, {"table": ["5"]}
    roots = {}
    for dataset, spec in (("shrec13", SHREC13), ("shrec14", SHREC14)):
        make_shrec(data / dataset, spec, models, train, test)  # empty files: the dry run reads none
        roots[dataset] = data / dataset
    for part in ("models/chair/1.off", "sketches/chair/train/2.png", "sketches/chair/test/3.png"):
        (data / "folder" / part).parent.mkdir(parents=True, exist_ok=True)
        (data / "folder" / part).touch()
    roots["folder"] = data / "folder"
    checkpoints = data / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    for name in WEIGHT_FILES.values():
        (checkpoints / name).touch()
    return {"dir": work, "roots": roots, "env": {**os.environ, "TORCH_HOME": str(data / "torch")}}


def _data_dir(value: str, dataset: str, roots: dict[str, Path]) -> str:
    """A data_dir that is there (resolved against the repository), else the fake root of `dataset`."""
    path = REPO / value if not os.path.isabs(value) else Path(value)
    return str(path.resolve()) if path.is_dir() or dataset not in roots else str(roots[dataset])


def dry_run(cmd: Command, page: Page, work: dict) -> str | None:
    """Run a snakemake command as printed with -n added, in the workflow copy; its error, or None."""
    workdir, roots = work["dir"], work["roots"]
    args = list(cmd.argv[1:])
    configs = _option_values(args, "--configfile", "--configfiles") or ["config/config.yaml"]
    merged: dict = {}
    for name in configs:
        text = page.files.get(name) or (REPO / name).read_text()
        loaded = yaml.safe_load(text) or {}
        if name in page.files:  # written out on the page: write it into the copy, its data_dir made real
            if loaded.get("data_dir"):
                loaded["data_dir"] = _data_dir(loaded["data_dir"], loaded.get("dataset", "builtin"), roots)
            (workdir / name).write_text(yaml.safe_dump(loaded, sort_keys=False))
        merged.update(loaded)
    overrides = dict(v.split("=", 1) for v in _option_values(args, "--config") if "=" in v)
    dataset = overrides.get("dataset", merged.get("dataset", "builtin"))
    args = [
        f"data_dir={_data_dir(a.split('=', 1)[1], dataset, roots)}" if a.startswith("data_dir=") else a
        for a in args
    ]
    if not {"-n", "--dry-run", "--dryrun"} & set(args):
        args.append("-n")
    env = {**work["env"], **dict(cmd.env)}
    proc = subprocess.run(
        [str(VENV_BIN / "snakemake"), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        return f"dry run failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return None


SNAKEMAKE_RUNS = _unique("snakemake")


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv", list(SNAKEMAKE_RUNS), ids=[cmds[0].where for cmds in SNAKEMAKE_RUNS.values()]
)
def test_snakemake_commands_dry_run(argv: tuple[str, ...], docs_workflow: dict) -> None:
    """Every distinct snakemake command of the docs plans its jobs (a dry run of it as printed)."""
    cmd = SNAKEMAKE_RUNS[argv][0]
    error = dry_run(cmd, PAGES[cmd.page], docs_workflow)
    assert error is None, f"{', '.join(c.where for c in SNAKEMAKE_RUNS[argv])}: {cmd.text.strip()}\n{error}"


@pytest.mark.slow
def test_dry_run_reports_a_rotten_command(docs_workflow: dict) -> None:
    """A rule that does not exist fails the dry run."""
    page = read_page("```sh\n.venv/bin/snakemake --cores 2 --until no_such_rule\n```\n", "bad.md")
    error = dry_run(page.commands[0], page, docs_workflow)
    assert error is not None and "no_such_rule" in error


@functools.cache
def _script_help(script: str) -> tuple[int, str]:
    """The exit status and output of `python SCRIPT --help` (once per script: some import torch)."""
    proc = subprocess.run(
        [sys.executable, script, "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    return proc.returncode, proc.stdout if proc.returncode == 0 else proc.stderr


SCRIPT_RUNS = {
    argv: cmds for argv, cmds in _unique("python").items() if len(argv) > 1 and argv[1].endswith(".py")
}


@pytest.mark.slow
@pytest.mark.parametrize("argv", list(SCRIPT_RUNS), ids=[cmds[0].where for cmds in SCRIPT_RUNS.values()])
def test_python_scripts_take_their_options(argv: tuple[str, ...]) -> None:
    """Every `.venv/bin/python SCRIPT --option ...` of the docs: SCRIPT --help lists each option."""
    code, usage = _script_help(argv[1])
    assert code == 0, usage
    options = {w.split("=")[0] for w in argv[2:] if w.startswith("-")}
    missing = {o for o in options if not re.search(rf"(^|[\s,\[]){re.escape(o)}\b", usage, re.M)}
    assert not missing, f"{SCRIPT_RUNS[argv][0].where}: {argv[1]} has no {sorted(missing)}"


PYTEST_RUNS = _unique("pytest")


@pytest.mark.slow
@pytest.mark.parametrize("argv", list(PYTEST_RUNS), ids=[cmds[0].where for cmds in PYTEST_RUNS.values()])
def test_pytest_commands_select_tests(argv: tuple[str, ...]) -> None:
    """Every `.venv/bin/pytest ...` of the docs selects at least one test."""
    cmd = PYTEST_RUNS[argv][0]
    proc = subprocess.run(
        [str(VENV_BIN / "pytest"), *cmd.argv[1:], "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        env={**os.environ, **dict(cmd.env)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{cmd.where}: {cmd.text.strip()}\n{proc.stdout[-2000:]}{proc.stderr}"
