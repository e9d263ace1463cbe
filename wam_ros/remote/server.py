"""``wam-serve``: serve any wam_ros policy backend over openpi's websocket + msgpack-numpy protocol.

So a GPU box can host the model while the robot PC runs the stack (client:
wam_ros.remote.client.RemotePolicy, or any openpi ``WebsocketClientPolicy``).

Protocol: on connect the server sends a metadata map (server name, protocol version,
backend, the policy's spec, the observation layout, the message size cap and the
supported extensions). Each binary request is an observation map (openpi-style keys,
see ObservationLayout); the reply is a map with ``"actions"`` (H x J), ``"action_period"``,
optional ``"frames"`` / ``"frame_offsets"``, ``"extras"`` and
``"server_timing": {"infer_ms", "decode_ms", "prev_total_ms"}`` (server compute time,
separate from the round trip the client measures). A malformed request gets a text
message naming the problem and the connection stays usable; the server never crashes
on input and never unpickles anything. Messages over ``--max-message-bytes`` are
refused by the websocket layer (close code 1009). ``GET /healthz`` answers "OK";
``GET /metadata`` answers the metadata as JSON.

Many robots, one server: every connection has its own episode state (a reset or the
frame history of one robot never reaches another's chunk), or the one a request names
with a ``"session_id"`` string (kept across reconnects). Concurrent requests are
gathered for ``--batch-window-ms`` up to ``--max-batch`` and run as one forward pass
where the backend has a batched path (wam_ros.remote.batching); ``--max-batch 1`` runs
each request alone, as it arrives.

Security: there is no authentication. The server binds to 127.0.0.1 by default; to
serve a robot PC on another machine prefer an SSH tunnel, or bind to a trusted
interface explicitly (a loud warning is printed for non-loopback addresses).
"""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import json
import logging
import math
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from wam_ros.policies.base import Policy, PolicyError, as_policy
from wam_ros.remote import msgpack_numpy
from wam_ros.remote.batching import Batcher, Outcome, SessionBackend, Sessions
from wam_ros.remote.client import (
    CTRL_KEY,
    DECODE_FRAMES_KEY,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_PORT,
    PROTOCOL_VERSION,
    SERVER_NAME,
    ObservationLayout,
    spec_to_dict,
)

log = logging.getLogger("wam_serve")

SESSION_KEY = "session_id"  # optional request / reset field: a client-chosen session name (str)
DEFAULT_MAX_BATCH = 8
DEFAULT_BATCH_WINDOW_MS = 5.0
MAX_BATCH_WINDOW_MS = 1000.0
DEFAULT_MAX_SESSIONS = 256


