"""Server profiles against stand-ins of each WAM family's own server (issue 18).

Each stand-in (test/wam_server_standins.py) reads requests as the real server does and answers in
its own action space, computed with its own maths; the client must turn that back into the joint
chunk the stand-in's brain meant. Bad replies of every kind give a named PolicyError and no chunk.
Real servers over real sockets on 127.0.0.1; nothing is mocked.
"""

from __future__ import annotations

import numpy as np
import pytest
from wam_server_standins import CosmosStandIn, WsStandIn, packb

from wam_ros.policies.base import Observation, PolicyError
from wam_ros.remote.profile_policy import ProfilePolicy
from wam_ros.remote.profiles import ProfileError, ServerProfile, prepare_image
from wam_ros.robot.model import RobotModel

ROBOT = RobotModel.load()
Q0 = np.array([0.1, -0.4, 0.9, 0.0, 0.6, 0.2, 0.04])
OFFSET = np.array([0.25, 0.15, -0.2, 0.1, -0.15, 0.2, -0.02])


def brain(q: np.ndarray | None, n: int = 12) -> np.ndarray:
    """A smooth joint chunk from ``q`` (arm) with the gripper closing half way."""
    start = Q0.copy()
    if q is not None:
        start[:6] = q[:6]
    frac = np.linspace(1 / n, 1.0, n)[:, None]
    return start + frac * OFFSET


def observation(rng: np.random.Generator | None = None) -> Observation:
    rng = rng or np.random.default_rng(0)
    return Observation(images={"scene": rng.integers(0, 255, (240, 320, 3), np.uint8),
                               "wrist": rng.integers(0, 255, (240, 320, 3), np.uint8)},
                       joint_positions=Q0.copy(), instruction="reach the red cube", timestamp=1.0)


def _expected(profile: ServerProfile) -> np.ndarray:
    want = brain(Q0)
    n = profile.execute or profile.horizon or len(want)
    if len(want) < n:  # the stand-ins hold the brain's last step
        want = np.vstack([want, np.repeat(want[-1:], n - len(want), axis=0)])
    return want[:n]


WS_FAMILIES = {"openpi_libero": "openpi_libero", "openpi_droid": "openpi_droid", "openpi_aloha": "openpi_aloha",
               "roboarena": "roboarena", "dreamzero": "dreamzero"}


@pytest.mark.parametrize("name", sorted(WS_FAMILIES))
def test_websocket_profiles_turn_the_servers_actions_into_the_meant_joint_chunk(name):
    profile = ServerProfile.load(name)
    server = WsStandIn(WS_FAMILIES[name], brain)
    server.q_true = Q0.copy()
    policy = ProfilePolicy(profile, ROBOT, url=server.url)
    try:
        pred = policy.infer(observation())
    finally:
        policy.close()
        server.close()
    want = _expected(profile)
    assert pred.actions.shape == want.shape
    tol = 2e-3 if profile.action_space.is_cartesian else 1e-4
    np.testing.assert_allclose(pred.actions[:, :6], want[:, :6], atol=tol)
    np.testing.assert_allclose(pred.actions[:, 6], want[:, 6], atol=1e-4) if not \
        profile.action_space.gripper.binarize else None
    assert pred.action_period == pytest.approx(profile.period)
    assert pred.frames is None and pred.extras["predicted_frames"] == "none from this server"


def test_droid_gripper_is_binarised_and_velocities_integrate_from_the_state():
    server = WsStandIn("openpi_droid", brain)
    policy = ProfilePolicy("openpi_droid", ROBOT, url=server.url)
    try:
        pred = policy.infer(observation())
    finally:
        policy.close()
        server.close()
    lo, hi = ROBOT.limits()["lower"][6], ROBOT.limits()["upper"][6]
    assert set(np.round(pred.actions[:, 6], 6)) <= {round(lo, 6), round(hi, 6)}
    req = server.requests[0]
    assert req["observation/joint_position"].shape == (7,) and req["observation/joint_position"][6] == 0.0


