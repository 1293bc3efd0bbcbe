"""roar.records behaves as dataclasses does for what the run path's record classes use."""

from __future__ import annotations

import dataclasses

import pytest

from roar.records import FrozenInstanceError, asdict, field, record, replace


@record
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


@record(frozen=True)
class Frozen:
    name: str
    size: int = field(default=1)


@record
class Outer:
    point: Point
    points: list[Point] = field(default_factory=list)
    by_name: dict[str, Frozen] = field(default_factory=dict)


@record
class Point3(Point):
    z: int = 9


@dataclasses.dataclass
class DataPoint:
    x: int
    y: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)


def test_init_like_a_dataclass():
    assert (Point(1).x, Point(1).y, Point(1).tags) == (1, 0, [])
    assert Point(1, 2, ["a"]).tags == ["a"]
    assert Point(y=3, x=4).y == 3
    assert Point(1).tags is not Point(1).tags  # a fresh default per instance


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((), {}, "missing required argument: 'x'"),
        ((1, 2, [], 4), {}, "takes 3 arguments but 4 were given"),
        ((1,), {"x": 2}, "multiple values for argument 'x'"),
        ((1,), {"w": 2}, "unexpected keyword argument 'w'"),
    ],
)
def test_bad_arguments_are_refused(args, kwargs, message):
    with pytest.raises(TypeError, match=message):
        Point(*args, **kwargs)


def test_repr_and_eq_match_dataclasses():
    assert repr(Point(1, 2)) == repr(DataPoint(1, 2)).replace("DataPoint", "Point")
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(1, 3)
    assert Point(1) != DataPoint(1)  # another class is never equal, as with dataclasses


def test_frozen_records_are_hashable_and_refuse_assignment():
    item = Frozen("a")
    assert item.size == 1
    assert hash(item) == hash(Frozen("a", 1))
    assert len({Frozen("a"), Frozen("a"), Frozen("b")}) == 2
    with pytest.raises(FrozenInstanceError):
        item.name = "b"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del item.name  # type: ignore[misc]


def test_mutable_records_are_unhashable_like_dataclasses():
    with pytest.raises(TypeError):
        hash(Point(1))
    with pytest.raises(TypeError):
        hash(DataPoint(1))


def test_asdict_recurses_like_dataclasses():
    outer = Outer(Point(1, tags=["t"]), [Point(2)], {"k": Frozen("f", 3)})
    assert asdict(outer) == {
        "point": {"x": 1, "y": 0, "tags": ["t"]},
        "points": [{"x": 2, "y": 0, "tags": []}],
        "by_name": {"k": {"name": "f", "size": 3}},
    }
    assert asdict(Point(1, 2)) == dataclasses.asdict(DataPoint(1, 2))


def test_replace_and_inheritance():
    assert replace(Point(1, 2), y=5) == Point(1, 5)
    assert Point3(1).z == 9
    assert Point3(1, 2, [], 3) == Point3(x=1, y=2, z=3)
    assert asdict(Point3(1)) == {"x": 1, "y": 0, "tags": [], "z": 9}
