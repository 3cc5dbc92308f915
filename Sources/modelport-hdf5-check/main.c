// modelport-hdf5-check FILE MEMORY_BYTES TIMEOUT_MS
// Reads every object of an HDF5 file with libhdf5 under the given limits; ModelPort starts it
// before it opens a file from elsewhere, so that a file that crashes libhdf5, or makes it
// allocate without end, takes this process down and not the caller. Built with
// AddressSanitizer: libhdf5 itself is not instrumented, but its heap blocks get red zones and
// the libc calls it makes (strdup, memcpy, …) are checked, so reading past a buffer ends here.
// Exit code 0: read, 3: libhdf5 ran out of memory, 2: wrong arguments, 4: AddressSanitizer
// found an error; a signal: libhdf5 crashed.
#include <stdio.h>
#include <stdlib.h>
#include "mp_hdf5_walk.h"

/// AddressSanitizer's settings: no leak report (the process ends without closing the file), a
/// failed allocation is NULL (libhdf5 reports it), a small quarantine (it counts against the
/// address-space limit), no symbolizer (the report goes nowhere).
const char *__asan_default_options(void) {
    return "detect_leaks=0:allocator_may_return_null=1:quarantine_size_mb=16:exitcode=4:symbolize=0:print_summary=0";
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s FILE MEMORY_BYTES TIMEOUT_MS\n", argv[0]);
        return 2;
    }
    char *end = NULL;
    long long memory = strtoll(argv[2], &end, 10);
    if (end == argv[2] || *end != 0 || memory <= 0) return 2;
    long timeout = strtol(argv[3], &end, 10);
    if (end == argv[3] || *end != 0 || timeout <= 0 || timeout > 86400000L) return 2;
    return mp_hdf5_read_everything(argv[1], memory, (int)timeout);
}