def test_dreamzero_is_stateful_one_frame_then_four_a_session_and_reset():
    server = WsStandIn("dreamzero", brain)
    policy = ProfilePolicy("dreamzero", ROBOT, url=server.url)
    try:
        for _ in range(3):
            policy.infer(observation())
        first_session = set(server.sessions)
        policy.reset()
        policy.infer(observation())
    finally:
        policy.close()
        server.close()
    assert server.frame_counts == [1, 4, 4, 1]  # after a reset the server starts from one frame again
    assert server.resets == 1 and len(first_session) == 1 and len(server.sessions) == 2


def _lingbot_standin(port: int = 0) -> tuple[WsStandIn, ProfilePolicy]:
    """LingBot-VA's stand-in (the arm at Q0, its requests carry no state) and a client of it."""
    server = WsStandIn("lingbot_va", brain, port=port)
    server.q_true = Q0.copy()
    return server, ProfilePolicy("lingbot_va", ROBOT, url=server.url)


def test_lingbot_va_sequence_reset_obs_then_kv_cache_with_the_executed_action():
    server, policy = _lingbot_standin()
    obs1, obs2, obs3 = (observation(np.random.default_rng(i)) for i in range(3))
    obs2.timestamp, obs3.timestamp = 1.25, 2.1  # obs1 at 1.0
    try:
        first = policy.infer(obs1)
        second = policy.infer(obs2)
        policy.infer(obs3)
    finally:
        policy.close()
        server.close()
    kinds = ["reset" if r.get("reset") else "kv" if r.get("compute_kv_cache") else "obs" for r in server.requests]
    assert kinds == ["reset", "obs", "kv", "obs", "kv", "obs"]
    assert server.requests[2]["state"].shape == (16, 2, 8)
    want = brain(Q0)
    # the first chunk skips frame index 0 (the current pose): 16 - 8 rows, then the whole next chunk
    assert first.actions.shape == (8, 7) and second.actions.shape == (16, 7)
    fk = np.array([ROBOT.fk(q[:6])[:3, 3] for q in first.actions])
    np.testing.assert_allclose(fk, [ROBOT.fk(q[:6])[:3, 3] for q in want[:8]], atol=1e-4)
    # kv-cache calls carry 4 camera dicts per executed latent frame, captured every H/4 = 2 actions (0.1 s):
    # the first chunk executed 1 frame (due 1.1 .. 1.4 s: obs1 until obs2 arrived at 1.25), the second 2
    # (due 1.35 .. 2.05 s: all before obs3, so obs2's frames)
    high = "observation.images.cam_high"
    frame_1, frame_2 = server.requests[1]["obs"][high], server.requests[3]["obs"][high]  # as prepared for obs
    sent = [["1" if np.array_equal(d[high], frame_1) else "2" if np.array_equal(d[high], frame_2) else "?"
             for d in r["obs"]] for r in server.requests if r.get("compute_kv_cache")]
    assert sent == [["1", "1", "2", "2"], ["2"] * 8]
    # what each call exchanged: reset + obs, then the kv-cache call (4 camera dicts) + obs
    image_bytes = 3 * 256 * 320 * 3  # the profile stretches to the server's 256x320
    assert first.extras["messages"] == 2 and second.extras["messages"] == 2
    assert image_bytes < first.extras["request_bytes"] < 1.1 * image_bytes
    assert 5 * image_bytes < second.extras["request_bytes"] < 5.5 * image_bytes
    assert second.extras["response_bytes"] > 16 * 2 * 8 * 4  # the (16, 2, 8) float32 action
    assert 0 < second.extras["rtt_ms"] <= second.extras["call_ms"]


