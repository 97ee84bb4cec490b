// MPI's world as a communicator (charlm/distributed.hpp). Every operation is non-blocking and
// polled against a deadline, so a rank that died or hangs becomes an error naming the operation
// rather than a job that waits forever (mpirun also ends the job when a process dies).
#include <mpi.h>

#include <fmt/core.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "charlm/distributed.hpp"

namespace charlm {

bool mpi_built() { return true; }

namespace {

class mpi_world_impl final : public communicator {
public:
    explicit mpi_world_impl(double timeout_s) : timeout_s_(timeout_s) {
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &size_);
    }
    ~mpi_world_impl() override { MPI_Finalize(); }

    int rank() const override { return rank_; }
    int size() const override { return size_; }

    status all_reduce(float* data, size_t n, const std::string& what) override {
        return reduce(data, n, MPI_FLOAT, what);
    }
    status all_reduce(double* data, size_t n, const std::string& what) override {
        return reduce(data, n, MPI_DOUBLE, what);
    }

    status ordered_sum(float* data, size_t n, const std::function<void(float*)>& add,
                       const std::string& what) override {
        if (rank_ == 0) {
            std::memset(data, 0, n * sizeof(float));
        } else {
            MPI_Request rq;
            MPI_Irecv(data, count(n), MPI_FLOAT, rank_ - 1, k_tag, MPI_COMM_WORLD, &rq);
            CHARLM_TRY(wait(rq, fmt::format("{} (waiting for rank {})", what, rank_ - 1)));
        }
        add(data);
        if (rank_ + 1 < size_) {
            MPI_Request rq;
            MPI_Isend(data, count(n), MPI_FLOAT, rank_ + 1, k_tag, MPI_COMM_WORLD, &rq);
            CHARLM_TRY(wait(rq, fmt::format("{} (sending to rank {})", what, rank_ + 1)));
        }
        MPI_Request rq;
        MPI_Ibcast(data, count(n), MPI_FLOAT, size_ - 1, MPI_COMM_WORLD, &rq);
        return wait(rq, what);
    }

    status broadcast(void* data, size_t bytes, const std::string& what) override {
        MPI_Request rq;
        MPI_Ibcast(data, count(bytes), MPI_BYTE, 0, MPI_COMM_WORLD, &rq);
        return wait(rq, what);
    }

    status gather(const float* send, size_t n, float* recv, const std::string& what) override {
        MPI_Request rq;
        MPI_Igather(send, count(n), MPI_FLOAT, recv, count(n), MPI_FLOAT, 0, MPI_COMM_WORLD, &rq);
        return wait(rq, what);
    }

    [[noreturn]] void abort(int code) override {
        MPI_Abort(MPI_COMM_WORLD, code);
        std::_Exit(code);  // MPI_Abort does not return; for the compiler
    }

private:
    static constexpr int k_tag = 17;

    static int count(size_t n) {
        CHARLM_ASSERT(n <= static_cast<size_t>(INT32_MAX));  // buffers are arenas of floats, well below 8 GB
        return static_cast<int>(n);
    }

    status reduce(void* data, size_t n, MPI_Datatype type, const std::string& what) {
        MPI_Request rq;
        MPI_Iallreduce(MPI_IN_PLACE, data, count(n), type, MPI_SUM, MPI_COMM_WORLD, &rq);
        return wait(rq, what);
    }

    // Polls `rq` until it completes or the deadline passes: spinning for the first millisecond
    // (a step's reduction usually completes in it), then sleeping between tests.
    status wait(MPI_Request& rq, const std::string& what) {
        using clock = std::chrono::steady_clock;
        const auto start = clock::now();
        const auto deadline = start + std::chrono::duration_cast<clock::duration>(
                                          std::chrono::duration<double>(timeout_s_));
        for (int done = 0;;) {
            MPI_Test(&rq, &done, MPI_STATUS_IGNORE);
            if (done) return {};
            const auto now = clock::now();
            if (now > deadline)
                return make_error(errc::io, fmt::format("rank {} of {}: no answer from the other ranks within {:g} s "
                                                        "in {}; a rank has stopped or hangs (--mpi-timeout sets "
                                                        "the wait)",
                                                        rank_, size_, timeout_s_, what));
            if (now - start > std::chrono::milliseconds(1)) std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
    }

    int rank_ = 0, size_ = 1;
    double timeout_s_;
};

}  // namespace

std::string mpi_library_version() {
    char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
    int n = 0;
    MPI_Get_library_version(text, &n);  // allowed before MPI_Init
    std::string v(text, static_cast<size_t>(std::max(0, n)));
    return v.substr(0, v.find_first_of(",\n"));
}

result<std::unique_ptr<communicator>> mpi_world(double timeout_s) {
    int ready = 0;
    MPI_Initialized(&ready);
    if (!ready) {
        int provided = 0;
        // Only the training thread calls MPI (oneDNN's OpenMP threads never do).
        if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return make_error(errc::io, "MPI_Init failed: is this process started by mpirun?");
    }
    return std::unique_ptr<communicator>(std::make_unique<mpi_world_impl>(timeout_s));
}

}  // namespace charlm
