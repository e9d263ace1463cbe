"""What may reach the arm: per-command checks and the safety bridge state machine (ROS-free)."""
