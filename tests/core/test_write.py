"""The hand-written safetensors writer: canonical header bytes, aligned data, stock loaders agree.

Files are assembled here from ``layout(...)`` and raw little-endian bytes, then read back with
the safetensors library's own loaders, so the format is checked against the reference reader
rather than against the writer's own idea of it.
"""

import itertools
import json
import random

import ml_dtypes  # noqa: F401  (lets safe_open(framework="np") return bfloat16 arrays)
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load

from service.core.write import ITEMSIZE, Entry, layout

NUMPY = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "BF16": "<u2"}


def split(header: bytes) -> tuple[int, bytes]:
    """(declared length, JSON text including padding) of a layout's header."""
    return int.from_bytes(header[:8], "little"), header[8:]


def parsed(header: bytes) -> dict:
    return json.loads(split(header)[1])


def values(entry: Entry, seed: int) -> np.ndarray:
    """Distinct, exactly representable values for ``entry`` (bit patterns for BF16)."""
    count = int(np.prod(entry.shape, dtype=np.int64))
    base = np.arange(count, dtype=np.float64) * 0.25 - seed  # exact in every float format used
    if entry.dtype == "BF16":
        bits = base.astype(np.float32).view(np.uint32) >> np.uint32(16)  # exact: few significant bits
        return bits.astype("<u2").reshape(entry.shape)
    if entry.dtype == "I64":
        return (np.arange(count, dtype=np.int64) * 3 - 2**40 - seed).astype("<i8").reshape(entry.shape)
    return base.astype(NUMPY[entry.dtype]).reshape(entry.shape)


def assemble(entries: list[Entry], metadata: dict[str, str] | None = None) -> tuple[bytes, dict[str, np.ndarray]]:
    """A whole file from the layout and each tensor's raw bytes, and the arrays that went in."""
    arrays = {e.name: values(e, i) for i, e in enumerate(entries)}
    plan = layout(entries, metadata or {})
    blob = plan.header + b"".join(arrays[e.name].tobytes() for e in plan.entries)
    assert len(blob) == plan.size
    return blob, arrays


MIXED = [
    Entry("w32", "F32", (3, 5)),
    Entry("h", "F16", (7,)),
    Entry("d", "F64", (2, 1, 3)),
    Entry("b", "BF16", (5,)),
    Entry("steps", "I64", ()),
    Entry("a16", "F16", (1,)),
    Entry("z32", "F32", (1, 4)),
]


# --- header -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entries, metadata",
    [
        ([], {}),
        ([Entry("x", "F32", (1,))], {}),
        (MIXED, {"format": "pt"}),
        ([Entry("w", "F16", (3,))], {"k": "v" * 13}),
        ([Entry("tensor" * 20, "BF16", (2, 2))], {"note": 'quote " and \\ and é and \n'}),
    ],
)
def test_header_is_a_little_endian_length_then_compact_json_padded_with_spaces_to_a_multiple_of_8(entries, metadata):
    header = layout(entries, metadata).header
    declared, text = split(header)
    assert declared == len(text)
    assert len(header) % 8 == 0  # the data section starts 8-aligned
    body = text.rstrip(b" ")
    assert len(text) - len(body) < 8, "padding is the fewest spaces that reach a multiple of 8"
    assert body.startswith(b"{") and body.endswith(b"}")
    assert body.isascii()
    document = json.loads(body)
    assert json.dumps(document, separators=(",", ":"), ensure_ascii=True).encode() == body, "compact JSON"


def test_header_lists_metadata_first_then_tensors_in_data_order_with_dtype_shape_and_offsets():
    plan = layout(MIXED, {"format": "pt"})
    document = parsed(plan.header)
    assert list(document) == ["__metadata__", *(e.name for e in plan.entries)]
    for entry in plan.entries:
        begin, end = plan.offsets[entry.name]
        assert document[entry.name] == {"dtype": entry.dtype, "shape": list(entry.shape), "data_offsets": [begin, end]}
        assert list(document[entry.name]) == ["dtype", "shape", "data_offsets"]


def test_tensors_are_ordered_by_decreasing_itemsize_then_name():
    plan = layout(MIXED, {})
    assert [e.name for e in plan.entries] == ["d", "steps", "w32", "z32", "a16", "b", "h"]
    keys = [(-ITEMSIZE[e.dtype], e.name) for e in plan.entries]
    assert keys == sorted(keys)


def test_data_offsets_are_contiguous_from_zero_and_each_is_a_multiple_of_its_itemsize():
    plan = layout(MIXED, {})
    position = 0
    for entry in plan.entries:
        begin, end = plan.offsets[entry.name]
        assert begin == position
        assert end - begin == entry.nbytes
        assert begin % ITEMSIZE[entry.dtype] == 0
        position = end
    assert plan.size == len(plan.header) + position


def test_every_tensor_is_aligned_to_its_itemsize_in_the_whole_file_as_javascript_typed_arrays_need():
    # A JS reader makes new Float64Array(buffer, headerLength + begin): the file offset must be aligned.
    for count in range(1, 9):  # headers of many lengths: the padding is what keeps this true
        entries = [Entry(f"t{i}", dtype, (i + 1,)) for i, dtype in enumerate(["F16", "F64", "BF16", "F32", "I64"])]
        plan = layout(entries, {"pad": "x" * count})
        for entry in plan.entries:
            begin, _ = plan.offsets[entry.name]
            assert (len(plan.header) + begin) % ITEMSIZE[entry.dtype] == 0
            assert plan.file_range(entry.name) == (
                len(plan.header) + begin,
                len(plan.header) + plan.offsets[entry.name][1],
            )


