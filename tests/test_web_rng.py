"""static/rng.js against numpy itself: the page's z for a seed is the CLI's z, bit for bit.

The JS runs in node (the same V8 as Chromium); skipped, with the reason, where node is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ganstudio.explore.limits import MAX_SEED

RNG = Path(__file__).resolve().parent.parent / "ganstudio" / "web" / "static" / "rng.js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="no node on PATH (apt-get install nodejs)")

# Reads {"seeds": [...], "n": N} on stdin (seeds as decimal strings: some pass 2**53), writes the float32 bytes.
HARNESS = """
import { standardNormal } from %s;
let text = "";
for await (const chunk of process.stdin) text += chunk;
const { seeds, n } = JSON.parse(text);
const out = new Float32Array(seeds.length * n);
seeds.forEach((s, i) => out.set(standardNormal(BigInt(s), n), i * n));
process.stdout.write(Buffer.from(out.buffer));
"""


def _js(seeds: list[int], n: int, tmp_path: Path) -> np.ndarray:
    script = tmp_path / "harness.mjs"
    script.write_text(HARNESS % json.dumps(RNG.as_uri()))
    done = subprocess.run([NODE, str(script)], input=json.dumps({"seeds": [str(s) for s in seeds], "n": n}).encode(),
                          capture_output=True, check=True, timeout=300)
    return np.frombuffer(done.stdout, dtype=np.float32).reshape(len(seeds), n)


def _numpy(seeds: list[int], n: int) -> np.ndarray:
    return np.stack([np.random.default_rng(s).standard_normal(n, dtype=np.float32) for s in seeds])


def test_equal_to_numpy_bit_for_bit_on_thousands_of_seeds(tmp_path: Path):
    draws = np.random.default_rng(2026).integers(0, MAX_SEED, size=2000, endpoint=True).tolist()
    seeds = list(range(1000)) + [MAX_SEED - i for i in range(500)] + draws
    want = _numpy(seeds, 100)
    got = _js(seeds, 100, tmp_path)
    assert got.tobytes() == want.tobytes(), f"first differing seed: {seeds[int(np.argmax((got != want).any(axis=1)))]}"
    # the stream took every branch of the ziggurat, the rare tail (|x| beyond its base strip) included
    assert (np.abs(want) > 3.6541528).sum() > 20


@pytest.mark.parametrize("n", [1, 2, 3, 513])  # odd lengths leave half of a 64-bit draw unused
def test_lengths_and_seeds_past_32_bits(tmp_path: Path, n: int):
    seeds = [0, 1, MAX_SEED, 2**32, 2**53 + 1, 2**64 - 1, 2**64 + 7, 2**127 + 12345, 3**90]  # 1..5 seed words
    assert _js(seeds, n, tmp_path).tobytes() == _numpy(seeds, n).tobytes()


def test_refuses_what_numpy_refuses(tmp_path: Path):
    script = tmp_path / "bad.mjs"
    script.write_text(f"import {{ standardNormal }} from {json.dumps(RNG.as_uri())};\n"
                      "for (const s of [-1, 1.5, NaN, 2 ** 60, '7']) {\n"
                      "  try { standardNormal(s, 1); console.log('accepted', s); } catch (e) { console.log(e.name); }\n"
                      "}\n")
    out = subprocess.run([NODE, str(script)], capture_output=True, text=True, check=True, timeout=60).stdout.split()
    assert out == ["RangeError"] * 5  # an unsafe Number (2**60) would silently lose bits: BigInt or nothing
