/*
 * masks.cu: the GPU's side of the engine's bookkeeping: finding a device, and
 * the masks resident on it (sa_gpu_masks). K raters and a prediction are packed
 * on the host into one pattern per voxel (bit b = mask b) by every core and
 * cross the bus once, each run of patterns as soon as it is packed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu_internal.cuh"
#include "parallel.h"

extern "C" int sa_gpu_built(void) { return 1; }

/* Set once a CUDA error has left this process's GPU context unusable (a
 * "sticky" error: every later call fails too); the GPU then counts as absent. */
static volatile int context_broken;
static char broken_why[256];
/* Guards broken_why and the device state below (device discovery). */
static pthread_mutex_t device_lock = PTHREAD_MUTEX_INITIALIZER;

/* The errors after which the context cannot be used again (CUDA 13's
 * driver_types.h: "any further CUDA work will return the same error. To continue
 * using CUDA, the process must be terminated and relaunched"), and the
 * uncorrectable ECC and NVLink errors. CUDA reports such an error to every call
 * after it, so the failing call's own code says whether the context is lost: no
 * synchronize is needed to find out. Any other error fails one job only. */
static int sticky_error(cudaError_t e) {
    switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchTimeout:
    case cudaErrorAssert:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorLaunchFailure:
    case cudaErrorECCUncorrectable:
    case cudaErrorNvlinkUncorrectable:
    case cudaErrorMpsClientTerminated:
    case cudaErrorExternalDevice:
#if CUDART_VERSION >= 12080
    case cudaErrorContained:
    case cudaErrorTensorMemoryLeak:
#endif
        return 1;
    default:
        return 0;
    }
}

static void mark_broken(const char *what, cudaError_t e) {
    pthread_mutex_lock(&device_lock);
    if (!context_broken) {
        snprintf(broken_why, sizeof broken_why, "the GPU failed earlier in this process (%s: %s)", what,
                 cudaGetErrorString(e));
        __sync_synchronize();
        context_broken = 1;
    }
    pthread_mutex_unlock(&device_lock);
}

static void mark_busy(const char *what, cudaError_t e); /* device discovery, below */

int gpu_check(cudaError_t e, const char *what, sa_error *err) {
    if (e == cudaSuccess) return 0;
    int no_memory = e == cudaErrorMemoryAllocation;
    sa_error_set(err, "GPU: %s: %s", what, cudaGetErrorString(e));
    cudaGetLastError(); /* clears an error that is not sticky */
    if (sticky_error(e)) mark_broken(what, e);
    else if (e == cudaErrorDevicesUnavailable) mark_busy(what, e); /* another process holds it: try again later */
    return no_memory ? SA_GPU_NO_MEMORY : -1;
}

/* ---- Device memory kept between jobs -----------------------------------------
 * cudaMalloc and cudaFree of hundreds of megabytes cost about a millisecond each
 * (cudaFree also waits for the whole device), and every case of an evaluation
 * asks for the same sizes again. So freed blocks are kept for the process (at
 * most KEPT_BLOCKS, a quarter of the device's memory in all) and handed to the
 * next request they fit without wasting more than its own size. A request the
 * device cannot meet first gives every kept block back. The size of every block
 * handed out is remembered (LIVE_BLOCKS of them; one not remembered is freed,
 * not kept), so a block is always kept with its real size. */
#define KEPT_BLOCKS 16
#define LIVE_BLOCKS 256

typedef struct gpu_block {
    void *p;
    size_t bytes;
} gpu_block;

static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static gpu_block kept[KEPT_BLOCKS], live[LIVE_BLOCKS];
static size_t kept_bytes, kept_limit;
static int kept_release_registered;

void gpu_kept_release(void) {
    pthread_mutex_lock(&kept_lock);
    for (int i = 0; i < KEPT_BLOCKS; i++)
        if (kept[i].p) (void)cudaFree(kept[i].p), kept[i].p = NULL;
    kept_bytes = 0;
    pthread_mutex_unlock(&kept_lock);
}

void sa_gpu_cache_release(void) { gpu_kept_release(); }

static void live_add(void *p, size_t bytes) { /* under kept_lock */
    for (int i = 0; i < LIVE_BLOCKS; i++)
        if (!live[i].p) {
            live[i].p = p, live[i].bytes = bytes;
            return;
        }
}

