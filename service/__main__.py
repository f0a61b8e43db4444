"""Command line: ``python -m service serve`` runs the API; ``python -m service openapi`` prints its contract;
``init``, ``diagnose`` and ``schemes`` (service.cli) write files, print diagnostics and the catalogue.

Start-up stays quick for the commands that generate nothing (``--help``, ``schemes``): each
subcommand's arguments are added when that subcommand is parsed (cli.Parser), and pydantic (the
settings) is imported only when an ``INITW_*`` setting is set or ``serve`` reads the defaults."""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from . import cli

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["main"]


def _missing() -> str | None:
    """The first of the server extra's packages that settings need and is not installed (looked
    for, not imported: importing pydantic takes a while, and --help or schemes need none of it)."""
    for name in ("pydantic", "pydantic_settings"):
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except ImportError:
            return name
    return None


if (missing := _missing()) is not None:  # a plain install is the Python client only
    sys.exit(f"python -m service needs the server extra ({missing} is missing): pip install 'initw[server]'")


def _settings() -> Settings:
    """The INITW_* settings; an invalid one ends the program with one line naming it (exit 2)."""
    from pydantic import ValidationError

    from .settings import Settings

    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"INITW_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors(include_url=False)
        )
        print(f"python -m service: invalid setting: {problems}", file=sys.stderr)
        sys.exit(2)


CLI_VARIABLES = frozenset({"INITW_URL"})  # read by the CLI, not a setting


def _settings_set(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment sets an INITW_* setting (names are read case-insensitively). Without
    one the settings are their defaults, which are valid: nothing to check before the command runs."""
    return any(k.upper().startswith("INITW_") and k.upper() not in CLI_VARIABLES for k in environ)


def main(argv: list[str] | None = None) -> int:
    loaded: list[Settings] = []

    def settings() -> Settings:
        if not loaded:
            loaded.append(_settings())
        return loaded[0]

    if _settings_set():
        settings()  # an invalid setting ends every command, --help included, as one line

    def serve_arguments(serve: argparse.ArgumentParser) -> None:
        defaults = settings()
        serve.add_argument(
            "--host", default=defaults.host, help=f"address to listen on (INITW_HOST, default {defaults.host})"
        )
        serve.add_argument(
            "--port", type=int, default=defaults.port, help=f"TCP port (INITW_PORT, default {defaults.port})"
        )
        serve.add_argument("--workers", type=int, default=defaults.workers, help="worker processes (INITW_WORKERS)")

    parser = argparse.ArgumentParser(
        prog="python -m service", description="initw: seeded, reproducible initial weights"
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=cli.Parser)
    commands.add_parser("serve", help="run the HTTP API with uvicorn", build=serve_arguments)
    commands.add_parser("openapi", help="print the OpenAPI document (the contract in openapi.json)")
    cli.register(commands)
    args = parser.parse_args(argv)
    if args.command in cli.COMMANDS:
        return cli.run(args)
    if args.command == "openapi":
        from .app import app
        from .openapi import text

        sys.stdout.write(text(app))
        return 0
    import uvicorn

    # uvicorn drains on SIGTERM (stops listening, lets in-flight responses finish for at most
    # INITW_GRACE_SECONDS), then raises the signal again under the handler found at start: with
    # the default one the process would die "killed by SIGTERM" (status 143) after a clean stop.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    uvicorn.run(
        "service.app:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        timeout_graceful_shutdown=settings().grace_seconds,  # type: ignore[arg-type]  # a float works: wait_for
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
