"""The robot description as plain Python: RobotModel (URDF limits, kinematics), Trajectory, joint-state selection."""
