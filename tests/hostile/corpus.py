"""The hostile corpus, as data: requests a careless or malicious client sends, each with the exact
answer the service promises.

``CASES`` are refused: a 4xx RFC 9457 problem (application/problem+json) whose ``status`` equals
the HTTP status, whose ``type`` ends in the case's ``kind`` ("about:blank" where the status says
it all: unknown paths and methods) and, for invalid input, whose ``errors[].field`` names the
field. ``ANSWERED`` are requests that look hostile but are served on purpose (integral floats are
integers, a malformed Range is ignored, a path-like string is just a tensor name, ...), with the
bytes of the plain request they are equivalent to.

Both test modules send the same cases, byte for byte: tests/hostile/test_in_process.py drives the
ASGI app directly (TestClient would normalize paths and refuses URLs over 64 KiB), and
tests/hostile/test_on_the_wire.py writes them to a real ``python -m service serve`` over TCP.
Either runs the service with these limits:
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import struct
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import Any

BODY_LIMIT = 1 << 20  # INITW_MAX_BODY_BYTES
BODY_SECONDS = 1.0  # INITW_BODY_SECONDS
MAX_ELEMENTS = 1 << 22  # INITW_MAX_ELEMENTS
# An answer later than this counts as a hang. Not a speed goal: a loaded machine can delay any
# answer by seconds. What the slow bodies prove does not rest on it either: a 408 for a body that
# trickles for far longer (STALL_MISSING bytes never come; TRICKLE_SECONDS per byte) shows the
# server cut it, and an answer no sooner than BODY_SECONDS shows it waited that long first.
ANSWER_SECONDS = 60.0
TRICKLE_SECONDS = 0.2  # one byte per this
STALL_MISSING = 1000  # bytes a stalled body declares but never sends

PROBLEM = "application/problem+json"
JSON_TYPE = (("Content-Type", "application/json"),)
PROBLEM_TYPES = "https://initw.dev/problems/"

WHOLE = "whole"  # Content-Length, the body in one piece
CHUNKED = "chunked"  # no Content-Length: Transfer-Encoding chunked, 64 KiB pieces
STALLED = "stalled"  # Content-Length promises STALL_MISSING more bytes than ever come
TRICKLE = "trickle"  # Content-Length, then one byte per TRICKLE_SECONDS

# Every pickle here would create this directory if anything unpickled it; nothing may.
UNPICKLED = Path(tempfile.gettempdir()) / "initw-hostile-unpickled"

Body = bytes | Callable[[], bytes]


@dataclass(frozen=True)
class Case:
    """One request and the answer it must get."""

    name: str
    status: int
    kind: str = ""  # the problem type's last segment, "about:blank", or "" for a served request
    field: str | None = None  # a field the problem's errors must name
    method: str = "POST"
    target: str = "/init"  # the request-target as sent: percent-encoded path and query, never normalized
    headers: tuple[tuple[str, str], ...] = JSON_TYPE
    body: Body = b""
    delivery: str = WHOLE
    wire: bool = True  # False: uvicorn's HTTP parser may answer first (tests/hostile/test_on_the_wire.py)
    same_as: Case | None = None  # a served request: its bytes equal this plain request's

    def payload(self) -> bytes:
        return self.body() if callable(self.body) else self.body

    @property
    def slow(self) -> bool:
        return self.delivery in (STALLED, TRICKLE)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    elapsed: float


def check(case: Case, answer: Answer) -> dict[str, Any] | None:
    """Assert that ``answer`` is exactly what ``case`` promises; the problem, if it is one."""
    where = f"{case.name}: {answer.status} {answer.headers.get('content-type')} {answer.body[:300]!r}"
    assert answer.status == case.status, where
    assert answer.elapsed < ANSWER_SECONDS, f"{case.name}: answered after {answer.elapsed:.2f} s"
    if case.slow:  # given its INITW_BODY_SECONDS, not cut short
        assert answer.elapsed > BODY_SECONDS - 0.05, f"{case.name}: answered after {answer.elapsed:.2f} s"
    if not case.kind:
        return None
    assert answer.headers.get("content-type") == PROBLEM, where
    problem = json.loads(answer.body)
    assert isinstance(problem, dict), where
    assert problem["status"] == answer.status, where
    expected = case.kind if case.kind == "about:blank" else PROBLEM_TYPES + case.kind
    assert problem["type"] == expected, where
    assert isinstance(problem["title"], str) and problem["title"], where
    assert isinstance(problem["detail"], str) and problem["detail"], where
    for error in problem.get("errors") or []:
        assert set(error) <= {"field", "pointer", "message", "allowed"} and error["message"], where
        pointer = "" if error["field"] == "body" else "/" + error["field"].replace(".", "/")
        assert error["pointer"] == pointer, where
    if case.field is not None:
        assert case.field in [error["field"] for error in problem.get("errors") or []], where
    if answer.status == 405:
        assert answer.headers.get("allow"), where
    if answer.status == 408:
        assert answer.headers.get("connection", "").lower() == "close", where
    return problem


# ----------------------------------------------------------------------------- building bodies


def js(value: Any, ascii_only: bool = True) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode()


def shorthand(**changes: Any) -> bytes:
    return js({"seed": 7, "shape": [2, 3], "scheme": "normal", **changes})


def raw_shorthand(key: str, literal: bytes) -> bytes:
    """The shorthand with one value replaced by raw JSON text (NaN, Infinity, 1e999, ...)."""
    return shorthand(**{key: "@@"}).replace(b'"@@"', literal)


def raw_scheme(scheme: str, key: str, literal: bytes) -> bytes:
    return shorthand(scheme={"name": scheme, key: "@@"}).replace(b'"@@"', literal)


def nested(depth: int, opening: bytes = b"[", closing: bytes = b"]", inner: bytes = b"") -> bytes:
    return opening * depth + inner + closing * depth


def in_shape(text: bytes) -> bytes:
    return b'{"seed":7,"scheme":"normal","shape":' + text + b"}"


def huge_shape() -> bytes:
    return in_shape(b"[" + b",".join([b"1"] * 300_000) + b"]")  # ~600 KB, under the body limit


def long_name(length: int) -> bytes:
    return shorthand(name="a" * length)


def padded(size: int) -> bytes:
    """A valid request padded to ``size`` bytes with an unknown field."""
    head = shorthand()[:-1] + b',"padding":"'
    return head + b"x" * (size - len(head) - 2) + b'"}'


def tensors(*entries: dict[str, Any]) -> bytes:
    return js({"seed": 7, "tensors": list(entries)})


def encoded(text: str, codec: str) -> bytes:
    return text.encode(codec)


PLAIN = shorthand().decode()


# ----------------------------------------------------------------------------- building uploads


def safetensors(header: Any, data: bytes = b"", length: int | None = None) -> bytes:
    """A safetensors file whose header may lie about anything."""
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def f32(name: str, dims: list[int], nbytes: int | None = None, **changes: Any) -> dict[str, Any]:
    """A float32 tensor's header entry, its byte count right unless ``nbytes`` or ``changes`` lie."""
    size = 4
    for dim in dims:
        size *= dim
    entry = {"dtype": "F32", "shape": dims, "data_offsets": [0, size if nbytes is None else nbytes]}
    return {name: {**entry, **changes}}


