#!/usr/bin/env bash
# Idempotent environment setup: Debian libraries, .venv (Python 3.11), pinned pip
# requirements, editable install of wam_ros. A no-op run takes a couple of seconds:
# every step is skipped when its stamp is newer than its inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
PY=${PYTHON:-python3.11}

apt_need=()
for pkg in libusb-1.0-0 libosmesa6; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || apt_need+=("$pkg")
done
if [ ${#apt_need[@]} -gt 0 ]; then
  echo "[setup] apt: installing ${apt_need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_need[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $PY"
  if [ -n "${ROS_DISTRO:-}" ]; then
    # A sourced system ROS 2: let the venv see its rclpy and message packages.
    "$PY" -m venv --system-site-packages "$VENV"
  else
    "$PY" -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q --upgrade pip
fi

stamp="$VENV/.wam_ros_installed"
inputs=(requirements.txt requirements-ros.txt setup.py setup.cfg)
if [ ! -f "$stamp" ] || [ -n "$(find "${inputs[@]}" -newer "$stamp" 2>/dev/null)" ]; then
  reqs=(-r requirements.txt)
  if [ -z "${ROS_DISTRO:-}" ]; then reqs+=(-r requirements-ros.txt); else echo "[setup] ROS_DISTRO=$ROS_DISTRO sourced: using its rclpy"; fi
  echo "[setup] pip install (pinned)"
  "$VENV/bin/pip" install -q "${reqs[@]}"
  "$VENV/bin/pip" install -q --no-deps --no-build-isolation -e .
  touch "$stamp"
fi
echo "[setup] ok"
