"""wam_ros.remote.msgpack_numpy: round trips, byte compatibility with openpi's format, no pickle path.

openpi-client itself cannot be installed here (it pins numpy<2), so compatibility is
shown two ways: hand-assembled msgpack byte vectors of openpi's documented format, and
an independent reference encoder/decoder written below from that format description.
"""

from __future__ import annotations

import pickle
import struct

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from wam_ros.remote import msgpack_numpy as mn


# ------------------------------------------------- reference (openpi's documented format)
def _ref_default(obj):
    """openpi: ndarray -> {b"__ndarray__", b"data", b"dtype", b"shape"}; scalar -> {b"__npgeneric__", ...}."""
    if isinstance(obj, np.ndarray):
        return {b"__ndarray__": True, b"data": obj.tobytes(), b"dtype": obj.dtype.str, b"shape": obj.shape}
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    raise TypeError(type(obj))


def _ref_hook(obj):
    if b"__ndarray__" in obj:
        return np.ndarray(buffer=obj[b"data"], dtype=np.dtype(obj[b"dtype"]), shape=obj[b"shape"])
    if b"__npgeneric__" in obj:
        return np.dtype(obj[b"dtype"]).type(obj[b"data"])
    return obj


def ref_packb(obj) -> bytes:
    return msgpack.Packer(default=_ref_default).pack(obj)


def ref_unpackb(data: bytes):
    return msgpack.unpackb(data, object_hook=_ref_hook)


def _bin(s: bytes) -> bytes:
    return bytes([0xC4, len(s)]) + s


def _fixstr(s: str) -> bytes:
    return bytes([0xA0 | len(s)]) + s.encode()


# ------------------------------------------------------------------------ data
ARRAYS = [
    np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3),  # images / predicted frames
    np.linspace(-1, 1, 16 * 7, dtype=np.float32).reshape(16, 7),  # actions
    np.linspace(-1, 1, 7, dtype=np.float64),  # joint state
    np.array([1.5, -2.0], dtype=np.float16),
    np.array([1, -2, 3], dtype=np.int8),
    np.array([1, -2, 3], dtype=np.int16),
    np.array([1, -2, 3], dtype=np.int32),
    np.array([1, -2, 2**40], dtype=np.int64),
    np.array([1, 2, 3], dtype=np.uint16),
    np.array([1, 2**63], dtype=np.uint64),
    np.array([True, False]),
    np.array(["asdf", "qwer"]),  # unicode
    np.array([b"ab", b"c"]),  # bytes
    np.array(1.0),  # 0-d
    np.zeros((0, 7), dtype=np.float32),  # empty
    np.array([np.nan, np.inf, -np.inf]),
    np.arange(12.0).reshape(3, 4)[:, ::2],  # non-contiguous view
    np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
    np.array([1.0, 2.0], dtype=">f4"),  # big-endian
    np.array([1, 2], dtype="datetime64[s]"),
]
SCALARS = [np.float32(1.5), np.float16(0.5), np.int64(-3), np.uint8(7), np.bool_(True), np.str_("asdf")]


def _same(a, b) -> None:
    if isinstance(a, str | float) and not isinstance(a, np.ndarray):
        # np.str_ / np.float64 subclass str / float, so msgpack packs them as plain values (as in openpi)
        assert b == a and isinstance(b, str | float)
        return
    assert type(a) is type(b) or isinstance(a, np.ndarray)
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b and np.asarray(a).dtype == np.asarray(b).dtype


@pytest.mark.parametrize("value", ARRAYS + SCALARS, ids=lambda v: f"{type(v).__name__}-{v.dtype.str}")
def test_round_trip_preserves_dtype_shape_and_values(value):
    out = mn.unpackb(mn.packb(value))
    _same(value, out)


def test_round_trip_nested_observation_and_action_maps():
    obs = {
        "observation/image": np.full((224, 224, 3), 7, np.uint8),
        "observation/wrist_image": np.full((224, 224, 3), 9, np.uint8),
        "observation/state": np.arange(7, dtype=np.float32),
        "prompt": "reach the red cube",
        "images": {"cam_high": np.zeros((2, 2, 3), np.uint8)},
        "list": [np.array([1, 2]), 3, "x", None, 1.5],
    }
    out = mn.unpackb(mn.packb(obs))
    assert out.keys() == obs.keys()
    for k in ("observation/image", "observation/wrist_image", "observation/state"):
        _same(obs[k], out[k])
    _same(obs["images"]["cam_high"], out["images"]["cam_high"])
    assert out["prompt"] == obs["prompt"] and out["list"][1:] == [3, "x", None, 1.5]


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(
    dtype=st.one_of(hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(), hnp.floating_dtypes(), hnp.boolean_dtypes()),
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
))
def test_round_trip_any_numeric_array(a):
    out = mn.unpackb(mn.packb({"a": a}))["a"]
    assert out.dtype == a.dtype and out.shape == a.shape
    np.testing.assert_array_equal(out, a)


