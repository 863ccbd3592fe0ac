"""Run inside the serving image by .ci/container: `ganstudio serve` on 127.0.0.1 must pass the image's own
HEALTHCHECK and answer a real API request (the studio's /sample endpoint, through gradio_client).

    python serve_check.py PORT
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from gradio_client import Client
from PIL import Image

from ganstudio.explore.images import read_recipe

port = sys.argv[1]
started = time.monotonic()
server = subprocess.Popen(["ganstudio", "serve", "--host", "127.0.0.1", "--port", port])
try:
    health = subprocess.run(
        [sys.executable, "-m", "ganstudio.deploy.health", "--wait", "120"],
        env={**os.environ, "GANSTUDIO_PORT": port}, timeout=150,
    )
    if health.returncode != 0:
        sys.exit("serve_check: the HEALTHCHECK command found no studio")
    ready = time.monotonic() - started
    asked = time.monotonic()
    # A generous timeout: CI shares 2 cores with other jobs, and the studio is still warming up its analysis.
    client = Client(f"http://127.0.0.1:{port}/", verbose=False, httpx_kwargs={"timeout": 120})
    grid = client.predict(
        model="mnist-dcgan", seed=7, n=16, psi=1.0, api_name="/sample"
    )
    answered = time.monotonic() - asked
    recipe = read_recipe(grid)
    if Image.open(grid).size != (122, 122) or (recipe["op"], recipe["seed"], recipe["n"]) != ("sample", 7, 16):
        sys.exit(f"serve_check: /sample gave {Image.open(grid).size} with recipe {recipe}")
    print(f"serve ok: healthy {ready:.1f} s after start, /sample answered in {answered * 1000:.0f} ms")
finally:
    server.terminate()
    server.wait(timeout=30)