class _Mkdir:
    """Unpickling this creates UNPICKLED: proof that something unpickled it."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(UNPICKLED),))


def pickled() -> bytes:
    return pickle.dumps({"weight": _Mkdir()}, protocol=2)


def torch_zip() -> bytes:
    """What ``torch.save`` writes: a zip whose data.pkl is a pickle."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickled())
        archive.writestr("archive/version", "3\n")
    return buffer.getvalue()


def hostile_files(name: str) -> dict[str, Callable[[], bytes]]:
    """Files that are not safetensors, or safetensors whose header lies; ``name`` is the tensor
    the endpoint looks for."""
    return {
        "text": lambda: b"hello, this is not a safetensors file",
        "png": lambda: b"\x89PNG\r\n\x1a\n" + bytes(64),
        "npy": lambda: b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" + bytes(24),
        "pickle": pickled,
        "torch-zip-pickle": torch_zip,
        "empty": lambda: b"",
        "shorter-than-8-bytes": lambda: b"\x01\x02\x03",
        "header-length-beyond-file": lambda: safetensors(f32(name, [2, 3]), bytes(24), length=1 << 20),
        "header-length-2**64-1": lambda: safetensors({}, length=2**64 - 1),
        "header-not-json": lambda: struct.pack("<Q", 4) + b"{{{{",
        "header-not-utf8": lambda: struct.pack("<Q", 4) + b"\xff\xfe\xfd\xfc",
        "header-nested-100k": lambda: struct.pack("<Q", 200_000) + nested(100_000),
        "header-not-an-object": lambda: safetensors([1, 2, 3]),
        "offsets-beyond-data": lambda: safetensors(f32(name, [2, 3]), bytes(8)),
        "offsets-negative": lambda: safetensors(f32(name, [2, 3], data_offsets=[-24, 0]), bytes(24)),
        "offsets-beyond-2**64": lambda: safetensors(f32(name, [2, 3], data_offsets=[2**70, 2**70 + 24]), bytes(24)),
        "offsets-overlap": lambda: safetensors({**f32(name, [2]), **f32("other", [2])}, bytes(8)),  # both at [0, 8]
        "dtype-unknown": lambda: safetensors(f32(name, [2, 3], dtype="F128"), bytes(24)),
        "shape-huge": lambda: safetensors(f32(name, [2**62, 2**62], nbytes=24), bytes(24)),
        "shape-huge-consistent": lambda: safetensors(f32(name, [2**31, 2**31, 2**31]), bytes(24)),
        "shape-booleans": lambda: safetensors(f32(name, [2, 3], shape=[True, 6]), bytes(24)),
        "tensor-extra-key": lambda: safetensors(f32(name, [2, 3], path="/etc/passwd"), bytes(24)),
        "metadata-not-strings": lambda: safetensors({"__metadata__": {"format": 1}, **f32(name, [2, 3])}, bytes(24)),
        "bytes-after-the-data": lambda: safetensors(f32(name, [2, 3]), bytes(32)),
        "header-integer-of-5000-digits": lambda: raw_header(
            b'{"%s":{"dtype":"F32","shape":[%s],"data_offsets":[0,24]}}' % (name.encode(), b"1" * 5000), bytes(24)
        ),
        "header-names-a-tensor-twice": lambda: raw_header(
            b'{"%s":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},'
            b'"%s":{"dtype":"F32","shape":[6],"data_offsets":[0,24]}}' % (name.encode(), name.encode()),
            bytes(24),
        ),
    }


def raw_header(text: bytes, data: bytes) -> bytes:
    """A safetensors file with ``text`` as its header, as is."""
    return struct.pack("<Q", len(text)) + text + data


def b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


def with_upload(base: dict[str, Any], key: str, blob: Callable[[], bytes]) -> Callable[[], bytes]:
    return lambda: js({**base, key: b64(blob())})


