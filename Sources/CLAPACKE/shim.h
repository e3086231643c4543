// Thin shim over LAPACKE, the C interface to LAPACK (Debian: liblapacke-dev).
#ifndef REWARDFLOW_CLAPACKE_SHIM_H
#define REWARDFLOW_CLAPACKE_SHIM_H
#include <lapacke.h>
#endif
