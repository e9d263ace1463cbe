"""config/wam.rviz against what the nodes really publish, and the safety-state marker.

Every display must name a class rviz_default_plugins has, and every topic it subscribes
to must be published, with the display's message type and a QoS the display can match
(a Reliable display gets nothing from a best-effort publisher, a Transient Local one no
latched message from a volatile publisher). The publishers are the simulated graph's
own node processes (as sim.launch.py starts them) over real DDS; /robot_description
comes from robot_state_publisher, which the launch files start next to RViz.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from rclpy.qos import DurabilityPolicy, ReliabilityPolicy
from ros_harness import NodeProcess, wait_for
from std_msgs.msg import String
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker

from wam_ros.apps.graph import GraphOptions, sim_graph
from wam_ros.apps.graph_runner import GraphRunner
from wam_ros.robot.model import RobotModel
from wam_ros.ros.qos import LATCHED
from wam_ros.visualization.safety_marker import (
    COLOURS,
    MAX_TEXT,
    UNKNOWN_COLOUR,
    height_over,
    safety_marker,
    state_of,
)

REPO = Path(__file__).resolve().parent.parent
RVIZ = REPO / "config" / "wam.rviz"

#: rviz_default_plugins' classes (its plugins_description.xml) and rviz_common's panels.
RVIZ_DISPLAYS = {
    "AccelStamped", "Axes", "Camera", "DepthCloud", "Effort", "FluidPressure", "Grid", "GridCells", "Illuminance",
    "Image", "InteractiveMarkers", "LaserScan", "Map", "Marker", "MarkerArray", "Odometry", "Path", "PointCloud",
    "PointCloud2", "PointStamped", "Polygon", "Pose", "PoseArray", "PoseWithCovariance", "Range",
    "RelativeHumidity", "RobotModel", "TF", "Temperature", "TwistStamped", "Wrench",
}  # fmt: skip
RVIZ_TOOLS = {"Interact", "MoveCamera", "Select", "FocusCamera", "Measure", "SetInitialPose", "SetGoal", "PublishPoint"}
RVIZ_VIEWS = {"Orbit", "XYOrbit", "FPS", "ThirdPersonFollower", "TopDownOrtho"}
RVIZ_PANELS = {"Displays", "Views", "Tool Properties", "Time", "Selection"}

#: The message type each subscribing display takes.
DISPLAY_TYPES = {
    "Image": "sensor_msgs/msg/Image",
    "Marker": "visualization_msgs/msg/Marker",
    "MarkerArray": "visualization_msgs/msg/MarkerArray",
    "RobotModel": "std_msgs/msg/String",  # its "Description Topic"
}
#: Published by other packages' nodes the launch files start beside RViz.
EXTERNAL = {"/robot_description": "std_msgs/msg/String"}


def _config() -> dict:
    return yaml.safe_load(RVIZ.read_text())


def _displays() -> list[dict]:
    return _config()["Visualization Manager"]["Displays"]


def _subscriptions() -> list[tuple[str, str, str, dict]]:
    """(display name, class, topic, topic settings) of every display that subscribes to a topic."""
    out = []
    for d in _displays():
        cls = d["Class"].split("/", 1)[1]
        for key in ("Topic", "Description Topic"):
            if isinstance(d.get(key), dict) and d[key].get("Value"):
                out.append((d["Name"], cls, d[key]["Value"], d[key]))
    return out


def _class_name(full: str, package: str) -> str:
    pkg, _, name = full.partition("/")
    assert pkg == package, full
    return name


def test_only_real_rviz_classes():
    cfg = _config()
    vm = cfg["Visualization Manager"]
    for d in vm["Displays"]:
        assert _class_name(d["Class"], "rviz_default_plugins") in RVIZ_DISPLAYS, d["Class"]
    for t in vm["Tools"]:
        assert _class_name(t["Class"], "rviz_default_plugins") in RVIZ_TOOLS, t["Class"]
    assert _class_name(vm["Views"]["Current"]["Class"], "rviz_default_plugins") in RVIZ_VIEWS
    assert _class_name(vm["Transformation"]["Current"]["Class"], "rviz_default_plugins") == "TF"
    for p in cfg["Panels"]:
        assert _class_name(p["Class"], "rviz_common") in RVIZ_PANELS, p["Class"]
    assert vm["Global Options"]["Fixed Frame"] == RobotModel.load().base_link


def test_rviz_shows_what_the_readme_promises():
    """README's RViz paragraph lists every topic the config shows, and only those."""
    shown = {topic for _, _, topic, _ in _subscriptions()}
    assert {"/camera/scene/color/image_raw", "/camera/wrist/color/image_raw", "/wam/safety_marker",
            "/wam/predicted_frames", "/wam/predicted_path", "/robot_description"} <= shown  # fmt: skip
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Topics to add in RViz or Foxglove", 1)[1].split("\n## ", 1)[0]
    for topic in shown:
        assert f"`{topic}`" in section, f"README does not say that wam.rviz shows {topic}"
    assert "rqt_robot_monitor" in section and "Foxglove" in section  # where /diagnostics is seen


