"""Greedy layer-wise autoencoder pre-training: it learns (on scikit-learn's digits), its gradients
are those of the stated loss, and its bytes are pinned on every SIMD path."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from service.analysis.activations import ACTIVATIONS
from service.analysis.network import DenseLayer, Network, layer_tensors
from service.analysis.pretrain import (
    Diverged,
    Stopped,
    Training,
    _Autoencoder,
    cost,
    memory,
    permutation,
    pretrain,
)
from service.core.generate import TensorSpec, generate

ROOT = Path(__file__).parents[2]


def stack(input_width, widths, activation="sigmoid", scheme="xavier_uniform", bias=("zeros", {})):
    layers, fan_in = [], input_width
    for i, width in enumerate(widths):
        w, b = layer_tensors(i, fan_in, width, (scheme, {}), bias, "float32")
        layers.append(DenseLayer(width, activation, w, b))
        fan_in = width
    return Network(input_width, tuple(layers))


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    return datasets.load_digits().data / 16.0  # 1797 x 64, pixels in [0, 1]


class Seen(list):
    def append_progress(self, layer, epoch, loss):
        self.append((layer, epoch, loss))


@pytest.fixture(scope="module")
def trained_digits(digits):
    seen = Seen()
    result = pretrain(stack(64, [32, 16]), 0, digits, Training(epochs=5, learning_rate=1e-2), seen.append_progress)
    return result, seen


def test_pretraining_cuts_the_reconstruction_loss_of_every_layer_on_digits(digits, trained_digits):
    # Measured (seed 0, 64-32-16 sigmoid, 5 epochs, batch 32, lr 1e-2): layer 0 0.2578 -> 0.0105,
    # layer 1 0.4697 -> 0.0079. Predicting each input's mean would score 0.0733 on layer 0 (0.14x
    # that) and 0.0268 on layer 1 (0.29x).
    result, _ = trained_digits
    for curve in result.losses:
        assert len(curve) == 6
        assert curve[-1] < 0.1 * curve[0]
    baseline = float(((digits - digits.mean(axis=0)) ** 2).mean())
    assert result.losses[0][-1] < 0.5 * baseline  # it learned the digits' structure, not just their mean
    w0, b0 = result.tensors["layers.0.weight"], result.tensors["layers.0.bias"]
    codes = 1.0 / (1.0 + np.exp(-(digits @ w0.T + b0)))
    assert result.losses[1][-1] < 0.5 * float(((codes - codes.mean(axis=0)) ** 2).mean())


def test_the_result_holds_each_layers_weight_and_bias(trained_digits):
    result, _ = trained_digits
    shapes = {name: value.shape for name, value in result.tensors.items()}
    assert shapes == {"layers.0.weight": (32, 64), "layers.0.bias": (32,),
                      "layers.1.weight": (16, 32), "layers.1.bias": (16,)}  # fmt: skip
    start = generate(TensorSpec("layers.0.weight", (32, 64), "xavier_uniform", dtype="float64"), 0).reshape(32, 64)
    assert not np.array_equal(result.tensors["layers.0.weight"], start)


def test_progress_reports_every_epoch_of_every_layer_in_order(trained_digits):
    result, seen = trained_digits
    assert [(layer, epoch) for layer, epoch, _ in seen] == [(layer, epoch) for layer in range(2) for epoch in range(6)]
    assert [loss for _, _, loss in seen] == result.losses[0] + result.losses[1]


def test_the_gradients_are_those_of_the_mean_squared_reconstruction_error():
    rng = np.random.default_rng(0)
    x = rng.random((5, 6))
    for activation in ("sigmoid", "tanh", "silu"):
        ae = _Autoencoder(rng.normal(size=(4, 6)) * 0.5, rng.normal(size=4) * 0.1, rng.normal(size=6) * 0.1, activation)
        dw, db, dc = ae.gradients(x)

        def loss(w, b, c, activation=activation):
            z = ACTIVATIONS[activation].f(x @ w.T + b) @ w + c
            return float(((z - x) ** 2).mean())

        for analytic, which in ((dw, 0), (db, 1), (dc, 2)):
            numeric = np.zeros_like(analytic)
            for i in np.ndindex(analytic.shape):
                params = [ae.w.copy(), ae.b.copy(), ae.c.copy()]
                params[which][i] += 1e-6
                up = loss(*params)
                params[which][i] -= 2e-6
                numeric[i] = (up - loss(*params)) / 2e-6
            np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9)


def reference(net, seed, x, t):
    """The docstring's algorithm with BLAS and numpy's exp: equal to the pinned one up to rounding."""
    tensors, h = {}, x
    for index, layer in enumerate(net.layers):
        phi = ACTIVATIONS[layer.activation]
        w = generate(TensorSpec(layer.weight.name, layer.weight.shape, "xavier_uniform", dtype="float64"), seed)
        w, b, c = w.reshape(layer.weight.shape), np.zeros(layer.width), np.zeros(w.size // layer.width)
        moments = [[np.zeros_like(p), np.zeros_like(p)] for p in (w, b, c)]
        step = 0
        for epoch in range(1, t.epochs + 1):
            order = permutation(seed, index, epoch, len(h))
            for start in range(0, len(h), t.batch_size):
                xb = h[order[start : start + t.batch_size]]
                a = xb @ w.T + b
                y = phi.f(a)
                gz = 2 * (y @ w + c - xb) / xb.size
                ga = (gz @ w.T) * phi.df(a)
                grads = (ga.T @ xb + y.T @ gz, ga.sum(0), gz.sum(0))
                step += 1
                params = []
                for p, g, mv in zip((w, b, c), grads, moments, strict=True):
                    mv[0] = 0.9 * mv[0] + 0.1 * g
                    mv[1] = 0.999 * mv[1] + 0.001 * g * g
                    mhat, vhat = mv[0] / (1 - 0.9**step), mv[1] / (1 - 0.999**step)
                    params.append(p - t.learning_rate * mhat / (np.sqrt(vhat) + 1e-8))
                w, b, c = params
        tensors[layer.weight.name], tensors[layer.bias.name] = w, b
        h = phi.f(h @ w.T + b)
    return tensors


def test_the_pinned_run_equals_a_plain_numpy_run_up_to_rounding(digits):
    net, t = stack(64, [24, 8], activation="tanh"), Training(epochs=2, batch_size=50, learning_rate=3e-3)
    pinned = pretrain(net, 3, digits[:300], t)
    plain = reference(net, 3, digits[:300], t)
    for name, values in plain.items():
        np.testing.assert_allclose(pinned.tensors[name], values, rtol=1e-9, atol=1e-12)


def test_epochs_visit_every_row_once_in_a_seeded_order():
    first, second = permutation(0, 0, 1, 1000), permutation(0, 0, 2, 1000)
    assert sorted(first) == list(range(1000)) and sorted(second) == list(range(1000))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, permutation(1, 0, 1, 1000))
    np.testing.assert_array_equal(first, permutation(0, 0, 1, 1000))


def test_should_stop_ends_the_run_within_a_minibatch(digits):
    calls = []

    def stop_at_third():
        calls.append(1)
        return len(calls) == 3

    with pytest.raises(Stopped, match="layer 0, epoch 1, row 64 of 300"):
        pretrain(stack(64, [8]), 0, digits[:300], Training(epochs=3), should_stop=stop_at_third)
    assert len(calls) == 3


def test_a_loss_that_overflows_is_refused_with_a_reason():
    x = np.full((4, 3), 1e200)
    with pytest.raises(Diverged, match="before training: scale the data"):
        pretrain(stack(3, [2], activation="linear"), 0, x, Training(epochs=1))


@pytest.mark.parametrize(
    ("rows", "widths", "batch", "dtype"),
    [(2, [1024, 1024, 1024], 32, "float32"), (64, [256, 512, 256], 16, "float32"),
     (512, [64, 64, 64, 64], 32, "bfloat16"), (2000, [32, 16], 100, "float64"), (2, [1024, 2048], 32, "float16")],
)  # fmt: skip
def test_memory_bounds_the_measured_peak_of_a_job_and_its_file(rows, widths, batch, dtype):
    """The job's reservation: the numpy reference's peak (with the file built) stays under the
    bound, which stays within 4x of it; the compiled products hold less still."""
    import tracemalloc

    from service.core import kernels
    from service.core.dtypes import get_dtype
    from service.core.write import file_pieces

    net = stack(widths[0], widths[1:])
    x = np.random.default_rng(0).random((rows, widths[0]))

    def peak() -> int:
        tracemalloc.start()
        try:
            result = pretrain(net, 0, x, Training(epochs=1, batch_size=batch))
            stored = get_dtype(dtype)
            for _ in file_pieces({name: (stored.safetensors, values.shape,  # written as the job writes it
                                         lambda values=values: stored.round(values).tobytes())
                                  for name, values in result.tensors.items()}, {}):  # fmt: skip
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    bound = memory(rows, widths, batch, get_dtype(dtype).itemsize)
    with kernels.numpy():
        reference = peak()
    assert reference <= bound <= 4 * reference + (16 << 20)
    assert peak() <= bound


def test_the_cost_counts_every_pinned_multiply_add():
    # per layer N n m (4 + 7 E): losses before and after each epoch (2), each epoch's steps (5), the file's loss (2)
    assert cost(1797, [64, 32, 16], 10) == 1797 * (64 * 32 + 32 * 16) * 74


# A small run anyone can repeat: its weights and losses, pinned. A change of any bit is a new algorithm.
PROBE = r"""
import hashlib
import numpy as np
from service.core.generate import TensorSpec, generate
from service.analysis.network import DenseLayer, Network, layer_tensors
from service.analysis.pretrain import Training, pretrain

