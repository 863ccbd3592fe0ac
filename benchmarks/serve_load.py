"""Does `ganstudio serve` hold up when several people use it at once? Both its APIs, measured in one run.

1. Cold start: `python -c "import gradio"` alone, then `ganstudio serve` spawned -> its first answer on the
   plain route (/v1/sample) and on the Gradio endpoint (/sample), alternating, twice each.
2. Load: 1, then 8 concurrent clients, each calling the same request (one image, then a 16-image grid;
   random seeds) for a bounded time, on the Gradio endpoint (gradio_client) and on the plain route
   (http.client, keep-alive), levels and APIs alternating; p50/p95 latency, throughput, and the CPU each
   request costs server + client. One image measures what each API adds to a request; the grid adds the
   same rendering work to both, which dilutes the ratio towards 1.

When clients and server share the machine's C cores and one request costs S ms of CPU, N busy clients cannot
see a mean latency below N * S / C (Little's law): the benchmark prints that floor from its own measurements.

Targets (issue 14): plain throughput at 8 clients >= 10x Gradio's; plain p95 at 8 clients within 1.5x its
floor; first answer within 1.25x the time `import gradio` takes. Loopback only. Each is printed for every
request size.

    python benchmarks/serve_load.py [--model mnist-dcgan] [--seconds 5] [--levels 1 8] [--images 1 16]
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import subprocess
import sys
import threading
import time

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402
from gradio_client import Client  # noqa: E402

# Plain http on 127.0.0.1, so no certificate is ever checked; ssl_verify=False only stops gradio_client from
# loading the CA bundle for every request (~50 ms of client CPU each), which would compete with the server here.
CLIENT = dict(verbose=False, ssl_verify=False)

def gradio_call(c: Client, model: str, seed: int, n: int = 1) -> None:
    c.predict(model=model, seed=seed, n=n, psi=1.0, api_name="/sample")


class Plain:
    """One keep-alive HTTP connection to the plain route, asking for n-image grids."""

    def __init__(self, port: int, n: int = 1):
        self.conn, self.n = http.client.HTTPConnection("127.0.0.1", port, timeout=60), n

    def __call__(self, model: str, seed: int) -> bytes:
        self.conn.request("GET", f"/v1/sample?model={model}&seed={seed}&n={self.n}&psi=1.0")
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise SystemExit(f"/v1/sample answered {r.status}: {body[:200]!r}")
        return body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def import_gradio_seconds() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gradio"], check=True, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    return time.perf_counter() - t0


def spawn(model: str, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ganstudio", "serve", "--model", model, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def first_answer(proc: subprocess.Popen, ask, t0: float, timeout: float = 120.0) -> float:
    """Seconds from spawn (t0) until ask() succeeds."""
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read()[-2000:]}")
        if time.perf_counter() - t0 > timeout:
            proc.kill()
            raise SystemExit(f"the server did not answer within {timeout:.0f} s")
        try:
            ask()
            return time.perf_counter() - t0
        except Exception:  # not listening yet (a client raises whatever its transport does)
            time.sleep(0.02)


def cold_start(model: str) -> tuple[float, float]:
    """(spawn -> first /v1/sample, spawn -> first Gradio /sample) for one fresh server each."""
    out = []
    for api in ("plain", "gradio"):
        port = free_port()
        t0 = time.perf_counter()
        proc = spawn(model, port)
        try:
            if api == "plain":
                out.append(first_answer(proc, lambda: Plain(port)(model, 0), t0))
            else:
                out.append(first_answer(proc, lambda: gradio_call(Client(f"http://127.0.0.1:{port}/", **CLIENT), model, 0), t0))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return out[0], out[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pid: int, timeout: float = 30.0) -> None:
    """Let the server finish its start-up analysis (dimension effects, directions) before anything is timed."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - before < 0.05:
            return


