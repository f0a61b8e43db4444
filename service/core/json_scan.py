"""Large JSON texts, read without holding the interpreter for long.

``json.loads`` builds a text in C calls that keep the GIL from start to end: a string of 60 MB is
one stretch of ~100 ms, and so is an array of millions of values, while every other thread of the
process (the event loop's among them) waits. This module first *scans* the bytes with numpy, in
windows of ``WINDOW`` bytes (numpy releases the GIL inside each array operation): it counts the
values and objects outside strings, so a text past its limits is refused before anything is
built, and it finds every string longer than ``LIFTED`` bytes. Those strings are decoded here,
piece by piece, and replaced in the text by placeholders: a number for a value (``json`` hands it
to ``parse_float``, a Python call, where other threads get the GIL, and which returns the string),
a short string for a key. What ``json.loads`` then parses is short.

The result equals ``json.loads(data)``'s; a text ``json.loads`` refuses is refused with the same
exception class (the message may name a later fault than ``json`` would, the position is of the
original text). The scan follows JSON's strings exactly for valid JSON; for invalid JSON it can
misplace string boundaries only after the first backslash outside a string, which ``json`` then
refuses at the same place in the lifted text.
"""

from __future__ import annotations

import codecs
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DENSE", "LIFTED", "PIECE", "SHORT", "WINDOW", "Lifted", "TooDense", "TooMany", "lift"]

WINDOW = 1 << 20  # bytes per numpy pass: ~1 ms of work between two chances for other threads
LIFTED = 128  # strings longer than this (bytes between the quotes) are decoded here
PIECE = 1 << 18  # bytes of a long string decoded in one call
DENSE = 1 << 18  # bytes of back-to-back escape sequences a long string may hold without a plain run

_QUOTE, _BACKSLASH, _COMMA, _BRACE, _CLOSE = 34, 92, 44, 123, 125  # [ ] are { } less 0x20
_SPACE = re.compile(rb"[ \t\n\r]*")
SHORT = 1 << 16  # bytes: a lifted string up to this long is checked and decoded without numpy


class TooMany(ValueError):
    """The text holds more than ``limit`` ``what`` ("objects" or "values"): found by the scan,
    before anything is built."""

    def __init__(self, what: str, limit: int):
        self.what, self.limit = what, limit
        super().__init__(f"more than {limit:,} JSON {what}")


class TooDense(ValueError):
    """A string holds more than ``DENSE`` bytes of escape sequences with no plain run between
    them, so it cannot be decoded in pieces (no request needs such a string)."""

    def __init__(self) -> None:
        super().__init__(f"a JSON string holds more than {DENSE:,} bytes of back-to-back escape sequences")


@dataclass
class Lifted:
    """A text with its long strings taken out: parse ``text`` with ``parse_float`` and read keys
    through ``key``; ``error`` moves a JSONDecodeError of ``text`` to the original text."""

    text: str
    strings: list[str]
    nonce: str
    original: bytes | bytearray = b""
    spans: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))  # each string's quotes
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # which are keys (string placeholders)
    ends: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # each placeholder's end in the text
    sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # and its length

    def key(self, token: str) -> str:
        """The string a placeholder stands for; any other text as it is."""
        return self.strings[int(token[len(self.nonce) :])] if token.startswith(self.nonce) else token

    def parse_float(self, literal: str) -> Any:
        return self.key(literal) if literal.startswith(self.nonce) else float(literal)

    def error(self, error: json.JSONDecodeError) -> json.JSONDecodeError:
        """``error`` (of the lifted text) at the same place of the original text."""
        at = len(self.text[: error.pos].encode("utf-8", "surrogatepass"))
        k = int(np.searchsorted(self.ends - self.sizes, at, side="right")) - 1
        if k < 0:
            return _error_at(error.msg, self.original, at)
        opened, closed = (int(v) for v in self.spans[k])
        if at >= self.ends[k]:
            return _error_at(error.msg, self.original, at - int(self.ends[k]) + closed + 1)
        if error.msg.startswith("Expecting property name") and not self.keys[k]:
            # a number placeholder where json expected a key: json reads the string as the key,
            # then misses the colon after it
            after = _SPACE.match(self.original, closed + 1).end()  # type: ignore[union-attr]
            return _error_at("Expecting ':' delimiter", self.original, after)
        return _error_at(error.msg, self.original, opened)


