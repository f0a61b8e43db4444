"""service.analysis.activations: each activation and its derivative, on the pinned exp, against
the textbook formula (numpy's and the math module's functions) and finite differences."""

import math

import numpy as np
import pytest

from service.analysis.activations import ACTIVATIONS, LEAKY_SLOPE, NAMES, SELU_ALPHA, SELU_SCALE

X = np.linspace(-12.0, 12.0, 2401)
EPS = np.finfo(np.float64).eps
PHI_RTOL = 1.2e-7  # the pinned normal CDF's stated accuracy (service.core.distributions.normal_cdf)
ERFC = np.vectorize(math.erfc)

TEXTBOOK = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0.0))),
    "gelu": lambda x: 0.5 * x * ERFC(-x / math.sqrt(2.0)),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
}


def test_the_names_are_the_table_keys_and_each_entry_knows_its_name():
    assert NAMES == tuple(ACTIVATIONS) == tuple(TEXTBOOK)
    assert all(activation.name == name for name, activation in ACTIVATIONS.items())


@pytest.mark.parametrize("name", NAMES)
def test_each_activation_is_its_textbook_formula(name):
    got, expected = ACTIVATIONS[name].f(X), TEXTBOOK[name](X)
    # A few ulp of each value, plus a few ulp of 1 where a formula subtracts from 1 (tanh and selu
    # near 0 are differences of values near 1). GELU's Phi is the pinned erfc, a rational
    # approximation with a relative error below 1.2e-7 (Numerical Recipes' erfcc).
    rtol = PHI_RTOL if name == "gelu" else 16 * EPS
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=8 * EPS * max(1.0, SELU_SCALE * SELU_ALPHA))


@pytest.mark.parametrize("name", NAMES)
def test_each_derivative_matches_central_differences_away_from_kinks(name):
    x = X[np.abs(X) > 1e-3]  # relu, leaky_relu and selu have a kink at 0
    h = 1e-6
    f = ACTIVATIONS[name].f
    numeric = (f(x + h) - f(x - h)) / (2 * h)
    # central differences err by ~h^2 |f'''| / 6 (< 1e-12 here) plus the rounding of f: ~eps |f(x)| / h
    rounding = 4 * EPS * (1.0 + np.abs(f(x))) / h
    # GELU's phi' is exact (x times the normal density), its phi is not: their slopes differ as much.
    approximation = 2 * PHI_RTOL if name == "gelu" else 0.0
    assert np.all(np.abs(ACTIVATIONS[name].df(x) - numeric) <= rounding + approximation + 1e-10)


def test_rectifiers_and_saturating_activations_are_marked():
    assert {name for name, a in ACTIVATIONS.items() if a.rectifier} == {"relu", "leaky_relu"}
    assert {name for name, a in ACTIVATIONS.items() if a.saturation is not None} == {"tanh", "sigmoid"}
    tanh, sigmoid = ACTIVATIONS["tanh"].saturation, ACTIVATIONS["sigmoid"].saturation
    assert tanh(np.array([-0.995, -0.5, 0.0, 0.985, 0.999])).tolist() == [True, False, False, False, True]
    assert sigmoid(np.array([0.005, 0.5, 0.995])).tolist() == [True, False, True]


def test_leaky_relu_slope_and_derivatives_at_the_kinks():
    assert LEAKY_SLOPE == 0.01
    at = np.array([-2.0, 0.0, 2.0])
    assert ACTIVATIONS["relu"].df(at).tolist() == [0.0, 0.0, 1.0]
    assert ACTIVATIONS["leaky_relu"].df(at).tolist() == [LEAKY_SLOPE, LEAKY_SLOPE, 1.0]
    assert ACTIVATIONS["leaky_relu"].f(at).tolist() == [-2.0 * LEAKY_SLOPE, 0.0, 2.0]


def test_selu_constants_make_a_standard_normal_input_keep_mean_0_and_variance_1():
    from scipy import integrate, stats

    selu = ACTIVATIONS["selu"].f

    def moment(power):
        def integrand(z):
            return float(selu(np.array([z]))[0]) ** power * stats.norm.pdf(z)

        return sum(integrate.quad(integrand, a, b, epsabs=1e-13)[0] for a, b in ((-40.0, 0.0), (0.0, 40.0)))

    assert abs(moment(1)) < 1e-9 and abs(moment(2) - 1.0) < 1e-9


@pytest.mark.parametrize("name", NAMES)
def test_large_inputs_of_an_exploding_network_give_finite_values_without_warnings(name):
    x = np.array([-1e4, -1000.0, -745.0, -50.0, 0.0, 50.0, 710.0, 1000.0, 1e4])
    value, slope = ACTIVATIONS[name].f(x), ACTIVATIONS[name].df(x)  # a numpy warning is an error here
    assert np.isfinite(value).all() and np.isfinite(slope).all()


@pytest.mark.parametrize("name", NAMES)
def test_the_input_is_not_changed_and_not_returned(name):
    x = X.copy()
    out = ACTIVATIONS[name].f(x)
    out[...] = 7.0
    np.testing.assert_array_equal(x, X)