def is_loopback(host: str) -> bool:
    """True if binding to ``host`` keeps the server on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PolicyServer:
    """Serves one Policy to any number of clients, each with its own session; model calls are
    serialised, and with ``max_batch`` > 1 concurrent requests share one call."""

    def __init__(
        self,
        policy: Policy,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        backend: str = "",
        key_map: Mapping[str, str] | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        batch_window_ms: float = DEFAULT_BATCH_WINDOW_MS,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
    ) -> None:
        if max_message_bytes < 1024:
            raise ValueError(f"max_message_bytes must be at least 1024, got {max_message_bytes}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if not 0.0 <= batch_window_ms <= MAX_BATCH_WINDOW_MS:
            raise ValueError(f"batch_window_ms must be in [0, {MAX_BATCH_WINDOW_MS:g}], got {batch_window_ms}")
        self.policy = policy
        self.backend = SessionBackend(policy)
        self.sessions = Sessions(self.backend, max_sessions)
        self._connections = 0
        self.batcher = (
            Batcher(self.backend, max_batch, batch_window_ms / 1000.0, lambda: self._connections)
            if max_batch > 1 else None
        )
        self.spec = policy.spec
        self.layout = ObservationLayout.create(self.spec.cameras, key_map)
        self.host = host
        self.max_message_bytes = int(max_message_bytes)
        self.metadata: dict[str, Any] = {
            "server": SERVER_NAME,
            "protocol_version": PROTOCOL_VERSION,
            "backend": backend or type(policy).__name__,
            "spec": spec_to_dict(self.spec),
            "layout": self.layout.to_dict(),
            "max_message_bytes": self.max_message_bytes,
            "supports": ["reset", "decode_frames", SESSION_KEY],
            # per_client: each connection (or session_id) has its own episode state; shared: the backend
            # keeps one (a reset from any client resets it)
            "sessions": "per_client" if self.backend.per_session else "shared",
            "batching": {"max_batch": int(max_batch), "window_ms": float(batch_window_ms),
                         "batched_backend": self.backend.per_session},
        }
        self._stats_lock = threading.Lock()
        self._infer_ms: deque[float] = deque(maxlen=1000)
        self.requests = 0
        self.bad_requests = 0
        self.policy_errors = 0
        self._last_summary = time.monotonic()
        self._thread: threading.Thread | None = None
        from websockets.sync.server import serve

        self._server = serve(
            self._handle,
            host,
            port,
            compression=None,
            max_size=self.max_message_bytes,
            process_request=self._http,
        )

    @property
    def port(self) -> int:
        return int(self._server.socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    def start(self) -> PolicyServer:
        """Serve in a background thread (tests, embedding); returns self."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="wam-serve", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def shutdown(self) -> None:
        self._server.shutdown()
        if self.batcher is not None:
            self.batcher.close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def __enter__(self) -> PolicyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ----------------------------------------------------------------- http
    def _http(self, connection: Any, request: Any) -> Any:
        if request.path == "/healthz":
            return connection.respond(200, "OK\n")
        if request.path == "/metadata":
            return connection.respond(200, json.dumps(self.metadata) + "\n")
        return None  # go on with the websocket handshake

    # ------------------------------------------------------------- protocol
    def _handle(self, conn: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        peer = conn.remote_address
        log.info("client %s connected", peer)
        packer = msgpack_numpy.Packer()
        prev_total_ms: float | None = None
        client = _Client()
        with self._stats_lock:
            self._connections += 1
        try:
            conn.send(packer.pack(self.metadata))
            while True:
                message = conn.recv()
                t0 = time.perf_counter()
                reply = self._respond(message, prev_total_ms, packer, client)
                conn.send(reply)
                prev_total_ms = (time.perf_counter() - t0) * 1000.0
        except ConnectionClosed as e:
            log.info("client %s disconnected (%s)", peer, e)
        finally:
            with self._stats_lock:
                self._connections -= 1
            self.sessions.drop(client)

    def _session(self, request: dict, client: _Client) -> Any:
        """The session a request runs in: the one it names (remembered for the connection's later
        messages) or the connection's own; PolicyError for a session_id that is not a string."""
        if SESSION_KEY in request:
            name = request[SESSION_KEY]
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            if not isinstance(name, str) or not name:
                raise PolicyError(f"'{SESSION_KEY}' must be a non-empty string, got {name!r:.40}")
            client.name = name
        return self.sessions.get(client, client.name)

    def _run(self, session: Any, observation: Any, decode_frames: bool) -> Outcome:
        """One request through the batcher, or alone (max_batch 1)."""
        if self.batcher is not None:
            return self.batcher.submit(session, observation, decode_frames)
        results, waited, took = self.backend.run([(observation, session)], decode_frames)
        return Outcome(results[0], 1, waited * 1000.0, took * 1000.0)

    def _respond(self, message: bytes | str, prev_total_ms: float | None, packer: Any, client: _Client) -> bytes | str:
        """One request -> one reply: packed actions, or a text message naming the problem."""
        t0 = time.perf_counter()
        if isinstance(message, str):
            return self._bad_request("expected a binary msgpack message, got a text message")
        try:
            request = msgpack_numpy.unpackb(message)
        except msgpack_numpy.ProtocolError as e:
            return self._bad_request(str(e))
        try:
            session = self._session(request, client) if isinstance(request, dict) else None
        except PolicyError as e:
            return self._bad_request(str(e))
        if isinstance(request, dict) and CTRL_KEY in request:
            return packer.pack(self._control(request[CTRL_KEY], session))
        try:
            observation = self.layout.decode(request, self.spec)
        except PolicyError as e:
            return self._bad_request(str(e))
        decode_frames = bool(request.get(DECODE_FRAMES_KEY, True))
        t1 = time.perf_counter()
        outcome = self._run(session, observation, decode_frames)
        try:
            if isinstance(outcome.result, Exception):
                raise outcome.result
            prediction = outcome.result.validate(self.spec)
        except Exception as e:  # a failing model must not take the server down; it answers this client only
            with self._stats_lock:
                self.policy_errors += 1
            log.warning("policy error: %s: %s", type(e).__name__, e)
            return f"policy error: {type(e).__name__}: {e}"
        infer_ms = outcome.infer_ms
        timing = {"infer_ms": infer_ms, "decode_ms": (t1 - t0) * 1000.0, "queue_ms": outcome.queue_ms,
                  "batch_size": outcome.batch_size}
        if prev_total_ms is not None:
            timing["prev_total_ms"] = prev_total_ms
        response: dict[str, Any] = {
            self.layout.actions_key: np.ascontiguousarray(prediction.actions),
            "action_period": float(prediction.action_period),
            "server_timing": timing,
        }
        if decode_frames and prediction.frames is not None:
            response["frames"] = {cam: np.ascontiguousarray(f) for cam, f in prediction.frames.items()}
            response["frame_offsets"] = np.asarray(prediction.frame_offsets, dtype=np.float64)
        extras = _plain_extras(prediction.extras)
        extras.update(batch_size=outcome.batch_size, queue_ms=outcome.queue_ms)
        response["extras"] = extras
        try:
            reply = packer.pack(response)
        except (TypeError, ValueError, OverflowError) as e:  # e.g. an extras value msgpack cannot carry
            with self._stats_lock:
                self.policy_errors += 1
            return f"policy error: the prediction cannot be serialised: {e}"
        if len(reply) > self.max_message_bytes:
            return self._bad_request(
                f"response of {len(reply)} bytes exceeds max_message_bytes={self.max_message_bytes} "
                f"(request without frames, or raise --max-message-bytes on both ends)"
            )
        self._record(infer_ms)
        return reply

    def _control(self, command: Any, session: Any) -> dict[str, Any]:
        if command == "reset":
            self.backend.reset(session)  # this client's session only (all of a shared-state backend)
            return {"__ack__": "reset"}
        return {"__ack__": "ignored"}  # openpi's episode_start / episode_end etc.

    def _bad_request(self, reason: str) -> str:
        with self._stats_lock:
            self.bad_requests += 1
        log.warning("bad request: %s", reason)
        return f"bad request: {reason}"

    def _record(self, infer_ms: float) -> None:
        with self._stats_lock:
            self.requests += 1
            self._infer_ms.append(infer_ms)
            log.debug("request %d: infer %.1f ms", self.requests, infer_ms)
            now = time.monotonic()
            if now - self._last_summary >= 10.0:
                self._last_summary = now
                p50, p99 = np.percentile(np.asarray(self._infer_ms), [50, 99])
                batching = ""
                if self.batcher is not None and self.batcher.batches:
                    batching = f"; mean batch {self.batcher.batched_requests / self.batcher.batches:.2f}"
                log.info(
                    "%d requests served (%d bad, %d policy errors); infer p50 %.1f ms, p99 %.1f ms; %d clients%s",
                    self.requests, self.bad_requests, self.policy_errors, p50, p99, self._connections, batching,
                )


class _Client:
    """One connection (the key of its own session) and the session it last named, if any."""

    def __init__(self) -> None:
        self.name: str | None = None


def _plain_extras(extras: Mapping[str, Any]) -> dict[str, Any]:
    """The msgpack-safe, small part of Prediction.extras (numbers, strings, small arrays)."""
    out: dict[str, Any] = {}
    for k, v in extras.items():
        if isinstance(v, bool | int | str) or (isinstance(v, float) and math.isfinite(v)):
            out[str(k)] = v
        elif isinstance(v, np.generic) and v.dtype.kind in "biuf":
            out[str(k)] = v.item()
        elif isinstance(v, np.ndarray) and v.dtype.kind in "biuf" and v.size <= 64:
            out[str(k)] = v
    return out


# ---------------------------------------------------------------------- CLI
def load_policy(backend: str, kwargs: dict[str, Any]) -> Policy:
    """A backend name for wam_ros.policies.make_policy, or 'package.module:Factory'."""
    if ":" in backend:
        module_name, _, attr = backend.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        policy = factory(**kwargs)
    else:
        from wam_ros.policies import make_policy  # lazy: backends pull in torch etc.

        policy = make_policy(backend, **kwargs)
    try:
        return as_policy(policy)  # a third party's object needs only spec, infer and reset
    except TypeError as exc:
        raise TypeError(f"backend {backend!r}: {exc}") from exc


def _parse_arg(text: str) -> tuple[str, Any]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--arg must look like KEY=VALUE, got {text!r}")
    return key.strip(), yaml.safe_load(value)


def _max_bytes(text: str) -> int:
    value = int(text)
    if value < 1024:
        raise argparse.ArgumentTypeError(f"--max-message-bytes must be at least 1024, got {value}")
    return value


def _at_least_one(name: str) -> Any:
    def parse(text: str) -> int:
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be >= 1, got {value}")
        return value

    return parse


def _window_ms(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= MAX_BATCH_WINDOW_MS:
        raise argparse.ArgumentTypeError(f"--batch-window-ms must be in [0, {MAX_BATCH_WINDOW_MS:g}], got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wam-serve",
        description="Serve a wam_ros policy backend over openpi's websocket + msgpack-numpy protocol.",
    )
    p.add_argument("--backend", required=True,
                   help="backend name (tiny_wam, replay, expert, ...) or 'package.module:Factory'")
    p.add_argument("--checkpoint", default=None, help="checkpoint path, passed to the backend as checkpoint=")
    p.add_argument("--arg", action="append", default=[], type=_parse_arg, metavar="KEY=VALUE",
                   help="extra backend keyword argument (value parsed as YAML), repeatable, e.g. --arg device=cpu")
    p.add_argument("--host", default="127.0.0.1",
                   help="bind address (default 127.0.0.1: this machine only; 0.0.0.0 exposes the server)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0 = any free)")
    p.add_argument("--max-message-bytes", type=_max_bytes, default=DEFAULT_MAX_MESSAGE_BYTES,
                   help=f"largest request/response accepted (default {DEFAULT_MAX_MESSAGE_BYTES})")
    p.add_argument("--max-batch", type=_at_least_one("--max-batch"), default=DEFAULT_MAX_BATCH,
                   help=f"most concurrent requests run as one forward pass (default {DEFAULT_MAX_BATCH}; "
                        "1 = each request alone, as it arrives)")
    p.add_argument("--batch-window-ms", type=_window_ms, default=DEFAULT_BATCH_WINDOW_MS,
                   help=f"how long a request waits for others to join its batch (default "
                        f"{DEFAULT_BATCH_WINDOW_MS:g}; a batch starts at once when every connected client waits)")
    p.add_argument("--max-sessions", type=_at_least_one("--max-sessions"), default=DEFAULT_MAX_SESSIONS,
                   help=f"named sessions (request field '{SESSION_KEY}') kept; the least recently used "
                        f"beyond this are forgotten (default {DEFAULT_MAX_SESSIONS})")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="[wam-serve] %(levelname)s %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    kwargs = dict(args.arg)
    if args.checkpoint is not None:
        kwargs["checkpoint"] = args.checkpoint
    if not is_loopback(args.host):
        bar = "!" * 78
        print(
            f"{bar}\nWARNING: wam-serve is binding to {args.host}, reachable from other machines.\n"
            "There is NO authentication: anyone who can reach this port can query the policy.\n"
            "Use this only on a trusted network, or keep 127.0.0.1 and use an SSH tunnel.\n"
            f"{bar}",
            file=sys.stderr,
            flush=True,
        )
    try:
        policy = load_policy(args.backend, kwargs)
    except Exception as e:
        print(f"wam-serve: cannot create backend {args.backend!r}: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(2)
    try:
        server = PolicyServer(policy, args.host, args.port, args.max_message_bytes, backend=args.backend,
                              max_batch=args.max_batch, batch_window_ms=args.batch_window_ms,
                              max_sessions=args.max_sessions)
    except OSError as e:
        print(f"wam-serve: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        sys.exit(1)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(
        f"wam-serve: serving backend {args.backend!r} on {server.url} "
        f"(max message {args.max_message_bytes} bytes; {server.metadata['sessions']} sessions; "
        f"batches of up to {args.max_batch} within {args.batch_window_ms:g} ms; "
        f"health: http://{args.host}:{server.port}/healthz)",
        flush=True,
    )
    while not stop.wait(0.5):
        pass
    server.shutdown()
    print("wam-serve: stopped", flush=True)


if __name__ == "__main__":
    main()
