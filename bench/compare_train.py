#!/usr/bin/env python3
"""charlm vs PyTorch, side by side (issue 5): training speed, quality after a budget, memory.

For each configuration and thread count:
1. speed: short separate runs ("windows") of charlm and of the PyTorch peer (bench/torch_train.py),
   ALTERNATELY (charlm, torch, charlm, torch, ...), so that load from other processes hits both
   alike. A window trains for warm-up + window seconds with frequent reports; reports that start
   inside the warm-up, and end-of-epoch reports, are dropped; the window's rate is its characters
   over its training seconds. Speed windows use --valid-fraction 0 (no validation pauses).
   Printed: the median over windows per program and the ratio charlm / torch.
2. quality: one run of each with the same wall-clock budget (validation at every epoch end counts
   against it in both), then the validation perplexity over the whole validation text (last 10%)
   and the peak RSS of the process (wait4).
Also: dnnl_sgemm GFLOP/s (FP32, n = 1024; build/bench/bench_sgemm) at each thread count, and
charlm's achieved GFLOP/s with FLOPs per char = 3 x (sum over layers 2 G H (E_in + H) + 2 H V).
"others" is the CPU (in cores) the rest of the machine used during the speed windows: rates are
only trustworthy when it is near 0.

Run with /usr/bin/python3 from the repository root, e.g.
  /usr/bin/python3 bench/compare_train.py --config all --threads 1,2 --out-md /tmp/compare.md
"""
import argparse
import datetime
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Shared by every configuration (as bench/train_figures.sh): Adam lr 2e-3, clip 5, seed 1, random windows.
COMMON = {"optimizer": "adam", "lr": 0.002, "clip": 5.0, "seed": 1, "sampling": "random"}

# name: corpus, charlm cells (each compared with the one torch cell), layers, hidden, embed, batch, steps.
# embed 64 is charlm's default and is used on both sides everywhere (char-rnn itself feeds one-hot).
CONFIGS = {
    "textbook-rnn": dict(corpus="tinyshakespeare.txt", cells=["rnn"], torch_cell="rnn", layers=1, hidden=256,
                         embed=64, batch=32, steps=35),
    "textbook-gru": dict(corpus="tinyshakespeare.txt", cells=["gru", "lbr-gru"], torch_cell="gru", layers=1,
                         hidden=256, embed=64, batch=32, steps=35),
    "textbook-lstm": dict(corpus="tinyshakespeare.txt", cells=["lstm"], torch_cell="lstm", layers=1, hidden=256,
                          embed=64, batch=32, steps=35),
    "charrnn-lstm": dict(corpus="tinyshakespeare.txt", cells=["lstm"], torch_cell="lstm", layers=2, hidden=128,
                         embed=64, batch=50, steps=50),
    "large-lstm-1x512": dict(corpus="tinyshakespeare.txt", cells=["lstm"], torch_cell="lstm", layers=1, hidden=512,
                             embed=64, batch=64, steps=100),
    "large-lstm-2x512": dict(corpus="tinyshakespeare.txt", cells=["lstm"], torch_cell="lstm", layers=2, hidden=512,
                             embed=64, batch=64, steps=100),
    "tang-lstm": dict(corpus="tang_poems_3mb_simplified.txt", cells=["lstm"], torch_cell="lstm", layers=1,
                      hidden=256, embed=64, batch=32, steps=35, vocab_hint=7000),
    # The adaptive softmax (charlm --softmax adaptive; the peer nn.AdaptiveLogSoftmaxWithLoss with the same
    # cutoffs rule), and charlm's full softmax in the same run for the adaptive/full speed-up.
    "tang-lstm-adaptive": dict(corpus="tang_poems_3mb_simplified.txt", cells=["lstm:adaptive", "lstm"],
                               torch_cell="lstm:adaptive", layers=1, hidden=256, embed=64, batch=32, steps=35,
                               vocab_hint=7000),
}
# A cell name "<cell>:adaptive" trains with the adaptive softmax (cutoffs chosen from the corpus).
ADAPTIVE = ":adaptive"
GATES = {"rnn": 1, "rnn-relu": 1, "gru": 3, "lbr-gru": 3, "lstm": 4}


