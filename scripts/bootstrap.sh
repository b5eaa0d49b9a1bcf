#!/usr/bin/env bash
# Prepares a fresh machine for ClipForge development: Debian tools, a virtual environment
# with every service installed editable, and RabbitMQ answering. Safe to run again: each
# step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
APT_PACKAGES=(ffmpeg espeak-ng fonts-dejavu-core docker-compose chromium)

missing=()
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v chromium >/dev/null || missing+=(chromium)  # the web app's end-to-end test
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${APT_PACKAGES[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${APT_PACKAGES[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.clipforge-requirements"
want=$(cat requirements/*.txt services/*/pyproject.toml shared/pyproject.toml tools/*/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python packages"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -c requirements/constraints.txt -r requirements/dev.txt
  echo "$want" > "$stamp"
fi

# RabbitMQ is part of this machine kind; start it when it is installed but not answering.
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  if command -v rabbitmq-server >/dev/null; then
    echo "bootstrap: starting RabbitMQ"
    rabbitmq-server -detached
    for _ in $(seq 1 60); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done
    command -v rabbitmqctl >/dev/null && rabbitmqctl await_startup >/dev/null 2>&1 || true
  else
    echo "bootstrap: RabbitMQ is not answering on 127.0.0.1:5672; set CLIPFORGE_AMQP_URL" >&2
  fi
fi
echo "bootstrap: ready"
