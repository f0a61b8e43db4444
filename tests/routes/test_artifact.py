"""service.routes.artifact: a request's whole file as the routes answer it, held in memory or
streamed in bounded memory, or its JSON description; called directly, and through the app."""

import base64
import hashlib
import json

import numpy as np
import pytest
from safetensors.numpy import load

from service import engine
from service.admission import MemoryBudget, Reservation
from service.problems import ProblemError
from service.representation import BINARY, IMMUTABLE, JSON, Remembered, etag
from service.routes.artifact import SafetensorsResponse, checked, describe_artifact, headers_of, respond
from service.settings import Settings
from service.spec.request import InitRequest

BODY = {"seed": 4, "tensors": [{"name": "w", "shape": [32, 16], "scheme": "orthogonal"},
                               {"name": "b", "shape": [32], "scheme": "zeros", "dtype": "bfloat16"}]}  # fmt: skip
SHORTHAND = {"seed": 0, "shape": [64, 32], "scheme": "xavier_uniform"}


def request_of(body) -> engine.Request:
    return checked(InitRequest.model_validate(body), 1 << 30, "POST /init")


def reservation() -> Reservation:
    return Reservation(MemoryBudget(1 << 30, 0.0))


def digest_header(blob: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(blob).digest()).decode()}:"


def test_checked_gives_the_engines_request_within_the_cap_and_a_413_beyond():
    body = InitRequest.model_validate(BODY)
    request = checked(body, 32 * 16 + 32, "POST /init")
    assert request.numel == 32 * 16 + 32 and [t.name for t in request.tensors] == ["w", "b"]
    with pytest.raises(ProblemError) as refused:
        checked(body, 32 * 16 + 31, "GET /init")
    problem = refused.value
    assert problem.status == 413 and problem.kind == "too-many-elements"
    assert problem.detail == "the request asks for 544 elements; GET /init serves at most 543 per request"


def test_every_representation_says_its_validator_and_that_it_never_changes():
    assert headers_of('"abc"') == {"ETag": '"abc"', "Cache-Control": IMMUTABLE, "Vary": "Accept"}


def test_the_response_class_is_the_binary_media_type():
    assert SafetensorsResponse.media_type == BINARY == "application/octet-stream"


def test_the_description_locates_each_tensor_in_the_file_and_carries_the_file():
    request = request_of(BODY)
    artifact = engine.build(request, diagnose=True)
    described = describe_artifact(artifact, etag(request, JSON))
    blob = base64.b64decode(described["safetensors_base64"])
    assert blob == artifact.to_bytes()
    sha256 = hashlib.sha256(blob).hexdigest()
    assert described["artifact"] == {"media_type": BINARY, "size": len(blob), "sha256": sha256,
                                     "etag": etag(request, BINARY)}  # fmt: skip
    size = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + size])  # the file's own account of where each tensor lies
    for entry in described["tensors"]:
        stored = header[entry["name"]]
        assert entry["file_offsets"] == [8 + size + offset for offset in stored["data_offsets"]]
        assert entry["shape"] == stored["shape"] and entry["safetensors_dtype"] == stored["dtype"]
        begin, end = entry["file_offsets"]
        assert end - begin == entry["nbytes"] and entry["kept"] is False
    w = engine.generate(engine.TensorSpec("w", (32, 16), "orthogonal"), 4)
    assert blob[slice(*described["tensors"][0]["file_offsets"])] == w.astype("<f4").tobytes()
    dtypes = {e["name"]: (e["dtype"], e["safetensors_dtype"]) for e in described["tensors"]}
    assert dtypes == {"w": ("float32", "F32"), "b": ("bfloat16", "BF16")}
    assert set(described["diagnostics"]) == {"w", "b"} and described["seed"] == 4
    assert "transfer" not in described
    json.dumps(described, allow_nan=False)  # no inf or NaN left in it


