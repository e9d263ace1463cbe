"""ament_python package setup, in ros2/demos demo_nodes_py's layout."""

from glob import glob

from setuptools import find_packages, setup

package_name = "wam_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*", "bench"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml") + glob("config/*.xml") + glob("config/*.rviz")),
        ("share/" + package_name + "/config/server_profiles", glob("config/server_profiles/*.yaml")),
        ("share/" + package_name + "/urdf", glob("urdf/*")),
    ]
    + [("share/" + package_name + "/" + d, glob(d + "/*")) for d in glob("checkpoints/*")],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="wam_ros developers",
    maintainer_email="wam-ros@example.org",
    description="Drive robot arms with World-Action Models over ROS 2: cameras, inference, "
    "chunk smoothing, a fail-closed safety bridge to ros2_control, teleop data collection.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "sim_robot_node = wam_ros.nodes.sim_robot_node:main",
            "camera_node = wam_ros.nodes.camera_node:main",
            "wam_node = wam_ros.nodes.wam_node:main",
            "chunk_smoother_node = wam_ros.nodes.chunk_smoother_node:main",
            "safety_bridge_node = wam_ros.nodes.safety_bridge_node:main",
            "episode_recorder_node = wam_ros.nodes.episode_recorder_node:main",
            "teleop_node = wam_ros.nodes.teleop_node:main",
            "keyboard_teleop = wam_ros.nodes.keyboard_teleop:main",
            "expert_policy_node = wam_ros.nodes.expert_policy_node:main",
            "wam-serve = wam_ros.remote.server:main",
            "wam-train = wam_ros.tiny_wam.training:main",
            "wam-eval = wam_ros.apps.evaluation:main",
            "wam-collect = wam_ros.apps.collect_demos:main",
            "wam-demo = wam_ros.apps.demo:main",
            "wam-graph = wam_ros.apps.graph_runner:main",
            "wam-import-bag = wam_ros.apps.import_bag:main",
        ],
    },
)
