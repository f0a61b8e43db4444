"""service.analysis.meanfield: the q-map, chi_1 and the phase of an infinitely wide stack, checked
against closed forms, against scipy's adaptive quadrature, and against the reference table of
diagnostics.md; fixed points to their stated tolerance, or their asymptotics where none exists."""

import math
import warnings

import numpy as np
import pytest
from scipy import integrate, stats

from service.analysis import meanfield
from service.analysis.activations import ACTIVATIONS, LEAKY_SLOPE, SELU_ALPHA, SELU_SCALE

Q = [0.0, 1e-6, 0.25, 1.0, 7.5, 1e4, 1e8]
MEANS = [0.0, -1.0, 0.7]


def _relu_moments(q: float, mean: float, slope: float = 0.0) -> tuple[float, float]:
    """E[phi(mean + sqrt(q) z)^2] and E[phi'^2] for phi = x if x > 0 else slope x."""
    if q == 0:
        return (mean if mean > 0 else slope * mean) ** 2, 1.0 if mean > 0 else slope**2
    r, t = math.sqrt(q), mean / math.sqrt(q)
    above = (mean**2 + q) * stats.norm.cdf(t) + mean * r * stats.norm.pdf(t)  # E[x^2; x > 0]
    below = (mean**2 + q) - above
    return above + slope**2 * below, stats.norm.cdf(t) + slope**2 * stats.norm.cdf(-t)


def _selu_slope(q: float, mean: float) -> float:
    """E[selu'^2] = lambda^2 (P(x > 0) + alpha^2 E[e^(2x); x < 0]), x ~ N(mean, q)."""
    r = math.sqrt(q)
    tail = math.exp(2 * mean + 2 * q) * stats.norm.cdf(-mean / r - 2 * r)
    return SELU_SCALE**2 * (stats.norm.cdf(mean / r) + SELU_ALPHA**2 * tail)


@pytest.mark.parametrize("q", Q)
@pytest.mark.parametrize("mean", MEANS)
def test_closed_forms_of_the_piecewise_linear_activations(q, mean):
    assert meanfield.second_moment("linear", q, mean) == pytest.approx(mean**2 + q, rel=1e-13)
    assert meanfield.slope("linear", q, mean) == pytest.approx(1.0, rel=1e-13)
    for name, leak in (("relu", 0.0), ("leaky_relu", LEAKY_SLOPE)):
        moment, slope = _relu_moments(q, mean, leak)
        assert meanfield.second_moment(name, q, mean) == pytest.approx(moment, rel=1e-12, abs=1e-300)
        assert meanfield.slope(name, q, mean) == pytest.approx(slope, rel=1e-12)


@pytest.mark.parametrize("q", [1e-6, 0.25, 1.0, 7.5, 100.0])
@pytest.mark.parametrize("mean", MEANS)
def test_the_selu_slope_has_its_closed_form_across_the_jump_at_zero(q, mean):
    assert meanfield.slope("selu", q, mean) == pytest.approx(_selu_slope(q, mean), rel=1e-12)


def _adaptive(f, q: float, mean: float) -> float:
    """E[f(mean + sqrt(q) z)] by scipy's adaptive quadrature, split where f changes fast."""
    r = math.sqrt(q)
    kink = -mean / r
    points = sorted({p for p in (kink, 0.0, kink - 50 / r, kink + 50 / r) if -14 < p < 14})
    edges = [-14.0, *points, 14.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)  # asked for more than it can promise
        return sum(
            integrate.quad(lambda z: f(mean + r * z) * stats.norm.pdf(z), a, b, limit=200, epsabs=0, epsrel=1e-13)[0]
            for a, b in zip(edges, edges[1:], strict=False)
        )