def run_level(calls: list, model: str, seconds: float) -> list[float]:
    """One thread per call (a client with its own connection), calling until the time is up; latencies."""
    latencies: list[float] = []
    lock = threading.Lock()
    for call in calls:  # warm each connection outside the timed window
        call(model, 0)
    start = threading.Barrier(len(calls))

    def worker(call, k: int) -> None:
        rng = random.Random(k)
        start.wait()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            call(model, rng.randrange(1_000_000))
            with lock:
                latencies.append(time.perf_counter() - t)

    threads = [threading.Thread(target=worker, args=(c, k)) for k, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def measure(pid: int, port: int, args: argparse.Namespace, n_images: int, cores: int) -> None:
    """Every level on both APIs for requests of n_images, then the targets' ratios."""
    url = f"http://127.0.0.1:{port}/"
    stats: dict[tuple[str, int], dict[str, float]] = {}
    print(f"\n{n_images}-image requests\n{'api':>7} {'clients':>7} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8}   CPU ms per request")
    for level in args.levels:
        for api in ("gradio", "plain"):
            if api == "gradio":
                calls = [lambda m, s, c=Client(url, **CLIENT): gradio_call(c, m, s, n_images) for _ in range(level)]
            else:
                calls = [Plain(port, n_images) for _ in range(level)]
            server0, client0 = cpu_seconds(pid), time.process_time()
            lat = run_level(calls, args.model, args.seconds)
            n = len(lat)
            server, client = (cpu_seconds(pid) - server0) / n * 1000, (time.process_time() - client0) / n * 1000
            ms = np.array(lat) * 1000
            stats[api, level] = dict(rps=n / args.seconds, p50=float(np.percentile(ms, 50)), p95=float(np.percentile(ms, 95)), cpu=server + client)
            print(f"{api:>7} {level:>7} {n:>8} {n / args.seconds:>7.1f} {stats[api, level]['p50']:>8.1f} {stats[api, level]['p95']:>8.1f}"
                  f"   server {server:.1f} + clients {client:.1f}")
    hi = max(args.levels)
    ratio = stats["plain", hi]["rps"] / stats["gradio", hi]["rps"]
    print(f"{n_images}-image requests: throughput at {hi} clients, plain : Gradio = {ratio:.1f}x   (target >= 10x: {'met' if ratio >= 10 else 'MISSED'})")
    for api in ("gradio", "plain"):
        s = stats[api, hi]
        floor = hi * s["cpu"] / cores  # ms: N clients' requests through C cores
        verdict = f"   (target <= 1.5x: {'met' if s['p95'] <= 1.5 * floor else 'MISSED'})" if api == "plain" else ""
        print(f"{api:>7}: Little's-law floor {hi} x {s['cpu']:.1f} ms CPU / {cores} cores = {floor:.1f} ms; "
              f"p95 {s['p95']:.1f} ms = {s['p95'] / floor:.2f}x the floor{verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mnist-dcgan")
    ap.add_argument("--seconds", type=float, default=5.0, help="timed window per level and API")
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--images", type=int, nargs="+", default=[1, 16], help="images per request (a grid when > 1)")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    print(f"load average before: {os.getloadavg()[0]:.1f} on {cores} CPUs")

    imports, plain_ready, gradio_ready = [], [], []
    for _ in range(2):  # alternating: the host is noisy
        imports.append(import_gradio_seconds())
        p, g = cold_start(args.model)
        plain_ready.append(p)
        gradio_ready.append(g)
    imp, ready_plain, ready_gradio = (float(np.median(x)) for x in (imports, plain_ready, gradio_ready))
    print(f"`import gradio` alone: {imp:.2f} s (median of {len(imports)})")
    print(f"cold start, spawn -> first /v1/sample: {ready_plain:.2f} s = {ready_plain / imp:.2f}x import gradio (target <= 1.25x: "
          f"{'met' if ready_plain <= 1.25 * imp else 'MISSED'});  -> first Gradio /sample: {ready_gradio:.2f} s = {ready_gradio / imp:.2f}x")

    port = free_port()
    proc = spawn(args.model, port)
    first_answer(proc, lambda: Plain(port)(args.model, 0), time.perf_counter())
    try:
        wait_until_idle(proc.pid)
        for n_images in args.images:
            measure(proc.pid, port, args, n_images, cores)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
