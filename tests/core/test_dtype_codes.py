"""core.dtype_codes: the one table of safetensors dtype codes agrees with numpy, ml_dtypes, the stock
writer and everything that reads it."""

import json

import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import save

from service.core.dtype_codes import CODES, by_name
from service.core.dtypes import DTYPES
from service.core.read import dtype_name
from service.core.write import ITEMSIZE

NUMPY_CODES = [entry for entry in CODES.values() if entry.numpy is not None]
EXTENDED_CODES = [entry for entry in CODES.values() if entry.ml_dtypes is not None]


def header_dtype(blob: bytes) -> str:
    size = int.from_bytes(blob[:8], "little")
    return json.loads(blob[8 : 8 + size])["t"]["dtype"]


@pytest.mark.parametrize("entry", NUMPY_CODES, ids=lambda e: e.code)
def test_the_stock_writer_gives_each_numpy_dtype_its_code(entry):
    array = np.zeros(3, dtype=entry.numpy)
    assert header_dtype(save({"t": array})) == entry.code
    assert (array.dtype.name, array.dtype.itemsize) == (entry.name, entry.itemsize)


@pytest.mark.parametrize("entry", EXTENDED_CODES, ids=lambda e: e.code)
def test_the_formats_numpy_lacks_are_the_ml_dtypes_types_of_the_same_size(entry):
    extended = np.dtype(getattr(ml_dtypes, entry.ml_dtypes))
    assert entry.numpy is None
    assert (extended.name, extended.itemsize) == (entry.name, entry.itemsize)


def test_every_code_has_exactly_one_numpy_reading():
    for entry in CODES.values():
        assert (entry.numpy is None) != (entry.ml_dtypes is None), entry.code
        assert entry.bits().itemsize == entry.itemsize and entry.bits().kind == "u"


def test_the_generated_codes_are_the_output_dtypes():
    generated = {entry.code for entry in CODES.values() if entry.generated}
    assert generated == {d.safetensors for d in DTYPES.values()}
    for d in DTYPES.values():
        entry = CODES[d.safetensors]
        assert (entry.name, entry.itemsize) == (d.name, d.itemsize) and by_name(d.name) is entry
        assert d.storage.itemsize == d.itemsize


def test_the_writer_and_the_reader_read_the_table():
    assert ITEMSIZE == {code: entry.itemsize for code, entry in CODES.items()}
    assert list(ITEMSIZE) == list(CODES)  # the reader lists the known codes in this order
    assert {code: dtype_name(code) for code in CODES} == {code: entry.name for code, entry in CODES.items()}


def test_the_codes_are_what_v1_served():
    # Changing a code, a size or a name changes files, headers or diagnostics that clients hold.
    assert {code: (e.itemsize, e.name) for code, e in CODES.items()} == {
        "F64": (8, "float64"), "F32": (4, "float32"), "F16": (2, "float16"), "BF16": (2, "bfloat16"),
        "I64": (8, "int64"), "BOOL": (1, "bool"), "U8": (1, "uint8"), "I8": (1, "int8"), "I16": (2, "int16"),
        "U16": (2, "uint16"), "I32": (4, "int32"), "U32": (4, "uint32"), "U64": (8, "uint64"),
        "F8_E5M2": (1, "float8_e5m2"), "F8_E4M3": (1, "float8_e4m3fn"), "C64": (8, "complex64"),
    }  # fmt: skip
