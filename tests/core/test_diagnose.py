"""Per-tensor diagnostics: they confirm healthy inits, name unhealthy ones, and agree with scipy."""

import math

import numpy as np
import pytest
from scipy import stats

from service.core.diagnose import Accumulator, diagnose, ks_pvalue, ks_statistic
from service.core.distributions import Normal
from service.core.generate import TensorSpec, generate


def bands(report):
    return {v["check"]: v["band"] for v in report["verdicts"]}


@pytest.mark.parametrize(
    ("scheme", "params", "shape"),
    [
        ("xavier_uniform", {}, (256, 784)),
        ("kaiming_normal", {"nonlinearity": "relu"}, (128, 64, 3, 3)),
        ("truncated_normal", {"a": 4.0, "b": 6.0, "bounds": "sigma", "mean": -4.5}, (200, 100)),
        ("lecun_normal", {}, (300, 100)),
        ("orthogonal", {"gain": 2.0}, (100, 300)),
        ("sphere_rows", {}, (64, 100)),
        ("sparse", {"sparsity": 0.2}, (100, 80)),
    ],
)
def test_healthy_inits_report_healthy_with_expected_moments(scheme, params, shape):
    report = diagnose(TensorSpec("w", shape, scheme, params), 0)
    assert report["verdict"] in ("healthy", "warn"), report["verdicts"]
    assert {"mean_z", "std_ratio"} <= set(bands(report))
    assert bands(report)["mean_z"] == bands(report)["std_ratio"] == "healthy"
    assert report["outside_bounds"] == 0 and report["nonfinite"] == 0
    assert abs(report["std"] / report["expected"]["std"] - 1) < 0.05


def test_constant_weights_fail_on_symmetry_but_a_constant_bias_is_fine():
    report = diagnose(TensorSpec("w", (64, 32), "zeros"), 0)
    assert report["verdict"] == "fail"
    assert any("symmetry is never broken" in v["reason"] for v in report["verdicts"])
    assert diagnose(TensorSpec("b", (64,), "zeros"), 0)["verdict"] == "healthy"


def test_overflow_in_a_narrow_dtype_fails_with_the_reason():
    report = diagnose(TensorSpec("w", (64, 64), "normal", {"std": 1e5}, dtype="float16"), 0)
    assert report["nonfinite"] > 0
    assert bands(report)["finite"] == "fail"


def test_orthogonality_error_is_reported_and_tiny():
    report = diagnose(TensorSpec("w", (64, 128), "orthogonal", dtype="float64"), 0)
    assert report["orthogonality_error"] < 1e-14
    assert bands(report)["orthogonality"] == "healthy"


def test_all_positive_uniform_rows_are_flagged_as_coherent():
    report = diagnose(TensorSpec("w", (256, 256), "uniform"), 0)  # U(0, 1): rows nearly parallel
    assert report["rows"]["coherence"] > 0.6
    assert bands(report)["coherence"] == "warn"


def test_ks_statistic_and_pvalue_agree_with_scipy():
    x = generate(TensorSpec("w", (5000,), "normal"), 1).astype(np.float64)
    result = stats.kstest(x, stats.norm().cdf)
    d = ks_statistic(x, Normal(0.0, 1.0).theory.cdf)
    assert d == pytest.approx(result.statistic, abs=1e-6)
    assert ks_pvalue(d, x.size) == pytest.approx(result.pvalue, rel=0.05, abs=1e-3)


def test_a_wrong_distribution_is_caught_by_ks_and_moments():
    # Pretend a uniform tensor was meant to be normal with the same variance.
    spec = TensorSpec("w", (400, 400), "uniform", {"a": -math.sqrt(3), "b": math.sqrt(3)})
    acc = Accumulator(spec)
    acc.theory = Normal(0.0, 1.0).theory
    acc.add(0, generate(spec, 0))
    report = acc.result()
    assert report["ks"]["pvalue"] < 1e-4
    assert bands(report)["ks"] == "warn"
    assert report["excess_kurtosis"] == pytest.approx(-1.2, abs=0.02)


def test_streaming_in_any_chunking_gives_the_same_report():
    spec = TensorSpec("w", (700, 500), "xavier_normal")
    whole = Accumulator(spec)
    whole.add(0, generate(spec, 2))
    pieces = Accumulator(spec)
    for start in range(0, spec.numel, 100_003):  # not aligned to the 65536-element blocks
        pieces.add(start, generate(spec, 2, start, min(start + 100_003, spec.numel)))
    assert whole.result() == pieces.result()


