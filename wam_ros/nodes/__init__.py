"""Executables: one thin rclpy node per module, each with a ``main()`` entry point."""