def lift(
    data: bytes | bytearray,
    max_values: int | None = None,
    max_objects: int | None = None,
    max_depth: int | None = None,
) -> Lifted:
    """Scan ``data`` (UTF-8 JSON), refuse it past the limits (TooMany; RecursionError, as json's,
    past ``max_depth`` levels of nesting) or if it is not UTF-8 (UnicodeDecodeError, as
    json.loads), and take its long strings out."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[3:]  # json.loads(bytes) reads UTF-8 with a BOM as utf-8-sig
    _check_utf8(data)
    spans = _scan(data, max_values, max_objects, max_depth)
    nonce = f"0.{secrets.randbelow(10**18):018d}7"  # read as a number: json calls parse_float
    lifted = Lifted("", [], nonce, data, spans)
    if not spans.size:
        lifted.text = data.decode("utf-8", "surrogatepass")
        return lifted
    view = memoryview(data)
    raw = np.frombuffer(data, np.uint8)
    # A key is followed by a colon (after blanks: the regex settles the few with blanks between).
    follows = raw[np.minimum(spans[:, 1] + 1, raw.size - 1)]
    lifted.keys = (follows == ord(":")) & (spans[:, 1] + 1 < raw.size)
    for k in np.flatnonzero(np.isin(follows, (0x20, 0x09, 0x0A, 0x0D))).tolist():
        after = _SPACE.match(data, int(spans[k, 1]) + 1).end()  # type: ignore[union-attr]
        lifted.keys[k] = data[after : after + 1] == b":"
    parts: list[bytes | bytearray] = []
    done = 0
    for index, ((opened, closed), key) in enumerate(zip(spans.tolist(), lifted.keys.tolist(), strict=True)):
        token = f"{nonce}{index}".encode()
        plain = _short_plain(data, view, opened, closed) if closed - opened <= SHORT else None
        lifted.strings.append(plain if plain is not None else _decoded(data, opened, closed))
        parts += (data[done:opened], b'"' + token + b'"' if key else token)  # a key stays a string
        done = closed + 1
    parts.append(data[done:])
    lifted.sizes = np.array([len(part) for part in parts[1::2]], np.int64)
    kept = spans[:, 0] - np.concatenate(([0], spans[:-1, 1] + 1))  # original bytes before each placeholder
    lifted.ends = np.cumsum(kept + lifted.sizes)
    lifted.text = b"".join(parts).decode("utf-8", "surrogatepass")
    return lifted


def _check_utf8(data: bytes | bytearray) -> None:
    """Raise json.loads's UnicodeDecodeError if ``data`` is not UTF-8 (surrogates pass, as there)."""
    raw = np.frombuffer(data, np.uint8)
    for start in range(0, raw.size, WINDOW):
        if (raw[start : start + WINDOW] >= 0x80).any():
            for _ in _utf8(data, start, raw.size):
                pass  # decoded to be checked: the rest of the text, once
            return


def _utf8(data: bytes | bytearray, begin: int, end: int) -> Iterator[str]:
    """``data[begin:end]`` decoded from UTF-8 in calls of ~PIECE bytes (no copies of the bytes)."""
    view = memoryview(data)
    start = begin
    while start < end:
        stop = min(start + PIECE, end)
        try:
            text, used = codecs.utf_8_decode(view[start:stop], "surrogatepass", stop == end)
        except UnicodeDecodeError as error:
            raise UnicodeDecodeError("utf-8", data, start + error.start, start + error.end, error.reason) from None
        start += used
        yield text


