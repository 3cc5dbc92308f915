#include "mp_dnnl.h"
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void omp_set_num_threads(int);

static dnnl_engine_t engine;
static dnnl_stream_t stream;

struct mp_conv {
    dnnl_primitive_t conv, pool;
    dnnl_memory_t src, weights, bias, dst, scale, shift, pooled;
    float *between;     // the convolution's output when pooling follows
    int has_bias, has_affine, scale_index;
    // The Winograd chain: user NHWC → (reorder) → convolution in blocked layout → affine as a
    // BatchNormalization primitive → pooling → reorder to the user's NHWC output.
    int winograd;
    dnnl_primitive_t src_reorder, bn, out_reorder;
    // The weights as given (their handle set per call) and the reorder into the primitive's
    // layout (for Winograd also the transform): new weights cost one reorder, not a new primitive.
    dnnl_primitive_t weights_reorder;
    dnnl_memory_t user_weights;
    int oc;
    dnnl_memory_t user_src, user_dst, conv_dst, bn_mean, bn_var, pool_dst;
    char impl[96];
};

void mp_dnnl_set_threads(int threads) { omp_set_num_threads(threads < 1 ? 1 : threads); }

#define CHECK(call, what) do { dnnl_status_t s_ = (call); if (s_ != dnnl_success) { \
    snprintf(err, errlen, "oneDNN %s failed (status %d)", what, (int)s_); goto fail; } } while (0)

static int ensure_engine(char *err, size_t errlen) {
    if (engine) return 1;
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine");
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags), "stream");
    return 1;
fail:
    return 0;
}

static dnnl_memory_t vector_memory(int oc, const float *values, int as_4d, char *err, size_t errlen) {
    dnnl_memory_desc_t md;
    dnnl_memory_t m = NULL;
    if (as_4d) {
        dnnl_dims_t d = {1, oc, 1, 1};
        if (dnnl_memory_desc_init_by_tag(&md, 4, d, dnnl_f32, dnnl_nhwc) != dnnl_success) return NULL;
    } else {
        dnnl_dims_t d = {oc};
        if (dnnl_memory_desc_init_by_tag(&md, 1, d, dnnl_f32, dnnl_a) != dnnl_success) return NULL;
    }
    if (dnnl_memory_create(&m, &md, engine, DNNL_MEMORY_ALLOCATE) != dnnl_success) {
        snprintf(err, errlen, "oneDNN memory failed");
        return NULL;
    }
    void *h = NULL;
    dnnl_memory_get_data_handle(m, &h);
    memcpy(h, values, sizeof(float) * (size_t)oc);
    return m;
}

static int reorder_between(dnnl_primitive_t *out, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, char *err, size_t errlen) {
    dnnl_primitive_desc_t rpd = NULL;
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, from, engine, to, engine, NULL), "reorder");
    CHECK(dnnl_primitive_create(out, rpd), "reorder");
    dnnl_primitive_desc_destroy(rpd);
    return 1;
fail:
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    return 0;
}

// Max pooling (window = stride, valid) from `src_md` into a destination of format `dst_tag`
// (any: the implementation's choice).
static int pool_primitive(mp_conv *c, const mp_conv_params *p, const dnnl_memory_desc_t *src_md, dnnl_format_tag_t dst_tag,
                          dnnl_primitive_desc_t *ppd, char *err, size_t errlen) {
    dnnl_memory_desc_t pooled_md;
    dnnl_dims_t pd4 = {p->n, p->oc, p->poh, p->pow};
    CHECK(dnnl_memory_desc_init_by_tag(&pooled_md, 4, pd4, dnnl_f32, dst_tag), "pooled");
    dnnl_dims_t pk = {p->pool_h, p->pool_w}, pdil = {0, 0}, zero = {0, 0};
    dnnl_dims_t ppr = {p->poh * p->pool_h - p->oh, p->pow * p->pool_w - p->ow};
    dnnl_pooling_v2_desc_t pool_d;
    CHECK(dnnl_pooling_v2_forward_desc_init(&pool_d, dnnl_forward_inference, dnnl_pooling_max, src_md, &pooled_md, pk, pk, pdil,
                                            zero, ppr), "pooling");
    CHECK(dnnl_primitive_desc_create(ppd, &pool_d, NULL, engine, NULL), "pooling descriptor");
    CHECK(dnnl_primitive_create(&c->pool, *ppd), "pooling primitive");
    return 1;
fail:
    return 0;
}

