"""Every code block of the README and docs/ runs as shown (tests/docs/examples.py says how a block
is read): the quick tests check that each block is of a kind that runs or says why not and names
what it needs; the slow ones run each page's blocks in order against a server started with the
README's own command, in a virtual environment holding exactly the documented install."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e import servers

from . import examples
from .examples import ROOT, Block, Command, commands, documents, fenced_blocks, indented_blocks, matches

PAGES = documents()
BLOCKS = [block for page in PAGES for block in fenced_blocks(page)]
CI_COMMAND = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1].strip()
SERVE = "python -m service serve"
BLOCK_SECONDS = 1800.0  # a hang guard per block (the schemathesis run takes ~5 min), loaded machines included


def _id(page: Path) -> str:
    return str(page.relative_to(ROOT))


# ----------------------------------------------------------------------------- quick: how the pages are written


def test_the_pages_have_examples_to_run() -> None:
    assert len(PAGES) >= 10
    assert sum(block.language in examples.RUN for block in BLOCKS) >= 30


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.where)
def test_every_block_says_what_it_is(block: Block) -> None:
    assert block.language in examples.LANGUAGES, f"{block.where}: ```{block.language}: use one of {examples.LANGUAGES}"
    if block.language == "console":
        assert commands(block), f"{block.where}: a console block without a command"
    if block.language == "json":
        import json

        json.loads(block.text)
    if block.language == "text":
        hidden = [line for line in block.text.splitlines() if examples.COMMAND.match(line)]
        assert not hidden, f"{block.where}: a text block holds commands nobody runs: {hidden}"


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_no_command_hides_in_an_indented_block(page: Path) -> None:
    """Indented blocks are formulas and layouts; every command sits in a fenced block that runs."""
    for line, text in indented_blocks(page):
        hidden = [row for row in text.splitlines() if examples.COMMAND.match(row)]
        assert not hidden, f"{_id(page)}:{line}: an indented block holds commands: {hidden}"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.language in examples.RUN], ids=lambda b: b.where)
def test_what_an_example_needs_is_named_beside_it(block: Block) -> None:
    extras = block.needs or next(
        (tuple(m.group(1).split(",")) for c in _commands(block) if (m := examples.PIP_INSTALL.match(c.text))), ()
    )
    for extra in extras:
        examples._requirements((extra,))  # the extra exists in pyproject.toml
    if block.needs:
        assert all(f'.[{extra}]"' in block.before or f".[{extra}]`" in block.before for extra in block.needs), (
            f'{block.where} needs {block.needs}: say so just before it (pip install -e ".[{block.needs[0]}]")'
        )


def _commands(block: Block) -> list[Command]:
    return commands(block) if block.language == "console" else []


def test_the_readme_runs_the_server_and_the_tests_with_two_commands() -> None:
    readme = [b for b in BLOCKS if b.path.name == "README.md" and b.language == "console"]
    lines = [c.text for b in readme for c in commands(b)]
    assert f'python -m pip install -e ".[server]" && {SERVE}' in lines
    assert CI_COMMAND in lines  # .ci/run runs it (tests/test_container_files.py checks the same line)


@pytest.mark.parametrize(
    ("expected", "actual", "verdict"),
    [
        ("200", "200\n", True),
        ("200", "2000", False),
        ('{"a": 1, ...}', '{"a":1,"b":2}', True),
        ('{"a": 1, ...}', '{"b":2,"a":1}', False),
        ("x ... y ... z", "x 1 y 2 z", True),
        ("x ... y ... z", "x 1 z 2 y", False),
        ("a...a", "a", False),  # the pieces may not overlap
        ("0.998...,", "0.99812,", True),
        ("", "", True),
        ("", "something\n", False),
        ("...", "anything at all", True),
    ],
)
def test_output_is_compared_whitespace_aside_with_ellipses(expected: str, actual: str, verdict: bool) -> None:
    assert matches(expected, actual) is verdict


def test_console_blocks_split_into_commands_and_their_output() -> None:
    text = "$ curl -s a \\\n    -d b\nline one\nline two\n$ cat > f.json <<'EOF'\n{}\nEOF\n$ true\n"
    block = Block(ROOT / "README.md", 10, "console", (), text, "")
    found = commands(block)
    assert [c.text for c in found] == ["curl -s a \\\n    -d b", "cat > f.json <<'EOF'\n{}\nEOF", "true"]
    assert [c.expected for c in found] == ["line one\nline two", "", ""]
    assert [c.line for c in found] == [11, 15, 18]
    with pytest.raises(ValueError, match="output before any command"):
        commands(Block(ROOT / "README.md", 1, "console", (), "output\n$ true\n", ""))


def test_the_documented_install_is_resolved_from_pyproject_and_metadata() -> None:
    server = examples.closure(("server",))
    assert {"numpy", "httpx", "fastapi", "uvicorn", "pydantic", "starlette", "pydantic-core"} <= set(server)
    assert not {"safetensors", "torch", "pytest", "scipy"} & set(server)  # the test extra's, not the reader's
    assert {"safetensors"} <= set(examples.closure(("examples",)))
    with pytest.raises(KeyError, match="no extra"):
        examples.closure(("no-such-extra",))


# ----------------------------------------------------------------------------- slow: run them


@pytest.fixture(scope="session")
def environments(tmp_path_factory: pytest.TempPathFactory):
    """Example environments by extras, built once per test process."""
    built: dict[tuple[str, ...], Path] = {}

    def get(extras: tuple[str, ...]) -> Path:
        key = tuple(sorted(set(extras) | {"server"}))
        if key not in built:
            built[key] = examples.build_environment(tmp_path_factory.mktemp("venv-" + "-".join(key)), key).parent
        return built[key]

    return get


RUNNABLE = [p for p in PAGES if any(b.language in examples.RUN for b in fenced_blocks(p))]


@pytest.mark.slow
@pytest.mark.parametrize("page", RUNNABLE, ids=_id)
def test_every_example_runs_as_shown(page: Path, environments, tmp_path: Path) -> None:
    cwd = examples.workspace(tmp_path / "checkout")
    server_env = examples.example_env(environments(("server",)))
    port = servers.free_port()
    log = tmp_path / "server.stderr"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            ["bash", "-c", SERVE],  # the README's command, in the README's install
            cwd=cwd,
            env={**server_env, "INITW_HOST": "127.0.0.1", "INITW_PORT": str(port)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    server = servers.Server(page.name, proc, f"http://127.0.0.1:{port}", log)
    try:
        servers.wait_ready(server)
        problems = _run_page(page, cwd, f"127.0.0.1:{port}", environments)
    finally:
        servers.stop(server)
    assert not problems, "\n\n".join(f"{p.where}: {p.problem}" for p in problems)


def _run_page(page: Path, cwd: Path, address: str, environments) -> list[examples.Outcome]:
    problems: list[examples.Outcome] = []
    for block in fenced_blocks(page):
        if block.language not in examples.RUN:
            continue
        text = examples.to_server(block.text, address)
        runnable = Block(block.path, block.line, block.language, block.needs, text, block.before)
        if block.language == "console":
            found, extras = [], block.needs
            for command in commands(runnable):
                if command.text == CI_COMMAND:
                    continue  # .ci/run is this line: CI runs it
                install = examples.PIP_INSTALL.match(command.text)
                if install:  # the install is the environment this block runs in
                    extras = tuple(install.group(1).split(","))
                    if install.group(2) == SERVE:
                        continue  # the server this test started with this very command
                    if install.group(2):
                        command = Command(command.line, install.group(2), command.expected)
                    else:
                        continue
                found.append(command)
            if found:
                env = examples.example_env(environments(extras))
                problems += examples.run_console(runnable, found, cwd, env, BLOCK_SECONDS)
        elif block.language == "python":
            env = examples.example_env(environments(block.needs))
            problems += examples.run_script(runnable, ["python"], ".py", cwd, env, BLOCK_SECONDS)
        elif block.language == "js":
            env = examples.example_env(environments(block.needs))
            problems += examples.run_script(runnable, ["node"], ".mjs", cwd, env, BLOCK_SECONDS)
    return problems