def test_chunks_out_of_order_are_refused():
    spec = TensorSpec("w", (10, 10), "normal")
    acc = Accumulator(spec)
    with pytest.raises(ValueError, match="in order"):
        acc.add(5, generate(spec, 0, 5, 10))


def test_a_moments_only_report_is_the_full_reports_moments_without_the_other_checks():
    spec = TensorSpec("w", (300, 200), "xavier_normal")
    values = generate(spec, 4)
    full, light = Accumulator(spec), Accumulator(spec, checks="moments")
    full.add(0, values)
    light.add(0, values)
    a, b = full.result(), light.result()
    assert {k: a[k] for k in ("mean", "std", "min", "max", "mean_z", "std_ratio")} == {
        k: b[k] for k in ("mean", "std", "min", "max", "mean_z", "std_ratio")
    }
    assert "ks" in bands(a) and "ks" not in b and "rows" not in b and "ks" not in bands(b)
    with pytest.raises(ValueError, match="checks"):
        Accumulator(spec, checks="none")


# float8: its steps are coarse enough that the stored values are compared with the rounded
# distribution (service/core/diagnose.py, QUANTIZED), never the real one, which they do not follow.
@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2"])
@pytest.mark.parametrize(
    ("scheme", "params"),
    [("uniform", {"a": -1.0, "b": 1.0}), ("normal", {}), ("truncated_normal", {"std": 0.5, "bounds": "sigma"})],
)
def test_float8_tensors_are_healthy_against_their_rounded_distribution(scheme, params, dtype):
    from service.core.diagnose import ks_statistic_rounded

    spec = TensorSpec("w", (1024, 1024), scheme, params, dtype)
    report = diagnose(spec, 5)
    assert {b for c, b in bands(report).items() if c != "coherence"} == {"healthy"}, report["verdicts"]
    assert report["expected"]["distribution"].endswith(f"rounded to {dtype}")
    real = spec.plan.theory
    assert report["expected"]["std"] != real.std and abs(report["expected"]["std"] / real.std - 1) < 0.01
    # The real CDF would be refused: a continuous CDF against values on float8's steps.
    values = spec.out_dtype.to_float64(generate(spec, 5))[::10]
    assert ks_pvalue(ks_statistic(values, real.cdf), values.size) < 1e-4
    assert ks_pvalue(ks_statistic_rounded(values, real.cdf, dtype), values.size) > 1e-4
    # ... and the rounded one refuses a sample from another distribution on the same steps.
    other = spec.out_dtype.to_float64(spec.out_dtype.round(values * 1.25))
    assert ks_pvalue(ks_statistic_rounded(other, real.cdf, dtype), values.size) < 1e-4


def test_float8_overflow_is_named_nan_or_inf_and_a_flush_to_zero_warns():
    e4m3 = diagnose(TensorSpec("w", (8, 8), "uniform", {"a": 400.0, "b": 500.0}, "float8_e4m3fn"), 0)
    assert e4m3["verdict"] == "fail" and "overflow float8_e4m3fn: nan" in str(e4m3["verdicts"])
    e5m2 = diagnose(TensorSpec("w", (8, 8), "constant", {"value": 7e4}, "float8_e5m2"), 0)
    assert "64 values overflow float8_e5m2: inf" in str(e5m2["verdicts"])
    # std 1e-6 rounds (nearly) every value to +-0 in e5m2 (least subnormal 2^-16): a warning.
    flushed = diagnose(TensorSpec("w", (64, 64), "normal", {"std": 1e-6}, "float8_e5m2"), 0)
    assert flushed["std"] == 0.0 and bands(flushed)["std_ratio"] == "warn"
    assert 0 < flushed["expected"]["std"] < 1e-10


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2"])
def test_float8_orthogonal_and_row_norm_checks_pass_within_the_format_tolerance(dtype):
    for scheme, shape in (("orthogonal", (64, 64)), ("orthogonal", (48, 96)), ("sphere_rows", (64, 128))):
        report = diagnose(TensorSpec("w", shape, scheme, {}, dtype), 1)
        assert report["verdict"] == "healthy", (scheme, report["verdicts"])
