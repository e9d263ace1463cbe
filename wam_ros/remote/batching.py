"""Many robots, one model: per-client sessions and batched inference for ``wam-serve``.

Why: robots served by one server must not share episode state (one robot's reset or
frames must never reach another's chunk), and a forward pass over B observations costs
far less than B passes, so concurrent requests are worth gathering.

- :class:`SessionPolicy`: what a backend offers to be served per session and in batches
  (``new_session()`` and ``infer_batch([(observation, session), ...])``); TinyWamPolicy is one.
- :class:`SessionBackend`: the served policy seen per session. A SessionPolicy gets one
  session per client and one call per batch; any other Policy has one shared episode
  state (a reset from any client resets it) and runs a batch's requests one by one.
- :class:`Sessions`: session key -> session (one per connection, plus named ones that
  clients send as ``session_id``; the least recently used named ones are forgotten).
- :class:`Batcher`: gathers concurrent requests for a short window, up to a maximum
  batch, and runs them as one call; each request gets its own result or its own error.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from wam_ros.policies.base import Observation, Policy, PolicyError, Prediction


@runtime_checkable
class PolicySession(Protocol):
    """One client's episode state inside a SessionPolicy."""

    def reset(self) -> None:
        """A new episode for this client only."""
        ...


@runtime_checkable
class SessionPolicy(Protocol):
    """A backend that keeps episode state per session and runs several sessions' requests at once."""

    def new_session(self) -> PolicySession:
        """Fresh episode state for one more client."""
        ...

    def infer_batch(
        self, requests: Sequence[tuple[Observation, Any]], decode_frames: bool = True
    ) -> list[Prediction | Exception]:
        """One result per request, in order: its prediction, or the exception that answers only it."""
        ...


class SessionBackend:
    """The served policy, called per session; one model call at a time (``lock``)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.per_session = isinstance(policy, SessionPolicy)
        self.lock = threading.Lock()

    def new_session(self) -> Any:
        """The backend's session object, or None where the episode state is shared."""
        return self.policy.new_session() if self.per_session else None  # type: ignore[attr-defined]

    def reset(self, session: Any) -> None:
        with self.lock:
            if self.per_session:
                session.reset()
            else:
                self.policy.reset()

    def run(
        self, requests: Sequence[tuple[Observation, Any]], decode_frames: bool
    ) -> tuple[list[Prediction | Exception], float, float]:
        """(one result per request, seconds waited for the model, seconds the model call took);
        an exception answers only its own request."""
        t0 = time.perf_counter()
        with self.lock:
            t1 = time.perf_counter()
            results = self._call(requests, decode_frames)
            return results, t1 - t0, time.perf_counter() - t1

    def _call(self, requests: Sequence[tuple[Observation, Any]], decode_frames: bool) -> list[Prediction | Exception]:
        if self.per_session:
            try:
                results = list(self.policy.infer_batch(requests, decode_frames))  # type: ignore[attr-defined]
            except Exception as exc:  # the model itself failed: every request of the pass gets it
                return [exc for _ in requests]
            if len(results) != len(requests):
                err = PolicyError(f"infer_batch returned {len(results)} results for {len(requests)} requests")
                return [err for _ in requests]
            return results
        out: list[Prediction | Exception] = []
        for observation, _ in requests:
            try:
                out.append(self.policy.infer(observation, decode_frames=decode_frames))
            except Exception as exc:
                out.append(exc)
        return out


class Sessions:
    """Session key -> the backend's session, created on first use.

    Connection sessions live until ``drop`` (the connection closed); named sessions (a
    client's ``session_id``) outlive connections, and beyond ``max_named`` the least
    recently used one is forgotten (its client then starts a fresh episode).
    """

    def __init__(self, backend: SessionBackend, max_named: int = 256) -> None:
        if max_named < 1:
            raise ValueError(f"max_named must be >= 1, got {max_named}")
        self.backend = backend
        self.max_named = int(max_named)
        self._lock = threading.Lock()
        self._connections: dict[Hashable, Any] = {}
        self._named: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: Hashable, name: str | None = None) -> Any:
        """The session of connection ``key``, or of ``name`` when the client names one."""
        with self._lock:
            if name is None:
                if key not in self._connections:
                    self._connections[key] = self.backend.new_session()
                return self._connections[key]
            if name in self._named:
                self._named.move_to_end(name)
            else:
                self._named[name] = self.backend.new_session()
                while len(self._named) > self.max_named:
                    self._named.popitem(last=False)
            return self._named[name]

    def drop(self, key: Hashable) -> None:
        with self._lock:
            self._connections.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._connections) + len(self._named)


