"""Does `ganstudio serve` hold up when several people use it at once? Measured in this run on this machine.

1. Cold start: spawn `ganstudio serve` -> first API request answered (the server's import, build, launch and
   first inference, as a person starting it would wait).
2. Load: 1, then 8 concurrent gradio_client clients, each alternating /sample (n=16) and /walk (16 frames)
   with random seeds for a bounded time; p50/p95 latency per level, and the p95 ratio 8 : 1.

Targets: ready <= 5 s; p95 at 8 clients <= 2x p95 at 1 client (shipped MNIST model).

It also prints the CPU each request costs the server and the clients. When clients and server share the
machine's C cores and one request costs S ms of CPU, N busy clients cannot see latency below N * S / C
(Little's law), so the latency ratio has a floor that no server can beat: the benchmark prints it.

    python benchmarks/serve_load.py [--model mnist-dcgan] [--seconds 5] [--levels 1 8]
"""

from __future__ import annotations

import argparse
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

ENDPOINTS = {
    "/sample": lambda c, model, seed: c.predict(model=model, seed=seed, n=16, psi=1.0, api_name="/sample"),
    "/walk": lambda c, model, seed: c.predict(model=model, seed=seed, steps=16, step_size=0.08, psi=1.0, fps=15.0, api_name="/walk"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, port: int, timeout: float = 120.0) -> tuple[subprocess.Popen, Client, str, float]:
    """Spawn the server; return it, a client, the model key, and seconds from spawn to a first /sample answered."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ganstudio", "serve", "--model", model, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read()[-2000:]}")
        if time.perf_counter() - t0 > timeout:
            proc.kill()
            raise SystemExit(f"the server did not answer within {timeout:.0f} s")
        try:
            client = Client(url, **CLIENT)
            break
        except Exception:  # not listening yet
            time.sleep(0.05)
    key = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/sample"]["parameters"][0]["parameter_default"]
    ENDPOINTS["/sample"](client, key, 0)
    return proc, client, key, time.perf_counter() - t0


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


def run_level(url: str, model: str, clients: int, seconds: float) -> dict[str, list[float]]:
    """`clients` threads, each with its own Client, calling the endpoints in turn until the time is up."""
    latencies: dict[str, list[float]] = {name: [] for name in ENDPOINTS}
    lock = threading.Lock()
    conns = [Client(url, **CLIENT) for _ in range(clients)]
    for c in conns:  # warm each connection on both endpoints, outside the timed window
        for call in ENDPOINTS.values():
            call(c, model, 0)
    start = threading.Barrier(clients)

    def worker(c: Client, seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        deadline = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < deadline:
            name = list(ENDPOINTS)[i % len(ENDPOINTS)]
            t = time.perf_counter()
            ENDPOINTS[name](c, model, rng.randrange(1_000_000))
            with lock:
                latencies[name].append(time.perf_counter() - t)
            i += 1

    threads = [threading.Thread(target=worker, args=(c, k)) for k, c in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mnist-dcgan")
    ap.add_argument("--seconds", type=float, default=5.0, help="timed window per level")
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 8])
    args = ap.parse_args()

    port = free_port()
    proc, _, key, ready = start_server(args.model, port)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"cold start, spawn -> first /sample answered: {ready:.2f} s   (target <= 5 s: {'met' if ready <= 5 else 'MISSED'})")
    try:
        wait_until_idle(proc.pid)
        p95: dict[int, float] = {}
        cpu_ms: dict[int, float] = {}
        print(f"\n{'clients':>7} {'endpoint':>9} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8}   CPU ms per request")
        for level in args.levels:
            server0, client0 = cpu_seconds(proc.pid), time.process_time()
            lat = run_level(f"http://127.0.0.1:{port}/", key, level, args.seconds)
            n = sum(len(xs) for xs in lat.values())
            server, client = (cpu_seconds(proc.pid) - server0) / n * 1000, (time.process_time() - client0) / n * 1000
            cpu_ms[level] = server + client
            for name, xs in [*lat.items(), ("all", [x for xs in lat.values() for x in xs])]:
                ms = np.array(xs) * 1000
                line = f"{level:>7} {name:>9} {len(ms):>8} {len(ms) / args.seconds:>7.1f} {np.percentile(ms, 50):>8.0f} {np.percentile(ms, 95):>8.0f}"
                print(line + (f"   server {server:.0f} + clients {client:.0f}" if name == "all" else ""))
            p95[level] = float(np.percentile([x for xs in lat.values() for x in xs], 95))
        lo, hi = min(args.levels), max(args.levels)
        ratio = p95[hi] / p95[lo]
        floor = hi * cpu_ms[hi] / os.cpu_count() / 1000  # seconds: N clients' requests through C cores
        print(f"\np95 ratio {hi} : {lo} clients = {ratio:.2f}x   (target <= 2x: {'met' if ratio <= 2 else 'MISSED'})")
        print(f"floor on this machine: {hi} clients x {cpu_ms[hi]:.0f} ms CPU / {os.cpu_count()} cores = {floor * 1000:.0f} ms "
              f"mean latency, {floor / p95[lo]:.2f}x the 1-client p95")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
