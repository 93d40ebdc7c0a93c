/*
 * itk_raters_peer.h: ITK 5.2's filters for the multi-rater part of the benchmark
 * (bench_raters): STAPLEImageFilter for the consensus and
 * ConnectedComponentImageFilter for the lesions of each mask, behind a C call.
 */
#ifndef SEGARENA_BENCH_ITK_RATERS_PEER_H
#define SEGARENA_BENCH_ITK_RATERS_PEER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_ITK_MAX_MASKS 40

typedef struct bench_itk_raters_result {
    double sensitivity[BENCH_ITK_MAX_MASKS], specificity[BENCH_ITK_MAX_MASKS];
    int staple_iterations; /* ITK's GetElapsedIterations: the 0-based index of the last iteration */
    uint32_t components[BENCH_ITK_MAX_MASKS]; /* per mask given for components */
    double t_staple, t_components; /* wall-clock seconds, the best of `repeat` runs each */
    char error[256];
} bench_itk_raters_result;

/* STAPLE of the k raters (whole image, foreground 1, at most 100 iterations),
 * then 6-connected components of each of the n masks, on `threads` threads;
 * each part run `repeat` times (a new filter each time) and its best time kept.
 * w_out (NULL, or one double per voxel) gets ITK's W, the STAPLE probability. */
int bench_itk_staple_and_components(const uint8_t *const *raters, size_t k, const uint8_t *const *masks,
                                    size_t n, const size_t size[3], const double spacing[3], int threads,
                                    int repeat, double *w_out, bench_itk_raters_result *out);

#ifdef __cplusplus
}
#endif
#endif