// Builds the Winograd chain's memories and primitives around the convolution `pd`.
static int winograd_chain(mp_conv *c, const mp_conv_params *p, const_dnnl_primitive_desc_t pd, const dnnl_memory_desc_t *user_src_md,
                          const dnnl_memory_desc_t *user_dst_md, const float *scale, const float *shift, char *err, size_t errlen) {
    dnnl_primitive_desc_t bpd = NULL, ppd = NULL;
    const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    CHECK(dnnl_memory_create(&c->user_src, user_src_md, engine, DNNL_MEMORY_NONE), "source memory");
    CHECK(dnnl_memory_create(&c->src, src_md, engine, DNNL_MEMORY_ALLOCATE), "blocked source");
    if (!reorder_between(&c->src_reorder, user_src_md, src_md, err, errlen)) goto fail;
    CHECK(dnnl_memory_create(&c->conv_dst, dst_md, engine, DNNL_MEMORY_ALLOCATE), "blocked destination");
    if (scale && shift) {
        // y·scale + shift as inference BatchNormalization with mean 0, variance 1, epsilon 0.
        dnnl_batch_normalization_desc_t bd;
        CHECK(dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_inference, dst_md, 0.0f,
                                                         dnnl_use_global_stats | dnnl_use_scale | dnnl_use_shift), "affine");
        CHECK(dnnl_primitive_desc_create(&bpd, &bd, NULL, engine, NULL), "affine descriptor");
        CHECK(dnnl_primitive_create(&c->bn, bpd), "affine primitive");
        float *zeros = calloc((size_t)p->oc, sizeof(float)), *ones = malloc(sizeof(float) * (size_t)p->oc);
        if (!zeros || !ones) { free(zeros); free(ones); snprintf(err, errlen, "out of memory"); goto fail; }
        for (int i = 0; i < p->oc; i++) ones[i] = 1.0f;
        c->bn_mean = vector_memory(p->oc, zeros, 0, err, errlen);
        c->bn_var = vector_memory(p->oc, ones, 0, err, errlen);
        c->scale = vector_memory(p->oc, scale, 0, err, errlen);
        c->shift = vector_memory(p->oc, shift, 0, err, errlen);
        free(zeros); free(ones);
        if (!c->bn_mean || !c->bn_var || !c->scale || !c->shift) goto fail;
        c->has_affine = 1;
    }
    const dnnl_memory_desc_t *out_md = dst_md;
    if (p->pool) {
        if (!pool_primitive(c, p, dst_md, dnnl_format_tag_any, &ppd, err, errlen)) goto fail;
        dnnl_dims_t pd4 = {p->n, p->oc, p->poh, p->pow};
        out_md = dnnl_primitive_desc_query_md(ppd, dnnl_query_dst_md, 0);
        CHECK(dnnl_memory_create(&c->pool_dst, out_md, engine, DNNL_MEMORY_ALLOCATE), "pooled memory");
        dnnl_memory_desc_t user_pooled;
        CHECK(dnnl_memory_desc_init_by_tag(&user_pooled, 4, pd4, dnnl_f32, dnnl_nhwc), "pooled");
        CHECK(dnnl_memory_create(&c->user_dst, &user_pooled, engine, DNNL_MEMORY_NONE), "destination memory");
        if (!reorder_between(&c->out_reorder, out_md, &user_pooled, err, errlen)) goto fail;
    } else {
        CHECK(dnnl_memory_create(&c->user_dst, user_dst_md, engine, DNNL_MEMORY_NONE), "destination memory");
        if (!reorder_between(&c->out_reorder, dst_md, user_dst_md, err, errlen)) goto fail;
    }
    if (bpd) dnnl_primitive_desc_destroy(bpd);
    if (ppd) dnnl_primitive_desc_destroy(ppd);
    return 1;
