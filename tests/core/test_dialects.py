"""service.core.dialects: every framework word translates into initw's terms as its framework means it."""

from __future__ import annotations

import math

import pytest

from service.core import dialects
from service.core.errors import InitError
from service.core.fans import jax_fans
from service.core.generate import TensorSpec
from service.core.registry import REGISTRY

WORDS = [w for d in dialects.PREFIXES for w in dialects.by_dialect(d)]
CONV = (3, 3, 16, 32)  # [*k, in, out]: fan_in 144, fan_out 288


def _shape(word: dialects.Word) -> tuple[int, ...]:
    if word.name in ("eye_", "Identity", "identity", "sparse_"):
        return (6, 8)
    if word.name in ("dirac_", "delta_orthogonal"):
        return (3, 3, 8, 16) if word.dialect != "torch" else (16, 8, 3, 3)
    return CONV


REQUIRED = {"constant_": {"val": 0.5}, "sparse_": {"sparsity": 0.5}, "constant": {"value": 0.5},
            "variance_scaling": {"scale": 1.0, "mode": "fan_in", "distribution": "uniform"}}  # fmt: skip


@pytest.mark.parametrize("word", [w for w in WORDS if not w.unsupported], ids=lambda w: w.qualified)
def test_every_word_translates_into_a_registered_scheme_that_plans(word):
    params = REQUIRED.get(word.name, {}) if not (word.dialect == "keras" and word.name == "variance_scaling") else {}
    meaning = dialects.translate(word.qualified, params, _shape(word))
    assert meaning.scheme in REGISTRY
    assert meaning.layout == dialects.FRAMEWORK_LAYOUT[word.dialect]
    spec = TensorSpec("w", _shape(word), meaning.scheme, meaning.params, "float64", meaning.layout)
    assert spec.plan is not None
    assert word.qualified in word.spellings and dialects.lookup(word.qualified) is word


