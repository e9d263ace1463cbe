"""RemotePolicy (client) and wam-serve (server) over real websockets on loopback.

Real servers only: ``wam-serve`` in its own process serving the real tiny_wam backend
(random-init checkpoint) and a deterministic EchoPolicy (defined here, served with
``--backend test_remote_policy:EchoPolicy``); a scripted raw websocket server (a thread
in this process) plays a broken policy server, since a real one that sends NaN or
garbage on purpose does not exist.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.server import serve

from wam_ros.policies.base import Observation, PolicyError, PolicySpec, Prediction
from wam_ros.remote import msgpack_numpy as mn
from wam_ros.remote.client import ObservationLayout, RemotePolicy, normalize_url
from wam_ros.remote.server import PolicyServer, is_loopback

REPO = Path(__file__).resolve().parent.parent
JOINTS = ("joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper_finger_joint")
CAMERAS = ("scene", "wrist")
H = 16


class EchoPolicy:
    """Deterministic: action i = q + 0.01 (i + 1); two predicted frames filled with the step index."""

    spec = PolicySpec(JOINTS, CAMERAS, (32, 32), H, 0.1)

    def __init__(self, **kwargs) -> None:
        self.resets = 0
        self.delay = float(kwargs.get("delay", 0.0))

    def infer(self, observation: Observation, decode_frames: bool = True) -> Prediction:
        if observation.instruction == "fail":
            raise PolicyError("asked to fail")
        time.sleep(self.delay)
        q = np.asarray(observation.joint_positions, dtype=np.float64)
        actions = q[None, :] + 0.01 * np.arange(1, H + 1)[:, None]
        frames = offsets = None
        if decode_frames:
            frames = {c: np.stack([np.full((8, 8, 3), k, np.uint8) for k in (1, 2)]) for c in CAMERAS}
            offsets = np.array([0.8, 1.6])
        extras = {"resets": self.resets, "prompt_len": len(observation.instruction), "image_mean": 0.0}
        extras["image_mean"] = float(np.mean(observation.images["scene"]))
        return Prediction(actions, 0.1, frames, offsets, extras)

    def reset(self) -> None:
        self.resets += 1


def obs(size: int = 32, q: float = 0.1, instruction: str = "reach the red cube") -> Observation:
    return Observation(
        images={c: np.full((size, size, 3), 40 + i, np.uint8) for i, c in enumerate(CAMERAS)},
        joint_positions=np.full(len(JOINTS), q),
        instruction=instruction,
        timestamp=12.5,
    )


def expected_actions(q: float = 0.1) -> np.ndarray:
    return np.full((H, len(JOINTS)), q) + 0.01 * np.arange(1, H + 1)[:, None]


def client(url: str, **kw) -> RemotePolicy:
    kw = {"image_size": (32, 32), "action_horizon": H, "action_period": 0.1, **kw}
    return RemotePolicy(url, joint_names=JOINTS, cameras=CAMERAS, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------- wam-serve process
class ServeProcess:
    """``wam-serve`` in its own OS process; ``url`` is parsed from its start-up line."""

    def __init__(self, *args: str, port: int = 0, timeout: float = 90.0) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "test"), os.environ.get("PYTHONPATH", "")])}
        cmd = [sys.executable, "-m", "wam_ros.remote.server", "--port", str(port), *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                                     env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.url = self._wait_for_url(timeout)
        self.port = int(self.url.rsplit(":", 1)[1])

    def _pump(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.put(line)

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.log.append(line)
            if "serving backend" in line:
                return line.split(" on ", 1)[1].split()[0]
        self.stop()
        raise RuntimeError("wam-serve did not start:\n" + "".join(self.log))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture(scope="module")
def echo_server():
    server = ServeProcess("--backend", "test_remote_policy:EchoPolicy", "--max-message-bytes", str(1 << 20))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tiny_wam_checkpoint(tmp_path_factory) -> Path:
    import torch

    from wam_ros.tiny_wam import CheckpointMeta, Normalization, TinyWam, TinyWamConfig, save_checkpoint

    torch.manual_seed(0)
    model = TinyWam(TinyWamConfig(image_size=(32, 32), d_model=32, num_layers=2, num_heads=2, ae_channels=(8, 16, 16),
                                  action_horizon=H, frame_stride=8, num_steps=2))
    meta = CheckpointMeta(JOINTS, CAMERAS, 0.1, model.cfg, Normalization.identity(len(JOINTS)))
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny", model, meta)


# ------------------------------------------------------------ scripted server
SILENT = object()


class ScriptedServer:
    """A raw openpi-protocol websocket server answering request n with replies[n] (a broken server)."""

    def __init__(self, replies: list, metadata: dict | None = None) -> None:
        self.replies = deque(replies)
        self.metadata = metadata if metadata is not None else {}
        self.requests: list = []
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None, max_size=None)
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, conn) -> None:
        conn.send(mn.packb(self.metadata))
        try:
            for message in conn:
                self.requests.append(mn.unpackb(message))
                reply = self.replies.popleft()
                if reply is SILENT:
                    continue
                if isinstance(reply, tuple):  # (delay, reply): answer late
                    time.sleep(reply[0])
                    reply = reply[1]
                conn.send(reply if isinstance(reply, str | bytes) else mn.packb(reply))
        except ConnectionClosed:
            pass

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


def good(q: float = 0.1) -> dict:
    return {"actions": expected_actions(q).astype(np.float32), "server_timing": {"infer_ms": 3.0}}


# ================================================================== layout
def test_default_layout_is_openpi_libero_style_and_key_map_overrides():
    layout = ObservationLayout.create(CAMERAS)
    request = layout.encode(obs())
    assert set(request) == {"observation/image", "observation/wrist_image", "observation/state", "prompt"}
    assert request["observation/state"].dtype == np.float32 and request["prompt"] == "reach the red cube"
    aloha = ObservationLayout.create(CAMERAS, {"image.scene": "images.cam_high", "image.wrist": "images.cam_wrist",
                                               "state": "state", "timestamp": "t"})
    request = aloha.encode(obs())
    assert set(request) == {"images", "state", "prompt", "t"} and set(request["images"]) == {"cam_high", "cam_wrist"}
    back = aloha.decode(mn.unpackb(mn.packb(request)), EchoPolicy.spec)
    np.testing.assert_array_equal(back.images["wrist"], obs().images["wrist"])
    np.testing.assert_allclose(back.joint_positions, obs().joint_positions, rtol=1e-6)
    assert back.timestamp == 12.5 and back.instruction == "reach the red cube"
    with pytest.raises(PolicyError, match="unknown key_map entry 'foo'"):
        ObservationLayout.create(CAMERAS, {"foo": "x"})
    with pytest.raises(PolicyError, match="camera 'top'"):
        ObservationLayout.create(CAMERAS, {"image.top": "x"})
    with pytest.raises(PolicyError, match="duplicate"):
        ObservationLayout.create(CAMERAS, {"state": "prompt"})
    o = obs()
    del o.images["wrist"]
    with pytest.raises(PolicyError, match="lacks camera 'wrist'"):
        layout.encode(o)


def test_url_and_argument_checks():
    assert normalize_url("gpu-box:9000") == "ws://gpu-box:9000"
    assert normalize_url("gpu-box") == "ws://gpu-box:8000"
    assert normalize_url("wss://x:1/p") == "wss://x:1/p"
    with pytest.raises(PolicyError, match="ws:// or wss://"):
        normalize_url("http://x:1")
    with pytest.raises(PolicyError, match="response_timeout"):
        client("ws://127.0.0.1:1", response_timeout=0)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("::")


# =============================================================== wam-serve
def test_remote_client_against_wam_serve_process_with_tiny_wam(tiny_wam_checkpoint):
    server = ServeProcess("--backend", "tiny_wam", "--checkpoint", str(tiny_wam_checkpoint),
                          "--arg", "device=cpu", "--arg", "num_threads=1")
    try:
        policy = client(server.url, response_timeout=30.0)
        p = policy.infer(obs(64), decode_frames=True)  # tiny_wam resizes 64x64 -> its 32x32
        assert policy.server_metadata["backend"] == "tiny_wam"
        assert p.actions.shape == (H, 7) and p.actions.dtype == np.float64 and np.all(np.isfinite(p.actions))
        assert p.action_period == pytest.approx(0.1)
        assert set(p.frames) == set(CAMERAS) and p.frames["scene"].dtype == np.uint8
        assert p.frames["scene"].shape[0] == len(p.frame_offsets) > 0
        assert p.extras["server_infer_ms"] > 0 and p.extras["rtt_ms"] > p.extras["server_infer_ms"]
        assert p.extras["transport_ms"] == pytest.approx(p.extras["rtt_ms"] - p.extras["server_infer_ms"])
        fast = policy.infer(obs(64), decode_frames=False)  # action-only path travels through the protocol
        assert fast.frames is None and fast.actions.shape == (H, 7)
    finally:
        server.stop()


def test_echo_backend_round_trip_timing_reset_and_frames(echo_server):
    policy = client(echo_server.url)
    p = policy.infer(obs(q=0.25))
    np.testing.assert_allclose(p.actions, expected_actions(0.25), rtol=1e-6)
    assert p.actions.flags.writeable
    assert p.extras["server_prompt_len"] == len("reach the red cube") and p.extras["server_image_mean"] == 40.0
    np.testing.assert_array_equal(p.frame_offsets, [0.8, 1.6])
    assert p.frames["wrist"].shape == (2, 8, 8, 3) and p.frames["wrist"][1].max() == 2
    assert policy.infer(obs(), decode_frames=False).frames is None
    assert policy.is_wam_server and policy.server_metadata["spec"]["joint_names"] == list(JOINTS)
    before = policy.infer(obs()).extras["server_resets"]
    policy.reset()
    assert policy.infer(obs()).extras["server_resets"] == before + 1
    adopted = RemotePolicy.from_server(echo_server.url)
    assert adopted.spec == EchoPolicy.spec
    np.testing.assert_allclose(adopted.infer(obs()).actions, expected_actions(), rtol=1e-6)


def test_policy_error_on_server_is_reported_and_connection_survives(echo_server):
    policy = client(echo_server.url)
    with pytest.raises(PolicyError, match=r"server error.*policy error: PolicyError: asked to fail"):
        policy.infer(obs(instruction="fail"))
    np.testing.assert_allclose(policy.infer(obs()).actions, expected_actions(), rtol=1e-6)


def test_spec_mismatch_refused_at_connect_naming_the_field(echo_server):
    with pytest.raises(PolicyError, match=r"joint_names: server \[.*gripper_finger_joint"):
        RemotePolicy(echo_server.url, joint_names=JOINTS[:6], image_size=(32, 32), action_horizon=H).infer(obs())
    with pytest.raises(PolicyError, match="action_horizon: server 16 vs ours 8"):
        client(echo_server.url, action_horizon=8).infer(obs())
    with pytest.raises(PolicyError, match="image_size"):
        client(echo_server.url, image_size=(64, 64)).infer(obs())


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"\xc1\x00garbage", "not a msgpack message"),
        ("hello", "expected a binary msgpack message"),
        (mn.packb([1, 2, 3]), "request must be a map"),
        (mn.packb({"prompt": "x"}), "'observation/image'"),
        (mn.packb({**ObservationLayout.create(CAMERAS).encode(obs()), "observation/state": np.zeros(3)}),
         "shape (7,)"),
        (mn.packb({**ObservationLayout.create(CAMERAS).encode(obs()), "observation/image": np.zeros((4, 4, 3))}),
         "uint8 HxWx3"),
        (mn.packb({**ObservationLayout.create(CAMERAS).encode(obs()), "observation/state": np.full(7, np.nan)}),
         "non-finite"),
        (mn.packb({"__ndarray__": True, "data": b"\0", "dtype": "|O", "shape": [1]}), "not allowed"),
    ],
)
def test_wam_serve_answers_malformed_requests_with_an_error_and_keeps_serving(echo_server, message, reason):
    with connect(echo_server.url, compression=None, proxy=None, open_timeout=5) as ws:  # as openpi's client does
        assert mn.unpackb(ws.recv(timeout=5))["server"] == "wam-serve"
        ws.send(message)
        reply = ws.recv(timeout=5)
        assert isinstance(reply, str) and reply.startswith("bad request:")
        assert reason in reply
        ws.send(mn.packb(ObservationLayout.create(CAMERAS).encode(obs())))  # same connection still works
        np.testing.assert_allclose(mn.unpackb(ws.recv(timeout=5))["actions"], expected_actions(), rtol=1e-6)
    assert echo_server.proc.poll() is None


def test_wam_serve_health_and_metadata_over_http(echo_server):
    base = f"http://127.0.0.1:{echo_server.port}"
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as r:
        assert r.status == 200 and r.read().strip() == b"OK"
    with urllib.request.urlopen(f"{base}/metadata", timeout=5) as r:
        meta = json.loads(r.read())
    assert meta["layout"]["image.scene"] == "observation/image" and meta["max_message_bytes"] == 1 << 20


def test_oversize_messages_are_refused_both_ways(echo_server):
    # 1) the client refuses to send over the server's announced cap, and its connection stays usable
    policy = client(echo_server.url)
    with pytest.raises(PolicyError, match="observation message too big"):
        policy.infer(obs(size=600))  # 2 x 600x600x3 = 2.1 MB > 1 MiB
    assert policy.connected
    np.testing.assert_allclose(policy.infer(obs()).actions, expected_actions(), rtol=1e-6)
    # 2) the server refuses an oversize message from a client that ignores the cap (close code 1009)
    with connect(echo_server.url, compression=None, proxy=None, max_size=None) as ws:
        ws.recv(timeout=5)
        ws.send(b"\0" * ((1 << 20) + 1))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd.code == 1009
    assert echo_server.proc.poll() is None
    # 3) the client refuses an oversize response
    big = ScriptedServer([{**good(), "pad": b"\0" * 300_000}, good(0.3)])
    try:
        small = client(big.url, max_message_bytes=200_000)
        with pytest.raises(PolicyError, match="message too big"):
            small.infer(obs())
        np.testing.assert_allclose(small.infer(obs()).actions, expected_actions(0.3), rtol=1e-6)  # reconnected
    finally:
        big.close()


# ===================================================== broken server responses
BAD_RESPONSES = [
    (b"\x00\xc1 not msgpack", "malformed response"),
    (mn.packb([1, 2]), "malformed response: a list"),
    ({"act": np.zeros((H, 7))}, "no 'actions'"),
    ({"actions": expected_actions().tolist()}, "'actions' is a list"),
    ({"actions": np.where(np.eye(H, 7) > 0, np.nan, 0.0)}, "non-finite actions"),
    ({"actions": np.full((H, 7), np.inf, np.float32)}, "non-finite actions"),
    ({"actions": np.zeros((H, 6))}, "6 values per step, expected 7 joints"),
    ({"actions": np.zeros((H + 2, 7))}, "horizon 18, expected 16"),
    ({"actions": np.zeros(7)}, "wrong shape"),
    ({"actions": np.zeros((H, 7), np.int64)}, "wrong dtype"),
    ({"actions": np.zeros((H, 7)), "action_period": -1.0}, "action_period"),
    ({"actions": np.zeros((H, 7)), "frames": {"scene": np.zeros((2, 4, 4, 3))}, "frame_offsets": np.ones(2)},
     "predicted frames for 'scene' must be uint8"),
    (b"\x81\xa7actions\x84\xc4\x0b__ndarray__\xc3\xc4\x04data\xc4\x01\x00\xc4\x05dtype\xa3<f8\xc4\x05shape\x92\x10\x07",
     "needs 896"),
    ("Traceback: CUDA out of memory", "server error.*CUDA out of memory"),
]


def test_broken_responses_are_rejected_naming_the_problem_and_never_stale():
    server = ScriptedServer([item for bad, _ in BAD_RESPONSES for item in (bad, good(0.5))])
    try:
        policy = client(server.url)
        for _bad, reason in BAD_RESPONSES:
            with pytest.raises(PolicyError, match=reason):
                policy.infer(obs())
            p = policy.infer(obs())  # the connection stays in step: the next reply is the fresh one
            np.testing.assert_allclose(p.actions, expected_actions(0.5), rtol=1e-6)
            assert p.extras["server_infer_ms"] == 3.0
        assert policy.stats.failures == len(BAD_RESPONSES)
    finally:
        server.close()


def test_openpi_style_server_without_metadata_spec_is_validated_per_response():
    server = ScriptedServer([good(0.2)], metadata={"policy": "pi05_droid"})  # openpi servers send their own map
    try:
        policy = client(server.url)
        np.testing.assert_allclose(policy.infer(obs()).actions, expected_actions(0.2), rtol=1e-6)
        request = server.requests[0]
        assert set(request) == {"observation/image", "observation/wrist_image", "observation/state", "prompt"}
    finally:
        server.close()


def test_response_timeout_drops_connection_so_a_late_reply_is_never_used():
    server = ScriptedServer([(1.0, good(0.9)), good(0.4)])
    try:
        policy = client(server.url, response_timeout=0.3)
        t0 = time.monotonic()
        with pytest.raises(PolicyError, match=r"timeout: no response .* within 0.3 s"):
            policy.infer(obs())
        assert time.monotonic() - t0 < 0.9 and not policy.connected
        np.testing.assert_allclose(policy.infer(obs()).actions, expected_actions(0.4), rtol=1e-6)
    finally:
        server.close()


# ======================================================== server down / back
def test_server_that_never_handshakes_fails_fast_with_connect_timeout():
    with socket.socket() as s:  # accepts TCP (backlog) but never speaks websocket
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        policy = client(f"ws://127.0.0.1:{s.getsockname()[1]}", connect_timeout=0.3)
        t0 = time.monotonic()
        with pytest.raises(PolicyError, match="cannot connect"):
            policy.infer(obs())
        assert time.monotonic() - t0 < 1.5


def test_server_down_fails_fast_backs_off_then_reconnects_when_it_returns(echo_server):
    port = free_port()
    policy = client(f"ws://127.0.0.1:{port}", connect_timeout=0.5, backoff_initial=0.5, backoff_max=0.5)
    t0 = time.monotonic()
    with pytest.raises(PolicyError, match="cannot connect to policy server"):
        policy.infer(obs())
    assert time.monotonic() - t0 < 0.5
    t0 = time.monotonic()
    with pytest.raises(PolicyError, match="next reconnect attempt in"):  # back-off: no new attempt yet
        policy.infer(obs())
    assert time.monotonic() - t0 < 0.05
    server = ServeProcess("--backend", "test_remote_policy:EchoPolicy", port=port)
    try:
        time.sleep(0.6)
        np.testing.assert_allclose(policy.infer(obs()).actions, expected_actions(), rtol=1e-6)
        # the server dies while connected: one PolicyError, no chunk
        server.stop()
        with pytest.raises(PolicyError, match=r"connection (closed|lost|to policy server)|cannot connect"):
            policy.infer(obs())
        # ... and comes back on the same port: the client reconnects by itself
        server = ServeProcess("--backend", "test_remote_policy:EchoPolicy", port=port)
        deadline = time.monotonic() + 5
        while True:
            try:
                p = policy.infer(obs(q=0.3))
                break
            except PolicyError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        np.testing.assert_allclose(p.actions, expected_actions(0.3), rtol=1e-6)
        assert policy.stats.connects == 2
    finally:
        server.stop()


# ================================================================== the CLI
def test_cli_refuses_unknown_backend_and_warns_on_all_interfaces():
    r = subprocess.run([sys.executable, "-m", "wam_ros.remote.server", "--backend", "nope", "--host", "0.0.0.0"],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 2
    assert "WARNING: wam-serve is binding to 0.0.0.0" in r.stderr and "NO authentication" in r.stderr
    assert "unknown policy backend 'nope'" in r.stderr
    r = subprocess.run([sys.executable, "-m", "wam_ros.remote.server", "--backend", "x", "--max-message-bytes", "5"],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 2 and "at least 1024" in r.stderr


def test_in_process_server_serves_a_policy_object():
    with PolicyServer(EchoPolicy(), port=0) as server:
        assert server.url.startswith("ws://127.0.0.1:")
        p = client(server.url).infer(obs(q=0.7))
        np.testing.assert_allclose(p.actions, expected_actions(0.7), rtol=1e-6)
        assert server.requests == 1 and server.bad_requests == 0


def test_unserialisable_prediction_becomes_an_error_reply_not_a_dead_connection():
    class HugeExtras(EchoPolicy):
        def infer(self, observation, decode_frames=True):
            p = super().infer(observation, decode_frames)
            p.extras["huge"] = 2**70 if observation.instruction == "huge" else 1
            return p

    with PolicyServer(HugeExtras(), port=0) as server:
        policy = client(server.url)
        with pytest.raises(PolicyError, match="cannot be serialised"):
            policy.infer(obs(instruction="huge"))
        assert policy.infer(obs()).extras["server_huge"] == 1 and server.policy_errors == 1


def test_cli_checks_the_batching_options_and_a_shared_state_backend_says_so(echo_server):
    for option, value, message in (("--max-batch", "0", "--max-batch must be >= 1"),
                                   ("--batch-window-ms", "-1", "--batch-window-ms must be in [0, 1000]"),
                                   ("--max-sessions", "0", "--max-sessions must be >= 1")):
        r = subprocess.run([sys.executable, "-m", "wam_ros.remote.server", "--backend", "x", option, value],
                           capture_output=True, text=True, cwd=REPO, timeout=60)
        assert r.returncode == 2 and message in r.stderr, r.stderr
    policy = client(echo_server.url)
    meta = policy.connect()
    policy.close()
    # EchoPolicy has no sessions: one episode state for every client, said in the metadata
    assert meta["sessions"] == "shared" and meta["batching"]["batched_backend"] is False
    assert meta["batching"]["max_batch"] == 8 and meta["batching"]["window_ms"] == 5.0
