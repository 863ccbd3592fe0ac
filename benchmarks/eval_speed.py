"""What does an eval cost, and where does the time go? One eval of 10,000 samples, split into
generating the samples, featurising them, the metrics (k-NN manifolds, FD, KID, the copying test in features
and pixels), and the real side (eval.realside: the real images' features, the held-out baseline, the
reference's radii and KID subsets), all measured in the same run on this machine.

The real side depends on the data only: a dataset's first eval computes it (a cold run, printed), every later
eval of any generator reads it back. Target, for every eval but a dataset's first: the metrics cost no more
than generating and featurising the samples, metrics / (generate + featurise) <= 1.
Each run is a fresh process with its own empty cache folder for the first run of each model; runs alternate
between the models given; the median ratio of the warm runs is the verdict.

    python benchmarks/eval_speed.py [--model fashion-mnist-wgangp] [--model emoji-dcgan] [--n 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

RUN = """
import json, sys
from ganstudio.eval import evaluate
from ganstudio.explore import runtime
gen = runtime.load(sys.argv[1])
r = evaluate(gen, gen.card.dataset, int(sys.argv[2]), seed=0)
print(json.dumps({"n": r.n, "real_side_from": r.real_side, **r.seconds}))
"""


def one(model: str, n: int, cache: str) -> dict:
    env = {**os.environ, "GANSTUDIO_CACHE": cache}
    out = subprocess.run([sys.executable, "-c", RUN, model, str(n)], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", help="repeatable; default fashion-mnist-wgangp (10,000 held-out images)")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=3, help="warm runs per model (after one cold run each)")
    a = p.parse_args()
    models = a.model or ["fashion-mnist-wgangp"]
    ratios: dict[str, list[float]] = {m: [] for m in models}
    with tempfile.TemporaryDirectory() as tmp:
        caches = {m: os.path.join(tmp, str(i)) for i, m in enumerate(models)}  # a cold first run for each model
        for run in range(a.runs + 1):
            for model in models:
                s = one(model, a.n, caches[model])
                ratio = s["metrics"] / (s["generate"] + s["featurise"])
                label = "cold" if s["real_side_from"] == "computed" else "warm"
                if label == "warm":
                    ratios[model].append(ratio)
                print(f"run {run + 1} ({label}) {model}: n {s['n']:,}  generate {s['generate']:.2f} s  featurise "
                      f"{s['featurise']:.2f} s  metrics {s['metrics']:.2f} s  real side {s['real_side']:.2f} s "
                      f"({s['real_side_from']})  ->  metrics / (generate + featurise) = {ratio:.2f}", flush=True)
    for model, rs in ratios.items():
        verdict = "meets" if statistics.median(rs) <= 1.0 else "MISSES"
        print(f"{model}: median ratio {statistics.median(rs):.2f} over {len(rs)} warm runs ({verdict} the target <= 1.0)")


if __name__ == "__main__":
    main()
