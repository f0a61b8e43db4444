"""Scheme models: one pydantic model per registered scheme, built from the registry, and their union."""

import typing

import pytest
from hypothesis import given, settings
from pydantic import BaseModel, TypeAdapter, ValidationError

from service.core import dialects
from service.core.generate import TensorSpec
from service.core.registry import REGISTRY, all_names, get_scheme
from service.spec.request import InitRequest, to_request
from service.spec.schemes import SCHEME_MODELS, SchemeSpec, scheme_params

from . import strategies as gen

ADAPTER = TypeAdapter(SchemeSpec)
# The parameters a scheme cannot go without, as its example spells them.
REQUIRED = {
    name: {p.name: registered.example.params[p.name] for p in registered.params if p.required}
    for name, registered in REGISTRY.items()
}
NEEDS_PARAMETERS = sorted(name for name, required in REQUIRED.items() if required)


def scheme(value):
    return ADAPTER.validate_python(value)


WORDS = {w.qualified: w for d in dialects.PREFIXES for w in dialects.by_dialect(d)}


def test_there_is_one_model_per_registered_scheme_and_per_dialect_word():
    assert set(SCHEME_MODELS) == set(REGISTRY) | set(WORDS)
    assert len({id(model) for model in SCHEME_MODELS.values()}) == len(REGISTRY) + len(WORDS)
    assert len({model.__name__ for model in SCHEME_MODELS.values()}) == len(SCHEME_MODELS)  # unique $defs
    for name in REGISTRY:
        model = SCHEME_MODELS[name]
        assert issubclass(model, BaseModel)
        assert model.__name__ == "".join(part.capitalize() for part in name.split("_")) + "Scheme"
    for name, word in WORDS.items():
        assert set(typing.get_args(SCHEME_MODELS[name].model_fields["name"].annotation)) == set(word.spellings)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_model_names_the_scheme_and_its_aliases_and_its_parameters(name):
    model, registered = SCHEME_MODELS[name], REGISTRY[name]
    assert set(typing.get_args(model.model_fields["name"].annotation)) == {name, *registered.aliases}
    assert set(model.model_fields) == {"name", *(p.name for p in registered.params)}
    for param in registered.params:
        field = model.model_fields[param.name]
        assert field.is_required() == param.required
        if not param.required:
            assert field.default == param.default


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_model_forbids_extra_fields(name):
    model = SCHEME_MODELS[name]
    assert model.model_config["extra"] == "forbid"
    with pytest.raises(ValidationError) as info:
        model.model_validate({"name": name, **REQUIRED.get(name, {}), "not_a_param": 1})
    assert [e["type"] for e in info.value.errors()] == ["extra_forbidden"]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_model_accepts_every_alias(name):
    for alias in (name, *REGISTRY[name].aliases):
        parsed = scheme({"name": alias, **REQUIRED.get(name, {})})
        assert type(parsed) is SCHEME_MODELS[name]
        assert parsed.name == alias


@pytest.mark.parametrize("name", [n for n in all_names() if get_scheme(n).name not in NEEDS_PARAMETERS])
def test_a_bare_name_equals_the_object_form_with_defaults(name):
    assert scheme(name) == scheme({"name": name})
    assert scheme_params(scheme(name)) == (name, {})


@pytest.mark.parametrize("name", [n for n in all_names() if get_scheme(n).name in NEEDS_PARAMETERS])
def test_a_bare_name_of_a_scheme_with_required_parameters_is_refused(name):
    with pytest.raises(ValidationError):
        scheme(name)


def test_some_schemes_need_parameters():
    assert {"constant", "sparse"} <= set(NEEDS_PARAMETERS)  # the refusal test above has cases


@settings(max_examples=60, deadline=None, derandomize=True)
@given(gen.example_bodies())
def test_every_schemes_published_example_is_a_request_for_its_example_tensor(body):
    [tensor] = to_request(InitRequest.model_validate(body)).tensors
    registered = get_scheme(body["scheme"]["name"])
    example = registered.example
    assert (tensor.shape, tensor.layout) == (example.shape, example.layout)
    expected = TensorSpec(tensor.name, example.shape, registered.name, example.params, tensor.dtype, example.layout)
    assert tensor.canonical() == expected.canonical()


def test_a_bare_name_and_the_object_form_give_the_same_canonical_request():
    def canonical(value):
        return to_request(InitRequest.model_validate({"shape": [4, 3], "scheme": value})).canonical_json

    assert canonical("xavier_uniform") == canonical({"name": "xavier_uniform"}) == canonical({"name": "glorot_uniform"})
    assert canonical("he_normal") == canonical({"name": "kaiming_normal", "a": 0, "mode": "fan_in"})
    assert canonical("glorot_uniform") != canonical("glorot_normal")


@pytest.mark.parametrize("alias, canonical", [("glorot_uniform", "xavier_uniform"), ("he_normal", "kaiming_normal")])
def test_aliases_are_accepted_and_canonicalize_to_the_scheme_name(alias, canonical):
    [tensor] = to_request(InitRequest.model_validate({"shape": [4, 3], "scheme": alias})).canonical()["tensors"]
    assert tensor["scheme"]["name"] == canonical


