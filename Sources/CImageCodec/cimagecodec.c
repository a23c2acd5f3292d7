// CImageCodec — JPEG and PNG decoding to RGB8 with PIL's conversions:
//   JPEG: grayscale replicated; YCbCr/RGB to RGB; CMYK/YCCK as Adobe-inverted CMYK
//         (PIL's "CMYK;I"), then PIL's cmyk2rgb. A truncated file is an error (PIL
//         raises "image file is truncated"); other libjpeg warnings are ignored.
//   PNG:  palette expanded, gray replicated, alpha dropped (not composited), 16-bit
//         RGB(A)/LA reduced to their high byte, 16-bit gray clipped to 255 (PIL's
//         I;16 → RGB), gamma ignored, interlacing handled.
// libjpeg and libpng report fatal errors through longjmp back into this file.
#include "cimagecodec.h"
#include <setjmp.h>
#include <stdio.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

void tlc_image_free(tlc_image *image) {
    if (image && image->pixels) { free(image->pixels); image->pixels = NULL; }
}

static void set_error(tlc_image *out, const char *message) {
    snprintf(out->error, sizeof out->error, "%s", message);
}

// MARK: JPEG

struct jpeg_error_state {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    int truncated;
    char message[JMSG_LENGTH_MAX];
};

static void jpeg_fail(j_common_ptr cinfo) {
    struct jpeg_error_state *e = (struct jpeg_error_state *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->message);
    longjmp(e->jump, 1);
}

static void jpeg_note(j_common_ptr cinfo, int level) {
    struct jpeg_error_state *e = (struct jpeg_error_state *)cinfo->err;
    // Warnings (level -1): premature end of data means a truncated file.
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) e->truncated = 1;
}

static void jpeg_silent(j_common_ptr cinfo) { (void)cinfo; }