fail:
    if (bpd) dnnl_primitive_desc_destroy(bpd);
    if (ppd) dnnl_primitive_desc_destroy(ppd);
    return 0;
}

// The weights as oneDNN may lay them out (any) and as the caller holds them: HWIO, or for groups
// `hwigo` (Keras' grouped and depthwise kernels).
static int weights_descs(const mp_conv_params *p, dnnl_memory_desc_t *any_w, dnnl_memory_desc_t *user_w_md, char *err, size_t errlen) {
    if (p->groups == 1) {
        dnnl_dims_t wd = {p->oc, p->ic, p->kh, p->kw};
        CHECK(dnnl_memory_desc_init_by_tag(any_w, 4, wd, dnnl_f32, dnnl_format_tag_any), "weights");
        CHECK(dnnl_memory_desc_init_by_tag(user_w_md, 4, wd, dnnl_f32, dnnl_hwio), "weights");
    } else {
        dnnl_dims_t wd = {p->groups, p->oc / p->groups, p->ic / p->groups, p->kh, p->kw};
        CHECK(dnnl_memory_desc_init_by_tag(any_w, 5, wd, dnnl_f32, dnnl_format_tag_any), "weights");
        CHECK(dnnl_memory_desc_init_by_tag(user_w_md, 5, wd, dnnl_f32, dnnl_hwigo), "weights");
    }
    return 1;
fail:
    return 0;
}

