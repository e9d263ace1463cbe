"""MuJoCo-simulated arm, its task and a scripted expert (ROS-free core of sim_robot_node)."""
