"""The Policy protocol's defaults and the factory that builds wam_node's backend from its settings (no ROS)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wam_ros.params.wam_node import PARAMS as WAM_PARAMS
from wam_ros.policies import BACKENDS, make_policy
from wam_ros.policies.base import Observation, Policy, PolicyError, PolicySpec, Prediction, as_policy
from wam_ros.policies.factory import PolicyConfigError, backend_kwargs, build_policy, check_fits
from wam_ros.robot.model import RobotModel
from wam_ros.tiny_wam import CheckpointMeta, Normalization, TinyWam, TinyWamConfig, save_checkpoint

torch.set_num_threads(2)
ROBOT = RobotModel.load()
JOINTS = ROBOT.actuated_joints

# wam_node's parameters as the node gives them (their one definition), with test values
SETTINGS = {
    **{p.name: p.default for p in WAM_PARAMS},
    "backend": "tiny_wam", "checkpoint": "", "device": "cpu", "num_steps": 3, "noise_scale": 0.0,
    "torch_threads": 1, "seed": 0, "image_size": [32, 32], "remote_url": "ws://127.0.0.1:1", "action_horizon": 12,
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    cfg = TinyWamConfig(image_size=(32, 32), d_model=32, num_layers=1, num_heads=2, ae_channels=(8, 8, 8),
                        action_horizon=8, frame_stride=4, num_steps=2)
    norm = Normalization(np.zeros(7), np.ones(7), np.zeros(7), np.full(7, 0.05))
    path = tmp_path_factory.mktemp("ck") / "tiny_wam"
    return str(save_checkpoint(path, TinyWam(cfg), CheckpointMeta(JOINTS, ("scene", "wrist"), 0.1, cfg, norm)))


def observation():
    img = np.zeros((32, 32, 3), np.uint8)
    return Observation({"scene": img, "wrist": img}, np.zeros(len(JOINTS)), "reach the red cube", 1.0)


class Minimal(Policy):
    """A backend that implements only what it must."""

    def __init__(self, joints=JOINTS, cameras=()):
        self.spec = PolicySpec(tuple(joints), tuple(cameras), (0, 0), 4, 0.1)
        self.closed = 0

    def infer(self, observation, decode_frames=True):
        return Prediction(np.zeros((4, len(self.spec.joint_names))), 0.1)

    def reset(self):
        pass

    def close(self):
        self.closed += 1


def test_every_backend_implements_the_whole_protocol():
    import importlib

    for module, cls in BACKENDS.values():
        backend = getattr(importlib.import_module(module), cls)
        assert Policy in backend.__mro__, cls  # explicit subclass: it inherits the defaults
        for member in ("infer", "reset", "tunables", "tune", "close", "device"):
            assert hasattr(backend, member), (cls, member)


def test_protocol_defaults_no_device_no_tunables_nothing_to_close():
    p = Minimal()
    assert isinstance(p, Policy)
    assert p.device == "n/a" and p.tunables() == {}
    with pytest.raises(PolicyError, match="no tunable 'num_steps'"):
        p.tune("num_steps", 4)
    Policy.close(p)  # the default is a no-op


def test_tiny_wam_kwargs_from_settings():
    kw = backend_kwargs({**SETTINGS, "seed": -1, "image_size": [0, 0]}, ROBOT, ["scene", "wrist"])
    assert kw["seed"] is None and kw["image_size"] is None and kw["num_threads"] == 1
    assert kw["joint_names"] == JOINTS and kw["cameras"] == ["scene", "wrist"] and kw["num_steps"] == 3
    kw = backend_kwargs(SETTINGS, ROBOT, ["scene"])
    assert kw["seed"] == 0 and kw["image_size"] == [32, 32]


def test_remote_and_replay_kwargs_from_settings():
    remote = backend_kwargs({**SETTINGS, "backend": "remote", "image_size": [0, 0]}, ROBOT, ["scene"])
    assert remote == {"url": "ws://127.0.0.1:1", "joint_names": JOINTS, "cameras": ["scene"], "action_horizon": 12,
                      "response_timeout": 5.0, "connect_timeout": 2.0, "api_key": None, "key_map": None}
    assert backend_kwargs({**SETTINGS, "backend": "remote"}, ROBOT, ["scene"])["image_size"] == [32, 32]
    replay = backend_kwargs({**SETTINGS, "backend": "replay", "replay_path": "x.npz"}, ROBOT, [])
    assert replay == {"path": "x.npz", "episode": 0, "horizon": 12, "joint_names": JOINTS}


@pytest.mark.parametrize("size", [[32], [32, 32, 3]])
def test_a_bad_image_size_names_the_setting(size):
    with pytest.raises(PolicyConfigError, match="'image_size'") as info:
        build_policy({**SETTINGS, "image_size": size}, ROBOT, ["scene", "wrist"])
    assert info.value.setting == "image_size"


def test_builds_tiny_wam_whose_tunables_change_the_next_chunk(checkpoint):
    p = build_policy({**SETTINGS, "checkpoint": checkpoint}, ROBOT, ["scene", "wrist"])
    assert p.device == "cpu" and p.tunables() == {"num_steps": 3, "noise_scale": 0.0}
    p.tune("num_steps", 5)
    p.tune("noise_scale", 1.0)
    extras = p.infer(observation(), decode_frames=False).extras
    assert extras["num_steps"] == 5 and extras["noise_scale"] == 1.0
    with pytest.raises(PolicyError, match="noise_scale"):
        p.tune("noise_scale", 3.0)
    with pytest.raises(PolicyError, match="num_steps"):
        p.tune("num_steps", 0)
    with pytest.raises(PolicyError, match="no tunable 'temperature'"):
        p.tune("temperature", 1.0)
    assert p.tunables() == {"num_steps": 5, "noise_scale": 1.0}
    p.close()


@pytest.mark.parametrize("backend, setting", [("tiny_wam", "checkpoint"), ("replay", "replay_path")])
def test_a_missing_source_names_the_setting(tmp_path, backend, setting):
    settings = {**SETTINGS, "backend": backend, "checkpoint": str(tmp_path / "none"),
                "replay_path": str(tmp_path / "none.npz")}
    with pytest.raises(PolicyConfigError, match=f"parameter '{setting}' \\({backend} backend\\)") as info:
        build_policy(settings, ROBOT, ["scene", "wrist"])
    assert info.value.setting == setting


def test_expert_reads_the_scene_source_and_has_nothing_to_tune():
    scene = {}
    p = build_policy({**SETTINGS, "backend": "expert"}, ROBOT, ["scene"], scene_source=lambda: scene or None)
    assert p.spec.joint_names == JOINTS and p.tunables() == {}
    with pytest.raises(PolicyError, match="no scene state"):
        p.infer(observation())
    scene.update({"objects": {"red": [0.5, 0.0, 0.02]}, "target": "red", "stamp": 1.0})
    q = np.array([0.0, 0.4, 1.0, 0.0, 1.2, 0.0, 0.01])
    pred = p.infer(Observation({}, q, "", 1.0))
    assert pred.actions.shape == (p.spec.action_horizon, len(JOINTS))
    p.close()


def test_replay_backend_is_built_from_a_recording(tmp_path):
    path = tmp_path / "ep.npz"
    np.savez(path, actions=np.zeros((30, len(JOINTS))), period=0.1, joint_names=np.array(JOINTS))
    p = build_policy({**SETTINGS, "backend": "replay", "replay_path": str(path)}, ROBOT, [])
    assert p.spec.action_horizon == 12 and p.device == "n/a"


def test_check_fits_refuses_other_joints_and_missing_cameras():
    with pytest.raises(PolicyConfigError, match="joint names mismatch"):
        check_fits(Minimal(joints=("a", "b")), "x", ROBOT, ["scene"])
    with pytest.raises(PolicyConfigError, match=r"backend needs camera\(s\) \['wrist'\]") as info:
        check_fits(Minimal(cameras=("scene", "wrist")), "x", ROBOT, ["scene"])
    assert info.value.setting == "cameras"
    check_fits(Minimal(cameras=("scene",)), "x", ROBOT, ["scene", "wrist"])


def test_a_refused_backend_is_closed(monkeypatch):
    made = Minimal(cameras=("top",))
    monkeypatch.setitem(BACKENDS, "fake", ("test_policy_factory", "Minimal"))
    monkeypatch.setattr("wam_ros.policies.factory.make_policy", lambda backend, **kw: made)
    monkeypatch.setattr("wam_ros.policies.factory.backend_kwargs", lambda *a, **k: {})
    with pytest.raises(PolicyConfigError, match="cameras"):
        build_policy({**SETTINGS, "backend": "fake"}, ROBOT, ["scene"])
    assert made.closed == 1


def test_make_policy_still_builds_by_name(checkpoint):
    p = make_policy("tiny_wam", checkpoint=checkpoint, device="cpu")
    assert isinstance(p, Policy) and p.device == "cpu"


class DuckTyped:
    """A third party's policy: only spec, infer and reset (e.g. behind a wam-serve factory)."""

    spec = PolicySpec(JOINTS, (), (0, 0), 4, 0.1)

    def infer(self, observation, decode_frames=True):
        return Prediction(np.zeros((4, len(JOINTS))), 0.1, extras={"decode": decode_frames})

    def reset(self):
        self.was_reset = True