def test_the_words_mean_their_frameworks_defaults():
    he = dialects.translate("keras.HeNormal", {}, CONV)
    assert (he.scheme, he.params) == (
        "variance_scaling",
        {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal"},
    )
    assert dialects.translate("keras.VarianceScaling", {"distribution": "normal"}, CONV).params["distribution"] == (
        "truncated_normal"  # Keras's "normal" is truncated
    )
    assert dialects.translate("jax.variance_scaling", {"scale": 1.0, "mode": "fan_in", "distribution": "normal"},
                              CONV).params["distribution"] == "normal"  # JAX's is not  # fmt: skip
    assert dialects.translate("keras.TruncatedNormal", {}, CONV).params == {
        "mean": 0.0, "std": 0.05, "a": -2.0, "b": 2.0, "bounds": "sigma"}  # fmt: skip
    assert dialects.translate("jax.truncated_normal", {"lower": -1.0}, CONV).params == {
        "mean": 0.0, "std": 0.01, "a": -1.0, "b": 2.0, "bounds": "sigma"}  # fmt: skip
    assert dialects.translate("jax.uniform", {}, CONV).params == {"a": 0.0, "b": 0.01}  # one-sided
    assert dialects.translate("keras.uniform", {}, CONV).params == {"a": -0.05, "b": 0.05}
    assert dialects.translate("jax.normal", {}, CONV).params == {"mean": 0.0, "std": 0.01}
    assert dialects.translate("torch.constant_", {"val": 3.0}, CONV).params == {"value": 3.0}
    assert dialects.translate("torch.trunc_normal_", {"std": 0.02}, CONV).params["a"] == -2.0  # absolute
    assert dialects.translate("jax.orthogonal", {"scale": 2.0}, CONV).params == {"gain": 2.0}
    assert dialects.translate("jax.orthogonal", {"column_axis": 0}, CONV).params == {"gain": 1.0, "column_axis": 0}


def test_keras_axes_give_the_fans_and_jax_axes_pass_through():
    keras = dialects.translate("keras.HeNormal", {"input_axes": [0, 1, 2], "output_axes": [3]}, CONV)
    assert (keras.fan_in, keras.fan_out) == (144, 32)  # Keras: products of the named axes only
    only_one = dialects.translate("keras.HeNormal", {"input_axes": [0]}, CONV)
    assert (only_one.fan_in, only_one.fan_out) == (None, None)  # Keras ignores one list without the other
    jax = dialects.translate("jax.he_normal", {"in_axis": 0, "out_axis": 2, "batch_axis": 1}, (64, 8, 32))
    assert jax.params == {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal", "in_axis": 0,
                          "out_axis": 2, "batch_axis": 1}  # fmt: skip
    plan = TensorSpec("w", (64, 8, 32), jax.scheme, jax.params, "float64", jax.layout).plan
    assert plan.theory.std == pytest.approx(math.sqrt(2 / 64), rel=1e-15)


@pytest.mark.parametrize(
    ("shape", "axes", "fans"),
    [
        ((64, 8, 32), (0, 2, 1), (64, 32)),
        ((64, 8, 32), (0, 1, []), (64 * 32, 8 * 32)),
        ((3, 3, 16, 32), (-2, -1, []), (144, 288)),
        ((3, 3, 16, 32), ([0, 1, 2], 3, []), (144, 32)),
        ((4, 5, 6, 7), (1, [2, 3], 0), (5, 42)),
        ((5, 7), ([], -1, []), (5, 35)),  # an empty list multiplies to 1: every other axis is receptive
    ],
)
def test_jax_fans_follow_jax(shape, axes, fans):
    assert jax_fans(shape, *axes) == fans


def test_jax_axes_that_overlap_or_fall_outside_are_refused():
    with pytest.raises(InitError, match="both in_axis and out_axis") as overlap:
        jax_fans((4, 5), 0, 0, [])
    assert overlap.value.param == "out_axis"
    with pytest.raises(InitError, match="out of range") as outside:
        jax_fans((4, 5), 2, -1, [])
    assert outside.value.param == "in_axis"
    with pytest.raises(InitError, match="Must be at least 2D"):
        dialects.translate("jax.lecun_normal", {}, (7,))
    with pytest.raises(InitError, match="not both"):
        dialects.translate("keras.HeNormal", {"input_axes": [0], "output_axes": [1]}, (4, 5), fan_in=3)


def test_framework_arguments_initw_cannot_honour_are_refused_with_the_reason():
    with pytest.raises(InitError, match="request's seed") as seed:
        dialects.translate("keras.HeNormal", {"seed": 3}, CONV)
    assert seed.value.param == "seed"
    with pytest.raises(InitError, match="request's dtype"):
        dialects.translate("jax.normal", {"dtype": "float32"}, CONV)
    with pytest.raises(InitError, match="STFT"):
        dialects.translate("keras.STFT", {}, CONV)
    with pytest.raises(InitError, match="has no parameter 'std'") as unknown:
        dialects.translate("keras.RandomNormal", {"std": 0.1}, CONV)
    assert unknown.value.param == "std" and "stddev" in (unknown.value.allowed or "")
    with pytest.raises(InitError, match="needs parameter 'scale'"):
        dialects.translate("jax.variance_scaling", {}, CONV)


def test_qualify_prefixes_only_unqualified_names_under_a_dialect():
    assert dialects.qualify("HeNormal", "keras") == "keras.HeNormal"
    assert dialects.qualify("jax.he_normal", "keras") == "jax.he_normal"
    assert dialects.qualify("he_normal", None) == dialects.qualify("he_normal", "initw") == "he_normal"


@pytest.mark.parametrize(
    ("name", "params", "layout", "warned"),
    [
        ("he_normal", {}, "keras", True),
        ("kaiming_normal", {}, "jax", True),
        ("kaiming_normal", {}, "keras", True),  # a Keras user may write JAX's spelling
        ("xavier_normal", {}, "keras", True),
        ("glorot_normal", {}, "jax", True),
        ("truncated_normal", {}, "keras", True),
        ("normal", {}, "jax", True),
        ("uniform", {}, "jax", True),
        ("variance_scaling", {"distribution": "normal"}, "keras", True),
        ("variance_scaling", {"distribution": "normal"}, "jax", False),
        ("he_normal", {}, "torch", False),  # PyTorch's meaning is initw's
        ("glorot_uniform", {}, "keras", False),  # the same distribution, bound computed as sqrt(3 * var)
        ("he_uniform", {}, "keras", False),
        ("lecun_normal", {}, "jax", False),
        ("orthogonal", {}, "keras", False),
        ("zeros", {}, "jax", False),
        ("normal", {"std": 0.05}, "keras", False),  # initw's parameter: the user speaks initw
        ("sphere_rows", {}, "keras", False),  # no framework word
    ],
)
def test_a_warning_names_an_unqualified_name_its_layouts_framework_reads_otherwise(name, params, layout, warned):
    shape = CONV if name != "eye" else (6, 8)
    warning = dialects.differs(name, params, shape, layout)
    assert (warning is not None) == warned
    if warning:
        assert "initw" in warning and ("keras." in warning or "jax." in warning)
