"""Dialects: each framework's own names for initializers, with its defaults and parameters.

initw's catalogue (the registry) is one vocabulary; PyTorch, Keras 3 and JAX/Flax each have
another, where the same word can mean something else: ``he_normal`` is untruncated in PyTorch
(``kaiming_normal_``) and truncated at 2 std in Keras and JAX; Keras's ``TruncatedNormal`` cuts at
2 std around the mean, PyTorch's ``trunc_normal_`` at absolute -2 and 2. A dialect word is written
qualified (``keras.HeNormal``, ``jax.he_normal``, ``torch.kaiming_normal_``, ``flax.zeros_init``) or
unqualified under a request's ``"dialect"``, and means exactly what it means in that framework's
current release (Keras 3.15, JAX 0.10 / Flax 0.12, PyTorch 2.13): its constructor's parameters,
defaults and fan rules.

A word is vocabulary, not a new algorithm: it translates into an initw scheme with explicit
parameters (and Keras's ``input_axes``/``output_axes`` into fan overrides), so its bytes are those
of the equivalent initw request, and the canonical request in the file's header says which one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import schemes as _schemes  # noqa: F401  (registers the catalogue)
from .errors import InitError
from .fans import NONLINEARITIES
from .generate import TensorSpec
from .registry import REQUIRED, Elementwise, Param, get_scheme

__all__ = [
    "DIALECTS",
    "FRAMEWORK_LAYOUT",
    "PREFIXES",
    "Translation",
    "Word",
    "bias_of",
    "by_dialect",
    "differs",
    "dense_weight",
    "lookup",
    "qualify",
    "translate",
]

DIALECTS = ("initw", "torch", "keras", "jax", "flax")
PREFIXES = tuple(d for d in DIALECTS if d != "initw")
# The layout whose fan rule a dialect's words follow (Keras and JAX both keep [*k, in, out]).
FRAMEWORK_LAYOUT = {"initw": "torch", "torch": "torch", "keras": "keras", "jax": "jax", "flax": "jax"}


@dataclass(frozen=True)
class Translation:
    """An initw scheme with every parameter the word implies, in the word's framework layout."""

    scheme: str
    params: dict[str, Any]
    layout: str
    fan_in: int | None = None
    fan_out: int | None = None


@dataclass(frozen=True)
class Word:
    """One framework name of an initializer: its spellings, its own parameters, its initw meaning."""

    dialect: str
    name: str
    aliases: tuple[str, ...]
    params: tuple[Param, ...]
    peer: str  # what the framework's user writes, e.g. keras.initializers.HeNormal()
    meaning: str  # the translation, in words, for the catalogue
    build: Callable[[dict[str, Any], tuple[int, ...]], Translation]
    unsupported: str | None = None  # why initw refuses this framework initializer

    @property
    def qualified(self) -> str:
        return f"{self.dialect}.{self.name}"

    @property
    def spellings(self) -> tuple[str, ...]:
        """Every qualified name of this word: the name first, then the aliases."""
        return tuple(f"{self.dialect}.{n}" for n in (self.name, *self.aliases))

    def resolve(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The word's parameters validated, defaults filled in (the framework's defaults)."""
        if self.unsupported:
            raise InitError(f"{self.qualified}: {self.unsupported}", param="name", allowed="another initializer")
        for ignored, why in (("seed", "the request's seed and the tensor's name decide every value"),
                             ("dtype", "the request's dtype decides the stored format")):  # fmt: skip
            if ignored in raw:
                raise InitError(
                    f"{self.qualified} takes no {ignored} here: {why}", param=ignored, allowed="leave it out"
                )
        known = {p.name for p in self.params}
        unknown = sorted(set(raw) - known)
        if unknown:
            allowed = ", ".join(p.name for p in self.params) or "no parameters"
            raise InitError(
                f"{self.qualified} has no parameter {unknown[0]!r}; it takes {allowed}",
                param=unknown[0],
                allowed=allowed,
            )
        out = {}
        for p in self.params:
            if p.name in raw:
                out[p.name] = p.validate(raw[p.name])
            elif p.required:
                raise InitError(f"{self.qualified} needs parameter {p.name!r} ({p.allowed()})", param=p.name)
            else:
                out[p.name] = p.default
        return out

    def translate(self, raw: Mapping[str, Any], shape: tuple[int, ...]) -> Translation:
        return self.build(self.resolve(raw), tuple(shape))


_WORDS: dict[str, Word] = {}  # every qualified spelling -> its word


def _word(
    dialect: str,
    name: str,
    aliases: tuple[str, ...],
    params: tuple[Param, ...],
    peer: str,
    meaning: str,
    build: Callable[[dict[str, Any], tuple[int, ...]], Translation],
    unsupported: str | None = None,
) -> None:
    word = Word(dialect, name, aliases, params, peer, meaning, build, unsupported)
    for spelling in word.spellings:
        if spelling in _WORDS:
            raise RuntimeError(f"dialect word {spelling!r} defined twice")
        _WORDS[spelling] = word


def _fixed(scheme: str, layout: str, **fixed: Any) -> Callable[[dict[str, Any], tuple[int, ...]], Translation]:
    """A word whose parameters map one to one: ``fixed`` values, or 'param' renamed from the word's."""

    def build(params: dict[str, Any], shape: tuple[int, ...]) -> Translation:
        out = {k: (params[v[1:]] if isinstance(v, str) and v.startswith("@") else v) for k, v in fixed.items()}
        return Translation(scheme, out, layout)

    return build