# --------------------------------------------------------- byte compatibility
def test_known_byte_vector_int16_array():
    expected = (
        b"\x84"
        + _bin(b"__ndarray__") + b"\xc3"
        + _bin(b"data") + _bin(struct.pack("<3h", 1, 2, 3))
        + _bin(b"dtype") + _fixstr("<i2")
        + _bin(b"shape") + b"\x91\x03"
    )
    assert mn.packb(np.array([1, 2, 3], dtype="<i2")) == expected
    _same(np.array([1, 2, 3], dtype="<i2"), mn.unpackb(expected))


def test_known_byte_vector_action_map_and_scalar():
    image = np.zeros((2, 2, 3), np.uint8)
    expected = (
        b"\x82"
        + _fixstr("img")
        + b"\x84" + _bin(b"__ndarray__") + b"\xc3" + _bin(b"data") + _bin(bytes(12))
        + _bin(b"dtype") + _fixstr("|u1") + _bin(b"shape") + b"\x93\x02\x02\x03"
        + _fixstr("t")
        + b"\x83" + _bin(b"__npgeneric__") + b"\xc3" + _bin(b"data") + b"\xcb" + struct.pack(">d", 1.5)
        + _bin(b"dtype") + _fixstr("<f4")
    )
    assert mn.packb({"img": image, "t": np.float32(1.5)}) == expected
    out = mn.unpackb(expected)
    _same(image, out["img"])
    _same(np.float32(1.5), out["t"])


@pytest.mark.parametrize("value", ARRAYS + SCALARS, ids=lambda v: f"{type(v).__name__}-{v.dtype.str}")
def test_bytes_identical_to_reference_encoder_and_cross_decodable(value):
    payload = {"actions": value, "server_timing": {"infer_ms": 12.5}, "nested": [value]}
    ours = mn.packb(payload)
    assert ours == ref_packb(payload)
    assert mn.Packer().pack(payload) == ours
    _same(value, ref_unpackb(ours)["actions"])
    _same(value, mn.unpackb(ref_packb(payload))["nested"][0])


def test_decodes_str_keyed_ndarray_maps():
    # Some openpi forks / non-Python peers use str keys; accept them as well.
    msg = msgpack.packb({"__ndarray__": True, "data": struct.pack("<2f", 1, 2), "dtype": "<f4", "shape": [2]})
    _same(np.array([1, 2], np.float32), mn.unpackb(msg))


# ---------------------------------------------------------- refusals, no pickle
@pytest.mark.parametrize("bad", [np.array([object()]), np.zeros(2, dtype="f4,i4"), np.array([1 + 2j]), np.complex64(1)])
def test_encoding_refuses_object_structured_and_complex(bad):
    with pytest.raises(ValueError, match="Unsupported dtype"):
        mn.packb({"x": bad})


def _header(dtype="<f4", shape=(2,), data=b"\0" * 8):
    return msgpack.packb({b"__ndarray__": True, b"data": data, b"dtype": dtype, b"shape": list(shape)})


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (_header(dtype="|O"), "not allowed"),
        (_header(dtype="|O8", data=b"\0" * 16), "not allowed"),
        (_header(dtype="<c8", data=b"\0" * 16), "not allowed"),
        (_header(dtype="V8", data=b"\0" * 16), "not allowed"),
        (_header(dtype="<f4,<i4", data=b"\0" * 16), "not allowed"),
        (_header(dtype="nonsense"), "unknown numpy dtype"),
        (_header(dtype=7), "dtype must be"),
        (_header(data=b"\0" * 7), "needs 8"),
        (_header(data=b"\0" * 9), "needs 8"),
        (_header(shape=(-1,)), "non-negative"),
        (_header(shape=(2.0,)), "non-negative"),
        (msgpack.packb({b"__ndarray__": True, b"dtype": "<f4", b"shape": [2]}), "lacks the 'data'"),
        (_header(data="text"), "must be bytes"),
        (msgpack.packb({b"__npgeneric__": True, b"data": [1], b"dtype": "<f4"}), "plain value"),
        (msgpack.packb({b"__npgeneric__": True, b"data": 1, b"dtype": "|O"}), "not allowed"),
        (msgpack.packb({b"__npgeneric__": True, b"data": 300, b"dtype": "|u1"}), "does not fit"),
        (b"\xc1", "msgpack"),
        (mn.packb({"a": np.zeros(4)})[:-3], "msgpack"),
        (mn.packb(1) + b"\x01", "msgpack"),
    ],
)
def test_decoding_refuses_malformed_or_dangerous_messages(message, reason):
    with pytest.raises(mn.ProtocolError, match=reason):
        mn.unpackb(message)


def test_no_pickle_path(monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("pickle used")

    for name in ("loads", "load", "dumps", "dump"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(pickle, "Pickler", forbidden)
    for value in ARRAYS + SCALARS:
        _same(value, mn.unpackb(mn.packb(value)))
    # An object-dtype array (the thing that needs pickle) is refused, not unpickled.
    with pytest.raises(mn.ProtocolError):
        mn.unpackb(_header(dtype="|O", data=pickle.__name__.encode()))


def test_decoded_arrays_are_read_only_views():
    out = mn.unpackb(mn.packb(np.arange(4.0)))
    assert not out.flags.writeable  # zero-copy view of the message; callers copy before mutating
