"""The channel between the trusted side and the answer server: plain data only, never pickle.

A message is one value tree turned into a JSON header plus raw array buffers::

    u32 header length | u32 buffer count | header (UTF-8 JSON) | (u64 length | bytes) per buffer

Values that JSON holds (None, bool, int, float, str) travel as themselves; everything else is a
tagged object ``{"$": tag, ...}``:

- ``tuple``, ``list``, ``dict`` (keys of any value type), ``complex``, ``slice`` (of ints);
  ``method``: a kit function bound to a kit object sent in the same message (a layer's
  ``forward`` that a test wrapped in a counter stays bound to the copy of the layer);
  ``kittuple``: a
  NamedTuple class of the course's packages with its items;
- ``array`` / ``scalar``: a numpy array or scalar as raw bytes with dtype and shape; only bool,
  integer, float and complex dtypes (never object, string or structured ones);
- ``ref``: a second occurrence of a list, dict, array or kit object in the same message, so
  that identity survives (``[a, a]`` arrives as one array twice, and a cycle stays a cycle);
- ``numpy`` / ``kitref`` / ``builtin``: a numpy function or type, a function or class of the
  course's packages (:data:`KIT`: ``backprop_kit`` and ``backprop_experiments``), a builtin type,
  by name (resolved by each side in its own interpreter);
- ``kit``: an instance of a class of those packages, as class path and attribute values;
- ``rng``: a ``numpy.random.Generator``, as its bit generator's state;
- ``handle``: anything else, left in the process that owns it; the :class:`Codec` of each
  side decides what it may send that way (see ``encode_other`` and ``decode_handle``).

Identity across messages (a codec made with ``track_identity=True``): a list, dict, array or kit
object carries ``"sid"``, the sender's number for it, and the receiver remembers which copy it
made of which number; when the receiver sends that copy back it carries ``"origin"`` instead, and
the first sender gets its *own* object back, updated in place with the copy's state (so a test
that checks ``params is the_params_it_gave`` after a round trip through the student's code
passes). Numbers live for one exchange: :meth:`Codec.forget` is called by each side when its
outermost request is answered.

Decoding builds nothing but these types; a class path outside :data:`KIT`, a refused dtype,
a message or array over the size caps, or a malformed header raises :class:`WireError`.
"""

from __future__ import annotations

import builtins
import importlib
import json
import struct
from collections.abc import Callable
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import BinaryIO

import numpy as np

#: Largest header (JSON) and largest total of array bytes in one message.
MAX_HEADER_BYTES = 64 << 20
MAX_BUFFER_BYTES = 2 << 30
#: numpy dtype kinds that may travel: bool, signed and unsigned integers, floats, complex.
ALLOWED_KINDS = frozenset("biufc")
#: The packages whose functions and classes travel by name, and whose objects travel as data.
KIT = ("backprop_kit", "backprop_experiments")
#: Builtin types that may travel by name (``dtype=float``, ``isinstance`` targets).
BUILTIN_TYPES = ("bool", "int", "float", "complex", "str", "list", "tuple", "dict", "slice")
#: Exceptions that cross the channel as themselves; any other is sent as its nearest base here.
EXCEPTIONS = ("ArithmeticError", "AssertionError", "AttributeError", "FloatingPointError",
              "IndexError", "KeyError", "LookupError", "MemoryError", "NameError",
              "NotImplementedError", "OverflowError", "RecursionError", "RuntimeError",
              "StopIteration", "TimeoutError", "TypeError", "UnboundLocalError", "ValueError",
              "ZeroDivisionError", "Exception")
#: Tags of the values that may carry a number (``"sid"`` / ``"origin"``, see Codec).
MUTABLE_TAGS = ("list", "dict", "array", "kit")
_HEAD = struct.Struct(">II")
_LENGTH = struct.Struct(">Q")


class WireError(ValueError):
    """A message that does not follow the format, or breaks its limits."""


def _is_kit_path(path: str) -> bool:
    return any(path == package or path.startswith(package + ".") for package in KIT)


