#include <cblas.h>
// OpenBLAS extensions (declared in its cblas.h; repeated here for clarity).
// Stops OpenBLAS's worker threads (exported by OpenBLAS, used by it around fork).
// tlc runs OpenBLAS single-threaded and parallelises over the batch itself, so
// the pool it starts at load time only burns CPU spinning; see Engine/Parallel.
int blas_thread_shutdown_(void);