def _scan(
    data: bytes | bytearray, max_values: int | None, max_objects: int | None, max_depth: int | None = None
) -> np.ndarray:
    """The (opening, closing) quote positions [k, 2] of the strings longer than LIFTED bytes; counts the
    values (commas and openings outside strings, plus one) and objects on the way."""
    raw = np.frombuffer(data, np.uint8)
    values, objects, depth = 1, 0, 0
    inside, opened, run = False, -1, 0  # run: backslashes ending the previous window
    spans: list[np.ndarray] = []
    for base in range(0, raw.size, WINDOW):
        window = raw[base : base + WINDOW]
        quotes = _unescaped(window, np.flatnonzero(window == _QUOTE), run)
        run = _trailing_backslashes(window, run)
        marks = np.flatnonzero((window == _COMMA) | (window | 0x20 == _BRACE) | (window | 0x20 == _CLOSE))
        if quotes.size:
            marks = marks[((np.searchsorted(quotes, marks) + inside) & 1) == 0]
        elif inside:
            marks = marks[:0]
        found = window[marks]
        closing = found | 0x20 == _CLOSE  # ] and }
        values += marks.size - int(np.count_nonzero(closing))
        objects += int(np.count_nonzero(found == _BRACE))
        if max_objects is not None and objects > max_objects:
            raise TooMany("objects", max_objects)
        if max_values is not None and values > max_values:
            raise TooMany("values", max_values)
        if max_depth is not None:
            levels = depth + np.cumsum(np.where(found == _COMMA, 0, np.where(closing, -1, 1)))
            if levels.size and int(levels.max()) > max_depth:
                raise RecursionError(f"arrays or objects nested more than {max_depth} deep")
            depth = int(levels[-1]) if levels.size else depth
        if not quotes.size:
            continue
        at = quotes.astype(np.int64) + base
        if inside:
            if at[0] - opened - 1 > LIFTED:
                spans.append(np.array([[opened, at[0]]]))
            at, inside = at[1:], False
        opens, closes = at[0::2], at[1::2]
        if opens.size > closes.size:
            inside, opened, opens = True, int(opens[-1]), opens[:-1]
        long = (closes - opens - 1) > LIFTED
        if long.any():
            spans.append(np.stack([opens[long], closes[long]], axis=1))
    if not spans:
        return np.zeros((0, 2), np.int64)
    return np.concatenate(spans).astype(np.int64)


def _unescaped(window: np.ndarray, quotes: np.ndarray, run: int) -> np.ndarray:
    """The quotes not escaped: those after an even run of backslashes (``run`` of them end the
    previous window)."""
    if not quotes.size:
        return quotes
    after = np.zeros(quotes.size, bool)
    inner = quotes > 0
    after[inner] = window[quotes[inner] - 1] == _BACKSLASH
    if quotes[0] == 0 and run:
        after[0] = True
    if not after.any():
        return quotes
    candidates = quotes[after]
    plain = np.flatnonzero(window != _BACKSLASH)
    k = np.searchsorted(plain, candidates) - 1
    last = np.where(k >= 0, plain[np.maximum(k, 0)], -1)
    length = candidates - 1 - last + np.where(last < 0, run, 0)
    escaped = np.zeros(quotes.size, bool)
    escaped[np.flatnonzero(after)[length % 2 == 1]] = True
    return quotes[~escaped]


def _trailing_backslashes(window: np.ndarray, run: int) -> int:
    if window[-1] != _BACKSLASH:
        return 0
    plain = np.flatnonzero(window != _BACKSLASH)
    return window.size - 1 - int(plain[-1]) if plain.size else run + window.size


def _short_plain(data: bytes | bytearray, view: memoryview, opened: int, closed: int) -> str | None:
    """A short string of ASCII without escapes or control characters, decoded by a few C calls
    (numpy's per-call overhead would dominate); None for any other."""
    if data.find(b"\\", opened + 1, closed) >= 0:
        return None
    try:
        text = str(view[opened + 1 : closed], "ascii")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() else None  # control characters (and DEL, allowed) take the long way


