"""StackCommander: drive a running wam_ros graph from Python (demo, evaluation, tests).

Like nav2_simple_commander's BasicNavigator: a library class with a few blocking
calls (arm, reset an episode, wait for its outcome) over the graph's public topics
and services, so thin executables (``make demo``, ``wam-eval``) stay thin.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from wam_ros.ros.background_node import BackgroundNode
from wam_ros.ros.image_conversion import image_from_msg
from wam_ros.ros.qos import LATCHED, SENSOR

#: Seconds to wait for the sim's answer to a reset before judging by the scene it reports instead.
SIM_RESET_ANSWER = 5.0


@dataclass
class EpisodeResult:
    episode: int
    seed: int
    instruction: str
    success: bool
    duration: float  # seconds of episode time until success or timeout
    faults: list[str] = field(default_factory=list)


class StackCommander(BackgroundNode):
    """Blocking helper over a running graph; spins its own node in a background thread."""

    def __init__(
        self,
        name: str = "wam_commander",
        bridge: str = "/safety_bridge_node",
        sim: str = "/sim_robot_node",
        camera_topic: str = "/camera/scene/color/image_raw",
    ) -> None:
        super().__init__(name)
        self._bridge = bridge
        self._sim = sim
        self.scene: dict[str, Any] = {}
        self.safety_state = ""
        self.safety_history: deque[str] = deque(maxlen=100)
        self.diagnostics: dict[str, dict[str, str]] = {}
        self.camera_frame: np.ndarray | None = None
        self.filmstrip: np.ndarray | None = None
        self._lock = threading.Lock()
        n = self.node
        n.create_subscription(String, "/sim/scene_state", self._on_scene, LATCHED)
        n.create_subscription(String, "/wam/safety_state", self._on_safety, LATCHED)
        n.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 50)
        n.create_subscription(Image, camera_topic, self._on_camera, SENSOR)
        n.create_subscription(Image, "/wam/predicted_frames", self._on_filmstrip, 2)

    # ------------------------------------------------------------ subscriptions
    def _on_scene(self, msg: String) -> None:
        try:
            self.scene = json.loads(msg.data)
        except json.JSONDecodeError:
            self.node.get_logger().warning("unparseable /sim/scene_state")

    def _on_safety(self, msg: String) -> None:
        self.safety_state = msg.data
        self.safety_history.append(msg.data)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        with self._lock:
            for st in msg.status:
                self.diagnostics[st.name] = {kv.key: kv.value for kv in st.values} | {"_message": st.message}

    def _on_camera(self, msg: Image) -> None:
        self.camera_frame = image_from_msg(msg).copy()

    def _on_filmstrip(self, msg: Image) -> None:
        self.filmstrip = image_from_msg(msg).copy()

    # ------------------------------------------------------------ calls
    def _bridge_call(self, service: str, timeout: float = 10.0) -> tuple[bool, str]:
        """(success, message) of one of the bridge's Trigger services (all idempotent: resent if unanswered)."""
        res = self.call(Trigger, f"{self._bridge}/{service}", timeout=timeout, resend_after=self.RESEND_AFTER)
        if res is None:
            return False, f"service {self._bridge}/{service} did not answer within {timeout:.0f} s"
        return bool(res.success), res.message

    def arm(self) -> tuple[bool, str]:
        return self._bridge_call("arm")

    def disarm(self) -> tuple[bool, str]:
        return self._bridge_call("disarm")

    def reset_fault(self) -> tuple[bool, str]:
        return self._bridge_call("reset")

    def estop(self) -> tuple[bool, str]:
        return self._bridge_call("estop")

    def wait_until(self, predicate, timeout: float, period: float = 0.02) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(period)
        return False

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """True once the sim reports a scene and the bridge reports a state."""
        return self.wait_until(lambda: self.scene and self.safety_state, timeout)

    def new_episode(self, timeout: float = 20.0) -> dict[str, Any]:
        """Disarm, reset the simulated scene (next seed), re-arm; returns the new scene state."""
        self.disarm()
        before = self.scene.get("episode", -1)
        # sent once (a second reset would skip a seed); its answer can be lost while the response path is still
        # matching (see BackgroundNode.RESEND_AFTER), so no answer is judged by the scene the sim reports
        res = self.call(Trigger, f"{self._sim}/reset", timeout=min(timeout, SIM_RESET_ANSWER))
        if res is not None and not res.success:
            raise RuntimeError(f"sim reset failed: {res.message}")
        if not self.wait_until(lambda: self.scene.get("episode", -1) != before, timeout):
            raise RuntimeError("sim did not report the new episode" + ("" if res is not None else
                               f" and did not answer its reset within {min(timeout, SIM_RESET_ANSWER):.0f} s"))
        if self.safety_state.startswith("FAULT"):
            self.reset_fault()
        ok, why = False, ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # arming is refused until joint states are fresh
            ok, why = self.arm()
            if ok:
                break
            time.sleep(0.2)
        if not ok:
            raise RuntimeError(f"arming refused: {why}")
        return dict(self.scene)

    def run_episode(self, timeout: float) -> EpisodeResult:
        """Reset, arm and wait until the task succeeds or ``timeout`` s of episode time pass."""
        scene = self.new_episode()
        start_faults = len(self.safety_history)
        self.wait_until(
            lambda: (
                self.scene.get("success")
                or self.scene.get("episode_time", 0.0) >= timeout
                or self.safety_state.startswith("FAULT")
            ),
            timeout * 3 + 30,
        )
        s = dict(self.scene)
        faults = [h for h in list(self.safety_history)[start_faults:] if h.startswith("FAULT")]
        return EpisodeResult(
            scene["episode"],
            scene["seed"],
            scene["instruction"],
            bool(s.get("success")),
            float(s.get("episode_time", 0.0)),
            faults,
        )

    def diagnostic(self, name_part: str) -> dict[str, str]:
        with self._lock:
            for name, values in self.diagnostics.items():
                if name_part in name:
                    return dict(values)
        return {}