def test_lingbot_va_a_new_episode_on_the_same_connection_starts_from_the_current_pose():
    """After a reset the server's cache is empty: its next chunk is a first one again (frame 0 = now).

    Regression (issue 18): the stand-in kept its "kv cache expected" state across resets, so the
    client's skip of frame 0 dropped H real steps and every later episode's first chunk started
    0.4 s ahead of the arm; through the graph the bridge faulted on the wrist's tracking error.
    """
    server, policy = _lingbot_standin()
    try:
        first = policy.infer(observation())
        policy.infer(observation())
        policy.reset()
        again = policy.infer(observation())
    finally:
        policy.close()
        server.close()
    kinds = ["reset" if r.get("reset") else "kv" if r.get("compute_kv_cache") else "obs" for r in server.requests]
    assert kinds == ["reset", "obs", "kv", "obs", "reset", "obs"]  # no kv-cache call carries over a reset
    np.testing.assert_allclose(again.actions, first.actions, atol=1e-6)
    # the episode's first target is the brain's first step, within one step of the measured pose
    np.testing.assert_allclose(again.actions[0, :6], brain(Q0)[0, :6], atol=2e-3)


def test_lingbot_va_after_a_server_restart_the_conversation_starts_over():
    """A restarted server has no prompt and no cache: the client's new connection begins with reset + prompt,
    and the episode restarts with it (frame 0 skipped again, poses anchored at the current one)."""
    server, policy = _lingbot_standin()
    try:
        first = policy.infer(observation())
        policy.infer(observation())
        policy.close()  # the connection ends with the server process
        server.close()
        server = _lingbot_standin(port=server.port)[0]  # the same address, a fresh server
        again = policy.infer(observation())
    finally:
        policy.close()
        server.close()
    kinds = ["reset" if r.get("reset") else "kv" if r.get("compute_kv_cache") else "obs" for r in server.requests]
    assert kinds == ["reset", "obs"]
    assert server.requests[0]["prompt"] == "reach the red cube"
    np.testing.assert_allclose(again.actions, first.actions, atol=1e-6)


def test_cosmos_over_http_json_with_predicted_frames():
    server = CosmosStandIn(brain)
    policy = ProfilePolicy("cosmos_policy", ROBOT, url=server.url)
    try:
        pred = policy.infer(observation())
    finally:
        server.close()
    want = _expected(ServerProfile.load("cosmos_policy"))
    np.testing.assert_allclose(pred.actions[:, :6], want[:, :6], atol=1e-5)
    assert set(pred.frames) == {"scene", "wrist"} and pred.frames["scene"].shape == (1, 224, 224, 3)
    assert server.requests[0]["task_description"] == "reach the red cube"
    assert pred.extras["messages"] == 1
    assert pred.extras["request_bytes"] > 3 * 224 * 224 * 3 * 4 / 3  # three base64 images in the JSON body
    assert pred.extras["response_bytes"] > 3 * 224 * 224 * 3 * 4 / 3  # three predicted frames


# ------------------------------------------------------------------ bad replies
def _bad(reply_override, family="openpi_droid", profile="openpi_droid", match=""):
    server = WsStandIn(family, brain, reply_override=reply_override)
    policy = ProfilePolicy(profile, ROBOT, url=server.url, response_timeout=1.0)
    try:
        with pytest.raises(PolicyError, match=match):
            policy.infer(observation())
    finally:
        policy.close()
        server.close()


def test_wrong_shape_nan_and_layout_mismatches_are_named():
    _bad(lambda r: {**r, "actions": r["actions"][:, :5]}, match="columns")
    _bad(lambda r: {**r, "actions": np.full_like(r["actions"], np.nan)}, match="non-finite")
    _bad(lambda r: r["actions"], match="expected a map with 'actions'")  # bare array where a map is expected
    _bad(lambda r: {"actions": r}, family="dreamzero", profile="dreamzero", match="expected a bare action array")
    _bad(lambda r: packb({"actions": "no"}), match="expected a float array")