def flops_per_char(cell, layers, hidden, embed, vocab):
    """Full-softmax FLOPs; None for the adaptive softmax, whose cost depends on the text's frequencies."""
    if cell.endswith(ADAPTIVE):
        return None
    per = sum(2 * GATES[cell] * hidden * ((embed if l == 0 else hidden) + hidden) for l in range(layers))
    return 3 * (per + 2 * hidden * vocab)


def machine_busy_s():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Runner:
    def __init__(self, args):
        self.a = args
        self.tmp = tempfile.mkdtemp(prefix="compare_train.")
        self.n = 0

    def run(self, argv, env_extra):
        """Runs argv with stdout to a file; returns (rc, stdout, wall s, child CPU s, peak RSS MB)."""
        self.n += 1
        out_path = os.path.join(self.tmp, f"out{self.n}.txt")
        env = dict(os.environ, **env_extra)
        t0 = time.perf_counter()
        with open(out_path, "w") as out:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        with open(out_path) as f:
            text = f.read()
        if p.returncode != 0:
            sys.exit(f"compare_train.py: {shlex.join(argv)} failed with exit code {p.returncode}:\n{text[-3000:]}")
        return text, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0

    def train_args(self, cfg, cell, threads, budget, metrics, report_every, valid_fraction):
        c = dict(COMMON)
        adaptive = cell.endswith(ADAPTIVE)
        cell = cell[:-len(ADAPTIVE)] if adaptive else cell
        argv = ["--corpus", os.path.join(self.a.corpora, cfg["corpus"]), "--cell", cell,
                "--layers", str(cfg["layers"]), "--hidden", str(cfg["hidden"]), "--embed", str(cfg["embed"]),
                "--batch", str(cfg["batch"]), "--steps", str(cfg["steps"]), "--sampling", c["sampling"],
                "--optimizer", c["optimizer"], "--lr", str(c["lr"]), "--clip", str(c["clip"]), "--seed", str(c["seed"]),
                "--threads", str(threads), "--time-budget", f"{budget:g}s", "--valid-fraction", f"{valid_fraction:g}",
                "--metrics", metrics]
        if report_every:
            argv += ["--report-every", str(report_every)]
        return argv, adaptive

    def launch(self, tool, cfg, cell, threads, budget, report_every, valid_fraction):
        self.n += 1
        metrics = os.path.join(self.tmp, f"m{self.n}.jsonl")
        args, adaptive = self.train_args(cfg, cell, threads, budget, metrics, report_every, valid_fraction)
        env = {"OMP_NUM_THREADS": str(threads)}
        if tool == "charlm":
            argv = [self.a.charlm, "train", "--force", "--unit", "codepoint"] + args
            argv += ["--softmax", "adaptive"] if adaptive else []
        else:
            argv = [self.a.python, os.path.join(REPO, "bench", "torch_train.py")] + args
            argv += ["--cutoffs", "auto"] if adaptive else []
            env["LD_LIBRARY_PATH"] = self.a.blas_dir + (":" + os.environ["LD_LIBRARY_PATH"]
                                                        if os.environ.get("LD_LIBRARY_PATH") else "")
        text, wall, cpu, rss = self.run(argv, env)
        with open(metrics) as f:
            reports = [json.loads(line) for line in f if line.strip()]
        vocab = None
        m = re.search(r"vocabulary (\d+) tokens", text)
        if m:
            vocab = int(m.group(1))
        for line in text.splitlines():
            if line.startswith("{") and '"final": true' in line:
                final = json.loads(line)
                vocab = final["vocab"]
                self.torch_info = f"PyTorch {final['torch']} ({final['blas']})"
        return dict(reports=reports, wall=wall, cpu=cpu, rss_mb=rss, vocab=vocab, argv=argv)


