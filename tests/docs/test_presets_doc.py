"""docs/PRESETS.md is rendered from the preset models and must not drift from them; README links it."""

from pathlib import Path

from service.spec.presets import MODELS, markdown

ROOT = Path(__file__).parents[2]


def test_presets_doc_is_up_to_date():
    committed = (ROOT / "docs" / "PRESETS.md").read_text()
    assert committed == markdown(), "regenerate: python -m service.spec.presets > docs/PRESETS.md"
    for name, model in MODELS.items():
        assert f"## {name}\n" in committed
        for field in set(model.model_fields) - {"preset"}:
            assert f"| `{field}` |" in committed, (name, field)


def test_the_readme_links_the_presets_page():
    assert "docs/PRESETS.md" in (ROOT / "README.md").read_text()
