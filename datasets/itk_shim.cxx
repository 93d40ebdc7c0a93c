/*
 * itk_shim.cxx: the only C++ in datasets/. It wraps ITK 5.2 behind the plain C
 * functions of image_internal.h: read any file ITK knows with the pixel type
 * the file holds (no conversion), read a DICOM series folder, and write an image.
 * Every ITK exception (and any other) is caught here and turned into
 * "<path>: <problem>" so no C++ exception crosses into C.
 */
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>
#include <sstream>
#include <string>
#include <strings.h>
#include <vector>

#include "itkGDCMImageIO.h"
#include "itkGDCMSeriesFileNames.h"
#include "itkImage.h"
#include "itkImageFileWriter.h"
#include "itkImageIOBase.h"
#include "itkImageIOFactory.h"
#include "itkImageSeriesReader.h"
#include "itkMetaDataObject.h"
#include "itkMetaImageIO.h"

#include "image_internal.h"

namespace {

using IOComponent = itk::IOComponentEnum;

/* Library code never prints: ITK warnings are switched off and MetaIO/GDCM's
 * direct writes to std::cerr/std::cout are swallowed while an ITK call runs (the
 * problem reaches the caller as an exception, turned into sa_error). Not
 * thread-safe with other code writing to std::cerr at the same moment. */
class QuietStreams {
  public:
    QuietStreams() : old_cerr_(std::cerr.rdbuf(sink_.rdbuf())), old_cout_(std::cout.rdbuf(sink_.rdbuf())) {
        itk::Object::GlobalWarningDisplayOff();
    }
    ~QuietStreams() {
        std::cerr.rdbuf(old_cerr_);
        std::cout.rdbuf(old_cout_);
    }
    QuietStreams(const QuietStreams &) = delete;
    QuietStreams &operator=(const QuietStreams &) = delete;

  private:
    std::ostringstream sink_;
    std::streambuf *old_cerr_;
    std::streambuf *old_cout_;
};

/* An ITK exception's description as one line: ITK's decorations ("ITK ERROR: ",
 * "itk::ERROR: NrrdImageIO(0x55d0c...): ", the source location) removed, and the
 * lines of a multi-line message (teem's biff traces) joined with "; ". */
std::string short_reason(const std::exception &e) {
    std::string text;
    if (auto *itk_error = dynamic_cast<const itk::ExceptionObject *>(&e))
        text = itk_error->GetDescription();
    else
        text = e.what();
    std::string joined;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        for (const char *tag : {"itk::ERROR: ", "ITK ERROR: "}) {
            size_t at = line.find(tag);
            if (at == std::string::npos) continue;
            line.erase(0, at + std::strlen(tag));
            size_t close = line.find("): ");
            if (close != std::string::npos && close < 80 && line.find('(') < close)
                line.erase(0, close + 3);
        }
        size_t a = line.find_first_not_of(" \t\r");
        size_t b = line.find_last_not_of(" \t\r");
        if (a == std::string::npos) continue;
        line = line.substr(a, b - a + 1);
        /* teem's biff lines: "[nrrd] _nrrdRead: trouble reading NRRD file" */
        if (line[0] == '[') {
            size_t close = line.find("] ");
            if (close != std::string::npos && close < 16) line.erase(0, close + 2);
        }
        size_t id = 0;
        while (id < line.size() && (std::isalnum((unsigned char)line[id]) || line[id] == '_')) id++;
        /* "func: msg" or "func:msg", not "std::bad_alloc" */
        if (id > 0 && line.compare(id, 1, ":") == 0 && line.compare(id, 2, "::") != 0 &&
            line.find(' ') > id)
            line.erase(0, line.compare(id, 2, ": ") == 0 ? id + 2 : id + 1);
        if (line.empty() || line == "trouble" || line.compare(0, 15, "trouble reading") == 0 ||
            (line.compare(0, 14, "Error reading ") == 0 && line.back() == ':'))
            continue; /* the generic layers of the trace: the cause is in the others */
        if (!joined.empty()) joined += "; ";
        joined += line;
        if (joined.size() > 400) break;
    }
    return joined.empty() ? std::string("unknown ITK error") : joined;
}

int set_error(sa_error *err, const char *path, const std::string &problem) {
    return sa_error_set(err, "%s: %s", path, problem.c_str());
}

