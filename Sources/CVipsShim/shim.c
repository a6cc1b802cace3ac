// Non-variadic wrappers over libvips: Swift cannot call C variadic functions.
#define _GNU_SOURCE  // strcasestr
#include "CVipsShim.h"
#include <math.h>
#include <string.h>
#include <stdio.h>
#include <vips/vips.h>

static void ignore_log(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data) {
    (void)domain; (void)level; (void)message; (void)data;
}

int cvs_initialize(void) {
    if (VIPS_INIT("storage-api") != 0) return -1;
    // Rendered results are cached in the object store; libvips' operation cache would only keep
    // decoded sources alive between requests.
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    // Parallelism comes from the worker pool; libvips threads inside each call would oversubscribe.
    vips_concurrency_set(1);
    // Refuse loaders that parse untrusted input poorly (ImageMagick, PDF...).
    vips_block_untrusted_set(TRUE);
    // SVG sources are sanitized before libvips sees them (scripts, foreign content and every
    // reference outside the document removed), and only rows typed image/svg+xml go this way.
    vips_operation_block_set("VipsForeignLoadSvg", FALSE);
    // Decoder warnings about damaged input would go to stderr unstructured; failures are
    // reported through the error buffer instead.
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO, ignore_log, NULL);
    return 0;
}

static cvs_format format_of_loader(const char *loader) {
    if (loader == NULL) return CVS_FORMAT_UNSUPPORTED;
    if (strcasestr(loader, "jpeg")) return CVS_FORMAT_JPEG;
    if (strcasestr(loader, "png")) return CVS_FORMAT_PNG;
    if (strcasestr(loader, "webp")) return CVS_FORMAT_WEBP;
    if (strcasestr(loader, "gif")) return CVS_FORMAT_GIF;
    if (strcasestr(loader, "heif")) return CVS_FORMAT_AVIF;
    if (strcasestr(loader, "tiff")) return CVS_FORMAT_TIFF;
    if (strcasestr(loader, "svg")) return CVS_FORMAT_SVG;
    return CVS_FORMAT_UNSUPPORTED;
}

int cvs_probe(const cvs_source *source, cvs_format *format, int *width, int *height, int *pages) {
    *format = format_of_loader(source->path ? vips_foreign_find_load(source->path)
                                            : vips_foreign_find_load_buffer(source->bytes, source->length));
    if (*format == CVS_FORMAT_UNSUPPORTED) return -1;
    // Header only: libvips decodes pixels lazily.
    VipsImage *image = source->path ? vips_image_new_from_file(source->path, NULL)
                                    : vips_image_new_from_buffer(source->bytes, source->length, "", NULL);
    if (image == NULL) return -1;
    *width = vips_image_get_width(image);
    *height = vips_image_get_page_height(image);
    *pages = vips_image_get_n_pages(image);
    g_object_unref(image);
    return 0;
}

static const char *saver_suffix(cvs_format format) {
    switch (format) {
    case CVS_FORMAT_JPEG: return ".jpg";
    case CVS_FORMAT_PNG: return ".png";
    case CVS_FORMAT_WEBP: return ".webp";
    case CVS_FORMAT_GIF: return ".gif";
    case CVS_FORMAT_AVIF: return ".avif";
    default: return NULL;
    }
}

/// The thumbnail box that scales the source to cover `box_width` x `box_height`: the side that
/// binds gets its size, the other is left free, so the bound side comes out exact. Read from the
/// header alone; the EXIF orientation counts, as the thumbnail operation turns the image upright
/// before it scales.
static int cover_box(const cvs_source *source, int box_width, int box_height, int *width, int *height) {
    VipsImage *header = source->path ? vips_image_new_from_file(source->path, NULL)
                                     : vips_image_new_from_buffer(source->bytes, source->length, "", NULL);
    if (header == NULL) return -1;
    double source_width = vips_image_get_width(header);
    double source_height = vips_image_get_page_height(header);
    if (vips_image_get_orientation_swap(header)) {
        double swap = source_width;
        source_width = source_height;
        source_height = swap;
    }
    g_object_unref(header);
    if ((double)box_width / source_width >= (double)box_height / source_height) {
        *width = box_width;
        *height = VIPS_MAX_COORD;
    } else {
        *width = VIPS_MAX_COORD;
        *height = box_height;
    }
    return 0;
}

/// imgproxy's offset: pixels, or a fraction of the side below 1 in magnitude. Any number may
/// come from a client; beyond the largest image it moves the crop no further (and converting
/// a larger double to int would be undefined), so it is bounded first.
static int offset_pixels(double offset, int side) {
    double pixels = fabs(offset) < 1 ? offset * side : offset;
    if (pixels > VIPS_MAX_COORD) pixels = VIPS_MAX_COORD;
    if (pixels < -VIPS_MAX_COORD) pixels = -VIPS_MAX_COORD;
    return (int)round(pixels);
}

