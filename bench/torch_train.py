#!/usr/bin/env python3
"""The PyTorch peer of `charlm train` for the side-by-side training benchmark (issue 5).

Does what charlm's trainer does, in PyTorch's eager CPU mode, so that characters per second and
validation perplexity after a wall-clock budget can be compared:

* corpus: UTF-8, NFC, one token per code point (charlm's `--unit codepoint`; for the ASCII and
  Chinese corpora of the benchmark this equals charlm's default grapheme clusters). The last
  `--valid-fraction` (cut at floor((1 - f) * n)) validates; the vocabulary is built from the
  training part: <unk> = id 0, then by count (descending), ties by code point.
* minibatches: charlm's two schemes with the same pseudo-random plan (SplitMix64, unbiased bounded
  draw, Fisher-Yates from the back), so both programs see the same batches in the same order:
  random windows (state reset every batch) or consecutive streams (state carried, reset per epoch).
* model: nn.Embedding (N(0, 1)) -> nn.RNN / nn.GRU / nn.LSTM -> nn.Linear, mean cross-entropy.
  PyTorch's default initialisation, which is charlm's; charlm has one bias per gate, so bias_hh
  starts at zero (except GRU's b_hn, which charlm's LBR-GRU also has) and the LSTM forget-gate
  bias starts at 1, as charlm's does.
* step: backward, global-norm clipping (clip_grad_norm_), Adam (PyTorch's, the same formula as
  charlm's) or SGD.
* validation at the end of every epoch and when the budget is spent: the whole validation text
  in S = min(batch, len / 64 + 1) contiguous streams, `steps` tokens per chunk, state carried.
  As in charlm, the budget counts everything after setup (validation included); char/s does not.

Output: with --metrics FILE, one JSON line per report with charlm's field names (epoch, step,
end_of_epoch, train_ppl, valid_ppl, bpc, grad_norm, clipped, lr, chars_per_sec, elapsed_s); at
the end one JSON summary line on stdout ("final": true, with peak RSS from getrusage).
Run with /usr/bin/python3 (Debian's python3-torch).
"""
import argparse
import json
import math
import os
import re
import resource
import sys
import time
import unicodedata

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15


# --- charlm's deterministic random helpers (lib/src/data/batches.cpp)

class SplitMix64:
    def __init__(self, state):
        self.state = state & MASK64

    def next(self):
        self.state = (self.state + GOLDEN_GAMMA) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        reject_below = ((1 << 64) - n) % n
        while True:
            r = self.next()
            if r >= reject_below:
                return r % n


def epoch_rng(seed, epoch):
    s = SplitMix64(seed ^ ((epoch * GOLDEN_GAMMA) & MASK64))
    return SplitMix64(s.next())


class Batches:
    """charlm's batch_iterator: the plan of epoch e is a pure function of (seed, e)."""

    def __init__(self, ids, batch, steps, scheme, seed):
        self.ids = ids  # torch int64 tensor
        self.N, self.T, self.scheme, self.seed = batch, steps, scheme, seed
        self.span = torch.arange(steps + 1).unsqueeze(1)  # (T+1, 1)

    def epoch(self, e):
        """Returns (number of batches, generator of ((inputs, targets), reset_state))."""
        n_len, t_len, length = self.N, self.T, self.ids.numel()
        rng = epoch_rng(self.seed, e)
        if self.scheme == "random":
            offset = rng.below(t_len)
            num_windows = (length - offset - 1) // t_len if length > offset else 0
            num_batches = num_windows // n_len
            starts = [offset + k * t_len for k in range(num_windows)]
            for i in range(num_windows - 1, 0, -1):
                j = rng.below(i + 1)
                starts[i], starts[j] = starts[j], starts[i]
            starts = torch.tensor(starts, dtype=torch.int64)
            gen = (self._rows(starts[j * n_len:(j + 1) * n_len]) for j in range(num_batches))
            return num_batches, ((b, True) for b in gen)
        else:
            offset = rng.below(t_len + 1)
            stream_len = (length - offset - 1) // n_len if length > offset else 0
            num_batches = stream_len // t_len
            base = offset + torch.arange(n_len, dtype=torch.int64) * stream_len
            return num_batches, ((self._rows(base + j * t_len), j == 0) for j in range(num_batches))

    def _rows(self, starts):
        tok = self.ids[starts.unsqueeze(0) + self.span]  # (T+1, N), time-major like charlm
        return tok[:-1], tok[1:]

    def min_tokens(self):
        return (self.N + 1) * self.T + (0 if self.scheme == "random" else 1)


