"""Greedy layer-wise autoencoder pre-training (Bengio, Lamblin, Popovici & Larochelle, "Greedy
layer-wise training of deep networks", NIPS 2007), tied weights, mean squared error, Adam.

    H = X                                                   (the client's data, N x n_0, binary64)
    for each layer l (encoder W [m, n], bias b [m] if any, decoder bias c [n]):
        W = the core's values of ``layers.{l}.weight`` in binary64, b those of ``layers.{l}.bias``
        c = 0;  Adam moments M = V = 0 for each of W, b, c;  p1 = p2 = 1
        loss[l][0] = mse(H)                                 (before training)
        for epoch e = 1 .. E:
            order = stable argsort of u(i), u = the uniform U(0, 1) tensor ("pretrain/layer{l}/epoch{e}", [N])
            for each minibatch B of `batch_size` rows of H, in that order (the last one shorter):
                A  = dot_rows(B, W) + b                     encoder pre-activation      [beta, m]
                Y  = phi(A)                                 code
                Z  = matmul(Y, W) + c                       tied linear decoder         [beta, n]
                G_Z = (Z - B) * s,  s = 2 / (beta n)        d mean((Z - B)^2) / dZ, beta = rows of B
                G_A = dot_rows(G_Z, W) * phi'(A)
                dW = matmul(G_A^T, B) + matmul(Y^T, G_Z)   encoder term + decoder term (tied)
                db = tree_sum of G_A over rows;  dc = tree_sum of G_Z over rows
                p1 = p1 * beta1;  p2 = p2 * beta2
                for (theta, g) in (W, dW), (b, db), (c, dc):
                    M = beta1 M + (1 - beta1) g;   V = beta2 V + (1 - beta2) (g g)
                    theta = theta - (lr (M / (1 - p1))) / (sqrt(V / (1 - p2)) + eps)
            loss[l][e] = mse(H)
        H = phi(dot_rows(H, W) + b)                         the clean codes feed the next layer

mse(H) is tree_sum((Z - H)^2 over all N n entries, row-major) / (N n) with the forward pass above.

loss[l][e] uses the decoder bias c as trained, which the file does not hold, and loss[l][0] has
c = 0: the curve alone overstates what training gained. Two losses measure both ends with one
rule that needs no c, the best constant decoder bias c* = column means of H - phi(H W^T + b) W
(closed form for squared error): baseline[l], the initial W and b on the codes H (computed with
loss[l][0], no extra products); and file_loss[l], the weights as the file holds them (rounded to
its dtype) on codes made by the file's own earlier layers, which anyone can recompute from the
file and the data. Neither enters the file; the job's state reports them.
Every operation is a correctly rounded IEEE-754 one in a fixed order (products and sums through
``pinned``, activations through the pinned exp, p1 and p2 by repeated multiplication rather than
``pow``), so a seed and a data set give the same weights on every machine. docs/ALGORITHM.md,
section 16, is the same algorithm written out for a port.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ..core.errors import InitError
from ..core.fpstate import pinned
from ..core.generate import TensorSpec, generate
from ..core.pinned import MATMUL_BLOCK, dot_rows, matmul, tree_sum
from .activations import ACTIVATIONS
from .network import DenseLayer, Network

__all__ = [
    "Diverged",
    "Progress",
    "Result",
    "Stopped",
    "Training",
    "cost",
    "file_losses",
    "memory",
    "permutation",
    "pretrain",
]

Progress = Callable[[int, int, float], None]  # (layer, epoch, loss): epoch 0 is before training


class Stopped(Exception):
    """``should_stop()`` said so (time limit, cancellation, shutdown): the result is incomplete."""


class Diverged(ValueError):
    """The reconstruction loss became inf or NaN: the learning rate is too high for this data."""


@dataclass(frozen=True)
class Training:
    """Optimizer settings; beta1, beta2 and eps are Adam's published defaults (Kingma & Ba 2015)."""

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8


@dataclass
class Result:
    """The pre-trained encoder weights and biases (binary64, by tensor name) and the loss curves:
    ``losses[l][e]`` is layer l's full-data reconstruction MSE after e epochs (e = 0: before);
    ``baselines[l]`` the initial weights' loss with the best decoder bias; ``file_losses[l]`` the
    same for the weights as stored (when pretrain() was given the file's rounding)."""

    tensors: dict[str, np.ndarray]
    losses: list[list[float]]
    baselines: list[float] = field(default_factory=list)
    file_losses: list[float] | None = None


def cost(rows: int, widths: list[int], epochs: int) -> int:
    """Pinned multiply-adds: per layer N n m (4 + 7 E).

    Each full-data loss is an encode and a decode (2 N n m), taken once before training and once
    per epoch; each epoch's minibatches add encode, decode, the code gradient and the two halves
    of the tied weight gradient (5 N n m). The next layer's input reuses the last loss's encode.
    The file's losses, after training, encode and decode once more (2 N n m).
    """
    return sum(rows * n * m * (4 + 7 * epochs) for n, m in zip(widths, widths[1:], strict=False))


