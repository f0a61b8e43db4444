"""GET /schemes and GET /schemes/{name}."""

from service.core.registry import REGISTRY


def test_lists_every_scheme_with_parameters_formula_and_random_access(client):
    body = client.get("/schemes").json()
    assert body["algorithm"] == "initw-v1"
    entries = {e["name"]: e for e in body["schemes"]}
    assert set(entries) == set(REGISTRY)
    normal = entries["truncated_normal"]
    assert normal["random_access"] is True and "Phi" in normal["formula"]
    std = next(p for p in normal["parameters"] if p["name"] == "std")
    assert std == {**std, "type": "float", "default": 1.0, "exclusive_minimum": 0.0, "required": False}
    assert entries["orthogonal"]["random_access"] is False


def test_one_scheme_by_name_or_alias_and_404_otherwise(client):
    assert client.get("/schemes/kaiming_normal").json()["aliases"] == ["he_normal", "msra", "msra_normal"]
    assert client.get("/schemes/he_normal").json()["name"] == "kaiming_normal"
    missing = client.get("/schemes/xavier")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert "GET /schemes" in missing.json()["detail"]
