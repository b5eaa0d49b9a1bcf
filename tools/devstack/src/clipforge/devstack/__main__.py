"""``python -m clipforge.devstack up|demo``: the local stack for development."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from clipforge.devstack.demo import run_demo
from clipforge.devstack.stack import LocalStack

DEFAULT_STATE_DIR = Path(os.environ.get("CLIPFORGE_STATE_DIR", ".clipforge"))


def run_up(state_dir: Path, *, json_output: bool = False) -> int:
    """With ``json_output``, once ready one JSON line on standard output says where everything is
    (``gateway_url``, ``api_key``, ``mongo_url``, ``state_dir``); messages go to standard error."""
    out = sys.stderr if json_output else sys.stdout
    stack = LocalStack(state_dir, mongo_url=os.environ.get("CLIPFORGE_MONGO_URL"))
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stack.start()
    print(f"ClipForge is up: web app {stack.gateway_url}/ (API docs at {stack.gateway_url}/docs)", file=out)
    print(f"MongoDB {stack.resolved_mongo_url}; media and logs under {state_dir}/; Ctrl-C stops everything.", file=out)
    print(f"Development API key (also in {stack.api_key_path}):\n  {stack.api_key}", file=out, flush=True)
    if json_output:
        ready = {
            "gateway_url": stack.gateway_url,
            "api_key": stack.api_key,
            "mongo_url": stack.resolved_mongo_url,
            "state_dir": str(state_dir),
        }
        print(json.dumps(ready), flush=True)
    try:
        while not stopping:
            for name, service in stack.services.items():
                if not service.alive():
                    print(f"{name} exited ({service.process.returncode}); see {service.log_path}; restarting", file=out)
                    stack.start_service(name)
            time.sleep(1)
    finally:
        print("stopping...", file=out)
        stack.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clipforge.devstack")
    parser.add_argument("command", choices=["up", "demo"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args(argv)
    state_dir = args.state_dir.resolve()
    return run_up(state_dir) if args.command == "up" else run_demo(state_dir)


if __name__ == "__main__":
    sys.exit(main())