mp_conv *mp_conv_create(const mp_conv_params *p, const float *weights, const float *bias,
                        const float *scale, const float *shift, char *err, size_t errlen) {
    if (!ensure_engine(err, errlen)) return NULL;
    mp_conv *c = calloc(1, sizeof(mp_conv));
    dnnl_primitive_desc_t pd = NULL, wpd = NULL, ppd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_memory_t user_weights = NULL;
    dnnl_primitive_t reorder = NULL;
    if (!c) { snprintf(err, errlen, "out of memory"); return NULL; }
    dnnl_memory_desc_t src_md, dst_md, any_w, bias_md, user_w_md;
    dnnl_dims_t src_d = {p->n, p->ic, p->h, p->w}, dst_d = {p->n, p->oc, p->oh, p->ow};
    dnnl_memory_desc_t user_src_md, user_dst_md;
    CHECK(dnnl_memory_desc_init_by_tag(&user_src_md, 4, src_d, dnnl_f32, dnnl_nhwc), "source");
    CHECK(dnnl_memory_desc_init_by_tag(&user_dst_md, 4, dst_d, dnnl_f32, dnnl_nhwc), "destination");
    int wino = p->winograd && p->groups == 1 && p->kh == 3 && p->kw == 3 && p->sh == 1 && p->sw == 1 && p->dh == 1 && p->dw == 1;
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, 4, src_d, dnnl_f32, wino ? dnnl_format_tag_any : dnnl_nhwc), "source");
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_d, dnnl_f32, wino ? dnnl_format_tag_any : dnnl_nhwc), "destination");
    c->winograd = wino;
    if (!weights_descs(p, &any_w, &user_w_md, err, errlen)) goto fail;
    dnnl_dims_t bd = {p->oc};
    CHECK(dnnl_memory_desc_init_by_tag(&bias_md, 1, bd, dnnl_f32, dnnl_a), "bias");
    dnnl_dims_t strides = {p->sh, p->sw}, dil = {p->dh - 1, p->dw - 1}, pl = {p->pt, p->pl}, pr = {p->pb, p->pr};
    dnnl_convolution_desc_t cd;
    CHECK(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, wino ? dnnl_convolution_winograd : dnnl_convolution_direct,
                                                     &src_md, &any_w,
                                                     bias ? &bias_md : NULL, &dst_md, strides, dil, pl, pr), "convolution");
    CHECK(dnnl_primitive_attr_create(&attr), "attributes");
    CHECK(dnnl_post_ops_create(&ops), "post-ops");
    if (p->relu) CHECK(dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f), "ReLU post-op");
    else if (p->clip) CHECK(dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_clip, p->clip_low, p->clip_high), "clip post-op");
    dnnl_memory_desc_t channel_md;
    dnnl_dims_t cd4 = {1, p->oc, 1, 1};
    CHECK(dnnl_memory_desc_init_by_tag(&channel_md, 4, cd4, dnnl_f32, dnnl_nhwc), "channel vector");
    if (scale && shift && !wino) {
        CHECK(dnnl_post_ops_append_binary(ops, dnnl_binary_mul, &channel_md), "scale post-op");
        CHECK(dnnl_post_ops_append_binary(ops, dnnl_binary_add, &channel_md), "shift post-op");
        c->has_affine = 1;
        c->scale_index = p->relu || p->clip ? 1 : 0;
    }
    CHECK(dnnl_primitive_attr_set_post_ops(attr, ops), "post-ops");
    if (dnnl_primitive_desc_create(&pd, &cd, attr, engine, NULL) != dnnl_success) {
        if (!wino) { snprintf(err, errlen, "oneDNN has no convolution for this shape"); goto fail; }
        // Refused: the direct convolution in NHWC.
        dnnl_post_ops_destroy(ops); dnnl_primitive_attr_destroy(attr); free(c);
        mp_conv_params direct = *p;
        direct.winograd = 0;
        return mp_conv_create(&direct, weights, bias, scale, shift, err, errlen);
    }
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(c->impl, sizeof c->impl, "%s", impl ? impl : "unknown");
    CHECK(dnnl_primitive_create(&c->conv, pd), "convolution primitive");
    // Weights: reordered once into the layout the implementation wants.
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    CHECK(dnnl_memory_create(&user_weights, &user_w_md, engine, (void *)weights), "weights memory");
    CHECK(dnnl_memory_create(&c->weights, w_md, engine, DNNL_MEMORY_ALLOCATE), "weights memory");
    CHECK(dnnl_reorder_primitive_desc_create(&wpd, &user_w_md, engine, w_md, engine, NULL), "weights reorder");
    CHECK(dnnl_primitive_create(&reorder, wpd), "weights reorder");
    dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, user_weights}, {DNNL_ARG_TO, c->weights}};
    CHECK(dnnl_primitive_execute(reorder, stream, 2, rargs), "weights reorder");
    CHECK(dnnl_stream_wait(stream), "weights reorder");
    if (bias) { c->bias = vector_memory(p->oc, bias, 0, err, errlen); if (!c->bias) goto fail; c->has_bias = 1; }
    if (c->has_affine) {
        c->scale = vector_memory(p->oc, scale, 1, err, errlen);
        c->shift = vector_memory(p->oc, shift, 1, err, errlen);
        if (!c->scale || !c->shift) goto fail;
    }
    c->weights_reorder = reorder; reorder = NULL;
    c->user_weights = user_weights; user_weights = NULL;
    c->oc = p->oc;
    if (wino) {
        if (!winograd_chain(c, p, pd, &user_src_md, &user_dst_md, scale, shift, err, errlen)) goto fail;
        dnnl_primitive_desc_destroy(wpd);
        dnnl_primitive_desc_destroy(pd);
        dnnl_post_ops_destroy(ops);
        dnnl_primitive_attr_destroy(attr);
        return c;
    }
    CHECK(dnnl_memory_create(&c->src, &src_md, engine, DNNL_MEMORY_NONE), "source memory");
    CHECK(dnnl_memory_create(&c->dst, &dst_md, engine, DNNL_MEMORY_NONE), "destination memory");
    if (p->pool) {
        size_t count = (size_t)p->n * p->oh * p->ow * p->oc;
        c->between = malloc(count * sizeof(float));
        if (!c->between) { snprintf(err, errlen, "out of memory"); goto fail; }
        if (!pool_primitive(c, p, &dst_md, dnnl_nhwc, &ppd, err, errlen)) goto fail;
        CHECK(dnnl_memory_create(&c->pooled, dnnl_primitive_desc_query_md(ppd, dnnl_query_dst_md, 0), engine, DNNL_MEMORY_NONE),
              "pooled memory");
        dnnl_memory_set_data_handle(c->dst, c->between);
    }
    dnnl_primitive_desc_destroy(wpd);
    if (ppd) dnnl_primitive_desc_destroy(ppd);
    dnnl_primitive_desc_destroy(pd);
    dnnl_post_ops_destroy(ops);
    dnnl_primitive_attr_destroy(attr);
    return c;