def kit_object_path(obj: object) -> str | None:
    """``module:qualname`` of a kit function or class, else None."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if (isinstance(obj, (type, FunctionType)) and isinstance(module, str)
            and isinstance(qualname, str) and _is_kit_path(module) and "<" not in qualname):
        return f"{module}:{qualname}"
    return None


def resolve_kit_path(path: str) -> object:
    """The kit function or class at ``module:qualname``; WireError outside :data:`KIT`."""
    module_name, _, qualname = path.partition(":")
    if not _is_kit_path(module_name) or not qualname:
        raise WireError(f"expected a path module:qualname in {' or '.join(KIT)}, got {path!r}")
    obj: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = vars(obj).get(part) if isinstance(obj, (type, ModuleType)) else None
        obj = getattr(obj, "__func__", obj)  # static and class methods
    if kit_object_path(obj) is None:
        raise WireError(f"{path!r} is not a function or class of {' or '.join(KIT)}")
    return obj


def exception_name(error: BaseException) -> str:
    """The nearest of :data:`EXCEPTIONS` among the classes of ``error`` (``Exception`` at worst)."""
    for cls in type(error).__mro__:
        if cls.__name__ in EXCEPTIONS and getattr(builtins, cls.__name__, None) is cls:
            return cls.__name__
    return "Exception"


def make_exception(name: str, message: str) -> Exception:
    """A builtin exception of type ``name`` (one of :data:`EXCEPTIONS`) with ``message``."""
    if name not in EXCEPTIONS:
        raise WireError(f"exception type {name!r} may not cross the channel")
    return getattr(builtins, name)(message)


class Codec:
    """Turns values into messages and back, with each side's policy for handles.

    Parameters
    ----------
    encode_other : callable
        ``obj -> dict``: the tagged object for a value the format has no tag for (a ``handle``),
        or raise TypeError when it may not travel.
    decode_handle : callable
        ``dict -> object``: the local object for a ``handle`` tag; raise WireError for a bad one.
    max_buffer_bytes : int
        Cap on the array bytes of one message, sending and receiving.
    track_identity : bool
        Number the mutable values sent and received, so that an object that comes back is the
        sender's own (see the module docstring); off, every message is decoded into new objects.
    """

    def __init__(self, encode_other: Callable[[object], dict],
                 decode_handle: Callable[[dict], object], *,
                 max_buffer_bytes: int = MAX_BUFFER_BYTES, track_identity: bool = False) -> None:
        self.encode_other = encode_other
        self.decode_handle = decode_handle
        self.max_buffer_bytes = max_buffer_bytes
        self.track_identity = track_identity
        self.sent: dict[int, object] = {}           # own number -> object sent
        self.sent_state: dict[int, dict] = {}       # own number -> its items when first sent
        self.sent_numbers: dict[int, int] = {}      # id(object sent) -> own number
        self.received: dict[int, object] = {}       # peer's number -> the copy made here
        self.received_numbers: dict[int, int] = {}  # id(copy) -> peer's number

    def forget(self) -> None:
        """End an exchange: objects sent or received before are no longer matched."""
        for table in (self.sent, self.sent_state, self.sent_numbers, self.received,
                      self.received_numbers):
            table.clear()

    def _provenance(self, value: object) -> dict:
        """``{"origin": n}`` for a copy of the peer's object, else ``{"sid": n}``, numbering it."""
        if not self.track_identity:
            return {}
        if id(value) in self.received_numbers:
            return {"origin": self.received_numbers[id(value)]}
        if id(value) not in self.sent_numbers:
            self.sent_numbers[id(value)] = len(self.sent)
            self.sent_state[len(self.sent)] = _items(value)
            self.sent[len(self.sent)] = value
        return {"sid": self.sent_numbers[id(value)]}

    def _identify(self, tree: dict, fresh: object) -> object:
        """The object to use for ``fresh``, decoded from ``tree``: the original when ``tree``
        names one (updated in place with ``fresh``'s state), else ``fresh``, remembered."""
        if not self.track_identity:
            return fresh
        origin, number = tree.get("origin"), tree.get("sid")
        if type(origin) is int and origin in self.sent:
            return write_back(self.sent[origin], fresh, rebind_items=True,
                              unchanged_since=self.sent_state.get(origin))
        if type(number) is not int:
            return fresh
        kept = (write_back(self.received[number], fresh, rebind_items=True)
                if number in self.received else fresh)
        self.received[number] = kept
        self.received_numbers[id(kept)] = number
        return kept

    # ----------------------------------------------------------------------------- encoding
    def dumps(self, value: object) -> bytes:
        """One message holding ``value``."""
        buffers: list[bytes] = []
        tree = _Encoder(self, buffers).encode(value)
        header = json.dumps(tree, separators=(",", ":")).encode()
        if len(header) > MAX_HEADER_BYTES:
            raise WireError(f"message header of {len(header)} bytes is over the cap of "
                            f"{MAX_HEADER_BYTES}")
        parts = [_HEAD.pack(len(header), len(buffers)), header]
        for buffer in buffers:
            parts += [_LENGTH.pack(len(buffer)), buffer]
        return b"".join(parts)

    # ----------------------------------------------------------------------------- decoding
    def loads(self, data: bytes) -> object:
        """The value of one message made by :meth:`dumps`."""
        return self.read(_BytesReader(data))

    def read(self, stream: BinaryIO) -> object:
        """Read one message from a binary stream; EOFError at a clean end of stream."""
        head = stream.read(_HEAD.size)
        if not head:
            raise EOFError("the channel was closed")
        header_size, count = _HEAD.unpack(_exactly(head, _HEAD.size))
        if header_size > MAX_HEADER_BYTES:
            raise WireError(f"message header of {header_size} bytes is over the cap of "
                            f"{MAX_HEADER_BYTES}")
        header = _exactly(stream.read(header_size), header_size)
        buffers, total = [], 0
        for _ in range(count):
            (size,) = _LENGTH.unpack(_exactly(stream.read(_LENGTH.size), _LENGTH.size))
            total += size
            if total > self.max_buffer_bytes:
                raise WireError(f"message arrays of more than {self.max_buffer_bytes} bytes")
            buffers.append(_exactly(stream.read(size), size))
        try:
            tree = json.loads(header)
        except ValueError as error:
            raise WireError(f"message header is not JSON: {error}") from None
        return _Decoder(self, buffers).decode(tree)


