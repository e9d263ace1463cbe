"""The tiny WAM's world head: the frame a chunk will cause, as the current frame plus a predicted change.

A residual U-Net at full resolution over the current frame of one camera, given the chunk's
cues (``world_cues.py``: the current frame warped to where a wrist camera will be, where the arm
is now and where the chunk's joint targets put it in this image) and a conditioning vector (the
joints now and at the predicted time, which camera, which offset). Why this shape, against
predicting the future in the autoencoder's 8x8x4 latent (the transformer's frame tokens; measured
in docs/wam_history.md):

* Most of a frame does not change in 1.6 s (the table, the cubes the arm does not cover). The
  latent had to re-create all of it and could not: its reconstruction alone was below simply
  repeating the current frame. Here the output is ``current + residual`` with the residual's
  last layer zero-initialised, so an untrained head *is* the copy baseline, and the skip
  connections keep 2-3 pixel cubes exactly.
* What does change is the arm (and, in the wrist camera, the whole view moving with it). Where
  it will be is geometry the cues give exactly; the network learns only to paint it there and
  the background where it was.

Inputs are normalised joints (the checkpoint's state statistics) and frames in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(8, c_out), nn.SiLU())


class WorldHead(nn.Module):
    """(current frame [N, 3, H, W], cue channels [N, cue_channels, H, W], conditioning [N, cond_dim]) -> predicted
    frame [N, 3, H, W] (unclamped): ``current + residual``, the residual's last layer zero-initialised.

    Kept lean for CPU training: one convolution per level at full resolution (where the arm is a
    few pixels wide), two at the coarser levels; the conditioning enters at the bottleneck as a
    learned spatial map and as FiLM at every decoder level.
    """

    def __init__(self, cond_dim: int, cue_channels: int, image_size: tuple[int, int],
                 channels: tuple[int, ...] = (16, 32, 48, 64), d_cond: int = 128) -> None:
        from wam_ros.tiny_wam.model import pixel_grid  # here: model.py imports this module

        super().__init__()
        h, w = image_size
        levels = len(channels)
        down = 2 ** (levels - 1)
        if h % down or w % down:
            raise ValueError(f"image_size {image_size} must divide by {down} for {levels} U-Net levels")
        self.register_buffer("coords", pixel_grid(h, w)[None], persistent=False)
        self.cond = nn.Sequential(nn.Linear(cond_dim, d_cond), nn.SiLU(), nn.Linear(d_cond, d_cond), nn.SiLU())
        c = channels
        self.enc = nn.ModuleList(
            [_conv(3 + cue_channels + 2, c[0])]
            + [nn.Sequential(_conv(c[i - 1], c[i]), _conv(c[i], c[i])) for i in range(1, levels)]
        )
        self.bottom_hw = (h // down, w // down)
        self.spatial_ch = 16
        self.spatial = nn.Linear(d_cond, self.spatial_ch * self.bottom_hw[0] * self.bottom_hw[1])
        self.mid = _conv(c[-1] + self.spatial_ch, c[-1])
        # decoder, from the bottom up: upsample c[i+1], concatenate the skip c[i], FiLM, (a second conv below full res)
        ups = list(reversed(range(levels - 1)))
        self.dec = nn.ModuleList([_conv(c[i + 1] + c[i], c[i]) for i in ups])
        self.dec2 = nn.ModuleList([_conv(c[i], c[i]) if i else nn.Identity() for i in ups])
        self.film = nn.ModuleList([nn.Linear(d_cond, 2 * c[i]) for i in ups])
        for f in self.film:
            nn.init.zeros_(f.weight)
            nn.init.zeros_(f.bias)
        self.out = nn.Conv2d(c[0], 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # untrained: the prediction is the current frame (copy)
        nn.init.zeros_(self.out.bias)

    def forward(self, frame: torch.Tensor, cues: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        e = self.cond(cond)
        x = torch.cat([frame, cues, self.coords.to(frame.dtype).expand(frame.shape[0], -1, -1, -1)], 1)
        skips = []
        for i, enc in enumerate(self.enc):
            x = enc(F.avg_pool2d(x, 2) if i else x)
            skips.append(x)
        s = self.spatial(e).view(-1, self.spatial_ch, *self.bottom_hw)
        x = self.mid(torch.cat([x, s], 1))
        for dec, dec2, film, skip in zip(self.dec, self.dec2, self.film, reversed(skips[:-1])):
            x = dec(torch.cat([F.interpolate(x, scale_factor=2, mode="nearest"), skip], 1))
            scale, shift = film(e)[:, :, None, None].chunk(2, 1)
            x = dec2(x * (1 + scale) + shift)
        return frame + self.out(x)
