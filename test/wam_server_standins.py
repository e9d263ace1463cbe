"""Stand-ins for the WAM families' own policy servers, written from the facts in issue 18.

Each reads requests the way the real server does and answers as it does:
- the wire: msgpack with openpi_client's numpy hook, which only recognises arrays whose
  map keys are msgpack *bin* (``b"__ndarray__"``, ``b"data"``, ``b"dtype"``, ``b"shape"``);
  decoding here is an independent copy of that hook, not wam_ros's codec;
- openpi: metadata frame on connect, stateless request/reply, ``{"actions", "server_timing"}``,
  errors as a text frame (a traceback) then close 1011;
- RoboArena/DreamZero: every request has ``endpoint``; a reset is answered by the text frame
  "reset successful"; DreamZero needs a session id and buffers frames (1 first, then 4) and
  replies a bare (24, 8) float32 array;
- LingBot-VA: ``{reset, prompt}`` -> ``{}``, ``{obs}`` -> ``{"action": (16, F, H)}``,
  ``{obs: [..], compute_kv_cache, state}`` -> ``{}``;
- Cosmos Policy: HTTP POST /act with JSON arrays ``{"__numpy__", "dtype", "shape"}``; errors are
  HTTP 200 with the body "error"; replies carry future image predictions.
The "brain" behind each is a callable giving the joint-position chunk it wants (our joint order);
the stand-in expresses it in its family's action space with its own maths (transforms3d for
rotations), so the client's conversion is checked against an independent one.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgpack
import numpy as np
import transforms3d

from wam_ros.robot.model import RobotModel

ROBOT = RobotModel.load()
N_ARM = len(ROBOT.arm_joints)
G_LO, G_HI = ROBOT.limits()["lower"][N_ARM:], ROBOT.limits()["upper"][N_ARM:]

#: brain(request_state_q or None) -> (N, 7) joint targets in our order
Brain = Callable[[np.ndarray | None], np.ndarray]

#: each family's chunk: (rows it answers, seconds between them), from the issue's facts
FAMILY_CHUNK = {"openpi_droid": (15, 1 / 15), "openpi_libero": (10, 0.05), "openpi_aloha": (50, 0.02),
                "roboarena": (15, 1 / 15), "dreamzero": (24, 1 / 15), "lingbot_va": (16, 0.05),
                "cosmos_policy": (50, 0.04)}


def _closed(q_targets: np.ndarray) -> np.ndarray:
    return (G_HI[0] - q_targets[:, N_ARM]) / (G_HI[0] - G_LO[0])


# ------------------------------------------------------------------ openpi_client.msgpack_numpy, as the servers use it
def _pack_hook(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {b"__ndarray__": True, b"data": obj.tobytes(), b"dtype": obj.dtype.str, b"shape": obj.shape}
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    return obj


def _unpack_hook(obj: dict) -> Any:
    if b"__ndarray__" in obj:
        return np.ndarray(buffer=obj[b"data"], dtype=np.dtype(obj[b"dtype"]), shape=obj[b"shape"])
    if b"__npgeneric__" in obj:
        return np.dtype(obj[b"dtype"]).type(obj[b"data"])
    return obj


def packb(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_pack_hook)


def unpackb(data: bytes) -> Any:
    return msgpack.unpackb(data, object_hook=_unpack_hook)


LINGBOT_CAMERAS = {"observation.images.cam_high", "observation.images.cam_left_wrist",
                   "observation.images.cam_right_wrist"}


class RequestError(Exception):
    """What the real server would raise (and send back as a traceback text frame)."""


def need(req: dict, key: str, dtype: str | None = None, shape: tuple | None = None) -> Any:
    cur: Any = req
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise RequestError(f"KeyError: '{key}'")
        cur = cur[part]
    if dtype is not None:
        if not isinstance(cur, np.ndarray) or cur.dtype.kind + str(cur.dtype.itemsize) != dtype:
            raise RequestError(f"{key}: expected ndarray {dtype}, got {getattr(cur, 'dtype', type(cur).__name__)}")
        if shape is not None and cur.shape != shape:
            raise RequestError(f"{key}: expected shape {shape}, got {cur.shape}")
    return cur


# ------------------------------------------------------------------ websocket stand-in
class WsStandIn:
    """A threaded websocket server on 127.0.0.1 with one family's behaviour (``family``)."""

    def __init__(self, family: str, brain: Brain, reply_override: Callable[[Any], Any] | None = None,
                 delay: float = 0.0, port: int = 0) -> None:
        from websockets.sync.server import serve

        self.family, self.brain, self.reply_override, self.delay = family, brain, reply_override, delay
        self.requests: list[Any] = []
        self.resets = 0
        # LingBot-VA keeps its state in the model, not per connection: the prompt and whether a chunk was
        # answered since the last reset (then the next obs continues the episode from the kv cache)
        self.prompt: str | None = None
        self.kv_expected = False
        self.chunk: tuple[int, int, bool] = (0, 0, False)  # F, H of the last chunk answered, and if it was a first
        self.sessions: set[str] = set()
        self.frame_counts: list[int] = []
        self.q_true: np.ndarray | None = None  # for families whose state carries no joints
        #: returns the arm's state received after the call (a fixture whose q_true follows the arm over DDS)
        self.fresh_q: Callable[[], np.ndarray] | None = None
        self._server = serve(self._handler, "127.0.0.1", port, compression=None, max_size=None)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def arm_state(self, fresh: bool = False) -> np.ndarray:
        """The arm's state the request stands for. ``fresh``: not one that arrived before the request (the arm
        may just have been reset): what the observation shows, when the episode's initial pose is taken."""
        if fresh and self.fresh_q is not None:
            return self.fresh_q()
        if self.q_true is None:
            raise RequestError("RuntimeError: no arm state yet")
        return self.q_true

    def metadata(self) -> dict:
        if self.family in ("roboarena", "dreamzero"):
            dz = self.family == "dreamzero"
            return {"image_resolution": [180, 320] if dz else [224, 224], "needs_wrist_camera": True,
                    "n_external_cameras": 2 if dz else 1, "needs_stereo_camera": False,
                    "needs_session_id": dz, "action_space": "joint_position"}
        return {}

    def _handler(self, ws: Any) -> None:
        import time

        from websockets.exceptions import ConnectionClosed

        ws.send(packb(self.metadata()))
        while True:
            try:
                raw = ws.recv()
            except ConnectionClosed:
                return
            try:
                req = unpackb(raw)
                self.requests.append(req)
                if self.delay:
                    time.sleep(self.delay)
                reply = self._answer(req)
            except RequestError as exc:
                ws.send(f"Traceback (most recent call last):\n  ...\n{exc}")
                ws.close(1011, "Internal server error")
                return
            if isinstance(reply, str):
                ws.send(reply)
            else:
                if self.reply_override is not None:
                    reply = self.reply_override(reply)
                ws.send(reply if isinstance(reply, bytes) else packb(reply))

    # ------------------------------------------------------------------ families
    def _answer(self, req: Any) -> Any:
        if not isinstance(req, dict):
            raise RequestError(f"TypeError: request is a {type(req).__name__}")
        f = self.family
        if f.startswith("openpi"):
            return self._openpi(req)
        if f in ("roboarena", "dreamzero"):
            return self._roboarena(req)
        return self._lingbot(req)

    def _openpi(self, req: dict) -> dict:
        need(req, "prompt")
        if self.family == "openpi_droid":
            need(req, "observation/exterior_image_1_left", "u1", (224, 224, 3))
            need(req, "observation/wrist_image_left", "u1", (224, 224, 3))
            q = need(req, "observation/joint_position", "f4", (7,))[:N_ARM].astype(float)
            need(req, "observation/gripper_position", "f4", (1,))
            targets = self.brain(q)
            prev = np.vstack([q[None], targets[:-1, :N_ARM]])
            vel = (targets[:, :N_ARM] - prev) / (1 / 15)  # joint velocities at 15 Hz
            actions = np.zeros((15, 8), np.float32)
            n = min(15, len(targets))
            actions[:n, :N_ARM] = vel[:n]
            actions[:n, 7] = _closed(targets)[:n]
        elif self.family == "openpi_aloha":
            high = need(req, "images.cam_high", "u1", (3, 224, 224))
            assert high.shape[0] == 3
            state = need(req, "state", "f4", (14,))
            q = state[:N_ARM].astype(float)
            targets = self.brain(q)
            actions = np.zeros((50, 14), np.float32)
            n = min(50, len(targets))
            actions[:n, :N_ARM] = targets[:n, :N_ARM]
            actions[:n, 6] = 1.0 - _closed(targets)[:n]  # ALOHA: 1 = open
            actions[n:] = actions[n - 1]
        else:  # libero
            need(req, "observation/image", "u1", (224, 224, 3))
            need(req, "observation/wrist_image", "u1", (224, 224, 3))
            state = need(req, "observation/state", "f4", (8,))
            q = self.q_true
            pose0 = ROBOT.fk(q[:N_ARM])
            assert np.allclose(state[:3], pose0[:3, 3], atol=1e-4), "state must start with the eef position"
            targets = self.brain(q)
            actions = np.zeros((10, 7), np.float32)
            prev = pose0
            for i in range(min(10, len(targets))):
                pose = ROBOT.fk(targets[i, :N_ARM])
                actions[i, :3] = (pose[:3, 3] - prev[:3, 3]) / 0.05
                ax, ang = transforms3d.axangles.mat2axangle(pose[:3, :3] @ prev[:3, :3].T)
                actions[i, 3:6] = ax * ang / 0.5
                actions[i, 6] = 2 * _closed(targets[i:i + 1])[0] - 1
                prev = pose
        return {"actions": actions, "policy_timing": {"infer_ms": 1.0}, "server_timing": {"infer_ms": 1.0}}

    def _roboarena(self, req: dict) -> Any:
        endpoint = need(req, "endpoint")
        if endpoint == "reset":
            self.resets += 1
            return "reset successful"
        if endpoint != "infer":
            raise RequestError(f"ValueError: unknown endpoint {endpoint!r}")
        dz = self.family == "dreamzero"
        keys = (["observation/exterior_image_0_left", "observation/exterior_image_1_left"] if dz
                else ["observation/exterior_image_1_left"]) + ["observation/wrist_image_left"]
        h, w = (180, 320) if dz else (224, 224)
        for key in keys:
            img = need(req, key)
            if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.shape[-3:] != (h, w, 3):
                raise RequestError(f"{key}: expected uint8 (.., {h}, {w}, 3), got {getattr(img, 'shape', img)}")
            if key.endswith("wrist_image_left"):
                self.frame_counts.append(1 if img.ndim == 3 else img.shape[0])
        q = need(req, "observation/joint_position", "f4", (7,))[:N_ARM].astype(float)
        need(req, "observation/gripper_position", "f4", (1,))
        need(req, "prompt")
        if dz:
            session = need(req, "session_id")
            if not isinstance(session, str):
                raise RequestError("session_id must be a str")
            self.sessions.add(session)
        targets = self.brain(q)
        n = 24 if dz else len(targets)
        actions = np.zeros((n, 8), np.float32)
        m = min(n, len(targets))
        actions[:m, :N_ARM] = targets[:m, :N_ARM]
        actions[:m, 7] = _closed(targets)[:m]
        actions[m:] = actions[m - 1]
        return actions if dz else {"actions": actions}

    def _lingbot(self, req: dict) -> Any:
        if req.get("reset"):
            self.resets += 1
            self.prompt = need(req, "prompt")
            self.kv_expected = False  # the cache is cleared: the next chunk is a first one (frame 0 = now)
            return {}
        if req.get("compute_kv_cache"):
            # the real server streams these frames through its VAE (4 frames -> 1 latent frame) beside the
            # action's F frames: 4 camera dicts per executed frame (the first chunk's frame 0 was not executed)
            f, h, first = self.chunk
            want = 4 * (f - 1 if first else f)
            obs = need(req, "obs")
            if not isinstance(obs, list) or len(obs) != want or not all(
                    isinstance(o, dict) and LINGBOT_CAMERAS <= set(o) for o in obs):
                raise RequestError(f"obs must be a list of {want} camera dicts with {sorted(LINGBOT_CAMERAS)} "
                                   f"(got {len(obs) if isinstance(obs, list) else type(obs).__name__})")
            state = need(req, "state")
            if not isinstance(state, np.ndarray) or state.shape != (16, f, h):
                raise RequestError(f"state must be the (16, {f}, {h}) action just returned, got "
                                   f"{getattr(state, 'shape', state)}")
            return {}
        obs = need(req, "obs")
        if not isinstance(obs, dict) or not LINGBOT_CAMERAS <= set(obs):
            raise RequestError(f"obs must be a camera dict with {sorted(LINGBOT_CAMERAS)}")
        if self.prompt is None:  # a restarted server knows no task until it is reset with one
            raise RequestError("RuntimeError: no prompt: send {reset: True, prompt} first")
        f, h = 2, 8
        first, self.kv_expected = not self.kv_expected, True
        self.chunk = (f, h, first)
        q_now = self.arm_state(fresh=first)
        if first:  # the episode's initial pose: the one the first observation shows, which the poses are relative to
            self._start = ROBOT.fk(q_now[:N_ARM])
        targets = self.brain(q_now)
        rows = np.zeros((f * h, 16), np.float32)
        # the first chunk's latent frame 0 is the current observation: its H actions are "now"
        steps = targets if not first else np.vstack([np.repeat(q_now[None], h, axis=0), targets])
        for i in range(f * h):
            q = steps[min(i, len(steps) - 1)]
            pose = ROBOT.fk(q[:N_ARM])
            rows[i, :3] = pose[:3, 3] - self._start[:3, 3]
            rel = self._start[:3, :3].T @ pose[:3, :3]
            w_, x, y, z = transforms3d.quaternions.mat2quat(rel)
            rows[i, 3:7] = [x, y, z, w_]
            rows[i, 7] = _closed(q[None])[0]
            rows[i, 11] = 1.0  # the right arm's quaternion w: identity
        return {"action": np.ascontiguousarray(rows.T.reshape(16, f, h))}


