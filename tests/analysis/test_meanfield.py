"""service.analysis.meanfield: the q-map, chi_1 and the phase of an infinitely wide stack, by
Gauss-Hermite quadrature, against closed forms and the reference table of diagnostics.md."""

import math

import numpy as np
import pytest

from service.analysis import meanfield


def test_the_quadrature_integrates_polynomials_against_the_standard_normal_exactly():
    z = np.polynomial.hermite_e.hermegauss(meanfield.NODES)[0]
    moments = {0: 1.0, 1: 0.0, 2: 1.0, 3: 0.0, 4: 3.0, 6: 15.0, 8: 105.0}  # (k - 1)!! for even k
    for power, expected in moments.items():
        assert meanfield.expectation(z**power) == pytest.approx(expected, abs=1e-12 * max(1.0, expected))


@pytest.mark.parametrize("q", [0.0, 0.25, 1.0, 7.5])
def test_closed_forms_of_the_linear_and_relu_maps(q):
    assert meanfield.second_moment("linear", q) == pytest.approx(q, rel=1e-12, abs=1e-300)
    assert meanfield.slope("linear", q) == pytest.approx(1.0, rel=1e-12)
    assert meanfield.second_moment("relu", q) == pytest.approx(q / 2, rel=1e-12, abs=1e-300)
    if q > 0:
        assert meanfield.slope("relu", q) == pytest.approx(0.5, rel=1e-12)  # no node at the kink


def test_the_tanh_moment_agrees_with_an_independent_quadrature():
    from scipy import integrate, stats

    q = 2.0
    reference = integrate.quad(lambda z: math.tanh(math.sqrt(q) * z) ** 2 * stats.norm.pdf(z), -40, 40)[0]
    assert meanfield.second_moment("tanh", q) == pytest.approx(reference, rel=1e-9)


def test_a_contracting_linear_map_has_the_fixed_point_of_its_geometric_series():
    # q' = sigma_w^2 q + sigma_b^2 with sigma_w^2 = 1/2: q* = sigma_b^2 / (1 - sigma_w^2) = 2, chi_1 = 1/2
    phase = meanfield.fixed_point("linear", 0.5, 1.0)
    assert phase.q_star == pytest.approx(2.0, rel=1e-9)
    assert phase.chi1 == pytest.approx(0.5, rel=1e-12) and phase.phase == "ordered"
    assert phase.depth_scale == pytest.approx(1 / math.log(2), rel=1e-12)


def test_an_expanding_map_runs_off_to_infinity_and_is_chaotic():
    phase = meanfield.fixed_point("linear", 2.0, 0.0)
    assert phase == meanfield.Phase(None, math.inf, "chaotic", None)


def test_zero_weights_lose_the_gradient_within_one_layer():
    phase = meanfield.fixed_point("tanh", 0.0, 0.3)
    assert phase.q_star == pytest.approx(0.3) and phase.chi1 == 0.0
    assert phase.phase == "ordered" and phase.depth_scale == 0.0


def test_criticality_has_no_depth_scale():
    phase = meanfield.fixed_point("linear", 1.0, 0.0)
    assert phase.phase == "critical" and phase.depth_scale is None and phase.chi1 == pytest.approx(1.0)


def test_mean_field_fixed_points_match_the_reference_table():
    assert meanfield.fixed_point("tanh", 25 / 9, 0.0).chi1 == pytest.approx(1.210, abs=2e-3)
    assert meanfield.fixed_point("relu", 2.0, 0.0).phase == "critical"
    assert meanfield.fixed_point("selu", 1.0, 0.0).chi1 == pytest.approx(1.067, abs=2e-3)
    assert meanfield.fixed_point("sigmoid", 1.0, 0.0).chi1 == pytest.approx(0.056, abs=1e-3)
    critical = meanfield.fixed_point("tanh", 1.761, 0.05)
    assert critical.q_star == pytest.approx(0.570, abs=2e-3) and critical.phase == "critical"
    assert meanfield.second_moment("gelu", 1.0) == pytest.approx(0.4252, abs=1e-4)
