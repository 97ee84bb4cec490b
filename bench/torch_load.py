#!/usr/bin/env python3
"""Loads a charlm model file into PyTorch and checks that PyTorch computes charlm's logits.

The file's tensors already carry PyTorch's names and layouts; this script builds the matching
nn.Embedding (or one-hot) + nn.RNN / nn.GRU / nn.LSTM + nn.Linear, loads the weights with
load_state_dict(strict=True), runs a text through it and compares the logits with those that
`charlm eval --logits` writes. Not a converter and not a benchmark: a check of the file format.

Which charlm cells torch.nn can represent exactly:
  rnn, rnn-relu -> nn.RNN(nonlinearity tanh / relu)   exact
  lstm          -> nn.LSTM (gates i, f, g, o)         exact
  lbr-gru       -> nn.GRU (PyTorch's GRU IS the linear-before-reset GRU)  exact
  gru           -> NOT representable: charlm's gru applies the reset gate before the recurrent
                   matrix product, n = tanh(W_in x + U_n (r * h) + b), whereas nn.GRU computes
                   n = tanh(W_in x + b_in + r * (U_n h + b_hn)). The file loads into nn.GRU
                   (same names and shapes) but computes a different function; this script
                   therefore checks a gru file against a small module written with torch ops
                   (same parameter names, loaded strictly) and reports nn.GRU's difference as
                   information only. --torch-nn-only makes it use nn.GRU and fail.

The adaptive softmax (charlm train --softmax adaptive) maps to nn.AdaptiveLogSoftmaxWithLoss(H, V,
cutoffs, div_value, head_bias=True) under the name "decoder"; charlm's --logits are then the
normalized log-probabilities, compared with the module's log_prob().

Tokenization: the text must be ASCII without carriage returns. Then every character is one token
under any charlm text setting (NFC/NFKC leave ASCII alone, grapheme = code point, no CR/LF
folding), and ids come from the vocabulary in the file's metadata (absent: <unk>, id 0), with
lowercasing when the model's text_config asks for it. The number of rows charlm writes is checked
against the token count, so a tokenization mismatch is reported, not compared.

Tolerance: max |torch - charlm| <= 1e-4 * max(1, max |logit|). Both sides compute in float32 with
different summation orders (oneDNN's kernels against PyTorch's BLAS); one dot product of K terms
has a relative rounding error of order K * 2^-24 (about 1e-5 for K = 100 in the worst case, far
less in practice), and the recurrence does not amplify it (tanh and sigmoid contract). A layout
mistake -- a gate block swapped, a bias in the wrong place, the other GRU -- moves logits by
1e-2 or more. The NLL is printed as a second summary.

Exit status: 0 the logits agree (or torch is missing: "skipped", see --skip-exit-code),
1 they differ, 2 bad arguments or input.
"""
import argparse
import array
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

TORCH_NN_CELLS = {"rnn", "rnn-relu", "lstm", "lbr-gru"}
CELL_ALIASES = {"rnn_tanh": "rnn", "rnn-tanh": "rnn", "rnn_relu": "rnn-relu", "lbr_gru": "lbr-gru"}


def fail_input(msg):
    print(f"torch_load: {msg}", file=sys.stderr)
    sys.exit(2)


