// The reading of a whole HDF5 file that ModelPort's check process does (see check.c), as static
// functions: compiled into the modelport-hdf5-check helper (with AddressSanitizer, so that libhdf5
// reading past a heap buffer through libc is caught) and into the library for its fork fallback.
#ifndef MODELPORT_HDF5_WALK_H
#define MODELPORT_HDF5_WALK_H

#include <hdf5.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

extern void __asan_init(void) __attribute__((weak));
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

enum { EXIT_READ = 0, EXIT_OUT_OF_MEMORY = 3 };

/// The largest buffer one read may take: datasets are read in slabs of about this size.
static const long long slab_bytes = 16LL << 20;

typedef struct {
    long long memory_bytes;
    hsize_t file_size;
    int out_of_memory;
} walk_state;

static herr_t find_memory_error(unsigned n, const H5E_error2_t *error, void *data) {
    (void)n;
    // Whatever the major class: H5C_load_entry, for one, reports a failed allocation of an
    // entry's claimed size as H5E_CACHE / H5E_CANTALLOC (fuzzing found a 32 GB one).
    if (error->min_num == H5E_NOSPACE || error->min_num == H5E_CANTALLOC) {
        *(int *)data = 1;
    }
    return 0;
}

/// After a failed call: libhdf5's own errors are fine (ModelPort will meet them too and report
/// them), but one that ran out of memory here ends the walk.
static void note_failure(walk_state *state) {
    int memory = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, find_memory_error, &memory);
    H5Eclear2(H5E_DEFAULT);
    if (memory) state->out_of_memory = 1;
}

static void *allocate(walk_state *state, size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size) {
        state->out_of_memory = 1;
        return NULL;
    }
    void *p = calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);
    if (!p) state->out_of_memory = 1;
    return p;
}

/// Reads one attribute the ways ModelPort does (HDF5Attribute.swift).
static void read_attribute(walk_state *state, hid_t object, const char *name) {
    if (H5Aexists(object, name) <= 0) { note_failure(state); return; }
    hid_t attribute = H5Aopen(object, name, H5P_DEFAULT);
    if (attribute < 0) { note_failure(state); return; }
    hid_t type = H5Aget_type(attribute), space = H5Aget_space(attribute);
    hssize_t points = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    hsize_t stored = H5Aget_storage_size(attribute);
    // As ModelPort: values claimed beyond the bytes stored, or the file, are not read.
    if (type < 0 || points < 0 || stored > state->file_size || (hsize_t)points > (stored > 1 ? stored : 1)) {
        note_failure(state);
    } else {
        size_t count = (size_t)points;
        H5T_class_t class = H5Tget_class(type);
        if (class == H5T_STRING && H5Tis_variable_str(type) > 0) {
            hid_t memory = H5Tcopy(H5T_C_S1);
            H5Tset_size(memory, H5T_VARIABLE);
            H5Tset_cset(memory, H5Tget_cset(type));
            char **strings = allocate(state, count, sizeof(char *));
            if (strings && memory >= 0) {
                if (H5Aread(attribute, memory, strings) >= 0) {
                    H5Dvlen_reclaim(memory, space, H5P_DEFAULT, strings);
                } else {
                    note_failure(state);
                }
            }
            free(strings);
            if (memory >= 0) H5Tclose(memory);
        } else if (class == H5T_STRING || class == H5T_ENUM) {
            size_t size = H5Tget_size(type);
            hid_t memory = H5Tcopy(type);
            void *raw = size > 0 ? allocate(state, count, size) : NULL;
            if (raw && memory >= 0 && H5Aread(attribute, memory, raw) < 0) note_failure(state);
            free(raw);
            if (memory >= 0) H5Tclose(memory);
        } else if (class == H5T_FLOAT || class == H5T_INTEGER) {
            hid_t memory = class == H5T_FLOAT ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64;
            void *values = allocate(state, count, 8);
            if (values && H5Aread(attribute, memory, values) < 0) note_failure(state);
            free(values);
        }
    }
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    H5Aclose(attribute);
}

static herr_t no_operation(hid_t object, const char *name, const H5A_info_t *info, void *data) {
    (void)object; (void)name; (void)info; (void)data;
    return 0;
}

