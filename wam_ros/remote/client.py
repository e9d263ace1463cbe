"""A Policy served by another process or machine over openpi's websocket + msgpack-numpy protocol.

Protocol (as openpi's ``WebsocketClientPolicy`` / ``WebsocketPolicyServer``): on connect
the server sends one binary message, a metadata map. Then, per request, the client sends
the packed observation map and the server replies with the packed action map, which
carries ``"actions"`` (H x J) and, from openpi servers and ``wam-serve``,
``"server_timing": {"infer_ms": ...}``. A text (str) message is an error report from
the server. Nothing is ever pickled (see wam_ros.remote.msgpack_numpy).

The client never hands out a stale or made-up chunk: every failure (server down,
timeout, closed connection, malformed / non-finite / wrong-shape response) raises
:class:`~wam_ros.policies.base.PolicyError` naming the problem; the next ``infer`` reconnects,
with exponential back-off between failed connection attempts so a dead server costs
one fast error per call instead of a blocking wait. After a response timeout the
connection is dropped, so a late reply can never be mistaken for the next one.

``ObservationLayout`` maps an :class:`~wam_ros.policies.base.Observation` onto openpi-style
keys; ``wam-serve`` (wam_ros.remote.server) uses the same class to map them back.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wam_ros.camera.config import DEFAULT_CAMERAS
from wam_ros.policies.base import Observation, Policy, PolicyError, PolicySpec, Prediction
from wam_ros.remote import msgpack_numpy

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
SERVER_NAME = "wam-serve"
DEFAULT_PORT = 8000  # openpi's default
DEFAULT_URL = f"ws://127.0.0.1:{DEFAULT_PORT}"  # a server on this machine (wam-serve's default bind)
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Non-openpi request fields, only sent to servers that announce support in their metadata.
CTRL_KEY = "__ctrl__"  # {"__ctrl__": "reset"} -> {"__ack__": "reset"}
DECODE_FRAMES_KEY = "wam/decode_frames"


def default_image_key(camera: str, index: int) -> str:
    """LIBERO-style key: the first camera is "observation/image", others "observation/<cam>_image"."""
    return "observation/image" if index == 0 else f"observation/{camera}_image"


@dataclass(frozen=True)
class ObservationLayout:
    """Where each part of an Observation goes in the request map (and where actions come back).

    A key containing "." addresses a nested map ("images.cam_high" -> {"images": {"cam_high": ...}}),
    as ALOHA-style openpi servers expect; openpi's flat keys ("observation/state") have no dots.
    """

    image_keys: Mapping[str, str]  # camera -> key
    state_key: str = "observation/state"
    prompt_key: str = "prompt"
    timestamp_key: str = ""  # "" = not sent (openpi servers do not expect it)
    actions_key: str = "actions"

    @classmethod
    def create(cls, cameras: Sequence[str], key_map: Mapping[str, str] | None = None) -> ObservationLayout:
        """Default layout for ``cameras``, overridden by ``key_map``.

        ``key_map`` entries: "image.<camera>", "state", "prompt", "timestamp", "actions".
        """
        key_map = dict(key_map or {})
        image_keys = {cam: default_image_key(cam, i) for i, cam in enumerate(cameras)}
        fields: dict[str, str] = {}
        for name, key in key_map.items():
            if not isinstance(key, str):
                raise PolicyError(f"key_map['{name}'] must be a string, got {type(key).__name__}")
            if name.startswith("image."):
                cam = name.removeprefix("image.")
                if cam not in image_keys:
                    raise PolicyError(f"key_map names camera '{cam}', which is not one of {list(cameras)}")
                image_keys[cam] = key
            elif name in ("state", "prompt", "timestamp", "actions"):
                fields[f"{name}_key"] = key
            else:
                raise PolicyError(
                    f"unknown key_map entry '{name}'; use image.<camera>, state, prompt, timestamp or actions"
                )
        layout = cls(image_keys=image_keys, **fields)
        used = [k for k in (*image_keys.values(), layout.state_key, layout.prompt_key, layout.timestamp_key) if k]
        dupes = sorted({k for k in used if used.count(k) > 1})
        if dupes or not layout.state_key or not layout.actions_key or any(not k for k in image_keys.values()):
            raise PolicyError(f"observation layout has empty or duplicate keys {dupes}: {layout.to_dict()}")
        return layout

    def to_dict(self) -> dict[str, str]:
        """The layout as a flat key_map (sent in wam-serve's metadata)."""
        d = {f"image.{cam}": key for cam, key in self.image_keys.items()}
        d.update(state=self.state_key, prompt=self.prompt_key, timestamp=self.timestamp_key, actions=self.actions_key)
        return d

    def encode(self, obs: Observation) -> dict[str, Any]:
        """Observation -> request map; raises PolicyError if a camera is missing or malformed."""
        request: dict[str, Any] = {}
        for cam, key in self.image_keys.items():
            img = obs.images.get(cam)
            if img is None:
                raise PolicyError(f"observation lacks camera '{cam}' (has {sorted(obs.images)})")
            if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise PolicyError(
                    f"image '{cam}' must be uint8 HxWx3, got {getattr(img, 'dtype', type(img).__name__)} "
                    f"{getattr(img, 'shape', '')}"
                )
            _put(request, key, img)
        _put(request, self.state_key, np.asarray(obs.joint_positions, dtype=np.float32))
        if self.prompt_key:
            _put(request, self.prompt_key, str(obs.instruction))
        if self.timestamp_key:
            _put(request, self.timestamp_key, float(obs.timestamp))
        return request

    def decode(self, request: Any, spec: PolicySpec) -> Observation:
        """Request map -> Observation (server side); raises PolicyError naming the bad field."""
        if not isinstance(request, dict):
            raise PolicyError(f"request must be a map, got {type(request).__name__}")
        images: dict[str, np.ndarray] = {}
        for cam in spec.cameras:
            key = self.image_keys.get(cam)
            if key is None:
                raise PolicyError(f"the server layout has no key for camera '{cam}'")
            img = _get(request, key)
            if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise PolicyError(
                    f"'{key}' (camera '{cam}') must be a uint8 HxWx3 array, got "
                    f"{getattr(img, 'dtype', type(img).__name__)} {getattr(img, 'shape', '')}"
                )
            images[cam] = img
        state = _get(request, self.state_key)
        n = len(spec.joint_names)
        if not isinstance(state, np.ndarray) or state.dtype.kind not in "fiu" or state.shape != (n,):
            raise PolicyError(
                f"'{self.state_key}' must be a numeric array of shape ({n},), got "
                f"{getattr(state, 'dtype', type(state).__name__)} {getattr(state, 'shape', '')}"
            )
        if not np.all(np.isfinite(state)):
            raise PolicyError(f"'{self.state_key}' contains non-finite values")
        prompt = _get(request, self.prompt_key, "") if self.prompt_key else ""
        if not isinstance(prompt, str):
            raise PolicyError(f"'{self.prompt_key}' must be a string, got {type(prompt).__name__}")
        stamp = _get(request, self.timestamp_key, 0.0) if self.timestamp_key else 0.0
        if not isinstance(stamp, int | float) or not math.isfinite(stamp):
            raise PolicyError(f"'{self.timestamp_key}' must be a finite number, got {stamp!r:.40}")
        return Observation(
            images=images,
            joint_positions=state.astype(np.float64),
            instruction=prompt,
            timestamp=float(stamp),
        )


_MISSING = object()


def _put(d: dict, key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    for p in parents:
        d = d.setdefault(p, {})
    d[leaf] = value


def _get(d: dict, key: str, default: Any = _MISSING) -> Any:
    cur: Any = d
    for p in key.split("."):
        if not isinstance(cur, dict) or p not in cur:
            if default is _MISSING:
                raise PolicyError(f"request lacks '{key}'")
            return default
        cur = cur[p]
    return cur


def spec_to_dict(spec: PolicySpec) -> dict[str, Any]:
    return {
        "joint_names": list(spec.joint_names),
        "cameras": list(spec.cameras),
        "image_size": list(spec.image_size),
        "action_horizon": int(spec.action_horizon),
        "action_period": float(spec.action_period),
    }


def spec_from_dict(d: Any) -> PolicySpec:
    try:
        return PolicySpec(
            joint_names=tuple(str(j) for j in d["joint_names"]),
            cameras=tuple(str(c) for c in d["cameras"]),
            image_size=(int(d["image_size"][0]), int(d["image_size"][1])),
            action_horizon=int(d["action_horizon"]),
            action_period=float(d["action_period"]),
        )
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise PolicyError(f"server metadata has a malformed 'spec': {d!r:.200}") from e


def _finite_number(value: Any) -> float | None:
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        v = float(value)
        return v if math.isfinite(v) else None
    return None


def _ms(seconds: float) -> float:
    return seconds * 1000.0


@dataclass
class _Backoff:
    initial: float
    maximum: float
    delay: float = 0.0
    next_attempt: float = 0.0
    last_error: str = ""

    def failed(self, now: float, error: str) -> None:
        self.delay = self.initial if self.delay == 0.0 else min(self.delay * 2.0, self.maximum)
        self.next_attempt = now + self.delay
        self.last_error = error

    def succeeded(self) -> None:
        self.delay = 0.0
        self.next_attempt = 0.0
        self.last_error = ""


@dataclass
class RemoteStats:
    requests: int = 0
    failures: int = 0
    connects: int = 0
    last_error: str = ""


class RemotePolicy(Policy):
    """Policy client for openpi-protocol servers (openpi's serve_policy.py, wam-serve, ...).

    ``spec`` describes what the robot side sends and expects; if omitted it is built from
    ``joint_names`` (default: the robot model's actuated joints), ``cameras``,
    ``image_size``, ``action_horizon`` and ``action_period``. Against ``wam-serve`` the
    server's own spec is checked at connect and a mismatch is refused naming the field;
    ``RemotePolicy.from_server`` adopts the server's spec instead.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        spec: PolicySpec | None = None,
        joint_names: Sequence[str] | None = None,
        cameras: Sequence[str] = DEFAULT_CAMERAS,
        image_size: Sequence[int] = (224, 224),
        action_horizon: int = 16,
        action_period: float = 0.1,
        key_map: Mapping[str, str] | None = None,
        connect_timeout: float = 2.0,
        response_timeout: float = 5.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        check_horizon: bool = True,
        api_key: str | None = None,
        extra_fields: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if spec is None:
            if joint_names is None:
                from wam_ros.robot.model import RobotModel

                joint_names = RobotModel.load().actuated_joints
            spec = PolicySpec(
                joint_names=tuple(joint_names),
                cameras=tuple(cameras),
                image_size=(int(image_size[0]), int(image_size[1])),
                action_horizon=int(action_horizon),
                action_period=float(action_period),
            )
        for name, value in (("connect_timeout", connect_timeout), ("response_timeout", response_timeout)):
            if not (math.isfinite(value) and value > 0):
                raise PolicyError(f"{name} must be a positive number of seconds, got {value}")
        if max_message_bytes < 1024:
            raise PolicyError(f"max_message_bytes must be at least 1024, got {max_message_bytes}")
        if not (0 < backoff_initial <= backoff_max):
            raise PolicyError(f"need 0 < backoff_initial <= backoff_max, got {backoff_initial}, {backoff_max}")
        self.spec = spec
        self.url = normalize_url(url)
        self.layout = ObservationLayout.create(spec.cameras, key_map)
        self._explicit_layout = key_map is not None
        self.connect_timeout = float(connect_timeout)
        self.response_timeout = float(response_timeout)
        self.max_message_bytes = int(max_message_bytes)
        self.check_horizon = check_horizon
        self._headers = {"Authorization": f"Api-Key {api_key}"} if api_key else None
        self._extra_fields = dict(extra_fields or {})
        self._clock = clock
        self._backoff = _Backoff(float(backoff_initial), float(backoff_max))
        self._conn: Any = None
        self._metadata: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.stats = RemoteStats()

    # ------------------------------------------------------------ construction
    @classmethod
    def from_server(cls, url: str, **kwargs: Any) -> RemotePolicy:
        """Connect now and adopt the spec (and layout) a wam-serve server announces."""
        key_map = kwargs.pop("key_map", None)
        probe = cls(url, spec=PolicySpec(("probe",), (), (1, 1), 1, 1.0), **kwargs)
        metadata = probe.connect(check_spec=False)
        if "spec" not in metadata:
            probe.close()
            raise PolicyError(f"server at {probe.url} announces no spec (not wam-serve?); give the spec explicitly")
        spec = spec_from_dict(metadata["spec"])
        key_map = key_map or metadata.get("layout")
        policy = cls(url, spec=spec, key_map=key_map, **kwargs)
        policy._conn, policy._metadata = probe._conn, metadata
        policy.stats.connects = 1
        probe._conn = None
        return policy

    # ------------------------------------------------------------- connection
    @property
    def server_metadata(self) -> dict[str, Any]:
        """The metadata map the server sent on the current/last connection."""
        return self._metadata

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def is_wam_server(self) -> bool:
        return self._metadata.get("server") == SERVER_NAME

    def connect(self, check_spec: bool = True) -> dict[str, Any]:
        """Open the connection and read the server's metadata; PolicyError if that fails."""
        from websockets.sync.client import connect

        self._drop()
        try:
            conn = connect(
                self.url,
                open_timeout=self.connect_timeout,
                close_timeout=1.0,
                compression=None,
                max_size=self.max_message_bytes,
                additional_headers=self._headers,
                proxy=None,
                ping_interval=None,  # liveness is the response timeout; pings would fight a busy server
                legacy=True,  # a long-lived connection we close ourselves (not a `with` block)
            )
        except Exception as e:
            raise PolicyError(f"cannot connect to policy server {self.url}: {_describe(e)}") from e
        try:
            first = conn.recv(timeout=self.connect_timeout)
            if isinstance(first, str):
                raise PolicyError(f"server {self.url} sent an error instead of metadata: {first[:300]}")
            metadata = msgpack_numpy.unpackb(first)
            if not isinstance(metadata, dict):
                raise PolicyError(f"server {self.url} metadata is a {type(metadata).__name__}, expected a map")
        except PolicyError:
            conn.close()
            raise
        except Exception as e:
            conn.close()
            raise PolicyError(f"no valid metadata from policy server {self.url}: {_describe(e)}") from e
        self._conn, self._metadata = conn, metadata
        self.stats.connects += 1
        if check_spec:
            try:
                self._check_server_spec(metadata)
            except PolicyError:
                self._drop()
                raise
        log.info("connected to policy server %s (%s)", self.url, metadata.get("server", "openpi-compatible"))
        return metadata

    def _check_server_spec(self, metadata: dict[str, Any]) -> None:
        if "spec" not in metadata:
            return  # plain openpi servers announce no spec; the responses are validated instead
        server = spec_from_dict(metadata["spec"])
        ours = self.spec
        problems = []
        if server.joint_names != ours.joint_names:
            problems.append(f"joint_names: server {list(server.joint_names)} vs ours {list(ours.joint_names)}")
        missing = [c for c in server.cameras if c not in ours.cameras]
        if missing:
            problems.append(f"cameras: server needs {missing}, we send {list(ours.cameras)}")
        if server.image_size != ours.image_size:
            problems.append(f"image_size: server {server.image_size} vs ours {ours.image_size}")
        if self.check_horizon and server.action_horizon != ours.action_horizon:
            problems.append(f"action_horizon: server {server.action_horizon} vs ours {ours.action_horizon}")
        if self.check_horizon and not math.isclose(server.action_period, ours.action_period, rel_tol=1e-6):
            problems.append(f"action_period: server {server.action_period} vs ours {ours.action_period}")
        layout = metadata.get("layout")
        if isinstance(layout, dict) and self._explicit_layout:
            ours_layout = self.layout.to_dict()
            diff = {k: (v, ours_layout.get(k)) for k, v in layout.items() if ours_layout.get(k, v) != v}
            if diff:
                problems.append(f"key_map (server, ours): {diff}")
        elif isinstance(layout, dict):
            try:  # no key_map of our own: speak the server's layout
                self.layout = ObservationLayout.create(self.spec.cameras, {
                    k: v for k, v in layout.items()
                    if not k.startswith("image.") or k.removeprefix("image.") in self.spec.cameras
                })
            except PolicyError as e:
                problems.append(f"server layout unusable: {e}")
        if problems:
            raise PolicyError(f"policy server {self.url} does not match our spec: " + "; ".join(problems))

    def _ensure_connected(self) -> Any:
        if self._conn is not None:
            return self._conn
        now = self._clock()
        if now < self._backoff.next_attempt:
            raise PolicyError(
                f"policy server {self.url} unavailable ({self._backoff.last_error}); "
                f"next reconnect attempt in {self._backoff.next_attempt - now:.1f} s"
            )
        try:
            self.connect()
        except PolicyError as e:
            self._backoff.failed(self._clock(), str(e))
            raise
        self._backoff.succeeded()
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a broken socket must not mask the real error
                pass

    def close(self) -> None:
        """Close the connection (a later infer reconnects)."""
        with self._lock:
            self._drop()

    # ------------------------------------------------------------------ policy
    def infer(self, observation: Observation, decode_frames: bool = True) -> Prediction:
        """Send the observation, validate the reply; PolicyError on any failure (never a stale chunk)."""
        with self._lock:
            self.stats.requests += 1
            try:
                return self._infer(observation, decode_frames)
            except PolicyError as e:
                self.stats.failures += 1
                self.stats.last_error = str(e)
                raise

    def reset(self) -> None:
        """Tell a wam-serve server to reset its policy (openpi servers have no reset message)."""
        with self._lock:
            if self._conn is None or "reset" not in self._metadata.get("supports", ()):
                return
            try:
                reply = self._roundtrip(msgpack_numpy.packb({CTRL_KEY: "reset"}))
            except PolicyError as e:
                log.warning("reset not acknowledged: %s", e)
                return
            if not (isinstance(reply, dict) and reply.get("__ack__") == "reset"):
                log.warning("reset not acknowledged by %s: %r", self.url, reply)

    def _infer(self, observation: Observation, decode_frames: bool) -> Prediction:
        t0 = time.perf_counter()
        request = self.layout.encode(observation)
        request.update(self._extra_fields)
        encode_s = time.perf_counter() - t0
        conn = self._ensure_connected()  # connect time is neither encoding nor round trip
        t0 = time.perf_counter()
        if "decode_frames" in self._metadata.get("supports", ()):
            request[DECODE_FRAMES_KEY] = bool(decode_frames)
        payload = msgpack_numpy.packb(request)
        limit = self.max_message_bytes
        server_limit = _finite_number(self._metadata.get("max_message_bytes"))
        if server_limit:
            limit = min(limit, int(server_limit))
        if len(payload) > limit:
            raise PolicyError(
                f"observation message too big: {len(payload)} bytes, over the {limit}-byte limit "
                f"(max_message_bytes; the server would close the connection)"
            )
        t1 = time.perf_counter()
        try:
            conn.send(payload)
        except Exception as e:  # stale connection (server restarted): the request never left, retry once
            log.info("connection to %s lost before sending (%s); reconnecting", self.url, _describe(e))
            self._drop()
            conn = self._ensure_connected()
            t1 = time.perf_counter()
            self._send(conn, payload)
        reply = self._recv(conn)
        t2 = time.perf_counter()
        response = self._decode(reply)
        prediction = self._to_prediction(response, decode_frames)
        t3 = time.perf_counter()
        timing = response.get("server_timing")
        server_ms = _finite_number(timing.get("infer_ms")) if isinstance(timing, dict) else None
        rtt_ms = _ms(t2 - t1)
        prediction.extras.update(
            rtt_ms=rtt_ms,
            server_infer_ms=server_ms,
            transport_ms=(rtt_ms - server_ms) if server_ms is not None else None,
            encode_ms=_ms(encode_s + t1 - t0),
            decode_ms=_ms(t3 - t2),
            request_bytes=len(payload),
            response_bytes=len(reply),
        )
        return prediction

    def _roundtrip(self, payload: bytes) -> Any:
        conn = self._ensure_connected()
        self._send(conn, payload)
        return self._decode(self._recv(conn))

    def _send(self, conn: Any, payload: bytes) -> None:
        try:
            conn.send(payload)
        except Exception as e:
            self._drop()
            raise PolicyError(f"connection to policy server {self.url} lost while sending: {_describe(e)}") from e

    def _recv(self, conn: Any, text_ok: bool = False) -> bytes | str:
        """The next reply frame; a text frame is the server's error report unless ``text_ok`` (a protocol
        whose acknowledgements are text, as RoboArena's reset)."""
        from websockets.exceptions import ConnectionClosed

        try:
            reply = conn.recv(timeout=self.response_timeout)
        except TimeoutError as e:
            self._drop()  # a late reply must never be read as the answer to the next request
            raise PolicyError(
                f"timeout: no response from policy server {self.url} within {self.response_timeout} s "
                f"(connection dropped)"
            ) from e
        except ConnectionClosed as e:
            self._drop()
            raise PolicyError(f"connection closed by policy server {self.url}: {_describe(e)}") from e
        except Exception as e:
            self._drop()
            raise PolicyError(f"connection to policy server {self.url} failed: {_describe(e)}") from e
        if isinstance(reply, str) and not text_ok:
            raise PolicyError(f"server error from {self.url}: {reply[:500]}")
        return reply

    def _decode(self, reply: bytes) -> Any:
        try:
            return msgpack_numpy.unpackb(reply)
        except msgpack_numpy.ProtocolError as e:
            raise PolicyError(f"malformed response from {self.url}: {e}") from e

    def _to_prediction(self, response: Any, decode_frames: bool) -> Prediction:
        spec, key = self.spec, self.layout.actions_key
        if not isinstance(response, dict):
            raise PolicyError(f"malformed response: a {type(response).__name__}, expected a map with '{key}'")
        if key not in response:
            raise PolicyError(f"malformed response: no '{key}' (keys: {sorted(map(str, response))[:10]})")
        actions = response[key]
        n = len(spec.joint_names)
        if not isinstance(actions, np.ndarray):
            raise PolicyError(f"malformed response: '{key}' is a {type(actions).__name__}, expected a numpy array")
        if actions.dtype.kind != "f":
            raise PolicyError(f"wrong dtype: '{key}' is {actions.dtype}, expected a float array")
        if actions.ndim != 2 or actions.shape[0] < 1:
            raise PolicyError(f"wrong shape: '{key}' has shape {actions.shape}, expected (H, {n})")
        if actions.shape[1] != n:
            raise PolicyError(
                f"wrong shape: '{key}' has {actions.shape[1]} values per step, expected {n} joints "
                f"{list(spec.joint_names)}"
            )
        if self.check_horizon and actions.shape[0] != spec.action_horizon:
            raise PolicyError(f"wrong shape: '{key}' has horizon {actions.shape[0]}, expected {spec.action_horizon}")
        if not np.all(np.isfinite(actions)):
            bad = np.argwhere(~np.isfinite(actions))[0]
            raise PolicyError(f"non-finite actions: '{key}'[{bad[0]}, {bad[1]}] = {actions[tuple(bad)]}")
        period = spec.action_period
        if "action_period" in response:
            period = _finite_number(response["action_period"])
            if period is None or period <= 0:
                raise PolicyError(f"malformed response: action_period {response['action_period']!r:.40}")
        frames = offsets = None
        if decode_frames and response.get("frames") is not None:
            frames, offsets = response["frames"], response.get("frame_offsets")
            if not isinstance(frames, dict) or not isinstance(offsets, np.ndarray) or offsets.ndim != 1:
                raise PolicyError("malformed response: 'frames' must be a map of arrays with 1-D 'frame_offsets'")
            if not np.all(np.isfinite(offsets)):
                raise PolicyError("non-finite frame_offsets in response")
            frames = {str(cam): f for cam, f in frames.items()}
            offsets = offsets.astype(np.float64)
        extras: dict[str, Any] = {}
        server_extras = response.get("extras")
        if isinstance(server_extras, dict):
            for k, v in server_extras.items():
                if isinstance(v, str | bool | int | float) or (isinstance(v, np.ndarray) and v.size <= 64):
                    extras[f"server_{k}"] = v
        prediction = Prediction(
            actions=actions.astype(np.float64),  # a fresh, writable copy (the decoded view is read-only)
            action_period=period,
            frames=frames,
            frame_offsets=offsets,
            extras=extras,
        )
        return prediction.validate(spec)


def normalize_url(url: str) -> str:
    """'host:port' or 'host' -> 'ws://host:port'; ws:// and wss:// pass through."""
    url = url.strip()
    if url.startswith(("ws://", "wss://")):
        return url
    if "://" in url:
        raise PolicyError(f"policy server url must be ws:// or wss://, got {url!r}")
    return f"ws://{url}" if ":" in url.rsplit("]", 1)[-1] else f"ws://{url}:{DEFAULT_PORT}"


def _describe(e: BaseException) -> str:
    """A short, specific reason, incl. websocket close codes (1009 = message too big)."""
    from websockets.exceptions import ConnectionClosed

    if isinstance(e, ConnectionClosed):
        for side, frame in (("server", e.rcvd), ("client", e.sent)):
            if frame is not None and frame.code == 1009:
                who = "our request" if side == "server" else "the response"
                return f"message too big ({who} exceeded the {side}'s max message size; close code 1009)"
        frame = e.rcvd or e.sent
        if frame is not None:
            return f"close code {frame.code} {frame.reason!r}"
        return "connection closed without a close frame"
    text = str(e) or type(e).__name__
    return f"{type(e).__name__}: {text}" if type(e).__name__ not in text else text
