// The small C boundary to oneDNN (Debian libdnnl-dev 2.6): a forward convolution over NHWC f32
// with bias, ReLU and a per-channel affine (a BatchNormalization after the activation) fused as
// post-ops, optionally followed by max pooling. Swift wraps it in Engine/DNNL.swift.
#ifndef MP_DNNL_H
#define MP_DNNL_H
#include <stddef.h>

typedef struct mp_conv mp_conv;

typedef struct {
    int n, h, w, ic, oc, kh, kw;
    int sh, sw, dh, dw;          // strides, dilations (1 = none)
    int pt, pl, pb, pr;          // pads: top, left, bottom, right (bottom/right may be negative)
    int groups;
    int oh, ow;                  // the convolution's output size
    int relu;                    // fuse max(x, 0) after the bias
    int clip;                    // or fuse min(max(x, clip_low), clip_high) (ReLU6)
    float clip_low, clip_high;
    int pool;                    // then max pooling, window = stride = (pool_h, pool_w), valid
    int pool_h, pool_w, poh, pow;
    int winograd;                // try Winograd (3×3, stride 1): blocked layouts, the affine as a
                                 // BatchNormalization primitive; falls back to direct when refused
} mp_conv_params;

// weights: kh·kw·(ic/groups)·oc in HWIO order (Keras; for groups > 1 `hwigo`); bias, scale and
// shift: oc values or NULL. Returns NULL and writes why into err when oneDNN has no implementation.
mp_conv *mp_conv_create(const mp_conv_params *p, const float *weights, const float *bias,
                        const float *scale, const float *shift, char *err, size_t errlen);
// x: n·h·w·ic, y: n·oh·ow·oc (or n·poh·pow·oc with pooling). Returns 0 on success.
int mp_conv_run(mp_conv *c, const float *x, float *y);
// New weights (and bias, scale, shift; NULL keeps them) of the same shapes, e.g. after an
// optimizer step: one reorder into the primitive's layout, no new primitive. Returns 0 on success.
int mp_conv_update(mp_conv *c, const float *weights, const float *bias, const float *scale, const float *shift);
// The implementation oneDNN chose (e.g. "brgconv:avx512_core").
const char *mp_conv_impl(const mp_conv *c);
void mp_conv_destroy(mp_conv *c);
// Training: the backward passes of a convolution (no post-ops, no pooling) with the same
// parameters. `want_data` 0 skips the input gradient (a first layer), `want_bias` 0 the bias's.
typedef struct mp_conv_bwd mp_conv_bwd;
mp_conv_bwd *mp_conv_bwd_create(const mp_conv_params *p, int want_data, int want_bias, char *err, size_t errlen);
// x: n·h·w·ic, weights HWIO (this step's), dy: n·oh·ow·oc. Writes dx (n·h·w·ic, when wanted), dw
// (HWIO, overwritten) and db (oc, overwritten, when wanted). Returns 0 on success.
int mp_conv_bwd_run(mp_conv_bwd *c, const float *x, const float *weights, const float *dy, float *dx, float *dw, float *db);
void mp_conv_bwd_destroy(mp_conv_bwd *c);
// OpenMP threads for the primitives created and run after this call.
void mp_dnnl_set_threads(int threads);
#endif