# --- corpus (charlm's prepare_corpus for code-point tokens)

def load_corpus(path, valid_fraction):
    with open(path, encoding="utf-8") as f:
        text = unicodedata.normalize("NFC", f.read())
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    n = cps.size
    cut = int(n * (1.0 - valid_fraction))
    uniq, inverse = np.unique(cps, return_inverse=True)
    counts = np.bincount(inverse[:cut], minlength=uniq.size)
    # <unk> first, then by count descending, ties by code point (uniq is sorted by code point).
    seen = np.nonzero(counts)[0]
    order = seen[np.lexsort((uniq[seen], -counts[seen]))]
    remap = np.zeros(uniq.size, dtype=np.int64)
    remap[order] = np.arange(1, order.size + 1)
    ids = remap[inverse]
    train = torch.from_numpy(ids[:cut].copy())
    valid = torch.from_numpy(ids[cut:].copy())
    return train, valid, order.size + 1, int((valid == 0).sum())


# --- model

class CharLM(nn.Module):
    def __init__(self, cell, vocab, embed, hidden, layers, cutoffs=None):
        super().__init__()
        self.vocab, self.embed_dim = vocab, embed
        self.embedding = nn.Embedding(vocab, embed) if embed > 0 else None
        width = embed if embed > 0 else vocab
        if cell in ("rnn", "rnn-relu"):
            self.rnn = nn.RNN(width, hidden, layers, nonlinearity="relu" if cell == "rnn-relu" else "tanh")
        elif cell == "gru":
            self.rnn = nn.GRU(width, hidden, layers)
        elif cell == "lstm":
            self.rnn = nn.LSTM(width, hidden, layers)
        else:
            raise SystemExit(f"torch_train.py: unknown --cell '{cell}': use rnn, rnn-relu, gru or lstm")
        # charlm's --softmax adaptive is nn.AdaptiveLogSoftmaxWithLoss with a head bias (div_value 4).
        self.adaptive = bool(cutoffs)
        if self.adaptive:
            self.decoder = nn.AdaptiveLogSoftmaxWithLoss(hidden, vocab, cutoffs, div_value=4.0, head_bias=True)
        else:
            self.decoder = nn.Linear(hidden, vocab)
        # charlm has one bias per gate row: bias_hh starts at 0, except GRU's b_hn (inside r * (...)).
        with torch.no_grad():
            for l in range(layers):
                b_hh = getattr(self.rnn, f"bias_hh_l{l}")
                if cell == "gru":
                    b_hh[:2 * hidden].zero_()
                else:
                    b_hh.zero_()
                if cell == "lstm":
                    getattr(self.rnn, f"bias_ih_l{l}")[hidden:2 * hidden].fill_(1.0)  # forget gate

    def forward(self, x, state):
        if self.embedding is not None:
            x = self.embedding(x)
        else:
            x = F.one_hot(x, self.vocab).float()
        out, state = self.rnn(x, state)
        h = out.reshape(-1, out.shape[-1])
        return (h if self.adaptive else self.decoder(h)), state

    def loss(self, out, y, reduction="mean"):
        """Cross-entropy of the forward's output against targets y (rows with y < 0 ignored)."""
        y = y.reshape(-1)
        if not self.adaptive:
            return F.cross_entropy(out, y, ignore_index=-1, reduction=reduction)
        keep = y >= 0
        if not bool(keep.all()):
            out, y = out[keep], y[keep]
        if y.numel() == 0:
            return out.sum() * 0
        mean = self.decoder(out, y).loss
        return mean if reduction == "mean" else mean * y.numel()


def detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


