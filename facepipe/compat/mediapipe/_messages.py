"""Light stand-ins for the MediaPipe protobuf messages the legacy solutions return.

No protobuf: each message is a small Python object with MediaPipe's field
names, proto2 presence (`HasField`), repeated fields as lists with `add()`, and
`str()`/`repr()` in protobuf text format exactly as the upb runtime of
mediapipe 0.10.21 prints it (floats: the shortest of 6 or 9 significant
digits that reads back as the same float32), so printed results match.

Landmark lists made by the solutions hold a float32 array and build their
per-point objects only when `.landmark` is first touched: a program that only
draws them (drawing_utils reads the array) never pays for 478 objects per face.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "Message", "Repeated", "NormalizedLandmark", "Landmark", "NormalizedLandmarkList", "LandmarkList",
    "LandmarkListCollection", "NormalizedLandmarkListCollection", "Classification", "ClassificationList",
    "ClassificationListCollection", "RelativeBoundingBox", "BoundingBox", "RelativeKeypoint", "LocationData",
    "Detection", "DetectionList", "format_float32",
]

_F32 = np.float32


def format_float32(v: float) -> str:
    """A float field as upb's text format writes it: %.6g, or %.9g where 6 digits do not round-trip."""
    s = f"{v:.6g}"
    if _F32(float(s)) != _F32(v):
        s = f"{v:.9g}"
    return s


def _quote(s: str) -> str:
    out = []
    for ch in s:
        if ch in "\"'\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


class Repeated(list):
    """A repeated field: a list that can also `add(**fields)` a new element of its message type."""

    __slots__ = ("_type",)

    def __init__(self, element_type: type | None, items: Iterable[Any] = ()) -> None:
        super().__init__(items)
        self._type = element_type

    def add(self, **fields: Any) -> Any:
        if self._type is None:
            raise AttributeError("add() is for repeated message fields; use append() for scalars")
        item = self._type(**fields)
        self.append(item)
        return item

    def MergeFrom(self, other: Iterable[Any]) -> None:  # noqa: N802 - protobuf's name
        self.extend(other)


