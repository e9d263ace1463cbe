"""A Policy that talks to a WAM family's own server, as its ServerProfile describes.

Websocket servers (openpi, RoboArena/DreamZero, LingBot-VA) reuse RemotePolicy's
connection handling (metadata on connect, timeouts, back-off, text frames as errors);
Cosmos Policy is an HTTP POST of JSON with base64 arrays. Every reply goes through the
profile's codec: the action array is checked (map vs bare array, dtype, shape,
finiteness), this arm's columns are picked and converted from the profile's action space
to joint positions, so the smoother and the bridge only ever see joint-position chunks.
Any failure is a PolicyError naming it; no chunk is made up.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import numpy as np

from wam_ros.policies.base import Observation, PolicyError, PolicySpec, Prediction
from wam_ros.remote import msgpack_numpy
from wam_ros.remote.client import RemotePolicy
from wam_ros.remote.profiles import ProfileCodec, ProfileError, ServerProfile
from wam_ros.robot.model import RobotModel

ROBOARENA_RESET_REPLY = "reset successful"


# ------------------------------------------------------------------ Cosmos JSON arrays
def json_array(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a)
    return {"__numpy__": base64.b64encode(a.tobytes()).decode("ascii"), "dtype": a.dtype.str, "shape": list(a.shape)}


def json_encode(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return json_array(obj)
    if isinstance(obj, dict):
        return {k: json_encode(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_encode(v) for v in obj]
    return obj


def json_decode(obj: Any) -> Any:
    if isinstance(obj, dict) and "__numpy__" in obj:
        try:
            dtype = np.dtype(obj["dtype"])
            if dtype.kind == "O":
                raise ValueError("object arrays are refused")
            return np.frombuffer(base64.b64decode(obj["__numpy__"]), dtype=dtype).reshape(obj["shape"]).copy()
        except (KeyError, TypeError, ValueError) as exc:
            raise ProfileError(f"malformed array in the reply: {exc}") from exc
    if isinstance(obj, dict):
        return {k: json_decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_decode(v) for v in obj]
    return obj


def transport_url(url: str, http: bool) -> str:
    """The server's address in the profile's transport: the profile decides websocket or HTTP, the URL says where.

    A scheme of the other transport is mapped (ws <-> http, wss <-> https), so switching a running setup to a
    family with another transport at the same address is the profile alone; 'host:port' gets the scheme.
    """
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        scheme, rest = "", url.strip()
    mapped = {"ws": "http", "wss": "https"} if http else {"http": "ws", "https": "wss"}
    scheme = mapped.get(scheme.lower(), scheme.lower()) or ("http" if http else "ws")
    allowed = ("http", "https") if http else ("ws", "wss")
    if scheme not in allowed or not rest:
        transport, schemes = ("HTTP", "http:// or https://") if http else ("websocket", "ws:// or wss://")
        raise ProfileError(f"server url {url!r}: this profile's server speaks {transport}; "
                           f"give {schemes}host:port")
    return f"{scheme}://{rest}"


@dataclass
class _KvPending:
    """LingBot-VA: the chunk answered last, which the next kv-cache call reports as executed."""

    t0: float  # the stamp of the observation it was computed from
    action: np.ndarray  # (C, F, H) as the server sent it
    first: bool  # the episode's first chunk (its frame 0 was skipped)


@dataclass
class _Traffic:
    """What one infer call exchanged: bytes each way, messages sent, and seconds on the wire (send -> reply)."""

    sent: int = 0
    received: int = 0
    messages: int = 0
    wire_s: float = 0.0
    t_sent: float = 0.0

    def add(self, sent: int, received: int, wire_s: float) -> None:
        self.sent, self.received = self.sent + sent, self.received + received
        self.messages += 1
        self.wire_s += wire_s


class ProfilePolicy(RemotePolicy):
    """One robot's client of a profiled server; ``reset()`` starts a new episode (and session)."""

    def __init__(self, profile: ServerProfile | str, robot: RobotModel | None = None, url: str = "",
                 response_timeout: float = 5.0, connect_timeout: float = 2.0, **kwargs: Any) -> None:
        self.profile = profile if isinstance(profile, ServerProfile) else ServerProfile.load(profile)
        self.robot = robot or RobotModel.load()
        self.codec = ProfileCodec(self.profile, self.robot)
        base = url or self.profile.url
        spec = PolicySpec(joint_names=self.robot.actuated_joints, cameras=self.profile.cameras,
                          image_size=next(iter(self.profile.images.values())).size if self.profile.images else (0, 0),
                          action_horizon=self.profile.execute or self.profile.horizon or 1,
                          action_period=self.profile.period)
        self._http = self.profile.protocol == "cosmos"
        base = transport_url(base, self._http)
        self.http_url = base.rstrip("/") if self._http else ""
        super().__init__("ws://unused:1" if self._http else base, spec=spec, check_horizon=False,
                         response_timeout=response_timeout, connect_timeout=connect_timeout, **kwargs)
        self._kv_pending: _KvPending | None = None  # lingbot_va: the chunk the next kv-cache call reports
        self._kv_seen: list[tuple[float, dict[str, np.ndarray]]] = []  # lingbot_va: since that chunk's observation
        self._lingbot_connection: int | None = None  # lingbot_va: stats.connects when reset + prompt were sent
        self._traffic = _Traffic()

    # ------------------------------------------------------------------ policy
    def reset(self) -> None:
        with self._lock:
            self.codec.reset()
            self._kv_pending = None
            proto = self.profile.protocol
            if proto == "roboarena" and self._conn is not None:
                self._send(self._conn, msgpack_numpy.packb({"endpoint": "reset"}))
                raw = self._recv(self._conn, text_ok=True)
                reply = raw if isinstance(raw, str) else self._decode(raw)
                if reply != ROBOARENA_RESET_REPLY and not isinstance(reply, dict):
                    raise PolicyError(f"reset not acknowledged by {self.url}: {str(reply)[:200]}")
            self._lingbot_connection = None

    def _infer(self, obs: Observation, decode_frames: bool) -> Prediction:
        """One exchange in the profile's protocol (RemotePolicy.infer counts requests and failures)."""
        t0 = time.perf_counter()
        self._traffic = traffic = _Traffic()
        proto = self.profile.protocol
        if proto == "cosmos":
            reply = self._http_call(self.codec.request(obs))
        elif proto == "lingbot_va":
            reply = self._lingbot_call(obs)
        else:
            request = self.codec.request(obs)
            if proto == "roboarena":
                request["endpoint"] = "infer"
            reply = self._ws_call(request)
        self.codec.calls_since_reset += 1
        call_ms = (time.perf_counter() - t0) * 1000.0
        actions = self._actions(reply)
        joints = self.codec.joint_chunk(actions, np.asarray(obs.joint_positions, dtype=float))
        frames = self.codec.predicted_frames(reply) if decode_frames else {}
        pred = Prediction(actions=joints, action_period=self.profile.period,
                          frames=frames or None,
                          frame_offsets=np.array([len(joints) * self.profile.period]) if frames else None,
                          extras={"rtt_ms": traffic.wire_s * 1000.0, "call_ms": call_ms,
                                  "request_bytes": traffic.sent, "response_bytes": traffic.received,
                                  "messages": traffic.messages, "server_profile": self.profile.name,
                                  "rows_out_of_reach": self.codec.converter.rows_out_of_reach,
                                  "predicted_frames": "sent" if frames else "none from this server"})
        return pred.validate(self.spec)

    def _actions(self, reply: Any) -> np.ndarray:
        if self.profile.protocol == "lingbot_va":  # (C, F, H): step order f then h -> (F*H, C)
            arr = reply.get("action") if isinstance(reply, dict) else None
            if not isinstance(arr, np.ndarray) or arr.ndim != 3:
                raise ProfileError(f"malformed reply: 'action' must be a (C, F, H) array, got "
                                   f"{getattr(arr, 'shape', type(arr).__name__)}")
            c, f, h = arr.shape
            if h % 4:
                raise ProfileError(f"LingBot-VA chunk (C, F, H) = {arr.shape}: H must be a multiple of 4 "
                                   "(a camera dict is captured every H/4 actions)")
            rows = arr.reshape(c, f * h).T
            first = self.codec.calls_since_reset == 1
            self._kv_pending = _KvPending(self._kv_seen[0][0], arr, first)
            if first:  # the first chunk's frame index 0 is the current pose
                rows = rows[h:]
            rows, key = np.ascontiguousarray(rows), self.profile.actions_key
            return self.codec.actions({key: rows} if key else rows)
        return self.codec.actions(reply)

    # ------------------------------------------------------------------ transports
    def _send(self, conn: Any, payload: bytes) -> None:
        self._traffic.sent += len(payload)
        self._traffic.messages += 1
        self._traffic.t_sent = time.perf_counter()
        super()._send(conn, payload)

    def _recv(self, conn: Any, text_ok: bool = False) -> bytes | str:
        reply = super()._recv(conn, text_ok)
        self._traffic.wire_s += time.perf_counter() - self._traffic.t_sent
        self._traffic.received += len(reply)
        return reply

    def _ws_call(self, request: dict[str, Any]) -> Any:
        conn = self._ensure_connected()
        self._send(conn, msgpack_numpy.packb(request))
        return self._decode(self._recv(conn))

    def _lingbot_call(self, obs: Observation) -> Any:
        conn = self._ensure_connected()
        if self._lingbot_connection != self.stats.connects:
            # A new episode, or a new connection mid-episode: the server may have restarted and lost the
            # prompt and its cache, so the conversation starts over, and with it the episode (the pose the
            # relative actions are anchored to, and the skip of the first chunk's frame 0).
            self.codec.reset()
            self._kv_pending = None
            self._send(conn, msgpack_numpy.packb({"reset": True, "prompt": str(obs.instruction)}))
            self._expect_empty(self._decode(self._recv(conn)), "reset")
            self._lingbot_connection = self.stats.connects
        cams = self.codec.camera_frames(obs)
        if self._kv_pending is not None:  # tell the server what was executed since the last chunk
            self._kv_seen.append((float(obs.timestamp), cams))
            pending = self._kv_pending
            self._send(conn, msgpack_numpy.packb({"obs": self._key_frames(pending), "compute_kv_cache": True,
                                                  "state": pending.action}))
            self._expect_empty(self._decode(self._recv(conn)), "compute_kv_cache")
        self._kv_seen = [(float(obs.timestamp), cams)]
        self._send(conn, msgpack_numpy.packb({"obs": cams}))
        return self._decode(self._recv(conn))

    def _key_frames(self, pending: _KvPending) -> list[dict[str, np.ndarray]]:
        """The camera dicts of LingBot-VA's kv-cache call: 4 per executed latent frame (F - 1 for the first chunk,
        whose frame 0 was skipped; F later), as its client captures one every H/4 actions and its VAE turns 4 into
        one latent frame. Each is the latest frame this client saw at or before its capture time (the chunk's
        observation stamp + k * H/4 action periods); only the frames of the infer calls are seen here."""
        _, f, h = pending.action.shape
        executed = f - 1 if pending.first else f
        step = h // 4 * self.profile.period
        out = []
        for k in range(1, 4 * executed + 1):
            due = pending.t0 + k * step
            seen = [cams for stamp, cams in self._kv_seen if stamp <= due + 1e-9]
            out.append(seen[-1] if seen else self._kv_seen[0][1])
        return out

    def _expect_empty(self, reply: Any, what: str) -> None:
        if reply != {}:
            raise ProfileError(f"LingBot-VA {what} call answered {str(reply)[:200]}, expected {{}}")

    def _http_call(self, request: dict[str, Any]) -> Any:
        body = json.dumps(json_encode(request)).encode()
        req = urllib.request.Request(f"{self.http_url}/act", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        t_sent = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=self.response_timeout) as resp:
                raw = resp.read()
            self._traffic.add(len(body), len(raw), time.perf_counter() - t_sent)
            text = raw.decode()
        except urllib.error.HTTPError as e:
            raise PolicyError(f"policy server {self.http_url} answered HTTP {e.code}: {e.reason}") from e
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            raise PolicyError(f"cannot reach policy server {self.http_url}/act: {e}") from e
        try:
            reply = json.loads(text)
        except json.JSONDecodeError as e:
            raise ProfileError(f"reply from {self.http_url} is not JSON: {text[:200]!r}") from e
        if reply == "error" or isinstance(reply, str):
            raise PolicyError(f"server error from {self.http_url}: {str(reply)[:200]}")
        return json_decode(reply)


