"""Every Keras 3 and JAX/Flax initializer against the real library, by the name its user writes.

Each case is a framework initializer with some constructor arguments, and the same name and
arguments written in that framework's dialect (``{"dialect": "keras", "scheme": {"name":
"HeNormal"}}``), expanded by the request language as a client's request is. Where the libraries
are installed (the test extra installs them; Keras runs on its JAX backend), both sides are drawn
with fixed seeds (JAX's threefry is the same on every machine), so every verdict is the same on
every run: random initializers pass a two-sample KS test (p > 1e-4, the band of PyTorch's own init
tests), standard deviations within 1% and, where bounded, the same bound within 1%; constant ones
are equal; orthogonal ones have the same structure along the same axes; delta-orthogonal ones put
their orthogonal centre tap at the same place. A coverage test fails if a word of either dialect
has no case.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import numpy as np
import pytest
from scipy import stats

from service.core import dialects
from service.core.generate import generate
from service.spec.request import InitRequest, to_request

pytestmark = pytest.mark.slow  # importing jax and keras takes seconds: the full lane only
os.environ.setdefault("KERAS_BACKEND", "jax")  # Keras 3 without it asks for tensorflow
jax = pytest.importorskip("jax", reason="jax is not installed (pip install -e '.[test]' installs it)")
keras = pytest.importorskip("keras", reason="keras is not installed (pip install -e '.[test]' installs it)")
from keras.src.initializers import ALL_OBJECTS_DICT  # noqa: E402

flax_init = pytest.importorskip("flax.linen.initializers", reason="flax is not installed (the test extra installs it)")

CONV = (3, 3, 64, 128)  # [*kernel, in, out]: fan_in 576, fan_out 1152
HEADS = (64, 8, 32)  # [in, heads, out] with in_axis 0, out_axis 2, batch_axis 1


def ours(dialect: str, name: str, params: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray:
    """The tensor a request in ``dialect`` gets for ``name(**params)``, in float64."""
    body = InitRequest.model_validate(
        {"seed": 0, "dtype": "float64", "dialect": dialect,
         "tensors": [{"name": "w", "shape": list(shape), "scheme": {"name": name, **params}}]}
    )  # fmt: skip
    [spec] = to_request(body).tensors
    return generate(spec, 0).reshape(shape)


def theirs(dialect: str, name: str, params: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray:
    if dialect == "keras":
        cls = ALL_OBJECTS_DICT[name]  # the table keras.initializers.get looks names up in
        seeded = "seed" in inspect.signature(cls.__init__).parameters  # Zeros, Constant, Identity: no seed
        made = cls(**params, **({"seed": 1} if seeded else {}))
        return np.asarray(made(shape, dtype="float32"), dtype=np.float64)
    module = jax.nn.initializers if dialect == "jax" else flax_init
    made = getattr(module, name)
    if name not in ("zeros", "ones"):  # builders; jax's zeros and ones are initializers themselves
        made = made(**params)
    return np.asarray(made(jax.random.key(0), shape, jax.numpy.float32), dtype=np.float64)


# (dialect, name, params, shape, kind); kind: random | exact | orthogonal:<column axis> | delta
CASES: list[tuple[str, str, dict[str, Any], tuple[int, ...], str]] = [
    ("keras", "Zeros", {}, CONV, "exact"),
    ("keras", "Ones", {}, CONV, "exact"),
    ("keras", "Constant", {"value": 0.25}, CONV, "exact"),
    ("keras", "Identity", {"gain": 2.0}, (8, 12), "exact"),
    ("keras", "RandomNormal", {}, CONV, "random"),
    ("keras", "random_normal", {"mean": 0.5, "stddev": 0.2}, CONV, "random"),
    ("keras", "RandomUniform", {}, CONV, "random"),
    ("keras", "uniform", {"minval": -1.0, "maxval": 3.0}, CONV, "random"),
    ("keras", "TruncatedNormal", {}, CONV, "random"),
    ("keras", "truncated_normal", {"mean": 1.0, "stddev": 0.3}, CONV, "random"),
    ("keras", "VarianceScaling", {}, CONV, "random"),
    (
        "keras",
        "VarianceScaling",
        {"scale": 0.5, "mode": "fan_avg", "distribution": "untruncated_normal"},
        CONV,
        "random",
    ),
    ("keras", "variance_scaling", {"mode": "fan_out", "distribution": "normal"}, CONV, "random"),
    ("keras", "VarianceScaling", {"scale": 3.0, "distribution": "uniform"}, CONV, "random"),
    ("keras", "GlorotUniform", {}, CONV, "random"),
    ("keras", "GlorotNormal", {}, CONV, "random"),
    ("keras", "HeUniform", {}, CONV, "random"),
    ("keras", "HeNormal", {}, CONV, "random"),
    ("keras", "he_normal", {"input_axes": [0, 2], "output_axes": [3]}, CONV, "random"),
    ("keras", "LecunUniform", {}, CONV, "random"),
    ("keras", "LecunNormal", {}, CONV, "random"),
    ("keras", "lecun_normal", {}, (40000,), "random"),  # rank 1: Keras's fan = shape[0]
    ("keras", "Orthogonal", {"gain": 2.0}, CONV, "orthogonal:-1"),
    ("keras", "orthogonal", {}, (128, 64), "orthogonal:-1"),
]
for _d in ("jax", "flax"):
    CASES += [
        (_d, "zeros", {}, CONV, "exact"),
        (_d, "ones", {}, CONV, "exact"),
        (_d, "constant", {"value": -0.5}, CONV, "exact"),
        (_d, "uniform", {}, CONV, "random"),
        (_d, "uniform", {"scale": 0.3}, CONV, "random"),
        (_d, "normal", {}, CONV, "random"),
        (_d, "normal", {"stddev": 0.7}, CONV, "random"),
        (_d, "truncated_normal", {}, CONV, "random"),
        (_d, "truncated_normal", {"stddev": 0.5, "lower": -1.0, "upper": 3.0}, CONV, "random"),
        (_d, "variance_scaling", {"scale": 1.0, "mode": "fan_avg", "distribution": "normal"}, CONV, "random"),
        (_d, "variance_scaling", {"scale": 2.0, "mode": "fan_geo_avg", "distribution": "uniform"}, CONV, "random"),
        (
            _d,
            "variance_scaling",
            {
                "scale": 0.5,
                "mode": "fan_out",
                "distribution": "truncated_normal",
                "in_axis": 0,
                "out_axis": 2,
                "batch_axis": 1,
            },
            HEADS,
            "random",
        ),  # fmt: skip
        (_d, "glorot_uniform", {}, CONV, "random"),
        (_d, "xavier_uniform", {}, CONV, "random"),
        (_d, "glorot_normal", {}, CONV, "random"),
        (_d, "xavier_normal", {"in_axis": [0, 1], "out_axis": -1}, CONV, "random"),
        (_d, "lecun_uniform", {}, CONV, "random"),
        (_d, "lecun_normal", {}, CONV, "random"),
        (_d, "he_uniform", {}, CONV, "random"),
        (_d, "kaiming_uniform", {}, CONV, "random"),
        (_d, "he_normal", {}, CONV, "random"),
        (_d, "kaiming_normal", {"in_axis": 0, "out_axis": 2, "batch_axis": [1]}, HEADS, "random"),
        (_d, "orthogonal", {}, CONV, "orthogonal:-1"),
        (_d, "orthogonal", {"scale": 1.5, "column_axis": 0}, (8, 16, 24), "orthogonal:0"),
        (_d, "orthogonal", {"column_axis": 1}, (8, 16, 24), "orthogonal:1"),
        (_d, "delta_orthogonal", {}, (3, 3, 16, 32), "delta"),
        (_d, "delta_orthogonal", {"scale": 2.0, "column_axis": -2}, (4, 16, 16), "delta"),
    ]
CASES += [("flax", "zeros_init", {}, CONV, "exact"), ("flax", "ones_init", {}, CONV, "exact")]
IDS = [f"{d}.{n}({','.join(f'{k}={v}' for k, v in p.items())})" for d, n, p, _, _ in CASES]
UNBOUNDED = ("RandomNormal", "random_normal", "normal", "untruncated_normal")


def _keras_normal_is_truncated(dialect: str, params: dict[str, Any]) -> bool:
    return dialect == "keras" and params.get("distribution") == "normal"


def test_every_framework_word_has_a_case():
    words = {w.qualified for d in ("keras", "jax", "flax") for w in dialects.by_dialect(d) if not w.unsupported}
    covered = {dialects.lookup(f"{d}.{n}").qualified for d, n, *_ in CASES}  # type: ignore[union-attr]
    assert words == covered


@pytest.mark.parametrize(("dialect", "name", "params", "shape", "kind"), CASES, ids=IDS)
def test_a_framework_initializer_and_its_dialect_word_agree(dialect, name, params, shape, kind):
    mine, peer = ours(dialect, name, params, shape), theirs(dialect, name, params, shape)
    assert mine.shape == peer.shape
    if kind == "exact":
        np.testing.assert_array_equal(mine, peer)
        return
    if kind == "delta":  # zeros but the centre tap, at the same place, orthogonal with the same gain
        np.testing.assert_array_equal(mine != 0, peer != 0)
        k = tuple((s - 1) // 2 for s in shape[:-2])
        gain = params.get("scale", 1.0)
        for w in (mine[k], peer[k]):
            np.testing.assert_allclose(w @ w.T, gain**2 * np.eye(shape[-2]), atol=1e-5)
        return
    assert stats.ks_2samp(peer.ravel(), mine.ravel()).pvalue > 1e-4
    assert mine.std() == pytest.approx(peer.std(), rel=0.01)
    normal_tails = name in UNBOUNDED or (
        params.get("distribution") in ("normal", "untruncated_normal")
        and not _keras_normal_is_truncated(dialect, params)
    )
    if not normal_tails and not kind.startswith("orthogonal"):  # the same support: (nearly) the same bound
        assert np.abs(mine).max() == pytest.approx(np.abs(peer).max(), rel=0.01)
    if kind.startswith("orthogonal"):
        axis = int(kind.split(":")[1])
        gain = params.get("scale", params.get("gain", 1.0))
        for w in (mine, peer):
            m = np.moveaxis(w, axis, -1).reshape(-1, shape[axis])
            gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
            np.testing.assert_allclose(gram, gain**2 * np.eye(len(gram)), atol=1e-4)
