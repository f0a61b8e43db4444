"""service.spec.presets: the preset catalogue read from the request's own preset models."""

from __future__ import annotations

from typing import get_args

from service.spec.architectures import ArchitectureSpec
from service.spec.presets import MODELS, WITHDRAWN, catalogue, describe, describe_field, example_body, markdown
from service.spec.request import InitRequest, to_request


def test_every_preset_model_of_the_request_is_listed_active_first():
    union = get_args(get_args(ArchitectureSpec)[0])
    assert set(MODELS.values()) == set(union)
    entries = catalogue()
    assert {e["name"] for e in entries} == set(MODELS)
    statuses = [e["status"] for e in entries]
    assert statuses == sorted(statuses, key=lambda s: s != "active")  # withdrawn ones last
    assert {e["name"] for e in entries if e["status"] != "active"} == {
        next(n for n, m in MODELS.items() if m is model) for model in WITHDRAWN
    }


def test_each_active_presets_example_is_a_request_that_plans():
    for name, model in MODELS.items():
        body = example_body(model)
        if model in WITHDRAWN:
            assert body is None
            continue
        assert body is not None and body["model"]["preset"] == name
        assert to_request(InitRequest.model_validate(body)).tensors  # validated and planned


def test_a_field_says_its_type_default_range_and_meaning():
    field = describe_field("n_layer", {"type": "integer", "minimum": 1, "maximum": 128, "default": 12,
                                       "description": "blocks"}, required=False)  # fmt: skip
    assert field["type"] == "int" and field["default"] == 12 and not field["required"]
    assert "1" in field["allowed"] and "128" in field["allowed"] and field["description"] == "blocks"
    gpt2 = describe("gpt2")
    assert {f["name"] for f in gpt2["fields"]} >= {"n_layer", "n_embd", "vocab_size", "block_size", "std"}
    assert "## gpt2" in markdown()
