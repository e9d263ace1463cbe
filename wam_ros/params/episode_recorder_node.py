"""episode_recorder_node's parameters (the node: ``wam_ros.nodes.episode_recorder_node``).

The recording timeouts are ``RecordingSession``'s defaults, crf and preset the dataset's
(``DatasetSpec``); the encoder list is the dataset writer's (``wam_ros.dataset.video.ENCODERS``).
"""

from __future__ import annotations

from wam_ros.camera.config import DEFAULT_CAMERAS
from wam_ros.dataset.lerobot_v3 import DatasetSpec
from wam_ros.dataset.recording import RecordingSession
from wam_ros.dataset.video import ENCODERS
from wam_ros.params import Param
from wam_ros.params.robot import ROBOT_PARAMS
from wam_ros.recording.controls import AUTO_STARTS

MODES = ("manual", "auto")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")

PARAMS: list[Param] = [
    *ROBOT_PARAMS,
    Param("dataset_root", "outputs/datasets/teleop", "dataset directory (created; appended to if it exists)"),
    Param("fps", 15, "recording rate [frames/s] (LeRobot fps)", range=(1, 120)),
    Param("cameras", list(DEFAULT_CAMERAS), "camera names; images from camera_topic with {name} filled in"),
    Param("camera_topic", "camera/{name}/color/image_raw", "image topic pattern (rgb8)"),
    Param("sync_slop", 0.03, "max stamp spread within one camera set [s]", range=(0.0, 1.0)),
    Param("sync_max_age", 0.25, "max age of a camera frame at recording time [s]", range=(0.01, 5.0)),
    Param("max_state_age", RecordingSession.max_state_age, "max age of /joint_states at recording time [s]",
          range=(0.01, 5.0)),
    Param("command_topic", "wam/command", "the command reference to record as the action"),
    Param("command_timeout", RecordingSession.command_timeout,
          "a command stops being the action this long after its last point [s]; "
          "then the action is the measured position (the arm holds)", range=(0.0, 10.0)),
    Param("instruction_topic", "wam/instruction", "std_msgs/String language instruction (the LeRobot task)"),
    Param("mode", "manual", "manual: services/keys; auto: start on a new sim episode, save on success",
          choices=MODES),
    Param("auto_start", AUTO_STARTS[0],
          "auto mode: first_command starts an episode at the teleoperator's first command after a sim reset (no "
          "idle lead-in); reset starts it at the reset, the arm still at rest, so frame 0 shows the moment the "
          "target is chosen (scripted collection for policies that must read the instruction)",
          choices=AUTO_STARTS),
    Param("scene_state_topic", "sim/scene_state", "auto mode: the simulator's JSON scene state"),
    Param("safety_state_topic", "/wam/safety_state",
          "auto mode: start episodes only while the safety bridge is ARMED or ACTIVE ('' = don't wait)"),
    Param("reset_service", "/sim_robot_node/reset", "auto mode: Trigger called after each saved episode ('' none)"),
    Param("num_episodes", 0, "auto mode: stop after this many saved episodes (0 = unlimited)", range=(0, 100000)),
    Param("success_hold", 0.5, "auto mode: keep recording this long after success [s]", range=(0.0, 10.0)),
    Param("max_episode_time", 60.0, "save an episode when it reaches this length [s] (0 = unlimited)",
          range=(0.0, 3600.0)),
    Param("enable_keyboard", False, "read LeRobot-style keys from this terminal (needs a TTY)"),
    Param("vcodec", "libx264", "PyAV video encoder (falls back to another one if missing)", choices=ENCODERS),
    Param("crf", DatasetSpec.crf, "video quality (lower = better, larger)", range=(0, 51)),
    Param("preset", DatasetSpec.preset, "x264 speed preset (CPU vs size)", choices=X264_PRESETS),
]