static size_t mb_up(size_t bytes) { return (bytes + ((size_t)1 << 20) - 1) >> 20; }

void gpu_no_memory(const char *what, size_t bytes, sa_error *err) {
    size_t free_bytes = 0, total = 0;
    if (cudaMemGetInfo(&free_bytes, &total) == cudaSuccess) {
        sa_error_set(err, "GPU: %s: %zu MB of GPU memory needed, %zu MB free (of %zu MB)", what, mb_up(bytes),
                     free_bytes >> 20, total >> 20);
    } else {
        cudaGetLastError();
        sa_error_set(err, "GPU: %s: %zu MB of GPU memory needed, not available", what, mb_up(bytes));
    }
}

int gpu_alloc_sized(void **p, size_t bytes, size_t *got, const char *what, sa_error *err) {
    *p = NULL;
    if (bytes == 0) bytes = 1;
    if (context_broken) {
        __sync_synchronize();
        gpu_kept_release();
        return sa_error_set(err, "GPU: %s: %s", what, broken_why);
    }
    pthread_mutex_lock(&kept_lock);
    int best = -1;
    for (int i = 0; i < KEPT_BLOCKS; i++)
        if (kept[i].p && kept[i].bytes >= bytes && kept[i].bytes - bytes <= bytes + ((size_t)1 << 20) &&
            (best < 0 || kept[i].bytes < kept[best].bytes))
            best = i;
    if (best >= 0) {
        *p = kept[best].p;
        if (got) *got = kept[best].bytes;
        kept_bytes -= kept[best].bytes;
        live_add(kept[best].p, kept[best].bytes);
        kept[best].p = NULL;
        pthread_mutex_unlock(&kept_lock);
        return 0;
    }
    pthread_mutex_unlock(&kept_lock);
    cudaError_t e = cudaMalloc(p, bytes);
    if (e == cudaErrorMemoryAllocation) { /* the kept blocks may be what is missing */
        cudaGetLastError();
        gpu_kept_release();
        e = cudaMalloc(p, bytes);
    }
    if (e == cudaSuccess) {
        if (got) *got = bytes;
        pthread_mutex_lock(&kept_lock);
        live_add(*p, bytes);
        pthread_mutex_unlock(&kept_lock);
    }
    int rc = gpu_check(e, what, err);
    if (rc == SA_GPU_NO_MEMORY) gpu_no_memory(what, bytes, err);
    return rc;
}

int gpu_alloc(void **p, size_t bytes, const char *what, sa_error *err) {
    return gpu_alloc_sized(p, bytes, NULL, what, err);
}

void gpu_free(void *p, cudaStream_t st) {
    if (!p) return;
    size_t bytes = 0;
    pthread_mutex_lock(&kept_lock);
    for (int i = 0; i < LIVE_BLOCKS && !bytes; i++)
        if (live[i].p == p) bytes = live[i].bytes, live[i].p = NULL;
    pthread_mutex_unlock(&kept_lock);
    /* work queued on st may still use the block: it must be done before another
     * stream can be given the block */
    cudaError_t e = context_broken ? cudaSuccess : cudaStreamSynchronize(st);
    if (!bytes || context_broken || e != cudaSuccess) {
        if (sticky_error(e)) mark_broken("finishing a job", e);
        cudaGetLastError();
        (void)cudaFree(p);
        return;
    }
    pthread_mutex_lock(&kept_lock);
    if (!kept_limit) { /* asked again next time if the driver cannot say */
        size_t free_bytes = 0, total = 0;
        if (cudaMemGetInfo(&free_bytes, &total) == cudaSuccess) kept_limit = total / 4;
        else cudaGetLastError();
    }
    int slot = -1;
    for (int i = 0; i < KEPT_BLOCKS && slot < 0; i++)
        if (!kept[i].p) slot = i;
    if (slot >= 0 && kept_limit && kept_bytes + bytes <= kept_limit) {
        kept[slot].p = p, kept[slot].bytes = bytes;
        kept_bytes += bytes;
        /* registered after the CUDA runtime started, so it runs before the
         * runtime's own clean-up */
        if (!kept_release_registered) kept_release_registered = 1, atexit(gpu_kept_release);
        p = NULL;
    }
    pthread_mutex_unlock(&kept_lock);
    if (p) (void)cudaFree(p);
}

