// `charlm completion bash|zsh`: a completion script for the shell. It asks `charlm CMD --help` for
// the options when a word is completed, so it is generated from the option tables (--help prints
// them) and never drifts from them: option names after '-', an enum option's choices after it,
// file names elsewhere.
#include <fmt/core.h>

#include <string_view>

#include "cli.hpp"
#include "commands.hpp"

namespace charlm::cli {

namespace {

// Bash; zsh runs the same through bashcompinit. Choices come from the help line's ": a | b | c".
constexpr std::string_view bash_script = R"sh(# charlm completion (bash): eval "$(charlm completion bash)"
_charlm() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd=${COMP_WORDS[1]} help
  COMPREPLY=()
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "corpus train generate eval info verse serve completion --help --version" -- "$cur"))
    return
  fi
  if [ "$cmd" = completion ]; then COMPREPLY=($(compgen -W "bash zsh" -- "$cur")); return; fi
  help=$("${COMP_WORDS[0]}" "$cmd" --help 2>/dev/null) || return
  if [[ "$prev" == --* ]]; then
    local choices
    # The option's help, its wrapped lines joined; its choices follow the last ": " as "a | b | c".
    choices=$(printf '%s\n' "$help" | awk -v opt="$prev" '
      /^ *-/ { if (on) exit; on = ($1 == opt) }
      /^$|^[^ ]/ { if (on) exit }
      on { text = text " " $0 }
      END { gsub(/[ \t]+/, " ", text); if (match(text, /: [^ :|]+( \| [^ :|]+)+ *$/)) { t = substr(text, RSTART + 2); gsub(/ \| /, " ", t); print t } }')
    if [ -n "$choices" ]; then COMPREPLY=($(compgen -W "$choices" -- "$cur")); return; fi
  fi
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(printf '%s\n' "$help" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _charlm charlm
)sh";

constexpr std::string_view zsh_prelude =
    "# charlm completion (zsh): eval \"$(charlm completion zsh)\"\nautoload -U +X bashcompinit && bashcompinit\n";

}  // namespace

int cmd_completion(int argc, char** argv) {
    const std::string_view shell = argc >= 2 ? argv[1] : "";
    if (shell == "bash") {
        fmt::print("{}", bash_script);
        return exit_ok;
    }
    if (shell == "zsh") {
        fmt::print("{}{}", zsh_prelude, bash_script);
        return exit_ok;
    }
    return report_error(make_error(errc::usage, fmt::format("completion: give bash or zsh{}: e.g. eval \"$(charlm "
                                                            "completion bash)\" in ~/.bashrc",
                                                            shell.empty() ? "" : fmt::format(", not '{}'", shell))));
}

}  // namespace charlm::cli
