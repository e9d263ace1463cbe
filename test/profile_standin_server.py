"""A WAM family's stand-in server with the scripted expert behind it, for closed-loop runs through the graph.

    python test/profile_standin_server.py FAMILY [--port P]

Prints ``PORT <n>`` when it listens. The expert needs the simulated scene (``/sim/scene_state``) and,
for families whose requests carry no joint positions (LIBERO, LingBot-VA), the arm's state
(``/joint_states``): this process subscribes to both over DDS, as a test fixture may (the real servers
see only the request). The expert plans at the family's own rate and chunk length, and the stand-in
expresses its joint targets in the family's action space (wam_server_standins).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wam_server_standins import FAMILY_CHUNK, ROBOT, CosmosStandIn, RequestError, WsStandIn


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("family", choices=sorted(FAMILY_CHUNK))
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()

    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String

    from wam_ros.ros.qos import LATCHED, SENSOR
    from wam_ros.sim.scripted_expert import ScriptedExpert

    rows, period = FAMILY_CHUNK[args.family]
    expert = ScriptedExpert(ROBOT, horizon=rows, period=period)
    state: dict = {"scene": None, "q": None, "received": 0}
    rclpy.init()
    node = rclpy.create_node("profile_standin_server")
    node.create_subscription(String, "/sim/scene_state", lambda m: state.update(scene=json.loads(m.data)), LATCHED)
    names = list(ROBOT.actuated_joints)

    def on_js(m: JointState) -> None:
        pos = dict(zip(m.name, m.position))
        if all(n in pos for n in names):
            state["q"] = np.array([pos[n] for n in names])
            state["received"] += 1

    node.create_subscription(JointState, "/joint_states", on_js, SENSOR)
    ex = SingleThreadedExecutor()
    ex.add_node(node)

    def spin() -> None:
        try:
            ex.spin()
        except ExternalShutdownException:  # SIGTERM/SIGINT: main() exits too
            pass

    threading.Thread(target=spin, daemon=True).start()

    def brain(q_arm: np.ndarray | None) -> np.ndarray:
        if state["scene"] is None or state["q"] is None:
            raise RequestError("RuntimeError: no scene state or joint state yet")
        q = state["q"].copy()
        if q_arm is not None:
            q[: len(q_arm[:6])] = q_arm[:6]
        return expert.act(state["scene"], q)

    server = CosmosStandIn(brain, port=args.port) if args.family == "cosmos_policy" else \
        WsStandIn(args.family, brain, port=args.port)

    def follow_q() -> None:  # the stand-ins that need the true state read it here
        while True:
            if state["q"] is not None and hasattr(server, "q_true"):
                server.q_true = state["q"].copy()
            time.sleep(0.01)

    def fresh_q() -> np.ndarray:
        """A joint state that reached this process after this call (up to 1 s): under load its executor lags the
        graph's, and a state from before a sim reset is not the pose the observation shows. The subscription
        queues up to ``depth`` older states, so the one after those is waited for."""
        before, deadline = state["received"], time.monotonic() + 1.0
        while state["received"] <= before + SENSOR.depth and time.monotonic() < deadline:
            time.sleep(0.002)
        if state["q"] is None:
            raise RequestError("RuntimeError: no joint state yet")
        return state["q"].copy()

    threading.Thread(target=follow_q, daemon=True).start()
    if hasattr(server, "fresh_q"):
        server.fresh_q = fresh_q
    port = server.port if hasattr(server, "port") else int(server.url.rsplit(":", 1)[1])
    print(f"PORT {port}", flush=True)
    try:
        while rclpy.ok():  # rclpy's own SIGINT/SIGTERM handler shuts the context down: then exit
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