fail:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (wpd) dnnl_primitive_desc_destroy(wpd);
    if (user_weights) dnnl_memory_destroy(user_weights);
    if (ppd) dnnl_primitive_desc_destroy(ppd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    mp_conv_destroy(c);
    return NULL;
}

static int run_winograd(mp_conv *c, const float *x, float *y) {
    dnnl_memory_set_data_handle(c->user_src, (void *)x);
    dnnl_memory_set_data_handle(c->user_dst, y);
    dnnl_exec_arg_t r1[2] = {{DNNL_ARG_FROM, c->user_src}, {DNNL_ARG_TO, c->src}};
    if (dnnl_primitive_execute(c->src_reorder, stream, 2, r1) != dnnl_success) return 1;
    dnnl_exec_arg_t args[4];
    int n = 0;
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, c->src};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, c->weights};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, c->conv_dst};
    if (c->has_bias) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, c->bias};
    if (dnnl_primitive_execute(c->conv, stream, n, args) != dnnl_success) return 1;
    if (c->bn) {
        dnnl_exec_arg_t b[6] = {{DNNL_ARG_SRC, c->conv_dst}, {DNNL_ARG_DST, c->conv_dst}, {DNNL_ARG_MEAN, c->bn_mean},
                                {DNNL_ARG_VARIANCE, c->bn_var}, {DNNL_ARG_SCALE, c->scale}, {DNNL_ARG_SHIFT, c->shift}};
        if (dnnl_primitive_execute(c->bn, stream, 6, b) != dnnl_success) return 1;
    }
    dnnl_memory_t last = c->conv_dst;
    if (c->pool) {
        dnnl_exec_arg_t pa[2] = {{DNNL_ARG_SRC, c->conv_dst}, {DNNL_ARG_DST, c->pool_dst}};
        if (dnnl_primitive_execute(c->pool, stream, 2, pa) != dnnl_success) return 1;
        last = c->pool_dst;
    }
    dnnl_exec_arg_t r2[2] = {{DNNL_ARG_FROM, last}, {DNNL_ARG_TO, c->user_dst}};
    if (dnnl_primitive_execute(c->out_reorder, stream, 2, r2) != dnnl_success) return 1;
    return dnnl_stream_wait(stream) == dnnl_success ? 0 : 1;
}

int mp_conv_run(mp_conv *c, const float *x, float *y) {
    if (c->winograd) return run_winograd(c, x, y);
    dnnl_memory_set_data_handle(c->src, (void *)x);
    if (c->pool) dnnl_memory_set_data_handle(c->pooled, y); else dnnl_memory_set_data_handle(c->dst, y);
    dnnl_exec_arg_t args[6];
    int n = 0;
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, c->src};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, c->weights};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, c->dst};
    if (c->has_bias) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, c->bias};
    if (c->has_affine) {
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(c->scale_index) | DNNL_ARG_SRC_1, c->scale};
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(c->scale_index + 1) | DNNL_ARG_SRC_1, c->shift};
    }
    if (dnnl_primitive_execute(c->conv, stream, n, args) != dnnl_success) return 1;
    if (c->pool) {
        dnnl_exec_arg_t pargs[2] = {{DNNL_ARG_SRC, c->dst}, {DNNL_ARG_DST, c->pooled}};
        if (dnnl_primitive_execute(c->pool, stream, 2, pargs) != dnnl_success) return 1;
    }
    return dnnl_stream_wait(stream) == dnnl_success ? 0 : 1;
}

const char *mp_conv_impl(const mp_conv *c) { return c->impl; }

