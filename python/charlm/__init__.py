"""charlm: character-level language models on oneDNN, from Python.

The same library as the ``charlm`` command, with the same options and defaults::

    import charlm
    m = charlm.Model.load("models/shakespeare.safetensors")
    print(m.generate("ROMEO:", length=200, seed=7, temperature=0.8))
    for piece in m.stream("JULIET:", length=100):
        print(piece, end="", flush=True)
    report = m.evaluate(open("valid.txt").read())      # charlm eval --json
    logits, state = m.logits(m.encode("To be"))          # numpy arrays
    charlm.train({"corpus": "input.txt", "epochs": 1, "out": "m.safetensors"},
                 on_report=print)

Options are the command's long options with '-' written '_' (``top_k=40``); errors raise
ValueError (bad options or input), OSError (files) or KeyboardInterrupt (Ctrl-C).
"""

from ._charlm import Model, Stream, __version__, train

__all__ = ["Model", "Stream", "train", "__version__"]
