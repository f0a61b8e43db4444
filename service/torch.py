"""Fill a torch module's parameters and buffers in place with initw's bytes, at any world size.

    from service.torch import initialize
    with torch.device("meta"):
        model = Transformer(cfg)
    for block in model.layers:
        fully_shard(block)
    fully_shard(model)
    model.to_empty(device="cpu")
    initialize(model, seed=0)          # every rank: exactly its shard, the same bytes at any world size

Each parameter and persistent buffer is the tensor of its state-dict name in the equivalent
``POST /init`` request (``request_body`` writes it), byte for byte: element i of a tensor depends
only on (seed, name, i), so a rank computes exactly the elements of its local shard (a DTensor's
``Shard``/``_StridedShard`` placements on any mesh, uneven included; ``Replicate`` gives the whole)
and never the full tensor, with no communication. Schemes without random access (orthogonal,
sparse ...) compute their tensor once per rank, whole, and say so in the report.

Defaults reproduce each module's own ``reset_parameters`` distribution (``DEFAULTS`` below): Linear,
Bilinear, Conv*/ConvTranspose* (groups included), Embedding (its padding row zeroed, as torch
does), LayerNorm, RMSNorm, GroupNorm, BatchNorm*/InstanceNorm*, MultiheadAttention, RNN/LSTM/GRU
and the transformer layers made of them. ``rules`` map state-dict name patterns (fnmatch, first
match wins) to schemes and override the defaults; a tensor neither covers is an error unless
``keep_unmatched``. ``server=`` asks an initw service for each local shard instead (a cluster
without numpy or the compiled kernel gets the same bytes), verified by its Repr-Digest, retried.

torch is optional: ``pip install -e ".[torch]"``; nothing else in the service imports this module.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .core import dialects
from .core.generate import TensorSpec, generate_block

__all__ = ["DEFAULTS", "Filled", "gpt2_rules", "initialize", "request_body", "specs"]

# torch dtype -> initw dtype (the stored format; bit patterns for the formats numpy lacks)
_DTYPES = {
    torch.float32: "float32",
    torch.float64: "float64",
    torch.float16: "float16",
    torch.bfloat16: "bfloat16",
    torch.float8_e4m3fn: "float8_e4m3fn",
    torch.float8_e5m2: "float8_e5m2",
    torch.complex64: "complex64",
    torch.int64: "int64",
}
_BITS = {1: torch.uint8, 2: torch.int16}  # how numpy's bit patterns are handed to torch, then viewed

Scheme = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Filled:
    """What ``initialize`` did to one tensor."""

    name: str
    scheme: str
    params: dict[str, Any]
    source: str  # "rule <pattern>", "default <Module>", or "kept" (unmatched, keep_unmatched)
    local_elements: int  # elements this rank wrote
    whole: bool = False  # the scheme has no random access: computed whole on this rank
    notes: tuple[str, ...] = ()


@dataclass
class _Tensor:
    name: str
    tensor: torch.Tensor
    scheme: Scheme | None = None
    source: str = ""
    fan_in: int | None = None
    fan_out: int | None = None
    after: list[str] = field(default_factory=list)  # post-fill steps: "zero row <k>"


def _torch_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """torch.nn.init._calculate_fan_in_and_fan_out of a weight's shape."""
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _bias_bound(weight: torch.Tensor) -> Scheme:
    """U(+-1/sqrt(fan_in)), fan_in the weight's (torch: 0 when fan_in is 0)."""
    fan_in = _torch_fans(tuple(weight.shape))[0]
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return ("uniform", {"a": -bound, "b": bound}) if bound > 0 else ("zeros", {})


def _linear_like(module: Any) -> dict[str, Scheme]:
    out: dict[str, Scheme] = {"weight": ("kaiming_uniform", {"a": math.sqrt(5)})}
    if getattr(module, "bias", None) is not None:
        out["bias"] = _bias_bound(module.weight)
    return out


def _bilinear(module: Any) -> dict[str, Scheme]:
    bound = 1 / math.sqrt(module.weight.shape[1])
    return {"weight": ("uniform", {"a": -bound, "b": bound}), "bias": ("uniform", {"a": -bound, "b": bound})}


def _norm(module: nn.Module) -> dict[str, Scheme]:
    return {"weight": ("ones", {}), "bias": ("zeros", {}), "running_mean": ("zeros", {}),
            "running_var": ("ones", {}), "num_batches_tracked": ("zeros", {})}  # fmt: skip


def _embedding(module: nn.Module) -> dict[str, Scheme]:
    return {"weight": ("normal", {})}


def _attention(module: nn.Module) -> dict[str, Scheme]:
    projections = ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight")
    out: dict[str, Scheme] = {name: ("xavier_uniform", {}) for name in projections}
    out.update(in_proj_bias=("zeros", {}), bias_k=("xavier_normal", {}), bias_v=("xavier_normal", {}))
    return out


