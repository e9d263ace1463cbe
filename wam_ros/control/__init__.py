"""From chunks to a reference: chunk blending, the chunk smoother, the jerk-limited filter, inference scheduling."""