def _decoded(data: bytes | bytearray, opened: int, closed: int) -> str:
    """The string between the quotes at ``opened`` and ``closed``, decoded as json decodes it,
    in calls of at most ~PIECE bytes; a JSONDecodeError names the original position."""
    begin, end = opened + 1, closed
    raw = np.frombuffer(data, np.uint8, count=end - begin, offset=begin)
    backslashes = np.flatnonzero(raw == _BACKSLASH)
    plain = not backslashes.size and not bool((raw < 0x20).any())
    if plain and not bool((raw >= 0x80).any()):
        # ASCII without escapes (base64): one copy into the string; pieces would need a second
        return str(memoryview(data)[begin:end], "ascii")
    out: list[str] = []
    for start, stop in _pieces(raw, backslashes):
        piece = "".join(_utf8(data, begin + start, begin + stop))
        if plain:
            out.append(piece)
            continue
        try:
            text, _ = json.decoder.scanstring(piece + '"', 0, True)  # type: ignore[attr-defined]
        except json.JSONDecodeError as error:
            offset = len(piece[: error.pos].encode("utf-8", "surrogatepass"))
            raise _error_at(error.msg, data, begin + start + offset) from None
        out.append(text)
    return out[0] if len(out) == 1 else "".join(out)


def _pieces(raw: np.ndarray, backslashes: np.ndarray) -> list[tuple[int, int]]:
    """Cuts of a string's bytes ``raw`` every ~PIECE bytes, none inside a character or an escape
    sequence and none just before an escape (a surrogate pair's two escapes stay in one piece)."""
    size = raw.size
    # runs of backslashes: pairs are escaped backslashes; an odd run's last one escapes what
    # follows it (\uXXXX: 5 bytes, else 1). A cut fits between the end of one run's escapes and
    # the start of the next run.
    first = np.flatnonzero(np.diff(backslashes, prepend=-2) != 1)
    starts = backslashes[first]
    lasts = backslashes[np.append(first[1:] - 1, backslashes.size - 1)] if backslashes.size else starts
    odd = (lasts - starts) % 2 == 0
    follows = raw[np.minimum(lasts + 1, size - 1)] == ord("u")
    ends = lasts + np.where(odd, np.where(follows, 5, 1), 0)
    low = np.concatenate(([0], ends + 1))
    high = np.concatenate((starts - 1, [size]))
    fits = low <= high
    low, high = low[fits], high[fits]
    cuts, start = [], 0
    while size - start > PIECE:
        target = start + PIECE
        gap = int(np.searchsorted(high, target))
        cut = max(int(low[gap]), target) if gap < high.size else size
        if cut - target > DENSE:
            raise TooDense()
        while cut < size and raw[cut] & 0xC0 == 0x80:
            cut += 1  # not inside a character: each piece is decoded alone
        if cut >= size:
            break
        cuts.append((start, cut))
        start = cut
    cuts.append((start, size))
    return cuts


def _error_at(message: str, data: bytes | bytearray, at: int) -> json.JSONDecodeError:
    """A JSONDecodeError at byte ``at`` of ``data``, with json's line, column and char position."""
    chars = _chars(data, at)
    newline = data.rfind(b"\n", 0, at)
    error = json.JSONDecodeError(message, "", 0)
    error.pos, error.lineno = chars, data.count(b"\n", 0, at) + 1
    error.colno = chars - (_chars(data, newline) if newline >= 0 else -1)
    error.args = (f"{message}: line {error.lineno} column {error.colno} (char {chars})",)
    return error


def _chars(data: bytes | bytearray, at: int) -> int:
    """How many characters the first ``at`` bytes of UTF-8 ``data`` hold."""
    head = np.frombuffer(data, np.uint8, count=at)
    return at - int(np.count_nonzero((head & 0xC0) == 0x80))