def _recurrent(module: Any) -> dict[str, Scheme]:
    bound = 1 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0.0
    scheme: Scheme = ("uniform", {"a": -bound, "b": bound}) if bound else ("zeros", {})
    return {name: scheme for name, _ in module.named_parameters(recurse=False)}


# Module type -> its reset_parameters, as schemes of its own tensors (the first matching type wins).
DEFAULTS: tuple[tuple[type[nn.Module], Any], ...] = (
    (nn.Linear, _linear_like),
    (nn.modules.conv._ConvNd, _linear_like),
    (nn.Bilinear, _bilinear),
    (nn.Embedding, _embedding),
    (nn.MultiheadAttention, _attention),
    (nn.modules.rnn.RNNBase, _recurrent),
    (nn.modules.rnn.RNNCellBase, _recurrent),
    (nn.LayerNorm, _norm),
    (nn.RMSNorm, _norm),
    (nn.GroupNorm, _norm),
    (nn.modules.batchnorm._NormBase, _norm),
)


def _default(module: nn.Module) -> tuple[str, dict[str, Scheme]] | None:
    for kind, rule in DEFAULTS:
        if isinstance(module, kind):
            return type(module).__name__, rule(module)
    return None


def _tensors(module: nn.Module) -> Iterator[tuple[str, nn.Module, str, torch.Tensor]]:
    """(state-dict name, owner, local name, tensor) of every parameter and persistent buffer, each
    tensor once (a tied weight under its first name, as named_parameters gives it)."""
    seen: set[int] = set()
    for prefix, owner in module.named_modules():
        persistent = {n for n, _ in owner.named_buffers(recurse=False)} - getattr(
            owner, "_non_persistent_buffers_set", set()
        )
        own = [
            *owner.named_parameters(recurse=False),
            *((n, b) for n, b in owner.named_buffers(recurse=False) if n in persistent),
        ]
        for local, tensor in own:
            if tensor is None or id(tensor) in seen:
                continue
            seen.add(id(tensor))
            yield (f"{prefix}.{local}" if prefix else local), owner, local, tensor


def _as_scheme(value: Any) -> Scheme:
    if isinstance(value, str):
        return value, {}
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        params = dict(value)
        return str(params.pop("name")), params
    raise TypeError(f"a rule's scheme is a name or {{'name': ..., **params}}, got {value!r}")


def _plan(module: nn.Module, rules: Mapping[str, Any] | None, keep_unmatched: bool) -> list[_Tensor]:
    rules = dict(rules or {})
    planned, unmatched = [], []
    overrides: dict[str, Scheme] = {}
    for prefix, owner in module.named_modules():  # MultiheadAttention zeroes its out_proj's bias
        if isinstance(owner, nn.MultiheadAttention) and owner.out_proj.bias is not None:
            overrides[f"{prefix}.out_proj.bias" if prefix else "out_proj.bias"] = ("zeros", {})
    for name, owner, local, tensor in _tensors(module):
        entry = _Tensor(name, tensor)
        pattern = next((p for p in rules if fnmatch.fnmatchcase(name, p)), None)
        default = _default(owner)
        if pattern is not None:
            entry.scheme, entry.source = _as_scheme(rules[pattern]), f"rule {pattern}"
        elif name in overrides:
            entry.scheme, entry.source = overrides[name], "default MultiheadAttention"
        elif default is not None and local in default[1]:
            entry.scheme, entry.source = default[1][local], f"default {default[0]}"
        if entry.scheme is None:
            if not keep_unmatched:
                unmatched.append(name)
            continue
        weight: Any = getattr(owner, "weight", None)
        if local == "bias" and tensor.dim() == 1 and isinstance(weight, torch.Tensor):
            if weight.dim() >= 2:  # a bias shares its layer's fans
                entry.fan_in, entry.fan_out = _torch_fans(tuple(weight.shape))
        if isinstance(owner, nn.Embedding) and local == "weight" and owner.padding_idx is not None and pattern is None:
            entry.after.append(f"zero row {owner.padding_idx % owner.num_embeddings}")
        planned.append(entry)
    if unmatched:
        shown = ", ".join(unmatched[:8]) + (f" and {len(unmatched) - 8} more" if len(unmatched) > 8 else "")
        raise ValueError(f"no rule or module default covers {shown}: give rules for them, or keep_unmatched=True")
    return planned


def _dtype(tensor: torch.Tensor) -> str:
    try:
        return _DTYPES[tensor.dtype]
    except KeyError:
        raise ValueError(f"initw does not generate {tensor.dtype}") from None


