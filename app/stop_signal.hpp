// Ctrl-C and SIGTERM during `charlm train`: the first asks for a clean stop after the current step
// (the library polls stop_requested() through train_callbacks::should_stop); a second one ends the
// process at once (files are written atomically, so that loses nothing already saved).
#pragma once

namespace charlm::cli {

void install_stop_handlers();  // SIGINT and SIGTERM
bool stop_requested();
int stop_signal();             // the signal received, or 0

}  // namespace charlm::cli