def memory(rows: int, widths: list[int], batch: int, itemsize: int) -> int:
    """Upper bound on the bytes a pre-training job holds, its file included (``itemsize``: bytes
    per stored element of the file's dtype).

    Per layer (n inputs, m units, S = 8 n m bytes): W and Adam's two moments (3 S), a gradient's
    two products and their sum or an Adam step's temporaries (5 S), the layers trained before
    (their W and b, kept for the file); the data and codes of the full-data loss (six arrays of
    N x max(n, m) binary64); the pinned matmul's blocks (pinned.MATMUL_BLOCK products and the tree's
    first level beside them). Then the file, written piece by piece: the trained weights, and one
    tensor's rounding and bytes at a time.
    """
    pairs = list(zip(widths, widths[1:], strict=False))
    kept = 0
    peak = 0
    for n, m in pairs:
        weights = 8 * n * m
        block = min(max(rows, batch) * n * m, max(MATMUL_BLOCK, n * m))
        layer = 8 * weights + 6 * 8 * rows * max(n, m) + 3 * 8 * block + 8 * 8 * (n + m)
        peak = max(peak, kept + layer)
        kept += weights + 8 * m
    largest = max(n * m for n, m in pairs)
    file = largest * (2 * itemsize + 3 * 8)  # one tensor at a time: its rounding's temporaries, its bytes
    return max(peak, kept + file) + 8 * rows * widths[0]


@dataclass
class _Adam:
    """Adam's state for one parameter; the bias corrections come from the caller's running p1, p2."""

    m: np.ndarray
    v: np.ndarray

    @classmethod
    def like(cls, theta: np.ndarray) -> _Adam:
        return cls(np.zeros_like(theta), np.zeros_like(theta))

    def step(self, theta: np.ndarray, g: np.ndarray, c1: float, c2: float, t: Training) -> np.ndarray:
        """theta after one step; c1 = 1 - beta1^step and c2 = 1 - beta2^step, the bias corrections."""
        self.m = t.beta1 * self.m + (1.0 - t.beta1) * g
        self.v = t.beta2 * self.v + (1.0 - t.beta2) * (g * g)
        return theta - (t.learning_rate * (self.m / c1)) / (np.sqrt(self.v / c2) + t.eps)