NETWORK = {"seed": 0, "input_width": 3, "layers": [{"width": 3, "scheme": "orthogonal"}], "batch": 2}
LSUV = {"seed": 0, "input_width": 3, "layers": [{"width": 3}], "batch": 2}
PRETRAIN = {"seed": 0, "input_width": 3, "layers": [{"width": 2}], "epochs": 1}
UPLOADS = (  # (endpoint, field, body without the upload)
    ("/init", "pretrained", {"seed": 7, "shape": [2, 3], "scheme": "normal"}),
    ("/diagnostics/network", "input", NETWORK),
    ("/init/lsuv", "input", LSUV),
    ("/pretrain", "data", PRETRAIN),
)
EVERY_ENDPOINT = (
    "not-base64",
    "pickle",
    "torch-zip-pickle",
    "png",
    "header-length-beyond-file",
    "offsets-beyond-data",
    "header-integer-of-5000-digits",
    "header-names-a-tensor-twice",
)


def _uploads() -> list[Case]:
    cases = []
    for target, key, base in UPLOADS:
        files = hostile_files("weight" if key == "pretrained" else key)
        names = list(files) if key == "pretrained" else [name for name in EVERY_ENDPOINT if name in files]
        bodies: dict[str, Body] = {name: with_upload(base, key, files[name]) for name in names}
        for name, text in (("not-base64", "!!! not base64 !!!"), ("base64-with-spaces", "AAAA AAAA"),
                           ("base64-urlsafe-alphabet", "-_-_"), ("a-number", 5)):  # fmt: skip
            bodies[name] = js({**base, key: text})
        prefix = key + target.replace("/", "-")
        cases += [Case(f"{prefix}-{name}", 422, "invalid-request", key, target=target, body=body)
                  for name, body in bodies.items()]  # fmt: skip
    many_rows = safetensors(f32("input", [4097, 3]), bytes(4097 * 12))  # batch allows 4096
    cases.append(Case("input-more-rows-than-a-batch", 422, "invalid-request", "input", target="/diagnostics/network",
                      body=with_upload(NETWORK, "input", lambda: many_rows)))  # fmt: skip
    return cases


# ----------------------------------------------------------------------------- the corpus


def post(name: str, status: int, kind: str, field: str | None = None, body: Body = b"", **options: Any) -> Case:
    return Case(name, status, kind, field, body=body, **options)


def get(
    name: str,
    status: int,
    kind: str,
    field: str | None = None,
    target: str = "/init",
    headers: Any = (),
    **options: Any,
) -> Case:
    return Case(name, status, kind, field, method="GET", target=target, headers=headers, **options)


GET_PLAIN = "/init?shape=2,3&scheme=normal&seed=7"
LINEAR = {"type": "linear", "name": "fc", "in_features": 2, "out_features": 2}
NAMES = {
    "rtl-mark": "a\u200fb",
    "rtl-override": "\u202egnp.exe",
    "nul": "a\x00b",
    "zero-width-space": "fc\u200b.weight",
    "zero-width-joiner": "fc\u200d.weight",
    "bom": "\ufeffweight",
    "no-break-space": "fc\u00a0weight",
    "c1-control": "fc\u0085weight",
    "invisible-tag-letters": "weight\U000e0041\U000e0042",
    "dot-dot-etc-passwd": "../../etc/passwd",
    "absolute-path": "/abs",
    "backslash": "a\\b",
    "windows-drive": "C:\\x",
    "dot": ".",
    "newline": "fc\n.weight",
    "empty": "",
    "201-characters": "a" * 201,
    "reserved-metadata": "__metadata__",
}

