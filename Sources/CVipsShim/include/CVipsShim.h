#ifndef CVIPSSHIM_H
#define CVIPSSHIM_H

#include <stddef.h>
#include <stdint.h>

/// Source formats the renderer accepts; anything else is refused before decoding.
typedef enum {
    CVS_FORMAT_UNSUPPORTED = 0,
    CVS_FORMAT_JPEG = 1,
    CVS_FORMAT_PNG = 2,
    CVS_FORMAT_WEBP = 3,
    CVS_FORMAT_GIF = 4,
    CVS_FORMAT_AVIF = 5,
    CVS_FORMAT_TIFF = 6,
    /// Read through librsvg; only ever given SVGs the server has sanitized.
    CVS_FORMAT_SVG = 7,
} cvs_format;

typedef enum {
    /// Scale to cover the box, then crop the overflow around the centre.
    CVS_RESIZE_COVER = 0,
    /// Scale to fit inside the box, keeping the aspect ratio.
    CVS_RESIZE_CONTAIN = 1,
    /// Stretch to the box exactly.
    CVS_RESIZE_FILL = 2,
} cvs_resize;

/// Where a cover crop is cut from (imgproxy's gravity types).
typedef enum {
    CVS_GRAVITY_CENTRE = 0,
    CVS_GRAVITY_NORTH = 1,
    CVS_GRAVITY_SOUTH = 2,
    CVS_GRAVITY_EAST = 3,
    CVS_GRAVITY_WEST = 4,
    CVS_GRAVITY_NORTH_EAST = 5,
    CVS_GRAVITY_NORTH_WEST = 6,
    CVS_GRAVITY_SOUTH_EAST = 7,
    CVS_GRAVITY_SOUTH_WEST = 8,
    /// libvips' attention measure picks the crop; offsets do not apply.
    CVS_GRAVITY_SMART = 9,
    /// The crop is centred on (x_offset, y_offset), fractions of the scaled image.
    CVS_GRAVITY_FOCUS_POINT = 10,
} cvs_gravity;

typedef struct {
    /// Target size; 0 leaves that side to follow the aspect ratio (both 0: no resize).
    int width;
    int height;
    cvs_resize resize;
    /// Output encoding (never CVS_FORMAT_UNSUPPORTED, CVS_FORMAT_TIFF or CVS_FORMAT_SVG).
    cvs_format format;
    /// 1...100, for the lossy encoders.
    int quality;
    /// Where a cover crop is cut, and the offsets from that edge: pixels, or a fraction of the
    /// scaled image when |offset| < 1. Only a cover with both sides given is cut.
    cvs_gravity gravity;
    double x_offset;
    double y_offset;
} cvs_render_options;

/// Starts libvips once per process: operation cache off, one libvips thread per call,
/// loaders and savers marked untrusted blocked but the SVG loader (its input is sanitized
/// first: no external references reach librsvg). Returns 0 on success.
int cvs_initialize(void);

/// An encoded image: a file (`path` set; libvips reads it as it decodes, so memory stays small
/// whatever the file's size) or bytes in memory.
typedef struct {
    const char *path;
    const void *bytes;
    size_t length;
} cvs_source;

/// Reads only the header of an encoded image: its format and the size of one page.
/// Returns 0 on success, -1 when libvips cannot read it (the reason via cvs_take_error).
int cvs_probe(const cvs_source *source, cvs_format *format, int *width, int *height, int *pages);

/// Decodes with shrink-on-load, resizes and encodes. On success returns 0 and stores a buffer
/// the caller frees with cvs_free, its length and the output size.
int cvs_render(const cvs_source *source, const cvs_render_options *options,
               void **output, size_t *output_length, int *output_width, int *output_height);

/// Frees a buffer from cvs_render.
void cvs_free(void *buffer);

/// The accumulated libvips error text (caller frees with cvs_free), clearing it.
char *cvs_take_error(void);

/// Drops libvips' per-thread state; call before a worker thread ends.
void cvs_thread_shutdown(void);

#endif
