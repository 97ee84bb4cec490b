#!/usr/bin/env python3
"""Turns unpacked source packages into plain-text training corpora (UTF-8, NFC, LF, final newline).

Used by prepare.sh, which downloads and unpacks the packages; this script only reads them.
Not here: downloading, checksums of outputs, or any text itself (outputs go to corpora/out/).
Standard library only.

  convert.py NAME SRC_ROOT OUT_FILE   NAME in tang300, song100, songs-poems, tang, songci;
                                      SRC_ROOT = the unpacked .deb (dpkg -x) or npm 'package/' dir
  convert.py --self-test              checks each transformation on small inline samples
"""
import glob
import json
import os
import re
import sys
import tempfile
import unicodedata

# --------------------------------------------------------------------------- fortune files

# A CSI escape sequence: ESC [ parameters intermediates final. The Chinese fortunes colour
# titles and authors with SGR codes (ESC[32m, ESC[33m, ESC[m); any CSI sequence is dropped.
CSI = re.compile(r'\x1b\[[0-?]*[ -/]*[@-~]')


def strip_ansi(text):
    return CSI.sub('', text)


def fortune_entries(text):
    """Entries of a fortune file. As strfile(1) does, only a line that is exactly '%' separates
    entries (song100 has one '%    ' line, which fortune itself shows as text, and so do we).
    Blank lines at the start and end of an entry are dropped, blank lines inside it kept."""
    entries, cur = [], []
    for line in text.split('\n') + ['%']:
        if line != '%':
            cur.append(line)
            continue
        while cur and not cur[0].strip():
            cur.pop(0)
        while cur and not cur[-1].strip():
            cur.pop()
        if cur:
            entries.append('\n'.join(cur))
        cur = []
    return entries


# Overstrikes in the English fortunes are X BS Y (or XXX BS BS BS YYY). A mark struck over a
# letter becomes that combining accent; '_' is underlining and a repeated letter bold, both
# dropped as typography.
ACCENTS = {"'": '\u0301', '`': '\u0300', '^': '\u0302', '"': '\u0308', '~': '\u0303', ',': '\u0327'}


def strike(under, over):
    if under == '_' or under == over:
        return over
    if over == '_':
        return under
    if under in ACCENTS and over not in ACCENTS:
        return over + ACCENTS[under]
    if over in ACCENTS and under not in ACCENTS:
        return under + ACCENTS[over]
    return over  # two unrelated characters: the later one is what a reader sees on top


def resolve_overstrikes(text):
    out = []
    i = 0
    while i < len(text):
        if text[i] != '\b':
            out.append(text[i])
            i += 1
            continue
        k = 0
        while i < len(text) and text[i] == '\b':
            k += 1
            i += 1
        k = min(k, len(out))
        under = out[len(out) - k:]
        del out[len(out) - k:]
        over = []
        while len(over) < k and i < len(text) and text[i] != '\n':
            over.append(text[i])
            i += 1
        for j, u in enumerate(under):
            out.append(strike(u, over[j]) if j < len(over) else u)
    return unicodedata.normalize('NFC', ''.join(out))


def convert_fortune(path, overstrikes):
    with open(path, encoding='utf-8') as f:
        text = f.read().replace('\r\n', '\n')
    text = strip_ansi(text)
    if overstrikes:
        text = resolve_overstrikes(text)
    entries = fortune_entries(text)
    return '\n\n'.join(entries), len(entries)


# --------------------------------------------------------------------------- chinese-poetry JSON

def is_han(c):
    o = ord(c)
    return (0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF
            or 0x20000 <= o <= 0x3FFFF)


def numbered_files(directory, prefix):
    """prefix.<N>.json in numeric order (0, 1000, 2000, ..., 10000); other names are skipped."""
    pat = re.compile(re.escape(prefix) + r'\.(\d+)\.json$')
    found = []
    for path in glob.glob(os.path.join(directory, prefix + '.*.json')):
        m = pat.search(os.path.basename(path))
        if m:
            found.append((int(m.group(1)), path))
    return [p for _, p in sorted(found)]


def poem_block(poem, title_key):
    """Title line then one line per paragraph, or None for an untitled poem or one with no Han text."""
    title = (poem.get(title_key) or '').strip()
    lines = [p.strip() for p in poem.get('paragraphs') or [] if p.strip()]
    if not title or not any(is_han(c) for line in lines for c in line):
        return None
    return '\n'.join([title] + lines)


