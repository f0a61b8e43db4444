"""Random access over HTTP: Range requests, shards, and streamed files equal to in-memory ones.

Every partial result is compared with the same slice of the full response, for several schemes
and dtypes.
"""

import base64
import hashlib
import re
import tempfile

import ml_dtypes  # noqa: F401  (safe_open returns bfloat16 arrays once registered)
import numpy as np
import pytest
from safetensors import safe_open

from service.core.write import ITEMSIZE

CASES = [
    "shape=64,48&scheme=xavier_normal&seed=3",
    "shape=300,200&scheme=truncated_normal&a=4&b=6&bounds=sigma&dtype=float64",
    "shape=33,7,5&scheme=kaiming_uniform&dtype=bfloat16&seed=9",
    "shape=40,40&scheme=orthogonal&dtype=float16",
    "shape=1100,1000&scheme=uniform&a=-1&b=1",  # > 2^20 elements: the header summary is sampled
]


@pytest.fixture(scope="module", params=CASES)
def case(request, client):
    url = "/init?" + request.param
    return url, client.get(url).content


@pytest.mark.parametrize("spec", ["0-0", "0-7", "8-99", "100-4000", "-17", "500-", "3-2000000000"])
def test_single_range_is_the_slice_of_the_full_file(client, case, spec):
    url, full = case
    r = client.get(url, headers={"range": f"bytes={spec}"})
    first, _, last = spec.partition("-")
    start = len(full) - int(last) if first == "" else int(first)
    stop = len(full) if last == "" or first == "" else min(int(last) + 1, len(full))
    assert r.status_code == 206
    assert r.content == full[start:stop]
    assert r.headers["content-range"] == f"bytes {start}-{stop - 1}/{len(full)}"
    assert r.headers["content-length"] == str(stop - start)
    assert r.headers["accept-ranges"] == "bytes"


def test_multiple_ranges_are_multipart_slices(client, case):
    url, full = case
    wanted = [(0, 8), (50, 60), (len(full) - 30, len(full))]
    header = "bytes=" + ",".join(f"{a}-{b - 1}" for a, b in wanted)
    r = client.get(url, headers={"range": header})
    assert r.status_code == 206
    media, boundary = r.headers["content-type"].split("; boundary=")
    assert media == "multipart/byteranges"
    assert int(r.headers["content-length"]) == len(r.content)
    parts = [p for p in r.content.split(f"--{boundary}".encode()) if p.strip(b"\r\n-")]
    assert len(parts) == len(wanted)
    for part, (a, b) in zip(parts, wanted, strict=True):
        head, _, data = part.partition(b"\r\n\r\n")
        assert f"Content-Range: bytes {a}-{b - 1}/{len(full)}".encode() in head
        assert data.removesuffix(b"\r\n") == full[a:b]