def _spec(entry: _Tensor) -> TensorSpec:
    """The tensor as a POST /init ``tensors`` entry would make it (a dialect word translated with
    the tensor's own torch fans, as the request language does for layers)."""
    name, params = entry.scheme or ("zeros", {})
    shape = tuple(entry.tensor.shape)
    layout, fan_in, fan_out = "torch", entry.fan_in, entry.fan_out
    if dialects.lookup(name) is not None:
        fans = _torch_fans(shape) if len(shape) >= 2 else (fan_in, fan_out)
        meaning = dialects.translate(name, params, shape, *fans)
        name, params, layout = meaning.scheme, meaning.params, meaning.layout
        if layout != "torch":
            fan_in, fan_out = meaning.fan_in, meaning.fan_out
    return TensorSpec(entry.name, shape, name, params, _dtype(entry.tensor), layout, fan_in, fan_out)


def specs(module: nn.Module, rules: Mapping[str, Any] | None = None, keep_unmatched: bool = False) -> list[TensorSpec]:
    """The core specs of every tensor ``initialize`` fills, in state-dict order."""
    return [_spec(entry) for entry in _plan(module, rules, keep_unmatched)]


def request_body(module: nn.Module, seed: int, rules: Mapping[str, Any] | None = None,
                 keep_unmatched: bool = False) -> dict[str, Any]:  # fmt: skip
    """The ``POST /init`` body whose file holds exactly the tensors ``initialize`` writes (padding
    rows aside: torch zeroes them, a request cannot)."""
    planned = specs(module, rules, keep_unmatched)
    if {spec.layout for spec in planned} - {"torch"}:  # a request has one layout, for every tensor
        raise ValueError("rules with keras/jax words make tensors of another layout: use initialize, not a body")
    tensors = []
    for spec in planned:
        entry: dict[str, Any] = {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype,
                                 "scheme": {"name": spec.scheme, **spec.params}}  # fmt: skip
        for fan in ("fan_in", "fan_out"):
            if getattr(spec, fan) is not None:
                entry[fan] = getattr(spec, fan)
        tensors.append(entry)
    return {"seed": seed, "tensors": tensors}


def _local(tensor: torch.Tensor) -> tuple[torch.Tensor, list[np.ndarray]]:
    """The tensor this rank writes and, per dimension, the global indices it holds."""
    from torch.distributed.tensor import DTensor  # noqa: PLC0415  (only for distributed callers)

    if not isinstance(tensor, DTensor):
        return tensor, [np.arange(n) for n in tensor.shape]
    return tensor.to_local(), _shard_indices(tensor)


def _shard_indices(tensor: Any) -> list[np.ndarray]:
    """Global indices of a DTensor's local shard along each dimension. The one place that reads
    torch's private sharding arithmetic (torch.distributed.tensor._utils): Shard and _StridedShard
    applied left to right over the mesh, as compute_local_shape_and_global_offset does, keeping
    every index instead of the first (a strided shard is not a block)."""
    from torch.distributed.tensor import Partial, Shard  # noqa: PLC0415
    from torch.distributed.tensor._utils import _get_shard_size_and_offsets  # noqa: PLC0415
    from torch.distributed.tensor.placement_types import _StridedShard  # noqa: PLC0415

    mesh, shape = tensor.device_mesh, tuple(tensor.shape)
    coordinate = mesh.get_coordinate()
    if coordinate is None:
        return [np.arange(0) for _ in shape]
    local = list(shape)
    offsets: dict[int, Any] = {}
    for mesh_dim, placement in enumerate(tensor.placements):
        if isinstance(placement, Partial):
            raise ValueError("a Partial DTensor holds addends, not values: initialize its full or sharded form")
        if not isinstance(placement, (Shard, _StridedShard)):
            continue
        dim = placement.dim
        size, index = _get_shard_size_and_offsets(local[dim], mesh.shape[mesh_dim], coordinate[mesh_dim], placement,
                                                  offsets.get(dim), shape[dim], False)  # fmt: skip
        local[dim] = size
        offsets[dim] = index if size > 0 else torch.arange(0)
    out = [np.asarray(offsets[d], dtype=np.int64) if d in offsets else np.arange(n) for d, n in enumerate(shape)]
    if [i.size for i in out] != list(tensor.to_local().shape):
        raise AssertionError(
            f"shard indices {[i.size for i in out]} do not match the local shape {tensor.to_local().shape}"
        )
    return out


