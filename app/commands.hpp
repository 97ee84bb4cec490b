// The subcommands of charlm, each a thin main over one library call.
#pragma once

#include <string>

#include "charlm/lyrics.hpp"

namespace charlm::cli {

int cmd_corpus(int argc, char** argv);
int cmd_train(int argc, char** argv);
int cmd_generate(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_verse(int argc, char** argv);
int cmd_serve(int argc, char** argv);
int cmd_completion(int argc, char** argv);

std::string visible_token(const std::string& token);

// cmd_lyrics.cpp: `generate --rhyme-scheme ...` (songs a blank line apart on stdout, backups and
// NLL on stderr) and `verse --rhyme-scheme / --detect` (exit 1 when a stanza has a fault).
int print_lyrics(const language_model& model, const std::string& prefix, const sample_config& cfg,
                 const lyric_config& lc);
int verse_lyrics(const std::string& path, const lyric_config& lc, bool detect, bool faults_only);

}  // namespace charlm::cli