/* Maps ITK's component type to ours; false when there is no match. */
bool pixel_type_from_itk(IOComponent c, sa_pixel_type *t) {
    switch (c) {
    case IOComponent::UCHAR: *t = SA_PIXEL_U8; return true;
    case IOComponent::CHAR: *t = SA_PIXEL_I8; return true;
    case IOComponent::USHORT: *t = SA_PIXEL_U16; return true;
    case IOComponent::SHORT: *t = SA_PIXEL_I16; return true;
    case IOComponent::UINT: *t = SA_PIXEL_U32; return true;
    case IOComponent::INT: *t = SA_PIXEL_I32; return true;
    case IOComponent::ULONG: *t = sizeof(unsigned long) == 8 ? SA_PIXEL_U64 : SA_PIXEL_U32; return true;
    case IOComponent::LONG: *t = sizeof(long) == 8 ? SA_PIXEL_I64 : SA_PIXEL_I32; return true;
    case IOComponent::ULONGLONG: *t = SA_PIXEL_U64; return true;
    case IOComponent::LONGLONG: *t = SA_PIXEL_I64; return true;
    case IOComponent::FLOAT: *t = SA_PIXEL_F32; return true;
    case IOComponent::DOUBLE: *t = SA_PIXEL_F64; return true;
    default: return false;
    }
}

/* Checks what ReadImageInformation found: 2D or 3D scalar (extra dimensions of
 * size 1 allowed), known component type. Fills size, spacing, origin, direction
 * (missing dimensions get size 1, spacing 1, origin 0, identity direction). */
int describe_from_io(const char *path, itk::ImageIOBase *io, sa_image *out, sa_error *err) {
    const unsigned dims = io->GetNumberOfDimensions();
    if (dims == 0) return set_error(err, path, "image has no dimensions");
    for (unsigned d = 3; d < dims; d++) {
        if (io->GetDimensions(d) != 1)
            return sa_error_set(err, "%s: %uD image (dimension %u has size %zu); only 2D and 3D "
                                "images are supported", path, dims, d + 1,
                                (size_t)io->GetDimensions(d));
    }
    if (io->GetNumberOfComponents() != 1 || io->GetPixelType() != itk::IOPixelEnum::SCALAR)
        return sa_error_set(err, "%s: vector or multi-component pixels (%s, %u components) are "
                            "not supported; a label image has one value per voxel", path,
                            itk::ImageIOBase::GetPixelTypeAsString(io->GetPixelType()).c_str(),
                            io->GetNumberOfComponents());
    if (!pixel_type_from_itk(io->GetComponentType(), &out->type))
        return sa_error_set(err, "%s: unsupported pixel component type %s", path,
                            itk::ImageIOBase::GetComponentTypeAsString(io->GetComponentType()).c_str());
    for (unsigned i = 0; i < 3; i++) {
        out->size[i] = i < dims ? (size_t)io->GetDimensions(i) : 1;
        out->spacing[i] = i < dims ? io->GetSpacing(i) : 1.0;
        out->origin[i] = i < dims ? io->GetOrigin(i) : 0.0;
        for (unsigned j = 0; j < 3; j++) {
            /* direction[i*3+j]: row i (world axis), column j (image axis) */
            double v;
            if (i < dims && j < dims) v = io->GetDirection(j)[i];
            else v = i == j ? 1.0 : 0.0;
            out->direction[i * 3 + j] = v;
        }
    }
    return 0;
}

/* MetaIO's own reading of ElementDataFile must agree with what
 * metaimage_check.c accepted before ITK opened the file: .mha LOCAL, .mhd LOCAL
 * or one plain file name (checked again here on MetaIO's parse, before Read). */
bool metaimage_data_file_ok(const char *path, itk::ImageIOBase *io, std::string *problem) {
    auto *meta = dynamic_cast<itk::MetaImageIO *>(io);
    if (!meta) return true;
    std::string name = meta->GetMetaImagePointer()->ElementDataFileName();
    bool local = name.size() == 5 && strncasecmp(name.c_str(), "LOCAL", 5) == 0;
    if (local) return true;
    size_t len = std::strlen(path);
    bool mha = len >= 4 && strcasecmp(path + len - 4, ".mha") == 0;
    if (!mha && !name.empty() && name != "." && name != ".." &&
        name.find_first_of("/\\% \t") == std::string::npos && name.compare(0, 4, "LIST") != 0)
        return true;
    *problem = "ElementDataFile '" + name + "' is not allowed (" +
               (mha ? "a .mha file must hold its own voxel data" : "one plain file name in the "
                                                                  "header's folder") + ")";
    return false;
}