/* The line kernels keep their envelopes in local memory, which the driver
 * reserves for every thread the GPU can hold when a kernel first needs it (about
 * 1 GB at 4 KB a thread on an H100). It is reserved here, at the start of a job,
 * where a shortage can still be met by giving the kept blocks back, or be
 * reported as too little memory (the caller may then use the CPU). */
int gpu_reserve_local(size_t bytes_per_thread, sa_error *err) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static size_t reserved;
    pthread_mutex_lock(&lock);
    int rc = 0;
    if (reserved < bytes_per_thread) {
        cudaError_t e = cudaDeviceSetLimit(cudaLimitStackSize, bytes_per_thread);
        if (e == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            gpu_kept_release();
            e = cudaDeviceSetLimit(cudaLimitStackSize, bytes_per_thread);
        }
        rc = gpu_check(e, "reserving local memory for the line kernels", err);
        if (rc == SA_GPU_NO_MEMORY) { /* the driver reserves it for every thread the GPU can hold */
            int sms = 0, per_sm = 0;
            if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) != cudaSuccess ||
                cudaDeviceGetAttribute(&per_sm, cudaDevAttrMaxThreadsPerMultiProcessor, 0) != cudaSuccess)
                cudaGetLastError(), sms = per_sm = 0;
            char what[128];
            snprintf(what, sizeof what, "local memory for the line kernels (%zu bytes for each of %d threads)",
                     bytes_per_thread, sms * per_sm);
            gpu_no_memory(what, bytes_per_thread * (size_t)sms * (size_t)per_sm, err);
        }
        if (!rc) reserved = bytes_per_thread;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

/* ---- Device discovery -----------------------------------------------------------
 * A GPU is usable when the driver finds one (cudaGetDeviceCount), when this
 * build holds code it can run (its compute capability against the architectures
 * CMake built for, SA_CUDA_ARCHITECTURES; then, at the first job, a kernel of
 * this build loaded on it: cudaFuncGetAttributes), and while no sticky error
 * has broken the context. The first two are asked once per process and need no
 * CUDA context (sa_gpu_device_count stays cheap); the load creates the context
 * and is made once it succeeds (sa_gpu_ready). A GPU that another process holds
 * (exclusive-process mode: cudaErrorDevicesUnavailable), or whose context could
 * not be made for another passing reason, counts as absent for BUSY_RETRY_S
 * seconds and is then asked again, so that a long-lived worker takes it back. */
#define BUSY_RETRY_S 10.0

static int device_count;     /* from the driver, 0 when none is usable for good */
static char device_why[256]; /* why none, when device_count is 0 */
static int device_ready;     /* a kernel of this build loaded on the GPU */
static double busy_until;    /* monotonic seconds: counts as absent until then */
static char busy_why[256];

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void mark_busy(const char *what, cudaError_t e) {
    pthread_mutex_lock(&device_lock);
    snprintf(busy_why, sizeof busy_why, "GPU 0 is busy or unavailable (%s: %s); asked again after %.0f s", what,
             cudaGetErrorString(e), BUSY_RETRY_S);
    busy_until = now_s() + BUSY_RETRY_S;
    device_ready = 0;
    pthread_mutex_unlock(&device_lock);
}

/* The architectures this build holds code for, as CMake was given them
 * ("80,90": sm_80, compute_80, ...; "90a-real"; "native"). */
#ifdef SA_CUDA_ARCHITECTURES
static const char build_archs[] = SA_CUDA_ARCHITECTURES;
#else
static const char build_archs[] = "";
#endif

/* One entry of build_archs: its number (80), its suffix letter ('a', 'f' or 0),
 * whether it holds machine code (sm_) and PTX (compute_); returns where the next
 * entry starts, NULL when this one is not a number (native, all: unknown). */
static const char *arch_entry(const char *p, int *num, char *letter, int *sass, int *ptx) {
    if (*p < '0' || *p > '9') return NULL;
    *num = 0, *letter = 0, *sass = 1, *ptx = 1;
    while (*p >= '0' && *p <= '9') *num = *num * 10 + (*p++ - '0');
    if (*p == 'a' || *p == 'f') *letter = *p++;
    if (!strncmp(p, "-real", 5)) *ptx = 0, p += 5;
    else if (!strncmp(p, "-virtual", 8)) *sass = 0, p += 8;
    if (*p != ',' && *p) return NULL;
    return *p ? p + 1 : p;
}

