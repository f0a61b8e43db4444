"""The command line beside ``serve``: ``init``, ``diagnose``, ``schemes`` and ``presets``.

    python -m service init --shape 4096,4096 --scheme xavier_uniform --seed 0 -o w.safetensors
    python -m service init --shape 64,3,3,3 --scheme kaiming_normal --param mode=fan_out -o conv.safetensors --local
    python -m service init --body net.json -o net.safetensors            # a full POST /init body ('-': stdin)
    python -m service init --body net.json --shard-size 5GB --out ckpt/  # Hugging Face's sharded layout
    python -m service init --body net.json --shard-size 5GB --out ckpt/ --shard 2   # one machine's shard
    python -m service diagnose --shape 512,512 --scheme orthogonal --local
    python -m service init --dialect jax --shape 64,8,32 --scheme he_normal --param in_axis=0 --param out_axis=1 ...
    python -m service schemes [NAME] [--dialect keras|jax|flax|torch|initw] [--url URL] [--json]
    python -m service schemes keras.HeNormal                               # one framework word
    python -m service presets [NAME] [--url URL] [--json]                  # {"model": {"preset": ...}}

``init`` and ``diagnose`` ask a server (``--url``, else ``$INITW_URL``, else http://127.0.0.1:8000)
through :mod:`service.client` (verified against Content-Length and Repr-Digest, retried, streamed to
disk), or with ``--local`` compute the same bytes in this process: the body is validated exactly as
the service validates it (``InitRequest``, ``to_request``, the element caps of ``Settings``), and
the file is streamed piece by piece (bounded memory) into a temporary file next to the target,
hashed as it is written, and renamed once whole. With ``--shard-size`` it writes a sharded
checkpoint into the ``--out`` directory (service.core.checkpoint): every shard and the index, or
``--shard K`` shards and/or ``--index`` only, the element cap applying to each shard. ``schemes``
reads the registry (the one the service serves) unless ``--url`` names a server; ``--dialect`` lists
a framework's words instead (GET /schemes?dialect=), and a qualified word (``keras.HeNormal``, or
``HeNormal`` with ``--dialect keras``) is described like a scheme. Scheme parameters (``--param
KEY=VALUE``) are typed by the scheme or the framework word they belong to (``--dialect jax --scheme
he_normal --param batch_axis=0,1``: axes are an integer or comma-separated integers). A request the
service would answer with ``Initw-Warning`` headers (an unqualified name that a keras/jax layout's
framework reads otherwise) prints each warning on stderr, from a server or ``--local`` alike, and
``--json`` lists them.

Exit status: 0 done; 1 a local failure (a file that cannot be written); 2 invalid input, with the
field paths and messages the service gives in its 422 problems (any 4xx from a server but 408 and
429 counts as this); 3 the server cannot be reached or failed (5xx, 408, 429, once retries are
spent); 4 a download that does not match its Content-Length or Repr-Digest; 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .atomic import replacing

if TYPE_CHECKING:
    from .client import Client, ClientError
    from .engine import Request as CoreRequest

__all__ = ["COMMANDS", "DEFAULT_URL", "CliError", "Parser", "ProgressBar", "register", "run"]

DEFAULT_URL = "http://127.0.0.1:8000"
EXIT_FAILED, EXIT_INVALID, EXIT_SERVER, EXIT_INTEGRITY, EXIT_INTERRUPTED = 1, 2, 3, 4, 130
COMMANDS = ("init", "diagnose", "schemes", "presets")
PROGRESS_DELAY = 0.5  # seconds: without --progress, a bar appears only for artifacts that take longer
PROGRESS_INTERVAL = 0.1  # seconds between redraws


@dataclass
class CliError(Exception):
    """A failure to report on stderr (one line, then one line per invalid field) and its exit status."""

    code: int
    message: str
    errors: list[dict[str, Any]] = field(default_factory=list)  # {"field", "message", "allowed"?}

    def __str__(self) -> str:
        return self.message


def _invalid(detail: str, errors: list[dict[str, Any]] | None = None) -> CliError:
    """Invalid input (exit 2); with field errors the headline is short and the fields follow."""
    return CliError(EXIT_INVALID, "invalid request" if errors else detail, errors or [])


def _field(path: str, message: str, allowed: str | None = None) -> dict[str, Any]:
    """One invalid field, as the service's problem ``errors[]`` names it."""
    error = {"field": path or "body", "message": message}
    if allowed is not None:
        error["allowed"] = allowed
    return error


