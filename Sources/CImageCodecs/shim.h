// libpng's simplified read API and TurboJPEG's decompressor: both report errors as return
// values (the classic libpng/libjpeg APIs need setjmp, which Swift cannot use).
#ifndef MODELPORT_IMAGE_SHIM_H
#define MODELPORT_IMAGE_SHIM_H
#include <string.h>
#include <png.h>
#include <turbojpeg.h>

/// Decodes a PNG held in memory to 8-bit gray (channels 1) or RGB (channels 3). Returns 0 on
/// success; on failure copies libpng's message into `message`. `*color` tells whether the
/// file itself is in colour (the caller converts colour to gray as TensorFlow does).
static inline int mp_png_decode(const void *data, size_t size, int channels, int *color,
                                unsigned char **pixels, unsigned *width, unsigned *height,
                                char *message, size_t message_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        strncpy(message, image.message, message_size - 1);
        return -1;
    }
    *color = (image.format & PNG_FORMAT_FLAG_COLOR) != 0;
    // Colour to gray is left to the caller: libpng's simplified API converts in linear light.
    if (channels == 1 && *color) channels = 3;
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    size_t bytes = (size_t)image.width * image.height * (size_t)channels;
    unsigned char *buffer = (unsigned char *)malloc(bytes > 0 ? bytes : 1);
    if (!buffer) { png_image_free(&image); strncpy(message, "out of memory", message_size - 1); return -1; }
    if (!png_image_finish_read(&image, NULL, buffer, 0, NULL)) {
        strncpy(message, image.message, message_size - 1);
        free(buffer);
        png_image_free(&image);
        return -1;
    }
    *pixels = buffer;
    *width = image.width;
    *height = image.height;
    return 0;
}

static inline void mp_free(void *p) { free(p); }

/// Decodes a JPEG held in memory to 8-bit gray (channels 1) or RGB (channels 3), with the fast
/// integer DCT that TensorFlow's decode_jpeg uses by default.
static inline int mp_jpeg_decode(const void *data, size_t size, int channels,
                                 unsigned char **pixels, unsigned *width, unsigned *height,
                                 char *message, size_t message_size) {
    tjhandle handle = tjInitDecompress();
    if (!handle) { strncpy(message, "cannot start the JPEG decoder", message_size - 1); return -1; }
    int w = 0, h = 0, subsampling = 0, colorspace = 0;
    if (tjDecompressHeader3(handle, (const unsigned char *)data, (unsigned long)size, &w, &h, &subsampling, &colorspace) != 0 || w <= 0 || h <= 0) {
        strncpy(message, tjGetErrorStr2(handle), message_size - 1);
        tjDestroy(handle);
        return -1;
    }
    size_t bytes = (size_t)w * (size_t)h * (size_t)channels;
    unsigned char *buffer = (unsigned char *)malloc(bytes);
    if (!buffer) { tjDestroy(handle); strncpy(message, "out of memory", message_size - 1); return -1; }
    if (tjDecompress2(handle, (const unsigned char *)data, (unsigned long)size, buffer, w, 0, h,
                      channels == 1 ? TJPF_GRAY : TJPF_RGB, TJFLAG_FASTDCT) != 0) {
        strncpy(message, tjGetErrorStr2(handle), message_size - 1);
        free(buffer);
        tjDestroy(handle);
        return -1;
    }
    tjDestroy(handle);
    *pixels = buffer;
    *width = (unsigned)w;
    *height = (unsigned)h;
    return 0;
}
#endif