/// Cuts `crop_width` x `crop_height` out of `image` where the gravity puts it (imgproxy's
/// rules: offsets move away from the named edge, the centre shifts by them, a focus point is
/// the crop's centre), kept inside the image.
static int place_crop(VipsImage *image, const cvs_render_options *options, int crop_width, int crop_height, VipsImage **out) {
    int width = vips_image_get_width(image), height = vips_image_get_height(image);
    int left, top;
    if (options->gravity == CVS_GRAVITY_FOCUS_POINT) {
        left = (int)round(width * options->x_offset) - crop_width / 2;
        top = (int)round(height * options->y_offset) - crop_height / 2;
    } else {
        int dx = offset_pixels(options->x_offset, width), dy = offset_pixels(options->y_offset, height);
        left = (width - crop_width + 1) / 2 + dx;
        top = (height - crop_height + 1) / 2 + dy;
        switch (options->gravity) {
        case CVS_GRAVITY_NORTH: case CVS_GRAVITY_NORTH_EAST: case CVS_GRAVITY_NORTH_WEST: top = dy; break;
        case CVS_GRAVITY_SOUTH: case CVS_GRAVITY_SOUTH_EAST: case CVS_GRAVITY_SOUTH_WEST: top = height - crop_height - dy; break;
        default: break;
        }
        switch (options->gravity) {
        case CVS_GRAVITY_EAST: case CVS_GRAVITY_NORTH_EAST: case CVS_GRAVITY_SOUTH_EAST: left = width - crop_width - dx; break;
        case CVS_GRAVITY_WEST: case CVS_GRAVITY_NORTH_WEST: case CVS_GRAVITY_SOUTH_WEST: left = dx; break;
        default: break;
        }
    }
    left = left < 0 ? 0 : (left > width - crop_width ? width - crop_width : left);
    top = top < 0 ? 0 : (top > height - crop_height ? height - crop_height : top);
    return vips_extract_area(image, out, left, top, crop_width, crop_height, NULL);
}

int cvs_render(const cvs_source *source, const cvs_render_options *options,
               void **output, size_t *output_length, int *output_width, int *output_height) {
    const char *suffix = saver_suffix(options->format);
    if (suffix == NULL) {
        vips_error("storage-api", "unsupported output format");
        return -1;
    }
    int width = options->width > 0 ? options->width : VIPS_MAX_COORD;
    int height = options->height > 0 ? options->height : VIPS_MAX_COORD;
    VipsSize size = VIPS_SIZE_DOWN;
    VipsInteresting crop = VIPS_INTERESTING_NONE;
    // A cover cut anywhere but the plain centre is scaled to cover first and cut here.
    int placed = 0;
    if (options->width > 0 && options->height > 0) {
        if (options->resize == CVS_RESIZE_COVER) {
            if (options->gravity == CVS_GRAVITY_SMART) {
                crop = VIPS_INTERESTING_ATTENTION;
            } else if (options->gravity == CVS_GRAVITY_CENTRE && options->x_offset == 0 && options->y_offset == 0) {
                crop = VIPS_INTERESTING_CENTRE;
            } else {
                if (cover_box(source, options->width, options->height, &width, &height) != 0) return -1;
                placed = 1;
            }
        }
        if (options->resize == CVS_RESIZE_FILL) size = VIPS_SIZE_FORCE;
    }

    VipsImage *image = NULL;
    // The thumbnail operation shrinks while decoding (JPEG DCT scaling, WebP and HEIF
    // subsampling), so a large source is never decoded at full size when a small one is asked for.
    // A file's load options travel in its name; a buffer's in option_string.
    char named[4096 + 32];
    if (source->path && snprintf(named, sizeof named, "%s[fail_on=error]", source->path) >= (int)sizeof named) {
        vips_error("storage-api", "temporary path too long");
        return -1;
    }
    int failed = source->path
        ? vips_thumbnail(named, &image, width, "height", height, "size", size, "crop", crop, NULL)
        : vips_thumbnail_buffer((void *)source->bytes, source->length, &image, width,
                                "height", height, "size", size, "crop", crop,
                                "option_string", "fail_on=error", NULL);
    if (failed != 0) return -1;
    if (placed) {
        VipsImage *cut = NULL;
        int crop_width = vips_image_get_width(image) < options->width ? vips_image_get_width(image) : options->width;
        int crop_height = vips_image_get_height(image) < options->height ? vips_image_get_height(image) : options->height;
        failed = place_crop(image, options, crop_width, crop_height, &cut);
        g_object_unref(image);
        if (failed != 0) return -1;
        image = cut;
    }
    char saver[64];
    if (options->format == CVS_FORMAT_PNG || options->format == CVS_FORMAT_GIF) {
        snprintf(saver, sizeof saver, "%s[strip]", suffix);
    } else {
        snprintf(saver, sizeof saver, "%s[Q=%d,strip]", suffix, options->quality);
    }
    int status = vips_image_write_to_buffer(image, saver, output, output_length, NULL);
    if (status == 0) {
        *output_width = vips_image_get_width(image);
        *output_height = vips_image_get_height(image);
    }
    g_object_unref(image);
    return status;
}

void cvs_free(void *buffer) { g_free(buffer); }

char *cvs_take_error(void) {
    return vips_error_buffer_copy();
}

void cvs_thread_shutdown(void) { vips_thread_shutdown(); }