# fmt: off
CASES: list[Case] = [
    # --- JSON syntax and encoding
    # A key given twice: JSON readers keep the first or the last value, or refuse; so does this one.
    post("duplicate-key-seed", 422, "invalid-request", "seed", body=b'{"seed": 0, ' + shorthand()[1:]),
    post("duplicate-key-in-a-scheme", 422, "invalid-request", "scheme.std",
         body=b'{"shape": [2], "scheme": {"name": "normal", "std": 1, "std": 2}}'),
    post("duplicate-key-in-a-tensor", 422, "invalid-request", "tensors.1.shape",
         body=b'{"tensors": [{"name": "a", "shape": [2], "scheme": "normal"},'
              b' {"name": "b", "shape": [2], "shape": [3], "scheme": "normal"}]}'),
    post("duplicate-key-on-diagnostics", 422, "invalid-request", "seed", target="/diagnostics",
         body=b'{"seed": 0, ' + shorthand()[1:]),
    post("duplicate-key-on-pretrain", 422, "invalid-request", "epochs", target="/pretrain",
         body=b'{"epochs": 1, ' + js(PRETRAIN)[1:]),
    post("objects-100k-before-validation", 413, "body-too-large",
         body=lambda: b'{"tensors": [' + b",".join([b"{}"] * 100_001) + b"]}"),
    post("nested-arrays-100k", 400, "malformed-json", body=partial(nested, 100_000)),
    post("nested-objects-100k-past-the-object-limit", 413, "body-too-large",
         body=partial(nested, 100_000, b'{"a":', b"}", b"1")),
    post("nested-objects-20k", 400, "malformed-json", body=partial(nested, 20_000, b'{"a":', b"}", b"1")),
    post("values-300k-in-one-array", 413, "body-too-large",
         body=lambda: b'{"scheme": "zeros", "shape": [' + b",".join([b"null"] * 300_000) + b"]}"),
    post("values-200k-in-shape", 422, "invalid-request", "shape",
         body=lambda: b'{"scheme": "zeros", "shape": [' + b",".join([b"1"] * 200_000) + b"]}"),
    post("long-string-unterminated", 400, "malformed-json",
         body=lambda: b'{"scheme": "zeros", "shape": [2], "pretrained": "' + b"A" * 600_000),
    post("long-string-with-a-control-character", 400, "malformed-json",
         body=lambda: b'{"scheme": "zeros", "shape": [2], "pretrained": "' + b"A" * 600_000 + b'\x01"}'),
    post("long-string-of-escapes-only", 413, "body-too-large",
         body=lambda: b'{"scheme": "zeros", "shape": [2], "pretrained": "' + b"\\n" * 300_000 + b'"}'),
    post("long-string-with-a-bad-escape", 400, "malformed-json",
         body=lambda: b'{"scheme": "zeros", "shape": [2], "pretrained": "' + b"A" * 600_000 + b'\\q"}'),
    post("strings-4k-of-200-bytes-in-tensors", 422, "invalid-request", "tensors.0",
         body=lambda: b'{"tensors": [' + b",".join([b'"' + b"a" * 200 + b'"'] * 4_000) + b"]}"),
    post("long-key", 422, "invalid-request",
         body=lambda: b'{"scheme": "zeros", "shape": [2], "' + b"k" * 600_000 + b'": 1}'),
    post("long-base64-with-escaped-slashes-not-a-file", 422, "invalid-request", "pretrained",
         body=lambda: b'{"scheme": "zeros", "shape": [2], "pretrained": "' + b"AB\\/+" * 150_000 + b'"}'),
    post("nested-arrays-100k-in-shape", 400, "malformed-json", body=lambda: in_shape(nested(100_000))),
    # MAX_DEPTH (256 levels, the outer object counted): the same verdict whatever the recursion limit
    post("nested-arrays-995", 400, "malformed-json", body=nested(995)),
    post("nested-arrays-900-in-shape", 400, "malformed-json", body=in_shape(nested(900))),
    post("nested-arrays-256-in-shape-past-the-depth-limit", 400, "malformed-json", body=in_shape(nested(256))),
    post("nested-arrays-255-in-shape-at-the-depth-limit", 422, "invalid-request", "shape.0",
         body=in_shape(nested(255))),
    post("empty-body", 400, "malformed-json"),
    post("whitespace-body", 400, "malformed-json", body=b" \r\n\t "),
    post("body-null", 422, "invalid-request", "body", body=b"null"),
    post("body-array", 422, "invalid-request", "body", body=b"[1, 2, 3]"),
    post("body-string", 422, "invalid-request", "body", body=b'"seed=7"'),
    post("body-number", 422, "invalid-request", "body", body=b"7"),
    post("body-NaN", 422, "invalid-request", "body", body=b"NaN"),
    post("truncated-json-in-a-key", 400, "malformed-json", body=PLAIN[:25].encode()),
    post("truncated-json-in-an-array", 400, "malformed-json", body=b'{"seed":7,"shape":[2,'),
    post("trailing-garbage", 400, "malformed-json", body=shorthand() + b" }"),
    post("two-documents", 400, "malformed-json", body=shorthand() + shorthand()),
    post("single-quotes", 400, "malformed-json", body=PLAIN.replace('"', "'").encode()),
    post("comment", 400, "malformed-json", body=b"/* seed */" + shorthand()),
    post("invalid-utf8", 400, "malformed-json", body=shorthand(name="@@").replace(b"@@", b"\xff\xfe")),
    post("overlong-utf8-slash", 400, "malformed-json", body=shorthand(name="@@").replace(b"@@", b"a\xc0\xafb")),
    post("utf16-with-bom", 400, "malformed-json", body=encoded(PLAIN, "utf-16")),
    post("utf16-without-bom", 400, "malformed-json", body=encoded(PLAIN, "utf-16-le")),
    post("utf32-with-bom", 400, "malformed-json", body=encoded(PLAIN, "utf-32")),
    post("nul-byte-body", 400, "malformed-json", body=b"\x00"),
    post("charset-latin1-non-ascii", 400, "malformed-json",
         body=shorthand(name="@@").replace(b"@@", "caf\u00e9".encode("latin-1")),
         headers=(("Content-Type", "application/json; charset=latin-1"),)),
    # --- media types
    post("content-type-text-plain", 415, "unsupported-media-type", body=shorthand(),
         headers=(("Content-Type", "text/plain"),)),
    post("content-type-form", 415, "unsupported-media-type", body=b"seed=7&shape=2,3&scheme=normal",
         headers=(("Content-Type", "application/x-www-form-urlencoded"),)),
    post("content-type-multipart", 415, "unsupported-media-type",
         body=b'--x\r\nContent-Disposition: form-data; name="seed"\r\n\r\n7\r\n--x--\r\n',
         headers=(("Content-Type", "multipart/form-data; boundary=x"),)),
    post("content-type-missing", 415, "unsupported-media-type", body=shorthand(), headers=()),
    post("content-type-json-lookalike", 415, "unsupported-media-type", body=shorthand(),
         headers=(("Content-Type", "application/jsonx"),)),
    # --- sizes and slow bodies
    post("body-over-the-limit-declared", 413, "body-too-large", body=partial(padded, BODY_LIMIT + 1)),
    post("body-over-the-limit-chunked", 413, "body-too-large", body=partial(padded, BODY_LIMIT + 1),
         delivery=CHUNKED),
    post("content-length-claims-a-terabyte", 413, "body-too-large", body=shorthand(),
         headers=(*JSON_TYPE, ("Content-Length", str(10**12)))),
    post("body-stalls-short-of-content-length", 408, "body-timeout", body=shorthand(), delivery=STALLED),
    post("body-trickles-a-byte-per-200ms", 408, "body-timeout", body=shorthand(), delivery=TRICKLE),
    post("megabyte-name-within-the-limit", 422, "invalid-request", "name", body=partial(long_name, 900_000)),
    post("megabyte-name-over-the-limit", 413, "body-too-large", body=partial(long_name, BODY_LIMIT)),
    post("chunked-within-the-limit-invalid", 422, "invalid-request", "padding", body=partial(padded, 200_000),
         delivery=CHUNKED),
    # --- shapes
    post("dim-2**63", 422, "invalid-request", "shape.0", body=shorthand(shape=[2**63, 3])),
    post("dim-2**64", 422, "invalid-request", "shape.0", body=shorthand(shape=[2**64, 3])),
    post("dim-10**100", 422, "invalid-request", "shape.1", body=shorthand(shape=[2, 10**100])),
    post("dim-negative", 422, "invalid-request", "shape.0", body=shorthand(shape=[-2, 3])),
    post("dim-zero", 422, "invalid-request", "shape.1", body=shorthand(shape=[2, 0])),
    post("dim-2**40+1", 422, "invalid-request", "shape.0", body=shorthand(shape=[2**40 + 1])),
    post("elements-overflow-2**80", 413, "too-many-elements", body=shorthand(shape=[65536] * 5)),
    post("elements-overflow-2**320", 413, "too-many-elements", body=shorthand(shape=[2**40] * 8)),
    post("elements-over-the-limit", 413, "too-many-elements", body=shorthand(shape=[MAX_ELEMENTS + 1])),
    post("elements-over-the-limit-in-4096-tensors", 413, "too-many-elements",
         body=tensors(*({"name": f"t{i}", "shape": [2**40], "scheme": "zeros"} for i in range(4096)))),
    post("rank-9", 422, "invalid-request", "shape", body=shorthand(shape=[1] * 9)),
    post("shape-300k-numbers-past-the-value-limit", 413, "body-too-large", body=huge_shape),
    post("shape-a-string", 422, "invalid-request", "shape", body=shorthand(shape="2,3")),
    post("shape-an-object", 422, "invalid-request", "shape", body=shorthand(shape={"0": 2})),
    post("dim-a-string", 422, "invalid-request", "shape.0", body=shorthand(shape=["2", 3])),
    post("dim-true", 422, "invalid-request", "shape.0", body=shorthand(shape=[True, 2])),
    post("dim-a-fraction", 422, "invalid-request", "shape.1", body=shorthand(shape=[2, 2.5])),
    post("dim-NaN", 422, "invalid-request", "shape.0", body=in_shape(b"[NaN]")),
    post("dim-1e999", 422, "invalid-request", "shape.0", body=in_shape(b"[1e999]")),
    post("dim-null", 422, "invalid-request", "shape.0", body=in_shape(b"[null, 3]")),
    # --- numbers where numbers go
    post("std-NaN", 422, "invalid-request", "scheme.std", body=raw_scheme("normal", "std", b"NaN")),
    post("std-Infinity", 422, "invalid-request", "scheme.std", body=raw_scheme("normal", "std", b"Infinity")),
    post("std--Infinity", 422, "invalid-request", "scheme.std", body=raw_scheme("normal", "std", b"-Infinity")),
    post("std-1e999", 422, "invalid-request", "scheme.std", body=raw_scheme("normal", "std", b"1e999")),
    post("std-10**400-integer", 422, "invalid-request", "scheme.std",
         body=raw_scheme("normal", "std", b"1" + b"0" * 400)),
    post("gain-NaN", 422, "invalid-request", "scheme.gain", body=raw_scheme("xavier_uniform", "gain", b"NaN")),
    post("a-Infinity", 422, "invalid-request", "scheme.a", body=raw_scheme("uniform", "a", b"Infinity")),
    post("b--1e999", 422, "invalid-request", "scheme.b", body=raw_scheme("uniform", "b", b"-1e999")),
    post("trunc-a-NaN", 422, "invalid-request", "scheme.a", body=raw_scheme("truncated_normal", "a", b"NaN")),
    post("seed-NaN", 422, "invalid-request", "seed", body=raw_shorthand("seed", b"NaN")),
    post("seed-Infinity", 422, "invalid-request", "seed", body=raw_shorthand("seed", b"Infinity")),
    post("seed-1e999", 422, "invalid-request", "seed", body=raw_shorthand("seed", b"1e999")),
    post("seed-1.5", 422, "invalid-request", "seed", body=shorthand(seed=1.5)),
    post("seed-1e20", 422, "invalid-request", "seed", body=raw_shorthand("seed", b"1e20")),
    post("seed--1", 422, "invalid-request", "seed", body=shorthand(seed=-1)),
    post("seed-2**64", 422, "invalid-request", "seed", body=shorthand(seed=2**64)),
    post("seed-10**5000", 400, "malformed-json", body=raw_shorthand("seed", b"1" + b"0" * 5000)),  # parser limit
    # --- strings, booleans and nulls where numbers go, numbers where strings go
    post("seed-true", 422, "invalid-request", "seed", body=shorthand(seed=True)),
    post("seed-a-string", 422, "invalid-request", "seed", body=shorthand(seed="7")),
    post("seed-an-array", 422, "invalid-request", "seed", body=shorthand(seed=[7])),
    post("std-a-string", 422, "invalid-request", "scheme.std", body=shorthand(scheme={"name": "normal", "std": "1"})),
    post("std-true", 422, "invalid-request", "scheme.std", body=shorthand(scheme={"name": "normal", "std": True})),
    post("fan-in-true", 422, "invalid-request", "fan_in", body=shorthand(scheme="xavier_uniform", fan_in=True)),
    post("name-a-number", 422, "invalid-request", "name", body=shorthand(name=5)),
    post("scheme-a-number", 422, "invalid-request", "scheme", body=shorthand(scheme=5)),
    post("scheme-null-with-shape", 422, "invalid-request", "body", body=shorthand(scheme=None)),
    post("dtype-a-number", 422, "invalid-request", "dtype", body=shorthand(dtype=32)),
    post("mode-a-number", 422, "invalid-request", "scheme.mode",
         body=shorthand(scheme={"name": "kaiming_normal", "mode": 1})),
    post("bias-a-number", 422, "invalid-request", "layers.0.bias", body=js({"layers": [{**LINEAR, "bias": 1}]})),
    # --- names of things
    post("scheme-unknown", 422, "invalid-request", "scheme", body=shorthand(scheme="he_uniformm")),
    post("scheme-object-unknown", 422, "invalid-request", "scheme", body=shorthand(scheme={"name": "x", "std": 1})),
    post("scheme-object-without-name", 422, "invalid-request", "scheme", body=shorthand(scheme={"std": 1})),
    post("scheme-lone-surrogate", 422, "invalid-request", "scheme", body=shorthand(scheme="\ud800")),
    post("field-unknown", 422, "invalid-request", "sede", body=shorthand(sede=7)),
    post("field-unknown-in-a-tensor", 422, "invalid-request", "tensors.0.init",
         body=tensors({"name": "w", "shape": [2], "scheme": "zeros", "init": "zeros"})),
    post("field-unknown-in-a-scheme", 422, "invalid-request", "scheme.stdev",
         body=shorthand(scheme={"name": "normal", "stdev": 1})),
    post("field-unknown-in-a-preset", 422, "invalid-request", "model.n_head",
         body=js({"model": {"preset": "gpt2", "n_head": 12}})),
    *(post(f"name-{label}", 422, "invalid-request", "name", body=shorthand(name=value))
      for label, value in NAMES.items()),
    post("name-lone-surrogate", 422, "invalid-request", "name", body=shorthand(name="\udc00")),
    post("tensor-name-path", 422, "invalid-request", "tensors.0.name",
         body=tensors({"name": "../weights.bin", "shape": [2], "scheme": "zeros"})),
    post("layer-name-path", 422, "invalid-request", "layers.0.name",
         body=js({"layers": [{**LINEAR, "name": "/etc/passwd"}]})),
    post("duplicate-tensor-names", 422, "invalid-request", "tensors.1.name",
         body=tensors({"name": "w", "shape": [2], "scheme": "zeros"},
                      {"name": "w", "shape": [3], "scheme": "ones"})),
    post("duplicate-shorthand-and-tensor-name", 422, "invalid-request", "tensors.0.name",
         body=js({"seed": 7, "shape": [2], "scheme": "zeros", "tensors": [{"name": "weight", "shape": [2],
                                                                          "scheme": "ones"}]})),
    # --- schemes whose plans used to allocate from the dimensions before any size check (500s)
    post("eye-2**40-square", 422, "invalid-request", "shape", body=shorthand(shape=[2**40, 2**40], scheme="eye")),
    post("dirac-2**40-groups", 422, "invalid-request", "shape",
         body=shorthand(shape=[2**40, 1, 1], scheme={"name": "dirac", "groups": 2**40})),
    post("hadamard-identity-2**40-square", 422, "invalid-request", "shape",
         body=shorthand(shape=[2**40, 2**40], scheme="hadamard_identity")),
    post("zero-mlp-preset-2**20-wide", 422, "invalid-request", "model",
         body=js({"model": {"preset": "zero_mlp", "widths": [2**20, 2**20]}})),
    # --- GET /init query strings
    get("get-dim-20-digits", 422, "invalid-request", "shape.0", "/init?shape=99999999999999999999&scheme=normal"),
    get("get-dim-1e9", 422, "invalid-request", "shape", "/init?shape=1e9&scheme=normal"),
    get("get-dim-5000-digits", 422, "invalid-request", "shape", "/init?scheme=normal&shape=" + "9" * 5000),
    get("get-seed-5000-digits", 422, "invalid-request", "seed", "/init?shape=2&scheme=normal&seed=" + "9" * 5000),
    get("get-seed-negative", 422, "invalid-request", "seed", "/init?shape=2&scheme=normal&seed=-1"),
    get("get-shape-repeated", 422, "invalid-request", "shape", "/init?shape=2,3&shape=4,5&scheme=normal&seed=7"),
    get("get-seed-repeated", 422, "invalid-request", "seed", "/init?shape=2,3&scheme=normal&seed=7&seed=8"),
    get("get-param-repeated", 422, "invalid-request", "scheme.std", "/init?shape=2,3&scheme=normal&std=1&std=2"),
    get("get-std-nan", 422, "invalid-request", "scheme.std", "/init?shape=2,3&scheme=normal&std=nan"),
    get("get-std-inf", 422, "invalid-request", "scheme.std", "/init?shape=2,3&scheme=normal&std=-inf"),
    # The query string reads as JSON would: no underscores in numbers, no empty list items.
    get("get-std-underscore", 422, "invalid-request", "scheme.std", "/init?shape=2,3&scheme=normal&std=1_0"),
    get("get-seed-underscore", 422, "invalid-request", "seed", "/init?shape=2,3&scheme=normal&seed=1_000"),
    get("get-shape-empty-item", 422, "invalid-request", "shape", "/init?shape=4,,4&scheme=normal"),
    get("get-shape-trailing-comma", 422, "invalid-request", "shape", "/init?shape=4,4,&scheme=normal"),
    get("get-scheme-missing", 422, "invalid-request", "scheme", "/init?shape=2,3"),
    get("get-shape-missing", 422, "invalid-request", "shape", "/init?scheme=normal"),
    get("get-scheme-unknown", 422, "invalid-request", "scheme", "/init?shape=2,3&scheme=%00"),
    get("get-param-unknown", 422, "invalid-request", "scheme.%FF", "/init?shape=2,3&scheme=normal&%25FF=1"),
    get("get-name-path", 422, "invalid-request", "name", "/init?shape=2,3&scheme=normal&name=..%2F..%2Fetc%2Fpasswd"),
    get("get-start-superscript-two", 422, "invalid-request", "start", "/init?shape=4&scheme=normal&start=%C2%B2"),
    get("get-start-arabic-digit", 422, "invalid-request", "start", "/init?shape=4&scheme=normal&start=%D9%A3"),
    get("get-stop-5000-digits", 422, "invalid-request", "stop", "/init?shape=4&scheme=normal&stop=" + "9" * 5000),
    get("get-stop-beyond", 422, "invalid-request", "stop", "/init?shape=4&scheme=normal&stop=5"),
    get("get-query-100kb", 422, "invalid-request", "scheme.pad", "/init?shape=2&scheme=normal&pad=" + "x" * 100_000,
        wire=False),
    post("post-shard-start-superscript", 422, "invalid-request", "start", body=shorthand(),
         target="/init?start=%C2%B2"),
    # --- headers
    get("range-33-ranges", 416, "too-many-ranges", target=GET_PLAIN,
        headers=(("Range", "bytes=" + "0-0," * 32 + "0-0"),)),
    get("range-5000-digit-start", 416, "range-not-satisfiable", target=GET_PLAIN,
        headers=(("Range", "bytes=" + "9" * 5000 + "-"),)),
    get("range-beyond-the-file", 416, "range-not-satisfiable", target=GET_PLAIN, headers=(("Range", "bytes=99999-"),)),
    get("accept-garbage", 406, "not-acceptable", target=GET_PLAIN, headers=(("Accept", "garbage"),)),
    get("accept-q-nan", 406, "not-acceptable", target=GET_PLAIN, headers=(("Accept", "*/*;q=nan"),)),
    get("accept-q-infinity", 406, "not-acceptable", target=GET_PLAIN, headers=(("Accept", "*/*;q=1e999"),)),
    get("accept-everything-at-q0", 406, "not-acceptable", target=GET_PLAIN, headers=(("Accept", "*/*;q=0"),)),
    get("accept-5000-commas", 406, "not-acceptable", target=GET_PLAIN, headers=(("Accept", "," * 5000),)),
    post("accept-html-on-post", 406, "not-acceptable", body=shorthand(), headers=(*JSON_TYPE, ("Accept", "text/html"))),
    post("if-none-match-star-on-post", 412, "precondition-failed", body=shorthand(),
         headers=(*JSON_TYPE, ("If-None-Match", "*"))),
    # --- methods and paths
    Case("put-init", 405, "about:blank", method="PUT", body=shorthand()),
    Case("patch-init", 405, "about:blank", method="PATCH", body=shorthand()),
    Case("delete-init", 405, "about:blank", method="DELETE", headers=()),
    Case("trace-init", 405, "about:blank", method="TRACE", headers=()),
    Case("unknown-method", 405, "about:blank", method="BREW", headers=(), wire=False),
    Case("post-healthz", 405, "about:blank", body=shorthand(), target="/healthz"),
    get("unknown-path", 404, "about:blank", target="/weights"),
    get("path-traversal", 404, "about:blank", target="/../../etc/passwd"),
    get("path-traversal-encoded", 404, "about:blank", target="/%2e%2e/%2e%2e/etc/passwd"),
    get("path-5000-characters", 404, "about:blank", target="/" + "a" * 5000),
    get("pretrain-job-encoded-traversal", 404, "about:blank", target="/pretrain/..%2F..%2Fetc"),
    get("pretrain-job-encoded-absolute", 404, "about:blank", target="/pretrain/%2Fetc%2Fpasswd"),
    get("pretrain-job-dot-dot", 404, "unknown-job", target="/pretrain/.."),
    get("pretrain-job-nul", 404, "unknown-job", target="/pretrain/%00"),
    get("pretrain-job-invalid-utf8", 404, "unknown-job", target="/pretrain/%FF%FE"),
    get("pretrain-job-upper-case-hex", 404, "unknown-job", target="/pretrain/" + "A" * 32),
    get("pretrain-artifact-traversal", 404, "about:blank", target="/pretrain/..%2F..%2Fetc/artifact"),
    get("pretrain-artifact-dot-dot", 404, "unknown-job", target="/pretrain/../artifact"),
    Case("delete-pretrain-traversal", 404, "about:blank", method="DELETE", target="/pretrain/..%2F..%2Fetc",
         headers=()),
    Case("delete-pretrain-dot-dot", 404, "unknown-job", method="DELETE", target="/pretrain/..", headers=()),
    get("schemes-traversal", 404, "about:blank", target="/schemes/..%2F..%2Fetc%2Fpasswd"),
    get("schemes-unknown", 404, "unknown-scheme", target="/schemes/%00"),
    # --- the other endpoints
    post("network-width-2**64", 422, "invalid-request", "input_width", target="/diagnostics/network",
         body=js({**NETWORK, "input_width": 2**64})),
    post("network-repeat-10**100", 422, "invalid-request", "layers.0.repeat", target="/diagnostics/network",
         body=js({**NETWORK, "layers": [{"width": 3, "scheme": "orthogonal", "repeat": 10**100}]})),
    post("network-batch-NaN", 422, "invalid-request", "batch", target="/diagnostics/network",
         body=js(NETWORK).replace(b'"batch": 2', b'"batch": NaN')),
    post("network-layers-empty", 422, "invalid-request", "layers", target="/diagnostics/network",
         body=js({**NETWORK, "layers": []})),
    post("network-scheme-unknown", 422, "invalid-request", "layers.0.scheme", target="/diagnostics/network",
         body=js({**NETWORK, "layers": [{"width": 3, "scheme": "nope"}]})),
    post("lsuv-tolerance-NaN", 422, "invalid-request", "tolerance", target="/init/lsuv",
         body=js(LSUV)[:-1] + b', "tolerance": NaN}'),
    post("lsuv-target-variance-1e999", 422, "invalid-request", "target_variance", target="/init/lsuv",
         body=js(LSUV)[:-1] + b', "target_variance": 1e999}'),
    post("pretrain-learning-rate-NaN", 422, "invalid-request", "learning_rate", target="/pretrain",
         body=js({**PRETRAIN, "data": ""})[:-1] + b', "learning_rate": NaN}'),
    post("pretrain-data-missing", 422, "invalid-request", "data", target="/pretrain", body=js(PRETRAIN)),
    post("pretrain-width-true", 422, "invalid-request", "input_width", target="/pretrain",
         body=js({**PRETRAIN, "input_width": True, "data": ""})),
    post("diagnostics-elements-2**80", 413, "too-many-elements", target="/diagnostics",
         body=shorthand(shape=[2**40, 2**40])),
    post("diagnostics-nested-100k", 400, "malformed-json", target="/diagnostics", body=partial(nested, 100_000)),
    # --- uploads: base64 safetensors files, never unpickled, opened as paths or executed
    *_uploads(),
]

