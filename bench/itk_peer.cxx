/*
 * itk_peer.cxx: the ITK pipeline that bench_score times and checks SegArena against.
 *
 * Why it exists: the performance claims of SegArena are "N times faster than ITK on the
 * same data, with the same answers". This file is that ITK side, written the way an ITK
 * user would (filters from ITK 5.2, no shortcuts of our own in the heavy parts), and
 * made exact to ../shared/spec/metrics.md so that the numbers can be compared:
 *  - overlap: LabelOverlapMeasuresImageFilter (source = prediction, target = reference);
 *  - surface: BinaryContourImageFilter with FullyConnected off, which marks the object
 *    voxels that have a face neighbour in the background, i.e. the spec's inner
 *    6-connected boundary. ITK's filter ignores neighbours outside the image, whereas
 *    the spec counts them as background, so when a mask touches the image border both
 *    masks are first padded by one background voxel (ConstantPadImageFilter);
 *  - distances: SignedMaurerDistanceMapImageFilter of each boundary image (exact EDT,
 *    UseImageSpacing on, SquaredDistance off; float output by default, as ITK users
 *    write it, or double on request), sampled at the voxels of
 *    the other boundary. A sampled voxel that lies in the boundary set itself gets a
 *    value <= 0 from the signed map (0 on the set's own contour, minus the depth inside
 *    it) while its true distance is 0, so the sample is clamped at 0;
 *  - statistics: HD, HD95 = max of the two directed P95s (numpy's linear percentile),
 *    ASSD, MASD, NSD(tau) computed from the sampled distances.
 * Threads: the global default and every filter's work units and thread count are set to
 * the requested number, so "1 thread" really runs on one core (bench_score prints the
 * CPU/wall ratio to show it).
 */
#include "itk_peer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <stdexcept>
#include <thread>
#include <vector>

#include "itkBinaryContourImageFilter.h"
#include "itkConstantPadImageFilter.h"
#include "itkImage.h"
#include "itkImportImageFilter.h"
#include "itkLabelOverlapMeasuresImageFilter.h"
#include "itkMultiThreaderBase.h"
#include "itkSignedMaurerDistanceMapImageFilter.h"