def _to_torch(values: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """initw's stored values (bit patterns for bfloat16 and float8) as a tensor of ``like``'s dtype."""
    if values.dtype.kind == "u":  # bit patterns: same-size signed ints, then torch's view
        raw = torch.from_numpy(values.view(f"<i{values.dtype.itemsize}") if values.dtype.itemsize == 2 else values)
        return raw.view(like.dtype)
    return torch.from_numpy(values)


def _memory(local: torch.Tensor, spec: TensorSpec) -> np.ndarray | None:
    """The local tensor's own memory as the flat numpy array initw writes (its stored dtype), or
    None where it cannot be shared (not contiguous, not on the CPU)."""
    if local.device.type != "cpu" or not local.is_contiguous():
        return None
    storage = spec.out_dtype.storage
    raw = local.detach().reshape(-1)
    if raw.dtype in (torch.bfloat16, torch.float16):
        raw = raw.view(torch.int16)
    elif raw.dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
        raw = raw.view(torch.uint8)
    array = raw.numpy().view(storage)
    return array if array.dtype == storage else None


def _fetch(server: str, spec: TensorSpec, seed: int, index: list[np.ndarray], retries: int = 3) -> np.ndarray:
    """The local block from a server: the bounding element range of the selection, one POST per
    tensor, checked against the response's Repr-Digest and retried; then the selection is cut out."""
    import httpx  # noqa: PLC0415

    flat = np.ravel_multi_index(np.ix_(*index), spec.shape).reshape(-1) if index else np.zeros(1, np.int64)
    first, last = int(flat.min()), int(flat.max()) + 1
    entry = {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype,
             "scheme": {"name": spec.scheme, **spec.params},
             **{k: getattr(spec, k) for k in ("fan_in", "fan_out") if getattr(spec, k) is not None}}  # fmt: skip
    body = {"seed": seed, "layout": spec.layout, "tensors": [entry]}
    url = f"{server.rstrip('/')}/init"
    params: dict[str, str | int] = {"tensor": spec.name, "start": first, "stop": last}
    for attempt in range(retries + 1):
        try:
            answer = httpx.post(url, params=params, json=body, timeout=600)
            answer.raise_for_status()
            digest = answer.headers.get("repr-digest", "")
            expected = base64.b64decode(digest.split(":")[1]) if digest.startswith("sha-256=:") else None
            if expected is not None and hashlib.sha256(answer.content).digest() != expected:
                raise ValueError(f"{spec.name}: the shard's bytes do not match its Repr-Digest")
            break
        except (httpx.TransportError, httpx.HTTPStatusError) as error:
            if attempt == retries or (isinstance(error, httpx.HTTPStatusError) and error.response.status_code < 500):
                raise
            time.sleep(0.2 * 2**attempt)
    values = np.frombuffer(answer.content, dtype=spec.out_dtype.storage)
    return np.ascontiguousarray(values[flat - first])


def initialize(
    module: nn.Module,
    seed: int,
    rules: Mapping[str, Any] | None = None,
    *,
    keep_unmatched: bool = False,
    server: str | None = None,
) -> list[Filled]:
    """Fill every parameter and persistent buffer of ``module`` in place (plain tensors, or each
    rank's local shard of a DTensor), with the bytes of the equivalent ``POST /init`` request;
    returns what was done to each tensor. See the module docstring."""
    report = []
    with torch.no_grad():
        for entry in _plan(module, rules, keep_unmatched):
            if entry.tensor.is_meta:
                raise ValueError(f"{entry.name} is on the meta device: materialize the module first (to_empty)")
            spec = _spec(entry)
            local, index = _local(entry.tensor)
            count = math.prod(i.size for i in index)
            if count:
                direct = _memory(local, spec) if server is None else None
                if direct is not None:  # generated straight into the tensor's own memory
                    generate_block(spec, seed, index, out=direct)
                else:
                    values = generate_block(spec, seed, index) if server is None else _fetch(server, spec, seed, index)
                    local.copy_(_to_torch(values, local).reshape(local.shape))
            notes = []
            for step in entry.after:  # torch's Embedding zeroes its padding row after the normal fill
                row = int(step.rsplit(" ", 1)[1])
                hits = np.flatnonzero(index[0] == row)
                if hits.size:
                    local[int(hits[0])].zero_()
                notes.append(f"padding row {row} zeroed")
            report.append(Filled(entry.name, spec.scheme, dict(spec.params), entry.source, count,
                                 not spec.plan.random_access, tuple(notes)))  # fmt: skip
    return report


def gpt2_rules(n_layer: int, std: float = 0.02) -> dict[str, Any]:
    """The gpt2 preset (service/spec/architectures.py, GPT-2 section 2.3 as nanoGPT writes it) as
    rules for a nanoGPT-style module: Linear and Embedding weights N(0, std^2), the residual
    projections (attn.c_proj, mlp.c_proj) N(0, (std / sqrt(2 n_layer))^2), biases 0, LayerNorm 1/0."""
    residual = std / math.sqrt(2 * n_layer)
    return {
        "*.c_proj.weight": {"name": "normal", "std": residual},
        "*ln*.weight": "ones",
        "*.bias": "zeros",
        "*.weight": {"name": "normal", "std": std},
    }
