"""A FollowJointTrajectory action server that behaves like joint_trajectory_controller, or fails on purpose.

Test helper for the safety bridge's action output (needs control_msgs: only used where it is
installed). It answers like ros2_controllers' JTC: a new goal preempts the running one
(CANCELED, INVALID_GOAL, "Current goal cancelled due to new incoming action."), feedback
at 20 Hz while a goal runs, SUCCEEDED at the trajectory's end. ``mode``: ``accept`` (that),
``reject`` (every goal refused), ``abort`` (each goal ABORTED with PATH_TOLERANCE_VIOLATED
after 50 ms). Run as a script (``python test/fjt_server.py MODE [ACTION_NAME]``) it is a
process that a test can SIGKILL mid-goal.
"""

from __future__ import annotations

import sys
import threading
import time

from control_msgs.action import FollowJointTrajectory
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import GoalEvent
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

ACTION = "/arm_controller/follow_joint_trajectory"
PREEMPTED = "Current goal cancelled due to new incoming action."


class FjtServer:
    def __init__(self, node: Node, mode: str = "accept", action: str = ACTION) -> None:
        self.mode = mode
        self.goals: list = []  # accepted goal requests (FollowJointTrajectory.Goal)
        self.cancels = 0
        self._lock = threading.Lock()
        self._active = None
        self.server = ActionServer(
            node, FollowJointTrajectory, action, execute_callback=self._execute,
            goal_callback=self._on_goal, cancel_callback=self._on_cancel, handle_accepted_callback=self._on_accepted,
            callback_group=ReentrantCallbackGroup(),
        )  # fmt: skip

    def _on_goal(self, goal) -> GoalResponse:
        return GoalResponse.REJECT if self.mode == "reject" else GoalResponse.ACCEPT

    def _on_cancel(self, goal_handle) -> CancelResponse:
        self.cancels += 1
        return CancelResponse.ACCEPT

    def _on_accepted(self, goal_handle) -> None:
        with self._lock:
            self.goals.append(goal_handle.request)
            self._active = goal_handle  # the running goal sees it is no longer active and ends CANCELED
        goal_handle.execute()

    def _execute(self, goal_handle):
        result = FollowJointTrajectory.Result()
        points = goal_handle.request.trajectory.points
        last = points[-1].time_from_start if points else None
        duration = last.sec + last.nanosec * 1e-9 if last is not None else 0.0
        end = time.monotonic() + (0.05 if self.mode == "abort" else duration)
        while time.monotonic() < end:
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                return result
            if self._active is not goal_handle:  # preempted: CANCELED like JTC (EXECUTING -> CANCELING -> CANCELED)
                result.error_code = FollowJointTrajectory.Result.INVALID_GOAL
                result.error_string = PREEMPTED
                goal_handle._update_state(GoalEvent.CANCEL_GOAL)  # rclpy has no public server-side cancel
                goal_handle.canceled()
                return result
            goal_handle.publish_feedback(FollowJointTrajectory.Feedback())
            time.sleep(0.05)
        if self.mode == "abort":
            result.error_code = FollowJointTrajectory.Result.PATH_TOLERANCE_VIOLATED
            result.error_string = "Aborted due to path tolerance violation"
            goal_handle.abort()
            return result
        result.error_code = FollowJointTrajectory.Result.SUCCESSFUL
        goal_handle.succeed()
        return result


def main() -> None:
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    rclpy.init()
    node = Node("fjt_server")
    FjtServer(node, sys.argv[1] if len(sys.argv) > 1 else "accept", sys.argv[2] if len(sys.argv) > 2 else ACTION)
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    try:
        executor.spin()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