def _exactly(data: bytes, size: int) -> bytes:
    if len(data) != size:
        raise WireError(f"message cut short: expected {size} bytes, got {len(data)}")
    return data


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.position = data, 0

    def read(self, size: int) -> bytes:
        chunk = self.data[self.position:self.position + size]
        self.position += len(chunk)
        return chunk


def _check_dtype(dtype: np.dtype) -> None:
    if dtype.kind not in ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype:
        raise WireError(f"arrays of dtype {dtype} may not cross the channel: only bool, "
                        f"integer, float and complex arrays")


class _Encoder:
    def __init__(self, codec: Codec, buffers: list[bytes]) -> None:
        self.codec = codec
        self.buffers = buffers
        self.memo: dict[int, int] = {}
        self.keep: list[object] = []  # keeps ids valid while encoding
        self.size = 0

    def _buffer(self, array: np.ndarray) -> int:
        data = np.ascontiguousarray(array).tobytes()
        self.size += len(data)
        if self.size > self.codec.max_buffer_bytes:
            raise WireError(f"message arrays of more than {self.codec.max_buffer_bytes} bytes")
        self.buffers.append(data)
        return len(self.buffers) - 1

    def _memo(self, obj: object) -> int | None:
        """The memo number of an object seen before in this message, else register it."""
        if id(obj) in self.memo:
            return self.memo[id(obj)]
        self.memo[id(obj)] = len(self.memo)
        self.keep.append(obj)
        return None

    def encode(self, value: object) -> object:
        if value is None or type(value) in (bool, int, str):
            return value
        if type(value) is float:
            return value if value == value and abs(value) != float("inf") else {
                "$": "float", "repr": repr(value)}
        if type(value) is complex:
            return {"$": "complex", "re": self.encode(value.real), "im": self.encode(value.imag)}
        if type(value) is tuple:
            return {"$": "tuple", "items": [self.encode(v) for v in value]}
        if type(value) is slice:
            return {"$": "slice", "items": [self.encode(value.start), self.encode(value.stop),
                                            self.encode(value.step)]}
        if (isinstance(value, MethodType) and kit_object_path(value.__func__)
                and kit_object_path(type(value.__self__)) and hasattr(value.__self__, "__dict__")):
            return {"$": "method", "self": self.encode(value.__self__),
                    "func": {"$": "kitref", "path": kit_object_path(value.__func__)}}
        if isinstance(value, tuple) and kit_object_path(type(value)):  # a kit NamedTuple
            return {"$": "kittuple", "path": kit_object_path(type(value)),
                    "items": [self.encode(v) for v in value]}
        if isinstance(value, np.generic) and not isinstance(value, np.ndarray):
            return self._array(np.asarray(value), "scalar")
        if type(value) in (list, dict) or isinstance(value, np.ndarray) or (
                kit_object_path(type(value)) and hasattr(value, "__dict__")
                and not isinstance(value, type)):
            seen = self._memo(value)
            if seen is not None:
                return {"$": "ref", "id": seen}
            return {**self._mutable(value), **self.codec._provenance(value)}
        return self._reference(value)

    def _mutable(self, value: object) -> dict:
        """The tagged object for a list, dict, array or kit object."""
        if type(value) is list:
            return {"$": "list", "items": [self.encode(v) for v in value]}
        if type(value) is dict:
            return {"$": "dict", "items": [[self.encode(k), self.encode(v)]
                                           for k, v in value.items()]}
        if isinstance(value, np.ndarray):  # a subclass (the MAC-counting view): a plain array
            return self._array(value.view(np.ndarray), "array")
        return {"$": "kit", "path": kit_object_path(type(value)),
                "state": {str(k): self.encode(v) for k, v in vars(value).items()}}

    def _array(self, array: np.ndarray, tag: str) -> dict:
        _check_dtype(array.dtype)
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        return {"$": tag, "dtype": dtype.str, "shape": list(array.shape),
                "buffer": self._buffer(array.astype(dtype, copy=False))}

    def _reference(self, value: object) -> object:
        if isinstance(value, np.random.Generator):
            return {"$": "rng", "state": self.encode(value.bit_generator.state)}
        if isinstance(value, type) and getattr(builtins, value.__name__, None) is value \
                and value.__name__ in BUILTIN_TYPES:
            return {"$": "builtin", "name": value.__name__}
        if isinstance(value, np.dtype):
            _check_dtype(value)
            return {"$": "dtype", "str": value.str}
        name = getattr(value, "__name__", None)
        if (isinstance(value, (np.ufunc, BuiltinFunctionType, FunctionType, type))
                and isinstance(name, str) and getattr(np, name, None) is value):
            return {"$": "numpy", "name": name}
        path = kit_object_path(value)
        if path is not None:
            return {"$": "kitref", "path": path}
        handle = self.codec.encode_other(value)
        if not (isinstance(handle, dict) and handle.get("$") == "handle"):
            raise TypeError(f"encode_other must return a handle tag, got {handle!r}")
        return handle


