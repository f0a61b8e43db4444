"""Every code block of the README and of docs/, read the way a reader reads it and run as shown.

A fenced block's info string says what it is:

- ``console``: ``$ `` lines are commands (a line ending in ``\\`` or inside quotes continues on the
  next; a heredoc runs to its terminator), the lines after one up to the next ``$`` are its output, compared with
  the real output (stdout and stderr, as a terminal shows them) whitespace aside, ``...`` standing
  for anything. No lines after a command: it must print nothing. Every command must exit 0.
- ``python``, ``js``: a script, run with the example environment's python / with node; exit 0.
  What it claims, it asserts.
- ``json``: data (a body, an answer): it must parse.
- ``text``: formulas, pseudo-code, layouts: not code, never run, and it must not hold a command.

``needs=EXTRA[,EXTRA]`` in the info string (or a ``python -m pip install -e ".[EXTRA]"`` line in a
console block, which selects instead of installing) names the optional install an example needs;
the prose just before the block names it too (tests/docs/test_examples.py checks both).

The examples run in a virtual environment that holds exactly the documented install: the project's
requirements for those extras, and what they require in turn, resolved from pyproject.toml and the
installed distributions' metadata and linked from the test environment (nothing is downloaded or
installed), so an import the documented install lacks fails here as it would for a reader. URLs
naming the reader's server (``localhost:8000``, ``127.0.0.1:8000``) are pointed at the server the
test starts with the README's own command.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "initw"
LANGUAGES = {"console", "python", "js", "json", "text"}
RUN = {"console", "python", "js"}
PROMPT = "$ "
PIP_INSTALL = re.compile(r'^python -m pip install -e "\.\[([a-z0-9_,-]+)\]"(?: && (.*))?$')
SERVER_ADDRESSES = ("localhost:8000", "127.0.0.1:8000")
# Lines that read as commands: a text block or an indented block holding one would be an example
# nobody runs.
COMMAND = re.compile(r"^\s*(\$ |curl |python3? -m |python3? -c |node |pip |sha256sum )")


def documents() -> list[Path]:
    """The pages whose code blocks are run: the README, docs/ and the JavaScript client's README."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "clients" / "js" / "README.md"]


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    needs: tuple[str, ...]
    text: str
    before: str  # the page's introduction and the block's section up to it: where a reader looks for what it needs

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, in order."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = re.match(r"^(\s*)(```+)\s*(\S*)\s*(.*)$", lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, language, rest = opening.groups()
        needs = tuple(n for n in re.findall(r"needs=([a-z0-9_,-]+)", rest)[0].split(",")) if "needs=" in rest else ()
        end = i + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        body = "\n".join(line.removeprefix(indent) for line in lines[i + 1 : end])
        before = "\n".join(_intro(lines) + lines[_section_start(lines, i) : i])
        blocks.append(Block(path, i + 1, language, needs, body + "\n", before))
        i = end + 1
    return blocks


def _section_start(lines: list[str], i: int) -> int:
    """The line of the heading of the section holding line i."""
    return next((j for j in range(i, -1, -1) if lines[j].startswith("#")), 0)


def _intro(lines: list[str]) -> list[str]:
    """A page's text before its first section: what it says about every example on it."""
    return lines[: next((j for j, line in enumerate(lines) if line.startswith("## ")), 0)]


def indented_blocks(path: Path) -> list[tuple[int, str]]:
    """Indented code blocks outside fences (a blank line, then lines indented 4 spaces or more)."""
    lines = path.read_text().splitlines()
    found: list[tuple[int, str]] = []
    in_fence, i = False, 0
    while i < len(lines):
        if lines[i].lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence and lines[i].startswith("    ") and i > 0 and not lines[i - 1].strip():
            start = i
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                i += 1
            found.append((start + 1, "\n".join(lines[start:i])))
            continue
        i += 1
    return found


@dataclass(frozen=True)
class Command:
    line: int
    text: str
    expected: str  # the output shown, "" when none is


def commands(block: Block) -> list[Command]:
    """A console block's commands with the output shown after each."""
    lines = block.text.splitlines()
    found: list[Command] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith(PROMPT):
            raise ValueError(f"{block.where}: line {i + 1} of the block is output before any command: {lines[i]!r}")
        start = i
        command = [lines[i][len(PROMPT) :]]
        while (command[-1].endswith("\\") or not _complete("\n".join(command))) and i + 1 < len(lines):
            i += 1
            command.append(lines[i])
        heredoc = re.search(r"<<-?\s*'?([A-Z_]+)'?", command[0])
        if heredoc:
            while i + 1 < len(lines) and lines[i].strip() != heredoc.group(1):
                i += 1
                command.append(lines[i])
        i += 1
        output: list[str] = []
        while i < len(lines) and not lines[i].startswith(PROMPT):
            output.append(lines[i])
            i += 1
        found.append(Command(block.line + 1 + start, "\n".join(command), "\n".join(output)))
    return found


def _complete(command: str) -> bool:
    """Whether a command's quotes are closed (a quoted argument may span lines, as in a shell)."""
    try:
        shlex.split(command.split("<<")[0], comments=True)
    except ValueError:
        return False
    return True


# ----------------------------------------------------------------------------- comparing


def matches(expected: str, actual: str) -> bool:
    """``actual`` is what ``expected`` shows: equal once whitespace is removed from both, each
    ``...`` standing for any text (empty included). Linear: the pieces are found left to right."""
    pieces = ["".join(piece.split()) for piece in expected.split("...")]
    text = "".join(actual.split())
    if len(pieces) == 1:
        return text == pieces[0]
    if not (text.startswith(pieces[0]) and text.endswith(pieces[-1])):
        return False
    position, end = len(pieces[0]), len(text) - len(pieces[-1])
    for piece in pieces[1:-1]:
        found = text.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return position <= end


def to_server(text: str, address: str) -> str:
    for name in SERVER_ADDRESSES:
        text = text.replace(name, address)
    return text


# ----------------------------------------------------------------------------- the documented install


def _requirements(extras: tuple[str, ...]) -> list[Requirement]:
    """The project's requirements with these extras, from pyproject.toml (the source: the
    installed metadata of an editable install may be older), its self-references expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional: dict[str, list[str]] = project["optional-dependencies"]
    wanted, seen, found = list(extras), set(), [Requirement(r) for r in project["dependencies"]]
    while wanted:
        extra = wanted.pop()
        if extra in seen:
            continue
        if extra not in optional:
            raise KeyError(f"pyproject.toml has no extra {extra!r}")
        seen.add(extra)
        for line in optional[extra]:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == PROJECT:
                wanted.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


def closure(extras: tuple[str, ...]) -> dict[str, metadata.Distribution]:
    """Every distribution the documented install of these extras brings, by normalized name."""
    environment = {key: str(value) for key, value in default_environment().items()}
    found: dict[str, metadata.Distribution] = {}
    pending = [(r, "") for r in _requirements(extras)]
    done: set[tuple[str, str]] = set()
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({**environment, "extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        for wanted in ("", *sorted(requirement.extras)):
            if (name, wanted) in done:
                continue
            done.add((name, wanted))
            try:
                distribution = found.get(name) or metadata.distribution(requirement.name)
            except metadata.PackageNotFoundError as error:
                raise RuntimeError(f"{requirement} is required by the documented install but not installed") from error
            found[name] = distribution
            pending.extend((Requirement(r), wanted) for r in distribution.requires or [])
    return found


def build_environment(directory: Path, extras: tuple[str, ...]) -> Path:
    """A virtual environment in ``directory`` holding exactly what ``pip install -e ".[extras]"``
    installs, linked from this environment; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True)
    python = directory / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    if site == Path(sysconfig.get_path("purelib")):
        raise RuntimeError("the example environment must not be the test environment")
    for distribution in closure(extras).values():
        base = Path(str(distribution.locate_file("")))
        for top in sorted({Path(str(f)).parts[0] for f in distribution.files or [] if not str(f).startswith("..")}):
            source = base / top
            if top.endswith(".pth") or top == "__pycache__" or not source.exists() or (site / top).exists():
                continue
            (site / top).symlink_to(source)
        for entry in distribution.entry_points.select(group="console_scripts"):
            module, _, attribute = entry.value.partition(":")
            script = directory / "bin" / entry.name
            call = f"{module}.{attribute}" if attribute else module
            script.write_text(f"#!{python}\nimport sys, {module}\nsys.exit({call}())\n")
            script.chmod(0o755)
    # the project itself, editable as the README installs it: its source tree (with the kernels
    # the install compiled in place) on the path
    (site / f"__editable__.{PROJECT}.pth").write_text(f"{ROOT}\n")
    return python


def example_env(bin_dir: Path) -> dict[str, str]:
    """The environment variables of a reader's shell whose ``python`` is the example environment's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("INITW_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(bin_dir.parent)
    return env


# ----------------------------------------------------------------------------- running


@dataclass
class Outcome:
    where: str
    problem: str


def run_console(
    block: Block, commands_: list[Command], cwd: Path, env: dict[str, str], timeout: float
) -> list[Outcome]:
    """The block's commands in one bash, in order (background jobs are stopped at its end)."""
    script = ["set -u"]
    for index, command in enumerate(commands_):
        script += [command.text, f'echo "@@initw-example {index} $?@@"']
    script.append("kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; true")
    status, output = _run(["bash", "-c", "\n".join(script)], cwd, env, timeout)
    if status is None:
        return [Outcome(block.where, f"still running after {timeout:.0f} s (stopped); output:\n{output[-3000:]}")]
    parts = re.split(r"@@initw-example (\d+) (\d+)@@\n?", output)
    problems: list[Outcome] = []
    seen: dict[int, tuple[int, str]] = {}
    for i in range(1, len(parts) - 1, 3):
        seen[int(parts[i])] = (int(parts[i + 1]), parts[i - 1])
    for index, command in enumerate(commands_):
        where = f"{block.path.relative_to(ROOT)}:{command.line}"
        if index not in seen:
            problems.append(Outcome(where, f"never ran (the block stopped); output:\n{output[-3000:]}"))
            break
        status, got = seen[index]
        if status != 0:
            problems.append(Outcome(where, f"{command.text!r} exited {status}; output:\n{got[-3000:]}"))
        elif not matches(command.expected, got):
            problems.append(Outcome(where, f"{command.text!r} printed\n{got[-3000:]}\ninstead of\n{command.expected}"))
    return problems


def run_script(
    block: Block, program: list[str], suffix: str, cwd: Path, env: dict[str, str], timeout: float
) -> list[Outcome]:
    path = cwd / f"example_{block.path.stem}_{block.line}{suffix}"
    path.write_text(block.text)
    status, output = _run([*program, str(path)], cwd, env, timeout)
    if status != 0:
        state = f"still running after {timeout:.0f} s (stopped)" if status is None else f"exited {status}"
        return [Outcome(block.where, f"{state}:\n{output[-4000:]}")]
    return []


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """Run in a session of its own, stdout and stderr together; past the timeout the whole session
    (servers an example started in the background included) is killed and the status is None."""
    with subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    ) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout)
            status: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            status = None
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # what the example left behind, too
            except ProcessLookupError:
                pass
        if status is None:
            out, _ = proc.communicate()
    return status, out.decode(errors="replace")


def workspace(directory: Path) -> Path:
    """A reader's checkout to run examples in: the repository's directories linked (read), its
    top-level files and docs/ copied, so what an example writes never lands in the repository."""
    directory.mkdir(parents=True, exist_ok=True)
    for entry in ROOT.iterdir():
        if entry.name.startswith(".") or entry.name in ("docs", "build") or entry.name.endswith(".egg-info"):
            continue
        if entry.is_dir():
            (directory / entry.name).symlink_to(entry)
        else:
            shutil.copy2(entry, directory / entry.name)
    shutil.copytree(ROOT / "docs", directory / "docs")
    return directory
