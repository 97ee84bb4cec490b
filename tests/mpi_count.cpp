// A PMPI wrapper for mpi_test: counts the collectives and point-to-point messages a rank starts,
// and at MPI_Finalize appends "rank <r> <name> <count>" lines to $CHARLM_MPI_COUNT_FILE. Loaded
// with LD_PRELOAD; each wrapper calls the real routine through MPI's profiling interface (the
// definitions take mpi.h's C linkage from its declarations).
#include <mpi.h>
#include <cstdio>
#include <cstdlib>

namespace {
long n_allreduce, n_bcast, n_gather, n_send, n_recv, n_other;
}  // namespace

int MPI_Iallreduce(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c, MPI_Request* q) {
    ++n_allreduce;
    return PMPI_Iallreduce(s, r, n, t, op, c, q);
}
int MPI_Allreduce(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
    ++n_allreduce;
    return PMPI_Allreduce(s, r, n, t, op, c);
}
int MPI_Ibcast(void* b, int n, MPI_Datatype t, int root, MPI_Comm c, MPI_Request* q) {
    ++n_bcast;
    return PMPI_Ibcast(b, n, t, root, c, q);
}
int MPI_Bcast(void* b, int n, MPI_Datatype t, int root, MPI_Comm c) {
    ++n_bcast;
    return PMPI_Bcast(b, n, t, root, c);
}
int MPI_Igather(const void* s, int sn, MPI_Datatype st, void* r, int rn, MPI_Datatype rt, int root, MPI_Comm c,
                MPI_Request* q) {
    ++n_gather;
    return PMPI_Igather(s, sn, st, r, rn, rt, root, c, q);
}
int MPI_Isend(const void* b, int n, MPI_Datatype t, int to, int tag, MPI_Comm c, MPI_Request* q) {
    ++n_send;
    return PMPI_Isend(b, n, t, to, tag, c, q);
}
int MPI_Irecv(void* b, int n, MPI_Datatype t, int from, int tag, MPI_Comm c, MPI_Request* q) {
    ++n_recv;
    return PMPI_Irecv(b, n, t, from, tag, c, q);
}
int MPI_Reduce(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, int root, MPI_Comm c) {
    ++n_other;
    return PMPI_Reduce(s, r, n, t, op, root, c);
}
int MPI_Barrier(MPI_Comm c) {
    ++n_other;
    return PMPI_Barrier(c);
}

int MPI_Finalize(void) {
    int rank = 0;
    PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const char* path = getenv("CHARLM_MPI_COUNT_FILE");
    if (path) {
        FILE* f = fopen(path, "a");
        if (f) {
            fprintf(f, "rank %d allreduce %ld\nrank %d bcast %ld\nrank %d gather %ld\nrank %d send %ld\n"
                       "rank %d recv %ld\nrank %d other %ld\n",
                    rank, n_allreduce, rank, n_bcast, rank, n_gather, rank, n_send, rank, n_recv, rank, n_other);
            fclose(f);
        }
    }
    return PMPI_Finalize();
}
