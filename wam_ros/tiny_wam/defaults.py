"""TinyWAM defaults that tools outside the model need, without importing torch.

``TinyWamConfig`` (``wam_ros.tiny_wam.model``) takes its sizes from here, and so do
wam_node's parameters (``wam_ros.params.wam_node``), which must stay light: one value,
one place.
"""

from __future__ import annotations

#: Actions per chunk: 2.4 s at 0.1 s covers 2x an 800 ms inference delay without a stall. The bundled
#: checkpoint has it; replay and remote backends use it, so the remote client's horizon check passes.
ACTION_HORIZON = 24
#: (height, width) frames are resized to.
IMAGE_SIZE = (64, 64)
#: Flow-matching Euler steps per chunk at inference.
NUM_STEPS = 8
#: Where the model runs: auto (CUDA when available), cuda or cpu.
DEVICES = ("auto", "cuda", "cpu")
DEVICE = DEVICES[0]