@pytest.mark.parametrize("spelling", ["fan_out", "FAN_OUT", "Fan_Out", "fAN_oUT"])
@pytest.mark.parametrize("name", ["kaiming_uniform", "kaiming_normal", "he_uniform"])
def test_kaiming_mode_is_case_insensitive(name, spelling):
    parsed = scheme({"name": name, "mode": spelling})
    assert parsed.mode == "fan_out"
    [tensor] = to_request(InitRequest.model_validate({"shape": [4, 3], "scheme": parsed.model_dump()})).canonical()[
        "tensors"
    ]
    assert tensor["scheme"]["mode"] == "fan_out"


def test_other_string_parameters_are_case_sensitive():
    with pytest.raises(ValidationError):
        scheme({"name": "kaiming_normal", "nonlinearity": "ReLU"})
    with pytest.raises(ValidationError):
        scheme({"name": "variance_scaling", "mode": "FAN_IN"})
    with pytest.raises(ValidationError):
        scheme({"name": "kaiming_normal", "mode": "fan_avg"})


def test_untruncated_normal_is_accepted_and_canonicalizes_to_normal():
    parsed = scheme({"name": "variance_scaling", "distribution": "untruncated_normal"})
    assert scheme_params(parsed) == ("variance_scaling", {"distribution": "untruncated_normal"})
    body = {"shape": [4, 3], "scheme": {"name": "variance_scaling", "distribution": "untruncated_normal"}}
    same = {"shape": [4, 3], "scheme": {"name": "variance_scaling", "distribution": "normal"}}
    first, second = (to_request(InitRequest.model_validate(b)) for b in (body, same))
    assert first.canonical()["tensors"][0]["scheme"]["distribution"] == "normal"
    assert first.canonical_json == second.canonical_json


def test_scheme_params_returns_the_name_as_given_and_only_the_parameters_given():
    parsed = scheme({"name": "he_uniform", "a": 1, "nonlinearity": "relu"})
    assert scheme_params(parsed) == ("he_uniform", {"a": 1.0, "nonlinearity": "relu"})


@pytest.mark.parametrize(
    "value",
    [
        {"name": "normal", "std": 0},  # exclusive minimum 0
        {"name": "normal", "std": -1.0},
        {"name": "sparse", "sparsity": -0.5},
        {"name": "dirac", "groups": 0},
        {"name": "orthogonal", "gain": 0},
        {"name": "truncated_normal", "bounds": "percent"},
        {"name": "truncated_normal", "correct_variance": "true"},
        {"name": "variance_scaling", "distribution": "Normal"},
        {"name": "no_such_scheme"},
        {"name": None},
        {},
        "",
        "XAVIER_UNIFORM",
        5,
        None,
    ],
)
def test_out_of_range_or_mistyped_parameters_are_validation_errors(value):
    with pytest.raises(ValidationError):
        scheme(value)


# --- JSON schema ------------------------------------------------------------------------------------


def test_the_json_schema_is_one_of_a_name_enum_and_the_discriminated_union():
    schema = ADAPTER.json_schema()
    [names, objects] = schema["oneOf"]
    assert names["type"] == "string"
    spellings = [s for w in WORDS.values() for s in w.spellings]
    # The names a bare name may stand for: exactly those the validation takes alone (a scheme
    # with a parameter without a default, constant or sparse, needs its object).
    every = [*all_names(), *spellings]
    assert names["enum"] == [name for name in every if name in names["enum"]]
    for name in every:
        try:
            ADAPTER.validate_python(name)
            alone = True
        except ValidationError:
            alone = False
        assert (name in names["enum"]) == alone, name
    assert {"constant", "sparse"} <= set(every) - set(names["enum"])
    assert objects["discriminator"]["propertyName"] == "name"
    refs = {ref["$ref"].rsplit("/", 1)[1] for ref in objects["oneOf"]}
    assert refs == {model.__name__ for model in SCHEME_MODELS.values()}
    mapping = objects["discriminator"]["mapping"]
    assert set(mapping) == set(all_names()) | set(spellings)
    for name, scheme_ in REGISTRY.items():
        for spelling in (name, *scheme_.aliases):
            assert mapping[spelling] == f"#/$defs/{SCHEME_MODELS[name].__name__}"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_model_schema_forbids_extra_properties_and_lists_aliases_in_its_name_enum(name):
    definition = ADAPTER.json_schema()["$defs"][SCHEME_MODELS[name].__name__]
    assert definition["additionalProperties"] is False
    prop = definition["properties"]["name"]
    spellings = prop["enum"] if "enum" in prop else [prop["const"]]  # a one-value Literal is a const
    assert set(spellings) == {name, *REGISTRY[name].aliases}
    assert set(definition["required"]) == {"name", *(p.name for p in REGISTRY[name].params if p.required)}
    for param in REGISTRY[name].params:
        prop = definition["properties"][param.name]
        if param.implicit:  # optional: null (the layout's rule) or its kind
            prop = next(m for m in prop["anyOf"] if m.get("type") != "null")
        if param.kind == "axes":
            assert prop["type"] == "integer"  # or a list of integers (the union's other member)
            continue
        kind = {"float": "number", "int": "integer", "str": "string", "bool": "boolean"}[param.kind]
        assert prop["type"] == kind
        if param.exclusive_minimum is not None:
            assert prop["exclusiveMinimum"] == param.exclusive_minimum
        if param.minimum is not None:
            assert prop["minimum"] == param.minimum
        if param.choices:
            assert set(param.choices) <= set(prop["enum"])


def test_the_request_schema_uses_the_scheme_schema():
    schema = InitRequest.model_json_schema()
    assert "oneOf" in str(schema["$defs"]["TensorRequest"]["properties"]["scheme"])