def window_rate(reports, tokens_per_step, warmup):
    """Characters per training second over the reports that start after the warm-up."""
    spans = []  # (start s, chars, training s) of the in-epoch reports
    prev_step = 0
    for r in reports:
        n = (r["step"] - prev_step) * tokens_per_step
        prev_step = r["step"]
        if r["end_of_epoch"] or not r["chars_per_sec"] or n <= 0:
            continue
        dt = n / r["chars_per_sec"]
        spans.append((r["elapsed_s"] - dt, n, dt))
    # The first report holds one-off setup (JIT, allocation) whatever the warm-up.
    timed = [s for s in spans[1:] if s[0] >= warmup]
    chars, secs = sum(s[1] for s in timed), sum(s[2] for s in timed)
    return chars / secs if secs > 0 else None


def fmt_int(v):
    return "–" if v is None else f"{v:,.0f}"


def fmt_f(v, d=2, unit=""):
    return "–" if v is None else f"{v:.{d}f}{unit}"


def compare(runner, name, cfg, threads, sgemm, log):
    a = runner.a
    tps = cfg["batch"] * cfg["steps"]
    tools = [("charlm", c) for c in cfg["cells"]] + [("torch", cfg["torch_cell"])]
    # Expected char/s, to choose --report-every (about 10 reports per window): a low first guess
    # (charlm 5, torch 2 GFLOP/s per thread) errs towards more reports; then the last window's rate.
    guess = {}
    for tool, cell in tools:
        f = flops_per_char(cell.replace(ADAPTIVE, ""), cfg["layers"], cfg["hidden"], cfg["embed"],
                           cfg.get("vocab_hint", 66))
        guess[(tool, cell)] = (5e9 if tool == "charlm" else 2e9) * threads / f * (3 if ADAPTIVE in cell else 1)
    rates = {k: [] for k in tools}
    vocab = None
    busy0, cpu_children, wall_total = machine_busy_s(), 0.0, 0.0
    for w in range(a.windows):
        for tool, cell in tools:
            every = max(1, round(guess[(tool, cell)] * a.window / 10 / tps))
            r = runner.launch(tool, cfg, cell, threads, a.warmup + a.window, every, 0.0)
            rate = window_rate(r["reports"], tps, a.warmup)
            cpu_children += r["cpu"]
            wall_total += r["wall"]
            if rate:
                rates[(tool, cell)].append(rate)
            seen = [x["chars_per_sec"] for x in r["reports"] if x["chars_per_sec"] and not x["end_of_epoch"]]
            if rate or seen:
                guess[(tool, cell)] = rate or statistics.median(seen)
            vocab = vocab or r["vocab"]
            log(f"  {name} threads={threads} window {w + 1}/{a.windows} {tool:6} {cell:7} "
                f"{fmt_int(rate)} char/s ({len(r['reports'])} reports, every {every} steps)")
    others = max(0.0, (machine_busy_s() - busy0 - cpu_children) / max(1e-9, wall_total))

    quality = {}
    if a.budget > 0:
        for tool, cell in tools:
            r = runner.launch(tool, cfg, cell, threads, a.budget, 0, 0.1)
            last = r["reports"][-1] if r["reports"] else {}
            quality[(tool, cell)] = dict(valid_ppl=last.get("valid_ppl"), steps=last.get("step"),
                                         rss_mb=r["rss_mb"], wall=r["wall"])
            log(f"  {name} threads={threads} budget {a.budget:g}s {tool:6} {cell:7} valid ppl "
                f"{fmt_f(last.get('valid_ppl'), 3)} after {last.get('step')} steps, peak RSS {r['rss_mb']:.0f} MB")

    rows = []
    t_rates = rates[("torch", cfg["torch_cell"])]
    t_med = statistics.median(t_rates) if t_rates else None
    tq = quality.get(("torch", cfg["torch_cell"]), {})
    for cell in cfg["cells"]:
        c_rates = rates[("charlm", cell)]
        c_med = statistics.median(c_rates) if c_rates else None
        fpc = flops_per_char(cell, cfg["layers"], cfg["hidden"], cfg["embed"], vocab or 0)
        gflops = c_med * fpc / 1e9 if c_med and fpc else None
        cq = quality.get(("charlm", cell), {})
        rows.append(dict(
            config=name, corpus=cfg["corpus"], cell=cell, torch_cell=cfg["torch_cell"], layers=cfg["layers"],
            hidden=cfg["hidden"], embed=cfg["embed"], batch=cfg["batch"], steps=cfg["steps"], vocab=vocab,
            threads=threads, charlm_rates=c_rates, torch_rates=t_rates, charlm_cps=c_med, torch_cps=t_med,
            ratio=c_med / t_med if c_med and t_med else None, flops_per_char=fpc, charlm_gflops=gflops,
            torch_gflops=t_med * flops_per_char(cfg["torch_cell"], cfg["layers"], cfg["hidden"], cfg["embed"],
                                                vocab or 0) / 1e9 if t_med and ADAPTIVE not in cfg["torch_cell"]
            else None,
            sgemm_gflops=sgemm.get(threads), pct_sgemm=100 * gflops / sgemm[threads] if gflops and sgemm.get(threads)
            else None, others_cores=others, budget_s=a.budget, charlm_valid_ppl=cq.get("valid_ppl"),
            torch_valid_ppl=tq.get("valid_ppl"), charlm_steps=cq.get("steps"), torch_steps=tq.get("steps"),
            charlm_rss_mb=cq.get("rss_mb"), torch_rss_mb=tq.get("rss_mb")))
    return rows


