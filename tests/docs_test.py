#!/usr/bin/env python3
"""Checks README.md and docs/*.md against the repository and the charlm binary (ctest: docs_test).

- every relative link and image points to an existing file, and every #anchor to a heading of the
  target (GitHub's slugs);
- every charlm command quoted in a shell code block, or in an inline code span starting with
  `charlm `, names a subcommand and only options that subcommand's --help lists; a lone option in
  an inline span (`--hidden`) must be some subcommand's; `setup.sh MODE` uses a mode the script has;
- README.md has at most 170 lines.
Not checked: option values, prose, links to other sites. Python 3 standard library only.

usage: docs_test.py [--self-test] SOURCE_DIR CHARLM
  --self-test  first runs the checks on a broken copy made in a temporary directory and fails unless
               each planted fault is reported, then checks SOURCE_DIR.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

README_MAX_LINES = 170
MIN_COMMANDS = 20  # commands in code blocks: no more means the parser missed them
MIN_LINKS = 20
SHELL_LANGS = {"", "sh", "bash", "shell", "console", "text"}
# Options of other tools that the pages quote alone in inline code (mpirun's, pip's, podman's).
OTHER_TOOLS_OPTIONS = {"--allow-run-as-root", "--oversubscribe", "--hostfile", "--break-system-packages",
                       "--ulimit", "--runtime", "--storage-driver", "--network"}


def script_options(root):
    """The options the project's own scripts take: the `--name)` patterns of their case blocks."""
    found = set()
    for script in sorted((root / "scripts").glob("*.sh")):
        for pattern in re.findall(r"^\s*((?:--[a-z][a-z0-9-]*\|?)+)\)", script.read_text(encoding="utf-8"), re.M):
            found.update(p for p in pattern.split("|") if p)
    return found
OPTION_RE = re.compile(r"^--[a-z0-9][a-z0-9-]*$")


# ---- the binary's commands and options, from its --help

class Cli:
    def __init__(self, charlm):
        self.charlm = charlm
        top = self.run("--help")
        self.commands = set()
        in_commands = False
        for line in top.splitlines():
            if line.strip() == "commands:":
                in_commands = True
            elif in_commands:
                m = re.match(r"^  ([a-z][a-z0-9-]*)\s", line)
                if m:
                    self.commands.add(m.group(1))
                elif line.strip() == "":
                    in_commands = False
        if len(self.commands) < 5:
            sys.exit(f"docs_test: could not read the commands from '{charlm} --help':\n{top}")
        self.options = {}
        self.completion_args = {}

    def run(self, *args):
        try:
            r = subprocess.run([self.charlm, *args], capture_output=True, text=True, timeout=60)
        except OSError as e:
            sys.exit(f"docs_test: cannot run {self.charlm}: {e}")
        return r.stdout + r.stderr

    def options_of(self, command):
        """The options `charlm COMMAND --help` lists: lines '  --name ...' or '  -h [ --help ]'."""
        if command not in self.options:
            found = set()
            for line in self.run(command, "--help").splitlines():
                m = re.match(r"^  (-[a-zA-Z]) \[ (--[a-z0-9-]+) \]", line)
                if m:
                    found.update(m.groups())
                    continue
                m = re.match(r"^  (--[a-z0-9][a-z0-9-]*)", line)
                if m:
                    found.add(m.group(1))
            self.options[command] = found
        return self.options[command]

    def all_options(self):
        result = set()
        for c in self.commands - {"completion"}:
            result |= self.options_of(c)
        return result

    def completion_accepts(self, arg):
        if arg not in self.completion_args:
            r = subprocess.run([self.charlm, "completion", arg], capture_output=True, timeout=60)
            self.completion_args[arg] = r.returncode == 0
        return self.completion_args[arg]


def setup_modes(root):
    """The modes of scripts/setup.sh: the patterns of its `case "$mode" in` block."""
    text = (root / "scripts" / "setup.sh").read_text(encoding="utf-8")
    block = text[text.index('case "$mode" in'):]
    block = block[:block.index("\nesac")]
    return set(re.findall(r"^  ([a-z][a-z0-9-]*)\)", block, re.M))


# ---- markdown

