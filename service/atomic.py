"""Files that appear whole or not at all: written to a temporary file beside the target, flushed to
disk, given an ordinary file's mode, then renamed onto the target. An error (a failed digest, an
interrupt) removes the temporary file and leaves whatever was at the target untouched."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["replacing"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replacing(target: Path) -> Iterator[IO[bytes]]:
    """``with replacing(path) as file: file.write(...)``: ``path`` is replaced when the block ends
    without an exception, and never holds a partial file."""
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp's file is private (0600); the result is an ordinary file
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
