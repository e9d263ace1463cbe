"""What operators look at: predicted-futures filmstrips and overlays (ROS-free images)."""