# ----------------------------------------------------------------------------- arguments


class Parser(argparse.ArgumentParser):
    """A subcommand's parser whose arguments are added (by ``build``) when it is first parsed or its
    help is shown: the flags of ``init`` come from the request models (pydantic) and the registry,
    which a command that does not use them need not import (``--help``, ``schemes`` start quickly).
    The parser of ``python -m service``'s subcommands (``add_subparsers(parser_class=Parser)``)."""

    def __init__(self, *args: Any, build: Callable[[argparse.ArgumentParser], None] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._build = build

    def built(self) -> Parser:
        """This parser with its arguments (built once)."""
        if self._build is not None:
            build, self._build = self._build, None
            build(self)
        return self

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        return super(Parser, self.built()).parse_known_args(args, namespace)

    def format_usage(self) -> str:
        return super(Parser, self.built()).format_usage()

    def format_help(self) -> str:
        return super(Parser, self.built()).format_help()


def register(commands: argparse._SubParsersAction[Parser]) -> None:
    """Add ``init``, ``diagnose``, ``schemes`` and ``presets`` to the subcommands of ``python -m service``
    (made with ``parser_class=Parser``: each is built when it is used)."""
    commands.add_parser(
        "init",
        help="write a safetensors file of seeded initial weights (from a server, or --local)",
        description="Write the file POST /init serves for this request: from a server (verified, retried, "
        "streamed to disk) or computed in this process with --local. Same request, same bytes.",
        build=_init_arguments,
    )
    commands.add_parser(
        "diagnose",
        help="print the diagnostics JSON of a request (POST /diagnostics), from a server or --local",
        description="Print what POST /diagnostics answers for this request: per-tensor statistics against "
        "theory and verdicts, without the bytes.",
        build=_diagnose_arguments,
    )
    commands.add_parser(
        "schemes",
        help="list the schemes (names, aliases, parameters), or describe one",
        description="The scheme catalogue (GET /schemes), read from the registry; --url asks a server instead.",
        build=_schemes_arguments,
    )
    commands.add_parser(
        "presets",
        help="list the architecture presets (gpt2, mup_mlp_v2, ...), or describe one's fields",
        description="The presets a request's model may name (GET /presets), read from their models; --url asks "
        "a server instead.",
        build=_presets_arguments,
    )


def _init_arguments(init: argparse.ArgumentParser) -> None:
    _request_arguments(init)
    init.add_argument(
        "-o",
        "--output",
        "--out",
        required=True,
        metavar="PATH",
        help="the file to write (replaced when whole); with --shard-size, the directory (made if missing)",
    )
    sharded = init.add_argument_group(
        "a sharded checkpoint in Hugging Face's layout (model-0000K-of-0000N.safetensors, model.safetensors.index.json)"
    )
    sharded.add_argument(
        "--shard-size",
        metavar="SIZE",
        help="write a sharded checkpoint into the --out directory, shards of at most SIZE bytes of tensor data: "
        "5GB, 500MB (powers of 10, as huggingface_hub reads them), 2GiB, or bytes; a larger tensor gets its own shard",
    )
    sharded.add_argument(
        "--shard",
        type=int,
        action="append",
        metavar="K",
        help="write only shard K (from 1; repeatable), so N machines can each write theirs; "
        "every shard is byte-identical wherever it is written",
    )
    sharded.add_argument(
        "--index", action="store_true", help="write model.safetensors.index.json (alone, or beside the --shard files)"
    )
    init.add_argument("--json", action="store_true", help="print {path, size, sha256, ...} as JSON on stdout")
    init.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress bar on stderr (default: when stderr is a terminal and the file takes a while)",
    )
    _source_arguments(init)


def _diagnose_arguments(diagnose: argparse.ArgumentParser) -> None:
    _request_arguments(diagnose)
    _source_arguments(diagnose)


def _schemes_arguments(schemes: argparse.ArgumentParser) -> None:
    schemes.add_argument(
        "name",
        nargs="?",
        help="a scheme name or alias, or a framework word (keras.HeNormal, jax.he_normal; unqualified with "
        "--dialect): its formula or meaning, and its parameters",
    )
    from .core.dialects import DIALECTS

    schemes.add_argument(
        "--dialect",
        choices=DIALECTS,
        help="a framework's vocabulary (GET /schemes?dialect=): its initializers by the names, parameters and "
        "defaults it uses, each with its initw meaning (default: initw, the schemes themselves)",
    )
    schemes.add_argument("--json", action="store_true", help="print the catalogue entries as JSON")
    _source_arguments(schemes, server_default=False)


