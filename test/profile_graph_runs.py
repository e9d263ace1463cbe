"""Closed-loop runs of each server profile through the full sim graph (shared by the test and the bench).

One run: the family's stand-in server (test/profile_standin_server.py, the scripted expert behind it,
answering in the family's action space) in its own process, then ``wam-eval --policy remote
--server-profile <family>`` in another, which starts the whole sim graph (sim arm, wam_node with a
ProfilePolicy, smoother, safety bridge) as separate processes over DDS.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROFILES = ("openpi_libero", "openpi_droid", "openpi_aloha", "roboarena", "dreamzero", "lingbot_va", "cosmos_policy")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_profile(profile: str, episodes: int, seed: int = 1000, timeout: float = 600.0) -> dict:
    """wam-eval's JSON summary for ``episodes`` episodes of ``profile`` (raises on a crashed run)."""
    port = free_port()
    url = f"{'http' if profile == 'cosmos_policy' else 'ws'}://127.0.0.1:{port}"
    env = dict(os.environ)
    server = subprocess.Popen([sys.executable, str(REPO / "test" / "profile_standin_server.py"), profile,
                               "--port", str(port)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "eval.json"
            proc = subprocess.run(
                [sys.executable, "-m", "wam_ros.apps.evaluation", "--policy", "remote", "--server-url", url,
                 "--server-profile", profile, "--episodes", str(episodes), "--seed", str(seed),
                 "--json", str(out), "--log-dir", str(Path(tmp) / "logs")],
                cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
            if proc.returncode != 0 or not out.is_file():
                raise RuntimeError(f"wam-eval for {profile} failed ({proc.returncode}):\n{proc.stdout[-3000:]}"
                                   f"\n{proc.stderr[-3000:]}")
            return json.loads(out.read_text())
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