# Requests that look hostile but are served on purpose, with the plain request they equal.
PLAIN_POST = Case("plain-post", 200, body=shorthand())
PLAIN_GET = Case("plain-get", 200, method="GET", target=GET_PLAIN, headers=())
ANSWERED: list[Case] = [
    Case("dims-as-integral-floats", 200, body=shorthand(shape=[2.0, 3.0]), same_as=PLAIN_POST),
    Case("seed-as-an-integral-float", 200, body=raw_shorthand("seed", b"7.0"), same_as=PLAIN_POST),
    Case("seed-as-an-exponent", 200, body=raw_shorthand("seed", b"0.7e1"), same_as=PLAIN_POST),
    Case("utf8-byte-order-mark", 200, body=b"\xef\xbb\xbf" + shorthand(), same_as=PLAIN_POST),
    Case("charset-latin1-on-ascii", 200, body=shorthand(), same_as=PLAIN_POST,
         headers=(("Content-Type", "application/json; charset=latin-1"),)),
    Case("content-type-upper-case", 200, body=shorthand(), same_as=PLAIN_POST,
         headers=(("Content-Type", "APPLICATION/JSON"),)),
    Case("content-type-plus-json", 200, body=shorthand(), same_as=PLAIN_POST,
         headers=(("Content-Type", "application/vnd.initw+json"),)),
    Case("body-chunked", 200, body=shorthand(), delivery=CHUNKED, same_as=PLAIN_POST),
    Case("body-chunked-padded-with-spaces", 200, body=lambda: shorthand() + b" " * 300_000, delivery=CHUNKED,
         same_as=PLAIN_POST),
    Case("if-none-match-garbage-on-post", 200, body=shorthand(), same_as=PLAIN_POST,
         headers=(*JSON_TYPE, ("If-None-Match", 'garbage, "unterminated, W/'))),
    Case("range-malformed", 200, method="GET", target=GET_PLAIN, headers=(("Range", "bytes=abc"),), same_as=PLAIN_GET),
    Case("range-reversed", 200, method="GET", target=GET_PLAIN, headers=(("Range", "bytes=9-1"),), same_as=PLAIN_GET),
    Case("range-other-unit", 200, method="GET", target=GET_PLAIN, headers=(("Range", "items=0-1"),), same_as=PLAIN_GET),
    Case("range-arabic-digits", 200, method="GET", target=GET_PLAIN, headers=(("Range", "bytes=\u0663-\u0665"),),
         same_as=PLAIN_GET),
    Case("range-5000-digit-end-is-the-whole-file", 206, method="GET", target=GET_PLAIN,
         headers=(("Range", "bytes=0-" + "9" * 5000),), same_as=PLAIN_GET),
    Case("range-with-garbage-if-range", 200, method="GET", target=GET_PLAIN,
         headers=(("Range", "bytes=0-9"), ("If-Range", "garbage")), same_as=PLAIN_GET),
    Case("if-none-match-garbage", 200, method="GET", target=GET_PLAIN, same_as=PLAIN_GET,
         headers=(("If-None-Match", ",,, W/ garbage " * 100),)),
    Case("accept-with-junk-parameters", 200, method="GET", target=GET_PLAIN, same_as=PLAIN_GET,
         headers=(("Accept", "application/octet-stream;;;=;q=1;level=x"),)),
]
# fmt: on

# A path-like string is a tensor name, not a path: it is served as one and no file is touched.
PATH_LIKE_NAME = "a/../../etc/passwd"
PATH_LIKE = Case("name-path-like-but-valid", 200, body=shorthand(name=PATH_LIKE_NAME))

# Visible non-ASCII names are names (docs/ALGORITHM.md section 2: the key takes their UTF-8 bytes, as
# given); the safetensors header writes them JSON-escaped, and no HTTP header carries them raw.
UNICODE_NAMES = {
    "emoji": "\U0001f600",
    "combining-accent": "e\u0301",  # NFD; "\u00e9" (NFC) is another name
    "fullwidth": "\uff57\uff45\uff49\uff47\uff48\uff54",
    "golden-name-unicode": "blocks.0.attn.w\u00e9ight/\U0001f642",
}
UNICODE = [
    *(Case(f"name-{label}-valid", 200, body=shorthand(name=value)) for label, value in UNICODE_NAMES.items()),
    Case("name-emoji-raw-utf8-valid", 200,
         body=js({"seed": 7, "shape": [2, 3], "scheme": "normal", "name": "w\U0001f600"}, ascii_only=False)),
]  # fmt: skip