def _float(name: str, default: Any, description: str, **limits: Any) -> Param:
    return Param(name, "float", default, description, **limits)


# --- PyTorch: torch.nn.init, names as written there (trailing underscore; the deprecated
# spellings without it are aliases, as torch still accepts them). Layout torch.

_T = "torch"
_MEAN, _STD = _float("mean", 0.0, "mean"), _float("std", 1.0, "standard deviation", exclusive_minimum=0.0)
_GAIN = _float("gain", 1.0, "multiplies the standard deviation", exclusive_minimum=0.0)
_KAIMING = (
    _float("a", 0.0, "negative slope of the rectifier after this layer (leaky_relu only)"),
    Param("mode", "str", "fan_in", "fan_in or fan_out", choices=("fan_in", "fan_out"), casefold=True),
    Param("nonlinearity", "str", "leaky_relu", "the activation, for calculate_gain", choices=NONLINEARITIES),
)
for _name, _params, _scheme, _map in (
    ("uniform_", (_float("a", 0.0, "lower bound"), _float("b", 1.0, "upper bound")), "uniform", ("a", "b")),
    ("normal_", (_MEAN, _STD), "normal", ("mean", "std")),
    ("trunc_normal_",
     (_MEAN, _STD, _float("a", -2.0, "lower cut-off (absolute)"), _float("b", 2.0, "upper cut-off (absolute)")),
     "truncated_normal", ("mean", "std", "a", "b")),
    ("constant_", (Param("val", "float", REQUIRED, "the fill value"),), "constant", ()),
    ("ones_", (), "ones", ()),
    ("zeros_", (), "zeros", ()),
    ("eye_", (), "eye", ()),
    ("dirac_", (Param("groups", "int", 1, "convolution groups", minimum=1),), "dirac", ("groups",)),
    ("xavier_uniform_", (_GAIN,), "xavier_uniform", ("gain",)),
    ("xavier_normal_", (_GAIN,), "xavier_normal", ("gain",)),
    ("kaiming_uniform_", _KAIMING, "kaiming_uniform", ("a", "mode", "nonlinearity")),
    ("kaiming_normal_", _KAIMING, "kaiming_normal", ("a", "mode", "nonlinearity")),
    ("orthogonal_", (_GAIN,), "orthogonal", ("gain",)),
    ("sparse_", (Param("sparsity", "float", REQUIRED, "fraction of each column set to zero", minimum=0.0, maximum=1.0),
                 _float("std", 0.01, "standard deviation of the non-zero values", exclusive_minimum=0.0)),
     "sparse", ("sparsity", "std")),
):  # fmt: skip
    _mapping = {p: f"@{p}" for p in _map}
    if _name == "constant_":
        _mapping = {"value": "@val"}
    _deprecated = () if _name == "trunc_normal_" else (_name[:-1],)
    _word(_T, _name, _deprecated, _params, f"torch.nn.init.{_name}(tensor, ...)",
          f"{_scheme} (layout torch)", _fixed(_scheme, "torch", **_mapping))  # fmt: skip


