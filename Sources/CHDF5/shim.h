// The few HDF5 macros ModelPort needs, as functions: Swift cannot import macros that
// expand to global-variable reads (they also need H5open() to have run first).
#ifndef MODELPORT_CHDF5_SHIM_H
#define MODELPORT_CHDF5_SHIM_H

#include <hdf5.h>

static inline hid_t mp_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t mp_H5S_ALL(void) { return H5S_ALL; }
static inline hid_t mp_H5E_DEFAULT(void) { return H5E_DEFAULT; }
static inline unsigned mp_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned mp_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline unsigned mp_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned mp_H5F_ACC_EXCL(void) { return H5F_ACC_EXCL; }
static inline size_t mp_H5T_VARIABLE(void) { return H5T_VARIABLE; }

static inline hid_t mp_H5P_FILE_ACCESS(void) { return H5P_FILE_ACCESS; }
static inline hid_t mp_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t mp_H5P_ATTRIBUTE_CREATE(void) { return H5P_ATTRIBUTE_CREATE; }
static inline hid_t mp_H5P_LINK_CREATE(void) { return H5P_LINK_CREATE; }
static inline hid_t mp_H5P_GROUP_CREATE(void) { return H5P_GROUP_CREATE; }

static inline hid_t mp_H5T_C_S1(void) { return H5T_C_S1; }
static inline hid_t mp_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t mp_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t mp_H5T_NATIVE_INT8(void) { return H5T_NATIVE_INT8; }
static inline hid_t mp_H5T_NATIVE_INT16(void) { return H5T_NATIVE_INT16; }
static inline hid_t mp_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t mp_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t mp_H5T_NATIVE_UINT8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t mp_H5T_NATIVE_UINT16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t mp_H5T_NATIVE_UINT32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t mp_H5T_NATIVE_UINT64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t mp_H5T_IEEE_F32LE(void) { return H5T_IEEE_F32LE; }

/// A little-endian IEEE half-precision type, built the way h5py builds numpy's float16.
static inline hid_t mp_make_float16_type(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return t;
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    return t;
}

/// numpy's bool as h5py stores it: an int8 enum with FALSE = 0 and TRUE = 1.
static inline hid_t mp_make_bool_type(void) {
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    if (t < 0) return t;
    signed char f = 0, v = 1;
    H5Tenum_insert(t, "FALSE", &f);
    H5Tenum_insert(t, "TRUE", &v);
    return t;
}

/// Silences HDF5's own error-stack printing; errors come back as return codes.
static inline void mp_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

#endif
