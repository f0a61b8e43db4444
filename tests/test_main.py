"""service.__main__: ``python -m service serve`` (its flags, defaults from INITW_*, a clean exit on
SIGTERM), ``openapi`` (the committed contract) and the CLI's commands, dispatched to service.cli.
uvicorn and the signal handler are replaced: nothing here listens or touches the process's signals."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import uvicorn

from service import __main__ as entry
from service import cli
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def served(monkeypatch):
    """What serve would do: uvicorn.run's arguments and the SIGTERM handler it installs."""
    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda target, **options: seen.update(target=target, **options))
    monkeypatch.setattr(signal, "signal", lambda signum, handler: seen.update(signals={signum: handler}))
    for key in ("INITW_HOST", "INITW_PORT", "INITW_WORKERS", "INITW_GRACE_SECONDS"):
        monkeypatch.delenv(key, raising=False)
    return seen


def test_serve_runs_the_app_with_the_given_flags(served):
    assert entry.main(["serve", "--host", "0.0.0.0", "--port", "9001", "--workers", "3"]) == 0
    assert served["target"] == "service.app:app"
    assert (served["host"], served["port"], served["workers"]) == ("0.0.0.0", 9001, 3)


def test_serve_defaults_come_from_the_environment(served, monkeypatch):
    monkeypatch.setenv("INITW_PORT", "8123")
    monkeypatch.setenv("INITW_WORKERS", "2")
    monkeypatch.setenv("INITW_GRACE_SECONDS", "4.5")
    assert entry.main(["serve"]) == 0
    assert (served["host"], served["port"], served["workers"]) == ("127.0.0.1", 8123, 2)
    assert served["timeout_graceful_shutdown"] == 4.5


def test_sigterm_after_the_drain_exits_with_status_0(served):
    entry.main(["serve"])
    handler = served["signals"][signal.SIGTERM]
    with pytest.raises(SystemExit) as exited:
        handler(signal.SIGTERM, None)
    assert exited.value.code == 0


@pytest.mark.parametrize("argv", [[], ["serve", "--port", "eighty"], ["serve", "--verbose"], ["launch"]])
def test_a_bad_command_line_is_a_usage_error(served, argv, capsys):
    with pytest.raises(SystemExit) as exited:
        entry.main(argv)
    assert exited.value.code == 2 and "usage: python -m service" in capsys.readouterr().err
    assert "target" not in served


def test_openapi_prints_the_committed_contract(capsys):
    assert entry.main(["openapi"]) == 0
    assert capsys.readouterr().out == (ROOT / "openapi.json").read_text()


@pytest.mark.parametrize("command", cli.COMMANDS)
def test_the_cli_commands_are_dispatched_to_the_cli(monkeypatch, command):
    ran = []
    monkeypatch.setattr(cli, "run", lambda args: ran.append(args.command) or 7)
    argv = {"init": ["init", "--shape", "4,4", "--scheme", "zeros", "-o", "w.safetensors"],
            "diagnose": ["diagnose", "--shape", "4,4", "--scheme", "zeros"],
            "schemes": ["schemes"], "presets": ["presets"]}[command]  # fmt: skip
    assert entry.main(argv) == 7 and ran == [command]


def test_help_lists_every_command():
    result = subprocess.run([sys.executable, "-m", "service", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0
    for command in ("serve", "openapi", *cli.COMMANDS):
        assert command in result.stdout


def test_an_invalid_setting_is_one_line_naming_the_variable_not_a_traceback(monkeypatch, capsys):
    monkeypatch.setenv("INITW_PORT", "abc")
    with pytest.raises(SystemExit) as ended:
        entry.main(["--help"])
    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m service: invalid setting: INITW_PORT:") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# Start-up: the commands that generate nothing import nothing they do not use (the server's
# packages, the request models, ml_dtypes, the engine). Checked by what is imported, not by timing,
# so that the verdict does not depend on the machine; the README gives the measured times.
HEAVY = {"fastapi", "starlette", "uvicorn", "pydantic", "pydantic_core", "pydantic_settings", "ml_dtypes", "scipy"}
UNUSED = {"service.engine", "service.spec", "service.settings", "service.app"}  # and their submodules


def _refused_url() -> str:
    """A local address where nothing listens (a port just released): the connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _imported(argv: list[str]) -> tuple[int, set[str]]:
    """The exit status of ``python -m service *argv`` in a new interpreter, and the modules it imported."""
    code = f"""
import json, sys
from service.__main__ import main
try:
    status = main({argv!r})
except SystemExit as end:
    status = end.code
print(json.dumps([status, sorted(sys.modules)]))
"""
    environ = {k: v for k, v in os.environ.items() if not k.upper().startswith("INITW_")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )
    status, modules = json.loads(done.stdout.strip().splitlines()[-1])
    return status, set(modules)


@pytest.mark.slow  # new interpreters
@pytest.mark.parametrize(
    ("argv", "status", "unused"),
    [
        (["--help"], 0, {"numpy", "httpx", "service.core", *UNUSED}),
        (["schemes", "he_normal"], 0, {"httpx", "service.client", *UNUSED}),
        (["schemes", "--dialect", "keras", "--url", "URL", "--retries", "0"], 3, UNUSED),
    ],
    ids=["help", "schemes", "schemes-url"],
)
def test_commands_that_generate_nothing_import_no_heavy_module(argv, status, unused):
    argv = [_refused_url() if arg == "URL" else arg for arg in argv]
    exited, modules = _imported(argv)
    assert exited == status
    tops = {name.split(".")[0] for name in modules}
    assert not tops & HEAVY, sorted(tops & HEAVY)
    assert not {m for m in modules for u in unused if m == u or m.startswith(u + ".")}


def test_a_set_setting_is_checked_before_any_command_and_an_unset_one_is_its_default(monkeypatch):
    """Settings (pydantic) are read at start only when an INITW_* setting is set: without one they
    are the defaults, which are valid. INITW_URL is the CLI's, not a setting, and is left to it."""
    assert "url" not in Settings.model_fields
    assert entry._settings_set({"INITW_PORT": "abc"}) and entry._settings_set({"initw_workers": "2"})
    assert not entry._settings_set({"INITW_URL": "http://initw.test", "HOME": "/root"})
    monkeypatch.setenv("INITW_URL", "not a URL")
    with pytest.raises(SystemExit) as ended:
        entry.main(["--help"])
    assert ended.value.code == 0