def convert_poetry(files, title_key):
    blocks, skipped = [], 0
    for path in files:
        with open(path, encoding='utf-8') as f:
            for poem in json.load(f):
                b = poem_block(poem, title_key)
                if b is None:
                    skipped += 1
                else:
                    blocks.append(b)
    return '\n\n'.join(blocks), len(blocks), skipped


# --------------------------------------------------------------------------- corpora and output

CORPORA = {
    # name: (kind, path inside the unpacked package, option)
    'tang300': ('fortune', 'usr/share/games/fortunes/tang300', False),
    'song100': ('fortune', 'usr/share/games/fortunes/song100', False),
    'songs-poems': ('fortune', 'usr/share/games/fortunes/songs-poems', True),
    'tang': ('poetry', ('dist/quantangshi', 'poet.tang'), 'title'),
    'songci': ('poetry', ('dist/songci', 'ci.song'), 'rhythmic'),
}


def finish(text):
    """NFC, LF, one final newline; refuses text a corpus must not contain."""
    text = unicodedata.normalize('NFC', text.replace('\r\n', '\n'))
    if not text.endswith('\n'):
        text += '\n'
    bad = sorted({'U+%04X' % ord(c) for c in text if unicodedata.category(c) == 'Cc' and c not in '\n\t'})
    if bad or text.startswith('\ufeff') or '\r' in text:
        raise ValueError('control characters left in the output: ' + ', '.join(bad or ['BOM/CR']))
    return text


def convert(name, root):
    kind, where, opt = CORPORA[name]
    if kind == 'fortune':
        path = os.path.join(root, where)
        text, n = convert_fortune(path, overstrikes=opt)
        return finish(text), '%d entries from %s' % (n, where)
    files = numbered_files(os.path.join(root, where[0]), where[1])
    if not files:
        raise FileNotFoundError('no %s.<N>.json under %s' % (where[1], os.path.join(root, where[0])))
    text, n, skipped = convert_poetry(files, opt)
    return finish(text), '%d poems from %d files %s/%s.<N>.json (%d skipped: no title or no Han text)' % (
        n, len(files), where[0], where[1], skipped)


def main(argv):
    if argv[1:] == ['--self-test']:
        return self_test()
    if len(argv) != 4 or argv[1] not in CORPORA:
        sys.stderr.write(__doc__)
        return 2
    name, root, out = argv[1:]
    try:
        text, what = convert(name, root)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        sys.stderr.write('convert.py %s: %s\n' % (name, e))
        return 1
    tmp = out + '.tmp'
    with open(tmp, 'w', encoding='utf-8', newline='\n') as f:
        f.write(text)
    os.replace(tmp, out)
    print('%s: %s -> %d code points, %d lines' % (name, what, len(text), text.count('\n')))
    return 0


# --------------------------------------------------------------------------- self-test