def read_safetensors(path):
    """Returns (metadata dict, {name: (shape, bytes)}); only F32 tensors are accepted."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        fail_input(f"'{path}' is shorter than a safetensors header (8 bytes)")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        fail_input(f"'{path}': header length {n} runs past the end of the file ({len(blob)} bytes)")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        fail_input(f"'{path}': the safetensors header is not JSON ({e})")
    meta = header.pop("__metadata__", {})
    data = blob[8 + n:]
    tensors = {}
    for name, t in header.items():
        if t.get("dtype") != "F32":
            fail_input(f"'{path}': tensor '{name}' has dtype {t.get('dtype')}; charlm writes F32 only")
        begin, end = t["data_offsets"]
        count = math.prod(t["shape"]) if t["shape"] else 1
        if end - begin != 4 * count or end > len(data):
            fail_input(f"'{path}': tensor '{name}' has offsets {begin}..{end} that do not fit shape {t['shape']}")
        tensors[name] = (t["shape"], data[begin:end])
    return meta, tensors


def charlm_config(meta, path):
    try:
        mc = json.loads(meta["model_config"])
        tc = json.loads(meta["text_config"])
        vocab = json.loads(meta["vocab"])
    except (KeyError, json.JSONDecodeError) as e:
        fail_input(f"'{path}' is not a charlm model file: metadata entry {e} missing or malformed")
    mc["cell"] = CELL_ALIASES.get(mc["cell"], mc["cell"])
    if mc["cell"] not in TORCH_NN_CELLS | {"gru"}:
        fail_input(f"'{path}': unknown cell '{mc['cell']}'")
    return mc, tc, vocab


def build_model(torch, mc, torch_nn_only):
    """The PyTorch model with charlm's names: embedding (absent for one-hot), rnn, decoder."""
    nn = torch.nn
    V, E, H, L, cell = mc["vocab"], mc["embed"], mc["hidden"], mc["layers"], mc["cell"]
    I = E if E > 0 else V

    class ResetBeforeGRU(nn.Module):
        """charlm's gru (oneDNN vanilla_gru) with torch ops; rows of each weight are (r, z, n)."""

        def __init__(self):
            super().__init__()
            for l in range(L):
                w = I if l == 0 else H
                self.register_parameter(f"weight_ih_l{l}", nn.Parameter(torch.empty(3 * H, w)))
                self.register_parameter(f"weight_hh_l{l}", nn.Parameter(torch.empty(3 * H, H)))
                self.register_parameter(f"bias_ih_l{l}", nn.Parameter(torch.empty(3 * H)))
                self.register_parameter(f"bias_hh_l{l}", nn.Parameter(torch.empty(3 * H)))

        def forward(self, x):  # x (T, N, I) -> (T, N, H), zero initial state
            for l in range(L):
                wih, whh = getattr(self, f"weight_ih_l{l}"), getattr(self, f"weight_hh_l{l}")
                b = getattr(self, f"bias_ih_l{l}") + getattr(self, f"bias_hh_l{l}")
                gx = torch.nn.functional.linear(x, wih, b)  # (T, N, 3H)
                h = x.new_zeros(x.shape[1], H)
                out = []
                for t in range(x.shape[0]):
                    rz = torch.sigmoid(gx[t, :, :2 * H] + h @ whh[:2 * H].T)
                    r, z = rz[:, :H], rz[:, H:]
                    n = torch.tanh(gx[t, :, 2 * H:] + (r * h) @ whh[2 * H:].T)
                    h = z * h + (1 - z) * n
                    out.append(h)
                x = torch.stack(out)
            return x, None

    class CharLM(nn.Module):
        def __init__(self):
            super().__init__()
            if E > 0:
                self.embedding = nn.Embedding(V, E)
            if cell in ("rnn", "rnn-relu"):
                self.rnn = nn.RNN(I, H, L, nonlinearity="tanh" if cell == "rnn" else "relu")
            elif cell == "lstm":
                self.rnn = nn.LSTM(I, H, L)
            elif cell == "lbr-gru" or torch_nn_only:
                self.rnn = nn.GRU(I, H, L)
            else:
                self.rnn = ResetBeforeGRU()
            if mc.get("softmax", "full") == "adaptive":
                self.decoder = nn.AdaptiveLogSoftmaxWithLoss(H, V, mc["cutoffs"], div_value=mc["div_value"],
                                                             head_bias=True)
            else:
                self.decoder = nn.Linear(H, V)

        def forward(self, ids):  # ids (T, N) -> logits (T, N, V); log-probabilities with the adaptive softmax
            x = self.embedding(ids) if E > 0 else torch.nn.functional.one_hot(ids, V).float()
            h, _ = self.rnn(x)
            if isinstance(self.decoder, nn.AdaptiveLogSoftmaxWithLoss):
                return self.decoder.log_prob(h.reshape(-1, H)).reshape(h.shape[0], h.shape[1], V)
            return self.decoder(h)

    return CharLM()


def floats_le(torch, raw):
    """Little-endian float32 bytes (safetensors, charlm's --logits) as a 1-D tensor."""
    a = array.array("f")
    a.frombytes(raw)
    if sys.byteorder != "little":
        a.byteswap()
    return torch.tensor(a, dtype=torch.float32)


def state_dict_of(torch, tensors):
    out = {}
    for name, (shape, raw) in tensors.items():
        if name.startswith("optimizer."):  # Adam moments saved for resuming: not model weights
            continue
        out[name] = floats_le(torch, raw).reshape(shape)
    return out


