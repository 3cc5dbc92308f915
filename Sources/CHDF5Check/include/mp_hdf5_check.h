// Reading an HDF5 file from elsewhere in a separate process first (see check.c).
#ifndef MODELPORT_HDF5_CHECK_H
#define MODELPORT_HDF5_CHECK_H

#include <stddef.h>

/// How the separate reading of a file ended.
typedef enum {
    /// libhdf5 read every object, attribute and dataset without harm (its own errors included).
    MP_HDF5_CHECK_PASSED = 0,
    /// libhdf5 crashed on the file: `detail` is the signal.
    MP_HDF5_CHECK_CRASHED = 1,
    /// libhdf5 asked for more memory than the limit allows.
    MP_HDF5_CHECK_MEMORY = 2,
    /// libhdf5 did not finish within the time limit.
    MP_HDF5_CHECK_TIMEOUT = 3,
    /// The check could not run (no process could be started): `detail` is errno.
    MP_HDF5_CHECK_NOT_RUN = 4,
} mp_hdf5_check_result;

/// Reads the whole file at `path` with libhdf5 in a child process limited to `memory_bytes` of
/// address space (beyond what it starts with) and `timeout_ms`. `helper` is the path of the
/// `modelport-hdf5-check` executable (a fresh process: nothing inherited from this one); NULL
/// forks this process instead.
mp_hdf5_check_result mp_hdf5_check(const char *path, const char *helper, long long memory_bytes,
                                   int timeout_ms, int *detail);

#endif