class Message:
    """Base of the light messages. `_FIELDS`: (name, kind, type) in field-number order.

    kind: "float", "int", "str", "enum" (type = {value: name}), "msg" (type = Message class),
    "rfloat"/"rint"/"rstr" (repeated scalars), "rmsg" (repeated messages).
    """

    _FIELDS: ClassVar[tuple[tuple[str, str, Any], ...]] = ()
    _DEFAULTS: ClassVar[dict[str, Any]] = {"float": 0.0, "int": 0, "str": "", "enum": 0}
    _NAMES: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls._NAMES = frozenset(f[0] for f in cls._FIELDS)
        cls._KINDS = {name: (kind, typ) for name, kind, typ in cls._FIELDS}

    def __init__(self, **fields: Any) -> None:
        for name, value in fields.items():
            kind, typ = self._kind(name)
            if kind.startswith("r"):
                self.__dict__[name] = Repeated(typ if kind == "rmsg" else None, value)
            elif kind == "msg":  # a message (copied, as protobuf does) or a dict of its fields
                self.__dict__[name] = typ(**value) if isinstance(value, dict) else _clone(value)
            else:
                setattr(self, name, value)

    def _kind(self, name: str) -> tuple[str, Any]:
        try:
            return self._KINDS[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r} (fields: {', '.join(f[0] for f in self._FIELDS)})"
            ) from None

    def __getattr__(self, name: str) -> Any:  # only called for fields not yet set
        if name.startswith("__") or name not in self._NAMES:
            raise AttributeError(
                f"{type(self).__name__}.{name} is not implemented in facepipe.compat (a light stand-in for "
                f"the protobuf message, without protobuf); read the fields "
                f"({', '.join(f[0] for f in self._FIELDS)}) or use facepipe's numpy results instead"
            )
        kind, typ = self._KINDS[name]
        if kind.startswith("r"):
            value = self.__dict__[name] = Repeated(typ if kind == "rmsg" else None)
            return value
        if kind == "msg":
            value = self.__dict__[name] = typ()
            return value
        return self._DEFAULTS[kind]

    def __setattr__(self, name: str, value: Any) -> None:
        kind, typ = self._kind(name)
        if kind.startswith("r") or kind == "msg":
            raise AttributeError(f"assignment not allowed to field {name!r} in protocol message object")
        if kind == "float":
            value = float(value)
        elif kind in ("int", "enum"):
            value = int(value)
        elif kind == "str":
            value = str(value)
        self.__dict__[name] = value

    def HasField(self, name: str) -> bool:  # noqa: N802 - protobuf's name
        kind, _ = self._kind(name)
        if kind.startswith("r"):
            raise ValueError(f"Protocol message has no singular \"{name}\" field.")
        value = self.__dict__.get(name)
        if kind == "msg":
            return value is not None and bool(value.ListFields())
        return name in self.__dict__

    def ClearField(self, name: str) -> None:  # noqa: N802 - protobuf's name
        self._kind(name)
        self.__dict__.pop(name, None)

    def ListFields(self) -> list[tuple[str, Any]]:  # noqa: N802 - protobuf's name (names, not descriptors)
        out = []
        for name, kind, _ in self._FIELDS:
            if name not in self.__dict__:
                continue
            v = self.__dict__[name]
            if kind.startswith("r") and not v or kind == "msg" and not v.ListFields():
                continue
            out.append((name, v))
        return out

    def CopyFrom(self, other: Message) -> None:  # noqa: N802 - protobuf's name
        if type(other) is not type(self):
            raise TypeError(f"CopyFrom needs a {type(self).__name__}, got {type(other).__name__}")
        self.__dict__.clear()
        self.__dict__.update(_clone(other).__dict__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.ListFields() == other.ListFields()  # type: ignore[union-attr]

    __hash__ = None  # type: ignore[assignment]  # mutable, as protobuf messages are

    def _text(self, indent: str) -> list[str]:
        lines: list[str] = []
        for name, kind, typ in self._FIELDS:
            if name not in self.__dict__:
                continue
            v = self.__dict__[name]
            values = v if kind.startswith("r") else [v]
            base = kind[1:] if kind.startswith("r") else kind
            for item in values:
                if base == "msg":
                    if kind == "msg" and not item.ListFields():
                        continue
                    lines.append(f"{indent}{name} {{")
                    lines.extend(item._text(indent + "  "))
                    lines.append(f"{indent}}}")
                elif base == "float":
                    lines.append(f"{indent}{name}: {format_float32(item)}")
                elif base == "str":
                    lines.append(f"{indent}{name}: {_quote(item)}")
                elif base == "enum":
                    lines.append(f"{indent}{name}: {typ.get(item, item)}")
                else:
                    lines.append(f"{indent}{name}: {item}")
        return lines

    def __str__(self) -> str:
        lines = self._text("")
        return "\n".join(lines) + "\n" if lines else ""

    __repr__ = __str__


def _clone(msg: Message) -> Message:
    out = type(msg).__new__(type(msg))
    for name, value in msg.__dict__.items():
        if isinstance(value, Repeated):
            value = Repeated(value._type, (_clone(v) if isinstance(v, Message) else v for v in value))
        elif isinstance(value, Message):
            value = _clone(value)
        out.__dict__[name] = value
    return out


# --- landmarks (mediapipe/framework/formats/landmark.proto) -------------------------------------------

_POINT_FIELDS = (("x", "float", None), ("y", "float", None), ("z", "float", None),
                 ("visibility", "float", None), ("presence", "float", None))


class NormalizedLandmark(Message):
    _FIELDS = _POINT_FIELDS


class Landmark(Message):
    _FIELDS = _POINT_FIELDS


class _ArrayBackedList(Message):
    """A landmark list whose points may still be a float32 array (P, len(_columns))."""

    _POINT: ClassVar[type[Message]]

    @classmethod
    def _from_array(cls, points: np.ndarray, columns: tuple[str, ...]) -> _ArrayBackedList:
        obj = cls.__new__(cls)
        obj.__dict__["_array"] = (points, columns)
        return obj

    def __getattr__(self, name: str) -> Any:
        if name == "landmark" and "_array" in self.__dict__:
            points, columns = self.__dict__.pop("_array")
            make = self._POINT.__new__
            point_type = self._POINT
            items = Repeated(point_type)
            for row in points.tolist():
                p = make(point_type)
                p.__dict__.update(zip(columns, row))
                items.append(p)
            self.__dict__["landmark"] = items
            return items
        return super().__getattr__(name)

    def ListFields(self) -> list[tuple[str, Any]]:  # noqa: N802 - protobuf's name
        self.landmark  # noqa: B018 - builds the points from the array
        return super().ListFields()

    def _text(self, indent: str) -> list[str]:
        self.landmark  # noqa: B018
        return super()._text(indent)

    def _points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(P,3) float64 x, y, z and (P,) visibility/presence, NaN where the field is not set."""
        if "_array" in self.__dict__:
            points, columns = self.__dict__["_array"]
            out = np.full((len(points), 5), np.nan)
            for i, name in enumerate(columns):
                out[:, ("x", "y", "z", "visibility", "presence").index(name)] = points[:, i]
            return out[:, :3], out[:, 3], out[:, 4]
        rows = [[lm.__dict__.get(k, np.nan) for k in ("x", "y", "z", "visibility", "presence")]
                for lm in self.landmark]
        out = np.asarray(rows, np.float64).reshape(-1, 5)
        out[:, :3] = np.nan_to_num(out[:, :3], nan=0.0)  # an unset coordinate reads as 0, as in protobuf
        return out[:, :3], out[:, 3], out[:, 4]


class NormalizedLandmarkList(_ArrayBackedList):
    _FIELDS = (("landmark", "rmsg", NormalizedLandmark),)
    _POINT = NormalizedLandmark


class LandmarkList(_ArrayBackedList):
    _FIELDS = (("landmark", "rmsg", Landmark),)
    _POINT = Landmark


class LandmarkListCollection(Message):
    _FIELDS = (("landmark_list", "rmsg", LandmarkList),)


class NormalizedLandmarkListCollection(Message):
    _FIELDS = (("landmark_list", "rmsg", NormalizedLandmarkList),)


# --- classification (mediapipe/framework/formats/classification.proto) ----------------------------------

class Classification(Message):
    _FIELDS = (("index", "int", None), ("score", "float", None), ("label", "str", None),
               ("display_name", "str", None))


class ClassificationList(Message):
    _FIELDS = (("classification", "rmsg", Classification),)


class ClassificationListCollection(Message):
    _FIELDS = (("classification_list", "rmsg", ClassificationList),)


# --- detection (mediapipe/framework/formats/detection.proto, location_data.proto) -----------------------

class RelativeBoundingBox(Message):
    _FIELDS = (("xmin", "float", None), ("ymin", "float", None), ("width", "float", None),
               ("height", "float", None))


class BoundingBox(Message):
    _FIELDS = (("xmin", "int", None), ("ymin", "int", None), ("width", "int", None), ("height", "int", None))


class RelativeKeypoint(Message):
    _FIELDS = (("x", "float", None), ("y", "float", None), ("keypoint_label", "str", None),
               ("score", "float", None))


_LOCATION_FORMATS = {0: "GLOBAL", 1: "BOUNDING_BOX", 2: "RELATIVE_BOUNDING_BOX", 3: "MASK"}


class LocationData(Message):
    GLOBAL, BOUNDING_BOX, RELATIVE_BOUNDING_BOX, MASK = 0, 1, 2, 3
    _FIELDS = (("format", "enum", _LOCATION_FORMATS), ("bounding_box", "msg", BoundingBox),
               ("relative_bounding_box", "msg", RelativeBoundingBox),
               ("relative_keypoints", "rmsg", RelativeKeypoint))


class Detection(Message):
    _FIELDS = (("label", "rstr", None), ("label_id", "rint", None), ("score", "rfloat", None),
               ("location_data", "msg", LocationData), ("feature_tag", "str", None), ("track_id", "str", None),
               ("detection_id", "int", None), ("display_name", "rstr", None))


class DetectionList(Message):
    _FIELDS = (("detection", "rmsg", Detection),)
