"""positions_in_order: by-name selection with named errors."""

import math

import pytest

from wam_ros.robot.joint_state import JointStateError, positions_in_order


def test_reorders_and_ignores_extra_joints():
    q = positions_in_order(["b", "mimic", "a"], [2.0, 9.0, 1.0], ["a", "b"])
    assert q.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(("names", "positions", "needle"), [
    (["a"], [1.0, 2.0], "1 names but 2 positions"),
    (["a"], [1.0], r"lacks joint\(s\) \['b'\]"),
    (["a", "b"], [1.0, math.nan], r"non-finite position\(s\) for \['b'\]"),
])  # fmt: skip
def test_errors_name_the_problem(names, positions, needle):
    with pytest.raises(JointStateError, match=needle):
        positions_in_order(names, positions, ["a", "b"], "leader JointState")