class _Decoder:
    def __init__(self, codec: Codec, buffers: list[bytes]) -> None:
        self.codec = codec
        self.buffers = buffers
        self.memo: list[object] = []

    def decode(self, tree: object) -> object:
        if tree is None or type(tree) in (bool, int, float, str):
            return tree
        if type(tree) is not dict or not isinstance(tree.get("$"), str):
            raise WireError(f"malformed value in message: {str(tree)[:80]}")
        method = getattr(self, "_" + tree["$"], None)
        if method is None:
            raise WireError(f"unknown tag {tree['$']!r} in message")
        try:
            if tree["$"] not in MUTABLE_TAGS:
                return method(tree)
            index = len(self.memo)
            value = self.codec._identify(tree, method(tree))
            self.memo[index] = value
            return value
        except (KeyError, TypeError, IndexError) as error:
            raise WireError(f"malformed {tree['$']!r} in message: {error!r}") from None

    def _float(self, tree: dict) -> float:
        if tree["repr"] not in ("nan", "inf", "-inf"):
            raise WireError(f"bad float {tree['repr']!r}")
        return float(tree["repr"])

    def _complex(self, tree: dict) -> complex:
        return complex(float(self.decode(tree["re"])), float(self.decode(tree["im"])))

    def _tuple(self, tree: dict) -> tuple:
        return tuple(self.decode(v) for v in tree["items"])

    def _list(self, tree: dict) -> list:
        result: list = []
        self.memo.append(result)
        result.extend(self.decode(v) for v in tree["items"])
        return result

    def _dict(self, tree: dict) -> dict:
        result: dict = {}
        self.memo.append(result)
        for key, value in tree["items"]:
            result[self.decode(key)] = self.decode(value)
        return result

    def _ref(self, tree: dict) -> object:
        index = tree["id"]
        if type(index) is not int or not 0 <= index < len(self.memo):
            raise WireError(f"reference to unknown object {index!r}")
        return self.memo[index]

    def _array(self, tree: dict) -> np.ndarray:
        dtype = np.dtype(tree["dtype"])
        _check_dtype(dtype)
        shape = tuple(tree["shape"])
        if not all(type(n) is int and n >= 0 for n in shape):
            raise WireError(f"bad array shape {shape!r}")
        data = self.buffers[tree["buffer"]]
        if len(data) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise WireError(f"array of shape {shape} and dtype {dtype} does not match its "
                            f"{len(data)} bytes")
        array = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
        self.memo.append(array)
        return array

    def _scalar(self, tree: dict) -> np.generic:
        return self._array(tree)[()]

    def _kit(self, tree: dict) -> object:
        cls = resolve_kit_path(tree["path"])
        if not isinstance(cls, type):
            raise WireError(f"{tree['path']!r} is not a class")
        obj = object.__new__(cls) if cls.__new__ is object.__new__ else cls.__new__(cls)
        self.memo.append(obj)
        vars(obj).update({str(k): self.decode(v) for k, v in tree["state"].items()})
        return obj

    def _method(self, tree: dict) -> MethodType:
        function, owner = self.decode(tree["func"]), self.decode(tree["self"])
        if not (isinstance(function, FunctionType) and kit_object_path(type(owner))):
            raise WireError("a method needs a kit function and a kit object")
        return MethodType(function, owner)

    def _slice(self, tree: dict) -> slice:
        items = self._tuple(tree)
        if len(items) != 3 or not all(i is None or type(i) is int for i in items):
            raise WireError(f"a slice needs three ints or None, got {items!r}")
        return slice(*items)

    def _kittuple(self, tree: dict) -> tuple:
        cls = resolve_kit_path(tree["path"])
        if not (isinstance(cls, type) and issubclass(cls, tuple)):
            raise WireError(f"{tree['path']!r} is not a tuple class")
        return tuple.__new__(cls, self._tuple(tree))  # the class's own __new__ does not run

    def _rng(self, tree: dict) -> np.random.Generator:
        state = self.decode(tree["state"])
        name = state.get("bit_generator") if isinstance(state, dict) else None
        if name not in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"):
            raise WireError(f"unknown bit generator {name!r}")
        generator = np.random.Generator(getattr(np.random, name)())
        generator.bit_generator.state = state
        return generator

    def _builtin(self, tree: dict) -> type:
        if tree["name"] not in BUILTIN_TYPES:
            raise WireError(f"builtin {tree['name']!r} may not cross the channel")
        return getattr(builtins, tree["name"])

    def _dtype(self, tree: dict) -> np.dtype:
        dtype = np.dtype(tree["str"])
        _check_dtype(dtype)
        return dtype

    def _numpy(self, tree: dict) -> object:
        name = tree["name"]
        value = getattr(np, name, None) if isinstance(name, str) and name.isidentifier() else None
        if value is None or isinstance(value, ModuleType) or name.startswith("_"):
            raise WireError(f"numpy has no function or type {name!r}")
        return value

    def _kitref(self, tree: dict) -> object:
        return resolve_kit_path(tree["path"])

    def _handle(self, tree: dict) -> object:
        return self.codec.decode_handle(tree)