# --- Keras 3: keras.initializers, by class name, snake_case name and Keras's aliases
# (keras.initializers.get looks them up case-sensitively). Layout keras.

_K = "keras"
_AXES = (
    Param("input_axes", "axes", None, "axes of the input units: with output_axes, fan_in = their sizes' product"),
    Param("output_axes", "axes", None, "axes of the output units: with input_axes, fan_out = their sizes' product"),
)


def _keras_fans(params: dict[str, Any], shape: tuple[int, ...]) -> tuple[int | None, int | None]:
    """Keras's compute_fans: both axis lists given -> the products of their sizes; else the shape's rule."""
    ins, outs = params.get("input_axes"), params.get("output_axes")
    if ins is None or outs is None:
        return None, None
    for axes, param in ((ins, "input_axes"), (outs, "output_axes")):
        for axis in [axes] if isinstance(axes, int) else axes:
            if not -len(shape) <= axis < len(shape):
                raise InitError(f"{param} {axis} is out of range for shape {list(shape)}", param=param)
    return _size(shape, ins), _size(shape, outs)


def _size(shape: tuple[int, ...], axes: int | list[int]) -> int:
    return math.prod(shape[a] for a in ([axes] if isinstance(axes, int) else axes))


_Build = Callable[[dict[str, Any], tuple[int, ...]], Translation]


def _keras_variance(scale: float | None, mode: str | None, distribution: str | None) -> _Build:
    """A Keras VarianceScaling word; None: the value comes from the word's own parameter."""

    def build(params: dict[str, Any], shape: tuple[int, ...]) -> Translation:
        fan_in, fan_out = _keras_fans(params, shape)
        dist = distribution or params["distribution"]
        vs = {
            "scale": scale if scale is not None else params["scale"],
            "mode": mode or params["mode"],
            # Keras: "normal" is the truncated normal; the untruncated one is "untruncated_normal".
            "distribution": {"untruncated_normal": "normal", "normal": "truncated_normal"}.get(dist, dist),
        }
        return Translation("variance_scaling", vs, "keras", fan_in, fan_out)

    return build


_KERAS_DIST = Param(
    "distribution",
    "str",
    "truncated_normal",
    "truncated_normal (or normal: the same, truncated at 2 std), untruncated_normal, or uniform",
    choices=("truncated_normal", "untruncated_normal", "uniform", "normal"),
    casefold=True,
)
_word(_K, "Zeros", ("zeros", "zero"), (), "keras.initializers.Zeros()", "zeros", _fixed("zeros", "keras"))
_word(_K, "Ones", ("ones", "one"), (), "keras.initializers.Ones()", "ones", _fixed("ones", "keras"))
_word(_K, "Constant", ("constant",), (_float("value", 0.0, "the fill value"),),
      "keras.initializers.Constant(value=0.0)",
      "constant(value)", _fixed("constant", "keras", value="@value"))  # fmt: skip
_word(_K, "Identity", ("identity", "IdentityInitializer"), (_float("gain", 1.0, "the diagonal value"),),
      "keras.initializers.Identity(gain=1.0)", "eye(gain), 2-D", _fixed("eye", "keras", gain="@gain"))  # fmt: skip
_word(_K, "RandomNormal", ("random_normal", "normal"),
      (_MEAN, _float("stddev", 0.05, "standard deviation", exclusive_minimum=0.0)),
      "keras.initializers.RandomNormal(mean=0.0, stddev=0.05)", "normal(mean, std=stddev)",
      _fixed("normal", "keras", mean="@mean", std="@stddev"))  # fmt: skip
