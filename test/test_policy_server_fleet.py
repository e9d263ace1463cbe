"""Many robots, one server: per-client sessions and batched inference in wam-serve.

Real servers only: ``wam-serve`` in its own process serving the real tiny_wam backend
(a random-init checkpoint with two context frames, so the frame history matters) and
BatchEcho (defined here: a backend with sessions and a batched path whose replies say
which session ran and in how big a batch), with RemotePolicy clients in threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from test_remote_policy import CAMERAS, JOINTS, ServeProcess, client

from wam_ros.policies.base import Observation, Policy, PolicyError, PolicySpec, Prediction
from wam_ros.policies.tiny_wam_policy import TinyWamPolicy
from wam_ros.remote.batching import Batcher, SessionBackend, SessionPolicy
from wam_ros.remote.server import PolicyServer

H = 16


# ------------------------------------------------------------------ backends
class EchoSession:
    def __init__(self) -> None:
        self.calls = 0
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1
        self.calls = 0


class BatchEcho(Policy):
    """Action i = q + 0.01 (i + 1); extras: this session's calls and resets, and the batch it ran in."""

    spec = PolicySpec(JOINTS, CAMERAS, (32, 32), H, 0.1)

    def __init__(self, delay: float = 0.05, **_: object) -> None:
        self.delay = float(delay)
        self._own = EchoSession()

    def new_session(self) -> EchoSession:
        return EchoSession()

    def reset(self) -> None:
        self._own.reset()

    def infer(self, observation: Observation, decode_frames: bool = True) -> Prediction:
        result = self.infer_batch([(observation, self._own)], decode_frames)[0]
        if isinstance(result, Exception):
            raise result
        return result

    def infer_batch(self, requests, decode_frames=True):
        threading.Event().wait(self.delay)  # one "forward pass" per batch
        out: list[Prediction | Exception] = []
        for observation, session in requests:
            if observation.instruction == "fail":
                out.append(PolicyError("asked to fail"))
                continue
            session.calls += 1
            q = np.asarray(observation.joint_positions, dtype=np.float64)
            actions = q[None, :] + 0.01 * np.arange(1, H + 1)[:, None]
            out.append(Prediction(actions, 0.1, None, None,
                                  {"calls": session.calls, "resets": session.resets, "in_batch": len(requests)}))
        return out


def make_obs(k: int, step: int, size: int = 32, instruction: str = "reach the red cube") -> Observation:
    """Client k's observation at ``step``: distinct images and joints per client and step."""
    rng = np.random.default_rng(1000 * k + step)
    return Observation(
        images={c: rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for c in CAMERAS},
        joint_positions=rng.uniform(-0.5, 0.5, len(JOINTS)),
        instruction=instruction,
        timestamp=float(step),
    )