/* 1 when the build holds code a GPU of compute capability major.minor can run
 * (machine code of its major version and an equal or lower minor one, or PTX
 * of an equal or lower version, which the driver compiles; 'a' code only for
 * its exact version, 'f' code for its major version), 0 when it holds none, -1
 * when the list says nothing certain (the kernel load decides). */
static int build_runs_on(int major, int minor) {
    const char *p = build_archs;
    if (!*p) return -1;
    int dev = major * 10 + minor;
    while (*p) {
        int num, sass, ptx;
        char letter;
        p = arch_entry(p, &num, &letter, &sass, &ptx);
        if (!p) return -1;
        int same_major = num / 10 == major && num % 10 <= minor;
        if (letter == 'a' && num == dev) return 1;
        if (letter == 'f' && same_major) return 1;
        if (!letter && ((sass && same_major) || (ptx && num <= dev))) return 1;
    }
    return 0;
}

/* "8.0, 9.0" from "80,90" (the list as given when it is not all numbers). */
static void format_archs(char *out, size_t size) {
    size_t at = 0;
    int seen[32], n_seen = 0; /* num * 256 + letter: "80-real,80-virtual" once */
    out[0] = 0;
    for (const char *p = build_archs; *p && at < size;) {
        int num, sass, ptx, again = 0;
        char letter;
        const char *next = arch_entry(p, &num, &letter, &sass, &ptx);
        if (!next) {
            snprintf(out, size, "%s", build_archs);
            return;
        }
        for (int i = 0; i < n_seen; i++) again |= seen[i] == num * 256 + letter;
        if (!again) {
            if (n_seen < 32) seen[n_seen++] = num * 256 + letter;
            char suffix[2] = {letter, 0};
            at += (size_t)snprintf(out + at, size - at, "%s%d.%d%s", at ? ", " : "", num / 10, num % 10, suffix);
        }
        p = next;
    }
}

/* "GPU 0 (Tesla T4, compute 7.5): no kernel image for it in this build (built for 8.0, 9.0)" */
static void no_image_why(int major, int minor, cudaError_t e) {
    cudaDeviceProp prop;
    const char *name = "?";
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) name = prop.name;
    else cudaGetLastError();
    char archs[128];
    format_archs(archs, sizeof archs);
    int n = snprintf(device_why, sizeof device_why, "GPU 0 (%s, compute %d.%d): no kernel image for it in this build",
                     name, major, minor);
    if (n > 0 && (size_t)n < sizeof device_why && (archs[0] || e != cudaSuccess))
        snprintf(device_why + n, sizeof device_why - (size_t)n, " (%s%s%s%s)", archs[0] ? "built for " : "", archs,
                 archs[0] && e != cudaSuccess ? "; " : "", e != cudaSuccess ? cudaGetErrorString(e) : "");
}

static void compute_capability(int *major, int *minor) {
    *major = *minor = 0;
    if (cudaDeviceGetAttribute(major, cudaDevAttrComputeCapabilityMajor, 0) != cudaSuccess ||
        cudaDeviceGetAttribute(minor, cudaDevAttrComputeCapabilityMinor, 0) != cudaSuccess)
        cudaGetLastError();
}

/* Asks the driver once per process (pthread_once: worker threads ask together);
 * creates no context. */
static void count_devices(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice) {
        snprintf(device_why, sizeof device_why, "no NVIDIA GPU with a suitable driver found (CUDA: %s)",
                 cudaGetErrorString(e));
        cudaGetLastError();
        n = 0;
    } else if (e != cudaSuccess) {
        snprintf(device_why, sizeof device_why, "no usable CUDA device: %s", cudaGetErrorString(e));
        cudaGetLastError();
        n = 0;
    } else if (n == 0) {
        snprintf(device_why, sizeof device_why, "no CUDA device present");
    } else {
        int major, minor;
        compute_capability(&major, &minor);
        if (major > 0 && build_runs_on(major, minor) == 0) {
            no_image_why(major, minor, cudaSuccess);
            n = 0;
        }
    }
    device_count = n;
}

/* Under device_lock: 0 with err set when the GPU counts as absent now. */
static int usable_locked(sa_error *err) {
    if (context_broken) {
        sa_error_set(err, "%s", broken_why);
        return 0;
    }
    if (device_count == 0) {
        sa_error_set(err, "%s", device_why);
        return 0;
    }
    if (busy_until > 0 && now_s() < busy_until) {
        sa_error_set(err, "%s", busy_why);
        return 0;
    }
    return device_count;
}

