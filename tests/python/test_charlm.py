"""The Python module against the charlm binary (issue 31): for the same model, seed and options,
generate/stream/evaluate/logits/info give what the CLI prints, training through Python follows the
CLI's trajectory bit for bit, errors map to Python exceptions, Ctrl-C stops training with a
checkpoint, and two threads generate at once (the GIL released). One small model of the first 40
Tang poems, trained here through the binary; the whole file runs in well under a minute."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import charlm

BINARY = os.environ.get("CHARLM_BINARY", "charlm")
CORPORA = Path(os.environ.get("CHARLM_SHARED_CORPORA", Path(__file__).resolve().parents[3] / "shared" / "corpora"))
# Settings of a small, fast run: the model and the trajectory test share them.
TRAIN = {"cell": "lstm", "hidden": 48, "embed": 24, "layers": 1, "batch": 8, "steps": 24, "optimizer": "adam",
         "lr": 0.01, "seed": 5, "threads": 1}


def run(*args, check=True):
    r = subprocess.run([BINARY, *map(str, args)], capture_output=True, timeout=120)
    if check:
        assert r.returncode == 0, r.stderr.decode()
    return r


def cli_options(options):
    args = []
    for k, v in options.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    return args


@pytest.fixture(scope="session")
def scratch(tmp_path_factory):
    base = os.environ.get("CHARLM_SCRATCH")
    if not base:
        return tmp_path_factory.mktemp("charlm")
    path = Path(base)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="session")
def corpus(scratch):
    if not (CORPORA / "tang300.txt").exists():
        pytest.skip(f"no {CORPORA / 'tang300.txt'} (set CHARLM_SHARED_CORPORA)")
    lines, poems = [], 0
    with open(CORPORA / "tang300.txt", encoding="utf-8") as f:
        for line in f:
            poems += line.startswith("《")
            if poems > 40:
                break
            lines.append(line)
    path = scratch / "tang40.txt"
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def model_path(scratch, corpus):
    out = scratch / "tang40.safetensors"
    run("train", "--corpus", corpus, "--out", out, "--epochs", 3, *cli_options(TRAIN))
    return out


@pytest.fixture(scope="session")
def model(model_path):
    return charlm.Model.load(model_path)


# ---- generation

@pytest.mark.parametrize("options", [
    {"length": 120, "seed": 7},
    {"length": 80, "seed": 3, "temperature": 1.2, "top_k": 20, "top_p": 0.9},
    {"length": 60, "seed": 11, "num_samples": 3, "stop": "。"},
    {"length": 40, "greedy": True},
])
def test_generate_prints_what_the_cli_prints(model, model_path, options):
    args = []
    for k, v in options.items():
        args += [f"--{k.replace('_', '-')}"] + ([] if v is True else [str(v)])
    cli = run("generate", "--model", model_path, "--prefix", "春", *args).stdout
    text = model.generate("春", **options)
    if isinstance(text, list):
        assert len(text) == options["num_samples"]
        text = "\n\n".join(text)
    assert (text + "\n").encode() == cli


def test_poem_with_form_acrostic_and_rhyme_prints_what_the_cli_prints(model, model_path):
    options = {"form": "wujue", "acrostic": "春风", "rhyme": "even", "seed": 3}
    cli = run("generate", "--model", model_path, *cli_options(options)).stdout
    poem = model.generate(**options)
    assert (poem + "\n").encode() == cli
    assert poem.startswith("春") and "，风" in poem  # the heads of lines 1 and 2 (two lines a row)
    # The bare switch is --rhyme alone (its implicit value), as on the command line.
    assert model.generate(form="wujue", acrostic="春风", rhyme=True, seed=3) == poem
    two = model.generate(num_samples=2, **options)
    assert "\n\n".join(two).encode() + b"\n" == run("generate", "--model", model_path, "--num-samples", 2,
                                                    *cli_options(options)).stdout


def test_lyrics_print_what_the_cli_prints(model, model_path):
    # Lyric options were parsed and then ignored (free text came back) until the module ran them.
    options = {"rhyme_scheme": "AABB", "line_length": "5-7", "seed": 4}
    cli = run("generate", "--model", model_path, *cli_options(options)).stdout
    song = model.generate(**options)
    assert song.encode() == cli
    assert len(song.splitlines()) == 4
    assert list(model.stream(**options)) == [song]


def test_stream_yields_the_pieces_of_generate(model):
    pieces = list(model.stream("春风", length=50, seed=9))
    assert pieces[0] == "春风" and len(pieces) == 51
    assert "".join(pieces) == model.generate("春风", length=50, seed=9)
    poems = list(model.stream(form="wujue", acrostic="春风", seed=3, num_samples=1))
    assert poems == [model.generate(form="wujue", acrostic="春风", seed=3)]
    # Dropped early: the generation ends, nothing hangs.
    s = model.stream(length=100000, seed=1)
    assert next(s) is not None
    s.close()
    del s


def test_info_vocab_encode_decode(model, model_path):
    assert model.info() == json.loads(run("info", "--model", model_path, "--json").stdout)
    assert model.vocab[0] == "<unk>" and len(model.vocab) == model.info()["vocab"]
    ids = model.encode("春风又绿江南岸")
    assert all(0 < i < len(model.vocab) for i in ids[:2])
    assert model.decode(model.encode("明月")) == "明月"
    assert model.decode([0]) == "\ufffd"
    assert model.encode("") == []


# ---- evaluation and logits

def test_evaluate_equals_cli_eval_json(model, model_path, corpus, scratch):
    text = corpus.read_text(encoding="utf-8")[:4000] + "龘"  # one token the vocabulary lacks
    path = scratch / "eval.txt"
    path.write_text(text, encoding="utf-8")
    cli = json.loads(run("eval", "--model", model_path, "--text", path, "--json").stdout)
    assert model.evaluate(text) == cli
    assert cli["unknown_tokens"] >= 1
    cli = json.loads(run("eval", "--model", model_path, "--text", path, "--json", "--streams", 3,
                         "--steps", 17).stdout)
    assert model.evaluate(text, streams=3, steps=17) == cli
    cli = json.loads(run("eval", "--model", model_path, "--text", path, "--json", "--precision", "int8").stdout)
    assert model.evaluate(text, precision="int8") == cli
    with pytest.raises(ValueError, match="f32, int8 or bf16"):
        model.evaluate(text, precision="fp16")


# bf16 on a CPU without avx512_bf16 (CHARLM_FORCE_SCALAR=1 hides it): a ValueError naming the
# feature, from generate's options and from evaluate.
def test_bf16_without_avx512_bf16_is_a_value_error(model_path):
    code = f'''
import charlm
m = charlm.Model.load({str(model_path)!r})
for call in (lambda: m.evaluate("春眠不觉晓", precision="bf16"), lambda: m.generate("春", precision="bf16")):
    try:
        call()
    except ValueError as e:
        assert "avx512_bf16" in str(e), e
    else:
        raise SystemExit("bf16 was not refused")
'''
    env = dict(os.environ, CHARLM_FORCE_SCALAR="1")
    r = subprocess.run(["python3", "-c", code], capture_output=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr.decode()


def test_logits_equal_cli_eval_logits_and_carry_state(model, model_path, scratch):
    text = "春眠不觉晓，处处闻啼鸟。\n夜来风雨声，花落知多少。\n"
    path, out = scratch / "logits.txt", scratch / "logits.f32"
    path.write_text(text, encoding="utf-8")
    run("eval", "--model", model_path, "--text", path, "--logits", out, "--force")
    ids = model.encode(text)
    V = len(model.vocab)
    cli = np.fromfile(out, dtype="<f4").reshape(len(ids) - 1, V)
    logits, state = model.logits(ids)
    assert logits.dtype == np.float32 and logits.shape == (len(ids), V)
    assert state["h"].shape == (1, 1, 48) and state["c"].shape == (1, 1, 48)
    np.testing.assert_allclose(logits[:-1], cli, rtol=0, atol=2e-5)
    # Fed in two pieces with the state carried: the same logits.
    first, st = model.logits(ids[:10])
    rest, end = model.logits(ids[10:], state=st)
    np.testing.assert_allclose(np.vstack([first, rest]), logits, rtol=0, atol=1e-6)
    np.testing.assert_allclose(end["h"], state["h"], rtol=0, atol=1e-6)
    empty, same = model.logits([], state=st)
    assert empty.shape == (0, V) and np.array_equal(same["h"], st["h"])


# ---- training

def tensor_bytes(path):
    data = Path(path).read_bytes()
    n = int.from_bytes(data[:8], "little")
    return data[8 + n:]


def test_training_follows_the_cli_bit_for_bit(scratch, corpus):
    options = dict(TRAIN, epochs=2, report_every=5, valid_fraction=0.1)
    cli_out, py_out = scratch / "cli.safetensors", scratch / "py.safetensors"
    metrics = scratch / "cli.metrics"
    run("train", "--corpus", corpus, "--out", cli_out, "--metrics", metrics, "--force", *cli_options(options))
    reports = []
    outcome = charlm.train(dict(options, corpus=str(corpus), out=str(py_out), force=True), on_report=reports.append)
    timing = ("chars_per_sec", "elapsed_s")
    cli_reports = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert len(reports) == len(cli_reports) > 2
    for mine, theirs in zip(reports, cli_reports):
        assert {k: v for k, v in mine.items() if k not in timing} == {k: v for k, v in theirs.items() if k not in timing}
    assert tensor_bytes(py_out) == tensor_bytes(cli_out)
    assert outcome["epochs"] == 2 and outcome["stop"] == "epochs" and not outcome["interrupted"]
    assert outcome["checkpoint"] == str(py_out) + ".ckpt"


def test_training_from_an_ini_file_with_overrides(scratch, corpus):
    ini = scratch / "run.ini"
    out = scratch / "ini.safetensors"
    ini.write_text("".join(f"{k.replace('_', '-')} = {v}\n" for k, v in dict(TRAIN, epochs=5).items()) +
                   f"corpus = {corpus}\nout = {out}\n", encoding="utf-8")
    reports = []
    outcome = charlm.train(str(ini), on_report=reports.append, epochs=1, force=True)  # the keyword wins
    assert outcome["epochs"] == 1 and reports[-1]["stop"] == "epochs"
    assert charlm.Model.load(out).info()["training"]["epochs"] == 1


def test_training_facts_samples_and_warnings(scratch, corpus):
    facts, samples = [], []
    with pytest.warns(UserWarning, match="charlm: --patience has no effect: there is no validation text"):
        charlm.train(dict(TRAIN, corpus=str(corpus), epochs=1, valid_fraction=0, patience=2, prefix=["春", "月"],
                          sample_length=10),
                     on_info=facts.append, on_sample=lambda p, t: samples.append((p, t)))
    assert any(f.startswith(f"corpus {corpus}:") for f in facts), facts
    assert [p for p, _ in samples] == ["春", "月"] and all(t.startswith(p) for p, t in samples)


def test_ctrl_c_stops_training_with_a_checkpoint(scratch, corpus):
    out = scratch / "interrupted.safetensors"
    sent = []

    def on_report(r):
        if not sent:
            sent.append(r["step"])
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt) as e:
        charlm.train(dict(TRAIN, corpus=str(corpus), out=str(out), epochs=100, report_every=3, force=True),
                     on_report=on_report)
    assert f"continue with charlm.train({{'resume': '{out}.ckpt'}})" in e.value.__notes__[0]
    info = json.loads(run("info", "--model", str(out) + ".ckpt", "--json").stdout)
    assert info["checkpoint"] is not None and info["checkpoint"]["step"] >= sent[0]
    assert info["checkpoint"]["epoch"] < 20  # stopped within the 50 ms the caller polls in, not after 100 epochs
    assert charlm.Model.load(str(out) + ".ckpt").info() == info  # a checkpoint's info says where it continues
    # Resumed through Python, it ends where an uninterrupted run of the binary ends, bit for bit.
    epochs = info["checkpoint"]["epoch"] + 1
    outcome = charlm.train({"resume": str(out) + ".ckpt", "epochs": epochs, "threads": 1})
    assert outcome["epochs"] == epochs and outcome["steps_run"] > 0
    whole = scratch / "uninterrupted.safetensors"
    run("train", "--corpus", corpus, "--out", whole, "--force", *cli_options(dict(TRAIN, epochs=epochs)))
    assert tensor_bytes(out) == tensor_bytes(whole)


def test_ctrl_c_stops_generation(model):
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        model.generate("春", length=5_000_000, seed=1)  # minutes, were it not stopped
    timer.join()
    assert time.perf_counter() - t0 < 10
    s = model.stream("春", length=5_000_000, seed=1)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        for _ in s:
            pass
    timer.join()
    s.close()


def test_an_exception_in_a_callback_stops_training(scratch, corpus):
    def on_report(r):
        raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        charlm.train(dict(TRAIN, corpus=str(corpus), epochs=50, report_every=2), on_report=on_report)


# ---- errors

def test_errors_map_to_python_exceptions(model, scratch, corpus):
    cases = [
        (ValueError, "--top-k", lambda: model.generate(top_k=-1)),
        (ValueError, "--temperature", lambda: model.generate(temperature="hot")),
        (ValueError, "unrecognised option '--colour", lambda: model.generate(colour=1)),
        (ValueError, "--form 'sonnet'", lambda: model.generate(form="sonnet")),
        (ValueError, "--rhyme", lambda: model.generate(rhyme="last", form="wujue")),
        (ValueError, "U+9F98", lambda: model.generate("龘")),
        (ValueError, "num_samples must be 1", lambda: model.stream(num_samples=2)),
        (ValueError, "not an option here", lambda: model.generate(model="x")),
        (TypeError, "takes a str or a number", lambda: model.generate(seed={"a": 1})),
        (ValueError, "--stop must not be empty", lambda: model.generate(stop=["。", ""])),  # as the CLI says
        (ValueError, "'' is not an option", lambda: model.generate(**{"": 1})),
        (ValueError, "'x y' is not an option", lambda: model.generate(**{"x y": 1})),
        (TypeError, "config is a dict", lambda: charlm.train(42)),
        (ValueError, "--corpus' cannot be specified more than once", lambda: charlm.train({"corpus": ["a", "b"]})),
        (OSError, "is a directory", lambda: charlm.Model.load(scratch)),
        (ValueError, "not a token id", lambda: model.decode([len(model.vocab)])),
        (ValueError, "not a token id", lambda: model.logits([-1])),
        (ValueError, "state['h'] has 3 values", lambda: model.logits([1], state={"h": np.zeros(3)})),
        (ValueError, "fewer than 2 tokens", lambda: model.evaluate("春")),
        (ValueError, "--streams", lambda: model.evaluate("春风", streams=0)),
        (OSError, "/nonexistent/m.safetensors", lambda: charlm.Model.load("/nonexistent/m.safetensors")),
        (ValueError, "", lambda: charlm.Model.load(corpus)),
        (OSError, "/nonexistent.txt", lambda: charlm.train({"corpus": "/nonexistent.txt", "epochs": 1})),
        (OSError, "cannot read config file", lambda: charlm.train(str(scratch / "none.ini"))),
        (ValueError, "--corpus", lambda: charlm.train({"epochs": 1})),
        (ValueError, "--hidden", lambda: charlm.train({"corpus": str(corpus), "hidden": 0})),
        (ValueError, "--threads", lambda: charlm.train({"corpus": str(corpus), "threads": -1})),
        (ArithmeticError, "training diverged at step",
         lambda: charlm.train(dict(TRAIN, corpus=str(corpus), epochs=3, lr=1000, clip=0))),
    ]
    for kind, words, call in cases:
        with pytest.raises(kind) as e:
            call()
        assert words in str(e.value), (words, str(e.value))
    # The model still works after all of them.
    assert model.generate("春", length=5, seed=1) == model.generate("春", length=5, seed=1)


# ---- the GIL

@pytest.mark.parametrize("work", ["generate", "evaluate", "logits", "train"])
def test_work_releases_the_gil(model, corpus, work):
    # A Python thread counts while this one works. With the GIL held for the call it would get one
    # switch interval (5 ms) of it at most; released, a good share of the call's time.
    text = corpus.read_text(encoding="utf-8")
    calls = {
        "generate": lambda: model.generate("春", length=6000, seed=1, threads=1),
        "evaluate": lambda: [model.evaluate(text, threads=1) for _ in range(3)],
        "logits": lambda: model.logits(model.encode(text[:3000]), threads=1),
        "train": lambda: charlm.train(dict(TRAIN, corpus=str(corpus), epochs=3)),
    }
    count, done = [0], threading.Event()

    def counter():
        while not done.is_set():
            count[0] += 1

    t = threading.Thread(target=counter)
    t.start()
    try:
        time.sleep(0.1)
        c0, t0 = count[0], time.perf_counter()
        time.sleep(0.1)
        rate = (count[0] - c0) / (time.perf_counter() - t0)  # counts per second with this thread asleep
        c0, t0 = count[0], time.perf_counter()
        calls[work]()
        while work != "train" and time.perf_counter() - t0 < 0.3:  # long enough to tell on a fast machine
            calls[work]()
        seconds = time.perf_counter() - t0
        during = (count[0] - c0) / seconds
    finally:
        done.set()
        t.join()
    assert seconds > 0.05, f"{work} took {seconds:.3f} s: too short to tell"
    assert during > 0.1 * rate, f"{work}: the counter ran at {during:.0f}/s during the call, {rate:.0f}/s before"


def test_two_threads_generate_at_once(model):
    def work():
        model.generate("春", length=4000, seed=1, threads=1)

    work()  # the generation cache
    best = None
    for _ in range(3):  # a shared machine: the best of three
        t0 = time.perf_counter()
        work()
        work()
        sequential = time.perf_counter() - t0
        threads = [threading.Thread(target=work) for _ in range(2)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        together = time.perf_counter() - t0
        best = min(best or 9e9, together / sequential)
        if best < 0.8:
            break
    # Faster together needs a second core free: on a machine busy with other work, not faster is no failure.
    if best >= 0.8 and os.getloadavg()[0] > (os.cpu_count() or 1) - 1:
        pytest.skip(f"the machine is busy (load {os.getloadavg()[0]:.1f}): together/sequential was {best:.2f}")
    assert best < 0.8, f"two threads took {best:.2f} of the sequential time"


# ---- docs/python.md's examples, run as written but for paths and sizes

def docs_block(marker):
    text = (Path(__file__).resolve().parents[2] / "docs" / "python.md").read_text(encoding="utf-8")
    start = text.index("```python\n", text.index(marker)) + len("```python\n")
    return text[start:text.index("```", start)]


def substituted(code, replacements):
    for old, new in replacements.items():
        assert old in code, old
        code = code.replace(old, new)
    return code


def test_docs_notebook_example(scratch, corpus, capsys):
    out = scratch / "docs-example.safetensors"
    code = substituted(docs_block("<!-- notebook example"), {
        "corpora/out/tang300.txt": str(corpus),
        '"tang.safetensors"': repr(str(out)),
        '"hidden": 256, "embed": 128, "time_budget": "1m", "epochs": 0':
            '"hidden": 48, "embed": 24, "epochs": 1, "force": True, "threads": 1',
    })
    exec(compile(code, "docs/python.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "epoch 1 step" in printed and "明月" in printed


def test_docs_torch_example(model_path):
    pytest.importorskip("torch")
    code = substituted(docs_block("<!-- torch example"), {'"tang.safetensors"': repr(str(model_path))})
    exec(compile(code, "docs/python.md", "exec"), {})
