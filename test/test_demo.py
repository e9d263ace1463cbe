"""demo.main's named steps, without starting the graph: policy choice, episode line, summary, exit code."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np

from wam_ros.apps.demo import DemoRun, choose_policy, compose, episode_line, exit_code, summary_lines


def result(success: bool, duration: float = 4.0, faults: int = 0):
    return SimpleNamespace(seed=1000, instruction="reach the red cube", success=success, duration=duration,
                           faults=faults)


def test_auto_policy_is_the_checkpoint_when_present_else_the_expert_said_so(tmp_path, capsys):
    assert choose_policy("auto", str(tmp_path / "none")) == "expert"
    assert "the scripted expert stands in" in capsys.readouterr().out
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "config.json").write_text(json.dumps({}))
    assert choose_policy("auto", str(tmp_path / "ck")) == "tiny_wam"
    assert choose_policy("expert", str(tmp_path / "ck")) == "expert" and capsys.readouterr().out == ""


def test_episode_line_says_outcome_time_and_faults():
    assert "SUCCESS in 4.0 s" in episode_line(1, result(True))
    line = episode_line(2, result(False, 20.0, faults=3))
    assert "episode 2: seed 1000 'reach the red cube' -> fail in 20.0 s faults 3" in line


def test_summary_counts_successes_and_reports_latency_stalls_and_codes():
    run = DemoRun(results=[result(True, 3.0), result(False), result(True, 5.0)],
                  wam={"latency_p50_ms": 120, "latency_p99_ms": 300},
                  smoother={"stall_time_total": 0.4, "stall_time_max": 0.2, "chunks_accepted": 40},
                  codes={"wam_node": 0})
    text = "\n".join(summary_lines("tiny_wam", "rtc_blend", 0.2, run))
    assert "tiny_wam (strategy rtc_blend, extra latency 0.20 s)" in text
    assert "episodes          3, successes 2 (67%)" in text
    assert "time to success   4.0 s mean" in text
    assert "p50 120 ms, p99 300 ms" in text and "stall total 0.4 s (longest 0.2 s)" in text
    assert "chunks accepted 40" in text and "processes         {'wam_node': 0}" in text
    assert "video" not in text


def test_summary_of_an_interrupted_run_has_question_marks_not_errors():
    text = "\n".join(summary_lines("expert", "latest", 0.0, DemoRun(wam={"infer_ms": 3})))
    assert "episodes          0, successes 0\n" in text and "time to success" not in text
    assert "p50 3 ms, p99 ? ms" in text and "stall total ? s" in text


def test_exit_code_is_zero_only_for_episodes_and_clean_exits():
    ok = [result(False)]
    assert exit_code(DemoRun(results=ok, codes={"a": 0, "b": -2})) == 0
    assert exit_code(DemoRun(results=ok, codes={"a": 0, "b": 1})) == 1
    assert exit_code(DemoRun(results=[], codes={"a": 0})) == 1
    assert exit_code(DemoRun(results=ok, codes={})) == 1


def test_compose_puts_camera_and_filmstrip_side_by_side_with_even_width():
    frame = compose(np.zeros((120, 160, 3), np.uint8), None, size=(960, 240))
    assert frame.shape == (240, 960, 3)
    # the filmstrip grows comparison columns once real frames are paired: the video frame keeps its size,
    # the strip keeps its aspect ratio
    for strip in (np.full((256, 384, 3), 200, np.uint8), np.full((256, 896, 3), 200, np.uint8)):
        frame = compose(np.full((120, 160, 3), 90, np.uint8), strip, size=(960, 240))
        assert frame.shape == (240, 960, 3)
        assert (frame[:, :320] == 90).all()  # the camera, 4:3 at full height
        ys, xs = np.nonzero((frame[:, 320:] == 200).all(axis=2))
        h, w = np.ptp(ys) + 1, np.ptp(xs) + 1
        assert abs(w / h - strip.shape[1] / strip.shape[0]) < 0.05
        assert h == 240 or w == 640  # as large as the box allows