extern "C" int sa_gpu_device_count(sa_error *err) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, count_devices);
    pthread_mutex_lock(&device_lock);
    int n = usable_locked(err);
    pthread_mutex_unlock(&device_lock);
    return n;
}

extern "C" int sa_gpu_started(void) {
    pthread_mutex_lock(&device_lock);
    int started = device_ready && usable_locked(NULL) > 0;
    pthread_mutex_unlock(&device_lock);
    return started;
}

/* A kernel of this build, loaded by sa_gpu_ready to see that the GPU runs them. */
__global__ void probe_kernel(void) {}

extern "C" int sa_gpu_ready(sa_error *err) {
    if (sa_gpu_device_count(err) <= 0) return 0;
    pthread_mutex_lock(&device_lock);
    int n = usable_locked(err);
    if (n > 0 && !device_ready) {
        cudaFuncAttributes a;
        cudaError_t e = cudaFuncGetAttributes(&a, probe_kernel); /* creates the context; loads the module */
        cudaGetLastError();
        if (e == cudaSuccess) {
            device_ready = 1, busy_until = 0;
        } else if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidDeviceFunction ||
                   e == cudaErrorInvalidKernelImage || e == cudaErrorUnsupportedPtxVersion ||
                   e == cudaErrorJitCompilerNotFound || e == cudaErrorJitCompilationDisabled) {
            int major, minor;
            compute_capability(&major, &minor);
            no_image_why(major, minor, e); /* for good: this build cannot run on it */
            device_count = 0;
        } else if (sticky_error(e)) {
            pthread_mutex_unlock(&device_lock);
            mark_broken("starting the GPU", e);
            pthread_mutex_lock(&device_lock);
        } else { /* busy (another process holds it), or not started for another reason */
            snprintf(busy_why, sizeof busy_why, "GPU 0 could not be started (CUDA: %s); asked again after %.0f s",
                     cudaGetErrorString(e), BUSY_RETRY_S);
            busy_until = now_s() + BUSY_RETRY_S;
        }
        n = usable_locked(err);
    }
    pthread_mutex_unlock(&device_lock);
    return n > 0;
}

gpu_mask_view gpu_masks_view(const sa_gpu_masks *m, int slot) {
    gpu_mask_view v = {NULL, 1, 1u};
    if (slot < 0 || slot >= SA_GPU_MAX_SLOTS) return v;
    if (slot < m->uploaded) {
        v.base = m->d_pattern;
        v.width = m->width;
        v.bit = 1u << slot;
    } else if (m->d_slot[slot]) {
        v.base = m->d_slot[slot];
        v.width = 1;
        v.bit = 1u;
    }
    return v;
}

int gpu_masks_add(sa_gpu_masks *m, uint8_t *d_mask, sa_error *err) {
    for (int s = m->uploaded; s < SA_GPU_MAX_SLOTS; s++)
        if (!m->d_slot[s]) {
            m->d_slot[s] = d_mask;
            return s;
        }
    return sa_error_set(err, "GPU: all %d mask slots are taken", SA_GPU_MAX_SLOTS);
}

extern "C" void sa_gpu_masks_release(sa_gpu_masks *m, int slot) {
    if (!m || slot < m->uploaded || slot >= SA_GPU_MAX_SLOTS || !m->d_slot[slot]) return;
    gpu_free(m->d_slot[slot], m->stream);
    m->d_slot[slot] = NULL;
}

extern "C" void sa_gpu_masks_free(sa_gpu_masks *m) {
    if (!m) return;
    if (m->stream) {
        for (int s = 0; s < SA_GPU_MAX_SLOTS; s++) gpu_free(m->d_slot[s], m->stream);
        gpu_free(m->d_pattern, m->stream);
        gpu_free(m->work, m->stream);
        cudaStreamDestroy(m->stream);
    }
    free(m);
}

int gpu_masks_work(sa_gpu_masks *m, size_t bytes, void **out, sa_error *err) {
    if (m->work_bytes < bytes) {
        gpu_free(m->work, m->stream);
        m->work = NULL;
        m->work_bytes = 0;
        size_t got = 0;
        int rc = gpu_alloc_sized(&m->work, bytes, &got, "scratch memory for the job", err);
        if (rc) return rc;
        m->work_bytes = got;
    }
    *out = m->work;
    return 0;
}