def _items(value: object) -> dict | None:
    """The items of a dict or the attributes of a kit object, as they are now (a shallow copy)."""
    if type(value) is dict:
        return dict(value)
    if type(value) is not list and not isinstance(value, np.ndarray) and hasattr(value, "__dict__"):
        return dict(vars(value))
    return None


def _same(before: object, after: object) -> bool:
    """True when an item the peer sent back is the one it was sent (unchanged there)."""
    return before is after or (type(before) is type(after) and type(before) in (
        type(None), bool, int, float, str) and before == after)


def write_back(target: object, fresh: object, rebind_items: bool = False,
               unchanged_since: dict | None = None) -> object:
    """Make ``target`` equal to ``fresh`` in place where it can be, and return what to keep.

    Used for the arguments of a call that went through the channel: the callee worked on a copy,
    so its in-place changes (an optimiser step updating ``params``, a layer's cached state) are
    copied into the caller's objects. Arrays of the same shape and dtype are overwritten,
    lists and dicts updated item by item, kit objects attribute by attribute, generators get the
    new state; anything else is replaced (the returned object is ``fresh``).

    With ``rebind_items`` (a codec that tracks identity, whose decoded items are already the
    caller's own objects where the callee kept them), the items and attributes of ``target``
    are set to ``fresh``'s: an attribute the callee rebound to a new array is rebound here too,
    and an array the caller still holds under another name is left as it was.

    ``unchanged_since`` (the items of ``target`` when it was sent) keeps the caller's own
    changes made meanwhile (by a call back into the caller, such as a layer's ``forward`` that a
    monitor wrapped): an item the callee left as it was sent is not written back, and an item
    the caller added is not deleted.
    """
    if unchanged_since is not None and type(target) is type(fresh) and (
            type(target) is dict or kit_object_path(type(target))):
        items = target if type(target) is dict else vars(target)
        for key in [k for k in unchanged_since if k not in _items(fresh) and k in items]:
            del items[key]  # the callee deleted it
        for key, value in _items(fresh).items():
            if key in unchanged_since and _same(unchanged_since[key], value):
                continue
            items[key] = _item_back(items[key], value, set(), rebind_items) \
                if key in items else value
        return target
    return _write_back(target, fresh, set(), rebind_items)


