"""MP4 video for datasets with PyAV: streaming encode, lossless concatenation, decode.

Frames are encoded as they arrive (no episode is ever held raw in memory); episodes
are appended to a camera's file by remuxing packets (no re-encode), as LeRobot's
``concatenate_video_files`` does. yuv420p, constant frame rate, pts = frame index / fps.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from wam_ros.dataset.lerobot_v3 import DatasetError


def available_encoder(preferred: str = "libx264") -> str:
    """``preferred`` if PyAV's FFmpeg has it, else the first of libx264, libsvtav1, mpeg4 it has."""
    for name in (preferred, "libx264", "libsvtav1", "mpeg4"):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:
            continue
    raise DatasetError("PyAV has none of the video encoders libx264, libsvtav1, mpeg4")


def encoder_options(codec: str, crf: int, gop: int, preset: str) -> dict[str, str]:
    if codec == "libx264":
        # zerolatency: no lookahead, no B-frames -> each frame leaves the encoder at once, pts == dts.
        return {"crf": str(crf), "g": str(gop), "preset": preset, "tune": "zerolatency", "bf": "0"}
    if codec == "libsvtav1":
        return {"crf": str(crf), "g": str(gop), "preset": "12"}
    return {"g": str(gop), "bf": "0", "qscale": "5"}


class VideoEncoder:
    """Encode RGB frames into an MP4 written to ``fileobj`` (so writes pass the writer's file seam)."""

    def __init__(
        self, fileobj: BinaryIO, width: int, height: int, fps: int, codec: str, options: dict[str, str]
    ) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.frames = 0
        self._container = av.open(fileobj, mode="w", format="mp4")
        self._stream = self._container.add_stream(codec, rate=fps, options=options)
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
        self._stream.codec_context.time_base = Fraction(1, fps)

    def add(self, rgb: np.ndarray) -> None:
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise DatasetError(
                f"frame of shape {rgb.shape} {rgb.dtype}, expected ({self.height}, {self.width}, 3) uint8"
            )
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.frames
        frame.time_base = Fraction(1, self.fps)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> int:
        """Flush and finish the file; returns the number of frames."""
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self.frames

    def abort(self) -> None:
        try:
            self._container.close()
        except Exception:
            pass


def concatenate(inputs: list[Path], fileobj: BinaryIO) -> None:
    """Remux ``inputs`` (same codec and size) one after another into ``fileobj``; no re-encode."""
    out = av.open(fileobj, mode="w", format="mp4")
    try:
        out_stream = None
        offset = 0  # in out_stream.time_base units, end of what is written so far
        for path in inputs:
            with av.open(str(path)) as src:
                in_stream = src.streams.video[0]
                if out_stream is None:
                    out_stream = out.add_stream_from_template(in_stream)
                    out_tb = in_stream.time_base
                scale = Fraction(in_stream.time_base) / Fraction(out_tb)
                end = offset
                for packet in src.demux(in_stream):
                    if packet.dts is None:
                        continue
                    pts = offset + round(packet.pts * scale)
                    dts = offset + round(packet.dts * scale)
                    dur = round((packet.duration or 0) * scale)
                    packet.pts, packet.dts = pts, dts
                    packet.stream = out_stream
                    out.mux(packet)
                    end = max(end, pts + dur)
                offset = end
    finally:
        out.close()


def count_frames(path: Path) -> int:
    """Number of video packets (one per frame for these streams); cheap, no decoding."""
    with av.open(str(path)) as c:
        return sum(1 for p in c.demux(c.streams.video[0]) if p.dts is not None)


def decode(path: Path, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """RGB frames with frame index in [start, stop) and their presentation times [s]."""
    frames, times = [], []
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate)
        if start > 0:
            c.seek(int(max(start - 2, 0) / fps / stream.time_base), stream=stream, backward=True)
        for frame in c.decode(stream):
            t = float(frame.pts * stream.time_base)
            idx = round(t * fps)
            if idx < start:
                continue
            if stop is not None and idx >= stop:
                break
            frames.append(frame.to_ndarray(format="rgb24"))
            times.append(t)
    if not frames:
        return np.zeros((0, 0, 0, 3), np.uint8), np.zeros(0)
    return np.stack(frames), np.array(times)
