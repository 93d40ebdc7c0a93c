// test_components_itk.cxx: sa_connected_components (metrics/components.c) against
// an independent implementation, ITK 5.2's ConnectedComponentImageFilter, on
// random masks (sparse and dense, several sizes). FullyConnected off is
// 6-connectivity in 3D, on is 26; ITK has no 18-connectivity, which
// tests/unit/test_components.c checks against a brute-force flood fill instead.
// ITK numbers components in its own order, so the test compares the component
// count and the multiset of component voxel counts, and checks that both
// labelings induce the same partition of the voxels.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <vector>

#include "itkConnectedComponentImageFilter.h"
#include "itkImage.h"

#include "metrics.h"

using MaskImage = itk::Image<unsigned char, 3>;
using LabelImage = itk::Image<std::uint32_t, 3>;

static int passed = 0, failed = 0;

static void check(bool ok, const char *what, size_t nx, size_t ny, size_t nz, int conn, double density) {
    if (ok) {
        passed++;
    } else {
        failed++;
        std::fprintf(stderr, "mismatch (%s): %zux%zux%zu, %d-connectivity, density %.3f\n", what, nx, ny, nz,
                     conn, density);
    }
}

static void compare(const std::vector<std::uint8_t> &mask, size_t nx, size_t ny, size_t nz, int conn,
                    double density) {
    MaskImage::Pointer img = MaskImage::New();
    MaskImage::RegionType region;
    MaskImage::SizeType size = {{nx, ny, nz}};
    region.SetSize(size);
    img->SetRegions(region);
    img->Allocate();
    // ITK's buffer is x fastest, then y, then z: the engine's layout.
    std::copy(mask.begin(), mask.end(), img->GetBufferPointer());

    using Filter = itk::ConnectedComponentImageFilter<MaskImage, LabelImage>;
    Filter::Pointer f = Filter::New();
    f->SetInput(img);
    f->SetFullyConnected(conn == 26);
    f->Update();
    const std::uint32_t *itk_lab = f->GetOutput()->GetBufferPointer();
    const size_t n = nx * ny * nz;
    const std::uint32_t itk_count = static_cast<std::uint32_t>(f->GetObjectCount());

    std::vector<std::uint32_t> lab(n);
    sa_grid g = {nx, ny, nz, {1.0, 1.0, 1.0}};
    sa_error err = {{0}};
    std::uint32_t count = 0;
    if (sa_connected_components(mask.data(), &g, conn, lab.data(), &count, &err) != 0) {
        std::fprintf(stderr, "sa_connected_components: %s\n", err.msg);
        check(false, "error", nx, ny, nz, conn, density);
        return;
    }
    check(count == itk_count, "component count", nx, ny, nz, conn, density);

    std::vector<std::uint64_t> ours(count + 1, 0), theirs(itk_count + 1, 0);
    std::map<std::uint32_t, std::uint32_t> to_itk; // our label -> ITK label
    bool partition = true;
    for (size_t i = 0; i < n; i++) {
        std::uint32_t a = lab[i], b = itk_lab[i];
        if ((a == 0) != (b == 0) || a > count || b > itk_count) {
            partition = false;
            break;
        }
        ours[a]++;
        theirs[b]++;
        if (a) {
            auto it = to_itk.emplace(a, b).first;
            if (it->second != b) partition = false;
        }
    }
    // a consistent map from our labels to ITK's with as many labels on each side
    // is a bijection: the same partition
    partition = partition && to_itk.size() == count && count == itk_count;
    check(partition, "partition", nx, ny, nz, conn, density);
    ours.erase(ours.begin());
    theirs.erase(theirs.begin());
    std::sort(ours.begin(), ours.end());
    std::sort(theirs.begin(), theirs.end());
    check(ours == theirs, "component sizes", nx, ny, nz, conn, density);
}

int main() {
    std::mt19937_64 rng(20160921);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const size_t sizes[][3] = {{1, 1, 1}, {7, 5, 3}, {16, 16, 16}, {33, 20, 9}, {64, 48, 32}, {181, 217, 12}};
    const double densities[] = {0.01, 0.05, 0.2, 0.35, 0.5, 0.7, 0.95};
    int masks = 0;
    for (const auto &s : sizes) {
        for (double d : densities) {
            for (int rep = 0; rep < 3; rep++) {
                std::vector<std::uint8_t> mask(s[0] * s[1] * s[2]);
                for (auto &v : mask) v = unit(rng) < d ? 1 : 0;
                compare(mask, s[0], s[1], s[2], 6, d);
                compare(mask, s[0], s[1], s[2], 26, d);
                masks++;
            }
        }
    }
    // blobs: random spheres, closer to lesion masks than noise
    for (int rep = 0; rep < 6; rep++) {
        const size_t nx = 96, ny = 80, nz = 40;
        std::vector<std::uint8_t> mask(nx * ny * nz, 0);
        for (int b = 0; b < 60; b++) {
            double cx = unit(rng) * nx, cy = unit(rng) * ny, cz = unit(rng) * nz, r = 0.6 + 3.5 * unit(rng);
            for (size_t z = 0; z < nz; z++)
                for (size_t y = 0; y < ny; y++)
                    for (size_t x = 0; x < nx; x++) {
                        double dx = x - cx, dy = y - cy, dz = z - cz;
                        if (dx * dx + dy * dy + dz * dz <= r * r) mask[x + nx * (y + ny * z)] = 1;
                    }
        }
        compare(mask, nx, ny, nz, 6, -1);
        compare(mask, nx, ny, nz, 26, -1);
        masks++;
    }
    std::printf("test_components_itk: %d masks, 6 and 26 connectivity: %d passed, %d failed\n", masks, passed,
                failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
