"""MP4 video for datasets with PyAV: streaming encode, lossless concatenation, decode.

Frames are encoded as they arrive (no episode is ever held raw in memory); episodes
are appended to a camera's file by remuxing packets (no re-encode), as LeRobot's
``concatenate_video_files`` does. yuv420p, constant frame rate, pts = frame index / fps.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np

from wam_ros.dataset.errors import DatasetError

log = logging.getLogger(__name__)
# SVT-AV1 prints a banner and its config (~20 lines) per encoder; errors only, unless the user set SVT_LOG.
os.environ.setdefault("SVT_LOG", "1")

#: LeRobot 0.6's default encoder (``VideoEncoderConfig.vcodec``): AV1 by SVT-AV1.
LEROBOT_DEFAULT_ENCODER = "libsvtav1"
#: Encoders the writer knows how to configure, in fallback order after the one asked for.
ENCODERS = ("libsvtav1", "libx264", "mpeg4")
#: LeRobot's and FFmpeg's codec names for them (``--vcodec h264`` works as in LeRobot).
ENCODER_ALIASES = {"av1": "libsvtav1", "h264": "libx264"}
SVTAV1_PRESET = 12  # LeRobot's LIBSVTAV1_DEFAULT_PRESET (SVT-AV1 4.x runs it as 11)


def encoder_name(name: str) -> str:
    """The PyAV encoder for a LeRobot or PyAV codec name (``h264`` -> ``libx264``, ``av1`` -> ``libsvtav1``)."""
    encoder = ENCODER_ALIASES.get(name, name)
    if encoder not in ENCODERS:
        raise DatasetError(f"video codec {name!r} is not supported; use one of {list(ENCODERS)} (or h264, av1)")
    return encoder


def available_encoder(preferred: str = LEROBOT_DEFAULT_ENCODER) -> str:
    """``preferred`` if PyAV's FFmpeg has it, else the first of libx264, libsvtav1, mpeg4 it has (logged)."""
    preferred = encoder_name(preferred)
    for name in dict.fromkeys((preferred, "libx264", "libsvtav1", "mpeg4")):
        try:
            av.codec.Codec(name, "w")
        except Exception:
            continue
        if name != preferred:
            log.warning("PyAV %s has no %s encoder; videos are encoded with %s", av.__version__, preferred, name)
        return name
    raise DatasetError("PyAV has none of the video encoders libx264, libsvtav1, mpeg4")


def encoder_options(codec: str, crf: int, gop: int, preset: str) -> dict[str, str]:
    """PyAV options; ``preset`` is x264's (SVT-AV1 takes LeRobot's preset 12, mpeg4 has none)."""
    if codec == "libx264":
        # zerolatency: no lookahead, no B-frames -> each frame leaves the encoder at once, pts == dts.
        return {"crf": str(crf), "g": str(gop), "preset": preset, "tune": "zerolatency", "bf": "0"}
    if codec == "libsvtav1":
        return {"crf": str(crf), "g": str(gop), "preset": str(SVTAV1_PRESET)}
    return {"g": str(gop), "bf": "0", "qscale": "5"}


def video_info(codec: str, height: int, width: int, fps: int, crf: int, gop: int, preset: str) -> dict[str, Any]:
    """A camera feature's ``info`` in info.json, keyed as LeRobot 0.6's ``get_video_info`` writes it.

    Stream facts (``video.codec`` is the codec's short name: h264, av1), then the encoder
    settings as ``video.<field>`` of LeRobot's ``VideoEncoderConfig`` (options it has no field
    for go to ``video.extra_options``), then ``is_depth_map`` (LeRobot 0.6's key; the legacy
    ``video.is_depth_map`` is what LeRobot migrates away from).
    """
    opts = encoder_options(codec, crf, gop, preset)
    fields = {"g": gop, "crf": crf if "crf" in opts else None, "preset": None}
    if codec == "libx264":
        fields["preset"] = preset
    elif codec == "libsvtav1":
        fields["preset"] = SVTAV1_PRESET
    extra = {k: int(v) if v.isdigit() else v for k, v in opts.items() if k not in ("g", "crf", "preset")}
    return {
        "video.height": height,
        "video.width": width,
        "video.codec": av.codec.Codec(codec, "w").canonical_name,
        "video.pix_fmt": "yuv420p",
        "video.fps": fps,
        "video.channels": 3,
        "has_audio": False,
        "video.g": fields["g"],
        "video.crf": fields["crf"],
        "video.preset": fields["preset"],
        "video.fast_decode": 0,
        "video.video_backend": "pyav",
        "video.extra_options": extra,
        "is_depth_map": False,
    }


@contextmanager
def file_errors() -> Iterator[None]:
    """Let a write error of our file object (ENOSPC above all) leave PyAV as the OSError it was.

    PyAV reports an exception raised inside its file callback as ``PyAVCallbackError`` when it
    surfaces later (a buffered write failing at ``close``); the writer's error handling keys on OSError.
    """
    try:
        yield
    except av.error.PyAVCallbackError as exc:
        if isinstance(exc.__context__, OSError):
            raise exc.__context__ from exc
        raise


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
        with file_errors():
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        self.frames += 1

    def close(self) -> int:
        """Flush and finish the file; returns the number of frames."""
        with file_errors():
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        return self.frames

    def abort(self) -> None:
        """Drop the file; the encoder is still drained (SVT-AV1 complains of a deinit without end of stream)."""
        try:
            for _ in self._stream.encode(None):
                pass
        except Exception:
            pass
        try:
            self._container.close()
        except Exception:
            pass


def concatenate(inputs: list[Path], fileobj: BinaryIO) -> None:
    """Remux ``inputs`` (same codec and size) one after another into ``fileobj``; no re-encode."""
    with file_errors():
        _concatenate(inputs, fileobj)


def _concatenate(inputs: list[Path], fileobj: BinaryIO) -> None:
    out = av.open(fileobj, mode="w", format="mp4")
    try:
        out_stream = None
        offset = 0  # in out_stream.time_base units, end of what is written so far
        for path in inputs:
            with av.open(str(path)) as src:
                in_stream = src.streams.video[0]
                if out_stream is None:
                    out_stream = out.add_stream_from_template(in_stream, opaque=True)  # remux: no encoder needed
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