_word(_K, "RandomUniform", ("random_uniform", "uniform"),
      (_float("minval", -0.05, "lower bound"), _float("maxval", 0.05, "upper bound")),
      "keras.initializers.RandomUniform(minval=-0.05, maxval=0.05)", "uniform(a=minval, b=maxval)",
      _fixed("uniform", "keras", a="@minval", b="@maxval"))  # fmt: skip
_word(_K, "TruncatedNormal", ("truncated_normal",),
      (_MEAN, _float("stddev", 0.05, "standard deviation before truncation", exclusive_minimum=0.0)),
      "keras.initializers.TruncatedNormal(mean=0.0, stddev=0.05)",
      "truncated_normal(mean, std=stddev, a=-2, b=2, bounds=sigma): cut at 2 stddev around the mean, uncorrected",
      _fixed("truncated_normal", "keras", mean="@mean", std="@stddev", a=-2.0, b=2.0, bounds="sigma"))  # fmt: skip
_word(_K, "VarianceScaling", ("variance_scaling",),
      (_float("scale", 1.0, "multiplies the variance", exclusive_minimum=0.0),
       Param("mode", "str", "fan_in", "the fan dividing the variance", choices=("fan_in", "fan_out", "fan_avg")),
       _KERAS_DIST, *_AXES),
      "keras.initializers.VarianceScaling(scale=1.0, mode='fan_in', distribution='truncated_normal')",
      "variance_scaling(scale, mode, distribution) with Keras's fans; Keras's 'normal' is truncated",
      _keras_variance(None, None, None))  # fmt: skip
for _cls, _snake, _scale, _mode, _dist in (
    ("GlorotUniform", "glorot_uniform", 1.0, "fan_avg", "uniform"),
    ("GlorotNormal", "glorot_normal", 1.0, "fan_avg", "truncated_normal"),
    ("HeUniform", "he_uniform", 2.0, "fan_in", "uniform"),
    ("HeNormal", "he_normal", 2.0, "fan_in", "truncated_normal"),
    ("LecunUniform", "lecun_uniform", 1.0, "fan_in", "uniform"),
    ("LecunNormal", "lecun_normal", 1.0, "fan_in", "truncated_normal"),
):
    _word(_K, _cls, (_snake,), _AXES, f"keras.initializers.{_cls}()",
          f"variance_scaling(scale={_scale:g}, mode={_mode}, distribution={_dist}) with Keras's fans",
          _keras_variance(_scale, _mode, _dist))  # fmt: skip
_word(_K, "Orthogonal", ("orthogonal", "OrthogonalInitializer"),
      (_float("gain", 1.0, "multiplies every value", exclusive_minimum=0.0),),
      "keras.initializers.Orthogonal(gain=1.0)", "orthogonal(gain) flattened as Keras does: cols = shape[-1]",
      _fixed("orthogonal", "keras", gain="@gain"))  # fmt: skip
_word(_K, "STFT", ("stft", "STFTInitializer"), (), "keras.initializers.STFT(side, window, ...)",
      "not supported", _fixed("zeros", "keras"),
      unsupported="initw does not serve Keras's STFT kernels (fixed DFT filters, "
                  "not an initialization from a seed)")  # fmt: skip


# --- JAX: jax.nn.initializers (= flax.linen.initializers), builder names and arguments.
# Layout jax; in_axis/out_axis/batch_axis and column_axis pass through to initw's schemes.

_JAX_AXES = (
    Param("in_axis", "axes", -2, "input axis or axes"),
    Param("out_axis", "axes", -1, "output axis or axes"),
    Param("batch_axis", "axes", [], "axes of independent matrices, in neither fan"),
)


