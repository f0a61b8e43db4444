"""Sharded checkpoints (service/core/checkpoint.py): sizes, huggingface_hub's split, names, the
index, and shards that are initw files whose tensors are the single file's, byte for byte."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from service.core import artifact as artifact_module
from service.core import checkpoint as checkpoint_module
from service.core.artifact import Request, build, canonical_json
from service.core.checkpoint import (
    INDEX_NAME,
    MAX_SHARD_SIZE,
    MAX_SHARDS,
    checkpoint,
    parse_size,
    shard_name,
    split,
)
from service.core.generate import TensorSpec
from service.core.read import read

# 32000, 64000 (> 40 kB: alone), 320, 16000, 200 and 320 bytes of data, in this order
TENSORS = (
    TensorSpec("embed.weight", (500, 32), "normal", {"std": 0.02}, dtype="bfloat16"),
    TensorSpec("proj.weight", (80, 200), "xavier_uniform"),
    TensorSpec("proj.bias", (80,), "zeros"),
    TensorSpec("head.weight", (100, 80), "orthogonal", dtype="float16"),
    TensorSpec("head.bias", (100,), "uniform", {"a": -0.1, "b": 0.1}, dtype="float16"),
    TensorSpec("norm.weight", (80,), "ones"),
)
REQUEST = Request(7, TENSORS)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("5GB", 5 * 10**9),
        ("500MB", 500 * 10**6),
        ("2GiB", 2 * 2**30),
        ("1000000", 10**6),
        (" 1.5 gb ", 1_500_000_000),
        ("40KB", 40_000),
        ("3kib", 3072),
        ("7b", 7),
        ("1TB", 10**12),
        (123, 123),
        (str(MAX_SHARD_SIZE), MAX_SHARD_SIZE),
    ],
)
def test_sizes_read_as_huggingface_hub_reads_them_and_binary_units_too(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0", "1 to"),
        ("1.5B", "whole number of bytes"),
        ("5XB", "unknown unit"),
        ("-1", "not a size"),
        ("", "not a size"),
        ("\u0663MB", "not a size"),  # an Arabic-Indic digit: int() would take it
        ("5 G B", "not a size"),
        (str(MAX_SHARD_SIZE + 1), "1 to"),
        ("1" * 70, "not a size"),
        (True, "boolean"),
        (0, "1 to"),
    ],
)
def test_bad_sizes_say_what_is_wrong(text, says):
    with pytest.raises(ValueError, match=says):
        parse_size(text)


def test_the_split_packs_greedily_in_order_and_a_large_tensor_goes_alone_ahead():
    assert split([("a", 3), ("b", 3), ("c", 4), ("d", 1)], 6) == [["a", "b"], ["c", "d"]]
    # huggingface_hub numbers an oversized tensor's shard when it meets it, before the open one
    assert split([("a", 1), ("big", 10), ("b", 1)], 5) == [["big"], ["a", "b"]]
    assert split([("big", 10)], 5) == [["big"]]
    assert split([("a", 5), ("b", 5)], 5) == [["a"], ["b"]]  # exactly full fits
    assert split([("e", 0), ("a", 5), ("z", 0)], 5) == [["e", "a", "z"]]  # empty tensors weigh nothing
    assert split([], 5) == [[]]  # no tensor: one empty shard


def test_the_split_is_huggingface_hubs():
    base = pytest.importorskip("huggingface_hub.serialization._base")
    rng = random.Random(0)
    for case in range(300):
        sizes = [(f"t{i}", rng.choice([0, 1, 7, 100, 999, 1000, 1001, 5000])) for i in range(rng.randint(1, 30))]
        limit = rng.choice([1, 100, 1000, 2500, 10**6])
        theirs = base.split_state_dict_into_shards_factory(
            dict(sizes), get_storage_size=lambda size: size, filename_pattern="model{suffix}.safetensors",
            max_shard_size=limit,
        )  # fmt: skip
        assert split(sizes, limit) == list(theirs.filename_to_tensors.values()), (case, sizes, limit)


def test_names_have_five_digits_and_only_this_checkpoints_names_are_its_files():
    assert shard_name(2, 5) == "model-00002-of-00005.safetensors"
    assert shard_name(MAX_SHARDS, MAX_SHARDS) == "model-99999-of-99999.safetensors"
    for bad in [(0, 5), (6, 5), (1, MAX_SHARDS + 1)]:
        with pytest.raises(ValueError):
            shard_name(*bad)
    split3 = checkpoint(REQUEST, 40_000)
    assert split3.files == tuple(f"model-0000{k}-of-00003.safetensors" for k in (1, 2, 3))
    assert [split3.shard_of(name) for name in split3.files] == [1, 2, 3]
    for other in ["model-00004-of-00003.safetensors", "model-00001-of-00004.safetensors", "model-1-of-3.safetensors",
                  "model-00000-of-00003.safetensors", INDEX_NAME, "model.safetensors"]:  # fmt: skip
        assert split3.shard_of(other) is None


def test_too_many_shards_or_no_size_is_refused(monkeypatch):
    many = Request(0, tuple(TensorSpec(f"t{i}", (1,), "zeros") for i in range(3)))  # 4 bytes each
    assert checkpoint(many, 12).count == 1 and checkpoint(many, 11).count == 2 and checkpoint(many, 1).count == 3
    monkeypatch.setattr(checkpoint_module, "MAX_SHARDS", 2)
    with pytest.raises(ValueError, match="3 shards; the file names have room for 2"):
        checkpoint(many, 4)
    for bad in (0, -1, MAX_SHARD_SIZE + 1):
        with pytest.raises(ValueError, match="1 to"):
            checkpoint(many, bad)


def test_the_index_is_transformers_layout_and_generates_nothing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the index generated a tensor")

    monkeypatch.setattr(artifact_module, "generate", refuse)
    monkeypatch.setattr(artifact_module, "header_summary", refuse)
    split3 = checkpoint(REQUEST, 40_000)
    text = split3.index_bytes()
    index = json.loads(text)
    assert text == (json.dumps(index, indent=2, sort_keys=True) + "\n").encode()  # as save_pretrained writes it
    assert index["weight_map"] == {
        "proj.weight": "model-00001-of-00003.safetensors",
        "embed.weight": "model-00002-of-00003.safetensors",
        "proj.bias": "model-00002-of-00003.safetensors",
        "head.weight": "model-00003-of-00003.safetensors",
        "head.bias": "model-00003-of-00003.safetensors",
        "norm.weight": "model-00003-of-00003.safetensors",
    }
    meta = index["metadata"]
    assert meta["total_size"] == 32000 + 64000 + 320 + 16000 + 200 + 320  # tensor data only, no headers
    assert meta["total_parameters"] == sum(t.numel for t in TENSORS)
    assert (meta["shards"], meta["shard_size"], meta["algorithm"]) == (3, 40_000, "initw-v1")
    assert meta["request"] == REQUEST.canonical_json
    assert meta["request_sha256"] == hashlib.sha256(meta["request"].encode()).hexdigest()
    assert checkpoint(Request(7, TENSORS), 40_000).index_bytes() == text  # a pure function of the request


def test_each_shard_is_an_initw_file_of_its_tensors_equal_to_the_single_files():
    whole, _ = read(build(REQUEST).to_bytes())
    split3 = checkpoint(REQUEST, 40_000)
    seen = {}
    for k in range(1, split3.count + 1):
        blob = split3.shard(k).to_bytes()  # streamed
        assert blob == split3.build_shard(k).to_bytes()  # the same bytes from memory
        tensors, metadata = read(blob)
        assert list(tensors) == list(split3.shards[k - 1]) or set(tensors) == set(split3.shards[k - 1])
        for name, stored in tensors.items():
            assert (stored.dtype, stored.shape, bytes(stored.data)) == (
                whole[name].dtype, whole[name].shape, bytes(whole[name].data),
            )  # fmt: skip
            seen[name] = k
        own = json.loads(metadata["request"])
        assert [t["name"] for t in own["tensors"]] == [t.name for t in TENSORS if t.name in tensors]
        assert metadata["format"] == "pt"
        assert json.loads(metadata["checkpoint"]) == {
            "file": split3.file(k),
            "request_sha256": hashlib.sha256(REQUEST.canonical_json.encode()).hexdigest(),
            "shard": k,
            "shard_size": 40_000,
            "shards": 3,
            "total_size": split3.total_size,
        }
        assert json.loads(metadata["diagnostics"]).keys() == tensors.keys()
    assert seen == {name: split3.shard_of(file) for name, file in split3.weight_map().items()}


def test_a_shard_is_post_inits_file_of_its_tensors_but_for_the_checkpoint_key():
    """The tensors and their header summaries are the single-tensor-set request's; only the
    checkpoint metadata tells the files apart."""
    split3 = checkpoint(REQUEST, 40_000)
    part = split3.shard_request(2)
    plain = Request(7, tuple(t for t in TENSORS if t.name in ("embed.weight", "proj.bias")))
    assert part.canonical_json == plain.canonical_json
    _, ours = read(split3.shard(2).to_bytes())
    _, theirs = read(build(plain).to_bytes())
    assert {k: v for k, v in ours.items() if k != "checkpoint"} == theirs
    assert canonical_json(json.loads(ours["checkpoint"])) == ours["checkpoint"]


def test_an_empty_request_is_one_empty_shard_and_one_shard_keeps_the_layout():
    empty = checkpoint(Request(1, ()), 10)
    assert empty.files == ("model-00001-of-00001.safetensors",)
    assert json.loads(empty.index_bytes())["weight_map"] == {}
    assert read(empty.shard(1).to_bytes())[0] == {}
    whole = checkpoint(REQUEST, MAX_SHARD_SIZE)
    assert whole.count == 1 and set(whole.weight_map().values()) == {"model-00001-of-00001.safetensors"}
    with pytest.raises(ValueError, match="shards 1 to 1"):
        whole.shard_request(2)