/* ---- Packing on the host ------------------------------------------------------
 * Reading the masks is the host's whole cost (8 bytes a voxel in, 1 out), so
 * every core packs, once per upload: one parallel loop over pieces of
 * PACK_PIECE voxels, taken in order, into one pinned staging buffer. Between
 * its pieces the calling thread queues the copy of each run of COPY_PIECES
 * pieces that is packed, so the bus carries the first runs while the cores pack
 * the rest. Volumes whose patterns exceed STAGE_MAX go through the buffer in
 * several such rounds. */

#define PACK_PIECE ((size_t)1 << 16)  /* voxels a worker packs at a time */
#define COPY_PIECES ((size_t)64)      /* pieces a copy carries: 4 M voxels */
#define STAGE_MAX ((size_t)256 << 20) /* bytes of pinned staging at most */

/* sa_gpu_set_upload_geometry (tests); 0: the default. Read once an upload. */
static volatile size_t test_piece, test_copy_pieces, test_stage;

extern "C" void sa_gpu_set_upload_geometry(size_t piece_voxels, size_t copy_pieces, size_t staging_bytes) {
    test_piece = piece_voxels, test_copy_pieces = copy_pieces, test_stage = staging_bytes;
}

typedef struct pack_job {
    const uint8_t *const *masks;
    size_t count, first, n; /* voxels [first, first + n) of the grid */
    size_t piece, copy_pieces; /* PACK_PIECE and COPY_PIECES, unless a test says otherwise */
    int width;
    uint8_t *stage;         /* their n patterns */
    char *d_out;            /* where voxel first's pattern goes */
    cudaStream_t stream;
    unsigned *packed;       /* per copy: its pieces packed so far */
    size_t copies, queued;  /* copies in all; queued so far (by the calling thread only) */
    cudaError_t why;        /* the first copy that could not be queued */
} pack_job;

/* Patterns of voxels [lo, hi) of the job: bit b set where mask b is non-zero,
 * one pass a mask over the piece (the piece's patterns stay in cache between
 * passes). Loops this simple vectorise: on the H200's host they packed 3.5
 * times faster than blocks of 64 voxels built from all masks at once. */
template <typename T> /* uint8_t or uint16_t patterns */
static void pack_range_as(const pack_job *j, size_t lo, size_t hi) {
    T *o = (T *)(void *)j->stage;
    const uint8_t *m0 = j->masks[0] + j->first;
    for (size_t i = lo; i < hi; i++) o[i] = m0[i] != 0;
    for (size_t b = 1; b < j->count; b++) {
        const uint8_t *mb = j->masks[b] + j->first;
        const T bit = (T)(1u << b);
        for (size_t i = lo; i < hi; i++) o[i] |= mb[i] ? bit : 0;
    }
}

static void pack_range(const pack_job *j, size_t lo, size_t hi) {
    if (j->width == 1) pack_range_as<uint8_t>(j, lo, hi);
    else pack_range_as<uint16_t>(j, lo, hi);
}

/* Voxels [from, to) of the job that copy c carries. */
static void copy_span(const pack_job *j, size_t c, size_t *from, size_t *to) {
    size_t run = j->copy_pieces * j->piece;
    *from = c * run;
    *to = (c + 1) * run < j->n ? (c + 1) * run : j->n;
}

/* Queues, in order, every copy whose pieces are all packed (or, with all set,
 * every copy left). Only the calling thread queues copies, so that no worker
 * thread needs the CUDA runtime. */
static void queue_copies(pack_job *j, int all) {
    while (j->queued < j->copies && j->why == cudaSuccess) {
        size_t from, to, c = j->queued;
        copy_span(j, c, &from, &to);
        unsigned pieces = (unsigned)((to - from + j->piece - 1) / j->piece);
        /* the acquire pairs with each packer's release: their writes are visible */
        if (!all && __atomic_load_n(&j->packed[c], __ATOMIC_ACQUIRE) != pieces) return;
        size_t w = (size_t)j->width;
        j->why = cudaMemcpyAsync(j->d_out + from * w, j->stage + from * w, (to - from) * w, cudaMemcpyHostToDevice,
                                 j->stream);
        j->queued++;
    }
}

