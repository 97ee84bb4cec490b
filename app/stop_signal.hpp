// Ctrl-C and SIGTERM. They are blocked in every thread but one watcher, started by
// start_signal_watcher() at the top of main(), before any other thread exists (OpenMP's and
// oneDNN's workers inherit the mask). A handler must never run on a compute thread: oneDNN 2.6's
// JIT sgemm kernels point rsp into a heap buffer, so a signal frame pushed there corrupts the heap
// (oneDNN issue #4845; reproduced here with `charlm train` and 2 threads, 1 stop in 10).
//
// Unarmed (most commands), a signal ends the process as it always would. Armed (train, serve), the
// first one is recorded and the command's stop callback runs; a second one ends the process at once
// (files are written atomically, so that loses nothing already saved).
#pragma once

#include <functional>

namespace charlm::cli {

void start_signal_watcher();                      // once, first thing in main()
void arm_stop(std::function<void()> on_stop = {});  // the first signal then asks for a clean stop
void disarm_stop();                               // before what on_stop refers to goes away
bool stop_requested();
int stop_signal();  // the signal received, or 0

}  // namespace charlm::cli
