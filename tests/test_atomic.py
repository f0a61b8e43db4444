"""service.atomic.replacing: the target holds the old file or the whole new one, never a part."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from service.atomic import replacing


def test_the_target_is_replaced_whole_with_an_ordinary_mode(tmp_path: Path) -> None:
    target = tmp_path / "w.safetensors"
    target.write_bytes(b"old")
    mask = os.umask(0o022)
    try:
        with replacing(target) as file:
            file.write(b"new ")
            assert target.read_bytes() == b"old"  # nothing visible until the block ends
            file.write(b"file")
    finally:
        os.umask(mask)
    assert target.read_bytes() == b"new file"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def test_an_error_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "w.safetensors"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), replacing(target) as file:
        file.write(b"half")
        raise RuntimeError("digest mismatch")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]