static void copy_into(dnnl_memory_t m, const float *values, int count) {
    void *h = NULL;
    if (m && values && dnnl_memory_get_data_handle(m, &h) == dnnl_success && h) memcpy(h, values, sizeof(float) * (size_t)count);
}

int mp_conv_update(mp_conv *c, const float *weights, const float *bias, const float *scale, const float *shift) {
    dnnl_memory_set_data_handle(c->user_weights, (void *)weights);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, c->user_weights}, {DNNL_ARG_TO, c->weights}};
    if (dnnl_primitive_execute(c->weights_reorder, stream, 2, args) != dnnl_success) return 1;
    if (dnnl_stream_wait(stream) != dnnl_success) return 1;
    if (c->has_bias) copy_into(c->bias, bias, c->oc);
    if (c->has_affine) { copy_into(c->scale, scale, c->oc); copy_into(c->shift, shift, c->oc); }
    return 0;
}

void mp_conv_destroy(mp_conv *c) {
    if (!c) return;
    if (c->conv) dnnl_primitive_destroy(c->conv);
    if (c->pool) dnnl_primitive_destroy(c->pool);
    dnnl_primitive_t ps[] = {c->src_reorder, c->bn, c->out_reorder, c->weights_reorder};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) if (ps[i]) dnnl_primitive_destroy(ps[i]);
    dnnl_memory_t ms[] = {c->src, c->weights, c->bias, c->dst, c->scale, c->shift, c->pooled,
                          c->user_src, c->user_dst, c->conv_dst, c->bn_mean, c->bn_var, c->pool_dst, c->user_weights};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) if (ms[i]) dnnl_memory_destroy(ms[i]);
    free(c->between);
    free(c);
}

// ---- Training: backward data and backward weights ----

// A tensor the caller gives or wants in NHWC, and the layout a primitive chose for it: when they
// differ, a memory in the chosen layout and a reorder between the two.
typedef struct {
    dnnl_memory_t user, inner;   // inner == user when no reorder is needed
    dnnl_primitive_t reorder;
} mp_staged;

static int stage(mp_staged *t, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *chosen, int to_user, char *err, size_t errlen) {
    CHECK(dnnl_memory_create(&t->user, user_md, engine, DNNL_MEMORY_NONE), "memory");
    if (dnnl_memory_desc_equal(user_md, chosen)) { t->inner = t->user; return 1; }
    CHECK(dnnl_memory_create(&t->inner, chosen, engine, DNNL_MEMORY_ALLOCATE), "blocked memory");
    if (to_user) return reorder_between(&t->reorder, chosen, user_md, err, errlen);
    return reorder_between(&t->reorder, user_md, chosen, err, errlen);
fail:
    return 0;
}

static int stage_run(mp_staged *t, void *handle, int to_user) {
    dnnl_memory_set_data_handle(t->user, handle);
    if (!t->reorder) return 0;
    dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, to_user ? t->inner : t->user}, {DNNL_ARG_TO, to_user ? t->user : t->inner}};
    return dnnl_primitive_execute(t->reorder, stream, 2, r) == dnnl_success ? 0 : 1;
}

static void stage_destroy(mp_staged *t) {
    if (t->reorder) dnnl_primitive_destroy(t->reorder);
    if (t->inner && t->inner != t->user) dnnl_memory_destroy(t->inner);
    if (t->user) dnnl_memory_destroy(t->user);
}

struct mp_conv_bwd {
    dnnl_primitive_t data, weights;
    // The weights gradient reads x and dy; the data gradient reads dy and writes dx: each in the
    // layout its implementation chose (oneDNN's blocked layouts are faster for these than NHWC).
    mp_staged w_src, w_dst, d_dst, d_src, w_in, w_out;
    dnnl_memory_t diff_b;
    int want_data, want_bias;
};

