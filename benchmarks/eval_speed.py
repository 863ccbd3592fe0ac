"""What does an eval cost, and where does the time go? One eval of 10,000 samples, split into
generating the samples, featurising them (and the real sets), and the metrics (k-NN manifolds, FD, KID,
the copying test in features and pixels), all measured in the same run on this machine.

Target: the metrics cost no more than generating and featurising: metrics / (generate + featurise) <= 1.
Each run is a fresh process (cold caches, as a user's `ganstudio eval` is); runs alternate between the
models given, and the ratio of each run is printed, then the median per model.

    python benchmarks/eval_speed.py [--model fashion-mnist-wgangp] [--model emoji-dcgan] [--n 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

RUN = """
import json, sys
from ganstudio.eval import evaluate
from ganstudio.explore import runtime
gen = runtime.load(sys.argv[1])
r = evaluate(gen, gen.card.dataset, int(sys.argv[2]), seed=0)
print(json.dumps({"n": r.n, **r.seconds}))
"""


def one(model: str, n: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", RUN, model, str(n)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", help="repeatable; default fashion-mnist-wgangp (10,000 held-out images)")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    models = a.model or ["fashion-mnist-wgangp"]
    ratios: dict[str, list[float]] = {m: [] for m in models}
    for run in range(a.runs):
        for model in models:
            s = one(model, a.n)
            ratio = s["metrics"] / (s["generate"] + s["featurise"])
            ratios[model].append(ratio)
            print(f"run {run + 1} {model}: n {s['n']:,}  generate {s['generate']:.1f} s  featurise {s['featurise']:.1f} s  "
                  f"metrics {s['metrics']:.1f} s  ->  metrics / (generate + featurise) = {ratio:.2f}", flush=True)
    for model, rs in ratios.items():
        verdict = "meets" if statistics.median(rs) <= 1.0 else "MISSES"
        print(f"{model}: median ratio {statistics.median(rs):.2f} over {len(rs)} runs ({verdict} the target <= 1.0)")


if __name__ == "__main__":
    main()
