# The commands a newcomer needs. Each one sets up what it needs first (scripts/bootstrap.sh).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: bootstrap demo up test test-unit lint compose-check asyncapi

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap  ## run the main job: local stack, a generated sample video, clips printed
	$(VENV)/bin/clipforge demo

up: bootstrap  ## run the local stack until interrupted (gateway on http://127.0.0.1:8000)
	$(VENV)/bin/clipforge up

test: bootstrap  ## run the whole test suite against real RabbitMQ, SecantusDB, ffmpeg, whisper
	$(PY) -m pytest

test-unit: bootstrap
	$(PY) -m pytest tests/unit

lint: bootstrap
	$(VENV)/bin/ruff check .

compose-check:
	docker-compose -f docker-compose.yml config -q

asyncapi: bootstrap  ## regenerate docs/asyncapi.json from the events and the topology
	$(PY) -m clipforge.shared.asyncapi docs/asyncapi.json