def _item_back(old: object, new: object, done: set[int], rebind: bool) -> object:
    """What an item of a container becomes: ``new``, or ``old`` updated in place. A generator
    never travels by identity, so its state is always copied into the caller's own."""
    if rebind and not (isinstance(old, np.random.Generator)
                       and isinstance(new, np.random.Generator)):
        return new
    return _write_back(old, new, done)


def _write_back(target: object, fresh: object, done: set[int], rebind: bool = False) -> object:
    def item(old: object, new: object) -> object:
        return _item_back(old, new, done, rebind)

    if type(target) is not type(fresh) or id(target) in done:
        return fresh if type(target) is not type(fresh) else target
    done.add(id(target))
    if isinstance(target, np.ndarray):
        if target.shape != fresh.shape or target.dtype != fresh.dtype:
            return fresh
        if target.flags.writeable and not np.array_equal(target, fresh, equal_nan=True):
            target[...] = fresh
    elif isinstance(target, list):
        if len(target) != len(fresh):
            target[:] = fresh
        else:
            for i, value in enumerate(fresh):
                target[i] = item(target[i], value)
    elif isinstance(target, dict):
        for key in [k for k in target if k not in fresh]:
            del target[key]
        for key, value in fresh.items():
            target[key] = item(target[key], value) if key in target else value
    elif isinstance(target, tuple):
        if len(target) != len(fresh):
            return fresh
        kept = [item(a, b) for a, b in zip(target, fresh, strict=True)]
        if any(a is not b for a, b in zip(kept, target, strict=True)):
            return fresh
    elif isinstance(target, np.random.Generator):
        target.bit_generator.state = fresh.bit_generator.state
    elif kit_object_path(type(target)) and hasattr(target, "__dict__"):
        state = vars(target)
        for key in [k for k in state if k not in vars(fresh)]:
            del state[key]
        for key, value in vars(fresh).items():
            state[key] = item(state[key], value) if key in state else value
    else:
        return fresh
    return target