def self_test():
    failures = []
    passed = 0

    def check(label, got, want):
        nonlocal passed
        if got == want:
            passed += 1
        else:
            failures.append(label)
            print('FAIL %s\n  got  %r\n  want %r' % (label, got, want))

    E = '\x1b'
    check('ansi: SGR colours removed', strip_ansi(E + '[32m《春晓》' + E + '[m\n' + E + '[33m作者：孟浩然' + E + '[m\n'),
          '《春晓》\n作者：孟浩然\n')
    check('ansi: other CSI forms', strip_ansi('a' + E + '[1;31mb' + E + '[0Kc'), 'abc')

    raw = '\n  \nfirst\nentry\n%\n%\n\nsecond\n\nwith gap\n\n%\n%    \nthird\n%\n'
    check('%: split on exact % lines, trim blank edges', fortune_entries(raw),
          ['first\nentry', 'second\n\nwith gap', '%    \nthird'])
    check('%: no trailing separator', fortune_entries('a\n%\nb'), ['a', 'b'])

    zh = E + '[32m《静夜思》' + E + '[m\n' + E + '[33m作者：李白' + E + '[m\n床前明月光，疑是地上霜。\n%\n' \
        + E + '[32m题目:《登鹳雀楼》' + E + '[m\n作者：王之涣\n白日依山尽。\n%\n'
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, 'zh')
        with open(p, 'w', encoding='utf-8') as f:
            f.write(zh)
        text, n = convert_fortune(p, overstrikes=False)
        check('fortune-zh: whole file', finish(text),
              '《静夜思》\n作者：李白\n床前明月光，疑是地上霜。\n\n题目:《登鹳雀楼》\n作者：王之涣\n白日依山尽。\n')
        check('fortune-zh: entry count', n, 2)

    B = '\b'
    check("overstrike: ' BS i -> precomposed i acute", resolve_overstrikes("Tin'" + B + 'uviel m' + "'" + B + 'iriel'),
          'Tin\u00faviel m\u00edriel')
    check('overstrike: _ BS N -> N (underline)', resolve_overstrikes('being _' + B + 'N bytes'), 'being N bytes')
    check('overstrike: N BS _ -> N', resolve_overstrikes('N' + B + '_'), 'N')
    check('overstrike: bold (same twice)', resolve_overstrikes('b' + B + 'bold'), 'bold')
    check('overstrike: runs of BS', resolve_overstrikes('*___' + B * 3 + 'and* ___' + B * 3 + 'YOU'), '*and* YOU')
    check('overstrike: ^ " ` ~ ,', resolve_overstrikes('^' + B + 'o"' + B + 'u`' + B + 'e~' + B + 'n,' + B + 'c'),
          '\u00f4\u00fc\u00e8\u00f1\u00e7')
    check('overstrike: two marks in a row', resolve_overstrikes('Enm^' + B + "im'" + B + 'es'), 'Enm\u00eem\u00e9s')
    check('overstrike: BS at line start kept apart', resolve_overstrikes(B + 'x\ny'), 'x\ny')
    check('overstrike: result is NFC', unicodedata.is_normalized('NFC', resolve_overstrikes("'" + B + 'a')), True)

    poems = [
        {'title': '靜夜思', 'author': '李白', 'paragraphs': ['床前明月光，疑是地上霜。', ' ', '舉頭望明月，低頭思故鄉。']},
        {'title': '', 'paragraphs': ['無題之詩。']},          # no title: skipped
        {'title': '殘句', 'paragraphs': ['。']},              # no Han character: skipped
        {'title': ' 兩 ', 'paragraphs': ['\u3000兩句。\u3000']},  # ideographic spaces trimmed
        {'title': '𠀋', 'paragraphs': ['𠀋字。']},             # Han outside the BMP counts
    ]
    check('json: blocks', [poem_block(p, 'title') for p in poems],
          ['靜夜思\n床前明月光，疑是地上霜。\n舉頭望明月，低頭思故鄉。', None, None, '兩\n兩句。', '𠀋\n𠀋字。'])
    check('json: ci title is rhythmic', poem_block({'rhythmic': '浣溪沙', 'paragraphs': ['一曲新词酒一杯。']}, 'rhythmic'),
          '浣溪沙\n一曲新词酒一杯。')
    check('json: compatibility ideograph U+F900 -> U+8C48 under NFC', finish('\uf900'), '\u8c48\n')
    with tempfile.TemporaryDirectory() as d:
        for n, title in [(10000, '丙'), (0, '甲'), (2000, '乙')]:
            with open(os.path.join(d, 'poet.tang.%d.json' % n), 'w', encoding='utf-8') as f:
                json.dump([{'title': title, 'paragraphs': [title + '。']}], f, ensure_ascii=False)
        with open(os.path.join(d, 'poet.tang.2019y.json'), 'w', encoding='utf-8') as f:
            json.dump([{'title': '丁', 'paragraphs': ['丁。']}], f, ensure_ascii=False)
        files = numbered_files(d, 'poet.tang')
        check('json: numeric file order, odd names skipped', [os.path.basename(f) for f in files],
              ['poet.tang.0.json', 'poet.tang.2000.json', 'poet.tang.10000.json'])
        text, n, skipped = convert_poetry(files, 'title')
        check('json: whole text', finish(text), '甲\n甲。\n\n乙\n乙。\n\n丙\n丙。\n')

    check('finish: CRLF and final newline', finish('a\r\nb'), 'a\nb\n')
    try:
        finish('a\x07b')
        check('finish: rejects control characters', 'accepted', 'ValueError')
    except ValueError:
        check('finish: rejects control characters', 'ValueError', 'ValueError')

    print('convert.py self-test: %d passed, %d failed' % (passed, len(failures)))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
