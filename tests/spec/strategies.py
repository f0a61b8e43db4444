"""Hypothesis strategies for the request language, built from the same registry the models are.

Each strategy draws bodies that the published JSON Schema accepts: scheme objects with any of
their names and aliases and any subset of their parameters within the declared bounds, shapes,
names, layers, architectures, network and pre-training stacks. Cross-field rules (a < b, a scheme's
rank, divisible channels) are left to chance on purpose: the core must refuse what breaks them
with an InitError that names a field, never with anything else. ``example_bodies`` is the
exception: each scheme's registered example (service/core/schemes), which always plans.
"""

from __future__ import annotations

import math
import re
from typing import Any

from hypothesis import strategies as st

from service.analysis.activations import NAMES as ACTIVATIONS
from service.core.catalogue import example_body
from service.core.dtypes import FLOAT_DTYPES
from service.core.fans import LAYOUTS
from service.core.generate import MAX_RANK
from service.core.registry import REGISTRY, Param, get_scheme
from service.spec.fields import MAX_SEED, NAME_PATTERN

# Small where a value becomes a tensor, so bodies stay cheap to plan; the bounds tests go wider.
DIM = st.integers(1, 6)
# Names from an alphabet of every ASCII character a name may hold and a few non-ASCII ones, kept
# where NAME_PATTERN matches (hypothesis's from_regex over its wide Unicode ranges takes ~2 s an
# example: it would dominate the quick lane).
_NAME_ALPHABET = [chr(c) for c in range(0x21, 0x7F)] + list("éßΩжё中🙂")
NAMES = st.text(st.sampled_from(_NAME_ALPHABET), min_size=1, max_size=24).filter(
    lambda name: re.fullmatch(NAME_PATTERN, name) is not None and name != "__metadata__"
)
SEEDS = st.integers(0, MAX_SEED)
DTYPES = st.sampled_from(FLOAT_DTYPES)
LAYOUT = st.sampled_from(LAYOUTS)
FINITE = st.floats(allow_nan=False, allow_infinity=False)


def _number(param: Param) -> st.SearchStrategy[Any]:
    """Values within the parameter's declared bounds (ints too: JSON has one number type)."""
    low = param.minimum if param.minimum is not None else param.exclusive_minimum
    high = param.maximum if param.maximum is not None else param.exclusive_maximum
    if param.kind == "int":
        return st.integers(int(low) if low is not None else -(2**40), int(high) if high is not None else 2**40)
    floats = st.floats(
        min_value=low,
        max_value=high,
        exclude_min=param.exclusive_minimum is not None,
        exclude_max=param.exclusive_maximum is not None,
        allow_nan=False,
        allow_infinity=False,
    )
    first = math.floor(low) + 1 if low is not None else -(2**53)
    last = math.ceil(high) - 1 if high is not None else 2**53
    return st.one_of(floats, st.integers(first, last)) if first <= last else floats


def param_values(param: Param) -> st.SearchStrategy[Any]:
    if param.kind == "bool":
        return st.booleans()
    if param.kind == "str":
        spellings = [*(param.choices or ()), *param.synonyms]
        if param.casefold:
            spellings += [s.upper() for s in spellings]
        return st.sampled_from(spellings)
    return _number(param)


def scheme_object(name: str) -> st.SearchStrategy[dict[str, Any]]:
    scheme = REGISTRY[name]
    required = {p.name: param_values(p) for p in scheme.params if p.required}
    # Implicit parameters (JAX's axes, column_axis) depend on the tensor's rank: tested on their own.
    optional = {p.name: param_values(p) for p in scheme.params if not p.required and not p.implicit}
    return st.fixed_dictionaries(
        {"name": st.sampled_from((scheme.name, *scheme.aliases)), **required}, optional=optional
    )


def schemes() -> st.SearchStrategy[Any]:
    """A scheme as the request language spells it: a bare name (no required parameters) or an object."""
    bare = [n for s in REGISTRY.values() if not any(p.required for p in s.params) for n in (s.name, *s.aliases)]
    return st.one_of(st.sampled_from(sorted(bare)), st.sampled_from(sorted(REGISTRY)).flatmap(scheme_object))