@pytest.mark.ros
@pytest.mark.timeout(180)
def test_every_display_topic_is_published_with_its_type_and_a_matching_qos(ros, tmp_path):
    runner = GraphRunner(sim_graph(GraphOptions(policy="tiny_wam")), log_dir=tmp_path, echo=None).start()
    try:
        wanted = [(n, c, t, q) for n, c, t, q in _subscriptions() if t not in EXTERNAL]

        def published():
            return all(ros.node.get_publishers_info_by_topic(t) for _, _, t, _ in wanted)

        try:
            wait_for(published, 120, period=0.5)
        except TimeoutError:
            missing = [t for _, _, t, _ in wanted if not ros.node.get_publishers_info_by_topic(t)]
            logs = "\n".join(f"{f.name}: {f.read_text()[-1500:]}" for f in tmp_path.glob("*.log"))
            pytest.fail(f"no publisher of {missing} (dead: {runner.dead()}):\n{logs}")
        for name, cls, topic, qos in wanted:
            for info in ros.node.get_publishers_info_by_topic(topic):
                assert info.topic_type == DISPLAY_TYPES[cls], f"{name}: {topic} is {info.topic_type}"
                if qos["Reliability Policy"] == "Reliable":
                    assert info.qos_profile.reliability == ReliabilityPolicy.RELIABLE, f"{name}: {topic}"
                if qos["Durability Policy"] == "Transient Local":
                    assert info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL, f"{name}: {topic}"
    finally:
        runner.stop()


def test_robot_description_comes_from_the_launch_files():
    """Where RViz starts, robot_state_publisher (the /robot_description and TF publisher) starts too."""
    for launch_file in ("sim.launch.py", "robot.launch.py"):
        text = (REPO / "launch" / launch_file).read_text()
        assert "robot_state_publisher(" in text and "rviz_if_requested(" in text, launch_file


# ---------------------------------------------------------------------------------------------- the marker


def test_each_state_has_its_own_colour_and_faults_keep_their_reason():
    colours = {state: safety_marker(state, "base_link", 1.0).rgba for state in ("DISARMED", "ARMED", "ACTIVE")}
    colours["FAULT"] = safety_marker("FAULT(stale joint states)", "base_link", 1.0).rgba
    assert colours == COLOURS and len(set(colours.values())) == 4
    fault = safety_marker("FAULT(stale joint states)", "base_link", 1.0)
    assert fault.text == "FAULT(stale joint states)" and state_of(fault.text) == "FAULT"
    long = safety_marker("FAULT(" + "x" * 200 + ")", "base_link", 1.0)
    assert len(long.text) == MAX_TEXT and long.text.startswith("FAULT(") and long.rgba == COLOURS["FAULT"]
    assert safety_marker("SOMETHING NEW", "base_link", 1.0).rgba == UNKNOWN_COLOUR


def test_the_marker_floats_above_everything_the_arm_reaches():
    model = RobotModel.load()
    top = height_over(model)
    reach = max(float(model.fk(q)[2, 3]) for q in [[0.0] * len(model.arm_joints)])
    assert top > reach  # the upright arm (the zero pose) is the tallest it gets
    m = safety_marker("ARMED", model.base_link, top)
    assert m.frame == "base_link" and m.position == (0.0, 0.0, top)


@pytest.mark.ros
@pytest.mark.timeout(120)
def test_the_bridge_publishes_the_state_as_a_text_marker(ros):
    markers = ros.collect(Marker, "/wam/safety_marker", LATCHED)
    states = ros.collect(String, "/wam/safety_state", LATCHED)
    with NodeProcess("wam_ros.nodes.safety_bridge_node", params={"output": "dry_run"}) as proc:
        try:
            wait_for(lambda: markers and states, 60)
        except TimeoutError:
            pytest.fail(f"no marker / state:\n{proc.output()}")
        m = markers[-1]
        assert m.type == Marker.TEXT_VIEW_FACING and m.action == Marker.ADD
        assert m.text == states[-1].data == "DISARMED"
        assert m.header.frame_id == RobotModel.load().base_link and m.pose.position.z > 1.0
        assert (m.color.r, m.color.g, m.color.b, m.color.a) == pytest.approx(COLOURS["DISARMED"])
        assert m.scale.z > 0 and m.lifetime.sec == 0 and m.lifetime.nanosec == 0  # stays until replaced
        ros.call(Trigger, "/safety_bridge_node/estop")
        wait_for(lambda: re.match(r"FAULT\(", markers[-1].text), 10)
        assert markers[-1].text == states[-1].data
        assert (markers[-1].color.r, markers[-1].color.g, markers[-1].color.b) == pytest.approx(COLOURS["FAULT"][:3])
        assert markers[-1].id == m.id and markers[-1].ns == m.ns  # replaces the label, never adds a second one