@pytest.mark.parametrize(
    "q", [1.0, pytest.param(1e-6, marks=pytest.mark.slow), pytest.param(1e8, marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("name", ["tanh", "sigmoid", "selu", "gelu", "silu"])
def test_the_smooth_activations_agree_with_adaptive_quadrature_from_tiny_to_huge_q(name, q):
    act = ACTIVATIONS[name]
    for mean in (0.0, -1.0):
        moment = _adaptive(lambda x: float(act.f(np.array([x]))[0]) ** 2, q, mean)
        slope = _adaptive(lambda x: float(act.df(np.array([x]))[0]) ** 2, q, mean)
        assert meanfield.second_moment(name, q, mean) == pytest.approx(moment, rel=1e-12)
        assert meanfield.slope(name, q, mean) == pytest.approx(slope, rel=1e-12)


def test_selu_at_its_fixed_point_has_the_closed_form_chi1():
    # sigma_w^2 = 1 (LeCun): q* = 1 and chi1 = lambda^2 (1/2 + alpha^2 e^2 Phi(-2)) = 1.07157
    phase = meanfield.fixed_point("selu", 1.0, 0.0)
    assert phase.q_star == pytest.approx(1.0, rel=1e-10)
    assert phase.chi1 == pytest.approx(_selu_slope(1.0, 0.0), rel=1e-10) == pytest.approx(1.07157, abs=1e-5)


def test_a_contracting_linear_map_has_the_fixed_point_of_its_geometric_series_to_the_tolerance():
    # q' = sigma_w^2 q + sigma_b^2 with sigma_w^2 = 1/2: q* = sigma_b^2 / (1 - sigma_w^2) = 2, chi_1 = 1/2
    phase = meanfield.fixed_point("linear", 0.5, 1.0)
    assert phase.q_star == pytest.approx(2.0, rel=meanfield.TOLERANCE)
    assert phase.chi1 == pytest.approx(0.5, rel=1e-12) and phase.phase == "ordered" and phase.q_growth is None
    assert phase.depth_scale == pytest.approx(1 / math.log(2), rel=1e-12)


def test_a_marginal_fixed_point_is_reached_not_crawled_towards():
    # tanh at sigma_w^2 = 1, no bias: q* = 0 exactly, chi1 = tanh'(0)^2 = 1 (iterating gave 2.5e-4 and 0.9995)
    phase = meanfield.fixed_point("tanh", 1.0, 0.0)
    assert phase.q_star == 0.0 and phase.chi1 == 1.0 and phase.phase == "critical"
    # ReLU at He, no bias: every q is a fixed point; the stack stays where it starts
    assert meanfield.fixed_point("relu", 2.0, 0.0, q0=3.5) == meanfield.Phase(3.5, 1.0, "critical", None)


@pytest.mark.parametrize(
    ("activation", "sigma_w2", "growth"),
    [("linear", 2.0, 2.0), ("relu", 2.5, 1.25), ("gelu", 4.0, 2.0), ("selu", 2.0, SELU_SCALE**2)],
)
def test_without_a_fixed_point_the_growth_and_the_limit_chi1_are_reported(activation, sigma_w2, growth):
    # q grows without bound: q'/q -> sigma_w^2 E[phi(sqrt(q) z)^2] / q, and chi1 is still defined in that limit
    # (ReLU-like: sigma_w^2 / 2; GELU behaves as ReLU for large q; SELU as lambda * ReLU)
    phase = meanfield.fixed_point(activation, sigma_w2, 0.0)
    assert phase.q_star is None and phase.q_growth == pytest.approx(growth, rel=1e-9)
    assert phase.chi1 == pytest.approx(growth, rel=1e-9) and phase.phase == "chaotic"


def test_zero_weights_lose_the_gradient_within_one_layer():
    phase = meanfield.fixed_point("tanh", 0.0, 0.3)
    assert phase.q_star == pytest.approx(0.3, rel=meanfield.TOLERANCE) and phase.chi1 == 0.0
    assert phase.phase == "ordered" and phase.depth_scale == 0.0


def test_a_negative_bias_mean_kills_relu_units_and_the_gradient():
    # He weights, every bias -1: pre-activations ~ N(-1, q); q shrinks to 0 and every unit dies
    phase = meanfield.fixed_point("relu", 2.0, 0.0, q0=2.0, mean=-1.0)
    assert phase.q_star == 0.0 and phase.chi1 == 0.0 and phase.phase == "ordered"
    # a positive mean keeps them alive: q* solves q = 2 E[relu(1 + sqrt(q) z)^2], which has no root (q grows)
    alive = meanfield.fixed_point("relu", 2.0, 0.0, q0=2.0, mean=1.0)
    assert alive.q_star is None and alive.chi1 == pytest.approx(1.0, rel=1e-9)


def test_mean_field_fixed_points_match_the_reference_table():
    assert meanfield.fixed_point("tanh", 25 / 9, 0.0).chi1 == pytest.approx(1.210, abs=2e-3)
    assert meanfield.fixed_point("relu", 2.0, 0.0).phase == "critical"
    assert meanfield.fixed_point("sigmoid", 1.0, 0.0).chi1 == pytest.approx(0.056, abs=1e-3)
    critical = meanfield.fixed_point("tanh", 1.761, 0.05)
    assert critical.q_star == pytest.approx(0.570, abs=2e-3) and critical.phase == "critical"
    assert meanfield.second_moment("gelu", 1.0) == pytest.approx(0.4252, abs=1e-4)