static void pack_piece(void *vctx, size_t item, int worker) {
    pack_job *j = (pack_job *)vctx;
    size_t lo = item * j->piece, hi = lo + j->piece < j->n ? lo + j->piece : j->n;
    pack_range(j, lo, hi);
    __atomic_add_fetch(&j->packed[item / j->copy_pieces], 1u, __ATOMIC_RELEASE);
    if (worker == 0) queue_copies(j, 0);
}

/* Pinned memory is slow to allocate (milliseconds a hundred megabytes), so
 * staging buffers are kept for the process: up to STAGE_KEPT of them, each lent
 * to one upload at a time (workers scoring side by side each get one); an
 * upload that finds them all lent allocates its own and frees it after. A kept
 * buffer is as large as the largest upload that used it, at most STAGE_MAX. */
#define STAGE_KEPT 4

typedef struct stage_slot {
    void *p;
    size_t bytes;
    int lent;
} stage_slot;

static pthread_mutex_t stage_lock = PTHREAD_MUTEX_INITIALIZER;
static stage_slot stage_kept[STAGE_KEPT];
static int stage_release_registered;

/* Frees the kept buffers not lent when the process exits (registered at the
 * first allocation, so it runs before the CUDA runtime's own clean-up; a lent
 * one goes with the process). */
static void stage_release(void) {
    pthread_mutex_lock(&stage_lock);
    for (int i = 0; i < STAGE_KEPT; i++)
        if (!stage_kept[i].lent && stage_kept[i].p) cudaFreeHost(stage_kept[i].p), stage_kept[i].p = NULL;
    pthread_mutex_unlock(&stage_lock);
}

/* cudaMallocHost: SA_GPU_NO_HOST_MEMORY when the host lacks pinned memory. */
static int pinned_alloc(void **p, size_t bytes, sa_error *err) {
    cudaError_t e = cudaMallocHost(p, bytes);
    if (e == cudaSuccess) return 0;
    *p = NULL;
    if (e != cudaErrorMemoryAllocation) return gpu_check(e, "pinned host memory for staging the masks", err);
    cudaGetLastError();
    sa_error_set(err, "GPU: pinned (page-locked) host memory for staging the masks: %zu MB could not be allocated",
                 mb_up(bytes));
    return SA_GPU_NO_HOST_MEMORY;
}

/* A staging buffer of at least `bytes` in *stage; *slot is the kept buffer's
 * index, or -1 for one of its own. */
static int stage_take(void **stage, size_t bytes, int *slot, sa_error *err) {
    *stage = NULL, *slot = -1;
    pthread_mutex_lock(&stage_lock);
    int pick = -1;
    for (int i = 0; i < STAGE_KEPT; i++) { /* the smallest free one that fits, else any free one */
        const stage_slot *k = &stage_kept[i];
        if (k->lent) continue;
        int fits = k->p && k->bytes >= bytes, pick_fits = pick >= 0 && stage_kept[pick].p && stage_kept[pick].bytes >= bytes;
        if (pick < 0 || (fits && (!pick_fits || k->bytes < stage_kept[pick].bytes))) pick = i;
    }
    if (pick >= 0) stage_kept[pick].lent = 1;
    if (!stage_release_registered) stage_release_registered = 1, atexit(stage_release);
    pthread_mutex_unlock(&stage_lock);
    if (pick < 0) {
        return pinned_alloc(stage, bytes, err);
    }
    stage_slot *k = &stage_kept[pick]; /* lent to this upload: no one else touches it */
    if (!k->p || k->bytes < bytes) {
        if (k->p) cudaFreeHost(k->p);
        k->p = NULL, k->bytes = 0;
        int rc = pinned_alloc(&k->p, bytes, err);
        if (rc) {
            k->p = NULL;
            pthread_mutex_lock(&stage_lock);
            k->lent = 0;
            pthread_mutex_unlock(&stage_lock);
            return rc;
        }
        k->bytes = bytes;
    }
    *stage = k->p, *slot = pick;
    return 0;
}

static void stage_give_back(void *stage, int slot) {
    if (slot < 0) {
        if (stage) cudaFreeHost(stage);
        return;
    }
    pthread_mutex_lock(&stage_lock);
    stage_kept[slot].lent = 0;
    pthread_mutex_unlock(&stage_lock);
}