/// Reads every attribute: a name no file has makes H5Aexists decode every attribute message
/// (as asking for one Keras lacks does), H5Aiterate2 goes through them in name order, then each
/// is read by name.
static void read_attributes(walk_state *state, hid_t object) {
    if (H5Aexists(object, "\x01modelport-hdf5-check") < 0) note_failure(state);
    hsize_t position = 0;
    if (!state->out_of_memory && H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &position, no_operation, NULL) < 0) {
        note_failure(state);
    }
    if (state->out_of_memory) return;
    H5O_info_t info;
    if (H5Oget_info2(object, &info, H5O_INFO_NUM_ATTRS) < 0) { note_failure(state); return; }
    for (hsize_t i = 0; i < info.num_attrs && !state->out_of_memory; i++) {
        ssize_t length = H5Aget_name_by_idx(object, ".", H5_INDEX_NAME, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
        if (length < 0) { note_failure(state); return; }
        char *name = allocate(state, (size_t)length + 1, 1);
        if (!name) return;
        if (H5Aget_name_by_idx(object, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, (size_t)length + 1, H5P_DEFAULT) >= 0) {
            read_attribute(state, object, name);
        } else {
            note_failure(state);
        }
        free(name);
    }
}

/// Reads a dataset of numbers in slabs along its first dimension, in its own type (no
/// conversion: what is exercised is libhdf5's storage, chunk index and filters).
static void read_dataset(walk_state *state, hid_t dataset) {
    hid_t type = H5Dget_type(dataset), space = H5Dget_space(dataset);
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    H5T_class_t class = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    size_t size = type >= 0 ? H5Tget_size(type) : 0;
    if (type < 0 || space < 0 || rank < 0 || rank > 32 || size == 0) {
        note_failure(state);
    } else if (class == H5T_FLOAT || class == H5T_INTEGER || class == H5T_ENUM || class == H5T_BITFIELD) {
        hsize_t dims[32] = {0}, start[32] = {0}, count[32] = {0};
        if (rank > 0) H5Sget_simple_extent_dims(space, dims, NULL);
        // Bytes in one step of the first dimension (a scalar is one step of one element).
        long double row = (long double)size;
        for (int d = 1; d < rank; d++) row *= (long double)dims[d];
        hsize_t rows = rank == 0 ? 1 : dims[0];
        hsize_t step = row <= 0 || row >= (long double)slab_bytes ? 1 : (hsize_t)((long double)slab_bytes / row);
        // As ModelPort (HDF5Group.checkStorage): more than the stored bytes can hold is not read.
        hid_t plist = H5Dget_create_plist(dataset);
        int filtered = plist >= 0 && H5Pget_nfilters(plist) > 0;
        if (plist >= 0) H5Pclose(plist);
        long double most = (long double)H5Dget_storage_size(dataset) * (filtered ? 1100.0L : 1.0L);
        if (row * (long double)rows > most) {
            // ModelPort refuses it before reading.
        } else if (row > (long double)state->memory_bytes) {
            state->out_of_memory = 1;
        } else if (rows > 0 && row > 0) {
            hsize_t slab = step < rows ? step : rows;
            void *buffer = allocate(state, (size_t)slab, (size_t)row);
            hid_t memory = H5Tcopy(type);
            for (hsize_t first = 0; buffer && memory >= 0 && first < rows && !state->out_of_memory; first += step) {
                hsize_t n = rows - first < step ? rows - first : step;
                herr_t status;
                if (rank == 0) {
                    status = H5Dread(dataset, memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer);
                } else {
                    for (int d = 0; d < rank; d++) { start[d] = 0; count[d] = dims[d]; }
                    start[0] = first;
                    count[0] = n;
                    hid_t memory_space = H5Screate_simple(rank, count, NULL);
                    status = memory_space < 0 ? -1 : H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
                    if (status >= 0) status = H5Dread(dataset, memory, memory_space, space, H5P_DEFAULT, buffer);
                    if (memory_space >= 0) H5Sclose(memory_space);
                }
                if (status < 0) {
                    note_failure(state);
                    break;
                }
            }
            if (memory >= 0) H5Tclose(memory);
            free(buffer);
        }
    }
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
}

/// Addresses of the objects visited, so that a file whose links form a cycle ends.
typedef struct {
    haddr_t *slots;
    size_t capacity, count;
} address_set;

