"""POST /init/checkpoint/{file} (service/routes/checkpoint.py): each shard of a sharded checkpoint
and its index over HTTP, the bytes of service.core.checkpoint, held or streamed; errors that name
the field."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from service.core.artifact import build
from service.core.checkpoint import checkpoint
from service.core.read import read
from service.spec.request import InitRequest, to_request

BODY = {
    "seed": 7,
    "tensors": [
        {"name": "embed.weight", "shape": [500, 32], "scheme": {"name": "normal", "std": 0.02}, "dtype": "bfloat16"},
        {"name": "proj.weight", "shape": [80, 200], "scheme": "xavier_uniform"},
        {"name": "proj.bias", "shape": [80], "scheme": "zeros"},
        {"name": "head.weight", "shape": [100, 80], "scheme": "orthogonal", "dtype": "float16"},
    ],
}
INDEX = "/init/checkpoint/model.safetensors.index.json"
SPLIT = checkpoint(to_request(InitRequest.model_validate(BODY)), 40_000)


def url(file: str, size: str = "40KB") -> str:
    return f"/init/checkpoint/{file}?shard_size={size}"


def test_the_index_is_the_cores_and_any_spelling_of_the_size_is_the_same_file(client):
    r = client.post(url("model.safetensors.index.json"), json=BODY)
    assert r.status_code == 200, r.text
    assert r.content == SPLIT.index_bytes()
    assert r.headers["content-type"] == "application/json"
    digest = base64.b64encode(hashlib.sha256(r.content).digest()).decode()
    assert r.headers["repr-digest"] == f"sha-256=:{digest}:"
    assert json.loads(r.content)["metadata"]["shards"] == 3
    same = client.post(url("model.safetensors.index.json", "40000"), json=BODY)
    assert (same.content, same.headers["etag"]) == (r.content, r.headers["etag"])


@pytest.mark.parametrize("fixture", ["client", "streaming_client"])
def test_each_shard_is_the_cores_bytes_with_its_own_validator(fixture, request):
    http = request.getfixturevalue(fixture)
    whole, _ = read(build(SPLIT.request).to_bytes())
    tags = set()
    for k, file in enumerate(SPLIT.files, start=1):
        r = http.post(url(file), json=BODY)
        assert r.status_code == 200, r.text
        assert r.content == SPLIT.shard(k).to_bytes()
        assert r.headers["content-disposition"] == f'attachment; filename="{file}"'
        assert r.headers["initw-shard"] == f"{k}/3"
        assert r.headers["content-length"] == str(len(r.content))
        digest = base64.b64encode(hashlib.sha256(r.content).digest()).decode()
        assert r.headers["repr-digest"] == f"sha-256=:{digest}:"
        tags.add(r.headers["etag"])
        for name, stored in read(r.content)[0].items():
            assert bytes(stored.data) == bytes(whole[name].data)
    post_init = http.post("/init", json=BODY).headers["etag"]
    assert len(tags) == 3 and post_init not in tags


def test_a_file_not_in_the_checkpoint_is_a_404_listing_its_files(client):
    for file in ["model-00004-of-00003.safetensors", "model-00001-of-00002.safetensors", "weights.bin"]:
        r = client.post(url(file), json=BODY)
        assert r.status_code == 404, r.text
        problem = r.json()
        assert r.headers["content-type"] == "application/problem+json"
        assert problem["errors"][0]["field"] == "file"
        assert problem["errors"][0]["allowed"] == (
            "model-00001-of-00003.safetensors, model-00002-of-00003.safetensors, model-00003-of-00003.safetensors, "
            "model.safetensors.index.json"
        )
        assert "3 shards of at most 40,000 bytes" in problem["detail"]


@pytest.mark.parametrize(
    ("query", "says"),
    [("shard_size=0", "1 to"), ("shard_size=5XB", "unknown unit"), ("shard_size=1.5B", "whole number"), ("", "")],
)
def test_a_bad_or_missing_size_is_a_422_naming_shard_size(client, query, says):
    r = client.post(f"{INDEX}?{query}", json=BODY)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert [e["field"] for e in problem["errors"]] == ["shard_size"]
    assert says in problem["detail"]


def test_an_invalid_body_is_the_422_post_init_gives(client):
    bad = {"seed": 0, "shape": [4, 4], "scheme": {"name": "kaiming_normal", "mode": "fan_max"}}
    r = client.post(url("model-00001-of-00001.safetensors"), json=bad)
    assert r.status_code == 422
    assert r.json()["errors"] == client.post("/init", json=bad).json()["errors"]


def test_the_element_cap_applies_to_each_shard_not_to_the_checkpoint(client):
    """The test client serves at most 2^22 elements per request: a checkpoint of two 2^22-element
    tensors has an index and no shard too large, in 16 MiB shards; one 32 MiB shard is too large."""
    big = {"seed": 1, "tensors": [{"name": f"w{i}", "shape": [2048, 2048], "scheme": "zeros"} for i in range(2)]}
    assert client.post("/init", json=big).status_code == 413
    index = client.post(url("model.safetensors.index.json", "16MiB"), json=big)
    assert index.status_code == 200 and index.json()["metadata"]["shards"] == 2
    r = client.post(url("model-00001-of-00001.safetensors", "32MiB"), json=big)
    assert r.status_code == 413 and "per shard" in r.json()["detail"]


def test_conditional_and_negotiated_answers(client):
    shard = client.post(url(SPLIT.files[0]), json=BODY)
    r = client.post(url(SPLIT.files[0]), json=BODY, headers={"if-none-match": shard.headers["etag"]})
    assert r.status_code == 412
    index = client.post(url("model.safetensors.index.json"), json=BODY)
    r = client.post(url("model.safetensors.index.json"), json=BODY, headers={"if-none-match": index.headers["etag"]})
    assert r.status_code == 412
    assert client.post(url(SPLIT.files[0]), json=BODY, headers={"accept": "application/json"}).status_code == 406
    assert (
        client.post(url("model.safetensors.index.json"), json=BODY, headers={"accept": "text/csv"}).status_code == 406
    )
