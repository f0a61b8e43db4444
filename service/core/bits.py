"""Counter-based random words: a per-tensor key and Philox4x64-10 words addressed by index.

Every random element of a tensor is a pure function of (key, word index), so any slice can be
generated on its own and threads, servers or HTTP ranges may split a tensor however they like.

Key:   the first 16 bytes of SHA-256(b"initw-v1" || 0x00 || seed as u64 LE || UTF-8 name),
       read little-endian as a 128-bit integer K; Philox key words k0 = K mod 2**64, k1 = K >> 64.
Words: word j of stream s is lane (j mod 4) of the Philox4x64-10 block with counter
       (j div 4) + s * 2**128. Element i of a tensor takes word i of stream 0; schemes that need a
       second independent word per element (the sparse mask) take word i of stream 1.

numpy's ``Philox`` is exactly Random123 Philox4x64-10, except that it increments its counter
*before* producing a block, so it is constructed with ``counter = block - 1``. numpy guarantees
BitGenerator raw streams across releases, which is the only numpy promise this module leans on.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import NDArray

from . import kernels

__all__ = ["ALGORITHM", "KEY_DOMAIN", "STREAM_STRIDE", "VERSION", "WORDS_PER_BLOCK", "derive_key", "philox_words"]

ALGORITHM = "initw"
VERSION = 1
KEY_DOMAIN = b"initw-v1\x00"

_U64 = (1 << 64) - 1
_U256 = (1 << 256) - 1
WORDS_PER_BLOCK = 4
STREAM_STRIDE = 1 << 128  # blocks between streams: far beyond any tensor


def derive_key(seed: int, name: str) -> int:
    """The 128-bit Philox key of tensor ``name`` under ``seed`` (algorithm v1)."""
    if not 0 <= seed <= _U64:
        raise ValueError(f"seed {seed} outside 0..2**64-1")
    message = KEY_DOMAIN + seed.to_bytes(8, "little") + name.encode("utf-8")
    return int.from_bytes(hashlib.sha256(message).digest()[:16], "little")


def philox_words(key: int, start: int, count: int, stream: int = 0) -> NDArray[np.uint64]:
    """Words ``start .. start+count-1`` of ``stream`` under ``key``, as uint64."""
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    compiled = kernels.words(key, start, count, stream)
    if compiled is not None:
        return compiled
    block, lane = divmod(start, WORDS_PER_BLOCK)
    counter = (block + stream * STREAM_STRIDE - 1) & _U256  # numpy pre-increments
    words = np.random.Philox(key=key, counter=counter).random_raw(lane + count)
    return words[lane:] if lane else words