static inline uint8_t muldiv255(int a, int b) {
    int t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

static int decode_jpeg(const uint8_t *data, size_t size, int64_t max_pixels, tlc_image *out) {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_state err;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = jpeg_fail;
    err.base.emit_message = jpeg_note;
    err.base.output_message = jpeg_silent;
    uint8_t *volatile row = NULL;
    uint8_t *volatile pixels = NULL;
    if (setjmp(err.jump)) {
        set_error(out, err.message[0] ? err.message : "not a valid JPEG file");
        jpeg_destroy_decompress(&cinfo);
        free(row);
        free(pixels);
        return TLC_IMAGE_BROKEN;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, (const unsigned char *)data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if ((int64_t)cinfo.image_width * (int64_t)cinfo.image_height > max_pixels) {
        snprintf(out->error, sizeof out->error, "%u×%u pixels is more than the limit of %lld",
                 cinfo.image_width, cinfo.image_height, (long long)max_pixels);
        jpeg_destroy_decompress(&cinfo);
        return TLC_IMAGE_TOO_LARGE;
    }
    int cmyk = 0;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK: case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; cmyk = 1; break;
    default: cinfo.out_color_space = JCS_RGB; break;
    }
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, n = cinfo.output_components;
    row = malloc((size_t)w * (size_t)n);
    pixels = malloc((size_t)w * (size_t)h * 3);
    if (!row || !pixels) { strcpy(err.message, "out of memory"); longjmp(err.jump, 1); }
    while (cinfo.output_scanline < cinfo.output_height) {
        int y = (int)cinfo.output_scanline;
        JSAMPROW rows[1] = { row };
        if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) { strcpy(err.message, "image file is truncated"); longjmp(err.jump, 1); }
        uint8_t *dst = pixels + (size_t)y * (size_t)w * 3;
        if (n == 1) {
            for (int x = 0; x < w; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
        } else if (cmyk) {
            // The file holds Adobe-inverted CMYK; PIL un-inverts (CMYK;I) and then
            // computes r = (255 - k) - (255 - k)·c / 255 with its rounding.
            for (int x = 0; x < w; x++) {
                const uint8_t *p = row + 4 * x;
                int nk = p[3];  // 255 - k, with k = 255 - stored
                for (int c = 0; c < 3; c++) dst[3 * x + c] = (uint8_t)(nk - muldiv255(255 - p[c], nk));
            }
        } else {
            memcpy(dst, row, (size_t)w * 3);
        }
    }
    if (err.truncated) { strcpy(err.message, "image file is truncated"); longjmp(err.jump, 1); }
    jpeg_finish_decompress(&cinfo);
    if (err.truncated) { strcpy(err.message, "image file is truncated"); longjmp(err.jump, 1); }
    jpeg_destroy_decompress(&cinfo);
    free(row);
    out->pixels = pixels; out->width = w; out->height = h;
    return TLC_IMAGE_OK;
}

// MARK: PNG

struct png_source { const uint8_t *data; size_t size, offset; };

/// One decoded PNG row to RGB8 as PIL converts it.
static void convert_png_row(const uint8_t *src, uint8_t *dst, png_uint_32 w, int channels, int gray16) {
    for (png_uint_32 x = 0; x < w; x++) {
        if (gray16) {
            // PIL: I;16 → RGB clips at 255.
            int v = (src[2 * x] << 8) | src[2 * x + 1];
            dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = (uint8_t)(v > 255 ? 255 : v);
        } else if (channels <= 2) {
            // Gray, or gray and alpha: alpha dropped.
            uint8_t v = src[channels * x];
            dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = v;
        } else {
            // RGB, or RGBA (palette with tRNS too): alpha dropped, not composited.
            memcpy(dst + 3 * x, src + channels * x, 3);
        }
    }
}

struct png_error_state { jmp_buf jump; char message[200]; };

static void png_fail(png_structp png, png_const_charp message) {
    struct png_error_state *e = (struct png_error_state *)png_get_error_ptr(png);
    snprintf(e->message, sizeof e->message, "%s", message);
    longjmp(e->jump, 1);
}

static void png_warn(png_structp png, png_const_charp message) { (void)png; (void)message; }

static void png_read_memory(png_structp png, png_bytep dst, png_size_t count) {
    struct png_source *s = (struct png_source *)png_get_io_ptr(png);
    if (count > s->size - s->offset) png_error(png, "image file is truncated");
    memcpy(dst, s->data + s->offset, count);
    s->offset += count;
}

static int decode_png(const uint8_t *data, size_t size, int64_t max_pixels, tlc_image *out) {
    struct png_error_state err;
    memset(&err, 0, sizeof err);
    struct png_source source = { data, size, 0 };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, png_fail, png_warn);
    if (!png) { set_error(out, "out of memory"); return TLC_IMAGE_BROKEN; }
    png_infop info = png_create_info_struct(png);
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile buffer = NULL;
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(err.jump)) {
        set_error(out, err.message[0] ? err.message : "not a valid PNG file");
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        free(pixels); free(buffer); free(rows);
        return TLC_IMAGE_BROKEN;
    }
    png_set_read_fn(png, &source, png_read_memory);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((int64_t)w * (int64_t)h > max_pixels) {
        snprintf(out->error, sizeof out->error, "%u×%u pixels is more than the limit of %lld", w, h, (long long)max_pixels);
        png_destroy_read_struct(&png, &info, NULL);
        return TLC_IMAGE_TOO_LARGE;
    }
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    int gray16 = (color == PNG_COLOR_TYPE_GRAY && depth == 16);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((color == PNG_COLOR_TYPE_GRAY) && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && !gray16) png_set_strip_16(png);   // high byte, as PIL's ;16B raw modes
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    int channels = png_get_channels(png, info);
    pixels = malloc((size_t)w * h * 3);
    if (!pixels) png_error(png, "out of memory");
    if (passes > 1) {
        // Interlaced: libpng needs the whole image to assemble the passes.
        buffer = malloc(rowbytes * h);
        rows = malloc(sizeof(png_bytep) * h);
        if (!buffer || !rows) png_error(png, "out of memory");
        for (png_uint_32 y = 0; y < h; y++) rows[y] = buffer + y * rowbytes;
        png_read_image(png, rows);
    } else {
        // One row at a time: no second full-size buffer.
        buffer = malloc(rowbytes);
        if (!buffer) png_error(png, "out of memory");
    }
    for (png_uint_32 y = 0; y < h; y++) {
        const uint8_t *src;
        if (passes > 1) src = rows[y];
        else { png_read_row(png, buffer, NULL); src = buffer; }
        convert_png_row(src, pixels + (size_t)y * w * 3, w, channels, gray16);
    }
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(buffer); free(rows);
    out->pixels = pixels; out->width = (int)w; out->height = (int)h;
    return TLC_IMAGE_OK;
}

int tlc_image_decode(const uint8_t *data, size_t size, int64_t max_pixels, tlc_image *out) {
    memset(out, 0, sizeof *out);
    static const uint8_t png_signature[8] = { 0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a };
    if (size >= 8 && memcmp(data, png_signature, 8) == 0) {
        strcpy(out->format, "png");
        return decode_png(data, size, max_pixels, out);
    }
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) {
        strcpy(out->format, "jpeg");
        return decode_jpeg(data, size, max_pixels, out);
    }
    set_error(out, "not a JPEG or PNG file");
    return TLC_IMAGE_UNKNOWN_FORMAT;
}