int read_file(const char *path, sa_header_check_fn check, void *ctx, sa_image *out,
              sa_error *err) {
    itk::ImageIOBase::Pointer io =
        itk::ImageIOFactory::CreateImageIO(path, itk::ImageIOFactory::FileModeEnum::ReadMode);
    if (!io) return set_error(err, path, "unknown or unreadable image format");
    io->SetFileName(path);
    io->ReadImageInformation();
    if (describe_from_io(path, io, out, err) != 0) return -1;
    std::string problem;
    if (!metaimage_data_file_ok(path, io, &problem)) return set_error(err, path, problem);
    if (check) {
        int rc = check(out, ctx, err);
        if (rc != 0) return rc;
    }

    size_t voxels = sa_image_voxel_count(out);
    if (voxels == 0) return set_error(err, path, "image is empty or too large");
    size_t bytes = voxels * sa_pixel_size(out->type);
    if (bytes / sa_pixel_size(out->type) != voxels) return set_error(err, path, "image is too large");
    /* zeroed: whatever a reader might leave unwritten is never old heap memory */
    out->data = std::calloc(bytes ? bytes : 1, 1);
    if (!out->data) return set_error(err, path, "out of memory");

    /* Read the whole region straight into our buffer: no ImageFileReader, no copy. */
    const unsigned dims = io->GetNumberOfDimensions();
    itk::ImageIORegion region(dims);
    for (unsigned d = 0; d < dims; d++) {
        region.SetIndex(d, 0);
        region.SetSize(d, io->GetDimensions(d));
    }
    io->SetIORegion(region);
    io->Read(out->data);
    return 0;
}

/* ITK reads a series with a missing slice as evenly spaced (it averages the
 * spacing and only warns), which misplaces every slice after the gap. The
 * slices' ImagePositionPatient (0020,0032), projected on the slice normal and
 * sorted, must step evenly: within 5 % of the step and 0.01 mm. */
template <typename Dicts, typename Direction>
int check_slice_spacing(const char *path, const Dicts *dicts, const Direction &dir,
                        sa_error *err) {
    if (!dicts || dicts->size() < 3) return 0;
    std::vector<double> pos;
    for (size_t i = 0; i < dicts->size(); i++) {
        std::string value;
        if (!itk::ExposeMetaData<std::string>(*(*dicts)[i], "0020|0032", value))
            return sa_error_set(err, "%s: slice %zu has no Image Position (Patient) (0020,0032)",
                                path, i);
        double p[3];
        for (char &c : value)
            if (c == '\\') c = ' ';
        std::istringstream in(value);
        if (!(in >> p[0] >> p[1] >> p[2]))
            return sa_error_set(err, "%s: slice %zu has an unreadable Image Position (Patient) "
                                "'%s'", path, i, value.c_str());
        pos.push_back(p[0] * dir[0][2] + p[1] * dir[1][2] + p[2] * dir[2][2]);
    }
    std::vector<double> sorted = pos;
    std::sort(sorted.begin(), sorted.end());
    double step = (sorted.back() - sorted.front()) / (double)(sorted.size() - 1);
    for (size_t i = 0; i + 1 < sorted.size(); i++) {
        double gap = sorted[i + 1] - sorted[i];
        /* scanners round positions (often to 1e-3 mm), and an oblique series projects
         * that rounding onto the normal; a missing slice doubles a gap, a duplicated
         * one makes it 0: 5 % of the step and 0.01 mm tells them apart */
        if (!(std::fabs(gap - step) <= 0.05 * std::fabs(step) + 0.01))
            return sa_error_set(err, "%s: slice positions are not evenly spaced (gap between "
                                "slice %zu and %zu is %.6g mm, the mean step is %.6g mm: a "
                                "missing or duplicated slice?)", path, i, i + 1, gap, step);
    }
    return 0;
}

