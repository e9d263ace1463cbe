"""recording: what starts, saves and discards the episode recorder's episodes (keys, the sim's scene state).

The recording itself (fixed-fps sampling, the dataset) is wam_ros.dataset.recording.
"""
