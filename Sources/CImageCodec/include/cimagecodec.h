// CImageCodec — JPEG (libjpeg-turbo) and PNG (libpng) files decoded to 8-bit RGB the
// way PIL's `Image.open(f).convert("RGB")` does. Errors never exit or longjmp out of
// this code: each decoder has a setjmp-based error handler and returns a message.
#ifndef CIMAGECODEC_H
#define CIMAGECODEC_H
#include <stddef.h>
#include <stdint.h>

/// A decoded image: `width * height * 3` bytes, row-major RGB (free with tlc_image_free).
typedef struct {
    uint8_t *pixels;
    int width;
    int height;
    /// What the file is: "jpeg", "png" or "" when neither.
    char format[8];
    /// Why decoding failed (empty on success).
    char error[256];
} tlc_image;

/// Return codes of tlc_image_decode.
enum { TLC_IMAGE_OK = 0, TLC_IMAGE_UNKNOWN_FORMAT = 1, TLC_IMAGE_BROKEN = 2, TLC_IMAGE_TOO_LARGE = 3 };

/// Decodes a JPEG or PNG file held in memory. Images with more than `max_pixels`
/// pixels are refused before their pixels are decoded.
int tlc_image_decode(const uint8_t *data, size_t size, int64_t max_pixels, tlc_image *out);

void tlc_image_free(tlc_image *image);

#endif