template <typename T>
int read_series_as(const char *path, const std::vector<std::string> &files,
                   itk::GDCMImageIO *io, sa_image *out, sa_error *err) {
    using ImageType = itk::Image<T, 3>;
    auto reader = itk::ImageSeriesReader<ImageType>::New();
    reader->SetImageIO(io);
    reader->SetFileNames(files);
    reader->Update();
    ImageType *image = reader->GetOutput();
    if (check_slice_spacing(path, reader->GetMetaDataDictionaryArray(), image->GetDirection(),
                            err) != 0)
        return -1;
    auto size = image->GetLargestPossibleRegion().GetSize();
    for (unsigned i = 0; i < 3; i++) {
        out->size[i] = size[i];
        out->spacing[i] = image->GetSpacing()[i];
        out->origin[i] = image->GetOrigin()[i];
        for (unsigned j = 0; j < 3; j++) out->direction[i * 3 + j] = image->GetDirection()[i][j];
    }
    size_t voxels = sa_image_voxel_count(out);
    if (voxels == 0) return set_error(err, path, "DICOM series is empty");
    out->data = std::malloc(voxels * sizeof(T));
    if (!out->data) return set_error(err, path, "out of memory");
    std::memcpy(out->data, image->GetBufferPointer(), voxels * sizeof(T));
    return 0;
}

int read_dicom_folder(const char *path, sa_image *out, sa_error *err) {
    auto names = itk::GDCMSeriesFileNames::New();
    names->SetUseSeriesDetails(true);
    names->SetDirectory(path);
    const std::vector<std::string> &uids = names->GetSeriesUIDs();
    if (uids.empty()) return set_error(err, path, "folder holds no DICOM series");
    if (uids.size() > 1) {
        std::string list;
        for (size_t i = 0; i < uids.size() && list.size() < 300; i++) {
            if (i) list += ", ";
            list += uids[i];
        }
        return sa_error_set(err, "%s: folder holds %zu DICOM series (%s); give a folder with one "
                            "series", path, uids.size(), list.c_str());
    }
    std::vector<std::string> files = names->GetFileNames(uids[0]);
    if (files.empty()) return set_error(err, path, "DICOM series has no readable files");

    auto io = itk::GDCMImageIO::New();
    io->SetFileName(files[0]);
    io->ReadImageInformation();
    if (io->GetNumberOfComponents() != 1 || io->GetPixelType() != itk::IOPixelEnum::SCALAR)
        return set_error(err, path, "DICOM series has vector or colour pixels; not supported");
    if (!pixel_type_from_itk(io->GetComponentType(), &out->type))
        return set_error(err, path, "DICOM series has an unsupported pixel type");
    switch (out->type) {
    case SA_PIXEL_U8: return read_series_as<uint8_t>(path, files, io, out, err);
    case SA_PIXEL_I8: return read_series_as<int8_t>(path, files, io, out, err);
    case SA_PIXEL_U16: return read_series_as<uint16_t>(path, files, io, out, err);
    case SA_PIXEL_I16: return read_series_as<int16_t>(path, files, io, out, err);
    case SA_PIXEL_U32: return read_series_as<uint32_t>(path, files, io, out, err);
    case SA_PIXEL_I32: return read_series_as<int32_t>(path, files, io, out, err);
    case SA_PIXEL_U64: return read_series_as<uint64_t>(path, files, io, out, err);
    case SA_PIXEL_I64: return read_series_as<int64_t>(path, files, io, out, err);
    case SA_PIXEL_F32: return read_series_as<float>(path, files, io, out, err);
    case SA_PIXEL_F64: return read_series_as<double>(path, files, io, out, err);
    }
    return set_error(err, path, "DICOM series has an unsupported pixel type");
}

template <typename T>
int write_as(const char *path, const sa_image *img, int compress) {
    using ImageType = itk::Image<T, 3>;
    auto image = ImageType::New();
    typename ImageType::RegionType region;
    typename ImageType::SpacingType spacing;
    typename ImageType::PointType origin;
    typename ImageType::DirectionType direction;
    for (unsigned i = 0; i < 3; i++) {
        region.SetIndex(i, 0);
        region.SetSize(i, img->size[i]);
        spacing[i] = img->spacing[i];
        origin[i] = img->origin[i];
        for (unsigned j = 0; j < 3; j++) direction[i][j] = img->direction[i * 3 + j];
    }
    image->SetRegions(region);
    image->SetSpacing(spacing);
    image->SetOrigin(origin);
    image->SetDirection(direction);
    /* Borrow the caller's buffer (ITK does not own it, nothing is copied). */
    image->GetPixelContainer()->SetImportPointer(static_cast<T *>(img->data),
                                                 sa_image_voxel_count(img), false);
    auto writer = itk::ImageFileWriter<ImageType>::New();
    writer->SetFileName(path);
    writer->SetInput(image);
    writer->SetUseCompression(compress != 0);
    writer->Update();
    return 0;
}

} // namespace