@dataclass
class Outcome:
    """What one request got: its prediction (or error), and how it was run."""

    result: Prediction | Exception
    batch_size: int
    queue_ms: float  # waiting for its batch (or, unbatched, for the model) to start
    infer_ms: float  # the model call it was part of


@dataclass
class _Job:
    session: Any
    observation: Observation
    decode_frames: bool
    arrived: float = field(default_factory=time.perf_counter)
    done: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome | None = None


class Batcher:
    """Runs concurrent requests together: one worker thread, one backend call per batch.

    A batch starts when ``max_batch`` requests wait, when every connected client
    (``clients()``, if given) has a request waiting (nobody else can join), or ``window_s``
    after its oldest request arrived. A batch holds requests with the same ``decode_frames`` and
    at most one per session (a session's requests run in arrival order); the rest wait
    for the next batch.
    """

    def __init__(
        self,
        backend: SessionBackend,
        max_batch: int,
        window_s: float,
        clients: Callable[[], int] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if not 0.0 <= window_s <= 10.0:
            raise ValueError(f"batch window must be in [0, 10] s, got {window_s}")
        self.backend = backend
        self.max_batch = int(max_batch)
        self.window_s = float(window_s)
        self.clients = clients
        self.batches = 0
        self.batched_requests = 0
        self._pending: list[_Job] = []
        self._cond = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._loop, name="wam-serve-batcher", daemon=True)
        self._worker.start()

    def submit(self, session: Any, observation: Observation, decode_frames: bool) -> Outcome:
        """Queue one request and wait for its batch; its own result or exception."""
        job = _Job(session, observation, decode_frames)
        with self._cond:
            if self._closed:
                return Outcome(PolicyError("the server is shutting down"), 0, 0.0, 0.0)
            self._pending.append(job)
            self._cond.notify_all()
        job.done.wait()
        assert job.outcome is not None
        return job.outcome

    def close(self) -> None:
        """Stop the worker; waiting requests are answered with an error."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._worker.join(timeout=30.0)

    def _eligible(self) -> list[_Job]:
        """The next batch from the pending requests: the oldest one's kind, one per session, in order."""
        first = self._pending[0]
        batch: list[_Job] = []
        seen: set[int] = set()
        for job in self._pending:
            if len(batch) == self.max_batch:
                break
            if job.decode_frames == first.decode_frames and id(job.session) not in seen:
                batch.append(job)
                seen.add(id(job.session))
        return batch

    def _take(self) -> list[_Job] | None:
        """Wait for the next batch to be due and remove it from the queue (None once closed)."""
        with self._cond:
            while True:
                if self._closed:
                    for job in self._pending:
                        job.outcome = Outcome(PolicyError("the server is shutting down"), 0, 0.0, 0.0)
                        job.done.set()
                    self._pending.clear()
                    return None
                if not self._pending:
                    self._cond.wait()
                    continue
                batch = self._eligible()
                wait = self._pending[0].arrived + self.window_s - time.perf_counter()
                everyone = self.clients is not None and len(batch) >= self.clients()
                if len(batch) >= self.max_batch or everyone or wait <= 0:
                    for job in batch:
                        self._pending.remove(job)
                    return batch
                self._cond.wait(wait)

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            t0 = time.perf_counter()
            try:
                results, waited, took = self.backend.run([(j.observation, j.session) for j in batch],
                                                         batch[0].decode_frames)
            except Exception as exc:  # SessionBackend.run does not raise; a worker that dies would hang every client
                results, waited, took = [exc for _ in batch], 0.0, time.perf_counter() - t0
            self.batches += 1
            self.batched_requests += len(batch)
            for job, result in zip(batch, results):
                job.outcome = Outcome(result, len(batch), (t0 + waited - job.arrived) * 1000.0, took * 1000.0)
                job.done.set()