def _jax_variance(scale: float | None, mode: str | None, distribution: str | None) -> _Build:
    def build(params: dict[str, Any], shape: tuple[int, ...]) -> Translation:
        vs: dict[str, Any] = {
            "scale": scale if scale is not None else params["scale"],
            "mode": mode or params["mode"],
            "distribution": distribution or params["distribution"],
        }
        if len(shape) < 2 and (params["in_axis"], params["out_axis"]) == (-2, -1):
            raise InitError(
                f"Can't compute input and output sizes of a {len(shape)}-dimensional weights tensor with default "
                "in_axis. Must be at least 2D or specify in_axis explicitly.",
                param="in_axis",
                allowed="explicit in_axis and out_axis for tensors with fewer than 2 dimensions",
            )
        # The jax layout's own fans are JAX's defaults: name only the axes that differ from them.
        defaults = {"in_axis": -2, "out_axis": -1, "batch_axis": []}
        vs.update({k: params[k] for k, default in defaults.items() if params[k] != default})
        return Translation("variance_scaling", vs, "jax")

    return build


def _jax_orthogonal(params: dict[str, Any], shape: tuple[int, ...]) -> Translation:
    out = {"gain": params["scale"]}
    if params["column_axis"] != -1:
        out["column_axis"] = params["column_axis"]
    return Translation("orthogonal", out, "jax")


def _jax_delta_orthogonal(params: dict[str, Any], shape: tuple[int, ...]) -> Translation:
    # JAX applies column_axis to the 2-D centre tap, shape[-2:]: with in <= out every valid axis
    # (-2, -1, 0, 1) gives the same matrix (the normal draws are shaped (out, in) either way).
    if not -2 <= params["column_axis"] <= 1:
        raise InitError(
            f"column_axis {params['column_axis']} is out of range for the 2-D centre tap",
            param="column_axis",
            allowed="-2, -1, 0 or 1",
        )
    return Translation("delta_orthogonal", {"gain": params["scale"]}, "jax")


def _jax_words(dialect: str) -> None:
    prefix = "jax.nn.initializers" if dialect == "jax" else "flax.linen.initializers"
    _word(dialect, "zeros", (), (), f"{prefix}.zeros", "zeros", _fixed("zeros", "jax"))
    _word(dialect, "ones", (), (), f"{prefix}.ones", "ones", _fixed("ones", "jax"))
    _word(dialect, "constant", (), (_float("value", REQUIRED, "the fill value"),), f"{prefix}.constant(value)",
          "constant(value)", _fixed("constant", "jax", value="@value"))  # fmt: skip
    _word(dialect, "uniform", (), (_float("scale", 0.01, "upper bound; the lower is 0", exclusive_minimum=0.0),),
          f"{prefix}.uniform(scale=0.01)", "uniform(a=0, b=scale): one-sided",
          _fixed("uniform", "jax", a=0.0, b="@scale"))  # fmt: skip
    _word(dialect, "normal", (), (_float("stddev", 0.01, "standard deviation", exclusive_minimum=0.0),),
          f"{prefix}.normal(stddev=0.01)", "normal(mean=0, std=stddev)",
          _fixed("normal", "jax", mean=0.0, std="@stddev"))  # fmt: skip
    _word(dialect, "truncated_normal", (),
          (_float("stddev", 0.01, "standard deviation before truncation", exclusive_minimum=0.0),
           _float("lower", -2.0, "lower cut-off, in units of stddev"),
           _float("upper", 2.0, "upper cut-off, in units of stddev")),
          f"{prefix}.truncated_normal(stddev=0.01, lower=-2.0, upper=2.0)",
          "truncated_normal(mean=0, std=stddev, a=lower, b=upper, bounds=sigma), uncorrected",
          _fixed("truncated_normal", "jax", mean=0.0, std="@stddev", a="@lower", b="@upper",
                 bounds="sigma"))  # fmt: skip
    _word(dialect, "variance_scaling", (),
          (_float("scale", REQUIRED, "multiplies the variance", exclusive_minimum=0.0),
           Param("mode", "str", REQUIRED, "the fan dividing the variance",
                 choices=("fan_in", "fan_out", "fan_avg", "fan_geo_avg")),
           Param("distribution", "str", REQUIRED, "truncated_normal, normal (untruncated) or uniform",
                 choices=("truncated_normal", "normal", "uniform")),
           *_JAX_AXES),
          f"{prefix}.variance_scaling(scale, mode, distribution, in_axis=-2, out_axis=-1, batch_axis=())",
          "variance_scaling(scale, mode, distribution) with JAX's fans; 'normal' is untruncated",
          _jax_variance(None, None, None))  # fmt: skip
    for names, scale, mode, dist in (
        (("glorot_uniform", "xavier_uniform"), 1.0, "fan_avg", "uniform"),
        (("glorot_normal", "xavier_normal"), 1.0, "fan_avg", "truncated_normal"),
        (("lecun_uniform",), 1.0, "fan_in", "uniform"),
        (("lecun_normal",), 1.0, "fan_in", "truncated_normal"),
        (("he_uniform", "kaiming_uniform"), 2.0, "fan_in", "uniform"),
        (("he_normal", "kaiming_normal"), 2.0, "fan_in", "truncated_normal"),
    ):
        _word(dialect, names[0], names[1:], _JAX_AXES, f"{prefix}.{names[0]}(in_axis=-2, out_axis=-1, batch_axis=())",
              f"variance_scaling(scale={scale:g}, mode={mode}, distribution={dist}) with JAX's fans",
              _jax_variance(scale, mode, dist))  # fmt: skip
    _word(dialect, "orthogonal", (),
          (_float("scale", 1.0, "multiplies every value", exclusive_minimum=0.0),
           Param("column_axis", "int", -1, "the axis holding the matrix's columns")),
          f"{prefix}.orthogonal(scale=1.0, column_axis=-1)", "orthogonal(gain=scale, column_axis)",
          _jax_orthogonal)  # fmt: skip
    _word(dialect, "delta_orthogonal", (),
          (_float("scale", 1.0, "multiplies the centre tap", exclusive_minimum=0.0),
           Param("column_axis", "int", -1, "the centre tap's column axis")),
          f"{prefix}.delta_orthogonal(scale=1.0, column_axis=-1)", "delta_orthogonal(gain=scale), centre (k-1)//2",
          _jax_delta_orthogonal)  # fmt: skip