def test_metadata_keys_are_sorted_and_values_kept_verbatim():
    metadata = {"zeta": "1", "alpha": "two", "Mid": "", "format": "pt"}
    document = parsed(layout([], metadata).header)
    assert list(document["__metadata__"]) == sorted(metadata)
    assert document["__metadata__"] == metadata


def test_the_same_entries_and_metadata_in_any_order_give_identical_bytes():
    metadata = {"c": "3", "a": "1", "b": "2"}
    reference = layout(MIXED, metadata)
    rng = random.Random(0)
    for _ in range(20):
        entries = MIXED[:]
        rng.shuffle(entries)
        items = list(metadata.items())
        rng.shuffle(items)
        shuffled = layout(entries, dict(items))
        assert shuffled.header == reference.header
        assert shuffled.entries == reference.entries
        assert dict(shuffled.offsets) == dict(reference.offsets)
    for entries in itertools.permutations(MIXED[:4]):
        assert layout(entries, {}).header == layout(MIXED[:4], {}).header


def test_the_layout_accepts_any_iterable_of_entries():
    assert layout(iter(MIXED), {}).header == layout(tuple(MIXED), {}).header


@pytest.mark.parametrize(
    "entries",
    [
        [Entry("x", "F32", (2,)), Entry("x", "F32", (2,))],
        [Entry("x", "F32", (2,)), Entry("x", "F16", (3,))],  # different dtypes do not make them different
        [Entry("__metadata__", "F32", (1,))],
        [Entry("ok", "F64", (1,)), Entry("__metadata__", "F16", (1,))],
    ],
)
def test_duplicate_names_or_a_tensor_called_metadata_are_refused(entries):
    with pytest.raises(ValueError, match="unique"):
        layout(entries, {})


def test_header_does_not_depend_on_values_only_on_names_dtypes_shapes_and_metadata():
    first = layout([Entry("w", "F32", (4, 4))], {"a": "1"})
    assert first.header == layout([Entry("w", "F32", (4, 4))], {"a": "1"}).header
    assert first.header != layout([Entry("w", "F32", (16,))], {"a": "1"}).header
    assert first.header != layout([Entry("w", "F64", (4, 4))], {"a": "1"}).header
    assert first.header != layout([Entry("w", "F32", (4, 4))], {"a": "2"}).header


# --- stock loaders ------------------------------------------------------------------------------

NUMPY_LOADABLE = [
    Entry("w", "F32", (4, 3)),
    Entry("wd", "F64", (2, 2, 2)),
    Entry("h", "F16", (5,)),
    Entry("count", "I64", ()),  # rank 0
    Entry("col", "F32", (3, 1)),  # a dimension of size 1
    Entry("one", "F16", (1,)),
    Entry("lone", "F64", (1, 1, 1)),
]


def test_a_file_from_the_layout_loads_with_safetensors_numpy_load_and_values_are_exact():
    blob, arrays = assemble(NUMPY_LOADABLE, {"format": "pt"})
    loaded = load(blob)
    assert set(loaded) == set(arrays)
    for name, expected in arrays.items():
        assert loaded[name].dtype == expected.dtype.newbyteorder("=")
        assert loaded[name].shape == expected.shape
        np.testing.assert_array_equal(loaded[name], expected)
    assert loaded["count"].shape == ()
    assert loaded["col"].shape == (3, 1)


def test_a_file_from_the_layout_opens_with_safe_open_including_bfloat16(tmp_path):
    entries = [*NUMPY_LOADABLE, Entry("bf", "BF16", (2, 3)), Entry("bf_scalar", "BF16", ())]
    metadata = {"format": "pt", "request": '{"seed":1}', "unicode": "é ✓"}
    blob, arrays = assemble(entries, metadata)
    path = tmp_path / "layout.safetensors"
    path.write_bytes(blob)
    with safe_open(str(path), framework="np") as f:
        assert f.metadata() == metadata
        assert sorted(f.keys()) == sorted(arrays)
        for name, expected in arrays.items():
            got = f.get_tensor(name)
            assert got.shape == expected.shape
            if name.startswith("bf"):
                assert got.dtype == ml_dtypes.bfloat16
                np.testing.assert_array_equal(got.view(np.uint16), expected)
            else:
                np.testing.assert_array_equal(got, expected)
    # The bfloat16 values themselves: the bit patterns are the high halves of these float32 values.
    want = np.arange(6, dtype=np.float32).reshape(2, 3) * np.float32(0.25) - np.float32(7)
    with safe_open(str(path), framework="np") as f:
        np.testing.assert_array_equal(f.get_tensor("bf").astype(np.float32), want)


def test_an_empty_file_with_only_metadata_loads():
    blob, _ = assemble([], {"format": "pt"})
    assert load(blob) == {}


def test_file_range_locates_each_tensors_bytes_in_the_whole_file():
    blob, arrays = assemble(MIXED)
    plan = layout(MIXED, {})
    for name, expected in arrays.items():
        begin, end = plan.file_range(name)
        assert blob[begin:end] == expected.tobytes()