def spread(v):
    return f"{min(v):,.0f}–{max(v):,.0f}" if v else "–"


def markdown(rows, a, sgemm, command, started, torch_info, load):
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = re.search(r"Model name:\s*(.+)", lscpu)
    cpus = re.search(r"^CPU\(s\):\s*(\d+)", lscpu, re.M)
    family = re.search(r"CPU family:\s*(\d+)", lscpu)
    cpu_model = re.search(r"^Model:\s*(\d+)", lscpu, re.M)
    flags = open("/proc/cpuinfo").read()
    isa = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "no AVX2"
    out = [f"## {started:%Y-%m-%d} — charlm vs PyTorch: training speed, quality after a budget, memory (issue 5)", ""]
    out.append(f"* Machine: {cpus.group(1) if cpus else '?'} CPUs \"{model.group(1).strip() if model else '?'}\" "
               f"(`lscpu`, family {family.group(1) if family else '?'} model {cpu_model.group(1) if cpu_model else '?'}), "
               f"{isa}; load average {load[0]} at the start, {load[1]} at the end.")
    out.append(f"* Commit: `{commit}`{' (working tree had local changes)' if dirty else ''}; Release build. "
               f"Peer: {torch_info or 'PyTorch (not run)'}, eager mode, `bench/torch_train.py`.")
    out.append("* sgemm (`bench_sgemm`, dnnl_sgemm FP32 n = 1024, median of 20; the higher of a run at the start "
               "and one at the end): " +
               ", ".join(f"{t} thread{'s' if t > 1 else ''} {g:.1f} GFLOP/s" for t, g in sorted(sgemm.items())) + ".")
    out.append(f"* Command: `{command}`")
    out.append(f"* Both: embed {rows[0]['embed'] if rows else 64}, Adam lr {COMMON['lr']}, clip {COMMON['clip']} "
               f"(global norm), seed {COMMON['seed']}, random windows (state reset per batch), code points as tokens. "
               f"Speed: {a.windows} alternating windows of {a.window:g} s after {a.warmup:g} s warm-up each, "
               f"median; no validation in speed windows. " +
               (f"Quality: {a.budget:g} s wall-clock budget each (validation at each epoch end included), then "
                f"validation perplexity over the last 10%. " if a.budget > 0 else "Quality runs skipped (--budget 0). ") +
               f"GFLOP/s = char/s x 3 x (sum over layers 2GH(E_in+H) + 2HV). Peak RSS: whole process (wait4).")
    out.append("* \"others\": cores used by other processes during the speed windows; rates are noisy when > 0.1.")
    out.append("")
    out.append("| config | charlm cell (torch) | L x H | N x T | V | threads | charlm char/s | torch char/s | ratio "
               "| charlm GFLOP/s | % sgemm | torch GFLOP/s | valid ppl charlm | valid ppl torch | peak RSS charlm "
               "| peak RSS torch | others |")
    out.append("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        out.append(
            f"| {r['config']} | {r['cell']} ({r['torch_cell']}) | {r['layers']} x {r['hidden']} | "
            f"{r['batch']} x {r['steps']} | {r['vocab']} | {r['threads']} | {fmt_int(r['charlm_cps'])} | "
            f"{fmt_int(r['torch_cps'])} | {fmt_f(r['ratio'])} | {fmt_f(r['charlm_gflops'], 1)} | "
            f"{fmt_f(r['pct_sgemm'], 0, '%')} | {fmt_f(r['torch_gflops'], 1)} | {fmt_f(r['charlm_valid_ppl'], 3)} | "
            f"{fmt_f(r['torch_valid_ppl'], 3)} | {fmt_f(r['charlm_rss_mb'], 0, ' MB')} | {fmt_f(r['torch_rss_mb'], 0, ' MB')} "
            f"| {r['others_cores']:.2f} |")
    out.append("")
    out.append("Window rates (char/s, min–max): " + "; ".join(
        f"{r['config']}/{r['cell']}/{r['threads']}T charlm {spread(r['charlm_rates'])}, torch {spread(r['torch_rates'])}"
        for r in rows) + ".")
    if a.budget > 0:
        out.append("")
        out.append("Optimizer steps within the budget: " + "; ".join(
            f"{r['config']}/{r['cell']}/{r['threads']}T charlm {r['charlm_steps']}, torch {r['torch_steps']}"
            for r in rows) + ".")
    pairs = [(a_, f_) for a_ in rows for f_ in rows if a_["config"] == f_["config"] and a_["threads"] == f_["threads"]
             and a_["cell"] == f_["cell"] + ADAPTIVE]
    if pairs:
        out.append("")
        def speedup(a_, f_):
            return a_["charlm_cps"] / f_["charlm_cps"] if a_["charlm_cps"] and f_["charlm_cps"] else None

        out.append("charlm's adaptive softmax against its full softmax (same run): " + "; ".join(
            f"{a_['config']}/{a_['threads']}T {fmt_f(speedup(a_, f_))}x the char/s, valid ppl "
            f"{fmt_f(a_['charlm_valid_ppl'], 3)} vs {fmt_f(f_['charlm_valid_ppl'], 3)} after the same budget"
            for a_, f_ in pairs) + ".")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description="charlm vs PyTorch training benchmark (issue 5)",
                                 epilog="configs: " + ", ".join(CONFIGS))
    ap.add_argument("--config", default="all", help="a name, a comma list, or all")
    ap.add_argument("--threads", default="1,2", help="comma list")
    ap.add_argument("--window", type=float, default=20, help="seconds per timed window (after the warm-up)")
    ap.add_argument("--warmup", type=float, default=5, help="seconds at the start of each window run not timed")
    ap.add_argument("--windows", type=int, default=3, help="timed windows per program")
    ap.add_argument("--budget", type=float, default=60, help="wall-clock budget of the quality runs (0: skip)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 3 windows of 1.5 s, 1 s warm-up, 5 s budget")
    ap.add_argument("--build", default=os.path.join(REPO, "build"), help="build directory (charlm, bench/bench_sgemm)")
    ap.add_argument("--charlm", default=None, help="charlm binary (default BUILD/charlm)")
    ap.add_argument("--python", default="/usr/bin/python3", help="Python with torch for the peer")
    ap.add_argument("--blas-dir", default="/usr/lib/x86_64-linux-gnu/openblas-openmp",
                    help="put first on the peer's LD_LIBRARY_PATH (OpenBLAS, not the reference BLAS)")
    ap.add_argument("--corpora", default=os.environ.get("CORPORA", os.path.join(os.path.dirname(REPO), "shared",
                                                                                 "corpora")))
    ap.add_argument("--out-md", default=None, help="write the Markdown block for bench/RESULTS.md here")
    ap.add_argument("--out-json", default=None, help="write every row as a JSON line here")
    a = ap.parse_args()
    if a.quick:
        a.window, a.warmup, a.windows, a.budget = 1.5, 1.0, 3, 5.0
    a.charlm = a.charlm or os.path.join(a.build, "charlm")
    names = list(CONFIGS) if a.config == "all" else a.config.split(",")
    for n in names:
        if n not in CONFIGS:
            sys.exit(f"compare_train.py: unknown --config '{n}': use one of {', '.join(CONFIGS)} or all")
    threads = [int(t) for t in a.threads.split(",")]
    for path in (a.charlm, os.path.join(a.build, "bench", "bench_sgemm")):
        if not os.access(path, os.X_OK):
            sys.exit(f"compare_train.py: '{path}' is missing: build it (cmake --build {a.build} --target "
                     f"charlm bench_sgemm) or pass --build/--charlm")
    command = shlex.join(["/usr/bin/python3", "bench/compare_train.py"] + sys.argv[1:])
    started = datetime.datetime.now()
    load0 = open("/proc/loadavg").read().split()[0]

    def log(s):
        print(s, flush=True)

    per_pair = a.windows * (a.warmup + a.window + 4) * 2 + (2 * (a.budget + 10) if a.budget > 0 else 0)
    n_pairs = sum(len(CONFIGS[n]["cells"]) + 1 for n in names) / 2 * len(threads)
    log(f"compare_train: {len(names)} configs x {len(threads)} thread counts, roughly {per_pair * n_pairs / 60:.0f} "
        f"minutes (more for the large configs' validation)")

    sgemm = {}

    def measure_sgemm():  # at the start and at the end; the higher median is the yardstick
        out = subprocess.run([os.path.join(a.build, "bench", "bench_sgemm"), "1024", "20"] +
                             [str(t) for t in threads], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            j = json.loads(line)
            sgemm[j["threads"]] = max(sgemm.get(j["threads"], 0), j["median_gflops"])
            log(f"sgemm n=1024 threads={j['threads']}: {j['median_gflops']:.1f} GFLOP/s (best {j['best_gflops']:.1f})")

    measure_sgemm()

    runner = Runner(a)
    runner.torch_info = None
    rows = []
    for n in names:
        for t in threads:
            rows += compare(runner, n, CONFIGS[n], t, sgemm, log)
    measure_sgemm()
    for r in rows:  # % of the final yardstick
        g = sgemm.get(r["threads"])
        r["sgemm_gflops"] = g
        r["pct_sgemm"] = 100 * r["charlm_gflops"] / g if r["charlm_gflops"] and g else None
    load1 = open("/proc/loadavg").read().split()[0]
    md = markdown(rows, a, sgemm, command, started, runner.torch_info, (load0, load1))
    print()
    print(md)
    if a.out_md:
        with open(a.out_md, "w") as f:
            f.write(md)
    if a.out_json:
        with open(a.out_json, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