# ------------------------------------------------------------------ Cosmos Policy (HTTP)
def _json_array(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    return {"__numpy__": base64.b64encode(a.tobytes()).decode(), "dtype": a.dtype.str, "shape": list(a.shape)}


def _from_json(v: Any) -> Any:
    if isinstance(v, dict) and "__numpy__" in v:
        return np.frombuffer(base64.b64decode(v["__numpy__"]), dtype=np.dtype(v["dtype"])).reshape(v["shape"])
    if isinstance(v, list):
        return np.asarray(v)
    return v


class CosmosStandIn:
    def __init__(self, brain: Brain, body_override: Callable[[dict], Any] | None = None, port: int = 0) -> None:
        standin = self
        self.brain, self.body_override = brain, body_override
        self.requests: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                if self.path != "/act":
                    self.send_error(404)
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                standin.requests.append(body)
                try:
                    reply = standin.answer(body)
                except Exception:
                    reply = "error"  # Cosmos Policy: HTTP 200 with the body "error"
                if standin.body_override is not None and reply != "error":
                    reply = standin.body_override(reply)
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, body: dict) -> dict:
        for key in ("primary_image", "left_wrist_image", "right_wrist_image"):
            img = _from_json(body[key])
            assert img.dtype == np.uint8 and img.shape == (224, 224, 3), (key, img.dtype, img.shape)
        proprio = _from_json(body["proprio"])
        assert proprio.shape == (14,) and proprio.dtype == np.float32
        assert isinstance(body["task_description"], str)
        targets = self.brain(proprio[:N_ARM].astype(float))
        actions = []
        for i in range(50):
            row = np.zeros(14, np.float32)
            t = targets[min(i, len(targets) - 1)]
            row[:N_ARM] = t[:N_ARM]
            row[6] = 1.0 - _closed(t[None])[0]
            actions.append(_json_array(row))
        future = np.full((224, 224, 3), 77, np.uint8)
        return {"actions": actions, "value_prediction": 0.5,
                "future_image_predictions": {"future_image": _json_array(future),
                                             "future_wrist_image": _json_array(future),
                                             "future_wrist_image2": _json_array(future)}}
