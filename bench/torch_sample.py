#!/usr/bin/env python3
"""PyTorch's counterpart of bench_sample: step-by-step generation with random weights.

The usual PyTorch sampling loop -- model.eval(), torch.no_grad(), one token per step through
nn.Embedding -> nn.RNN / nn.GRU / nn.LSTM -> nn.Linear with the state carried, then
torch.multinomial(softmax(logits / 0.8)) -- for the grid bench_sample times (H 256 and 512,
V 65 and 7000, 1 and 32 rows, 1 and 2 threads, embedding 64). Rows' ids are kept as tensors and
turned into text once at the end, as a real loop would. Not a test; bench/sample_compare.sh runs
both and prints the ratio. PyTorch has one GRU (linear-before-reset): it stands for charlm's
gru and lbr-gru alike and is printed as cell=lbr-gru.
Usage: torch_sample.py [--window S] [--windows K] [--layers L]; prints one key=value line each.
"""
import argparse
import os
import statistics
import sys
import time

try:
    import torch
except ImportError as e:
    print(f"skipped: torch not installed ({e}; on Debian: apt-get install python3-torch)")
    sys.exit(0)

TEMPERATURE = 0.8
EMBED = 64  # charlm train's default --embed


def machine_busy_s():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def self_busy_s():
    t = os.times()
    return t.user + t.system


class CharLM(torch.nn.Module):
    def __init__(self, cell, layers, hidden, vocab):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, EMBED)
        kind = {"rnn": torch.nn.RNN, "lbr-gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell]
        self.rnn = kind(EMBED, hidden, layers)
        self.decoder = torch.nn.Linear(hidden, vocab)

    def step(self, ids, state):  # ids (N) -> logits (N, V), new state
        h, state = self.rnn(self.embedding(ids).unsqueeze(0), state)
        return self.decoder(h[0]), state


def generate(model, vocab, rows, length, gen):
    with torch.no_grad():
        ids = torch.full((rows,), 1, dtype=torch.long)  # id 1 is "\n", as bench_sample starts
        state = None
        out = []
        for _ in range(length):
            logits, state = model.step(ids, state)
            probs = torch.softmax(logits / TEMPERATURE, dim=-1)
            ids = torch.multinomial(probs, 1, generator=gen).squeeze(1)
            out.append(ids)
        table = torch.stack(out, 1).tolist()  # (N, length)
        return ["".join(vocab[i] for i in row) for row in table]


def measure(model, vocab, rows, window_s, windows, gen):
    def run(length):
        t0 = time.perf_counter()
        generate(model, vocab, rows, length, gen)
        return time.perf_counter() - t0

    run(20)
    per_step = run(20) / 20
    length = int(min(max(window_s / per_step, 20), 1e6))
    m0, s0, w0 = machine_busy_s(), self_busy_s(), time.perf_counter()
    rates = [rows * length / run(length) for _ in range(windows)]
    wall = time.perf_counter() - w0
    others = -1.0 if wall < 0.2 else max(0.0, (machine_busy_s() - m0) - (self_busy_s() - s0)) / wall
    return statistics.median(rates), others


def make_vocab(v):
    tokens = ["<unk>", "\n"] + [chr(c) for c in range(0x20, 0x7F)]
    tokens += [chr(0x4E00 + i) for i in range(max(0, v - len(tokens)))]
    return tokens[:v]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--window", type=float, default=0.25, help="seconds per timed window")
    ap.add_argument("--windows", type=int, default=5, help="timed windows (the median is printed)")
    ap.add_argument("--layers", type=int, default=1)
    args = ap.parse_args()
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    print(f"# torch {torch.__version__} step loop: layers {args.layers}, embed {EMBED}, temperature "
          f"{TEMPERATURE}, windows {args.windows} x {args.window:.2f} s, BLAS {blas_name()}")
    for cell in ("rnn", "lbr-gru", "lstm"):
        for H in (256, 512):
            for V in (65, 7000):
                model = CharLM(cell, args.layers, H, V).eval()
                vocab = make_vocab(V)
                for rows in (1, 32):
                    for threads in (1, 2):
                        torch.set_num_threads(threads)
                        rate, others = measure(model, vocab, rows, args.window, args.windows, gen)
                        print(f"impl=torch cell={cell} H={H} V={V} batch={rows} threads={threads} "
                              f"chars_per_s={rate:.1f} others={others:.2f}", flush=True)


def blas_name():
    """The BLAS library this process has loaded (Debian's torch uses the libblas.so.3 alternative)."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    with open("/proc/self/maps") as f:
        libs = sorted({line.split()[-1] for line in f if "blas" in line.lower() and "/" in line})
    return ", ".join(libs) or "none loaded"


if __name__ == "__main__":
    main()
