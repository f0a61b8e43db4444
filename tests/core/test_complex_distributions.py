"""complex64: element i from words 2i and 2i+1, JAX's complex shapes, random access, diagnostics."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from scipy import stats

from service.core.artifact import Request, build
from service.core.bits import derive_key, philox_words
from service.core.complex_distributions import ComplexDisk, ComplexNormal, ComplexTruncated
from service.core.diagnose import diagnose
from service.core.distributions import Normal
from service.core.errors import InitError
from service.core.generate import COMPLEX_SCHEMES, TensorSpec, generate
from service.core.registry import REGISTRY

SHAPE = (256, 512)  # fan_in 512 (torch), 256 (jax)


def spec(scheme: str, params: dict | None = None, shape: tuple[int, ...] = SHAPE, layout: str = "jax") -> TensorSpec:
    return TensorSpec("w", shape, scheme, params or {}, "complex64", layout)


def test_element_i_takes_words_2i_and_2i_plus_1():
    s = spec("normal", {"std": 0.5})
    words = philox_words(derive_key(7, "w"), 0, 2 * 1000)
    part = Normal(0.0, 0.5 / math.sqrt(2.0))
    expected = part.sample(words[0::2].copy()) + 1j * part.sample(words[1::2].copy())
    np.testing.assert_array_equal(generate(s, 7, 0, 1000), expected.astype(np.complex64))


@pytest.mark.parametrize(("scheme", "params"), [("normal", {}), ("variance_scaling", {"distribution": "uniform"}),
                                                ("variance_scaling", {}), ("constant", {"value": 2.5})])  # fmt: skip
def test_any_element_range_is_generated_alone(scheme, params):
    s = spec(scheme, params)
    whole = generate(s, 3)
    for a, b in ((0, 1), (17, 4099), (70_000, SHAPE[0] * SHAPE[1])):
        np.testing.assert_array_equal(generate(s, 3, a, b), whole[a:b])


def test_the_shapes_are_jaxs_with_their_moments():
    variance = 1 / 256  # jax layout: fan_in = 256
    n = generate(spec("variance_scaling", {"distribution": "normal"}), 1).astype(np.complex128)
    assert np.mean(np.abs(n) ** 2) == pytest.approx(variance, rel=0.01)
    assert stats.kstest(n.real.ravel() / math.sqrt(variance / 2), "norm").pvalue > 1e-4
    assert stats.kstest(n.imag.ravel() / math.sqrt(variance / 2), "norm").pvalue > 1e-4
    disk = generate(spec("variance_scaling", {"distribution": "uniform"}), 1).astype(np.complex128)
    radius = math.sqrt(2 * variance)
    assert np.abs(disk).max() <= radius * (1 + 1e-6)
    assert np.mean(np.abs(disk) ** 2) == pytest.approx(variance, rel=0.01)
    assert stats.kstest((np.abs(disk) / radius).ravel() ** 2, "uniform").pvalue > 1e-4  # |z|^2 uniform on a disk
    assert stats.kstest((np.angle(disk).ravel() % (2 * np.pi)) / (2 * np.pi), "uniform").pvalue > 1e-4
    cut = generate(spec("variance_scaling"), 1).astype(np.complex128)
    std = math.sqrt(variance) / 0.95311164380491208
    assert np.abs(cut).max() <= 2 * std * (1 + 1e-6)
    x = (np.abs(cut) / std).ravel() ** 2  # Exp(1) cut at 4
    assert stats.kstest(x, lambda v: (1 - np.exp(-v)) / (1 - math.exp(-4))).pvalue > 1e-4
    assert np.mean(np.abs(cut) ** 2) == pytest.approx(1.01866 * variance, rel=0.01)  # JAX's constant


def test_theories_describe_the_pooled_parts():
    for dist, std in ((ComplexNormal(2.0), 2.0 / math.sqrt(2)), (ComplexDisk(2.0), 2.0 / math.sqrt(2))):
        assert dist.theory.std == pytest.approx(std, rel=1e-15) and dist.theory.mean == 0.0
    cut = ComplexTruncated(1.0)
    assert cut.theory.std == pytest.approx(math.sqrt(0.9253705585449038 / 2), rel=1e-12)
    assert (cut.theory.low, cut.theory.high) == (-2.0, 2.0)


@pytest.mark.parametrize(("scheme", "params"), [("normal", {}), ("variance_scaling", {"distribution": "uniform"}),
                                                ("variance_scaling", {}), ("lecun_normal", {})])  # fmt: skip
def test_the_diagnostics_of_a_complex_tensor_are_its_parts_and_healthy(scheme, params):
    report = diagnose(spec(scheme, params), 5)
    assert report["values"].startswith("the real and imaginary parts")
    assert all(v["band"] == "healthy" for v in report["verdicts"]), report["verdicts"]
    assert report["std"] == pytest.approx(report["expected"]["std"], rel=0.01)


def test_every_other_scheme_refuses_a_complex_dtype_naming_the_ones_that_draw_it():
    accepted = set()
    for name, registered in REGISTRY.items():
        example = registered.example
        params = {**example.params, **({"mean": 0.0} if name == "normal" else {})}
        try:
            _ = TensorSpec("w", example.shape, name, params, "complex64", example.layout).plan
            accepted.add(name)
        except InitError as error:
            assert error.param == "dtype" and "normal, variance_scaling" in str(error)
    assert accepted == set(COMPLEX_SCHEMES)
    with pytest.raises(InitError, match="mean 0") as mean:
        _ = spec("normal", {"mean": 1.0}).plan
    assert mean.value.param == "scheme.mean"


def test_a_complex_file_is_c64_and_loads_with_the_stock_reader():
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    tensors = (spec("variance_scaling", {"distribution": "uniform"}, (64, 32)),
               TensorSpec("z", (3,), "zeros", {}, "complex64"))  # fmt: skip
    data = build(Request(9, tensors)).to_bytes()
    loaded = safetensors_numpy.load(data)
    assert loaded["w"].dtype == np.complex64 and loaded["w"].shape == (64, 32)
    np.testing.assert_array_equal(loaded["w"].reshape(-1), generate(tensors[0], 9))
    assert b'"dtype":"C64"' in data[: 8 + int.from_bytes(data[:8], "little")]


@pytest.mark.slow
@pytest.mark.parametrize("distribution", ["normal", "uniform", "truncated_normal"])
def test_against_jaxs_complex_variance_scaling(distribution):
    jax = pytest.importorskip("jax", reason="jax is not installed (the test extra installs it)")
    os.environ.setdefault("JAX_ENABLE_X64", "0")
    shape = (3, 3, 64, 128)
    init = jax.nn.initializers.variance_scaling(2.0, "fan_avg", distribution)
    theirs = np.asarray(init(jax.random.key(0), shape, jax.numpy.complex64)).astype(np.complex128).ravel()
    params = {"scale": 2.0, "mode": "fan_avg", "distribution": distribution}
    ours = generate(TensorSpec("w", shape, "variance_scaling", params, "complex64", "jax"), 0).astype(np.complex128)
    for part in (np.real, np.imag, np.abs):
        assert stats.ks_2samp(part(theirs), part(ours)).pvalue > 1e-4
    assert np.mean(np.abs(ours) ** 2) == pytest.approx(np.mean(np.abs(theirs) ** 2), rel=0.01)
    assert np.abs(ours).max() <= np.abs(theirs).max() * 1.01 or distribution == "normal"
