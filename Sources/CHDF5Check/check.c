// Reading an HDF5 file from elsewhere in a separate, limited process before ModelPort reads it.
//
// libhdf5 1.10 trusts much of what a file says: fuzzing found damaged object headers that make it
// allocate 1.8 GB for a 35 KB file, read past its buffers, or loop. ModelPort cannot fix libhdf5,
// so it lets a child process meet the file first: the child opens it, visits every object, reads
// every attribute and every dataset (what any later reading can touch), under an address-space
// and time limit. libhdf5 is deterministic: when the child finishes, reading the file in
// ModelPort's own process does a subset of the same work. When the child crashes, runs out of
// memory or time, the file is refused and only the child is lost.
#define _GNU_SOURCE
#include "mp_hdf5_check.h"
#include "mp_hdf5_walk.h"

#include <hdf5.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

// Present only when the process is built with AddressSanitizer (the fuzz build): its shadow
// memory cannot live under an address-space limit, and its death callback (libFuzzer's) must
// not run in a child.
// Present only when the process is built with AddressSanitizer (the fuzz build): its death
// callback (libFuzzer's, which records a crash) must not run in a forked child.
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static long long elapsed_ms(const struct timespec *since) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

static int start_helper(pid_t *pid, const char *helper, const char *path, long long memory_bytes, int timeout_ms) {
    char memory[32], timeout[32];
    snprintf(memory, sizeof memory, "%lld", memory_bytes);
    snprintf(timeout, sizeof timeout, "%d", timeout_ms);
    char *argv[] = {(char *)helper, (char *)path, memory, timeout, NULL};
    posix_spawn_file_actions_t actions;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    // This process's environment, without Swift's crash backtracer (SwiftPM links the Swift
    // runtime into the helper too): a crash there is an answer, not something to report.
    size_t count = 0;
    while (environ[count]) count++;
    char **environment = calloc(count + 2, sizeof(char *));
    if (!environment) {
        posix_spawn_file_actions_destroy(&actions);
        return ENOMEM;
    }
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        if (strncmp(environ[i], "SWIFT_BACKTRACE=", 16) != 0) environment[kept++] = environ[i];
    }
    environment[kept] = "SWIFT_BACKTRACE=enable=no";
    rc = posix_spawn(pid, helper, &actions, NULL, argv, environment);
    free(environment);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

mp_hdf5_check_result mp_hdf5_check(const char *path, const char *helper, long long memory_bytes,
                                   int timeout_ms, int *detail) {
    *detail = 0;
    pid_t pid = -1;
    if (helper) {
        int rc = start_helper(&pid, helper, path, memory_bytes, timeout_ms);
        if (rc != 0) {
            *detail = rc;
            return MP_HDF5_CHECK_NOT_RUN;
        }
    } else {
        pid = fork();
        if (pid < 0) {
            *detail = errno;
            return MP_HDF5_CHECK_NOT_RUN;
        }
        if (pid == 0) {
            if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(NULL);
            int null = open("/dev/null", O_RDWR);
            if (null >= 0) {
                dup2(null, 0);
                dup2(null, 1);
                dup2(null, 2);
            }
            _exit(mp_hdf5_read_everything(path, memory_bytes, timeout_ms));
        }
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int status = 0;
    long nap_us = 100;
    for (;;) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) break;
        if (done < 0 && errno != EINTR) {
            *detail = errno;
            return MP_HDF5_CHECK_NOT_RUN;
        }
        if (elapsed_ms(&start) > timeout_ms) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
            return MP_HDF5_CHECK_TIMEOUT;
        }
        struct timespec nap = {0, nap_us * 1000};
        nanosleep(&nap, NULL);
        if (nap_us < 5000) nap_us *= 2;
    }
    if (WIFSIGNALED(status)) {
        *detail = WTERMSIG(status);
        return WTERMSIG(status) == SIGXCPU ? MP_HDF5_CHECK_TIMEOUT : MP_HDF5_CHECK_CRASHED;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == EXIT_READ) return MP_HDF5_CHECK_PASSED;
    if (code == EXIT_OUT_OF_MEMORY) return MP_HDF5_CHECK_MEMORY;
    // Any other exit (an abort handler that exits, a sanitizer's report): libhdf5 did not finish.
    *detail = -code;
    return MP_HDF5_CHECK_CRASHED;
}
