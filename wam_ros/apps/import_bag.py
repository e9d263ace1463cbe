"""``wam-import-bag``: rosbag2 recordings (MCAP or sqlite3) -> a LeRobot v3 dataset, without ROS.

    wam-import-bag BAG [BAG ...] OUT --image-topic scene=/camera/scene/color/image_raw \\
        --joint-topic /joint_states --action-topic /wam/command --task "reach the red cube" --fps 10

Each bag becomes one episode, written by the same ``LeRobotDatasetWriter`` and sampled by the
same ``RecordingSession`` the live ``episode_recorder_node`` uses: the bag is replayed in the
order it was recorded and the session ticks on the fps grid of the bag's clock (the receive
times rosbag2 stored, i.e. what the recorder's node clock would have read). At each tick:

* ``observation.images.<name>``: the newest synchronised camera set (``CameraSynchronizer``,
  stamps from the image headers, within ``--sync-slop`` of each other and younger than
  ``--sync-max-age``);
* ``observation.state``: the latest joint state, if younger than ``--max-state-age``;
* ``action``: the command in force at that instant (``--action-topic``: a JointTrajectory is
  interpolated like the recorder does; a JointState, e.g. a leader arm, or a Float64MultiArray
  in joint order holds until the next one), or without an action topic the measured state one
  frame later (where the arm actually went).

A tick whose inputs are missing or stale is skipped and counted, as in the recorder; frames
are validated by the writer (joint count, finite values, image size). The episode starts once
every camera and the joint topic have spoken (and the instruction, with ``--instruction-topic``).
Bags are read with ``rosbags`` (pure Python; message definitions from the bag, else ROS 2 Humble's).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from wam_ros.camera.multi_camera_sync import CameraSynchronizer, SyncedFrames
from wam_ros.dataset.lerobot_v3 import DatasetError, DatasetSpec
from wam_ros.dataset.recording import RecorderState, RecordingSession
from wam_ros.dataset.video import ENCODER_ALIASES, ENCODERS, LEROBOT_DEFAULT_ENCODER
from wam_ros.dataset.writer import LeRobotDatasetWriter
from wam_ros.robot.joint_state import JointStateError, positions_in_order
from wam_ros.robot.trajectory import Trajectory, TrajectoryError

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
JOINT_STATE = "sensor_msgs/msg/JointState"
TRAJECTORY = "trajectory_msgs/msg/JointTrajectory"
ARRAY = "std_msgs/msg/Float64MultiArray"
STRING = "std_msgs/msg/String"
ACTION_TYPES = (TRAJECTORY, JOINT_STATE, ARRAY)
SYNC_SLOP, SYNC_MAX_AGE = 0.03, 0.25  # the recorder's defaults (config/episode_recorder_node.yaml)


class BagImportError(DatasetError):
    """A bag cannot be imported; the message names the bag and what is wrong with it."""


@dataclass
class ImportOptions:
    bags: list[Path]
    out: Path
    image_topics: dict[str, str]  # camera name -> topic
    joint_topic: str
    fps: int = 10
    action_topic: str = ""  # "" = the measured state one frame later
    task: str = ""
    instruction_topic: str = ""
    joints: tuple[str, ...] = ()  # () = the first joint state's names, in its order
    max_state_age: float = RecordingSession.max_state_age
    command_timeout: float = RecordingSession.command_timeout
    sync_slop: float = SYNC_SLOP
    sync_max_age: float = SYNC_MAX_AGE
    vcodec: str = LEROBOT_DEFAULT_ENCODER
    crf: int = DatasetSpec.crf
    preset: str = DatasetSpec.preset
    robot_type: str = "wam_arm"


@dataclass
class BagResult:
    bag: Path
    episode_index: int
    frames: int
    skipped: int  # ticks inside the episode whose inputs were missing or stale
    seconds: float  # length of the episode


@dataclass
class _Raw:
    """An image message kept as received: pixels are converted only for the frames that get written."""

    msg: Any
    msgtype: str
    topic: str
    pixels: np.ndarray | None = field(default=None, repr=False)

    def rgb(self) -> np.ndarray:
        if self.pixels is None:
            self.pixels = image_rgb(self.msg, self.msgtype, self.topic)
        return self.pixels


# ------------------------------------------------------------------------------------------- messages
def stamp_sec(header: Any) -> float:
    return float(header.stamp.sec) + float(header.stamp.nanosec) * 1e-9


def image_rgb(msg: Any, msgtype: str, topic: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a sensor_msgs Image (rgb8, bgr8, rgba8, bgra8, mono8) or CompressedImage."""
    if msgtype == COMPRESSED:
        bgr = cv2.imdecode(np.asarray(msg.data, dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise BagImportError(f"{topic}: compressed image ({msg.format!r}) does not decode")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}.get(msg.encoding)
    if channels is None:
        raise BagImportError(f"{topic}: image encoding {msg.encoding!r} (supported: rgb8 bgr8 rgba8 bgra8 mono8)")
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.asarray(msg.data, dtype=np.uint8)
    if step < w * channels or data.size < step * h:
        raise BagImportError(f"{topic}: image {w}x{h} {msg.encoding}, step {step}, {data.size} bytes is inconsistent")
    px = data[: step * h].reshape(h, step)[:, : w * channels].reshape(h, w, channels)
    if msg.encoding == "mono8":
        return np.repeat(px, 3, axis=2)
    if msg.encoding.startswith("bgr"):
        px = px[..., 2::-1]
    return np.ascontiguousarray(px[..., :3])


def action_reference(msg: Any, msgtype: str, t: float, joints: Sequence[str], topic: str) -> Trajectory:
    """The command a message puts in force from ``t``, as a Trajectory in ``joints`` order."""
    if msgtype == TRAJECTORY:
        times = [float(p.time_from_start.sec) + float(p.time_from_start.nanosec) * 1e-9 for p in msg.points]
        if any(len(p.positions) != len(msg.joint_names) for p in msg.points):
            raise TrajectoryError(f"{topic}: a point's positions do not match its {len(msg.joint_names)} joint names")
        stamp = stamp_sec(msg.header) or t  # JTC semantics: stamp 0 means "start now"
        positions = np.array([p.positions for p in msg.points], dtype=float).reshape(len(times), -1)
        return Trajectory(stamp, tuple(msg.joint_names), times, positions).validate().reordered(joints)
    if msgtype == JOINT_STATE:
        q = positions_in_order(list(msg.name), list(msg.position), joints, what=topic)
    else:
        q = np.asarray(msg.data, dtype=float)
        if q.shape != (len(joints),) or not np.all(np.isfinite(q)):
            raise TrajectoryError(f"{topic}: {q.tolist()} is not {len(joints)} finite positions ({list(joints)})")
    return Trajectory(t, tuple(joints), [0.0], q[None])


# ------------------------------------------------------------------------------------------- bags
def _open(bag: Path) -> Any:
    from rosbags.highlevel import AnyReader, AnyReaderError
    from rosbags.typesys import Stores, get_typestore

    if not bag.exists():
        raise BagImportError(f"{bag}: no such bag")
    try:
        reader = AnyReader([bag], default_typestore=get_typestore(Stores.ROS2_HUMBLE))
        reader.open()
    except (AnyReaderError, FileNotFoundError) as exc:
        raise BagImportError(f"{bag}: not a readable rosbag2 recording ({exc})") from exc
    return reader


def _connections(reader: Any, bag: Path, opts: ImportOptions) -> dict[str, Any]:
    """Topic -> connection for every topic the import needs; names what is missing or of the wrong type."""
    by_topic = {c.topic: c for c in reader.connections}
    wanted = {t: (IMAGE, COMPRESSED) for t in opts.image_topics.values()}
    wanted[opts.joint_topic] = (JOINT_STATE,)
    if opts.action_topic:
        wanted[opts.action_topic] = ACTION_TYPES
    if opts.instruction_topic:
        wanted[opts.instruction_topic] = (STRING,)
    missing = [t for t in wanted if t not in by_topic]
    if missing:
        have = ", ".join(f"{t} [{c.msgtype}]" for t, c in sorted(by_topic.items()))
        raise BagImportError(f"{bag}: no topic {', '.join(missing)} in this bag; it has: {have}")
    for topic, types in wanted.items():
        if by_topic[topic].msgtype not in types:
            raise BagImportError(f"{bag}: topic {topic} is {by_topic[topic].msgtype}, expected {' or '.join(types)}")
    return {t: by_topic[t] for t in wanted}


def _first(reader: Any, conn: Any) -> Any:
    for c, _, raw in reader.messages(connections=[conn]):
        return reader.deserialize(raw, c.msgtype)
    raise BagImportError(f"topic {conn.topic} has no messages")


def spec_from_bag(bag: Path, opts: ImportOptions) -> DatasetSpec:
    """Joint names and camera sizes from the first messages of the bag."""
    reader = _open(bag)
    try:
        conns = _connections(reader, bag, opts)
        joints = opts.joints or tuple(_first(reader, conns[opts.joint_topic]).name)
        cams = {}
        for name, topic in opts.image_topics.items():
            c = conns[topic]
            cams[name] = image_rgb(_first(reader, c), c.msgtype, topic).shape[:2]
    finally:
        reader.close()
    return DatasetSpec(opts.fps, joints, cams, opts.robot_type, vcodec=opts.vcodec, crf=opts.crf, preset=opts.preset)


class _NextStateActions:
    """The writer, seen by the session, with each frame's action set to the next frame's measured state.

    Frame i is held back until frame i+1 brings its state; the last frame's action is its own state.
    """

    def __init__(self, writer: LeRobotDatasetWriter) -> None:
        self.writer = writer
        self.pending: tuple[np.ndarray, dict[str, np.ndarray], float] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.writer, name)

    @property
    def episode_length(self) -> int:
        return self.writer.episode_length + (self.pending is not None)

    def add_frame(self, state: np.ndarray, action: np.ndarray, images: dict[str, np.ndarray], stamp: float) -> None:
        if self.pending is not None:
            s, imgs, st = self.pending
            self.writer.add_frame(s, state, imgs, st)
        self.pending = (np.array(state, dtype=float), images, stamp)

    def save_episode(self) -> dict[str, Any]:
        if self.pending is not None:
            s, imgs, st = self.pending
            self.pending = None
            self.writer.add_frame(s, s, imgs, st)
        return self.writer.save_episode()

    def discard_episode(self) -> None:
        self.pending = None
        self.writer.discard_episode()


