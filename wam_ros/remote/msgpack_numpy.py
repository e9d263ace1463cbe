"""numpy arrays over msgpack, byte-compatible with openpi's ``openpi_client.msgpack_numpy``.

Why not ``openpi-client`` itself: version 0.1.2 pins ``numpy<2`` and needs ``dm-tree``,
while the ROS wheels here bring numpy 2.4, so it cannot be installed beside the stack.
The wire format is small and documented, so it is implemented here and pinned by
byte-vector tests (test/test_msgpack_numpy.py).

Wire format (msgpack with ``use_bin_type=True``, i.e. msgpack-python's defaults):

* ``np.ndarray`` -> map ``{b"__ndarray__": True, b"data": <C-order raw bytes>,
  b"dtype": <dtype.str, e.g. "<f4">, b"shape": [d0, d1, ...]}`` (keys are msgpack
  *bin*, in exactly this order);
* ``np.generic`` (numpy scalar) -> map ``{b"__npgeneric__": True, b"data": <item()>,
  b"dtype": <dtype.str>}``;
* object, void (structured) and complex dtypes are refused;
* ``np.float64`` and ``np.str_`` scalars subclass Python's float / str, so msgpack packs
  them as plain values before the hook sees them (as in openpi).

Decoding accepts the same maps with ``str`` keys too (as newer openpi servers do), and
validates every array header (allowed dtype kinds, shape, exact buffer length), so a
malformed or hostile message raises :class:`ProtocolError` instead of producing garbage.
There is no pickle path anywhere: object arrays cannot be encoded or decoded.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np

# dtype kinds allowed on the wire: bool, signed/unsigned int, float, bytes, unicode,
# timedelta, datetime. Object ("O"), void/structured ("V") and complex ("c") never.
_ARRAY_KINDS = frozenset("biufSUmM")
_SCALAR_KINDS = frozenset("biufSU")
_REFUSED_KINDS = frozenset("VOc")


class ProtocolError(ValueError):
    """A message is not valid msgpack-numpy (bad header, dtype, size, or not msgpack at all)."""


def pack_array(obj: Any) -> Any:
    """msgpack ``default`` hook: numpy arrays / scalars -> openpi's ndarray maps."""
    if isinstance(obj, np.ndarray | np.generic) and obj.dtype.kind in _REFUSED_KINDS:
        raise ValueError(f"Unsupported dtype: {obj.dtype}")
    if isinstance(obj, np.ndarray):
        return {
            b"__ndarray__": True,
            b"data": obj.tobytes(),
            b"dtype": obj.dtype.str,
            b"shape": obj.shape,
        }
    if isinstance(obj, np.generic):
        return {
            b"__npgeneric__": True,
            b"data": obj.item(),
            b"dtype": obj.dtype.str,
        }
    # Anything else msgpack cannot pack: refuse with a TypeError as msgpack itself does
    # (returning obj unchanged would make msgpack recurse into the hook forever).
    raise TypeError(f"cannot serialize {type(obj).__name__} object")


def _field(obj: dict, name: str) -> Any:
    key_b = name.encode()
    if key_b in obj:
        return obj[key_b]
    if name in obj:
        return obj[name]
    raise ProtocolError(f"numpy map lacks the '{name}' field")


def _dtype(obj: dict, allowed: frozenset[str]) -> np.dtype:
    spec = _field(obj, "dtype")
    if isinstance(spec, bytes):
        spec = spec.decode("ascii", errors="replace")
    if not isinstance(spec, str) or len(spec) > 32:
        raise ProtocolError(f"numpy dtype must be a short string, got {spec!r:.60}")
    try:
        dtype = np.dtype(spec)
    except (TypeError, ValueError) as e:
        raise ProtocolError(f"unknown numpy dtype {spec!r}") from e
    if dtype.kind not in allowed or dtype.fields is not None or dtype.subdtype is not None:
        raise ProtocolError(f"numpy dtype {spec!r} is not allowed on the wire")
    return dtype


def unpack_array(obj: dict) -> Any:
    """msgpack ``object_hook``: openpi's ndarray maps -> numpy (read-only, zero-copy views)."""
    if b"__ndarray__" in obj or "__ndarray__" in obj:
        dtype = _dtype(obj, _ARRAY_KINDS)
        shape = _field(obj, "shape")
        if not isinstance(shape, list | tuple) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise ProtocolError(f"numpy shape must be a list of non-negative ints, got {shape!r:.60}")
        data = _field(obj, "data")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ProtocolError(f"numpy data must be bytes, got {type(data).__name__}")
        expected = math.prod(shape) * dtype.itemsize
        if len(data) != expected:
            raise ProtocolError(
                f"numpy data has {len(data)} bytes, but shape {tuple(shape)} of {dtype.str} needs {expected}"
            )
        return np.ndarray(buffer=data, dtype=dtype, shape=tuple(shape))
    if b"__npgeneric__" in obj or "__npgeneric__" in obj:
        dtype = _dtype(obj, _SCALAR_KINDS)
        data = _field(obj, "data")
        if not isinstance(data, bool | int | float | str | bytes):
            raise ProtocolError(f"numpy scalar data must be a plain value, got {type(data).__name__}")
        try:
            return dtype.type(data)
        except (TypeError, ValueError, OverflowError) as e:
            raise ProtocolError(f"numpy scalar {data!r:.40} does not fit dtype {dtype.str}") from e
    return obj


def Packer() -> msgpack.Packer:
    """A reusable packer, named as in openpi (not thread-safe: one per thread/connection)."""
    return msgpack.Packer(default=pack_array)


def packb(obj: Any) -> bytes:
    """Encode ``obj`` (dicts/lists/str/numbers/bytes/numpy) to msgpack-numpy bytes."""
    return msgpack.packb(obj, default=pack_array)


def unpackb(data: bytes | bytearray | memoryview) -> Any:
    """Decode msgpack-numpy bytes; raise ProtocolError naming what was wrong."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProtocolError(f"expected a binary message, got {type(data).__name__}")
    try:
        return msgpack.unpackb(data, object_hook=unpack_array)
    except ProtocolError:
        raise
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise ProtocolError(f"not a msgpack message: {e}") from e
    except (ValueError, TypeError) as e:  # truncated data, non-str map keys, ...
        raise ProtocolError(f"not a valid msgpack message: {e}") from e
