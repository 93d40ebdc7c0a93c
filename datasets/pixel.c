/*
 * pixel.c: small helpers about pixel types, voxel counts and file names, shared
 * by the C image code and the ITK module (which is loaded at run time and
 * carries its own copy of this file).
 */
#include <stdint.h>
#include <string.h>

#include "image_internal.h"

size_t sa_pixel_size(sa_pixel_type t) {
    switch (t) {
    case SA_PIXEL_U8:
    case SA_PIXEL_I8: return 1;
    case SA_PIXEL_U16:
    case SA_PIXEL_I16: return 2;
    case SA_PIXEL_U32:
    case SA_PIXEL_I32:
    case SA_PIXEL_F32: return 4;
    case SA_PIXEL_U64:
    case SA_PIXEL_I64:
    case SA_PIXEL_F64: return 8;
    }
    return 0;
}

const char *sa_pixel_type_name(sa_pixel_type t) {
    switch (t) {
    case SA_PIXEL_U8: return "uint8";
    case SA_PIXEL_I8: return "int8";
    case SA_PIXEL_U16: return "uint16";
    case SA_PIXEL_I16: return "int16";
    case SA_PIXEL_U32: return "uint32";
    case SA_PIXEL_I32: return "int32";
    case SA_PIXEL_U64: return "uint64";
    case SA_PIXEL_I64: return "int64";
    case SA_PIXEL_F32: return "float32";
    case SA_PIXEL_F64: return "float64";
    }
    return "unknown";
}

int sa_has_suffix(const char *name, const char *suffix) {
    size_t n = strlen(name), m = strlen(suffix);
    if (m > n) return 0;
    const char *tail = name + (n - m);
    for (size_t i = 0; i < m; i++) {
        char a = tail[i], b = suffix[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
        if (a != b) return 0;
    }
    return 1;
}

size_t sa_image_voxel_count(const sa_image *img) {
    size_t n = 1;
    for (int i = 0; i < 3; i++) {
        size_t s = img->size[i];
        if (s == 0 || n > SIZE_MAX / s) return 0;
        n *= s;
    }
    return n;
}