def import_bag(bag: Path, writer: LeRobotDatasetWriter, opts: ImportOptions) -> BagResult:
    """Replay one bag through a RecordingSession into ``writer`` as one episode."""
    reader = _open(bag)
    try:
        conns = _connections(reader, bag, opts)
        return _replay(reader, bag, conns, writer, opts)
    finally:
        reader.close()


def _replay(reader: Any, bag: Path, conns: dict[str, Any], writer: LeRobotDatasetWriter,
            opts: ImportOptions) -> BagResult:
    joints = writer.spec.joint_names
    cams_of_topic = {topic: name for name, topic in opts.image_topics.items()}
    sync = CameraSynchronizer(list(opts.image_topics), opts.sync_slop, opts.sync_max_age)

    def frames(now: float) -> SyncedFrames | None:
        s = sync.latest(now) or sync.latest(now, allow_repeat=True)
        if s is None:
            return None
        return SyncedFrames(s.stamp, {c: f.rgb() for c, f in s.frames.items()}, s.stamps)

    target = writer if opts.action_topic else _NextStateActions(writer)
    session = RecordingSession(target, frames, max_state_age=opts.max_state_age,  # type: ignore[arg-type]
                               command_timeout=opts.command_timeout)
    seen: set[str] = set()
    required = set(opts.image_topics.values()) | {opts.joint_topic} | ({opts.instruction_topic} - {""})
    period = 1.0 / opts.fps
    t0 = k = None
    skipped_at_last_frame = 0
    last_seen: dict[str, float] = {}

    def tick_until(t: float, inclusive: bool = False) -> None:
        nonlocal k, skipped_at_last_frame
        while t0 is not None and (t0 + k * period < t or (inclusive and t0 + k * period <= t)):
            if session.tick(t0 + k * period):
                skipped_at_last_frame = session.counts["skipped"]
            session.drain_events()
            k += 1

    try:
        for conn, t_ns, raw in reader.messages(connections=list(conns.values())):
            t = t_ns * 1e-9
            tick_until(t)
            msg = reader.deserialize(raw, conn.msgtype)
            topic = conn.topic
            if topic in cams_of_topic:
                stamp = stamp_sec(msg.header) or t
                sync.add(cams_of_topic[topic], stamp, _Raw(msg, conn.msgtype, topic))
            elif topic == opts.joint_topic:
                try:
                    q = positions_in_order(list(msg.name), list(msg.position), joints, what=topic)
                except JointStateError:
                    continue  # a partial or broken state is not recorded (as in the recorder)
                session.inputs.joint_positions, session.inputs.joint_stamp = q, t
            elif topic == opts.action_topic:
                try:
                    session.inputs.command = action_reference(msg, conn.msgtype, t, joints, topic)
                except (TrajectoryError, JointStateError):
                    continue  # not recordable; the previous command stays in force until it times out
                session.inputs.command_received = t
            elif topic == opts.instruction_topic:
                session.inputs.instruction = msg.data
            seen.add(topic)
            last_seen[topic] = t
            if t0 is None and required <= seen:
                session.start(t, opts.task or None)
                t0, k = t, 0
        if t0 is None:
            missing = sorted(required - seen)
            raise BagImportError(f"{bag}: topic(s) {missing} have no usable message; nothing to import")
        tick_until(min(last_seen[t] for t in required - {opts.instruction_topic}), inclusive=True)
        if session.writer.episode_length == 0:
            session.discard()
            raise BagImportError(
                f"{bag}: no frame had fresh inputs (cameras within {opts.sync_slop}s of each other and younger "
                f"than {opts.sync_max_age}s, joint states younger than {opts.max_state_age}s)"
            )
        n = session.writer.episode_length
        session.save()
    except DatasetError as exc:
        if session.state is RecorderState.RECORDING:
            session.discard()
        if str(exc).startswith(f"{bag}:"):
            raise
        raise BagImportError(f"{bag}: {exc}") from exc
    return BagResult(bag, writer.num_episodes - 1, n, skipped_at_last_frame, n * period)


