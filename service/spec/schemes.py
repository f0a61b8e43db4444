"""One pydantic model per registered scheme and per dialect word, and their discriminated union.

``{"name": "kaiming_normal", "mode": "fan_out"}`` validates against KaimingNormalScheme only, so
the OpenAPI schema gives generated clients typed parameters per scheme. A bare name
(``"xavier_uniform"``) is shorthand for the object with default parameters. Dialect words
(``keras.HeNormal``, service.core.dialects) have models of their own, with their framework's
parameters and defaults. Rules that relate
parameters to each other or to the tensor (a < b, fans) stay in the core, stated once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, create_model
from pydantic.json_schema import GetJsonSchemaHandler

from ..core import dialects
from ..core.catalogue import describe
from ..core.registry import REGISTRY, Param, Scheme, all_names, get_scheme
from .fields import strict_float, strict_int

__all__ = ["SCHEME_MODELS", "SchemeSpec", "scheme_names", "scheme_params"]


def _param_type(param: Param) -> Any:
    limits = {
        key: getattr(param, attr)
        for key, attr in (
            ("ge", "minimum"),
            ("le", "maximum"),
            ("gt", "exclusive_minimum"),
            ("lt", "exclusive_maximum"),
        )
        if getattr(param, attr) is not None
    }
    if param.kind == "bool":
        return Annotated[StrictBool, Field(description=param.description)]
    if param.kind == "axes":
        axis = Annotated[int, BeforeValidator(strict_int)]
        return Annotated[axis | list[axis] | None, Field(description=param.description)]
    if param.kind == "str":
        accepted = (*(param.choices or ()), *param.synonyms)
        validators = [BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v)] if param.casefold else []
        return Annotated[Literal[accepted], Field(description=param.description), *validators]  # type: ignore[valid-type]  # a Literal made at import time
    base, check = (int, strict_int) if param.kind == "int" else (float, strict_float)
    typed = Annotated[base, Field(**limits), BeforeValidator(check)]  # type: ignore[valid-type]  # int or float, chosen above
    if param.default is None:  # an implicit parameter: absent or null is the layout's rule
        return Annotated[typed | None, Field(description=param.description)]
    return Annotated[typed, Field(description=param.description)]


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) + "Scheme"


def _model(scheme: Scheme) -> type[BaseModel]:
    info = describe(scheme)
    fields: dict[str, Any] = {
        "name": (Literal[(scheme.name, *scheme.aliases)], Field(description="the scheme (or an alias)")),  # type: ignore[valid-type]  # made at import time
    }
    for param in scheme.params:
        fields[param.name] = (_param_type(param), ... if param.required else param.default)
    return create_model(
        _camel(scheme.name),
        __config__=ConfigDict(extra="forbid", title=_camel(scheme.name)),
        __doc__=f"{info['formula']} {info['description']}".strip(),
        **fields,
    )


def _word_model(word: dialects.Word) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "name": (Literal[word.spellings], Field(description=f"{word.peer}: {word.meaning}")),  # type: ignore[valid-type]  # made at import time
    }
    for param in word.params:
        fields[param.name] = (_param_type(param), ... if param.required else param.default)
    title = "".join(part[:1].upper() + part[1:] for part in word.qualified.replace(".", "_").split("_")) + "Scheme"
    return create_model(
        title,
        __config__=ConfigDict(extra="forbid", title=title),
        __doc__=f"{word.peer}: {word.meaning}",
        **fields,
    )


SCHEME_MODELS: dict[str, type[BaseModel]] = {
    **{name: _model(REGISTRY[name]) for name in sorted(REGISTRY)},
    # Refused words too (keras.STFT): validation accepts the name, the translation says why not.
    **{w.qualified: _word_model(w) for d in dialects.PREFIXES for w in dialects.by_dialect(d)},
}


def scheme_names(bare: bool = False) -> list[str]:
    """Every scheme name: initw's names and aliases, then the frameworks' words; with ``bare``, only
    those a name alone may stand for (the scheme needs no parameter without a default)."""
    words = {s: w.qualified for d in dialects.PREFIXES for w in dialects.by_dialect(d) for s in w.spellings}
    names = {name: get_scheme(name).name for name in all_names()} | words
    return [name for name, model in names.items() if not bare or _bare(SCHEME_MODELS[model])]


def _bare(model: type[BaseModel]) -> bool:
    return all(name == "name" or not field.is_required() for name, field in model.model_fields.items())


def _shorthand(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class _NameOrObject:
    """JSON schema: a scheme is a name (with default parameters) or one of the scheme objects."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        objects = handler(core_schema)
        name = {
            "type": "string",
            "enum": scheme_names(bare=True),
            "description": "a scheme name: its default parameters",
        }
        return {"oneOf": [name, objects]}


if TYPE_CHECKING:  # the union is built at import time; type checkers see a model
    SchemeSpec = BaseModel
else:
    SchemeSpec = Annotated[
        Union[tuple(SCHEME_MODELS.values())],  # type: ignore[valid-type]  # noqa: UP007  # a union made at import time
        Field(discriminator="name"),
        BeforeValidator(_shorthand),
        _NameOrObject(),
    ]


def scheme_params(spec: BaseModel) -> tuple[str, dict[str, Any]]:
    """(name as given, parameters as given) of a validated scheme object."""
    given = spec.model_dump(exclude_unset=True)
    return str(given.pop("name")), given
