"""wam_node's parameters (the node: ``wam_ros.nodes.wam_node``).

``checkpoint`` is the bundled checkpoint and ``remote_url`` the remote client's default
server; ``GraphOptions`` (launch arguments, ``wam-graph``/``wam-eval``/demo options)
takes its defaults from here.
"""

from __future__ import annotations

from wam_ros.camera.config import DEFAULT_CAMERAS
from wam_ros.control.inference_scheduler import MIN_INTERVAL, MODES, RATE, THRESHOLD
from wam_ros.monitoring.frozen_camera import FROZEN_MOTION as SURPRISE_FROZEN_MOTION
from wam_ros.monitoring.surprise import CLEAR as SURPRISE_CLEAR
from wam_ros.monitoring.surprise import THRESHOLD as SURPRISE_THRESHOLD
from wam_ros.monitoring.surprise import WARMUP as SURPRISE_WARMUP
from wam_ros.params import Param
from wam_ros.params.robot import ROBOT_PARAMS
from wam_ros.policies import BACKENDS
from wam_ros.remote.client import DEFAULT_URL
from wam_ros.resources import DEFAULT_CHECKPOINT
from wam_ros.tiny_wam.defaults import ACTION_HORIZON, DEVICE, DEVICES, IMAGE_SIZE, NUM_STEPS

PARAMS: list[Param] = [
    Param("backend", "tiny_wam", "policy backend", choices=tuple(BACKENDS)),
    Param("checkpoint", DEFAULT_CHECKPOINT, "tiny_wam checkpoint directory (config.json + model.safetensors)"),
    Param("device", DEVICE, "tiny_wam device", choices=DEVICES),
    Param("num_steps", NUM_STEPS, "flow-matching Euler steps per chunk (tiny_wam)", range=(1, 100), dynamic=True),
    Param("noise_scale", 0.0, "tiny_wam: scale of the sampling noise (0 = deterministic chunks, the most "
          "precise; 1 = the learned distribution)", range=(0.0, 2.0), dynamic=True),
    Param("compile", False, "torch.compile the tiny_wam denoiser (slow first call)"),
    Param("torch_threads", 2, "CPU threads for torch (tiny_wam)", range=(1, 64)),
    Param("seed", 0, "noise seed of the tiny_wam sampler (-1: random)", range=(-1, 2**31 - 1)),
    Param("image_size", list(IMAGE_SIZE), "model input (h, w) the deployment expects; [0, 0] accepts the checkpoint's",
          range=(0, 4096)),
    Param("remote_url", DEFAULT_URL, "policy server URL (remote backend): ws://, wss:// or, for HTTP "
          "profiles, http://"),
    Param("server_profile", "", "remote backend: the server family's profile, a name in "
          "config/server_profiles (openpi_libero, openpi_droid, openpi_aloha, roboarena, dreamzero, lingbot_va, "
          "cosmos_policy) or a .yaml path; empty: wam-serve / openpi with the LIBERO key layout"),
    Param("remote_response_timeout", 5.0, "remote backend: seconds to wait for a reply", range=(0.01, 3600.0)),
    Param("remote_connect_timeout", 2.0, "remote backend: seconds to wait for a connection", range=(0.01, 600.0)),
    Param("remote_key_map", [""], "remote backend without a profile: request keys as entry=key "
          "(image.<camera>, state, prompt, timestamp, actions)"),
    Param("remote_api_key_env", "", "remote backend: name of the environment variable holding the API key "
          "(never the key itself)"),
    Param("replay_path", "", "LeRobot v3 dataset dir or .npz of actions (replay backend)"),
    Param("replay_episode", 0, "episode index to replay", range=(0, 1_000_000)),
    Param("action_horizon", ACTION_HORIZON, "chunk length for backends without their own (replay, remote)",
          range=(1, 1000)),
    Param("cameras", list(DEFAULT_CAMERAS), "camera names: topics camera/<name>/color/image_raw"),
    Param("sync_slop", 0.05, "max stamp spread of one synchronized frame set [s]", range=(0.0, 1.0)),
    Param("max_image_age", 0.5, "frames older than this are not used [s]", range=(0.01, 10.0)),
    Param("joint_state_timeout", 0.5, "joint state older than this blocks inference [s]", range=(0.01, 10.0)),
    Param("instruction", "", "instruction used until one arrives on /wam/instruction"),
    Param("trigger_mode", MODES[0], "when to infer: threshold | rate | sync (stop-and-go)", choices=MODES,
          dynamic=True),
    Param("trigger_threshold", THRESHOLD, "infer when this much of the chunk is left unexecuted [s]", range=(0.0, 60.0),
          dynamic=True),
    Param("trigger_rate", RATE, "inference rate in rate mode [Hz]", range=(0.01, 100.0), dynamic=True),
    Param("min_interval", MIN_INTERVAL, "minimum time between inference starts (bounds retries) [s]", range=(0.0, 10.0),
          dynamic=True),
    Param("tick_rate", 50.0, "how often the trigger is checked [Hz]", range=(1.0, 1000.0)),
    Param("extra_latency", 0.0, "injected delay after each inference, for latency benchmarks [s]",
          range=(0.0, 10.0), dynamic=True),
    Param("filmstrip_tile", 128, "filmstrip tile size [px]", range=(16, 1024)),
    Param("camera_calibrations", [f"{c}=config/sim_{c}_camera.yaml" for c in DEFAULT_CAMERAS],
          "camera=file per camera (PinholeCamera YAML: K and base_from_camera, or ee_from_camera for a wrist "
          "camera) for the chunk's path drawn on /wam/predicted_frames; a camera without one gets no path. "
          "[\"\"]: none. Default: the simulator's cameras; for a real arm, its hand-eye calibrations"),
    Param("surprise_monitor", True, "compare each predicted frame with the real frame that arrives for its time "
          "and publish the surprise on /wam/surprise (predicted frames are then decoded for every chunk)"),
    Param("surprise_match_tolerance", 0.05, "a real frame pairs with a predicted one only if its stamp is within "
          "this of the predicted time [s]", range=(0.001, 1.0)),
    Param("surprise_threshold", SURPRISE_THRESHOLD, "surprise alarm on at a score above this "
          "(scores are in units of the model's usual error)", range=(0.0, 1000.0), dynamic=True),
    Param("surprise_clear", SURPRISE_CLEAR, "surprise alarm off after consecutive scores below this (hysteresis; "
          "at most surprise_threshold)", range=(0.0, 1000.0), dynamic=True),
    Param("surprise_warmup", SURPRISE_WARMUP, "pairs per camera and offset learned before scores are reported "
          "(without a calibration)", range=(1, 100000)),
    Param("surprise_frozen_motion", SURPRISE_FROZEN_MOTION, "a camera whose picture stays identical, pixel for "
          "pixel, while the arm's joints move this much [rad] is frozen: it scores far above any threshold",
          range=(0.001, 10.0)),
    Param("surprise_calibration", "", "JSON of the model's usual error from normal episodes "
          "(bench/bench_surprise.py --save-calibration); empty: learned online during the warm-up"),
    *ROBOT_PARAMS,
]
