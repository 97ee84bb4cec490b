#!/usr/bin/env python3
"""charlm serve under load: k clients at once, each sending POST /api/generate (one sample of
LENGTH tokens, its own seed) back to back for WINDOW seconds; prints streams, requests, total char/s
and the p50/p95 request time, then the CLI's own char/s for the same generation (charlm generate,
1 and 2 threads). Not a test. Standard library only.

usage: bench/serve_load.py --charlm BIN --model FILE [--length 400] [--window 10] [--clients 1,2,4,8]
"""
import argparse, http.client, json, re, statistics, subprocess, sys, threading, time


def start_server(args):
    p = subprocess.Popen([args.charlm, "serve", "--model", args.model, "--port", "0", "--threads", "1",
                          "--max-streams", str(max(args.clients)), "--max-length", str(args.length)],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.search(r":(\d+)/", line)
    if not m:
        p.kill()
        sys.exit(f"serve_load: charlm serve did not start: {line!r}")
    return p, int(m.group(1))


def client(port, length, seed0, stop_at, out):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    seed = seed0
    while time.monotonic() < stop_at:
        t0 = time.monotonic()
        conn.request("POST", "/api/generate", json.dumps({"length": length, "seed": seed, "temperature": 1.0}),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        body = json.loads(r.read())
        if r.status != 200:
            sys.exit(f"serve_load: HTTP {r.status}: {body}")
        out.append((time.monotonic() - t0, body["tokens"]))
        seed += 1000


def run_load(port, k, args):
    results = [[] for _ in range(k)]
    t0 = time.monotonic()
    stop_at = t0 + args.window
    threads = [threading.Thread(target=client, args=(port, args.length, i + 1, stop_at, results[i])) for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    times = sorted(x for r in results for x, _ in r)
    tokens = sum(n for r in results for _, n in r)
    return len(times), tokens / elapsed, statistics.median(times), times[int(0.95 * (len(times) - 1))]


def cli_rate(args, threads):
    t0 = time.monotonic()
    subprocess.run([args.charlm, "generate", "--model", args.model, "--length", str(args.length * 10), "--seed", "1",
                    "--threads", str(threads)], check=True, stdout=subprocess.DEVNULL)
    return args.length * 10 / (time.monotonic() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--charlm", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--length", type=int, default=400)
    ap.add_argument("--window", type=float, default=10)
    ap.add_argument("--clients", default="1,2,4,8")
    args = ap.parse_args()
    args.clients = [int(x) for x in args.clients.split(",")]
    server, port = start_server(args)
    try:
        print("| streams at once | requests | total char/s | request p50 (s) | p95 (s) |")
        print("| --- | --- | --- | --- | --- |")
        for k in args.clients:
            n, rate, p50, p95 = run_load(port, k, args)
            print(f"| {k} | {n} | {rate:.0f} | {p50:.3f} | {p95:.3f} |", flush=True)
    finally:
        server.terminate()
        server.wait()
    for t in (1, 2):
        print(f"CLI charlm generate --length {args.length * 10} --threads {t}: {cli_rate(args, t):.0f} char/s")


if __name__ == "__main__":
    main()