def github_slug(heading):
    """GitHub's anchor for a heading: its text without markup, lowercased, punctuation dropped
    (letters of any script, digits, '_', '-' and spaces kept), spaces made '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags
    text = text.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in "_- " or unicodedata.category(c).startswith("M"))
    return text.replace(" ", "-")


def parse_markdown(text):
    """(headings' anchors, [(line, kind, content)]) where kind is 'code' for a fenced block's line
    (content (lang, line text)) or 'prose' for a line outside blocks."""
    anchors, counts, lines = set(), {}, []
    fence, lang = None, ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        m = re.match(r"^(`{3,}|~{3,})\s*([\w+-]*)", stripped)
        if fence is None and m:
            fence, lang = m.group(1), m.group(2).lower()
            continue
        if fence is not None:
            if stripped.startswith(fence) and stripped.strip(fence[0]) == "":
                fence = None
            else:
                lines.append((number, "code", (lang, line)))
            continue
        h = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if h:
            slug = github_slug(h.group(2))
            n = counts.get(slug, 0)
            counts[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
        lines.append((number, "prose", line))
    return anchors, lines


def inline_spans(line):
    """The inline code spans of a prose line (single or double backticks)."""
    return [m.group(2) for m in re.finditer(r"(`+)(.+?)\1", line)]


# ---- the checks

class Checker:
    def __init__(self, root, cli):
        self.root = root
        self.cli = cli
        self.modes = setup_modes(root)
        self.findings = []
        self.commands = 0  # charlm and setup.sh commands checked, in code blocks and inline spans
        self.block_commands = 0  # of which in code blocks
        self.links = 0
        self.anchor_cache = {}

    def fail(self, path, line, what):
        self.findings.append(f"{path.relative_to(self.root)}:{line}: {what}")

    def anchors_of(self, path):
        if path not in self.anchor_cache:
            self.anchor_cache[path] = parse_markdown(path.read_text(encoding="utf-8"))[0]
        return self.anchor_cache[path]

    def check_file(self, path):
        text = path.read_text(encoding="utf-8")
        anchors, lines = parse_markdown(text)
        self.anchor_cache[path] = anchors
        if path == self.root / "README.md":
            n = len(text.splitlines())
            if n > README_MAX_LINES:
                self.fail(path, n, f"README.md has {n} lines; the quick start must keep to {README_MAX_LINES}"
                                   " (move the detail to docs/)")
        # Shell code: lines joined over a trailing backslash, checked as one command line.
        pending, pending_line = "", 0
        for number, kind, content in lines:
            if kind == "prose":
                if pending:
                    self.check_block_line(path, pending_line, pending)
                    pending = ""
                self.check_links(path, number, content, anchors)
                for span in inline_spans(content):
                    self.check_span(path, number, span)
                continue
            lang, code = content
            if lang not in SHELL_LANGS:
                continue
            if not pending:
                pending_line = number
            if code.rstrip().endswith("\\"):
                pending += code.rstrip()[:-1] + " "
                continue
            pending += code
            self.check_block_line(path, pending_line, pending)
            pending = ""
        if pending:
            self.check_block_line(path, pending_line, pending)

    def check_block_line(self, path, number, text):
        before = self.commands
        self.check_shell(path, number, text)
        self.block_commands += self.commands - before

    def check_links(self, path, number, line, own_anchors):
        for m in re.finditer(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", line):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
                continue
            self.links += 1
            file_part, _, anchor = target.partition("#")
            if file_part:
                dest = (path.parent / file_part).resolve()
                if not dest.exists():
                    self.fail(path, number, f"link '{target}': {file_part} does not exist")
                    continue
            else:
                dest = path
            if anchor and dest.suffix == ".md":
                anchors = own_anchors if dest == path else self.anchors_of(dest)
                if anchor not in anchors:
                    where = "this page" if dest == path else os.path.relpath(dest, self.root)
                    self.fail(path, number, f"link '{target}': no heading in {where} has the anchor #{anchor}")

    def check_span(self, path, number, span):
        span = span.strip()
        if (re.search(r"(^|\$\(|[;&|]\s*)(\./)?(build/)?charlm\s", span)
                or re.match(r"^(bash\s+)?(scripts/)?setup\.sh\s", span)):
            self.check_shell(path, number, span)
            return
        word = span.split()[0] if span.split() else ""
        name = word.split("=")[0]
        if OPTION_RE.match(name) and name not in OTHER_TOOLS_OPTIONS and name not in script_options(self.root):
            if name not in self.cli.all_options():
                self.fail(path, number, f"'{span}': no charlm command has the option {name}")

    def check_shell(self, path, number, text):
        # $(...) are commands of their own.
        for sub in re.findall(r"\$\(([^()]*)\)", text):
            self.check_shell(path, number, sub)
        text = re.sub(r"\$\([^()]*\)", "SUBST", text)
        if not re.search(r"(^|[\s/;&|(])charlm(\s|$)|setup\.sh", text):
            return
        text = re.sub(r"^\s*\$\s+", "", text)  # a console prompt
        try:
            lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            tokens = list(lexer)
        except ValueError as e:
            self.fail(path, number, f"cannot read the command line ({e}): {text.strip()}")
            return
        segment = []
        for tok in tokens + [";"]:
            if tok and set(tok) <= set(";&|()"):
                if segment:
                    self.check_command(path, number, segment)
                segment = []
            else:
                segment.append(tok)

    def check_command(self, path, number, words):
        words = [w.strip("[]") for w in words]
        words = [w for w in words if w not in ("", "...", "…")]
        while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in ("sudo", "time", "exec", "nice")):
            words = words[1:]
        if not words:
            return
        first = os.path.basename(words[0])
        if first == "setup.sh" or (first == "bash" and len(words) > 1 and words[1].endswith("setup.sh")):
            rest = words[1:] if first == "setup.sh" else words[2:]
            self.commands += 1
            mode = rest[0] if rest else "run"
            if mode not in self.modes:
                self.fail(path, number, f"'setup.sh {mode}': scripts/setup.sh has no mode '{mode}'"
                                        f" (it has: {' '.join(sorted(self.modes))})")
            return
        if first in ("mpirun", "mpiexec"):
            starts = [i for i, w in enumerate(words) if os.path.basename(w) == "charlm"]
            if not starts:
                return
            words = words[starts[0]:]
        elif first == "docker" and len(words) > 1 and words[1] == "run":
            # `docker run [options] charlm ARGS`: the image's entry point is charlm.
            starts = [i for i, w in enumerate(words) if w == "charlm"]
            if not starts:
                return
            words = words[starts[0]:]
        elif first != "charlm":
            return
        self.commands += 1
        line = " ".join(words)
        args = words[1:]
        if not args:
            return
        command = args[0]
        if command.startswith("-"):
            if command not in ("--help", "-h", "--version"):
                self.fail(path, number, f"'{line}': charlm has no option {command} before a command")
            return
        if command not in self.cli.commands:
            self.fail(path, number, f"'{line}': charlm has no command '{command}'"
                                    f" (it has: {' '.join(sorted(self.cli.commands))})")
            return
        if command == "completion":
            if len(args) < 2 or not self.cli.completion_accepts(args[1]):
                self.fail(path, number, f"'{line}': charlm completion does not accept '{' '.join(args[1:])}'")
            return
        known = self.cli.options_of(command)
        for arg in args[1:]:
            if not arg.startswith("-") or arg == "-":
                continue  # a value, a file, a placeholder
            name = arg.split("=", 1)[0]
            if name not in known:
                self.fail(path, number, f"'{line}': charlm {command} has no option {name}"
                                        f" (charlm {command} --help lists its options)")


def check_tree(root, charlm):
    cli = Cli(charlm)
    checker = Checker(root, cli)
    pages = [root / "README.md"] + sorted((root / "docs").glob("*.md"))
    for page in pages:
        checker.check_file(page)
    return checker, pages


# ---- the self-test: a broken copy must fail with each planted fault named

def self_test(root, charlm):
    with tempfile.TemporaryDirectory(prefix="docs_test.") as tmp:
        t = Path(tmp)
        (t / "scripts").mkdir()
        (t / "docs").mkdir()
        (t / "scripts" / "setup.sh").write_text((root / "scripts" / "setup.sh").read_text(encoding="utf-8"))
        (t / "docs" / "page.md").write_text(
            "# A page\n\n## Simplified and traditional Chinese\n\n### 五绝 and `--form`\n\n"
            "Back to [the top](../README.md#quick-start).\n", encoding="utf-8")
        good = [
            "# charlm", "", "## Quick start", "",
            "[page](docs/page.md), [its section](docs/page.md#simplified-and-traditional-chinese),",
            "[CJK heading](docs/page.md#五绝-and---form), [here](#quick-start), [web](https://example.org/x).",
            "", "```sh",
            "bash scripts/setup.sh run   # a comment with --not-an-option",
            "charlm train --corpus \"$CORPUS\" --out m.safetensors \\",
            "  --hidden 64 --time-budget=10s",
            "mpirun -np 2 ./build/charlm train --corpus FILE --batch 32",
            "eval \"$(charlm completion bash)\"",
            "charlm generate --model m --rhyme=first --tones loose | head",
            "```", "",
            "Inline: `charlm info --model FILE --json`, `--hidden`, `--allow-run-as-root`,",
            "`eval \"$(./build/charlm completion zsh)\"`.",
        ]
        bad = [
            "", "## Broken", "",
            "[gone](docs/missing.md) and [no such heading](docs/page.md#nowhere) and ![img](docs/none.png)",
            "```sh",
            "charlm train --corpus x.txt --hiden 64",
            "./build/charlm generate --model m \\",
            "  --prefix 春 --temprature 0.5",
            "charlm trian --corpus x.txt",
            "bash scripts/setup.sh fast",
            "```",
            "Inline: `charlm eval --model m --text t --jsn` and `--lr-shedule`.",
        ]
        filler = [f"line {i}" for i in range(README_MAX_LINES)]
        # 1. The good half alone: no finding, and the commands and links counted.
        (t / "README.md").write_text("\n".join(good) + "\n", encoding="utf-8")
        checker, _ = check_tree(t, charlm)
        if checker.findings:
            sys.exit("docs_test --self-test: a correct page was reported:\n  " + "\n  ".join(checker.findings))
        if checker.commands != 7 or checker.block_commands != 5 or checker.links != 5:
            sys.exit(f"docs_test --self-test: counted {checker.commands} commands ({checker.block_commands} in code"
                     f" blocks) and {checker.links} links in the correct pages, not 7 (5) and 5")
        # 2. With the broken half and too many lines: each fault named with its line.
        (t / "README.md").write_text("\n".join(good + bad + filler) + "\n", encoding="utf-8")
        checker, _ = check_tree(t, charlm)
        base = len(good)
        expected = [
            (base + 4, "link 'docs/missing.md': docs/missing.md does not exist"),
            (base + 4, "no heading in docs/page.md has the anchor #nowhere"),
            (base + 4, "link 'docs/none.png': docs/none.png does not exist"),
            (base + 6, "charlm train has no option --hiden"),
            (base + 7, "charlm generate has no option --temprature"),
            (base + 9, "charlm has no command 'trian'"),
            (base + 10, "scripts/setup.sh has no mode 'fast'"),
            (base + 12, "charlm eval has no option --jsn"),
            (base + 12, "no charlm command has the option --lr-shedule"),
            (len(good + bad + filler), f"README.md has {len(good + bad + filler)} lines"),
        ]
        missing = [f"README.md:{n}: ...{what}..." for n, what in expected
                   if not any(f.startswith(f"README.md:{n}: ") and what in f for f in checker.findings)]
        if missing or len(checker.findings) != len(expected):
            sys.exit("docs_test --self-test: the broken copy was not reported as planted.\n"
                     "missing:\n  " + "\n  ".join(missing) + "\nreported:\n  " + "\n  ".join(checker.findings))
        print(f"self-test: a broken copy gives the {len(expected)} planted findings, e.g.")
        for f in checker.findings[:3]:
            print(f"  {f}")


def main(argv):
    args = [a for a in argv if a != "--self-test"]
    if len(args) != 2:
        sys.exit(__doc__)
    root, charlm = Path(args[0]).resolve(), args[1]
    if "--self-test" in argv:
        self_test(root, charlm)
    checker, pages = check_tree(root, charlm)
    for f in checker.findings:
        print(f)
    if checker.block_commands <= MIN_COMMANDS or checker.links <= MIN_LINKS:
        print(f"docs_test: only {checker.block_commands} commands in code blocks and {checker.links} relative links"
              f" found in {len(pages)} pages (want more than {MIN_COMMANDS} and {MIN_LINKS}): the parser is missing them")
        return 1
    summary = (f"{len(pages)} pages, {checker.commands} commands ({checker.block_commands} in code blocks), "
               f"{checker.links} relative links, "
               f"README.md {len((root / 'README.md').read_text(encoding='utf-8').splitlines())} lines")
    if checker.findings:
        print(f"docs_test: {len(checker.findings)} finding(s) in {summary}")
        return 1
    print(f"docs_test: OK: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
