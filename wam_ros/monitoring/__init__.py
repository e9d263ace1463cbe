"""Watching the world half of a WAM: predicted frames matched to the real ones, and how surprised we are (ROS-free)."""