def test_unsatisfiable_range_is_a_416(client, case):
    url, full = case
    r = client.get(url, headers={"range": f"bytes={len(full)}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(full)}"
    assert r.headers["content-type"] == "application/problem+json"


def test_invalid_range_or_stale_if_range_sends_the_whole_file(client, case):
    url, full = case
    assert client.get(url, headers={"range": "bytes=9-3"}).content == full
    stale = client.get(url, headers={"range": "bytes=0-9", "if-range": '"another"'})
    assert stale.status_code == 200 and stale.content == full
    tag = client.get(url).headers["etag"]
    fresh = client.get(url, headers={"range": "bytes=0-9", "if-range": tag})
    assert fresh.status_code == 206 and fresh.content == full[:10]


def tensor_bytes(full: bytes, name: str = "weight") -> tuple[bytes, str]:
    with tempfile.NamedTemporaryFile(suffix=".safetensors") as f:
        f.write(full)
        f.flush()
        with safe_open(f.name, framework="np") as st:
            array = st.get_tensor(name)
            dtype = st.get_slice(name).get_dtype()
    return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes(), dtype


def test_shards_concatenate_to_the_tensor(client, case):
    url, full = case
    data, dtype = tensor_bytes(full)
    itemsize = ITEMSIZE[dtype]
    count = len(data) // itemsize
    edges = [0, 1, count // 3, count // 3 + 5, count - 1, count]
    pieces = []
    for a, b in zip(edges, edges[1:], strict=False):
        r = client.get(f"{url}&start={a}&stop={b}")
        assert r.status_code == 200 and r.headers["initw-elements"] == f"{a}-{b}/{count}"
        assert r.headers["initw-dtype"] == dtype and int(r.headers["content-length"]) == (b - a) * itemsize
        pieces.append(r.content)
        assert r.content == data[a * itemsize : b * itemsize]
    assert b"".join(pieces) == data


def test_post_shards_name_their_tensor(client):
    body = {"seed": 1, "tensors": [{"name": "a", "shape": [10, 10], "scheme": "normal"},
                                   {"name": "b", "shape": [7], "scheme": "zeros", "dtype": "float64"}]}  # fmt: skip
    whole, _ = tensor_bytes(client.post("/init", json=body).content, "a")
    shard = client.post("/init?tensor=a&start=5&stop=20", json=body)
    assert shard.content == whole[5 * 4 : 20 * 4]
    assert client.post("/init?start=0&stop=1", json=body).status_code == 422  # which tensor?
    assert client.post("/init?tensor=c", json=body).status_code == 422
    out_of_range = client.post("/init?tensor=b&start=3&stop=8", json=body)
    assert out_of_range.status_code == 422 and out_of_range.json()["errors"][0]["field"] == "stop"
    assert client.get("/init?shape=4&scheme=zeros&start=x").status_code == 422


def test_the_initw_tensor_header_percent_encodes_a_non_ascii_name(client):
    """HTTP header values are Latin-1 at most: Initw-Tensor carries the name's UTF-8 percent-encoded
    (RFC 3986), which leaves every ASCII name, made of letters, digits and _ . - / :, unchanged."""
    from urllib.parse import unquote

    name = "blocks.0.attn.w\u00e9ight/\U0001f642"
    body = {"seed": 0, "tensors": [{"name": name, "shape": [16, 16], "scheme": "normal"},
                                   {"name": "layers.0/attn:q-proj_1", "shape": [3], "scheme": "ones"}]}  # fmt: skip
    whole, _ = tensor_bytes(client.post("/init", json=body).content, name)
    shard = client.post("/init", params={"tensor": name, "start": 3, "stop": 9}, json=body)
    assert shard.status_code == 200 and shard.content == whole[3 * 4 : 9 * 4]
    encoded = shard.headers["initw-tensor"]
    assert encoded == "blocks.0.attn.w%C3%A9ight/%F0%9F%99%82" and unquote(encoded) == name
    head = client.head("/init", params={"seed": 0, "shape": "16,16", "scheme": "normal", "name": name, "start": 0})
    assert head.status_code == 200 and head.headers["initw-tensor"] == encoded
    plain = client.post("/init", params={"tensor": "layers.0/attn:q-proj_1"}, json=body)
    assert plain.headers["initw-tensor"] == "layers.0/attn:q-proj_1"


@pytest.mark.parametrize("url", CASES)
def test_streamed_files_equal_in_memory_files(client, streaming_client, url):
    held = client.get("/init?" + url)
    streamed = streaming_client.get("/init?" + url)
    assert streamed.content == held.content
    assert streamed.headers["etag"] == held.headers["etag"]
    digest = base64.b64encode(hashlib.sha256(streamed.content).digest()).decode()
    assert streamed.headers["repr-digest"] == held.headers["repr-digest"] == f"sha-256=:{digest}:"
    assert streaming_client.head("/init?" + url).headers["repr-digest"] == streamed.headers["repr-digest"]


def test_streamed_multi_tensor_artifact_loads_with_safe_open(streaming_client, tmp_path):
    body = {
        "seed": 11,
        "tensors": [
            {"name": "big", "shape": [1200, 1000], "scheme": "kaiming_normal"},
            {"name": "half", "shape": [64, 64], "scheme": "orthogonal", "dtype": "bfloat16"},
            {"name": "bias", "shape": [1200], "scheme": "zeros", "dtype": "float64"},
        ],
        "layers": [{"type": "batchnorm", "name": "bn", "num_features": 8}],
    }
    r = streaming_client.post("/init", json=body)
    path = tmp_path / "streamed.safetensors"
    path.write_bytes(r.content)
    with safe_open(str(path), framework="np") as st:
        assert set(st.keys()) == {"big", "half", "bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                                  "bn.num_batches_tracked"}  # fmt: skip
        big = st.get_tensor("big")
        assert big.shape == (1200, 1000) and abs(float(big.std()) * np.sqrt(1000 / 2) - 1) < 0.01
        assert st.get_tensor("half").dtype == ml_dtypes.bfloat16
        assert re.search(r'"sample":\{"elements":1048576,"of":1200000\}', st.metadata()["diagnostics"])