mp_conv_bwd *mp_conv_bwd_create(const mp_conv_params *p, int want_data, int want_bias, char *err, size_t errlen) {
    if (!ensure_engine(err, errlen)) return NULL;
    mp_conv_bwd *c = calloc(1, sizeof(mp_conv_bwd));
    dnnl_primitive_desc_t fpd = NULL, dpd = NULL, wpd = NULL;
    if (!c) { snprintf(err, errlen, "out of memory"); return NULL; }
    c->want_data = want_data;
    c->want_bias = want_bias;
    dnnl_memory_desc_t src_md, dst_md, any_src, any_dst, any_w, user_w_md, bias_md;
    dnnl_dims_t src_d = {p->n, p->ic, p->h, p->w}, dst_d = {p->n, p->oc, p->oh, p->ow};
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, 4, src_d, dnnl_f32, dnnl_nhwc), "source");
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_d, dnnl_f32, dnnl_nhwc), "destination");
    CHECK(dnnl_memory_desc_init_by_tag(&any_src, 4, src_d, dnnl_f32, dnnl_format_tag_any), "source");
    CHECK(dnnl_memory_desc_init_by_tag(&any_dst, 4, dst_d, dnnl_f32, dnnl_format_tag_any), "destination");
    if (!weights_descs(p, &any_w, &user_w_md, err, errlen)) goto fail;
    dnnl_dims_t bd = {p->oc};
    CHECK(dnnl_memory_desc_init_by_tag(&bias_md, 1, bd, dnnl_f32, dnnl_a), "bias");
    dnnl_dims_t strides = {p->sh, p->sw}, dil = {p->dh - 1, p->dw - 1}, pl = {p->pt, p->pl}, pr = {p->pb, p->pr};
    // The forward training primitive is the hint both backward primitives need.
    dnnl_convolution_desc_t fd, dd, wd;
    // Winograd (3×3, stride 1) where asked: for the backward passes its rounding only scales the
    // gradients, it does not move ReLU or pooling decisions as in the forward pass.
    dnnl_alg_kind_t alg = p->winograd && p->groups == 1 && p->kh == 3 && p->kw == 3 && p->sh == 1 && p->sw == 1 && p->dh == 1 && p->dw == 1
        ? dnnl_convolution_winograd : dnnl_convolution_direct;
    if (alg == dnnl_convolution_winograd) {
        dnnl_convolution_desc_t probe;
        dnnl_primitive_desc_t ppd = NULL;
        int ok = dnnl_dilated_convolution_forward_desc_init(&probe, dnnl_forward_training, alg, &any_src, &any_w, want_bias ? &bias_md : NULL,
                                                            &any_dst, strides, dil, pl, pr) == dnnl_success
            && dnnl_primitive_desc_create(&ppd, &probe, NULL, engine, NULL) == dnnl_success;
        if (ppd) dnnl_primitive_desc_destroy(ppd);
        if (!ok) alg = dnnl_convolution_direct;
    }
    CHECK(dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, alg, &any_src, &any_w,
                                                     want_bias ? &bias_md : NULL, &any_dst, strides, dil, pl, pr), "convolution");
    if (dnnl_primitive_desc_create(&fpd, &fd, NULL, engine, NULL) != dnnl_success) {
        snprintf(err, errlen, "oneDNN has no training convolution for this shape"); goto fail;
    }
    CHECK(dnnl_dilated_convolution_backward_weights_desc_init(&wd, alg, &any_src, &any_w, want_bias ? &bias_md : NULL,
                                                              &any_dst, strides, dil, pl, pr), "weights gradient");
    if (dnnl_primitive_desc_create(&wpd, &wd, NULL, engine, fpd) != dnnl_success) {
        snprintf(err, errlen, "oneDNN has no weights gradient for this shape"); goto fail;
    }
    CHECK(dnnl_primitive_create(&c->weights, wpd), "weights gradient primitive");
    if (!stage(&c->w_src, &src_md, dnnl_primitive_desc_query_md(wpd, dnnl_query_src_md, 0), 0, err, errlen)) goto fail;
    if (!stage(&c->w_dst, &dst_md, dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_dst_md, 0), 0, err, errlen)) goto fail;
    if (!stage(&c->w_out, &user_w_md, dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0), 1, err, errlen)) goto fail;
    if (want_bias) CHECK(dnnl_memory_create(&c->diff_b, &bias_md, engine, DNNL_MEMORY_NONE), "bias gradient memory");
    if (want_data) {
        CHECK(dnnl_dilated_convolution_backward_data_desc_init(&dd, alg, &any_src, &any_w, &any_dst, strides, dil, pl, pr),
              "data gradient");
        if (dnnl_primitive_desc_create(&dpd, &dd, NULL, engine, fpd) != dnnl_success) {
            snprintf(err, errlen, "oneDNN has no data gradient for this shape"); goto fail;
        }
        CHECK(dnnl_primitive_create(&c->data, dpd), "data gradient primitive");
        if (!stage(&c->d_dst, &dst_md, dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_dst_md, 0), 0, err, errlen)) goto fail;
        if (!stage(&c->d_src, &src_md, dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_src_md, 0), 1, err, errlen)) goto fail;
        if (!stage(&c->w_in, &user_w_md, dnnl_primitive_desc_query_md(dpd, dnnl_query_weights_md, 0), 0, err, errlen)) goto fail;
    }
    dnnl_primitive_desc_destroy(fpd);
    dnnl_primitive_desc_destroy(wpd);
    if (dpd) dnnl_primitive_desc_destroy(dpd);
    return c;
