// OpenBLAS's CBLAS interface and its thread control.
#ifndef MODELPORT_CBLAS_SHIM_H
#define MODELPORT_CBLAS_SHIM_H
#include <cblas.h>
// OpenBLAS's own name for the kernel set it chose at load time ("Haswell", "SkylakeX", "Prescott").
char *openblas_get_corename(void);
#endif
