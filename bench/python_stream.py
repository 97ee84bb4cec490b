"""Streaming overhead of the Python module (issue 31): m.stream() of N characters against
m.generate() of the same N, same model, seed and options. Each piece of a stream crosses from the
generating thread to Python through a queue; this measures what that costs per character.

  PYTHONPATH=build/python python3 bench/python_stream.py --model M.safetensors [--length 10000]
  [--repeats 7] [--threads 1]

With no --model it trains a small one first (LSTM 1 x 256, embed 128, 300 Tang poems, 20 s) through
the binary (--charlm, default build/charlm) from --corpus (default ../shared/corpora/tang300.txt).
Prints the median time of each and the overhead; the repeats alternate so that load on a shared
machine falls on both alike."""
import argparse
import os
import statistics
import subprocess
import tempfile
import time

import charlm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--length", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--charlm", default="build/charlm")
    ap.add_argument("--corpus", default=os.path.join("..", "shared", "corpora", "tang300.txt"))
    a = ap.parse_args()
    model = a.model
    if not model:
        model = os.path.join(tempfile.mkdtemp(), "bench.safetensors")
        subprocess.run([a.charlm, "train", "--corpus", a.corpus, "--out", model, "--cell", "lstm", "--hidden",
                        "256", "--embed", "128", "--layers", "1", "--time-budget", "20s", "--epochs", "0",
                        "--threads", "2", "--seed", "1"], check=True, capture_output=True)
    m = charlm.Model.load(model)
    opts = dict(length=a.length, seed=1, threads=a.threads)
    assert "".join(m.stream("春", **opts)) == m.generate("春", **opts)  # also warms the caches
    gen, stream = [], []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        m.generate("春", **opts)
        gen.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        pieces = sum(1 for _ in m.stream("春", **opts))
        stream.append(time.perf_counter() - t0)
    g, s = statistics.median(gen), statistics.median(stream)
    info = m.info()
    print(f"model: {info['cell']}, hidden {info['hidden']}, embed {info['embed']}, vocabulary {info['vocab']}; "
          f"{a.length} characters ({pieces} pieces), "
          f"{a.threads} thread(s), median of {a.repeats}")
    print(f"generate: {g * 1000:.1f} ms ({a.length / g:,.0f} char/s)")
    print(f"stream:   {s * 1000:.1f} ms ({a.length / s:,.0f} char/s)")
    print(f"overhead: {100 * (s / g - 1):+.1f}% ({(s - g) / a.length * 1e6:.2f} us per character)")


if __name__ == "__main__":
    main()
