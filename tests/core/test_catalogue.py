"""service/core/catalogue.py: GET /schemes' entries and docs/SCHEMES.md, both from the registry."""

import subprocess
import sys
from pathlib import Path

import pytest

from service.core.catalogue import catalogue, describe, describe_param, example_body, markdown
from service.core.generate import TensorSpec
from service.core.registry import REGISTRY, Param, get_scheme

ROOT = Path(__file__).parents[2]


def test_a_parameter_is_described_with_only_the_bounds_and_choices_it_has():
    bounded = describe_param(Param("sparsity", "float", description="d", minimum=0.0, exclusive_maximum=1.0))
    assert bounded == {
        "name": "sparsity",
        "type": "float",
        "required": True,
        "minimum": 0.0,
        "exclusive_maximum": 1.0,
        "allowed": "a finite number >= 0 and < 1",
        "description": "d",
    }
    chosen = describe_param(Param("d", "str", "normal", choices=("normal",), synonyms={"untruncated_normal": "normal"}))
    assert chosen["default"] == "normal" and chosen["choices"] == ["normal"]
    assert chosen["synonyms"] == {"untruncated_normal": "normal"}


def test_a_scheme_is_described_by_its_registry_entry():
    entry = describe(get_scheme("msra"))
    assert entry["name"] == "kaiming_normal" and entry["aliases"] == ["he_normal", "msra", "msra_normal"]
    assert entry["formula"] == get_scheme("kaiming_normal").doc.split("\n\n")[0].replace("\n", " ")
    assert "He et al. (2015)" in entry["description"] and "\n" not in entry["description"]
    assert entry["dimensions"] is None and entry["random_access"] is True and entry["family"] == "elementwise"
    assert [p["name"] for p in entry["parameters"]] == ["a", "mode", "nonlinearity"]
    assert describe(get_scheme("dirac"))["dimensions"] == {"min": 3, "max": 5}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_example_is_shown_as_a_request_for_the_schemes_example_tensor(name):
    body = example_body(REGISTRY[name])
    assert body == describe(REGISTRY[name])["example"]
    scheme = dict(body["scheme"])
    spec = TensorSpec("weight", tuple(body["shape"]), scheme.pop("name"), scheme, layout=body["layout"])
    example = REGISTRY[name].example
    assert (spec.shape, spec.params, spec.layout) == (example.shape, dict(example.params), example.layout)


def test_the_catalogue_lists_every_scheme_once_by_name():
    names = [entry["name"] for entry in catalogue()]
    assert names == sorted(REGISTRY)


def test_the_markdown_has_a_table_row_and_a_section_per_scheme_with_cells_escaped():
    text = markdown()
    for name in REGISTRY:
        assert f"| [`{name}`](#{name}) |" in text and f"\n## {name}\n" in text
    sphere = next(line for line in text.splitlines() if line.startswith("| [`sphere_rows`]"))
    assert "z / \\|\\|z\\|\\| * radius" in sphere  # a formula's | would end the cell
    assert "| `sparsity` | float | required |" in text
    assert text.count("Example (a POST /init body): `{") == len(REGISTRY)


def test_running_the_module_prints_the_markdown():
    done = subprocess.run([sys.executable, "-m", "service.core.catalogue"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)  # fmt: skip
    assert done.stdout == markdown()