def _presets_arguments(presets: argparse.ArgumentParser) -> None:
    presets.add_argument("name", nargs="?", help="a preset: its rule, fields and an example body")
    presets.add_argument("--json", action="store_true", help="print the entries as JSON")
    _source_arguments(presets, server_default=False)


def _request_arguments(parser: argparse.ArgumentParser) -> None:
    """The request, as flags (the one-tensor shorthand) and/or a full POST /init body."""
    group = parser.add_argument_group("the request (flags set the body's top-level fields)")
    from .spec import text

    for shorthand in text.SHORTHAND:
        help = "a scheme name or alias (python -m service schemes); its parameters with --param"
        help = help if shorthand.kind == "scheme" else shorthand.help
        group.add_argument(shorthand.flag, dest=shorthand.name, metavar=_METAVARS[shorthand.kind], help=help)
    group.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a scheme parameter, typed by the scheme or framework word it belongs to (float, int, bool: "
        "true/false, str, axes: 0 or 0,1); repeatable",
    )
    group.add_argument(
        "--body", metavar="FILE", help="a JSON POST /init body ('-' for stdin), e.g. several tensors or layers"
    )


_METAVARS = {"dims": "DIMS", "scheme": "NAME", "int": "N", "str": "TEXT"}


def _source_arguments(parser: argparse.ArgumentParser, server_default: bool = True) -> None:
    where = parser.add_mutually_exclusive_group()
    default = f"$INITW_URL, else {DEFAULT_URL}" if server_default else "none: the local registry"
    where.add_argument("--url", help=f"the initw server to ask (default: {default})")
    where.add_argument("--local", action="store_true", help="compute in this process, no server")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for a connection or a byte")
    parser.add_argument("--retries", type=int, default=3, help="times a failed call may be repeated (default 3)")


def _url(args: argparse.Namespace, server_default: bool = True) -> str | None:
    """The server to ask, or None for the local computation."""
    if args.local:
        return None
    if args.url:
        return str(args.url)
    return (os.environ.get("INITW_URL") or DEFAULT_URL) if server_default else None


# ----------------------------------------------------------------------------- the body


