"""POST /diagnostics: each tensor's statistics without the bytes, for any size; or one tensor's
histogram against its intended density (SVG). In process."""

import json
import xml.etree.ElementTree as ET

from starlette.testclient import TestClient

from service.app import create_app
from service.engine import diagnostics_report, report_text
from service.settings import Settings
from service.spec.request import InitRequest, to_request

SVG_NS = "{http://www.w3.org/2000/svg}"
SHORTHAND = {"seed": 0, "shape": [64, 32], "scheme": "xavier_uniform"}
SVG = {"accept": "image/svg+xml"}


def test_diagnostics_endpoint_returns_reports_only(client):
    body = {
        "seed": 0,
        "tensors": [
            {"name": "w", "shape": [256, 128], "scheme": "zeros"},
            {"name": "b", "shape": [256], "scheme": "zeros"},
        ],
    }
    r = client.post("/diagnostics", json=body)
    assert r.status_code == 200
    reports = r.json()["diagnostics"]
    assert reports["w"]["verdict"] == "fail" and reports["b"]["verdict"] == "healthy"
    assert any("symmetry" in v["reason"] for v in reports["w"]["verdicts"])


def test_the_answer_is_the_engines_report_of_the_request_as_compact_json(client):
    r = client.post("/diagnostics", json=SHORTHAND)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.text == report_text(diagnostics_report(to_request(InitRequest.model_validate(SHORTHAND))))
    assert json.loads(r.text)["seed"] == 0 and "safetensors_base64" not in r.text


def test_diagnostics_accepts_sizes_beyond_the_init_cap(client):
    r = client.post("/diagnostics", json={"seed": 0, "shape": [4096, 4097], "scheme": "kaiming_uniform"})
    assert r.status_code == 200
    report = r.json()["diagnostics"]["weight"]
    assert report["verdict"] == "healthy" and report["outside_bounds"] == 0


def test_beyond_its_own_element_cap_it_is_a_413_naming_the_cap(tmp_path):
    settings = Settings(max_diagnostics_elements=1000, job_dir=str(tmp_path))
    with TestClient(create_app(settings)) as small:
        assert small.post("/diagnostics", json={"seed": 0, "shape": [10, 100], "scheme": "normal"}).status_code == 200
        r = small.post("/diagnostics", json={"seed": 0, "shape": [10, 101], "scheme": "normal"})
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
        assert "1,010 elements" in r.json()["detail"] and "POST /diagnostics serves at most 1,000" in r.json()["detail"]


def test_diagnostics_refuses_an_accept_without_json(client):
    r = client.post("/diagnostics", json=SHORTHAND, headers={"accept": "application/octet-stream"})
    assert r.status_code == 406 and r.headers["content-type"] == "application/problem+json"
    assert client.post("/diagnostics", json=SHORTHAND, headers={"accept": "*/*"}).status_code == 200


def test_histogram_of_a_tensor_against_its_density(client):
    body = {"seed": 0, "shape": [128, 64], "scheme": "xavier_normal"}
    r = client.post("/diagnostics", json=body, headers={"accept": "image/svg+xml"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(r.content)
    assert len(root.findall(f".//{SVG_NS}rect")) > 10  # bars
    assert root.findall(f".//{SVG_NS}polyline")  # the density
    r = client.post("/diagnostics?tensor=nope", json=body, headers={"accept": "image/svg+xml"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "tensor"


def test_with_several_tensors_the_histogram_needs_the_tensor_named(client):
    body = {"seed": 0, "tensors": [{"name": "w", "shape": [32, 32], "scheme": "orthogonal"},
                                   {"name": "b", "shape": [32], "scheme": "zeros"}]}  # fmt: skip
    r = client.post("/diagnostics", json=body, headers=SVG)
    assert r.status_code == 422 and "?tensor=NAME" in r.json()["detail"]
    (error,) = r.json()["errors"]
    assert error["field"] == "tensor" and error["allowed"] == "w, b"
    named = client.post("/diagnostics?tensor=w", json=body, headers=SVG)
    assert named.status_code == 200 and "w: " in "".join(ET.fromstring(named.content).itertext())


def test_the_histogram_of_a_large_tensor_says_it_is_sampled(client):
    r = client.post("/diagnostics", json={"seed": 0, "shape": [2048, 1024], "scheme": "normal"}, headers=SVG)
    assert r.status_code == 200
    title = ET.fromstring(r.content).find(f"{SVG_NS}text").text
    assert title.startswith("weight: ") and "of 2,097,152 values" in title