def tokenize(text_path, tc, vocab):
    with open(text_path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as e:
        fail_input(f"'{text_path}' has a non-ASCII byte at offset {e.start}: this check tokenizes ASCII text only "
                   "(see the top of the script); use an ASCII text")
    if "\r" in text:
        fail_input(f"'{text_path}' has a carriage return at offset {text.index(chr(13))}: charlm folds CR/LF, "
                   "this check does not; use LF line ends")
    if tc.get("lowercase"):
        text = text.lower()
    index = {tok: i for i, tok in enumerate(vocab)}
    ids = [index.get(ch, 0) for ch in text]
    return ids, sum(1 for ch in text if ch not in index)


def charlm_logits(charlm, model_path, text_path, steps, V, workdir):
    out = os.path.join(workdir, "logits.f32")
    cmd = [charlm, "eval", "--model", model_path, "--text", text_path, "--logits", out, "--steps", str(steps),
           "--threads", "1", "--json"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        fail_input(f"'{' '.join(cmd)}' failed with status {run.returncode}: {run.stderr.strip()}")
    with open(out, "rb") as f:
        raw = f.read()
    if len(raw) % (4 * V) != 0:
        fail_input(f"'{out}' has {len(raw)} bytes, not a whole number of rows of {V} float32")
    return raw, len(raw) // (4 * V), json.loads(run.stdout)


def compare(torch, model, ids, ref):
    """Returns (max abs difference, the scale it is judged against, torch's logits)."""
    with torch.no_grad():
        got = model(torch.tensor(ids[:-1], dtype=torch.long).unsqueeze(1)).squeeze(1)  # (T - 1, V)
    diff = (got - ref).abs().max().item()
    return diff, max(1.0, ref.abs().max().item()), got


def check(torch, args, model_path):
    """Loads one model file into PyTorch and compares its logits with charlm's; True when they agree."""
    meta, tensors = read_safetensors(model_path)
    mc, tc, vocab = charlm_config(meta, model_path)
    if len(vocab) != mc["vocab"]:
        fail_input(f"'{model_path}': {len(vocab)} vocabulary entries but model_config says {mc['vocab']}")
    cell = mc["cell"]
    desc = (f"{cell}, {mc['layers']} x {mc['hidden']}, "
            f"{'one-hot input' if mc['embed'] == 0 else 'embedding ' + str(mc['embed'])}, V {mc['vocab']}"
            + (f", adaptive softmax cutoffs {mc['cutoffs']} div {mc['div_value']:g}"
               if mc.get("softmax") == "adaptive" else ""))
    if cell in TORCH_NN_CELLS:
        print(f"{model_path}: {desc}: exactly representable by torch.nn")
    else:
        print(f"{model_path}: {desc}: NOT representable by torch.nn.GRU (charlm's gru resets before the recurrent "
              f"product; nn.GRU is linear-before-reset)")

    ids, unknown = tokenize(args.text, tc, vocab)
    if len(ids) < 2:
        fail_input(f"'{args.text}' has fewer than 2 characters: nothing to predict")
    V = mc["vocab"]
    with tempfile.TemporaryDirectory(prefix="torch_load.") as tmp:
        raw, rows, ev = charlm_logits(args.charlm, model_path, args.text, args.steps, V, tmp)
    if rows != len(ids) - 1 or ev["tokens"] != len(ids) - 1 or ev["unknown_tokens"] != unknown:
        fail_input(f"charlm predicted {rows} tokens ({ev['unknown_tokens']} unknown) but this script tokenized "
                   f"{len(ids)} ({unknown} unknown): the tokenizations differ")
    ref = floats_le(torch, raw).reshape(rows, V)

    sd = state_dict_of(torch, tensors)
    model = build_model(torch, mc, args.torch_nn_only)
    model.load_state_dict(sd, strict=True)  # raises, naming the keys, on any missing or extra tensor
    model.eval()
    print(f"loaded {len(sd)} tensors with load_state_dict(strict=True) into {type(model.rnn).__name__}")

    diff, scale, got = compare(torch, model, ids, ref)
    ok = diff <= args.tol * scale
    if cell == "gru" and not args.torch_nn_only:
        nn_gru = build_model(torch, mc, True)
        nn_gru.load_state_dict(sd, strict=True)
        nn_gru.eval()
        other, _, _ = compare(torch, nn_gru, ids, ref)
        print(f"for information: torch.nn.GRU on the same weights differs by {other:.3e} (a different cell)")
    # The NLL as a second, independent summary: charlm's mean NLL against PyTorch's cross-entropy.
    targets = torch.tensor(ids[1:], dtype=torch.long)
    nll = torch.nn.functional.cross_entropy(got, targets).item()
    print(f"{rows} positions x V {V}: max |torch - charlm| = {diff:.3e} (max |logit| {scale:.3g}, "
          f"tolerance {args.tol:g} x that); mean NLL torch {nll:.6f}, charlm {ev['nll_mean']:.6f}")
    print(f"{'PASS' if ok else 'FAIL'}: {cell}" + ("" if ok else " -- the logits differ"))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--charlm", required=True, help="the charlm binary")
    ap.add_argument("--model", required=True, nargs="+", help="charlm model files (.safetensors), each checked")
    ap.add_argument("--text", required=True, help="an ASCII text with LF line ends, at least 2 characters")
    ap.add_argument("--steps", type=int, default=37, help="charlm eval --steps (a chunk edge every that many tokens)")
    ap.add_argument("--tol", type=float, default=1e-4,
                    help="pass when max |torch - charlm| <= tol * max(1, max |charlm logit|)")
    ap.add_argument("--torch-nn-only", action="store_true",
                    help="use torch.nn modules only (a gru model then loads into nn.GRU and must fail)")
    ap.add_argument("--skip-exit-code", type=int, default=0, help="exit status when torch is not installed")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    args = ap.parse_args()

    try:
        import torch
    except ImportError as e:
        print(f"skipped: torch not installed ({e}; on Debian: apt-get install python3-torch)")
        sys.exit(args.skip_exit_code)
    torch.set_num_threads(args.threads)
    failed = [m for m in args.model if not check(torch, args, m)]
    if failed:
        print(f"FAIL: the logits differ for {' '.join(failed)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
