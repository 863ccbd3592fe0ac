"""The container's HEALTHCHECK: is `ganstudio serve` answering on this machine's loopback?

    python -m ganstudio.deploy.health            # one try: exit 0 when the studio's page answers 200, else 1
    python -m ganstudio.deploy.health --wait 60  # keep trying for up to 60 s (for scripts starting a server)

The port is $GANSTUDIO_PORT when it is set; else the `--port` of the `ganstudio serve` process running here
(the container's CMD, however it was overridden: `docker run IMAGE serve --port 8080` is healthy without
setting anything); else 7860, the port the image's CMD serves on. Standard library only, so the check costs a
few milliseconds of start-up, not an import of gradio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

DEFAULT_PORT = 7860
PROC = Path("/proc")  # where the serving process's command line is read


def serve_port(argv: list[str]) -> int | None:
    """The port a `ganstudio serve` command line listens on (DEFAULT_PORT without --port); None for any other."""
    starts = [i for i, arg in enumerate(argv) if Path(arg).name == "ganstudio"]  # the script, or `-m ganstudio`
    if not starts or "serve" not in argv[starts[0] + 1 :]:
        return None
    args = argv[argv.index("serve", starts[0] + 1) + 1 :]
    for i, arg in enumerate(args):
        if arg.startswith("--port="):
            value = arg.partition("=")[2]
        elif arg == "--port" and i + 1 < len(args):
            value = args[i + 1]
        else:
            continue
        return int(value) if value.isdigit() else None
    return DEFAULT_PORT


def running_port() -> int | None:
    """The port of the first (lowest process id) `ganstudio serve` process visible here, if there is one."""
    try:
        pids = sorted(int(p.name) for p in PROC.iterdir() if p.name.isdigit())
    except OSError:
        return None
    for pid in pids:
        try:
            argv = (PROC / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        port = serve_port([a for a in argv if a])
        if port is not None:
            return port
    return None


def url() -> str:
    port = os.environ.get("GANSTUDIO_PORT") or running_port() or DEFAULT_PORT
    return f"http://127.0.0.1:{port}/"


def answers(address: str, timeout: float = 5.0) -> bool:
    """True when a GET of `address` returns 200 within `timeout` seconds."""
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to keep trying (0: one try)")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.wait
    while not answers(address := url()):  # looked up on each try: a server starting up may not be listed yet
        if time.monotonic() >= deadline:
            print(f"unhealthy: no answer from {address}", file=sys.stderr)
            return 1
        time.sleep(0.5)
    print(f"healthy: {address}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
