/*
 * image_isolated.h: the record segarena-read-image (read_image_main.c) writes on
 * its standard output for image_isolated.c: one fixed header, then the voxels.
 */
#ifndef SEGARENA_IMAGE_ISOLATED_H
#define SEGARENA_IMAGE_ISOLATED_H

#include <stdint.h>

#include "datasets.h"

#define SA_ISOLATED_MAGIC "SAI1"

typedef struct sa_isolated_record {
    char magic[4];      /* SA_ISOLATED_MAGIC */
    int32_t rc;         /* sa_image_read_like's: 0, -1 or -2 */
    int32_t type;       /* sa_pixel_type, when rc == 0 */
    uint64_t size[3];
    double spacing[3], origin[3], direction[9];
    uint64_t data_bytes; /* voxel bytes that follow, when rc == 0 */
    char msg[512];      /* the refusal, when rc != 0 */
} sa_isolated_record;

#endif
