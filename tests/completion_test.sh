#!/usr/bin/env bash
# `charlm completion bash`: loaded into bash, it completes commands, the options each command's --help
# lists (so, the option tables), an enum option's choices and file names. usage: completion_test.sh CHARLM
set -euo pipefail
charlm=$1
fail=0
source <("$charlm" completion bash)
want() {  # want EXPECTED WORDS...: the completion of the last word is EXPECTED
  local expected=$1; shift
  COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _charlm
  local got="${COMPREPLY[*]}"
  if [ "$got" != "$expected" ]; then echo "FAIL: '$*' completes to '$got', not '$expected'"; fail=1; else echo "ok   '$*' -> '$got'"; fi
}
want "train" "$charlm" tr
want "--hidden" "$charlm" train --hid
want "rnn rnn-relu gru lbr-gru lstm" "$charlm" train --cell ""
want "model simplified traditional" "$charlm" generate --script ""
want "strict" "$charlm" generate --tones s
want "t2s" "$charlm" train --convert-corpus t
want "bash zsh" "$charlm" completion ""
"$charlm" completion zsh | grep -q bashcompinit || { echo "FAIL: the zsh script does not load bashcompinit"; fail=1; }
if "$charlm" completion fish 2>/dev/null; then echo "FAIL: completion fish succeeded"; fail=1; fi
[ "$fail" -eq 0 ] && echo "completion: OK"
exit $fail