def _read_body(source: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise _invalid(f"cannot read --body {source}: {error}") from None
    try:
        body = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise _invalid(f"--body {source}: the body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise _invalid(f"--body {source}: the body must be a JSON object, got {type(body).__name__}")
    return body


def request_body(args: argparse.Namespace) -> dict[str, Any]:
    """The POST /init body the arguments describe: ``--body`` (if any), then each flag given sets its
    top-level field (``--shape`` and ``--scheme`` make the one-tensor shorthand). Text that is not of
    its field's type is refused with the field path GET /init would name."""
    from .spec import text

    body = _read_body(args.body) if args.body else {}
    problems: text.Problems = []
    flags = {field.name: getattr(args, field.name) for field in text.SHORTHAND}
    given: dict[str, str] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            problems.append(("scheme", f"--param takes KEY=VALUE, got {item!r}"))
        else:
            given[key.strip()] = value
    if args.param and args.scheme is None and body.get("scheme") is None:
        problems.append(("scheme", "--param needs a scheme: give --scheme NAME"))
        given = {}
    body = text.body_from_text({k: v for k, v in flags.items() if v is not None}, given, problems, body)
    errors = [_field(field, message) for field, message in problems]
    if errors:
        raise _invalid("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)
    return body


def validate(body: dict[str, Any], limit: int, what: str) -> CoreRequest:
    """The core Request of ``body``, validated as the service validates it: the same 422 field paths
    and messages, and the same element cap (413 on the server)."""
    from pydantic import ValidationError

    from .engine import InitError
    from .spec.errors import field_error, validation_errors
    from .spec.request import InitRequest, to_request

    try:
        parsed = InitRequest.model_validate(body)
    except ValidationError as error:
        found = [e.model_dump(exclude_none=True) for e in validation_errors(error.errors(), body)]
        raise _invalid("; ".join(f"{e['field']}: {e['message']}" for e in found[:5]), found) from None
    try:
        request = to_request(parsed)
    except InitError as error:
        found = [field_error(error.param or "body", str(error), error.allowed).model_dump(exclude_none=True)]
        raise _invalid(f"{found[0]['field']}: {error}", found) from None
    if request.numel > limit:
        raise _invalid(f"the request asks for {request.numel:,} elements; at most {limit:,} per request ({what})")
    return request


def _settings() -> Any:
    from pydantic import ValidationError

    from .settings import Settings

    try:
        return Settings()
    except ValidationError as error:
        raise _invalid(f"invalid INITW_* setting: {error}") from None


# ----------------------------------------------------------------------------- progress


class ProgressBar:
    """A one-line progress bar on ``stream``: percentage, bar, bytes and rate, redrawn in place at
    most every PROGRESS_INTERVAL seconds, within the terminal's width. ``forced`` draws from the first
    byte; otherwise the bar appears only once PROGRESS_DELAY seconds have passed, so small files
    print nothing. (Hand-written rather than tqdm's or rich's: these few lines are all the CLI needs,
    and the CLI then depends on nothing the client does not.)"""

    def __init__(self, stream: IO[str], label: str, forced: bool = False, width: int = 30):
        self.stream, self.label, self.forced, self.width = stream, label, forced, width
        self.start = time.monotonic()
        self.drawn_at = -math.inf
        self.shown = 0  # characters of the last line drawn (0: nothing drawn yet)
        self.last: tuple[int, int | None] = (0, None)

    def __call__(self, done: int, total: int | None) -> None:
        """Record progress (the signature of service.client's ``progress``); redraw when due."""
        self.last = (done, total)
        now = time.monotonic()
        if not self.forced and now - self.start < PROGRESS_DELAY:
            return
        if now - self.drawn_at >= PROGRESS_INTERVAL:
            self._draw(now)

    def close(self) -> None:
        """Draw the final state and end the line (only if a bar is showing, or it was forced)."""
        if self.shown or self.forced:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def abandon(self) -> None:
        """End a bar that is showing where it stands, so that an error message starts on its own line."""
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        # A line wider than the terminal would wrap, and "\r" could not redraw it: the bar narrows,
        # then the line is cut (the last column is left free: some terminals wrap on it).
        columns = self._columns() - 1
        line = self._line(now, self.width)
        if len(line) > columns:
            line = self._line(now, max(self.width - (len(line) - columns), 0))[:columns]
        self.stream.write("\r" + line + " " * max(self.shown - len(line), 0))
        self.stream.flush()
        self.shown, self.drawn_at = len(line), now

    def _line(self, now: float, width: int) -> str:
        done, total = self.last
        elapsed = max(now - self.start, 1e-9)
        rate = f"{_mib(done / elapsed)} MiB/s"
        if not total:
            return f"{self.label} {_mib(done)} MiB {rate}"
        fraction = min(done / total, 1.0)
        filled = int(fraction * width)
        bar = f" [{'#' * filled}{'-' * (width - filled)}]" if width else ""
        return f"{self.label} {fraction * 100:5.1f}%{bar} {_mib(done)}/{_mib(total)} MiB {rate}"

    def _columns(self) -> int:
        """The width of the terminal ``stream`` is (80 when it is not one)."""
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):  # no file (io.UnsupportedOperation), not a terminal
            return 80


def _mib(count: float) -> str:
    return f"{count / (1 << 20):.1f}"


def _progress(args: argparse.Namespace, label: str) -> ProgressBar | None:
    """The bar ``--progress`` forces, ``--no-progress`` refuses, and a terminal on stderr gets by default."""
    if args.progress is False or (args.progress is None and not sys.stderr.isatty()):
        return None
    return ProgressBar(sys.stderr, label, forced=bool(args.progress))


# ----------------------------------------------------------------------------- the commands


@dataclass(frozen=True)
class Written:
    """A file written whole: where, its size and SHA-256, and where its bytes came from."""

    path: Path
    size: int
    sha256: str  # hex
    etag: str | None
    source: str  # "local" or the server's URL
    seconds: float
    attempts: int = 1
    warnings: tuple[str, ...] = ()  # the request's Initw-Warning texts (never in the file)

    def line(self) -> str:
        return f"{self.path}: {self.size:,} bytes, sha256 {self.sha256} ({self.source}, {self.seconds:.2f} s)"

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "size": self.size,
            "sha256": self.sha256,
            "etag": self.etag,
            "source": self.source,
            "seconds": round(self.seconds, 3),
            "attempts": self.attempts,
            "warnings": list(self.warnings),
        }


def _target(output: str) -> Path:
    target = Path(output)
    if target.is_dir():
        raise _invalid(f"--output {output} is a directory; name a file")
    if not target.parent.is_dir():
        raise _invalid(f"--output {output}: the directory {target.parent} does not exist")
    return target


def write_local(request: CoreRequest, target: Path, progress: Callable[[int, int | None], None] | None) -> Written:
    """The artifact of ``request`` (the bytes POST /init serves) streamed piece by piece into a
    temporary file next to ``target``, hashed as it is written, then renamed to ``target``."""
    from .engine import plan
    from .representation import BINARY, etag

    started = time.monotonic()
    artifact = plan(request)  # generates only the header's samples; read() generates the rest piece by piece
    total = artifact.size
    digest, written = hashlib.sha256(), 0
    with replacing(target) as file:
        for chunk in artifact.read():
            file.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            if progress is not None:
                progress(written, total)
    seconds = time.monotonic() - started
    return Written(target, written, digest.hexdigest(), etag(request, BINARY), "local", seconds, 1, request.warnings)


@contextlib.contextmanager
def _shown(bar: ProgressBar | None) -> Iterator[ProgressBar | None]:
    """A progress bar for the duration of the block: closed after it, abandoned (its line ended
    cleanly, before the error message) if the block raises."""
    try:
        yield bar
    except BaseException:
        if bar is not None:
            bar.abandon()
        raise
    if bar is not None:
        bar.close()


def _client(args: argparse.Namespace, url: str) -> Client:
    """A service.client Client (verified downloads, retries) with the command's timeout and retries."""
    from .client import Client

    return Client(url, timeout=args.timeout, retries=max(args.retries, 0))


def cmd_init(args: argparse.Namespace) -> int:
    """``init``: write the file, print one summary line (or JSON)."""
    if args.shard_size is not None or args.shard or args.index:
        return cmd_checkpoint(args)
    body = request_body(args)
    target = _target(args.output)
    url = _url(args)
    request = None
    if url is None:
        request = validate(body, _settings().max_elements, "INITW_MAX_ELEMENTS")
    with _shown(_progress(args, target.name)) as bar:
        if request is not None:
            result = write_local(request, target, bar)
        else:
            from .client import InitwWarning

            started = time.monotonic()
            with _client(args, str(url)) as client, warnings.catch_warnings():
                warnings.simplefilter("ignore", InitwWarning)  # printed below, as --local prints them
                done = client.init_to_file(body, target, progress=bar)
            seconds = time.monotonic() - started
            result = Written(
                done.path, done.size, done.sha256, done.etag, str(url), seconds, done.attempts, done.warnings
            )
    for warning in result.warnings:  # what the service says in Initw-Warning headers
        print(f"initw: warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.as_json()))
    else:
        print(result.line(), file=sys.stderr)
    return 0


def _shard_size(args: argparse.Namespace) -> int:
    from .core.checkpoint import parse_size

    if args.shard_size is None:
        raise _invalid("--shard and --index write parts of a sharded checkpoint: give --shard-size SIZE too")
    try:
        return parse_size(args.shard_size)
    except ValueError as error:
        raise _invalid(f"shard_size: {error}", [_field("shard_size", str(error))]) from None


def _directory(output: str) -> Path:
    directory = Path(output)
    if directory.exists() and not directory.is_dir():
        raise _invalid(f"--out {output} is a file; with --shard-size it names a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(EXIT_FAILED, f"cannot make the directory {output}: {error}") from None
    return directory


def _chosen(shards: list[int] | None, count: int) -> list[int]:
    """The shards --shard asks for (each once, in the order given); None: all of them."""
    if shards is None:
        return list(range(1, count + 1))
    outside = [k for k in shards if not 1 <= k <= count]
    if outside:
        message = f"this checkpoint has shards 1 to {count}"
        raise _invalid(f"--shard {outside[0]}: {message}", [_field("shard", message, f"1 .. {count}")])
    return list(dict.fromkeys(shards))


def write_checkpoint_local(
    request: CoreRequest,
    shard_size: int,
    directory: Path,
    shards: list[int] | None,
    index: bool,
    limit: int,
    bar: Callable[[str], ProgressBar | None],
) -> tuple[int, list[Written]]:
    """Shards of ``request``'s checkpoint (each streamed into a temporary file, hashed, renamed once
    whole: the bytes POST /init/checkpoint/{file} serves) and its index. ``limit``: the element cap
    of one shard. Returns the number of shards and the files written."""
    from .core.checkpoint import INDEX_NAME, checkpoint
    from .representation import checkpoint_etag

    split = checkpoint(request, shard_size)
    chosen = _chosen(shards, split.count)
    for k in chosen:
        if split.shard_numel(k) > limit:
            raise _invalid(
                f"shard {k} holds {split.shard_numel(k):,} elements; at most {limit:,} per shard "
                "(INITW_MAX_ELEMENTS): ask for smaller shards"
            )
    written = []
    for k in chosen:
        name = split.file(k)
        started = time.monotonic()
        artifact = split.shard(k)
        digest, size = hashlib.sha256(), 0
        with _shown(bar(name)) as progress, replacing(directory / name) as file:
            for chunk in artifact.read():
                file.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                if progress is not None:
                    progress(size, artifact.size)
        tag = checkpoint_etag(request, shard_size, name)
        seconds = time.monotonic() - started
        written.append(Written(directory / name, size, digest.hexdigest(), tag, "local", seconds, 1, request.warnings))
    if index:
        started = time.monotonic()
        content = split.index_bytes()
        with replacing(directory / INDEX_NAME) as file:
            file.write(content)
        tag = checkpoint_etag(request, shard_size, INDEX_NAME)
        seconds = time.monotonic() - started
        digest_hex = hashlib.sha256(content).hexdigest()
        written.append(Written(directory / INDEX_NAME, len(content), digest_hex, tag, "local", seconds, 1,
                               request.warnings))  # fmt: skip
    return split.count, written


def cmd_checkpoint(args: argparse.Namespace) -> int:
    """``init --shard-size``: a sharded checkpoint (all of it, ``--shard K`` files, ``--index``)
    into the ``--out`` directory, from a server or ``--local``; one line per file (or JSON)."""
    shard_size = _shard_size(args)
    body = request_body(args)
    url = _url(args)
    # Neither --shard nor --index: the whole checkpoint; --index alone: no shard (None: every shard).
    shards = [] if args.index and not args.shard else args.shard
    index = args.index or not args.shard
    bar = lambda label: _progress(args, label)  # noqa: E731
    if url is None:
        settings = _settings()
        request = validate(body, 2**63, "")  # the element cap applies to each shard, below
        directory = _directory(args.output)
        count, written = write_checkpoint_local(
            request, shard_size, directory, shards, index, settings.max_elements, bar
        )
    else:
        from .client import InitwWarning

        directory = _directory(args.output)
        with _client(args, str(url)) as client, warnings.catch_warnings():
            warnings.simplefilter("ignore", InitwWarning)  # printed below, as --local prints them
            written, count = _checkpoint_remote(client, body, shard_size, directory, shards, index, bar, url)
    for warning in written[0].warnings if written else ():
        print(f"initw: warning: {warning}", file=sys.stderr)
    if args.json:
        report = {"directory": str(directory), "shards": count, "shard_size": shard_size,
                  "files": [w.as_json() for w in written]}  # fmt: skip
        print(json.dumps(report))
    else:
        for w in written:
            print(w.line(), file=sys.stderr)
    return 0


def _checkpoint_remote(
    client: Client,
    body: dict[str, Any],
    shard_size: int,
    directory: Path,
    shards: list[int] | None,
    index: bool,
    bar: Callable[[str], ProgressBar | None],
    url: str,
) -> tuple[list[Written], int]:
    """The same files from a server: the index first (it says how many shards there are), then
    each shard streamed, verified and renamed once whole (service.client)."""
    from .client import CHECKPOINT_INDEX

    parsed = client.checkpoint_index(body, shard_size)
    count = int(parsed["metadata"]["shards"])
    chosen = _chosen(shards, count)
    written = []
    for k in chosen:
        name = f"model-{k:05d}-of-{count:05d}.safetensors"
        begun = time.monotonic()
        with _shown(bar(name)) as progress:
            done = client.checkpoint_file(body, shard_size, name, directory / name, progress=progress)
        seconds = time.monotonic() - begun
        written.append(
            Written(done.path, done.size, done.sha256, done.etag, url, seconds, done.attempts, done.warnings)
        )
    if index:
        begun = time.monotonic()
        done = client.checkpoint_file(body, shard_size, CHECKPOINT_INDEX, directory / CHECKPOINT_INDEX)
        seconds = time.monotonic() - begun
        written.append(
            Written(done.path, done.size, done.sha256, done.etag, url, seconds, done.attempts, done.warnings)
        )
    return written, count


def diagnostics_local(request: CoreRequest) -> dict[str, Any]:
    """What POST /diagnostics answers (its JSON, parsed): each tensor generated chunk by chunk."""
    from .engine import diagnostics_report, report_text

    # The service's text (no inf or NaN: null), parsed back, so both sources print alike.
    parsed: dict[str, Any] = json.loads(report_text(diagnostics_report(request)))
    return parsed


def cmd_diagnose(args: argparse.Namespace) -> int:
    """``diagnose``: the diagnostics JSON on stdout."""
    body = request_body(args)
    url = _url(args)
    if url is None:
        settings = _settings()
        request = validate(body, settings.max_diagnostics_elements, "INITW_MAX_DIAGNOSTICS_ELEMENTS")
        report = diagnostics_local(request)
    else:
        with _client(args, url) as client:
            report = client.diagnostics(body)
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


def _dialect_of(args: argparse.Namespace) -> str:
    """The vocabulary ``schemes`` reads: a qualified name's own (keras.HeNormal: keras), else --dialect."""
    from .core.dialects import PREFIXES

    if args.name is not None and args.name.split(".", 1)[0] in PREFIXES and "." in args.name:
        return str(args.name.split(".", 1)[0])
    return str(args.dialect or "initw")


def _catalogue(args: argparse.Namespace, dialect: str) -> list[dict[str, Any]]:
    """The catalogue (initw) or a framework's words, from the local registry or the server."""
    url = _url(args, server_default=False)
    if url is None:
        from .core.catalogue import dialect_catalogue  # the registry, without the engine's imports

        return dialect_catalogue(dialect)
    with _client(args, url) as client:
        entries: list[dict[str, Any]] = client.schemes(None if dialect == "initw" else dialect)
        return entries


def _find(entries: list[dict[str, Any]], name: str, dialect: str) -> dict[str, Any]:
    from .core.dialects import qualify

    wanted = qualify(name, dialect)
    for entry in entries:
        if wanted == entry["name"] or wanted in entry.get("aliases", []):
            return entry
    listing = "python -m service schemes" + ("" if dialect == "initw" else f" --dialect {dialect}")
    where = "" if dialect == "initw" else f" in the {dialect} dialect"
    raise _invalid(f"no scheme named {wanted!r}{where}; {listing} lists them")


def _default_text(param: dict[str, Any]) -> str:
    return "(required)" if param.get("required") else f"= {param.get('default')!r}"


def _param_text(param: dict[str, Any]) -> str:
    return f"{param['name']}: {param['type']} {_default_text(param)}"


def _params_text(entry: dict[str, Any]) -> list[str]:
    params = entry.get("parameters", [])
    if not params:
        return ["parameters: none"]
    lines = ["parameters (--param KEY=VALUE):"]
    for p in params:
        lines.append(f"  {_param_text(p)}; {p.get('allowed', '')}")
        if p.get("description"):
            lines.append(f"      {p['description']}")
    return lines


def _describe_text(entry: dict[str, Any]) -> str:
    aliases = f" (aliases: {', '.join(entry['aliases'])})" if entry.get("aliases") else ""
    if "dialect" in entry:  # a framework word: what its user writes and what it means here
        lines = [f"{entry['name']}{aliases}", "", f"framework: {entry['framework']}", f"meaning: {entry['meaning']}"]
        if entry.get("unsupported"):
            lines.append(f"refused: {entry['unsupported']}")
        return "\n".join([*lines, "", *_params_text(entry)])
    lines = [f"{entry['name']}{aliases}", "", entry.get("formula", "")]
    if entry.get("description"):
        lines += ["", entry["description"]]
    dims = entry.get("dimensions")
    rank = "any"
    if dims:
        rank = str(dims["min"]) if dims["min"] == dims["max"] else f"{dims['min']} to {dims['max']}"
    lines += ["", f"random access: {'yes' if entry.get('random_access') else 'no'}; dimensions: {rank}"]
    return "\n".join([*lines, *_params_text(entry)])


def cmd_schemes(args: argparse.Namespace) -> int:
    """``schemes``: every scheme (name, aliases, parameters) or a framework's words, or one in detail."""
    dialect = _dialect_of(args)
    entries = _catalogue(args, dialect)
    if args.name is not None:
        entry = _find(entries, args.name, dialect)
        print(json.dumps(entry, indent=2) if args.json else _describe_text(entry))
        return 0
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    width = max(len(e["name"]) for e in entries) + 2
    aliases = {e["name"]: ", ".join(e.get("aliases", [])) or "-" for e in entries}
    alias_width = max(len(a) for a in aliases.values()) + 2
    words = dialect != "initw"  # a framework's words: each with its initw meaning on a line of its own
    print(f"{'word' if words else 'scheme':<{width}}{'aliases':<{alias_width}}parameters")
    for e in entries:
        params = ", ".join(_param_text(p) for p in e.get("parameters", [])) or "-"
        print(f"{e['name']:<{width}}{aliases[e['name']]:<{alias_width}}{params}")
        if words:
            print(f"{'':<{width}}{'refused: ' + e['unsupported'] if e.get('unsupported') else 'means ' + e['meaning']}")
    return 0


def _preset_text(entry: dict[str, Any]) -> str:
    lines = [f"{entry['name']}: {entry['title']}", "", entry["description"], "", "fields:"]
    for item in entry["fields"]:
        default = "(required)" if item.get("required") else f"= {item.get('default')!r}"
        lines.append(f"  {item['name']}: {item['type']} {default}; {item.get('allowed', '')}")
        if item.get("description"):
            lines.append(f"      {item['description']}")
    if entry.get("example") is not None:
        lines += ["", f"example body: {json.dumps(entry['example'])}"]
    return "\n".join([*lines, f"documentation: {entry['documentation']}"])


def cmd_presets(args: argparse.Namespace) -> int:
    """``presets``: every architecture preset (name, status, title), or one with its fields and an example."""
    url = _url(args, server_default=False)
    if url is None:
        from .spec import presets

        entries = presets.catalogue()
    else:
        with _client(args, url) as client:
            entries = client.presets()
    if args.name is not None:
        entry = next((e for e in entries if e["name"] == args.name), None)
        if entry is None:
            names = ", ".join(e["name"] for e in entries)
            raise _invalid(f"no preset named {args.name!r} (presets: {names})")
        print(json.dumps(entry, indent=2) if args.json else _preset_text(entry))
        return 0
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    width = max(len(e["name"]) for e in entries) + 2
    for e in entries:
        print(f"{e['name']:<{width}}{e['title']}")
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "init": cmd_init,
    "diagnose": cmd_diagnose,
    "schemes": cmd_schemes,
    "presets": cmd_presets,
}


# ----------------------------------------------------------------------------- errors and exit statuses


def _from_client(error: ClientError) -> CliError:
    """A service.client error as a CliError with its exit status."""
    from .client import RETRY_STATUSES, IntegrityError, NetworkError, ProblemError

    tries = f" (after {error.attempts} attempts)" if error.attempts > 1 else ""
    if isinstance(error, ProblemError):
        code = EXIT_INVALID if 400 <= error.status < 500 and error.status not in RETRY_STATUSES else EXIT_SERVER
        errors = [e for e in error.errors if isinstance(e, dict)]
        detail = "" if errors else f": {error.detail}"
        return CliError(code, f"{error.status} {error.title}{detail}{tries}", errors)
    if isinstance(error, IntegrityError):
        return CliError(EXIT_INTEGRITY, f"integrity check failed{tries}: {error}")
    if isinstance(error, NetworkError):
        return CliError(EXIT_SERVER, f"cannot reach the server{tries}: {error}")
    return CliError(EXIT_SERVER, f"{type(error).__name__}{tries}: {error}")


def _report(error: CliError, stream: IO[str]) -> None:
    """``initw: error: ...``, then the invalid fields one per line: ``  field: message (allowed: ...)``."""
    stream.write(f"initw: error: {error.message}\n")
    for e in error.errors:
        allowed = f" (allowed: {e['allowed']})" if e.get("allowed") else ""
        stream.write(f"  {e.get('field')}: {e.get('message')}{allowed}\n")
    stream.flush()


def run(args: argparse.Namespace) -> int:
    """Run one of COMMANDS; failures are reported in a few lines on stderr (never a traceback for
    them) and mapped to the exit statuses in this module's docstring."""
    try:
        return HANDLERS[args.command](args)
    except CliError as error:
        _report(error, sys.stderr)
        return error.code
    except KeyboardInterrupt:
        sys.stderr.write("\ninitw: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout closed early (| head): nothing left to say
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as error:  # writing the output file: disk full, permissions
        _report(CliError(EXIT_FAILED, str(error)), sys.stderr)
        return EXIT_FAILED
    except Exception as error:
        client = sys.modules.get(f"{__package__}.client")  # loaded by any command that raises a ClientError
        if client is None or not isinstance(error, client.ClientError):
            raise
        failure = _from_client(error)
        _report(failure, sys.stderr)
        return failure.code