def import_bags(opts: ImportOptions, log: Any = print) -> list[BagResult]:
    """Import every bag (one episode each) into ``opts.out``; episodes before a failing bag stay saved."""
    if not opts.task and not opts.instruction_topic:
        raise BagImportError("give --task or --instruction-topic (the LeRobot task of each episode)")
    writer = LeRobotDatasetWriter(opts.out, spec_from_bag(opts.bags[0], opts))
    results = []
    try:
        log(f"[wam-import-bag] {opts.out}: {writer.num_episodes} episodes before; {opts.fps} fps, joints "
            f"{list(writer.spec.joint_names)}, cameras {writer.spec.cameras}, codec {writer.codec}; action: "
            f"{opts.action_topic or 'the measured state one frame later (no --action-topic)'}")
        for bag in opts.bags:
            r = import_bag(bag, writer, opts)
            results.append(r)
            log(f"[wam-import-bag] {bag} -> episode {r.episode_index}: {r.frames} frames over {r.seconds:.1f} s, "
                f"{r.skipped} tick(s) skipped for stale inputs")
    finally:
        writer.close()
    return results


def _camera(arg: str) -> tuple[str, str]:
    """``NAME=TOPIC``, or a TOPIC whose camera name is taken from it (/camera/<name>/... as realsense-ros)."""
    name, sep, topic = arg.partition("=")
    if not sep:
        topic = arg
        parts = [p for p in topic.split("/") if p]
        name = parts[1] if len(parts) > 1 and parts[0] == "camera" else "_".join(parts)
    if not name or not topic:
        raise argparse.ArgumentTypeError(f"--image-topic {arg!r}: expected NAME=TOPIC or TOPIC")
    return name, topic


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="wam-import-bag", description=__doc__.split("\n\n")[0],
                                 epilog="One episode per bag. See docs/data_collection.md, 'Importing rosbag2'.")
    ap.add_argument("bags", nargs="+", type=Path, metavar="BAG",
                    help="rosbag2 recordings: directories with metadata.yaml, or .mcap/.db3 files")
    ap.add_argument("out", type=Path, metavar="OUT", help="the dataset directory (created, or appended to)")
    ap.add_argument("--image-topic", action="append", type=_camera, required=True, metavar="[NAME=]TOPIC",
                    help="a camera (sensor_msgs Image or CompressedImage); repeat for more cameras")
    ap.add_argument("--joint-topic", required=True, help="sensor_msgs/JointState: observation.state")
    ap.add_argument("--action-topic", default="",
                    help="JointTrajectory (command reference), JointState (leader arm) or Float64MultiArray "
                         "(joint order): the action; default: the measured state one frame later")
    ap.add_argument("--fps", type=int, default=ImportOptions.fps, help="dataset frame rate (the sampling grid)")
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--task", default="", help="the instruction of every episode")
    group.add_argument("--instruction-topic", default="", help="std_msgs/String: the latest one is the task")
    ap.add_argument("--joints", nargs="+", default=[], help="joint names in state/action order "
                    "(default: the first joint state's names)")
    ap.add_argument("--max-state-age", type=float, default=ImportOptions.max_state_age)
    ap.add_argument("--command-timeout", type=float, default=ImportOptions.command_timeout)
    ap.add_argument("--sync-slop", type=float, default=ImportOptions.sync_slop)
    ap.add_argument("--sync-max-age", type=float, default=ImportOptions.sync_max_age)
    ap.add_argument("--vcodec", default=ImportOptions.vcodec, choices=[*ENCODERS, *ENCODER_ALIASES],
                    help="video encoder (LeRobot's default AV1; h264 is ~4x cheaper to encode)")
    ap.add_argument("--crf", type=int, default=ImportOptions.crf)
    ap.add_argument("--preset", default=ImportOptions.preset, help="x264 preset")
    ap.add_argument("--robot-type", default=ImportOptions.robot_type)
    a = ap.parse_args(argv)
    cams = dict(a.image_topic)
    if len(cams) != len(a.image_topic):
        ap.error(f"camera names must be unique: {[n for n, _ in a.image_topic]}")
    opts = ImportOptions(
        bags=a.bags, out=a.out, image_topics=cams, joint_topic=a.joint_topic, fps=a.fps,
        action_topic=a.action_topic, task=a.task, instruction_topic=a.instruction_topic, joints=tuple(a.joints),
        max_state_age=a.max_state_age, command_timeout=a.command_timeout, sync_slop=a.sync_slop,
        sync_max_age=a.sync_max_age, vcodec=a.vcodec, crf=a.crf, preset=a.preset, robot_type=a.robot_type,
    )
    t0 = time.perf_counter()
    try:
        results = import_bags(opts)
    except DatasetError as exc:
        print(f"wam-import-bag: error: {exc}", file=sys.stderr)
        return 1
    frames = sum(r.frames for r in results)
    wall = time.perf_counter() - t0
    print(f"[wam-import-bag] {len(results)} bag(s), {frames} frames in {wall:.1f} s ({frames / wall:.1f} frames/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