def in_threads(n: int, work: Callable[[int], object]) -> list:
    """work(0..n-1) each in its own thread; the results in order (an exception is re-raised)."""
    results: list = [None] * n

    def run(k: int) -> None:
        try:
            results[k] = work(k)
        except BaseException as exc:  # handed to the test thread
            results[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from wam_ros.tiny_wam import CheckpointMeta, Normalization, TinyWam, TinyWamConfig, save_checkpoint

    torch.manual_seed(0)
    model = TinyWam(TinyWamConfig(image_size=(32, 32), d_model=32, num_layers=2, num_heads=2, ae_channels=(8, 16, 16),
                                  action_horizon=H, frame_stride=8, num_steps=2, context_frames=2))
    meta = CheckpointMeta(JOINTS, CAMERAS, 0.1, model.cfg, Normalization.identity(len(JOINTS)))
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny", model, meta)


def reference(checkpoint: Path, observations: list[Observation | None], decode_frames: bool) -> list[Prediction]:
    """What one robot alone gets from a fresh in-process policy (None in the list = a reset)."""
    policy = TinyWamPolicy(checkpoint, device="cpu", noise_scale=1.0, seed=3, num_threads=1)
    out = []
    for o in observations:
        if o is None:
            policy.reset()
        else:
            out.append(policy.infer(o, decode_frames=decode_frames))
    return out


def assert_same_chunk(got: Prediction, want: Prediction) -> None:
    np.testing.assert_allclose(got.actions, want.actions, atol=1e-5, rtol=0)
    if want.frames is not None:
        for cam in CAMERAS:  # uint8 frames: float rounding may move a pixel by one level
            diff = np.abs(got.frames[cam].astype(int) - want.frames[cam].astype(int))
            assert diff.max() <= 1, cam


# ====================================================== the batched model path
def test_model_sample_with_given_noise_is_the_generators_draw(checkpoint):
    policy = TinyWamPolicy(checkpoint, device="cpu")
    m, cfg = policy.model, policy.model.cfg
    images = torch.rand(2, cfg.num_cameras, cfg.context_frames, 3, 32, 32) * 2 - 1
    state, text = torch.zeros(2, 7), torch.ones(2, cfg.max_text_tokens, dtype=torch.long)
    a1, f1 = m.sample(images, state, text, 2, True, torch.Generator().manual_seed(5), 1.0)
    noise = m.draw_noise(2, True, torch.Generator().manual_seed(5))
    a2, f2 = m.sample(images, state, text, 2, True, None, 1.0, noise=noise)
    torch.testing.assert_close(a1, a2, rtol=0, atol=0)
    torch.testing.assert_close(f1, f2, rtol=0, atol=0)
    with pytest.raises(ValueError, match="noise does not fit"):
        m.sample(images, state, text, 2, False, None, 1.0, noise=noise)


@pytest.mark.parametrize("decode_frames", [False, True])
def test_infer_batch_gives_each_session_its_unbatched_chunk(checkpoint, decode_frames):
    """Three robots, three steps each, one forward pass per step; robot 1 resets before its last step."""
    n = 3
    plans = [[make_obs(k, s) for s in range(3)] for k in range(n)]
    plans[1].insert(2, None)
    want = [reference(checkpoint, plan, decode_frames) for plan in plans]
    policy = TinyWamPolicy(checkpoint, device="cpu", noise_scale=1.0, seed=3, num_threads=1)
    assert isinstance(policy, SessionPolicy)
    sessions = [policy.new_session() for _ in range(n)]
    for step in range(3):
        if step == 2:
            sessions[1].reset()
        got = policy.infer_batch([(make_obs(k, step), sessions[k]) for k in range(n)], decode_frames)
        for k in range(n):
            assert got[k].extras["batch_size"] == n
            assert (got[k].frames is not None) == decode_frames
            assert_same_chunk(got[k], want[k][step])
    # the chunks differ between robots (each its own observations, history and noise)
    assert not np.allclose(got[0].actions, got[2].actions)


def test_infer_batch_answers_a_bad_request_alone(checkpoint):
    policy = TinyWamPolicy(checkpoint, device="cpu", noise_scale=1.0, seed=3, num_threads=1)
    a, b, c = policy.new_session(), policy.new_session(), policy.new_session()
    nan = make_obs(1, 0)
    nan.joint_positions = np.full(7, np.nan)
    blind = make_obs(2, 0)
    del blind.images["wrist"]
    got = policy.infer_batch([(make_obs(0, 0), a), (nan, b), (blind, c), (make_obs(3, 0), a)], False)
    assert_same_chunk(got[0], reference(checkpoint, [make_obs(0, 0)], False)[0])
    assert isinstance(got[1], PolicyError) and "finite" in str(got[1])
    assert isinstance(got[2], PolicyError) and "lacks camera 'wrist'" in str(got[2])
    assert isinstance(got[3], PolicyError) and "only one request" in str(got[3])
    assert got[0].extras["batch_size"] == 1
    # the refused requests left their sessions untouched: b's first real chunk is its unbatched first chunk
    assert_same_chunk(policy.infer_batch([(make_obs(1, 5), b)], False)[0],
                      reference(checkpoint, [make_obs(1, 5)], False)[0])


# ============================================== wam-serve with tiny_wam, many robots
@pytest.mark.parametrize("max_batch", [1, 8])
def test_wam_serve_gives_every_robot_its_own_episode(checkpoint, max_batch):
    """Four RemotePolicy clients step together; robot 1 resets mid-way. Batched or not, each robot
    gets exactly the chunks it would get alone (history, reset and noise are its own); batched,
    the four requests of a step share one forward pass."""
    n, steps = 4, 3
    server = ServeProcess("--backend", "tiny_wam", "--checkpoint", str(checkpoint), "--arg", "device=cpu",
                          "--arg", "num_threads=1", "--arg", "noise_scale=1.0", "--arg", "seed=3",
                          "--max-batch", str(max_batch), "--batch-window-ms", "1000")
    barrier = threading.Barrier(n)

    def robot(k: int) -> list[Prediction]:
        policy = client(server.url, response_timeout=60.0)
        policy.connect()  # all connected before the first step: a batch waits for every connected robot
        out = []
        for step in range(steps):
            if k == 1 and step == 2:
                policy.reset()
            barrier.wait(60)
            out.append(policy.infer(make_obs(k, step, size=48), decode_frames=True))  # server resizes to 32
        policy.close()
        return out

    try:
        got = in_threads(n, robot)
    finally:
        server.stop()
    for k in range(n):
        plan: list[Observation | None] = [make_obs(k, s, size=48) for s in range(steps)]
        if k == 1:
            plan.insert(2, None)
        for step, want in enumerate(reference(checkpoint, plan, True)):
            assert_same_chunk(got[k][step], want)
    sizes = {p.extras["server_batch_size"] for preds in got for p in preds}
    assert sizes == ({1} if max_batch == 1 else {n})


# ================================================== sessions and batches (BatchEcho)
@pytest.fixture(scope="module")
def echo_fleet():
    server = ServeProcess("--backend", "test_policy_server_fleet:BatchEcho", "--max-batch", "8",
                          "--batch-window-ms", "500")
    yield server
    server.stop()


def test_metadata_announces_per_client_sessions_and_batching(echo_fleet):
    policy = client(echo_fleet.url)
    meta = policy.connect()
    policy.close()
    assert meta["sessions"] == "per_client" and "session_id" in meta["supports"]
    assert meta["batching"] == {"max_batch": 8, "window_ms": 500.0, "batched_backend": True}


def test_a_reset_from_one_client_does_not_touch_another(echo_fleet):
    a, b = client(echo_fleet.url), client(echo_fleet.url)
    for _ in range(3):
        a.infer(make_obs(0, 0))
    assert b.infer(make_obs(1, 0)).extras["server_calls"] == 1
    b.reset()
    p = a.infer(make_obs(0, 1))
    assert (p.extras["server_calls"], p.extras["server_resets"]) == (4, 0)
    p = b.infer(make_obs(1, 1))
    assert (p.extras["server_calls"], p.extras["server_resets"]) == (1, 1)
    a.close()  # a new connection is a new session
    assert a.infer(make_obs(0, 2)).extras["server_calls"] == 1
    a.close()
    b.close()


def test_a_named_session_outlives_its_connection_and_is_reset_by_name(echo_fleet):
    robot = client(echo_fleet.url, extra_fields={"session_id": "robot-7"})
    robot.infer(make_obs(0, 0))
    robot.infer(make_obs(0, 1))
    robot.close()
    again = client(echo_fleet.url, extra_fields={"session_id": "robot-7"})
    assert again.infer(make_obs(0, 2)).extras["server_calls"] == 3
    other = client(echo_fleet.url)
    assert other.infer(make_obs(1, 0)).extras["server_calls"] == 1
    again.reset()  # the connection named robot-7: its reset resets robot-7
    p = again.infer(make_obs(0, 3))
    assert (p.extras["server_calls"], p.extras["server_resets"]) == (1, 1)
    assert other.infer(make_obs(1, 1)).extras["server_calls"] == 2
    bad = client(echo_fleet.url, extra_fields={"session_id": 7})
    with pytest.raises(PolicyError, match="'session_id' must be a non-empty string"):
        bad.infer(make_obs(2, 0))
    for p in (robot, again, other, bad):
        p.close()


def test_concurrent_requests_share_one_call_and_an_error_answers_only_its_client(echo_fleet):
    n = 4
    policies = [client(echo_fleet.url) for _ in range(n)]
    for p in policies:
        p.connect()
    barrier = threading.Barrier(n)

    def robot(k: int) -> object:
        barrier.wait(30)
        try:
            return policies[k].infer(make_obs(k, 0, instruction="fail" if k == 2 else "go"))
        except PolicyError as exc:
            return str(exc)

    results = in_threads(n, robot)
    assert isinstance(results[2], str) and "server error" in results[2]
    assert "policy error: PolicyError: asked to fail" in results[2]
    for k in (0, 1, 3):
        assert results[k].extras["server_in_batch"] == n and results[k].extras["server_batch_size"] == n
        np.testing.assert_allclose(results[k].actions[0], make_obs(k, 0).joint_positions + 0.01, rtol=1e-6)
    assert policies[2].infer(make_obs(2, 1)).extras["server_calls"] == 1  # its connection survived
    for p in policies:
        p.close()


def test_a_lone_client_does_not_wait_for_the_window(echo_fleet):
    policy = client(echo_fleet.url)
    policy.infer(make_obs(0, 0))
    p = policy.infer(make_obs(0, 1))
    # the window is 500 ms, but nobody else is connected to join the batch: it starts at once
    assert p.extras["server_batch_size"] == 1 and p.extras["server_queue_ms"] < 100.0
    assert p.extras["rtt_ms"] < 400.0
    policy.close()


# ====================================================== the batcher in-process
def test_batches_respect_max_batch_and_keep_one_request_per_session():
    backend = SessionBackend(BatchEcho(delay=0.02))
    batcher = Batcher(backend, max_batch=2, window_s=0.3, clients=lambda: 5)
    shared = backend.new_session()
    sessions = [backend.new_session() for _ in range(3)] + [shared, shared]
    try:
        outcomes = in_threads(5, lambda k: batcher.submit(sessions[k], make_obs(k, 0), False))
    finally:
        batcher.close()
    assert all(o.batch_size <= 2 for o in outcomes) and batcher.batches >= 3
    assert sorted(o.result.extras["calls"] for o in outcomes[3:]) == [1, 2]  # the shared session ran twice, in turn
    assert shared.calls == 2


def test_a_backend_without_sessions_is_served_with_shared_state_one_request_at_a_time():
    class Plain(Policy):
        spec = BatchEcho.spec

        def __init__(self) -> None:
            self.inner = BatchEcho(delay=0.0)

        def infer(self, observation, decode_frames=True):
            return self.inner.infer(observation, decode_frames)

        def reset(self) -> None:
            self.inner.reset()

    with PolicyServer(Plain(), port=0, max_batch=4) as server:
        assert server.metadata["sessions"] == "shared"
        assert server.metadata["batching"]["batched_backend"] is False
        p = client(server.url).infer(make_obs(0, 0))
        np.testing.assert_allclose(p.actions[0], make_obs(0, 0).joint_positions + 0.01, rtol=1e-6)
        assert p.extras["server_batch_size"] == 1


def test_server_options_are_checked():
    with pytest.raises(ValueError, match="max_batch"):
        PolicyServer(BatchEcho(), port=0, max_batch=0)
    with pytest.raises(ValueError, match="batch_window_ms"):
        PolicyServer(BatchEcho(), port=0, batch_window_ms=-1)
