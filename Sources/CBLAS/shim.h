// Thin shim over OpenBLAS's CBLAS interface (Debian: libopenblas-dev).
// OpenBLAS's <cblas.h> also declares its extensions: openblas_get_corename,
// openblas_get_num_threads, openblas_set_num_threads.
#ifndef REWARDFLOW_CBLAS_SHIM_H
#define REWARDFLOW_CBLAS_SHIM_H
#include <cblas.h>
#endif
