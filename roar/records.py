"""Record classes for the modules on `roar run`'s path, without the start-up cost of dataclasses.

`@record` reads like `@dataclass` (annotated fields, defaults, `field(default_factory=...)`,
`frozen=True`) and gives the same `__init__`, `__repr__`, `__eq__` and, when frozen, `__hash__`.
It exists because `dataclasses` imports `inspect` (with ast, dis and tokenize) and compiles the
source of three to six methods for every class at import: ~20 record classes on the run path
cost a third of `roar run`'s start-up. Here the methods are shared closures, built with no
compiling; an instance costs a little more to make than a dataclass's (a few microseconds),
which is nothing next to the hashing and recording each instance stands for.

Type checkers see `@record` as a dataclass transform (PEP 681). Use `dataclasses` elsewhere:
modules that `roar run` does not import gain nothing from this.
"""

from __future__ import annotations

from collections.abc import Callable

TYPE_CHECKING = False  # typing (~10 ms) is not imported at run time: annotations only
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from typing_extensions import dataclass_transform

    _T = TypeVar("_T")
else:

    def dataclass_transform(**_options: object) -> Callable[[object], object]:
        return lambda decorator: decorator


__all__ = ["FrozenInstanceError", "asdict", "field", "record", "replace"]

_MISSING: Any = object()


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record."""


class _Field:
    __slots__ = ("default", "default_factory")

    def __init__(self, default: Any, default_factory: Any) -> None:
        self.default = default
        self.default_factory = default_factory


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] = _MISSING) -> Any:
    """A field's default, as `dataclasses.field` gives it (a factory for mutable defaults)."""
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("field() takes a default or a default_factory, not both")
    return _Field(default, default_factory)


@dataclass_transform(field_specifiers=(field,))
def record(cls: Any = None, /, *, frozen: bool = False) -> Any:
    """Make ``cls`` a record: an ``__init__`` over its annotated fields, ``__repr__``, ``__eq__``."""

    def wrap(cls: Any) -> Any:
        return _build(cls, frozen)

    return wrap if cls is None else wrap(cls)


def asdict(obj: Any) -> dict[str, Any]:
    """The record as a dict, records inside it (also in lists, tuples and dicts) as dicts too."""
    return {name: _plain(getattr(obj, name)) for name in obj.__record_fields__}


def replace(obj: _T, /, **changes: Any) -> _T:
    """A copy of the record with some fields changed."""
    values = {name: getattr(obj, name) for name in obj.__record_fields__}  # type: ignore[attr-defined]
    values.update(changes)
    return type(obj)(**values)


def _plain(value: Any) -> Any:
    if hasattr(type(value), "__record_fields__"):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    return value


def _build(cls: Any, frozen: bool) -> Any:
    names: list[str] = []
    defaults: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for base in reversed(cls.__mro__[1:]):
        for name in getattr(base, "__record_fields__", ()):
            if name not in names:
                names.append(name)
            defaults.update(base.__record_defaults__)
            factories.update(base.__record_factories__)
    for name in cls.__dict__.get("__annotations__", {}):
        if name not in names:
            names.append(name)
        value = cls.__dict__.get(name, _MISSING)
        if isinstance(value, _Field):
            if value.default_factory is not _MISSING:
                factories[name] = value.default_factory
                delattr(cls, name)  # as dataclasses does: the factory's value is per instance
                continue
            value = value.default
            setattr(cls, name, value)
        if value is not _MISSING:
            defaults[name] = value
    cls.__record_fields__ = tuple(names)
    cls.__record_defaults__ = defaults
    cls.__record_factories__ = factories
    cls.__init__ = _init(cls.__qualname__, tuple(names), defaults, factories)
    cls.__repr__ = _repr
    cls.__eq__ = _eq
    if frozen:
        cls.__setattr__ = _refuse_setattr
        cls.__delattr__ = _refuse_delattr
        cls.__hash__ = _hash
    else:
        cls.__hash__ = None  # mutable and compared by value: unhashable, as a dataclass
    return cls


def _init(
    qualname: str,
    names: tuple[str, ...],
    defaults: dict[str, Any],
    factories: dict[str, Callable[[], Any]],
) -> Callable[..., None]:
    count = len(names)
    known = frozenset(names)
    # Dictionary operations (in C) rather than a loop of setattr: as fast as a dataclass's
    # compiled __init__. Writing __dict__ also passes a frozen record's __setattr__.

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > count:
            raise TypeError(f"{qualname}() takes {count} arguments but {len(args)} were given")
        values = defaults.copy()
        values.update(zip(names, args))  # noqa: B905 (fewer args than names: checked above)
        if kwargs:
            if not kwargs.keys() <= known or not kwargs.keys().isdisjoint(names[: len(args)]):
                _refuse(qualname, names, args, kwargs)
            values.update(kwargs)
        for name, factory in factories.items():
            if name not in values:
                values[name] = factory()
        if len(values) != count:
            _refuse(qualname, names, args, kwargs, values)
        self.__dict__.update(values)

    __init__.__qualname__ = f"{qualname}.__init__"
    return __init__


def _refuse(
    qualname: str,
    names: tuple[str, ...],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    values: dict[str, Any] | None = None,
) -> None:
    """Raise the TypeError a dataclass's __init__ would for these arguments."""
    for name in kwargs:
        if name not in names:
            raise TypeError(f"{qualname}() got an unexpected keyword argument {name!r}")
        if names.index(name) < len(args):
            raise TypeError(f"{qualname}() got multiple values for argument {name!r}")
    missing = ", ".join(repr(name) for name in names if name not in (values or {}))
    raise TypeError(f"{qualname}() missing required argument: {missing}")


def _values(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, name) for name in obj.__record_fields__)


def _repr(self: Any) -> str:
    inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_fields__)
    return f"{type(self).__qualname__}({inner})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _refuse_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")
