// The processes of a data-parallel training run: MPI's ranks under `mpirun`, or this process
// alone. The trainer speaks only to this interface; the MPI implementation (dist/mpi_world.cpp)
// is built when CMake finds MPI. Every operation waits a bounded time: a rank that stops
// answering turns into an error naming the operation, never a hang.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "charlm/status.hpp"

namespace charlm {

class communicator {
public:
    virtual ~communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;

    // Sums `n` values over all ranks, in place on every rank: one collective. `what` names the
    // operation in errors ("the gradient all-reduce of step 12").
    virtual status all_reduce(float* data, size_t n, const std::string& what) = 0;
    virtual status all_reduce(double* data, size_t n, const std::string& what) = 0;
    // A fixed order: rank 0 calls `add` on a zeroed buffer of `n` floats, sends it to rank 1, which
    // calls `add` on it, and so on; the last rank's buffer reaches every rank in `data`. The same
    // bits as one process calling every rank's `add` in turn, whatever the number of ranks.
    virtual status ordered_sum(float* data, size_t n, const std::function<void(float*)>& add,
                               const std::string& what) = 0;
    // Rank 0's `bytes` bytes at `data` to every rank.
    virtual status broadcast(void* data, size_t bytes, const std::string& what) = 0;
    // Every rank's `n` floats, in rank order, into `recv` (size() * n floats) on rank 0.
    virtual status gather(const float* send, size_t n, float* recv, const std::string& what) = 0;
    // Ends every rank of the run with `code` (after this rank has said why): MPI_Abort.
    [[noreturn]] virtual void abort(int code) = 0;
};

// This process alone (rank 0 of 1): every operation is local.
std::unique_ptr<communicator> single_process();

// Whether this binary was built with MPI, and whether it was started by an MPI launcher
// (mpirun's environment: OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE).
bool mpi_built();
bool launched_by_mpi();

// The MPI library this binary uses ("Open MPI v4.1.4, ..."), or "" when it was built without MPI.
std::string mpi_library_version();

// MPI's world (MPI_Init on the first call; MPI_Finalize when the object goes). `timeout_s`: how
// long any operation waits for the other ranks before it fails with an error naming them.
result<std::unique_ptr<communicator>> mpi_world(double timeout_s);

}  // namespace charlm
