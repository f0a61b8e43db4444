"""The request's ``dialect``: names qualified before validation, the layout it implies, layers in
its names, and errors that name the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.core.errors import InitError
from service.spec.request import InitRequest, to_request


def request(body: dict):
    return to_request(InitRequest.model_validate({"seed": 1, **body}))


def test_unqualified_names_are_the_dialects_everywhere_a_scheme_is_written():
    r = request({
        "dialect": "keras",
        "shape": [4, 6], "scheme": "HeNormal",
        "tensors": [{"name": "t", "shape": [4, 6], "scheme": {"name": "random_normal", "stddev": 0.1}}],
        "layers": [{"type": "linear", "name": "fc", "in_features": 4, "out_features": 6,
                    "weight_init": "glorot_normal", "bias_init": {"name": "Constant", "value": 0.5}}],
    })  # fmt: skip
    specs = {t.name: t.canonical() for t in r.tensors}
    assert specs["weight"]["scheme"] == {"name": "variance_scaling", "scale": 2.0, "mode": "fan_in",
                                         "distribution": "truncated_normal"}  # fmt: skip
    assert specs["t"]["scheme"] == {"name": "normal", "mean": 0.0, "std": 0.1}
    assert specs["fc/kernel"]["scheme"]["distribution"] == "truncated_normal"  # Keras's GlorotNormal
    assert specs["fc/bias"]["scheme"] == {"name": "constant", "value": 0.5}
    assert {s["layout"] for s in specs.values()} == {"keras"}  # the dialect's layout by default
    assert r.warnings == ()


def test_the_dialects_layout_is_a_default_an_explicit_layout_wins():
    assert request({"dialect": "flax", "shape": [4, 6], "scheme": "zeros"}).tensors[0].layout == "jax"
    assert request({"dialect": "torch", "shape": [4, 6], "scheme": "zeros_"}).tensors[0].layout == "torch"
    kept = request({"dialect": "jax", "layout": "keras", "shape": [4, 6], "scheme": "zeros"}).tensors[0]
    assert kept.layout == "jax"  # a JAX word computes JAX's fans whatever the request's layout
    assert request({"dialect": "jax", "layout": "keras", "layers": [
        {"type": "linear", "name": "d", "in_features": 4, "out_features": 6}]}).tensors[0].shape == (4, 6)  # fmt: skip


def test_a_qualified_name_means_its_framework_under_any_dialect():
    r = request({"dialect": "keras", "shape": [4, 6], "scheme": "jax.uniform"})
    assert r.tensors[0].canonical()["scheme"] == {"name": "uniform", "a": 0.0, "b": 0.01}


def test_names_outside_the_dialect_and_unknown_dialects_are_refused_by_field():
    with pytest.raises(ValidationError) as outside:
        InitRequest.model_validate({"dialect": "jax", "shape": [4, 6], "scheme": "sphere_rows"})
    assert "jax.sphere_rows" in str(outside.value)
    with pytest.raises(ValidationError) as unknown:
        InitRequest.model_validate({"dialect": "tensorflow", "shape": [4, 6], "scheme": "zeros"})
    assert unknown.value.errors()[0]["loc"] == ("dialect",)


def test_flax_layers_need_the_jax_layout_and_one_tree():
    with pytest.raises(InitError) as torch_layout:
        request({"dialect": "flax", "layout": "torch", "layers": [
            {"type": "linear", "name": "d", "in_features": 4, "out_features": 6}]})  # fmt: skip
    assert torch_layout.value.param == "layout"
    with pytest.raises(InitError) as clash:
        request({"dialect": "flax", "layers": [
            {"type": "linear", "name": "d", "in_features": 4, "out_features": 6, "bias": False}],
            "tensors": [{"name": "params/d/kernel/extra", "shape": [2], "scheme": "zeros"}]})  # fmt: skip
    assert clash.value.param == "tensors.0.name" and "one Flax tree" in str(clash.value)
    with pytest.raises(InitError) as empty_scope:
        request(
            {"dialect": "flax", "layers": [{"type": "linear", "name": "a//b", "in_features": 4, "out_features": 6}]}
        )
    assert empty_scope.value.param.startswith("layers.0")


def test_framework_defaults_of_layers_never_warn_the_users_words_do():
    quiet = request({"layout": "keras", "layers": [{"type": "embedding", "name": "e", "num_embeddings": 5,
                                                    "embedding_dim": 3, "preset": "flax"}]})  # fmt: skip
    assert quiet.warnings == ()  # flax's Embed default, variance_scaling 'normal', is not the user's word
    loud = request({"layout": "keras", "layers": [{"type": "linear", "name": "fc", "in_features": 4,
                                                   "out_features": 6, "weight_init": "he_normal"}]})  # fmt: skip
    assert len(loud.warnings) == 1 and loud.warnings[0].startswith("layers.0.weight_init: 'he_normal'")