fail:
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (wpd) dnnl_primitive_desc_destroy(wpd);
    if (dpd) dnnl_primitive_desc_destroy(dpd);
    mp_conv_bwd_destroy(c);
    return NULL;
}

int mp_conv_bwd_run(mp_conv_bwd *c, const float *x, const float *weights, const float *dy, float *dx, float *dw, float *db) {
    if (stage_run(&c->w_src, (void *)x, 0) || stage_run(&c->w_dst, (void *)dy, 0)) return 1;
    dnnl_memory_set_data_handle(c->w_out.user, dw);
    dnnl_exec_arg_t args[4];
    int n = 0;
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, c->w_src.inner};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, c->w_dst.inner};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS, c->w_out.inner};
    if (c->want_bias) {
        if (!db) return 1;
        dnnl_memory_set_data_handle(c->diff_b, db);
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, c->diff_b};
    }
    if (dnnl_primitive_execute(c->weights, stream, n, args) != dnnl_success) return 1;
    if (stage_run(&c->w_out, dw, 1)) return 1;
    if (c->want_data && dx) {
        if (stage_run(&c->w_in, (void *)weights, 0)) return 1;
        // The data gradient's dy: the weights gradient's staged copy when both chose the same layout.
        dnnl_memory_t ddst = c->w_dst.inner;
        const dnnl_memory_desc_t *a = NULL, *b = NULL;
        dnnl_memory_get_memory_desc(c->w_dst.inner, &a);
        dnnl_memory_get_memory_desc(c->d_dst.inner, &b);
        if (!dnnl_memory_desc_equal(a, b)) {
            if (stage_run(&c->d_dst, (void *)dy, 0)) return 1;
            ddst = c->d_dst.inner;
        }
        dnnl_memory_set_data_handle(c->d_src.user, dx);
        dnnl_exec_arg_t d[3] = {{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, c->w_in.inner}, {DNNL_ARG_DIFF_SRC, c->d_src.inner}};
        if (dnnl_primitive_execute(c->data, stream, 3, d) != dnnl_success) return 1;
        if (stage_run(&c->d_src, dx, 1)) return 1;
    }
    return dnnl_stream_wait(stream) == dnnl_success ? 0 : 1;
}

void mp_conv_bwd_destroy(mp_conv_bwd *c) {
    if (!c) return;
    if (c->data) dnnl_primitive_destroy(c->data);
    if (c->weights) dnnl_primitive_destroy(c->weights);
    mp_staged *ts[] = {&c->w_src, &c->w_dst, &c->d_dst, &c->d_src, &c->w_in, &c->w_out};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) stage_destroy(ts[i]);
    if (c->diff_b) dnnl_memory_destroy(c->diff_b);
    free(c);
}