@dataclass
class _Autoencoder:
    """One layer's tied autoencoder: encoder W [m, n] and b [m] (or none), decoder W^T and c [n]."""

    w: np.ndarray
    b: np.ndarray | None
    c: np.ndarray
    activation: str

    def encode(self, x: np.ndarray) -> np.ndarray:
        a = dot_rows(x, self.w)
        return a if self.b is None else a + self.b

    def decode(self, y: np.ndarray) -> np.ndarray:
        return matmul(y, self.w) + self.c

    def reconstruct(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The encoder pre-activation of x and the decoder's product phi(x W^T + b) W, before c."""
        a = self.encode(x)
        return a, matmul(ACTIVATIONS[self.activation].f(a), self.w)

    def mse(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """The mean squared reconstruction error over all of x, and the encoder pre-activation."""
        a, d = self.reconstruct(x)
        return _mean_square((d + self.c) - x), a  # (d + c) - x = decode(y) - x

    def gradients(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """dW, db, dc of mean((decode(phi(encode(x))) - x)^2) over the batch x."""
        phi = ACTIVATIONS[self.activation]
        a = self.encode(x)
        y = phi.f(a)
        g_z = (self.decode(y) - x) * (2.0 / x.size)
        g_a = dot_rows(g_z, self.w) * phi.df(a)
        # Tied weights: W gets the encoder's gradient and the decoder's (transposed) gradient.
        dw = matmul(g_a.T, x) + matmul(y.T, g_z)
        return dw, tree_sum(g_a, axis=0), tree_sum(g_z, axis=0)


def _mean_square(r: np.ndarray) -> float:
    return float(tree_sum((r * r).reshape(-1))) / r.size


def _best_offset_mse(x: np.ndarray, d: np.ndarray) -> float:
    """The MSE of x reconstructed as d + c with the best constant decoder bias c = column means of x - d."""
    return _mean_square((d + tree_sum(x - d, axis=0) / x.shape[0]) - x)


def permutation(seed: int, layer: int, epoch: int, rows: int) -> np.ndarray:
    """The minibatch order of an epoch: rows sorted (stably) by their U(0, 1) draw."""
    keys = generate(TensorSpec(f"pretrain/layer{layer}/epoch{epoch}", (rows,), "uniform", dtype="float64"), seed)
    return np.argsort(keys, kind="stable")


def _finite(loss: float, layer: int, epoch: int) -> float:
    if not np.isfinite(loss):
        when, fix = (
            ("before training", "scale the data") if epoch == 0 else (f"after epoch {epoch}", "lower the learning rate")
        )
        raise Diverged(f"layer {layer}'s reconstruction loss is {loss} {when}: {fix}")
    return loss


def _train_layer(
    index: int,
    ae: _Autoencoder,
    h: np.ndarray,
    seed: int,
    training: Training,
    progress: Progress,
    should_stop: Callable[[], bool],
) -> tuple[list[float], float, np.ndarray]:
    """Train one autoencoder in place; its losses per epoch, its baseline (the initial weights with
    the best decoder bias) and its last full-data pre-activation."""
    a, d = ae.reconstruct(h)
    loss, baseline = _mean_square((d + ae.c) - h), _best_offset_mse(h, d)
    losses = [_finite(loss, index, 0)]
    progress(index, 0, loss)
    adam_w, adam_c = _Adam.like(ae.w), _Adam.like(ae.c)
    adam_b = None if ae.b is None else _Adam.like(ae.b)
    t = training
    p1 = p2 = 1.0
    rows = h.shape[0]
    for epoch in range(1, t.epochs + 1):
        order = permutation(seed, index, epoch, rows)
        for start in range(0, rows, t.batch_size):
            if should_stop():
                raise Stopped(f"stopped at layer {index}, epoch {epoch}, row {start} of {rows}")
            dw, db, dc = ae.gradients(h[order[start : start + t.batch_size]])
            # Running products instead of beta ** step: pow is not correctly rounded everywhere.
            p1, p2 = p1 * t.beta1, p2 * t.beta2
            c1, c2 = 1.0 - p1, 1.0 - p2
            ae.w = adam_w.step(ae.w, dw, c1, c2, t)
            if ae.b is not None and adam_b is not None:
                ae.b = adam_b.step(ae.b, db, c1, c2, t)
            ae.c = adam_c.step(ae.c, dc, c1, c2, t)
        loss, a = ae.mse(h)
        losses.append(_finite(loss, index, epoch))
        progress(index, epoch, loss)
    return losses, baseline, a


def _autoencoder(layer: DenseLayer, index: int, seed: int) -> _Autoencoder:
    """Layer ``index``'s autoencoder before training: the core's values in binary64, c = 0."""
    if layer.norm is not None or layer.residual:
        raise InitError("pre-training trains plain layers", param=f"layers.{index}")
    weight = replace(layer.weight, dtype="float64")
    w = generate(weight, seed).reshape(weight.shape)
    b = None if layer.bias is None else generate(replace(layer.bias, dtype="float64"), seed)
    return _Autoencoder(w, b, np.zeros(weight.shape[1]), layer.activation)


@pinned
def pretrain(
    net: Network,
    seed: int,
    x: np.ndarray,
    training: Training,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    stored: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Result:
    """Pre-train ``net``'s layers greedily on the rows of ``x`` (float64, [N, input_width]).

    ``progress(layer, epoch, loss)`` is called after the loss before training (epoch 0) and after
    every epoch; ``should_stop()`` before every minibatch, and a true answer raises Stopped.
    ``stored`` maps binary64 values to what the file will hold (rounded to its dtype, in binary64):
    given, the result has the file's losses too.
    """
    if x.ndim != 2 or x.shape[1] != net.input_width or x.shape[0] < 2:
        raise InitError(f"data must be [N >= 2, {net.input_width}], got {list(x.shape)}", param="data")
    report = progress or (lambda layer, epoch, loss: None)
    stop = should_stop or (lambda: False)
    tensors: dict[str, np.ndarray] = {}
    losses: list[list[float]] = []
    baselines: list[float] = []
    h = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows as a non-finite loss: Diverged says why
        for index, layer in enumerate(net.layers):
            ae = _autoencoder(layer, index, seed)
            curve, baseline, a = _train_layer(index, ae, h, seed, training, report, stop)
            losses.append(curve)
            baselines.append(baseline)
            tensors[layer.weight.name] = ae.w
            if layer.bias is not None and ae.b is not None:
                tensors[layer.bias.name] = ae.b
            h = ACTIVATIONS[layer.activation].f(a)
        result = Result(tensors, losses, baselines)
        if stored is not None:
            result.file_losses = file_losses(net, tensors, x, stored, stop)
    return result


def file_losses(
    net: Network,
    tensors: dict[str, np.ndarray],
    x: np.ndarray,
    stored: Callable[[np.ndarray], np.ndarray],
    should_stop: Callable[[], bool] | None = None,
) -> list[float]:
    """Each layer's reconstruction MSE with the best constant decoder bias, for the weights and
    biases ``tensors`` as a file holds them (``stored``: rounded to its dtype, in binary64), on
    the codes their earlier layers make of the rows ``x``: what anyone with the file and the data
    can recompute. One layer's rounded tensors at a time."""
    out, h = [], np.asarray(x, dtype=np.float64)
    for layer in net.layers:
        if should_stop is not None and should_stop():
            raise Stopped("stopped while measuring the file's losses")
        bias = None if layer.bias is None else stored(tensors[layer.bias.name])
        ae = _Autoencoder(stored(tensors[layer.weight.name]), bias, np.zeros(h.shape[1]), layer.activation)
        a, d = ae.reconstruct(h)
        out.append(_best_offset_mse(h, d))
        h = ACTIVATIONS[layer.activation].f(a)
    return out