@torch.no_grad()
def evaluate(model, ids, streams, steps):
    """charlm's evaluate(): S contiguous streams, chunks of `steps`, state carried; sum NLL, count."""
    model.eval()
    predictions = ids.numel() - 1
    if predictions < 1:
        model.train()
        return 0.0, 0
    S = min(max(streams, 1), predictions)
    lens = [predictions // S + (1 if s < predictions % S else 0) for s in range(S)]
    starts = np.cumsum([0] + lens[:-1])
    longest = lens[0]
    padded = torch.zeros(S, longest + 1, dtype=torch.int64)
    target = torch.full((S, longest), -1, dtype=torch.int64)
    for s in range(S):
        a, L = int(starts[s]), lens[s]
        padded[s, :L] = ids[a:a + L]
        target[s, :L] = ids[a + 1:a + L + 1]
    inp = padded[:, :longest].t().contiguous()  # (time, S)
    tgt = target.t().contiguous()
    nll, count, state = 0.0, 0, None
    for c in range(0, longest, steps):
        x, y = inp[c:c + steps], tgt[c:c + steps]
        if x.shape[0] < steps:  # charlm pads the last chunk to `steps` with ignored targets
            pad = steps - x.shape[0]
            x = torch.cat([x, torch.zeros(pad, S, dtype=torch.int64)])
            y = torch.cat([y, torch.full((pad, S), -1, dtype=torch.int64)])
        logits, state = model(x, state)
        nll += float(model.loss(logits, y, reduction="sum"))
        count += int((y >= 0).sum())
    model.train()
    return nll, count


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def blas_info():
    """PyTorch's build-time BLAS_INFO and the BLAS library actually mapped into this process."""
    m = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "blas" in os.path.basename(path).lower():
                libs.add(os.path.realpath(path))
    return (m.group(1) if m else "?") + ": " + (", ".join(sorted(libs)) or "no BLAS library mapped")


def cutoffs_for(spec, train_ids, V):
    """--cutoffs: [] (full softmax), a list of ids, or charlm's default_cutoffs() rule for 'auto'."""
    if not spec:
        return []
    if spec != "auto":
        return [int(c) for c in spec.split(",")]
    counts = np.bincount(train_ids.numpy(), minlength=V)
    acc = np.cumsum(counts)
    total = int(acc[-1])

    def covering(share):  # the smallest id count whose tokens cover `share` of the text
        return int(np.searchsorted(acc, share * total, side="left")) + 1

    head = max(covering(0.80), 8)
    cut = [head]
    second = covering(0.98)
    if second >= head + 8 and V >= second + 8:
        cut.append(second)
    return cut


def parse_duration(s):
    m = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s|m|h)?\s*", s)
    if not m:
        raise SystemExit(f"torch_train.py: --time-budget '{s}': use e.g. 45s, 10m, 1h")
    return float(m.group(1)) * {"ms": 1e-3, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--valid-fraction", type=float, default=0.1)
    ap.add_argument("--cell", default="lstm", help="rnn | rnn-relu | gru | lstm")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--embed", type=int, default=64, help="0: one-hot input")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=35)
    ap.add_argument("--sampling", default="random", choices=["random", "consecutive"])
    ap.add_argument("--epochs", type=int, default=None, help="0: until --time-budget (default 10, 0 with a budget)")
    ap.add_argument("--time-budget", default=None, help="e.g. 45s, 10m")
    ap.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--clip", type=float, default=1.0, help="global norm threshold; 0 disables")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report-every", type=int, default=0, help="steps between reports (0: about 10 s apart)")
    ap.add_argument("--metrics", default=None, help="JSON lines, charlm's fields")
    ap.add_argument("--cutoffs", default="", help="adaptive softmax: ids such as 1000,3000, or 'auto' (charlm's "
                    "rule: the head covers 80%% of the training text, the first cluster up to 98%%); empty: full")
    a = ap.parse_args()

    budget = parse_duration(a.time_budget) if a.time_budget else 0.0
    epochs = a.epochs if a.epochs is not None else (0 if budget > 0 else 10)
    if epochs == 0 and budget <= 0:
        raise SystemExit("torch_train.py: give --epochs N (N > 0) or --time-budget, or both")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    train_ids, valid_ids, V, valid_unk = load_corpus(a.corpus, a.valid_fraction)
    batches = Batches(train_ids, a.batch, a.steps, a.sampling, a.seed)
    if train_ids.numel() < batches.min_tokens():
        raise SystemExit(f"torch_train.py: the training text has {train_ids.numel()} tokens, fewer than one batch needs")
    model = CharLM(a.cell, V, a.embed, a.hidden, a.layers, cutoffs_for(a.cutoffs, train_ids, V))
    params = list(model.parameters())
    if a.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    else:
        opt = torch.optim.SGD(params, lr=a.lr)
    valid_streams = max(1, min(a.batch, valid_ids.numel() // 64 + 1))
    metrics = open(a.metrics, "w") if a.metrics else None

    def emit(r):
        if metrics:
            metrics.write(json.dumps(r) + "\n")
            metrics.flush()

    t0 = time.perf_counter()
    last_report = t0
    step, window_nll, window_tok, window_chars = 0, 0.0, 0, 0
    last_norm, clipped, out_of_time = 0.0, False, False
    valid_ppl, train_ppl, epoch = None, float("nan"), 0
    valid_seconds = 0.0
    tokens_per_step = a.steps * a.batch
    while epochs == 0 or epoch < epochs:
        epoch_nll, epoch_tok = 0.0, 0
        num_batches, plan = batches.epoch(epoch)
        state = None
        position = 0
        for (x, y), reset in plan:
            position += 1
            if reset:
                state = None
            logits, new_state = model(x, state)
            loss = model.loss(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if a.clip > 0:
                norm = float(torch.nn.utils.clip_grad_norm_(params, a.clip))
                clipped = norm > a.clip
            else:
                norm = float(torch.norm(torch.stack([p.grad.detach().norm() for p in params])))
                clipped = False
            if not math.isfinite(norm) or not math.isfinite(float(loss)):
                raise SystemExit(f"torch_train.py: training diverged at step {step + 1}")
            last_norm = norm
            opt.step()
            state = detach(new_state) if a.sampling == "consecutive" else None
            step += 1
            l = float(loss) * tokens_per_step
            epoch_nll += l
            epoch_tok += tokens_per_step
            window_nll += l
            window_tok += tokens_per_step
            window_chars += tokens_per_step
            now = time.perf_counter()
            interval = (step % a.report_every == 0) if a.report_every else (now - last_report >= 10.0)
            if interval and position < num_batches:  # as charlm: the epoch's last batch reports at its end
                ppl = math.exp(window_nll / window_tok)
                emit({"epoch": epoch + 1, "step": step, "end_of_epoch": False, "train_ppl": ppl, "valid_ppl": None,
                      "bpc": math.log2(ppl), "grad_norm": last_norm, "clipped": clipped, "lr": a.lr,
                      "chars_per_sec": window_chars / max(1e-9, now - last_report), "elapsed_s": now - t0})
                window_nll, window_tok, window_chars = 0.0, 0, 0
                last_report = time.perf_counter()
            if budget > 0 and time.perf_counter() - t0 >= budget:
                out_of_time = True
                break
        # End of epoch (or of the budget): validation over the whole validation text.
        train_seconds = time.perf_counter() - last_report
        train_ppl = math.exp((window_nll / window_tok) if window_tok else (epoch_nll / max(1, epoch_tok)))
        report_ppl = train_ppl
        if valid_ids.numel() >= 2:
            tv = time.perf_counter()
            nll, count = evaluate(model, valid_ids, valid_streams, a.steps)
            valid_seconds += time.perf_counter() - tv
            valid_ppl = math.exp(nll / count) if count else None
        now = time.perf_counter()
        emit({"epoch": epoch + 1, "step": step, "end_of_epoch": True, "train_ppl": report_ppl, "valid_ppl": valid_ppl,
              "bpc": math.log2(valid_ppl if valid_ppl else report_ppl), "grad_norm": last_norm, "clipped": clipped,
              "lr": a.lr, "chars_per_sec": window_chars / max(1e-9, train_seconds), "elapsed_s": now - t0})
        window_nll, window_tok, window_chars = 0.0, 0, 0
        last_report = time.perf_counter()
        train_ppl = math.exp(epoch_nll / max(1, epoch_tok))
        epoch += 1
        if out_of_time or (epochs and epoch == epochs):
            break

    print(json.dumps({"final": True, "epochs": epoch, "steps": step, "train_ppl": train_ppl, "valid_ppl": valid_ppl,
                      "seconds": time.perf_counter() - t0, "valid_seconds": valid_seconds,
                      "peak_rss_mb": peak_rss_mb(), "vocab": V, "valid_unk": valid_unk,
                      "params": sum(p.numel() for p in params), "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "blas": blas_info()}))
    if metrics:
        metrics.close()


if __name__ == "__main__":
    main()