/// Adds an address; 0 when it was there already (or memory ran out).
static int insert_address(walk_state *state, address_set *set, haddr_t address) {
    if (set->count * 2 >= set->capacity) {
        size_t capacity = set->capacity ? set->capacity * 2 : 1024;
        haddr_t *slots = allocate(state, capacity, sizeof(haddr_t));
        if (!slots) return 0;
        for (size_t i = 0; i < capacity; i++) slots[i] = HADDR_UNDEF;
        for (size_t i = 0; i < set->capacity; i++) {
            if (set->slots[i] == HADDR_UNDEF) continue;
            size_t j = (size_t)(set->slots[i] * 0x9E3779B97F4A7C15ULL) & (capacity - 1);
            while (slots[j] != HADDR_UNDEF) j = (j + 1) & (capacity - 1);
            slots[j] = set->slots[i];
        }
        free(set->slots);
        set->slots = slots;
        set->capacity = capacity;
    }
    size_t j = (size_t)(address * 0x9E3779B97F4A7C15ULL) & (set->capacity - 1);
    while (set->slots[j] != HADDR_UNDEF) {
        if (set->slots[j] == address) return 0;
        j = (j + 1) & (set->capacity - 1);
    }
    set->slots[j] = address;
    set->count++;
    return 1;
}

/// Deeper groups than this are not walked (ModelPort's readers never go near it).
enum { deepest_group = 256 };

static void walk_object(walk_state *state, address_set *visited, hid_t object, int depth);

/// Walks a group's links as ModelPort does (names by index, each checked, each opened by name,
/// soft links too); a link that fails is passed over and the walk goes on.
static void walk_links(walk_state *state, address_set *visited, hid_t group, int depth) {
    H5G_info_t info;
    if (H5Gget_info(group, &info) < 0) { note_failure(state); return; }
    for (hsize_t i = 0; i < info.nlinks && !state->out_of_memory; i++) {
        ssize_t length = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
        if (length < 0) { note_failure(state); return; }
        char *name = allocate(state, (size_t)length + 1, 1);
        if (!name) return;
        H5L_info_t link;
        if (H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, (size_t)length + 1, H5P_DEFAULT) < 0
            || H5Lexists(group, name, H5P_DEFAULT) <= 0 || H5Lget_info(group, name, &link, H5P_DEFAULT) < 0) {
            note_failure(state);
        } else if (link.type == H5L_TYPE_HARD || link.type == H5L_TYPE_SOFT) {
            // External links lead to other files: ModelPort does not follow them.
            hid_t object = H5Oopen(group, name, H5P_DEFAULT);
            if (object < 0) {
                note_failure(state);
            } else {
                walk_object(state, visited, object, depth + 1);
                H5Oclose(object);
            }
        }
        free(name);
    }
}

static void walk_object(walk_state *state, address_set *visited, hid_t object, int depth) {
    H5O_info_t info;
    if (H5Oget_info2(object, &info, H5O_INFO_BASIC) < 0) { note_failure(state); return; }
    if (!insert_address(state, visited, info.addr)) return;
    read_attributes(state, object);
    if (state->out_of_memory) return;
    if (info.type == H5O_TYPE_GROUP && depth < deepest_group) walk_links(state, visited, object, depth);
    if (info.type == H5O_TYPE_DATASET) read_dataset(state, object);
}

static long long address_space_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long long pages = 0;
    if (f) {
        if (fscanf(f, "%lld", &pages) != 1) pages = 0;
        fclose(f);
    }
    return pages * sysconf(_SC_PAGESIZE);
}

static int mp_hdf5_read_everything(const char *path, long long memory_bytes, int timeout_ms) {
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    rlim_t seconds = (rlim_t)(timeout_ms / 1000 + 2);
    struct rlimit cpu = {seconds, seconds + 1};
    setrlimit(RLIMIT_CPU, &cpu);
    // On top of what the process has mapped now (under AddressSanitizer that includes its
    // reserved shadow memory, so the limit holds there too).
    long long now = address_space_bytes();
    if (now > 0 && memory_bytes > 0 && memory_bytes < LLONG_MAX - now) {
        struct rlimit space = {(rlim_t)(now + memory_bytes), (rlim_t)(now + memory_bytes)};
        setrlimit(RLIMIT_AS, &space);
    }
    if (H5open() < 0) return EXIT_READ;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    walk_state state = {memory_bytes, 0, 0};
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        note_failure(&state);
        return state.out_of_memory ? EXIT_OUT_OF_MEMORY : EXIT_READ;
    }
    if (H5Fget_filesize(file, &state.file_size) < 0) note_failure(&state);
    hid_t root = H5Oopen(file, "/", H5P_DEFAULT);
    if (root < 0) {
        note_failure(&state);
    } else {
        address_set visited = {NULL, 0, 0};
        walk_object(&state, &visited, root, 0);
    }
    // Not closed: the process ends here, and closing a damaged file is more libhdf5 work.
    return state.out_of_memory ? EXIT_OUT_OF_MEMORY : EXIT_READ;
}

#endif