x = generate(TensorSpec("data", (70, 12), "uniform", dtype="float64"), 7).reshape(70, 12)
layers, fan_in = [], 12
for i, (width, act) in enumerate([(8, "sigmoid"), (6, "tanh"), (5, "gelu"), (4, "selu")]):
    w, b = layer_tensors(i, fan_in, width, ("kaiming_uniform", {}), ("uniform", {"a": -0.1, "b": 0.1}), "float32")
    layers.append(DenseLayer(width, act, w, b))
    fan_in = width
result = pretrain(Network(12, tuple(layers)), 7, x, Training(epochs=3, batch_size=16, learning_rate=0.01))
digest = hashlib.sha256()
for name in sorted(result.tensors):
    digest.update(name.encode() + result.tensors[name].tobytes())
digest.update(np.array(result.losses).tobytes())
print(digest.hexdigest())
"""
PINNED = "638578f4f63df6d0edb1f0656d0f31c2441c6ccd964dffff1394b927c6b68e5b"


@pytest.mark.parametrize("disabled", [None, "AVX512_ICL AVX512_SPR X86_V4 X86_V3"], ids=["native", "baseline"])
def test_the_bytes_are_pinned_on_every_simd_path(disabled):
    env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    if disabled:
        env["NPY_DISABLE_CPU_FEATURES"] = disabled
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == PINNED
