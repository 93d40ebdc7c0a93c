/*
 * itk_raters_peer.cxx: the ITK side of bench_raters: what ITK offers for the
 * multi-rater work (STAPLEImageFilter; ConnectedComponentImageFilter for the
 * lesions), timed on the same masks as SegArena's engine. Not part of the product.
 */
#include "itk_raters_peer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <vector>

#include "itkConnectedComponentImageFilter.h"
#include "itkImage.h"
#include "itkImportImageFilter.h"
#include "itkMultiThreaderBase.h"
#include "itkSTAPLEImageFilter.h"

namespace {
using MaskImage = itk::Image<unsigned char, 3>;
using LabelImage = itk::Image<unsigned int, 3>;
using ProbabilityImage = itk::Image<double, 3>;

MaskImage::Pointer wrap(const uint8_t *data, const size_t size[3], const double spacing[3]) {
    using Importer = itk::ImportImageFilter<unsigned char, 3>;
    auto importer = Importer::New();
    Importer::SizeType sz;
    Importer::IndexType start;
    start.Fill(0);
    double sp[3];
    for (int a = 0; a < 3; a++) sz[a] = size[a], sp[a] = spacing[a];
    Importer::RegionType region(start, sz);
    importer->SetRegion(region);
    importer->SetSpacing(sp);
    importer->SetImportPointer(const_cast<uint8_t *>(data), size[0] * size[1] * size[2], false);
    importer->Update();
    MaskImage::Pointer image = importer->GetOutput();
    image->DisconnectPipeline();
    return image;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
} // namespace

extern "C" int bench_itk_staple_and_components(const uint8_t *const *raters, size_t k, const uint8_t *const *masks,
                                               size_t n, const size_t size[3], const double spacing[3], int threads,
                                               int repeat, double *w_out, bench_itk_raters_result *out) {
    *out = bench_itk_raters_result{};
    if (k > BENCH_ITK_MAX_MASKS || n > BENCH_ITK_MAX_MASKS) {
        std::snprintf(out->error, sizeof out->error, "too many masks");
        return -1;
    }
    if (repeat < 1) repeat = 1;
    try {
        itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads);
        itk::MultiThreaderBase::SetGlobalMaximumNumberOfThreads(threads);
        using Staple = itk::STAPLEImageFilter<MaskImage, ProbabilityImage>;
        std::vector<MaskImage::Pointer> inputs;
        for (size_t i = 0; i < k; i++) inputs.push_back(wrap(raters[i], size, spacing));
        /* A new filter for each run, so that every Update computes; the import of
         * the masks (no copy) is outside the timed part, as for SegArena. */
        out->t_staple = HUGE_VAL;
        for (int run = 0; run < repeat; run++) {
            auto staple = Staple::New();
            staple->SetNumberOfWorkUnits(threads);
            for (size_t i = 0; i < k; i++) staple->SetInput(static_cast<unsigned int>(i), inputs[i]);
            staple->SetForegroundValue(1);
            staple->SetMaximumIterations(100);
            auto t0 = std::chrono::steady_clock::now();
            staple->Update();
            out->t_staple = std::min(out->t_staple, seconds_since(t0));
            if (run + 1 < repeat) continue;
            for (size_t i = 0; i < k; i++) {
                out->sensitivity[i] = staple->GetSensitivity(static_cast<unsigned int>(i));
                out->specificity[i] = staple->GetSpecificity(static_cast<unsigned int>(i));
            }
            out->staple_iterations = static_cast<int>(staple->GetElapsedIterations());
            if (w_out) {
                const double *w = staple->GetOutput()->GetBufferPointer(); /* x fastest, as ours */
                std::copy(w, w + size[0] * size[1] * size[2], w_out);
            }
        }

        using Components = itk::ConnectedComponentImageFilter<MaskImage, LabelImage>;
        std::vector<MaskImage::Pointer> images;
        for (size_t i = 0; i < n; i++) images.push_back(wrap(masks[i], size, spacing));
        out->t_components = HUGE_VAL;
        for (int run = 0; run < repeat; run++) {
            auto t0 = std::chrono::steady_clock::now();
            for (size_t i = 0; i < n; i++) {
                auto cc = Components::New();
                cc->SetNumberOfWorkUnits(threads);
                cc->SetInput(images[i]);
                cc->FullyConnectedOff(); /* 6-connectivity, the spec's default */
                cc->Update();
                out->components[i] = static_cast<uint32_t>(cc->GetObjectCount());
            }
            out->t_components = std::min(out->t_components, seconds_since(t0));
        }
    } catch (const std::exception &e) {
        std::snprintf(out->error, sizeof out->error, "%s", e.what());
        return -1;
    }
    return 0;
}
