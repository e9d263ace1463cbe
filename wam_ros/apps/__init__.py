"""Command-line apps (demo, wam-eval, wam-collect, wam-graph) and the node-graph descriptions; may use wam_ros.ros."""
