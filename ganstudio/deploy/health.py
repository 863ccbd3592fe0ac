"""The container's HEALTHCHECK: is `ganstudio serve` answering on this machine's loopback?

    python -m ganstudio.deploy.health            # one try: exit 0 when the studio's page answers 200, else 1
    python -m ganstudio.deploy.health --wait 60  # keep trying for up to 60 s (for scripts starting a server)

The port is $GANSTUDIO_PORT (default 7860, the one the image's CMD serves on). Standard library only, so
the check costs a few milliseconds of start-up, not an import of gradio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request

DEFAULT_PORT = 7860


def url() -> str:
    return f"http://127.0.0.1:{os.environ.get('GANSTUDIO_PORT', DEFAULT_PORT)}/"


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
    address = url()
    deadline = time.monotonic() + args.wait
    while not answers(address):
        if time.monotonic() >= deadline:
            print(f"unhealthy: no answer from {address}", file=sys.stderr)
            return 1
        time.sleep(0.5)
    print(f"healthy: {address}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
