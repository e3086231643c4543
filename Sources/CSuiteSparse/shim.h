// Thin shim over SuiteSparse: CHOLMOD (sparse Cholesky) and UMFPACK (sparse LU).
// Debian 12: libsuitesparse-dev 5.12 installs headers under <suitesparse/...>.
#ifndef REWARDFLOW_CSUITESPARSE_SHIM_H
#define REWARDFLOW_CSUITESPARSE_SHIM_H
#include <suitesparse/cholmod.h>
#include <suitesparse/umfpack.h>
#endif
