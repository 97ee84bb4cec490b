// The subcommands of charlm, each a thin main over one library call.
#pragma once

#include <string>

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

}  // namespace charlm::cli
