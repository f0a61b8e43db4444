"""docs/SCHEMES.md is rendered from the registry and must not drift from it."""

from pathlib import Path

from service.core import dialects
from service.core.catalogue import catalogue, dialects_markdown, markdown
from service.core.registry import REGISTRY


def test_schemes_doc_is_up_to_date():
    committed = (Path(__file__).parents[2] / "docs" / "SCHEMES.md").read_text()
    assert committed == markdown(), "regenerate: python -m service.core.catalogue > docs/SCHEMES.md"


def test_catalogue_lists_every_scheme_with_its_parameters():
    entries = {e["name"]: e for e in catalogue()}
    assert set(entries) == set(REGISTRY)
    kaiming = entries["kaiming_uniform"]
    assert kaiming["aliases"] == ["he_uniform", "msra_uniform"]
    assert [p["name"] for p in kaiming["parameters"]] == ["a", "mode", "nonlinearity"]
    assert entries["sparse"]["parameters"][0]["required"] is True
    assert entries["orthogonal"]["random_access"] is False and entries["normal"]["random_access"] is True


def test_the_dialects_doc_is_the_rendered_dialect_tables():
    committed = (Path(__file__).parents[2] / "docs" / "DIALECTS.md").read_text()
    assert committed == dialects_markdown(), "regenerate: python -m service.core.catalogue dialects > docs/DIALECTS.md"
    for word in (w for d in dialects.PREFIXES for w in dialects.by_dialect(d)):
        assert f"`{word.qualified}`" in committed