extern "C" int sa_gpu_masks_upload(const uint8_t *const *masks, size_t count, const sa_grid *g, int threads,
                                   sa_gpu_masks **out, sa_error *err) {
    *out = NULL;
    if (count < 1 || count > SA_GPU_MAX_UPLOAD) return sa_error_set(err, "GPU: %zu masks in one upload (1..%d)", count, SA_GPU_MAX_UPLOAD);
    /* the packers read every mask from every core: a missing one is refused here */
    if (!masks) return sa_error_set(err, "GPU: no masks given to upload");
    for (size_t b = 0; b < count; b++)
        if (!masks[b]) return sa_error_set(err, "GPU: mask %zu of %zu to upload is missing (NULL)", b + 1, count);
    if (sa_grid_check(g, err)) return -1;
    if (!sa_gpu_ready(err)) return -1;
    sa_gpu_masks *m = (sa_gpu_masks *)calloc(1, sizeof *m);
    if (!m) return sa_error_set(err, "out of memory");
    m->grid = *g;
    m->nvox = sa_grid_voxels(g);
    m->width = count <= 8 ? 1 : 2;
    m->uploaded = (int)count;
    int rc = gpu_check(cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking), "creating a stream", err);
    if (!rc) rc = gpu_alloc(&m->d_pattern, m->nvox * (size_t)m->width, "the masks", err);
    /* voxels a round through the staging buffer: all of them, or STAGE_MAX bytes'
     * worth; with too little pinned memory, rounds of half as many, down to 1 MiB */
    size_t piece = test_piece ? test_piece : PACK_PIECE, copy_pieces = test_copy_pieces ? test_copy_pieces : COPY_PIECES;
    size_t limit = test_stage ? test_stage : STAGE_MAX;
    size_t per_round = limit / (size_t)m->width < m->nvox ? limit / (size_t)m->width : m->nvox;
    if (per_round < 1) per_round = 1;
    void *stage = NULL;
    int slot = -1, staged = 0;
    size_t first_try = per_round * (size_t)m->width;
    while (!rc) {
        rc = stage_take(&stage, per_round * (size_t)m->width, &slot, err);
        if (rc != SA_GPU_NO_HOST_MEMORY || per_round * (size_t)m->width <= ((size_t)1 << 20)) break;
        rc = 0, per_round /= 2;
    }
    if (rc == SA_GPU_NO_HOST_MEMORY && first_try > per_round * (size_t)m->width)
        sa_error_set(err, "GPU: pinned (page-locked) host memory for staging the masks: none could be allocated "
                          "(tried %zu MB, halving down to %zu MB)", mb_up(first_try), mb_up(per_round * (size_t)m->width));
    staged = !rc;
    size_t copies = (per_round + piece * copy_pieces - 1) / (piece * copy_pieces);
    unsigned *packed = rc ? NULL : (unsigned *)malloc(copies * sizeof *packed);
    if (!rc && !packed) rc = sa_error_set(err, "out of memory");
    if (threads <= 0) threads = sa_cpu_count();
    for (size_t first = 0; !rc && first < m->nvox; first += per_round) {
        size_t n = m->nvox - first < per_round ? m->nvox - first : per_round;
        /* the buffer's previous round must have crossed the bus before it is refilled */
        if (first > 0) rc = gpu_check(cudaStreamSynchronize(m->stream), "uploading the masks", err);
        if (rc) break;
        memset(packed, 0, copies * sizeof *packed);
        pack_job job = {masks, count, first, n, piece, copy_pieces, m->width, (uint8_t *)stage,
                        (char *)m->d_pattern + first * (size_t)m->width, m->stream, packed,
                        (n + piece * copy_pieces - 1) / (piece * copy_pieces), 0, cudaSuccess};
        size_t pieces = (n + piece - 1) / piece;
        sa_parallel_for(sa_parallel_workers(threads, pieces), pieces, pack_piece, &job);
        queue_copies(&job, 1); /* every piece is packed now */
        if (job.why != cudaSuccess) rc = gpu_check(job.why, "uploading the masks", err);
    }
    if (!rc) rc = gpu_check(cudaStreamSynchronize(m->stream), "uploading the masks", err);
    else if (m->stream) cudaStreamSynchronize(m->stream); /* no copy may still read the buffer */
    if (staged) stage_give_back(stage, slot);
    free(packed);
    if (rc) {
        sa_gpu_masks_free(m);
        return rc;
    }
    *out = m;
    return 0;
}
