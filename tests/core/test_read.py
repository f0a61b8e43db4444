"""core.read: uploaded safetensors files are parsed, never trusted; every malformed field is named."""

import base64
import binascii
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save

from service.core import read as read_module
from service.core.errors import InitError
from service.core.read import from_base64, read


def blob(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


def test_reads_what_the_stock_writer_writes_byte_for_byte():
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1.5, -2.0], dtype=np.float16),
               "n": np.array(7, dtype=np.int64)}  # fmt: skip
    stored, metadata = read(save(tensors, metadata={"k": "v"}))
    assert metadata == {"k": "v"}
    for name, array in tensors.items():
        assert stored[name].shape == array.shape and stored[name].data == array.tobytes()
        np.testing.assert_array_equal(stored[name].float64(), array.astype(np.float64))


def test_every_safetensors_dtype_is_read_and_the_integers_as_values():
    tensors = {"mask": np.array([True, False, True]), "ids": np.array([[-3, 2**31 - 1]], dtype=np.int32),
               "u8": np.arange(4, dtype=np.uint8)}  # fmt: skip
    stored, _ = read(save(tensors))
    assert {name: (s.dtype, s.readable) for name, s in stored.items()} == {
        "mask": ("BOOL", True), "ids": ("I32", True), "u8": ("U8", True)}  # fmt: skip
    np.testing.assert_array_equal(stored["ids"].float64(), [[-3.0, 2.0**31 - 1]])
    fp8 = read(blob({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, b"\x38\xb8"))[0]["w"]
    assert not fp8.readable and fp8.data == b"\x38\xb8"  # the upload paths take no fp8
    np.testing.assert_array_equal(fp8.float64(), [1.0, -1.0])  # read exactly, as generated fp8 is
    z = np.array([[1.5 - 2j, 0.25j]], dtype=np.complex64)
    c64 = read(save({"z": z}))[0]["z"]
    assert c64.dtype == "C64" and not c64.readable and c64.data == z.tobytes()  # no complex uploads
    np.testing.assert_array_equal(c64.float64(), [[[1.5, -2.0], [0.0, 0.25]]])  # parts on a last axis


@pytest.mark.parametrize(
    ("file", "words"),
    [
        (b"\x01\x02", "shorter than"),
        ((10**9).to_bytes(8, "little") + b"{}", "does not fit"),
        ((2).to_bytes(8, "little") + b"\xff\xfe", "not JSON"),
        (blob([1, 2]), "not a JSON object"),
        (blob({"__metadata__": {"k": 1}}), "__metadata__"),
        (blob({"t": {"dtype": "F32", "shape": [2]}}), "invalid data_offsets"),
        (blob({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}}, bytes(4)), "must have dtype"),
        (blob({"t": {"dtype": "C128", "shape": [1], "data_offsets": [0, 16]}}, bytes(16)), "dtype 'C128'"),
        (blob({"t": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}}, bytes(4)), "dtype ['F32']"),
        (blob({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4)), "invalid shape"),
        (blob({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, bytes(4)), "4 bytes for shape"),
        (blob({"t": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)), "holes or overlaps"),
        (blob({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, bytes(4)), "truncated"),
        (blob({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, bytes(12)), "8 bytes after"),
    ],
)
def test_malformed_files_are_refused_with_the_field_and_the_reason(file, words):
    with pytest.raises(InitError) as error:
        read(file, field="pretrained")
    assert error.value.param == "pretrained" and words in str(error.value)


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.lists(st.binary(max_size=20), min_size=1, max_size=3).map(
                    lambda parts: "".join(base64.b64encode(p).decode() for p in parts)),  # padding inside, too
                st.text("AB+/=xé \n", max_size=24)),
       st.sampled_from([4, 8, 12]))  # fmt: skip
def test_base64_is_read_in_pieces_exactly_as_b64decode_reads_the_whole(monkeypatch, text, piece):
    monkeypatch.setattr(read_module, "BASE64_PIECE", piece)
    try:
        expected: bytes | None = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        expected = None
    if expected is None:
        with pytest.raises(InitError, match="upload is not base64"):
            from_base64(text, "upload")
    else:
        assert from_base64(text, "upload") == expected