@st.composite
def example_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A POST /init body that plans: a scheme's example (GET /schemes shows it), under any of the
    scheme's names, with any seed, dtype and tensor name."""
    registered = REGISTRY[draw(st.sampled_from(sorted(REGISTRY)))]
    body = example_body(registered)
    body["scheme"]["name"] = draw(st.sampled_from((registered.name, *registered.aliases)))
    return {**body, **draw(st.fixed_dictionaries({}, optional={"seed": SEEDS, "dtype": DTYPES, "name": NAMES}))}


def shapes(dim: st.SearchStrategy[int] = DIM) -> st.SearchStrategy[list[int]]:
    return st.lists(dim, max_size=MAX_RANK)


@st.composite
def scheme_and_shape(draw: st.DrawFn, plannable: bool = False) -> dict[str, Any]:
    """A scheme and a shape; plannable: a shape of a rank the scheme takes, at least 2 (fans)."""
    scheme = draw(schemes())
    if not plannable:
        return {"scheme": scheme, "shape": draw(shapes())}
    low, high = get_scheme(scheme if isinstance(scheme, str) else scheme["name"]).rank or (2, 4)
    rank = draw(st.integers(max(low, 2), min(high, 4)))
    return {"scheme": scheme, "shape": draw(st.lists(DIM, min_size=rank, max_size=rank))}