_jax_words("jax")
_jax_words("flax")
# Flax's own spellings of the two fills (flax.linen.initializers.zeros_init() / ones_init()).
_word("flax", "zeros_init", (), (), "flax.linen.initializers.zeros_init()", "zeros", _fixed("zeros", "jax"))
_word("flax", "ones_init", (), (), "flax.linen.initializers.ones_init()", "ones", _fixed("ones", "jax"))


def lookup(name: str) -> Word | None:
    """The dialect word a qualified name spells, or None for an initw name."""
    return _WORDS.get(name)


def qualify(name: str, dialect: str | None) -> str:
    """``name`` as written under a request's dialect: an unqualified name gets the dialect's prefix
    (under initw, or no dialect, it stays as it is); a qualified name stays qualified."""
    if dialect in (None, "initw") or name.split(".", 1)[0] in PREFIXES:
        return name
    return f"{dialect}.{name}"


def by_dialect(dialect: str) -> list[Word]:
    """The words of one dialect, each once, in the order they are defined."""
    seen: dict[str, Word] = {}
    for word in _WORDS.values():
        if word.dialect == dialect:
            seen.setdefault(word.qualified, word)
    return list(seen.values())


def translate(
    name: str, params: Mapping[str, Any], shape: tuple[int, ...], fan_in: int | None = None, fan_out: int | None = None
) -> Translation:
    """The initw meaning of dialect word ``name`` on ``shape``; explicit fans win over the
    framework's rule unless the word's own axes give them (then both is a contradiction)."""
    word = _WORDS[name]
    meaning = word.translate(params, shape)
    if meaning.fan_in is not None and (fan_in is not None or fan_out is not None):
        raise InitError(
            "give the fans either as fan_in/fan_out or through input_axes/output_axes, not both",
            param="input_axes",
            allowed="axes without fan_in/fan_out",
        )
    return Translation(
        meaning.scheme,
        meaning.params,
        meaning.layout,
        meaning.fan_in if meaning.fan_in is not None else fan_in,
        meaning.fan_out if meaning.fan_out is not None else fan_out,
    )


