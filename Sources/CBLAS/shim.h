// OpenBLAS's CBLAS interface and its thread control.
#ifndef MODELPORT_CBLAS_SHIM_H
#define MODELPORT_CBLAS_SHIM_H
#include <cblas.h>
#endif
