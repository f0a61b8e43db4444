"""openapi.json is the app's contract, exactly; regenerate with `python -m service openapi > openapi.json`."""

import json
from pathlib import Path

from service.app import create_app
from service.core import dialects
from service.core.registry import all_names
from service.openapi import text

COMMITTED = Path(__file__).parents[1] / "openapi.json"


def test_committed_openapi_matches_the_app():
    assert COMMITTED.read_text() == text(create_app()), "regenerate: python -m service openapi > openapi.json"


def test_integer_bounds_are_exact_and_errors_are_problem_json():
    schema = json.loads(COMMITTED.read_text())
    seed = schema["components"]["schemas"]["InitRequest"]["properties"]["seed"]
    assert seed["maximum"] == 2**64 - 1 and isinstance(seed["maximum"], int)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if int(code) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], (path, method, code)


def test_schemes_are_a_discriminated_union_with_string_shorthand():
    schema = json.loads(COMMITTED.read_text())
    scheme = schema["components"]["schemas"]["TensorRequest"]["properties"]["scheme"]
    name, union = scheme["oneOf"]
    words = [s for d in dialects.PREFIXES for w in dialects.by_dialect(d) for s in w.spellings]
    assert set(name["enum"]) < {*all_names(), *words}  # initw's names, then the frameworks' words
    needs = {"constant", "sparse", "torch.constant_", "jax.variance_scaling"}  # a parameter without a default
    assert not needs & set(name["enum"]) and "he_normal" in name["enum"] and "keras.HeNormal" in name["enum"]
    assert union["discriminator"]["propertyName"] == "name"
    assert "KaimingNormalScheme" in json.dumps(union)
