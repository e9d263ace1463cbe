# wam_ros: two commands for a new user — `make demo` and `make test`.
# Every target runs with DDS isolated to this machine (loopback discovery, a
# private domain id) and with the project's Fast DDS shared-memory profile.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
ROOT := $(abspath .)

export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
# A private domain per make invocation (override: make test ROS_DOMAIN_ID=17).
ROS_DOMAIN_ID ?= $(shell echo $$(( 100 + $$$$ % 100 )))
export ROS_DOMAIN_ID
export RMW_IMPLEMENTATION ?= rmw_fastrtps_cpp
export FASTDDS_DEFAULT_PROFILES_FILE := $(ROOT)/config/fastdds.xml
export MUJOCO_GL ?= osmesa
export PYOPENGL_PLATFORM ?= osmesa
export PYTHONUNBUFFERED := 1

.PHONY: setup test test-core demo bench checkpoint lint format clean

setup:
	@bash scripts/setup_env.sh

test: setup
	@echo "[test] ROS_DOMAIN_ID=$(ROS_DOMAIN_ID) discovery=$(ROS_AUTOMATIC_DISCOVERY_RANGE)"
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

# The quick tier: core modules only (no DDS, no processes, no long training or search runs).
test-core: setup
	$(PY) -m pytest -m "not ros and not slow" $(PYTEST_ARGS)

demo: setup
	$(PY) -m wam_ros.apps.demo $(DEMO_ARGS)

# Reproduce the bundled checkpoint: scripted-expert demonstrations collected through the
# data-collection graph (sim arm, teleop_node source=expert, safety bridge, episode recorder),
# then wam-train on them, then a closed-loop evaluation through the full graph.
DEMOS ?= data/wam_demos
# Every cube layout is demonstrated with each of its 3 targets (seeds from 6000: layouts disjoint from
# the evaluation seeds 1000+), and half the training windows are episode starts, where only the
# instruction says which cube (docs/wam.md, "grounding"). The calibrated cameras turn each
# demonstration's final end-effector position, 4 cm down to the cube, into the pixel the target pointer
# must look at (the wrist camera's at each frame's arm pose), and half
# the samples give the goal token the true goal so the actions learn to follow it. Two stages: 1500
# steps, then 1500 more from those weights with a fresh schedule (README, "Training").
CHECKPOINT_EPISODES ?= 1010
TRAIN_ARGS ?= --lr 5e-4 --augment-colors --start-fraction 0.5 --model '{"goal_teacher_forcing": 0.5}' \
	--calibration scene=config/sim_scene_camera.yaml --calibration wrist=config/sim_wrist_camera.yaml \
	--pointer-target-offset 0 0 -0.04
# The world head (docs/wam.md, "the world model"): 420 scenes of chunks executed open loop in the headless
# simulator (seeds 20000+; the expert's, perturbed and the trained policy's own chunks), then only the
# world head trains on them, every other weight of the checkpoint frozen; the calibrations give its cues.
WORLD_ARGS ?= --calibration scene=config/sim_scene_camera.yaml --calibration wrist=config/sim_wrist_camera.yaml
checkpoint: setup
	$(PY) -m wam_ros.apps.collect_demos $(DEMOS) --episodes $(CHECKPOINT_EPISODES) --seed 6000 --targets-per-layout 3 \
		--real-time-factor 1.5
	$(PY) -m wam_ros.tiny_wam.training $(DEMOS) --out outputs/tiny_wam-stage1 --steps 1500 $(TRAIN_ARGS)
	$(PY) -m wam_ros.tiny_wam.training $(DEMOS) --out checkpoints/tiny_wam --init-from outputs/tiny_wam-stage1 --steps 1500 \
		$(TRAIN_ARGS)
	$(PY) -m wam_ros.tiny_wam.world_data outputs/world_rollouts_20000.npz --episodes 180 --seed 20000 \
		--checkpoint checkpoints/tiny_wam
	$(PY) -m wam_ros.tiny_wam.world_data outputs/world_rollouts_30000.npz --episodes 240 --seed 30000 \
		--checkpoint checkpoints/tiny_wam
	$(PY) -m wam_ros.tiny_wam.world_training outputs/world_rollouts_20000.npz outputs/world_rollouts_30000.npz \
		--init-from checkpoints/tiny_wam --out checkpoints/tiny_wam $(WORLD_ARGS)
	$(PY) -m wam_ros.apps.evaluation --policy tiny_wam --episodes 50 --json outputs/eval-tiny_wam.json

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: setup
	$(VENV)/bin/ruff check .

format: setup
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) build install log .pytest_cache outputs
