/*
 * itk_peer.h: the reference pipeline that bench_score compares SegArena against,
 * built from ITK 5.2's own filters (itk_peer.cxx is the only C++ of bench/).
 *
 * It is what a careful ITK user would write to get the spec's metrics:
 * LabelOverlapMeasuresImageFilter for overlap; BinaryContourImageFilter for the inner
 * 6-connected boundary; one SignedMaurerDistanceMapImageFilter map per boundary
 * (exact Euclidean, image spacing on), sampled at the other boundary's voxels; then
 * HD, HD95 (max of the directed P95s, numpy-linear), ASSD and NSD as
 * ../shared/spec/metrics.md defines them.
 */
#ifndef SEGARENA_BENCH_ITK_PEER_H
#define SEGARENA_BENCH_ITK_PEER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bench_itk_result {
    /* counts */
    uint64_t tp, fp, fn, tn, ref_voxels, pred_voxels;
    uint64_t ref_surface_voxels, pred_surface_voxels;
    /* overlap, from the filter's getters */
    double dice, jaccard, sensitivity, specificity, ppv;
    /* surface distances, mm */
    double hd, hd95, assd, masd, nsd;
    double hd_pred_to_ref, hd_ref_to_pred, p95_pred_to_ref, p95_ref_to_pred;
    int padded; /* a mask touched the image border: padded by one background voxel */
    /* wall-clock seconds of each part, and process CPU seconds of the whole call */
    double t_import, t_overlap, t_contour, t_maurer, t_stats, t_total, cpu_total;
    int threads;
    int double_maps; /* distance maps held as double (else float) */
    char error[256];
} bench_itk_result;

/* Runs the ITK pipeline on two masks of 0/1 bytes (x fastest) with `threads` threads
 * (<= 0: all cores; 1: really one thread, ITK's pool and every filter limited to one
 * work unit). Distance maps are float images, as ITK users write it (and as the
 * issue's timings were taken), or double images when double_maps != 0 (slower, exact to
 * the last bit). Both masks must have at least one voxel. Returns 0, or -1 with
 * out->error set. */
int bench_itk_score(const uint8_t *ref, const uint8_t *pred, const size_t size[3],
                    const double spacing[3], double tau_mm, int threads, int double_maps,
                    bench_itk_result *out);

#ifdef __cplusplus
}
#endif
#endif
