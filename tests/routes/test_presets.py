"""GET /presets and GET /presets/{name}, read from the preset models; and the 422 of a preset's
field, which names the field and points to the preset's documentation."""

import pytest
from safetensors.numpy import load

from service.spec.architectures import expand_architecture
from service.spec.presets import MODELS, WITHDRAWN

ACTIVE = [name for name, model in MODELS.items() if model not in WITHDRAWN]


def test_lists_every_preset_of_the_request_language(client):
    entries = {e["name"]: e for e in client.get("/presets").json()["presets"]}
    assert set(entries) == set(MODELS) == {"gpt2", "mup_mlp_v2", "mup_mlp", "fixup_mlp", "zero_mlp"}
    assert [e["status"] for e in entries.values()].count("withdrawn") == 1
    assert entries["mup_mlp"]["replaced_by"] == "mup_mlp_v2" and entries["mup_mlp"]["example"] is None


@pytest.mark.parametrize("name", list(MODELS))
def test_every_field_of_every_preset_is_listed_with_its_type_default_range_and_meaning(client, name):
    entry = next(e for e in client.get("/presets").json()["presets"] if e["name"] == name)
    assert entry == client.get(f"/presets/{name}").json()
    model = MODELS[name]
    fields = {f["name"]: f for f in entry["fields"]}
    assert set(fields) == set(model.model_fields) - {"preset"}
    for field, info in model.model_fields.items():
        if field == "preset":
            continue
        listed = fields[field]
        assert listed["required"] is info.is_required()
        assert listed["required"] or listed["default"] == info.default
        assert listed["type"] and listed["allowed"] and listed["description"], (name, field)
    if name in ACTIVE:
        assert entry["status"] == "active" and ("arXiv" in entry["description"] or "Radford" in entry["description"])
        assert entry["documentation"] == f"docs/PRESETS.md#{name}"


@pytest.mark.parametrize("name", ACTIVE)
def test_every_presets_example_body_is_accepted_by_post_init(client, name):
    example = client.get(f"/presets/{name}").json()["example"]
    assert example["model"]["preset"] == name
    response = client.post("/init", json=example)
    assert response.status_code == 200, response.text
    expected, _ = expand_architecture(MODELS[name].model_validate(example["model"]))
    assert sorted(load(response.content)) == sorted(t.name for t in expected)


def test_an_unknown_preset_is_a_404_problem(client):
    missing = client.get("/presets/resnet")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"].endswith("/unknown-preset") and "GET /presets" in missing.json()["detail"]


def _invalid_bodies(name):
    """For each field of the preset: the example without it (if required), and with a wrong type."""
    example = MODELS[name].model_config["json_schema_extra"]["examples"][0]
    for field, info in MODELS[name].model_fields.items():
        if field == "preset":
            continue
        if info.is_required():
            yield field, {key: value for key, value in example.items() if key != field}
        yield field, {**example, field: "x"}


@pytest.mark.parametrize("name", ACTIVE)
def test_a_missing_or_invalid_field_names_it_and_points_to_the_presets_documentation(client, name):
    for field, model in _invalid_bodies(name):
        response = client.post("/init", json={"seed": 0, "model": model})
        assert response.status_code == 422, (name, field)
        problem = response.json()
        (error,) = problem["errors"]
        assert error["field"] == f"model.{field}" and error["pointer"] == f"/model/{field}"
        assert f"see GET /presets/{name} or docs/PRESETS.md#{name}" in error["message"]
        assert problem["detail"].startswith(f"model.{field}: ") and f"GET /presets/{name}" in problem["detail"]
    unknown = client.post("/init", json={"seed": 0, "model": {"preset": name, "dropout": 0.1}}).json()
    assert any(e["field"] == "model.dropout" and f"GET /presets/{name}" in e["message"] for e in unknown["errors"])


@pytest.mark.parametrize("model", [{"preset": "resnet"}, {}, {"widths": [4, 4]}])
def test_a_model_without_a_known_preset_points_to_the_list(client, model):
    (error,) = client.post("/init", json={"seed": 0, "model": model}).json()["errors"]
    assert error["field"] == "model" and "GET /presets or docs/PRESETS.md" in error["message"]


def test_the_withdrawn_preset_says_why_and_where_to_read(client):
    (error,) = client.post("/init", json={"seed": 0, "model": {"preset": "mup_mlp"}}).json()["errors"]
    assert error["field"] == "model" and "use mup_mlp_v2" in error["message"]
    assert "GET /presets/mup_mlp" in error["message"]


def test_an_error_elsewhere_in_the_body_gets_no_preset_pointer(client):
    body = {"seed": -1, "model": {"preset": "zero_mlp", "widths": [4, 4]}}
    (error,) = client.post("/init", json=body).json()["errors"]
    assert error["field"] == "seed" and "presets" not in error["message"]
