# Run at every build (target charlm_commit): writes the source's git commit into commit.hpp, and
# touches the file only when the commit changes, so that a build after a new commit names it (a
# value read once at configure time went stale) without recompiling anything else.
# -DSRC=<source dir> -DOUT=<header>. A tree with uncommitted changes to tracked files is "+dirty";
# outside git, the environment's CHARLM_COMMIT if set, else "unknown".
execute_process(COMMAND git -C ${SRC} rev-parse --short=12 HEAD OUTPUT_VARIABLE commit
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT commit)
  set(commit "unknown")
  if(DEFINED ENV{CHARLM_COMMIT} AND NOT "$ENV{CHARLM_COMMIT}" STREQUAL "")
    set(commit "$ENV{CHARLM_COMMIT}")  # a tree without git (the Dockerfile's build argument)
  endif()
else()
  execute_process(COMMAND git -C ${SRC} diff --quiet HEAD -- RESULT_VARIABLE dirty ERROR_QUIET)
  if(dirty EQUAL 1)
    string(APPEND commit "+dirty")
  endif()
endif()
set(text "// Generated at build time by lib/commit.cmake.\n#pragma once\n#define CHARLM_COMMIT \"${commit}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