def dense_weight(name: str, width: int, fan_in: int, scheme: str, params: Mapping[str, Any], dtype: str) -> TensorSpec:
    """A dense layer's weight [width, fan_in] (PyTorch's layout, as the network analyses build
    them) for an initw scheme, or for a dialect word with the layer's own fans: a Keras or JAX
    word would read a [width, fan_in] shape as [in, out], so its fans are given, not derived."""
    if lookup(scheme) is None:
        return TensorSpec(name, (width, fan_in), scheme, params, dtype=dtype)
    meaning = translate(scheme, params, (width, fan_in), fan_in, width)
    fans = (None, None) if meaning.layout == "torch" else (meaning.fan_in, meaning.fan_out)
    return TensorSpec(name, (width, fan_in), meaning.scheme, meaning.params, dtype, meaning.layout, *fans)


def bias_of(name: str, width: int, fan_in: int, scheme: str, params: Mapping[str, Any], dtype: str) -> TensorSpec:
    """A dense layer's bias [width], which shares its layer's fans, for a scheme or a dialect word."""
    if lookup(scheme) is None:
        return TensorSpec(name, (width,), scheme, params, dtype=dtype, fan_in=fan_in, fan_out=width)
    meaning = translate(scheme, params, (width,), fan_in, width)
    return TensorSpec(
        name, (width,), meaning.scheme, meaning.params, dtype, meaning.layout, meaning.fan_in, meaning.fan_out
    )


def differs(
    name: str,
    params: Mapping[str, Any],
    shape: tuple[int, ...],
    layout: str,
    fan_in: int | None = None,
    fan_out: int | None = None,
) -> str | None:
    """Why an unqualified initw ``name`` under a keras/jax ``layout`` may not be what a user of that
    framework expects: a sentence when the framework's word of the same spelling, given the same
    parameters, means another distribution; None when it means the same one (to the last few
    bits of its scale: Keras computes sqrt(3 * variance) where PyTorch computes sqrt(3) * std), when
    the framework has no such word, or when it does not take these parameters (they are initw's)."""
    # Keras and JAX share the layout; a Keras user may write JAX's spellings (kaiming_normal) too.
    candidates = {"keras": ("keras", "jax"), "jax": ("jax",)}.get(layout, ())
    word = next((w for w in (lookup(f"{d}.{name}") for d in candidates) if w is not None), None)
    if word is None or word.unsupported:
        return None
    try:
        theirs = translate(word.qualified, params, shape, fan_in, fan_out)
        mine = TensorSpec("w", shape, name, params, "float64", layout, fan_in, fan_out)
        other = TensorSpec(
            "w", shape, theirs.scheme, theirs.params, "float64", theirs.layout, theirs.fan_in, theirs.fan_out
        )
        if _same(mine, other):
            return None
    except InitError:
        return None
    dialect = word.dialect
    framework = "Keras" if dialect == "keras" else "JAX"
    return (
        f"{name!r} is initw's {get_scheme(name).name}, {mine.plan.theory.label}, as in PyTorch; {framework}'s "
        f'{word.peer} is {other.plan.theory.label}. Write \'{word.dialect}.{name}\' (or "dialect": "{dialect}") for '
        f'{framework}\'s meaning, or "dialect": "initw" to keep this one without this warning'
    )


def _same(a: TensorSpec, b: TensorSpec) -> bool:
    """Whether two tensors draw the same distribution: elementwise ones by their theory (to 1e-12),
    the others by their canonical scheme and layout."""
    pa, pb = a.plan, b.plan
    if isinstance(pa, Elementwise) and isinstance(pb, Elementwise):
        if type(pa.distribution) is not type(pb.distribution):
            return False
        pairs = [(getattr(pa.theory, k), getattr(pb.theory, k)) for k in ("mean", "std", "low", "high")]
        return all(x == y or (x is not None and y is not None and math.isclose(x, y, rel_tol=1e-12)) for x, y in pairs)
    ca, cb = a.canonical(), b.canonical()
    return (ca["scheme"], ca["layout"], ca.get("fan_in"), ca.get("fan_out")) == (
        cb["scheme"], cb["layout"], cb.get("fan_in"), cb.get("fan_out"))  # fmt: skip