def tensor_specs(plannable: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    optional = st.fixed_dictionaries(
        {"name": NAMES}, optional={"dtype": DTYPES, "fan_in": st.integers(1, 64), "fan_out": st.integers(1, 64)}
    )
    return st.builds(lambda pair, rest: {**pair, **rest}, scheme_and_shape(plannable), optional)


_INIT = {"preset": st.sampled_from(("torch", "keras", "flax"))}


@st.composite
def _convolutions(draw: st.DrawFn, inits: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A conv layer whose kernel has one size per spatial axis and whose channels split into groups."""
    kind = draw(st.sampled_from(("conv1d", "conv2d", "conv3d")))
    axes, groups = int(kind[-2]), draw(st.integers(1, 3))
    kernel = draw(st.one_of(DIM, st.lists(DIM, min_size=axes, max_size=axes)))
    layer = {"name": draw(NAMES), "type": kind, "in_channels": groups * draw(DIM),
             "out_channels": groups * draw(DIM), "kernel_size": kernel}  # fmt: skip
    if groups > 1 or draw(st.booleans()):
        layer["groups"] = groups
    return {**layer, **draw(inits)}


def layers() -> st.SearchStrategy[dict[str, Any]]:
    common = {"name": NAMES}
    inits = {**_INIT, "dtype": DTYPES, "weight_init": schemes(), "bias_init": schemes(), "bias": st.booleans()}
    linear = st.fixed_dictionaries(
        {**common, "type": st.just("linear"), "in_features": DIM, "out_features": DIM}, optional=inits
    )
    conv = _convolutions(st.fixed_dictionaries({}, optional=inits))
    embedding = st.fixed_dictionaries(
        {**common, "type": st.just("embedding"), "num_embeddings": DIM, "embedding_dim": DIM},
        optional={**_INIT, "dtype": DTYPES, "weight_init": schemes()},
    )
    norm = st.fixed_dictionaries(
        {**common, "type": st.sampled_from(("batchnorm", "batchnorm1d", "batchnorm2d", "batchnorm3d")),
         "num_features": DIM},
        optional={"dtype": DTYPES, "affine": st.booleans(), "track_running_stats": st.booleans()},
    )  # fmt: skip
    normalized = st.one_of(DIM, st.lists(DIM, min_size=1, max_size=3))
    layernorm = st.fixed_dictionaries(
        {**common, "type": st.just("layernorm"), "normalized_shape": normalized},
        optional={"dtype": DTYPES, "elementwise_affine": st.booleans(), "bias": st.booleans()},
    )
    return st.one_of(linear, conv, embedding, norm, layernorm)


def models() -> st.SearchStrategy[dict[str, Any]]:
    widths = st.lists(DIM, min_size=2, max_size=4)
    widths3 = st.lists(DIM, min_size=3, max_size=4)
    return st.one_of(
        st.fixed_dictionaries(
            {
                "preset": st.just("gpt2"),
                "n_layer": st.integers(1, 2),
                "n_embd": DIM,
                "vocab_size": DIM,
                "block_size": DIM,
            },
            optional={"std": st.floats(0, 1, exclude_min=True), "bias": st.booleans()},
        ),  # fmt: skip
        st.fixed_dictionaries(
            {"preset": st.just("mup_mlp_v2"), "widths": widths3, "base_width": DIM},
            optional={"readout_zero": st.booleans()},
        ),
        st.fixed_dictionaries(
            {
                "preset": st.just("fixup_mlp"),
                "input_width": DIM,
                "width": DIM,
                "blocks": st.integers(1, 3),
                "output_width": DIM,
            }
        ),  # fmt: skip
        st.fixed_dictionaries({"preset": st.just("zero_mlp"), "widths": widths}),
    )


@st.composite
def init_bodies(
    draw: st.DrawFn, *, with_layers: bool = True, with_models: bool = False, plannable: bool = False
) -> dict[str, Any]:
    """A body of POST /init and POST /diagnostics: shorthand, tensors, layers (and architectures), combined.
    plannable: each scheme gets a shape of a rank it takes (most such bodies plan)."""
    body: dict[str, Any] = draw(st.fixed_dictionaries({}, optional={"seed": SEEDS, "dtype": DTYPES, "layout": LAYOUT}))
    ways = draw(st.sets(st.sampled_from(["shorthand", "tensors", "layers", "model"][: 2 + with_layers + with_models]),
                        min_size=1))  # fmt: skip
    if "shorthand" in ways:
        body.update(draw(scheme_and_shape(plannable)))
        body.update(draw(st.fixed_dictionaries(
            {}, optional={"name": NAMES, "fan_in": st.integers(1, 64), "fan_out": st.integers(1, 64)}
        )))  # fmt: skip
    if "tensors" in ways:
        body["tensors"] = draw(st.lists(tensor_specs(plannable), min_size=1, max_size=3, unique_by=lambda t: t["name"]))
    if "layers" in ways:
        body["layers"] = draw(st.lists(layers(), min_size=1, max_size=3, unique_by=lambda t: t["name"]))
    if "model" in ways:
        body["model"] = draw(models())
    return body


def _network_layer(width: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"width": width, "scheme": schemes()},
        optional={"activation": st.sampled_from(ACTIVATIONS), "bias": schemes(),
                  "norm": st.sampled_from(("batchnorm", "layernorm")), "residual": st.booleans(),
                  "repeat": st.integers(1, 3)},
    )  # fmt: skip


def network_bodies() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"input_width": DIM, "layers": st.lists(_network_layer(DIM), min_size=1, max_size=3)},
        optional={"seed": SEEDS, "dtype": DTYPES, "batch": st.integers(2, 64),
                  "jacobian": st.sampled_from(("auto", "exact", "probes"))},
    )  # fmt: skip


def lsuv_bodies() -> st.SearchStrategy[dict[str, Any]]:
    layer = st.fixed_dictionaries(
        {"width": DIM},
        optional={"activation": st.sampled_from(ACTIVATIONS), "bias": schemes(), "residual": st.booleans(),
                  "repeat": st.integers(1, 3)},
    )  # fmt: skip
    return st.fixed_dictionaries(
        {"input_width": DIM, "layers": st.lists(layer, min_size=1, max_size=3)},
        optional={"seed": SEEDS, "dtype": DTYPES, "batch": st.integers(2, 64),
                  "tolerance": st.floats(0, 1, exclude_min=True), "max_iterations": st.integers(1, 100),
                  "target_variance": st.floats(0, 100, exclude_min=True)},
    )  # fmt: skip


def pretrain_bodies() -> st.SearchStrategy[dict[str, Any]]:
    layer = st.fixed_dictionaries(
        {"width": DIM},
        optional={"activation": st.sampled_from(ACTIVATIONS), "scheme": schemes(), "bias": schemes()},
    )
    return st.fixed_dictionaries(
        {"input_width": DIM, "layers": st.lists(layer, min_size=1, max_size=3), "data": st.text(max_size=8)},
        optional={"seed": SEEDS, "dtype": DTYPES, "epochs": st.integers(1, 200), "batch_size": st.integers(1, 4096),
                  "learning_rate": st.floats(0, 1, exclude_min=True)},
    )  # fmt: skip