namespace {

using MaskImage = itk::Image<unsigned char, 3>;

double now_s()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

double cpu_s()
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

template <typename F> void limit_threads(F *filter, unsigned n)
{
    filter->SetNumberOfWorkUnits(n);
    filter->GetMultiThreader()->SetMaximumNumberOfThreads(n);
    filter->GetMultiThreader()->SetNumberOfWorkUnits(n);
}

/* numpy.percentile(v, q) with the default 'linear' method; v is sorted ascending */
double percentile_linear(const std::vector<double> &v, double q)
{
    const size_t n = v.size();
    if (n == 1)
        return v[0];
    double idx = q / 100.0 * (double)(n - 1);
    size_t lo = (size_t)std::floor(idx);
    if (lo >= n - 1)
        return v[n - 1];
    double t = idx - (double)lo;
    double a = v[lo], b = v[lo + 1], diff = b - a;
    return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

bool touches_border(const uint8_t *m, const size_t s[3])
{
    const size_t nx = s[0], ny = s[1], nz = s[2];
    for (size_t z = 0; z < nz; z++)
        for (size_t y = 0; y < ny; y++) {
            const uint8_t *row = m + nx * (y + ny * z);
            if (z == 0 || z == nz - 1 || y == 0 || y == ny - 1) {
                for (size_t x = 0; x < nx; x++)
                    if (row[x])
                        return true;
            } else if (row[0] || row[nx - 1]) {
                return true;
            }
        }
    return false;
}

MaskImage::Pointer import_mask(const uint8_t *buf, const size_t size[3], const double spacing[3],
                               unsigned threads)
{
    using Import = itk::ImportImageFilter<unsigned char, 3>;
    auto imp = Import::New();
    limit_threads(imp.GetPointer(), threads);
    Import::SizeType sz;
    Import::IndexType start;
    start.Fill(0);
    double sp[3], origin[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        sz[i] = size[i];
        sp[i] = spacing[i];
    }
    Import::RegionType region(start, sz);
    imp->SetRegion(region);
    imp->SetSpacing(sp);
    imp->SetOrigin(origin);
    const size_t n = size[0] * size[1] * size[2];
    /* no copy: ITK reads the caller's buffer and does not own it */
    imp->SetImportPointer(const_cast<unsigned char *>(buf), n, false);
    imp->Update();
    MaskImage::Pointer img = imp->GetOutput();
    img->DisconnectPipeline();
    return img;
}

MaskImage::Pointer pad_one(MaskImage *in, unsigned threads)
{
    using Pad = itk::ConstantPadImageFilter<MaskImage, MaskImage>;
    auto pad = Pad::New();
    limit_threads(pad.GetPointer(), threads);
    MaskImage::SizeType one;
    one.Fill(1);
    pad->SetInput(in);
    pad->SetPadLowerBound(one);
    pad->SetPadUpperBound(one);
    pad->SetConstant(0);
    pad->Update();
    MaskImage::Pointer out = pad->GetOutput();
    out->DisconnectPipeline();
    return out;
}

MaskImage::Pointer contour(MaskImage *in, unsigned threads, uint64_t *count)
{
    using Contour = itk::BinaryContourImageFilter<MaskImage, MaskImage>;
    auto f = Contour::New();
    limit_threads(f.GetPointer(), threads);
    f->SetInput(in);
    f->SetFullyConnected(false); /* face neighbours: the spec's 6-connected boundary */
    f->SetForegroundValue(1);
    f->SetBackgroundValue(0);
    f->Update();
    MaskImage::Pointer out = f->GetOutput();
    out->DisconnectPipeline();
    const unsigned char *p = out->GetBufferPointer();
    const size_t n = out->GetBufferedRegion().GetNumberOfPixels();
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += p[i] != 0;
    *count = c;
    return out;
}

template <typename DistImage>
typename DistImage::Pointer maurer(MaskImage *border, unsigned threads)
{
    using Maurer = itk::SignedMaurerDistanceMapImageFilter<MaskImage, DistImage>;
    auto f = Maurer::New();
    limit_threads(f.GetPointer(), threads);
    f->SetInput(border);
    f->SetUseImageSpacing(true);
    f->SetSquaredDistance(false);
    f->SetInsideIsPositive(false);
    f->SetBackgroundValue(0);
    f->Update();
    typename DistImage::Pointer out = f->GetOutput();
    out->DisconnectPipeline();
    return out;
}

/* distances at the voxels of `at` in the map `dist` (clamped at 0, see the top) */
template <typename DistImage>
std::vector<double> sample(const MaskImage *at, const DistImage *dist, uint64_t expected)
{
    std::vector<double> v;
    v.reserve(expected);
    const unsigned char *m = at->GetBufferPointer();
    const auto *d = dist->GetBufferPointer();
    const size_t n = at->GetBufferedRegion().GetNumberOfPixels();
    for (size_t i = 0; i < n; i++)
        if (m[i])
            v.push_back(d[i] > 0 ? (double)d[i] : 0.0);
    return v;
}

template <typename DistImage>
void run(const uint8_t *ref, const uint8_t *pred, const size_t size[3], const double spacing[3],
         double tau, unsigned threads, bench_itk_result *out)
{
    itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads);

    double t0 = now_s();
    MaskImage::Pointer r = import_mask(ref, size, spacing, threads);
    MaskImage::Pointer t = import_mask(pred, size, spacing, threads);
    double t1 = now_s();
    out->t_import = t1 - t0;

    using Overlap = itk::LabelOverlapMeasuresImageFilter<MaskImage>;
    auto ov = Overlap::New();
    limit_threads(ov.GetPointer(), threads);
    ov->SetSourceImage(t);
    ov->SetTargetImage(r);
    ov->Update();
    const auto &sets = ov->GetLabelSetMeasures();
    auto one = sets.find(1), zero = sets.find(0);
    if (one == sets.end() || zero == sets.end())
        throw std::runtime_error("masks must hold both 0 and 1 voxels");
    out->pred_voxels = one->second.m_Source;
    out->ref_voxels = one->second.m_Target;
    out->tp = one->second.m_Intersection;
    out->tn = zero->second.m_Intersection;
    out->fp = out->pred_voxels - out->tp;
    out->fn = out->ref_voxels - out->tp;
    out->dice = ov->GetDiceCoefficient(1);
    out->jaccard = ov->GetJaccardCoefficient(1);
    out->sensitivity = ov->GetTargetOverlap(1);
    out->specificity = ov->GetTargetOverlap(0);
    out->ppv = 1.0 - ov->GetFalsePositiveError(1);
    double t2 = now_s();
    out->t_overlap = t2 - t1;

    if (out->pred_voxels == 0 || out->ref_voxels == 0)
        throw std::runtime_error("an empty mask has no surface distances");
    out->padded = touches_border(ref, size) || touches_border(pred, size);
    if (out->padded) {
        r = pad_one(r, threads);
        t = pad_one(t, threads);
    }
    double t3 = now_s();
    out->t_import += t3 - t2;

    MaskImage::Pointer br = contour(r, threads, &out->ref_surface_voxels);
    MaskImage::Pointer bt = contour(t, threads, &out->pred_surface_voxels);
    r = nullptr;
    t = nullptr;
    double t4 = now_s();
    out->t_contour = t4 - t3;

    /* one map at a time, sampled right away: half the peak memory */
    typename DistImage::Pointer dr = maurer<DistImage>(br, threads);
    double t5 = now_s();
    std::vector<double> d_tr = sample<DistImage>(bt, dr, out->pred_surface_voxels);
    dr = nullptr;
    double t6 = now_s();
    typename DistImage::Pointer dt = maurer<DistImage>(bt, threads);
    double t7 = now_s();
    std::vector<double> d_rt = sample<DistImage>(br, dt, out->ref_surface_voxels);
    dt = nullptr;
    out->t_maurer = (t5 - t4) + (t7 - t6);

    double sum_tr = 0, sum_rt = 0;
    uint64_t in_tr = 0, in_rt = 0;
    for (double d : d_tr) {
        sum_tr += d;
        in_tr += d <= tau;
    }
    for (double d : d_rt) {
        sum_rt += d;
        in_rt += d <= tau;
    }
    std::sort(d_tr.begin(), d_tr.end());
    std::sort(d_rt.begin(), d_rt.end());
    out->hd_pred_to_ref = d_tr.back();
    out->hd_ref_to_pred = d_rt.back();
    out->hd = std::max(out->hd_pred_to_ref, out->hd_ref_to_pred);
    out->p95_pred_to_ref = percentile_linear(d_tr, 95.0);
    out->p95_ref_to_pred = percentile_linear(d_rt, 95.0);
    out->hd95 = std::max(out->p95_pred_to_ref, out->p95_ref_to_pred);
    const double nt = (double)d_tr.size(), nr = (double)d_rt.size();
    out->assd = (sum_tr + sum_rt) / (nt + nr);
    out->masd = (sum_tr / nt + sum_rt / nr) / 2.0;
    out->nsd = (double)(in_tr + in_rt) / (nt + nr);
    double t8 = now_s();
    out->t_stats = (t6 - t5) + (t8 - t7);
    out->t_total = t8 - t0;
}

} // namespace

extern "C" int bench_itk_score(const uint8_t *ref, const uint8_t *pred, const size_t size[3],
                               const double spacing[3], double tau_mm, int threads,
                               int double_maps, bench_itk_result *out)
{
    std::memset(out, 0, sizeof *out);
    unsigned n = threads > 0 ? (unsigned)threads : std::thread::hardware_concurrency();
    if (n == 0)
        n = 1;
    out->threads = (int)n;
    double c0 = cpu_s();
    try {
        if (double_maps)
            run<itk::Image<double, 3>>(ref, pred, size, spacing, tau_mm, n, out);
        else
            run<itk::Image<float, 3>>(ref, pred, size, spacing, tau_mm, n, out);
        out->double_maps = double_maps != 0;
    } catch (const itk::ExceptionObject &e) {
        std::snprintf(out->error, sizeof out->error, "ITK: %s", e.GetDescription());
        return -1;
    } catch (const std::exception &e) {
        std::snprintf(out->error, sizeof out->error, "ITK peer: %s", e.what());
        return -1;
    }
    out->cpu_total = cpu_s() - c0;
    return 0;
}
