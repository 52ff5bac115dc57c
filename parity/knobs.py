"""Typed, validated parameters shared by problems and solvers.

A problem's scale knobs and a solver's configuration are both frozen dataclasses whose
fields carry a one-line description and the allowed range. One mechanism then gives
clear errors for bad values, parses ``--set key=value`` strings, prints ``parity list``
and produces the canonical parameter dict that keys a record.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self


class ParameterError(ValueError):
    """A parameter has the wrong type or lies outside its allowed range."""


def knob(default: Any, doc: str, allowed: str = "", check: Callable[[Any], bool] | None = None) -> Any:
    """Declare a dataclass field with a description, an allowed range and its check."""
    return dataclasses.field(default=default, metadata={"doc": doc, "allowed": allowed, "check": check})


def positive(value: float) -> bool:
    return value > 0


def at_least(bound: float) -> Callable[[float], bool]:
    return lambda value: value >= bound


def all_at_least(bound: int) -> Callable[[tuple[int, ...]], bool]:
    return lambda values: len(values) > 0 and all(v >= bound for v in values)


@dataclasses.dataclass(frozen=True)
class KnobInfo:
    name: str
    type: str
    default: Any
    doc: str
    allowed: str


class Configurable:
    """Base of frozen dataclasses whose fields are knobs (see :func:`knob`).

    Subclasses are ``@dataclasses.dataclass(frozen=True)``; construction coerces ints
    to floats where a float is declared, checks types and finiteness, then runs each
    field's ``check``. Violations raise :class:`ParameterError` naming the owner, the
    parameter, the bad value and what is allowed.
    """

    name: ClassVar[str]

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = _coerce(self._where(field.name), getattr(self, field.name), hints[field.name])
            object.__setattr__(self, field.name, value)
            check = field.metadata.get("check")
            if check is not None and not check(value):
                raise ParameterError(
                    f"{self._where(field.name)} = {value!r} is not allowed; allowed: {field.metadata['allowed']}"
                )

    def _where(self, field_name: str) -> str:
        return f"{getattr(type(self), 'name', type(self).__name__)}: parameter '{field_name}'"

    def params(self) -> dict[str, Any]:
        """The canonical parameter dict (JSON-friendly: tuples become lists)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def changed_params(self) -> dict[str, Any]:
        """The parameters that differ from their defaults: an identity that survives new knobs."""
        return {
            f.name: _jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if getattr(self, f.name) != f.default
        }

    @classmethod
    def knobs(cls) -> list[KnobInfo]:
        hints = typing.get_type_hints(cls)
        return [
            KnobInfo(f.name, _type_name(hints[f.name]), f.default, f.metadata.get("doc", ""), f.metadata.get("allowed", ""))
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        ]

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any]) -> Self:
        """Build from ``{name: value}``; string values are parsed by the field's type."""
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ParameterError(
                f"{cls.name}: unknown parameter(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(known)) or '(none)'}"
            )
        hints = typing.get_type_hints(cls)
        parsed = {
            key: _parse(f"{cls.name}: parameter '{key}'", value, hints[key]) if isinstance(value, str) else value
            for key, value in overrides.items()
        }
        return cls(**parsed)


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is tuple:
        return f"tuple[{_type_name(typing.get_args(tp)[0])}, ...]"
    return getattr(tp, "__name__", str(tp))


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _parse(where: str, text: str, tp: Any) -> Any:
    """Parse a command-line string into the declared type."""
    origin = typing.get_origin(tp)
    try:
        if tp is bool:
            lowered = text.strip().lower()
            if lowered not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError
            return lowered in {"true", "1", "yes"}
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
        if tp is str:
            return text
        if origin is tuple:
            item = typing.get_args(tp)[0]
            parts = [p for p in text.replace("(", "").replace(")", "").split(",") if p.strip()]
            return tuple(_parse(where, p.strip(), item) for p in parts)
    except ValueError:
        pass
    raise ParameterError(f"{where} = {text!r} is not a valid {_type_name(tp)}")


def _coerce(where: str, value: Any, tp: Any) -> Any:
    """Check a value against its declared type, widening int to float and list to tuple."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"{where}: optional knobs are not supported; use a sentinel value")
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"{where} must be a number; got {value!r} of type {type(value).__name__}")
        if not math.isfinite(value):
            raise ParameterError(f"{where} must be finite; got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"{where} must be an integer; got {value!r} of type {type(value).__name__}")
        return value
    if tp is bool or tp is str:
        if not isinstance(value, tp):
            raise ParameterError(f"{where} must be a {tp.__name__}; got {value!r} of type {type(value).__name__}")
        return value
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            raise ParameterError(f"{where} must be a sequence; got {value!r}")
        item = typing.get_args(tp)[0]
        return tuple(_coerce(where, v, item) for v in value)
    raise TypeError(f"{where}: unsupported knob type {tp!r}")


def split_overrides(pairs: Sequence[str], problem_cls: type[Configurable], solver_cls: type[Configurable]) -> tuple[dict[str, str], dict[str, str]]:
    """Route ``KEY=VALUE`` strings to the problem or the solver by knob name or prefix."""
    problem_keys = {k.name for k in problem_cls.knobs()}
    solver_keys = {k.name for k in solver_cls.knobs()}
    problem_overrides: dict[str, str] = {}
    solver_overrides: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ParameterError(f"--set expects KEY=VALUE; got {pair!r}")
        prefix, dot, bare = key.partition(".")
        if dot and prefix in ("problem", "solver"):
            (problem_overrides if prefix == "problem" else solver_overrides)[bare] = value
        elif key in problem_keys and key in solver_keys:
            raise ParameterError(f"--set {key}: both the problem and the solver have {key!r}; write problem.{key} or solver.{key}")
        elif key in problem_keys:
            problem_overrides[key] = value
        elif key in solver_keys:
            solver_overrides[key] = value
        else:
            raise ParameterError(
                f"--set {key}: no such knob; problem {problem_cls.name!r} has {sorted(problem_keys)}, "
                f"solver {solver_cls.name!r} has {sorted(solver_keys)}"
            )
    return problem_overrides, solver_overrides
