"""Command line: ``python -m service serve`` runs the API; ``python -m service openapi`` prints its contract;
``init``, ``diagnose`` and ``schemes`` (service.cli) write files, print diagnostics and the catalogue."""

from __future__ import annotations

import argparse
import signal
import sys

from . import cli

__all__ = ["main"]

try:
    from .settings import Settings
except ModuleNotFoundError as missing:  # a plain install is the Python client only
    sys.exit(f"python -m service needs the server extra ({missing.name} is missing): pip install 'initw[server]'")


def _settings() -> Settings:
    """The INITW_* settings; an invalid one ends the program with one line naming it (exit 2)."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"INITW_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors(include_url=False)
        )
        print(f"python -m service: invalid setting: {problems}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    settings = _settings()
    parser = argparse.ArgumentParser(
        prog="python -m service", description="initw: seeded, reproducible initial weights"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API with uvicorn")
    serve.add_argument(
        "--host", default=settings.host, help=f"address to listen on (INITW_HOST, default {settings.host})"
    )
    serve.add_argument(
        "--port", type=int, default=settings.port, help=f"TCP port (INITW_PORT, default {settings.port})"
    )
    serve.add_argument("--workers", type=int, default=settings.workers, help="worker processes (INITW_WORKERS)")
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
        timeout_graceful_shutdown=settings.grace_seconds,  # type: ignore[arg-type]  # a float works: wait_for
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