def test_server_error_text_frame_and_timeout_are_named():
    server = WsStandIn("roboarena", brain)
    policy = ProfilePolicy("openpi_droid", ROBOT, url=server.url)  # a request without 'endpoint'
    try:
        with pytest.raises(PolicyError, match=r"(?s)server error.*endpoint"):
            policy.infer(observation())
    finally:
        policy.close()
        server.close()
    slow = WsStandIn("openpi_aloha", brain, delay=1.5)
    policy = ProfilePolicy("openpi_aloha", ROBOT, url=slow.url, response_timeout=0.5)
    try:
        with pytest.raises(PolicyError, match="timeout"):
            policy.infer(observation())
    finally:
        policy.close()
        slow.close()


def test_cosmos_error_body_and_unreachable_server_are_named():
    server = CosmosStandIn(brain, body_override=lambda r: "error")
    with pytest.raises(PolicyError, match="server error"):
        ProfilePolicy("cosmos_policy", ROBOT, url=server.url).infer(observation())
    server.close()
    with pytest.raises(PolicyError, match="cannot reach"):
        ProfilePolicy("cosmos_policy", ROBOT, url=server.url, response_timeout=0.5).infer(observation())


def test_switching_family_at_the_same_address_is_the_profile_alone():
    """The node's settings with only server_profile changed reach each family's server at remote_url:
    the profile decides the transport, so Cosmos Policy's HTTP is reached from a ws:// url too."""
    from wam_ros.params.wam_node import PARAMS
    from wam_ros.policies.factory import PolicyConfigError, build_policy

    defaults = {p.name: p.default for p in PARAMS}
    servers = {"cosmos_policy": CosmosStandIn(brain), "openpi_aloha": WsStandIn("openpi_aloha", brain)}
    port = {name: int(s.url.rsplit(":", 1)[1]) for name, s in servers.items()}
    try:
        for name in servers:
            settings = dict(defaults, backend="remote", remote_url=f"ws://127.0.0.1:{port[name]}", server_profile=name)
            policy = build_policy(settings, ROBOT, ["scene", "wrist"])
            try:
                pred = policy.infer(observation())
            finally:
                policy.close()
            np.testing.assert_allclose(pred.actions[:, :6], _expected(ServerProfile.load(name))[:, :6], atol=1e-5)
        assert len(servers["cosmos_policy"].requests) == 1
        bad = dict(defaults, backend="remote", remote_url="ftp://127.0.0.1:1", server_profile="cosmos_policy")
        with pytest.raises(PolicyConfigError, match=r"server_profile.*speaks HTTP") as err:
            build_policy(bad, ROBOT, ["scene", "wrist"])
        assert err.value.setting == "server_profile"
    finally:
        for s in servers.values():
            s.close()


def test_profiles_are_validated_by_name(tmp_path):
    with pytest.raises(ProfileError, match=r"not found.*shipped"):
        ServerProfile.load("nope")
    bad = tmp_path / "p.yaml"
    bad.write_text("name: x\nprotocol: grpc\nurl: ws://a\nimages: {}\nstate: {}\naction_space: {}\n")
    with pytest.raises(ProfileError, match="protocol 'grpc'"):
        ServerProfile.load(str(bad))
    bad.write_text("name: x\nprotocol: openpi\nurl: ws://a\nimages: {}\nstate: {s: [elbow]}\naction_space: {}\n")
    with pytest.raises(ProfileError, match="part 'elbow'"):
        ServerProfile.load(str(bad))
    shipped = ServerProfile.load("openpi_aloha")
    assert shipped.images["images.cam_high"].layout == "chw"


def test_pad_resize_keeps_the_aspect_ratio_like_openpi():
    from wam_ros.remote.profiles import ImageField

    img = np.full((240, 320, 3), 200, np.uint8)
    out = prepare_image(img, ImageField("scene", (224, 224), "pad"))
    assert out.shape == (224, 224, 3)
    assert out[:20].max() == 0 and out[-20:].max() == 0 and out[112, 112, 0] == 200  # bars top and bottom
    chw = prepare_image(img, ImageField("scene", (224, 224), "stretch", "chw"))
    assert chw.shape == (3, 224, 224) and chw.min() == 200