extern "C" int segarena_itk_read_file_checked(const char *path, sa_header_check_fn check,
                                              void *ctx, sa_image *out, sa_error *err) {
    QuietStreams quiet;
    try {
        return read_file(path, check, ctx, out, err);
    } catch (const std::bad_alloc &) {
        return set_error(err, path, "out of memory");
    } catch (const std::exception &e) {
        return set_error(err, path, short_reason(e));
    } catch (...) {
        return set_error(err, path, "unknown error while reading");
    }
}

extern "C" int segarena_itk_read_dicom_folder(const char *path, sa_image *out, sa_error *err) {
    QuietStreams quiet;
    try {
        return read_dicom_folder(path, out, err);
    } catch (const std::bad_alloc &) {
        return set_error(err, path, "out of memory");
    } catch (const std::exception &e) {
        return set_error(err, path, short_reason(e));
    } catch (...) {
        return set_error(err, path, "unknown error while reading the DICOM series");
    }
}

extern "C" int segarena_itk_write_file(const char *path, const sa_image *img, int compress,
                                 sa_error *err) {
    QuietStreams quiet;
    try {
        switch (img->type) {
        case SA_PIXEL_U8: return write_as<uint8_t>(path, img, compress);
        case SA_PIXEL_I8: return write_as<int8_t>(path, img, compress);
        case SA_PIXEL_U16: return write_as<uint16_t>(path, img, compress);
        case SA_PIXEL_I16: return write_as<int16_t>(path, img, compress);
        case SA_PIXEL_U32: return write_as<uint32_t>(path, img, compress);
        case SA_PIXEL_I32: return write_as<int32_t>(path, img, compress);
        case SA_PIXEL_U64: return write_as<uint64_t>(path, img, compress);
        case SA_PIXEL_I64: return write_as<int64_t>(path, img, compress);
        case SA_PIXEL_F32: return write_as<float>(path, img, compress);
        case SA_PIXEL_F64: return write_as<double>(path, img, compress);
        }
        return set_error(err, path, "unknown pixel type");
    } catch (const std::bad_alloc &) {
        return set_error(err, path, "out of memory");
    } catch (const std::exception &e) {
        return set_error(err, path, short_reason(e));
    } catch (...) {
        return set_error(err, path, "unknown error while writing");
    }
}

/* The Series Instance UID (0020|000e) of the one DICOM series in a folder. */
extern "C" int segarena_itk_dicom_series_uid(const char *folder, char *uid, size_t size, sa_error *err) {
    QuietStreams quiet;
    try {
        auto names = itk::GDCMSeriesFileNames::New();
        names->SetUseSeriesDetails(true);
        names->SetDirectory(folder);
        const std::vector<std::string> &uids = names->GetSeriesUIDs();
        if (uids.size() != 1)
            return sa_error_set(err, "%s: folder holds %zu DICOM series, not one", folder, uids.size());
        std::vector<std::string> files = names->GetFileNames(uids[0]);
        if (files.empty()) return set_error(err, folder, "DICOM series has no readable files");
        auto io = itk::GDCMImageIO::New();
        io->SetFileName(files[0]);
        io->ReadImageInformation();
        std::string value;
        if (!itk::ExposeMetaData<std::string>(io->GetMetaDataDictionary(), "0020|000e", value))
            return set_error(err, folder, "DICOM series has no Series Instance UID (0020,000e)");
        while (!value.empty() && (value.back() == ' ' || value.back() == '\0')) value.pop_back();
        if (value.empty() || value.size() >= size)
            return set_error(err, folder, "DICOM Series Instance UID is empty or too long");
        std::memcpy(uid, value.c_str(), value.size() + 1);
        return 0;
    } catch (const std::bad_alloc &) {
        return set_error(err, folder, "out of memory");
    } catch (const std::exception &e) {
        return set_error(err, folder, short_reason(e));
    } catch (...) {
        return set_error(err, folder, "unknown error while reading the DICOM series");
    }
}