def test_a_foreign_policy_gets_the_protocol_defaults():
    inner = DuckTyped()
    p = as_policy(inner)
    assert isinstance(p, Policy) and p.spec is inner.spec and p.device == "n/a" and p.tunables() == {}
    assert p.infer(observation(), decode_frames=False).extras == {"decode": False}
    p.reset()
    p.close()
    assert inner.was_reset
    made = Minimal()
    assert as_policy(made) is made
    as_policy(_WithClose()).close()
    assert _WithClose.closed


class _WithClose(DuckTyped):
    closed = False

    def close(self):
        type(self).closed = True


def test_an_object_without_infer_is_no_policy():
    with pytest.raises(TypeError, match="has no spec, infer, reset"):
        as_policy(object())


def test_a_server_profile_builds_that_familys_client(monkeypatch):
    settings = {**SETTINGS, "backend": "remote", "server_profile": "openpi_droid", "remote_api_key_env": "WAM_KEY",
                "remote_response_timeout": 30.0}
    with pytest.raises(PolicyConfigError, match="WAM_KEY") as info:
        build_policy(settings, ROBOT, ["scene", "wrist"])
    assert info.value.setting == "remote_api_key_env"
    monkeypatch.setenv("WAM_KEY", "secret")
    policy = build_policy(settings, ROBOT, ["scene", "wrist"])
    assert type(policy).__name__ == "ProfilePolicy" and policy.profile.name == "openpi_droid"
    assert policy.response_timeout == 30.0 and policy.spec.action_horizon == 8  # DROID executes 8 of 15
    with pytest.raises(PolicyConfigError, match="not found") as info:
        build_policy({**settings, "server_profile": "nope"}, ROBOT, ["scene", "wrist"])
    assert info.value.setting == "server_profile"
    with pytest.raises(PolicyConfigError, match="backend needs camera"):
        build_policy(settings, ROBOT, ["scene"])  # DROID needs the wrist camera too


def test_remote_key_map_entries():
    kw = backend_kwargs({**SETTINGS, "backend": "remote", "remote_key_map": ["image.scene=cam_high", "state=qpos"]},
                        ROBOT, ["scene"])
    assert kw["key_map"] == {"image.scene": "cam_high", "state": "qpos"}
    with pytest.raises(PolicyConfigError, match="entry=key"):
        backend_kwargs({**SETTINGS, "backend": "remote", "remote_key_map": ["state"]}, ROBOT, ["scene"])