def test_a_held_file_is_generated_once_then_served_from_what_was_remembered():
    request, memory, settings = request_of(BODY), Remembered(), Settings()
    first_reservation = reservation()
    first = respond(request, BINARY, "POST", settings, memory, first_reservation)
    assert first.body == engine.build(request).to_bytes()
    assert first_reservation.nbytes == engine.working_bytes(request, held=True)
    assert first.headers["repr-digest"] == digest_header(first.body)
    assert first.headers["content-length"] == str(len(first.body)) and first.headers["accept-ranges"] == "bytes"
    tag = etag(request, BINARY)
    assert first.headers["etag"] == tag
    assert first.headers["content-disposition"] == f'attachment; filename="initw-{tag[1:13]}.safetensors"'
    again_reservation = reservation()
    again = respond(request, BINARY, "POST", settings, memory, again_reservation)
    assert again.body == first.body and again_reservation.nbytes == 0  # a repeat costs no generation
    head = respond(request, BINARY, "HEAD", settings, memory, reservation())
    assert head.body == b"" and head.headers["content-length"] == str(len(first.body))


def test_a_file_beyond_the_memory_size_streams_and_a_head_skips_the_digest_pass():
    request, memory, settings = request_of(BODY), Remembered(), Settings(memory_bytes=0)
    head = respond(request, BINARY, "HEAD", settings, memory, reservation())
    size = engine.plan(request).size
    assert head.headers["content-length"] == str(size) and "repr-digest" not in head.headers
    streamed_reservation = reservation()
    streamed = respond(request, BINARY, "POST", settings, memory, streamed_reservation)
    assert isinstance(streamed, SafetensorsResponse)
    assert streamed_reservation.nbytes == engine.working_bytes(request, held=False)
    blob = engine.build(request).to_bytes()
    assert streamed.headers["repr-digest"] == digest_header(blob) and streamed.headers["content-length"] == str(size)
    again = respond(request, BINARY, "HEAD", settings, memory, reservation())
    assert again.headers["repr-digest"] == digest_header(blob)  # remembered from the streamed answer


def test_held_and_streamed_answers_of_the_app_are_the_same_bytes(client, streaming_client):
    held, streamed = client.post("/init", json=SHORTHAND), streaming_client.post("/init", json=SHORTHAND)
    assert held.status_code == streamed.status_code == 200
    assert held.content == streamed.content
    for name in ("etag", "repr-digest", "content-length", "cache-control"):
        assert held.headers[name] == streamed.headers[name]


def test_the_json_representation_is_within_its_cap_and_a_head_has_its_length():
    request, memory = request_of(SHORTHAND), Remembered()
    described = respond(request, JSON, "POST", Settings(), memory, reservation())
    body = json.loads(described.body)
    assert body["request"] == request.canonical() and described.headers["repr-digest"] == digest_header(described.body)
    head = respond(request, JSON, "HEAD", Settings(), memory, reservation())
    assert head.body == b"" and head.headers["content-length"] == str(len(described.body))
    with pytest.raises(ProblemError) as refused:
        respond(request, JSON, "POST", Settings(json_max_bytes=request.nbytes - 1), Remembered(), reservation())
    assert refused.value.status == 413 and refused.value.kind == "json-too-large" and BINARY in refused.value.detail


def test_a_json_answer_that_does_not_fit_the_memory_budget_is_refused_before_generating():
    request = request_of(SHORTHAND)
    small = Reservation(MemoryBudget(1 << 10, 0.0))
    small.reserve(1 << 10, "another request")  # the budget is taken
    with pytest.raises(ProblemError) as refused:
        respond(request, JSON, "POST", Settings(), Remembered(), small)
    assert refused.value.status == 503 and "Retry-After" in refused.value.headers


def test_values_in_the_file_are_the_generated_ones():
    request = request_of(SHORTHAND)
    response = respond(request, BINARY, "POST", Settings(), Remembered(), reservation())
    expected = engine.generate(engine.TensorSpec("weight", (64, 32), "xavier_uniform"), 0)
    np.testing.assert_array_equal(load(response.body)["weight"].reshape(-1), expected)
