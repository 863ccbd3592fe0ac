"""Can any server meet the plain route's p95 target on this machine? The /v1 app alone, in 1, 2 and 4 processes.

serve_load.py measures `ganstudio serve`: one process, where Gradio's server and the /v1 routes share one
interpreter lock, so 8 clients cannot spread its work over the cores. This benchmark removes that limit. It
starts K processes, each serving only the /v1 app (ganstudio.studio.routes over a Studio, without Gradio) on
one port shared with SO_REUSEPORT, the kernel spreading the connections over them. Then it runs serve_load's
8-client load of one-image requests against them. K alternates, a fresh group each round. For each run it
prints the CPU per request of all K processes and the clients, the Little's-law floor serve_load prints
(8 x that CPU / cores), the mean latency and the p95.

If the mean reaches the floor and the p95 still does not come within 1.5x of it, the gap is the spread of
latencies on this host, not something a server design can remove.

    python benchmarks/serve_floor.py [--model mnist-dcgan] [--seconds 4] [--processes 1 2 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time

import numpy as np

from serve_load import Plain, cpu_seconds, free_port, run_level

CLIENTS = 8


def serve(model: str, port: int) -> None:
    """One server process: the /v1 app on a socket that shares `port` with its siblings."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from ganstudio.studio import routes
    from ganstudio.studio.service import Studio

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted connections, as uvicorn's own
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    app = Starlette(routes=[Mount("/v1", app=routes.api(Studio(model)))])
    asyncio.run(uvicorn.Server(uvicorn.Config(app, log_level="warning")).serve(sockets=[sock]))


def group(model: str, k: int) -> tuple[list[subprocess.Popen], int]:
    """K server processes on one free port, each answering before the load starts."""
    port = free_port()
    procs = [subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--model", model]) for _ in range(k)]
    deadline = time.perf_counter() + 120
    while True:
        try:
            Plain(port)(model, 0)
            break
        except OSError:
            if time.perf_counter() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit("the servers did not start")
            time.sleep(0.1)
    time.sleep(3)  # every process loaded (a connection reaches only one of them)
    return procs, port


def measure(model: str, k: int, seconds: float, cores: int) -> None:
    procs, port = group(model, k)
    try:
        server0, client0 = sum(cpu_seconds(p.pid) for p in procs), time.process_time()
        lat = np.array(run_level([Plain(port) for _ in range(CLIENTS)], model, seconds)) * 1000
        n = len(lat)
        cpu = ((sum(cpu_seconds(p.pid) for p in procs) - server0) + (time.process_time() - client0)) / n * 1000
        floor = CLIENTS * cpu / cores
        p95 = float(np.percentile(lat, 95))
        print(f"{k:>9} {n / seconds:>7.0f} {cpu:>12.2f} {floor:>9.1f} {lat.mean():>8.1f} {lat.mean() / floor:>11.2f}x"
              f" {p95:>7.1f} {p95 / floor:>10.2f}x")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mnist-dcgan")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)  # internal: run one server process
    args = ap.parse_args()
    if args.serve is not None:
        serve(args.model, args.serve)
        return
    cores = os.cpu_count() or 1
    print(f"load average before: {os.getloadavg()[0]:.1f} on {cores} CPUs; {CLIENTS} clients, one image per request")
    print(f"{'processes':>9} {'req/s':>7} {'CPU ms/req':>12} {'floor ms':>9} {'mean ms':>8} {'mean/floor':>12} {'p95 ms':>7} {'p95/floor':>11}")
    for _ in range(args.rounds):
        for k in args.processes:
            measure(args.model, k, args.seconds, cores)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
