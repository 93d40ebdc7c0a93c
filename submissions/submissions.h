/*
 * submissions.h: the public face of SegArena's contestant containers
 * (../shared/spec/container-contract.md): intake of an uploaded image archive
 * (validated by SegArena itself before any engine reads it, then loaded under a
 * name SegArena chooses), and sandboxed runs of one case with podman (or the
 * docker CLI), each outcome classified.
 *
 * Library code never prints; every error is one line naming the file.
 */
#ifndef SEGARENA_SUBMISSIONS_H
#define SEGARENA_SUBMISSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "datasets.h"
#include "metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Intake (archive.c, intake.c) ---- */

/* Size limits of one upload (../shared/spec/container-contract.md, "The upload"). */
typedef struct sa_intake_limits {
    uint64_t max_upload_bytes;   /* the file as uploaded (compressed or not) */
    uint64_t max_unpacked_bytes; /* the upload once decompressed (the outer tar) */
    uint64_t max_image_bytes;    /* the image: sum of its uncompressed layers */
} sa_intake_limits;

/* The contract's defaults: 10 GiB each. */
void sa_intake_limits_default(sa_intake_limits *lim);

/* Why an upload was refused: the contract's "invalid" reasons. */
enum sa_intake_refusal {
    SA_REFUSED_NONE = 0,
    SA_REFUSED_NOT_A_TAR,
    SA_REFUSED_TRUNCATED,
    SA_REFUSED_EMPTY,
    SA_REFUSED_SEVERAL_IMAGES,
    SA_REFUSED_WRONG_ARCHITECTURE,
    SA_REFUSED_ROOT_USER,
    SA_REFUSED_NO_ENTRYPOINT,
    SA_REFUSED_TOO_LARGE,
    SA_REFUSED_UNSAFE_ARCHIVE, /* links, absolute or ".." paths, devices, bad headers */
    SA_REFUSED_INVALID_IMAGE,  /* missing or malformed manifest, config or layer */
    SA_REFUSED_ENGINE,         /* skopeo/podman refused to load it */
    SA_REFUSED_INTERNAL        /* our fault: I/O on the scratch folder, memory */
};

/* "not_a_tar", "truncated", ... ("none" for 0). */
const char *sa_intake_refusal_name(int refusal);

typedef struct sa_image_info {
    char format[16];        /* "docker-archive" or "oci-archive" */
    char config_digest[80]; /* "sha256:<64 hex>": the image's identity */
    char arch[16], os[16];
    char user[64];          /* config.User as declared */
    long uid;               /* numeric, or resolved through the image's /etc/passwd */
    long gid;               /* USER's numeric group, else the named user's passwd
                             * gid, else uid; never 0. Runs get --user uid:gid
                             * (sa_image_run_user), never the name. */
    char entrypoint[1024];  /* Entrypoint then Cmd, JSON, possibly shortened */
    uint64_t upload_bytes;   /* the file as uploaded */
    uint64_t unpacked_bytes; /* the outer tar once decompressed */
    uint64_t image_bytes;    /* sum of the uncompressed layer tars */
    int refusal;             /* enum sa_intake_refusal; set on every return */
} sa_image_info;

/* "uid:gid" of a ready image, for sa_run_request.user: numeric, so that the engine
 * never resolves a name itself (its /etc/passwd reader is not SegArena's). */
void sa_image_run_user(const sa_image_info *info, char *out, size_t size);

/* Validates an upload completely before any engine sees it: the outer tar (regular
 * files and folders only, no absolute or ".." names, no links, no duplicates, sizes),
 * the format (docker-archive: manifest.json; OCI: index.json), exactly one image,
 * linux/amd64, a non-root USER, an entrypoint or cmd, the layers (no absolute or ".."
 * names, no symlink escaping the root, no hard link out of the layer, no device) and
 * the limits. A gzip or xz upload is decompressed (capped) into scratch_dir. On
 * success returns 0 and writes to tar_path_out the plain tar to hand to
 * sa_intake_load (archive_path itself when the upload was not compressed; it must not
 * change in between). On refusal returns -1, info->refusal says why and err reads
 * "<archive>: <one-line reason>". scratch_dir must exist and hold no ':'. */
int sa_intake_inspect(const char *archive_path, const sa_intake_limits *lim,
                      const char *scratch_dir, sa_image_info *info, char *tar_path_out,
                      size_t tar_path_size, sa_error *err);

/* The name SegArena loads a submission under: "localhost/segarena/sub-<id>", id made
 * of [a-z0-9_.-] (the platform's uploads: "<instance>-<32 hex of the config
 * digest>", one name per data directory; segarena try: "try-<24 hex>"). Returns
 * 0, or -1 when id is unusable or buf too small. */
int sa_intake_image_name(const char *id, char *buf, size_t size, sa_error *err);

/* Whose loads these are, so that the temporary name of a load that was killed can
 * be swept without touching a live load's: with an owner, a load's temporary name
 * is "localhost/segarena/load-<tag>-<24 hex>", and the load holds an flock on
 * <lock_dir>/load-<tag>-<24 hex>.lock (inherited by skopeo, the one client that
 * can create the name) from before the name can exist until it is gone. */
typedef struct sa_intake_owner {
    const char *lock_dir; /* an existing folder (a data directory's locks/) */
    const char *tag;      /* 1 to 16 of [a-z0-9]: the data directory's
                           * sa_store_instance, so that no two data directories
                           * on one host sweep each other's loads */
} sa_intake_owner;

/* Loads a tar validated by sa_intake_inspect into containers-storage under name
 * (see sa_intake_image_name): `skopeo copy --quiet` under a temporary name of this
 * load only, run by argv from a scratch working folder, then checks with `podman
 * image inspect` that the loaded image's id is info->config_digest, tags it as name
 * and removes the temporary name (untagged only, never forced). owner NULL (segarena
 * try): the temporary name is "localhost/segarena/load-<24 hex>", held by no lock,
 * which no sweep removes when the load is killed. A failed copy or podman step is
 * tried again (SA_INTAKE_LOAD_ATTEMPTS tries in all, a short pause between them):
 * containers/storage has races between clients that share layers. Returns 0;
 * SA_INTAKE_LOAD_REFUSED where the engine refused the image (skopeo failed every
 * try, or committed another image than the inspected one); or
 * SA_INTAKE_LOAD_ENGINE_FAILED where the engine failed around an image it had
 * copied, a tool could not be run (or skopeo exited 126/127: its loader), the
 * staged tar could not be resolved, or the call was wrong (a name outside
 * localhost/segarena/, an image not inspected): the host's trouble, never a
 * verdict on the image; each
 * with a one-line error that quotes the engine's stderr. */
#define SA_INTAKE_LOAD_ATTEMPTS 3
#define SA_INTAKE_LOAD_REFUSED (-1)
#define SA_INTAKE_LOAD_ENGINE_FAILED (-2)
int sa_intake_load(const char *tar_path, const sa_image_info *info, const char *name,
                   const sa_intake_owner *owner, sa_error *err);

/* The lock of one image's uploads in a data directory: <lock_dir>/image-<image_id>
 * .lock (image_id: the first 32 hex digits of the image's config digest, as
 * sa_intake_image_name takes it), flock'ed. An upload holds it from before its
 * load until its row is recorded; the sweep below holds it while it removes a
 * dead load's name of that image. wait 0: -1 at once when another holds it.
 * Returns the descriptor (closing it releases the lock), or -1 with err set. */
int sa_intake_image_lock(const char *lock_dir, const char *image_id, int wait, sa_error *err);

/* Removes the temporary names that killed loads of this owner left in podman's
 * store: each "localhost/segarena/load-<tag>-<24 hex>" whose lock file is absent
 * or held by no process, with `podman image rm NAME` (never --force: an image with
 * other names, a submission's included, is only untagged, and one that a container
 * uses is kept), and the lock files no process holds. Names of other tags, and of
 * loads in progress, are left alone. The removal holds the image's lock
 * (sa_intake_image_lock, not waiting: a name whose image an upload of this data
 * directory is loading is left for the next sweep), because podman counts an
 * image's names before it deletes it: a load of the same image naming it
 * meanwhile would lose it. A load of the same image by another data directory on
 * the same host is not covered by that lock (a rare race: that upload is then
 * refused as the engine's). Safe to run beside loads and other sweeps.
 * 0, or -1 when podman cannot list the images. */
int sa_intake_sweep_loads(const sa_intake_owner *owner, sa_error *err);

/* The submission image names of one data directory in podman's store: each
 * "localhost/segarena/sub-<tag>-<32 hex>" (tag: the data directory's instance,
 * sa_intake_image_name of "<tag>-<id>"), without ":latest", in a malloc'ed array
 * (free each, then the array). Other names, legacy "sub-<32 hex>" ones included,
 * are not listed. 0, or -1 when podman cannot list the images. */
int sa_intake_submission_names(const char *tag, char ***names, size_t *n, sa_error *err);

/* ---- Engine and sandboxed runs (engine.c, sandbox.c) ---- */

/* The container engine's command-line client. Podman (rootful, runc) is the
 * default; the docker CLI takes the same argv where the flags agree. Every
 * difference between the two lives in engine.c. */
typedef enum sa_engine_kind {
    SA_ENGINE_PODMAN,
    SA_ENGINE_DOCKER
} sa_engine_kind;

/* "podman" / "docker" (also the client program's name). */
const char *sa_engine_name(sa_engine_kind kind);

/* sa_intake_load into the given engine's store: podman's containers-storage
 * (sa_intake_load), or docker's daemon (skopeo's docker-daemon: transport, then
 * `docker image inspect`, `docker tag`, `docker image rm` of the temporary
 * name). The sweep of killed loads (sa_intake_sweep_loads) looks at podman's
 * store only. */
int sa_intake_load_into(sa_engine_kind engine, const char *tar_path, const sa_image_info *info,
                        const char *name, const sa_intake_owner *owner, sa_error *err);
/* Parses "podman" or "docker"; returns 0 or -1. */
int sa_engine_parse(const char *name, sa_engine_kind *out, sa_error *err);

/* ---- `segarena try`'s image names (try_names.c) ---- */

/* One try's image name, "localhost/segarena/sub-try-<24 hex>", the run id of its
 * container ("try-<24 hex>": container "segarena-try-<24 hex>-case", one per try,
 * so that tries at once never share a container name) and its lock file
 * "<lock_dir>/try-<24 hex>.lock", flock'ed (close-on-exec) while the try lives. */
typedef struct sa_try_name {
    char name[96];
    char run_id[32];
    char lock_path[4200];
    int lock_fd;
} sa_try_name;

/* The folder of this user's try lock files, /tmp/segarena-try-<euid> (made 0700
 * if missing; refused when it is not a folder owned by this user and writable by
 * no one else). 0, or -1 with err. */
int sa_try_lock_dir(char *buf, size_t size, sa_error *err);
/* A fresh name, its lock file created and locked before the name can exist; the
 * engine the try uses and its work folder scratch_dir (made by mkdtemp as
 * "<dir>/segarena-try.XXXXXX", written as an absolute path) go in it, a line each,
 * for the sweep. 0 or -1. */
int sa_try_name_take(const char *lock_dir, sa_engine_kind engine, const char *scratch_dir, sa_try_name *out,
                     sa_error *err);
/* The try is over: name_gone 1 when its image name was removed, or is kept on
 * purpose (--keep-image): the lock file is deleted and no sweep ever takes the
 * name; 0 when the removal failed: the lock file stays, unheld, for a sweep. */
void sa_try_name_release(sa_try_name *t, int name_gone);
/* Removes what killed tries of this user left: for each lock file in lock_dir
 * held by no process, its try's container (`rm -f`), its work folder (the case's
 * /output tmpfs unmounted) and its image name (`<engine> image rm NAME`, never
 * forced: an image a container still uses stays, for the next sweep; the lock
 * file is deleted once the name is gone), under the image's lock
 * (sa_intake_image_lock in lock_dir, not waiting), and, with podman, the temporary
 * names of their killed loads (sa_intake_sweep_loads, tag "try"). Names of live
 * tries, names kept with --keep-image and names without a lock file (from before
 * the lock files) are left alone, and so are the lock files of tries made with
 * another engine (their container and name are in that engine's store: a try with
 * that engine sweeps them). 0, or -1 when lock_dir cannot be listed. */
int sa_try_sweep(sa_engine_kind engine, const char *lock_dir, sa_error *err);

/* Removes the containers labelled segarena=1 whose name starts with name_prefix
 * (left over from a crash of the caller's own runs), running or not: e.g.
 * "segarena-<run>-" for the run ids the caller gives sa_run_request. Never those of
 * other prefixes: other data directories', workers', users' runs on the same host.
 * name_prefix must be "segarena-" and at least one more character. Run at
 * start-up, before any case. Returns 0 or -1 (bad prefix, engine failed). */
int sa_engine_sweep(sa_engine_kind kind, const char *name_prefix, sa_error *err);


/* Names of every container labelled segarena=1 (running or not), malloc'ed
 * strings in a malloc'ed array (free each, then the array). 0 or -1. */
int sa_engine_list_containers(sa_engine_kind kind, char ***names, size_t *n, sa_error *err);

/* Removes one container by name (`rm -f`); 0 or -1. */
int sa_engine_remove_container(sa_engine_kind kind, const char *name, sa_error *err);

/* Removes an image SegArena loaded (`<engine> rmi <image>`): 0, or -1 with the
 * engine's status. An image still used by a container is not removed. */
int sa_engine_remove_image(sa_engine_kind kind, const char *image, sa_error *err);

/* The environment an engine client (podman, docker, skopeo) is started with:
 * only the variables of this process that the engines need (PATH, HOME, USER,
 * LOGNAME, TMPDIR, TZ, LANG, LANGUAGE, LC_*, XDG_*_HOME/DIRS, XDG_RUNTIME_DIR,
 * DBUS_SESSION_BUS_ADDRESS, CONTAINERS_*, _CONTAINERS_*, CONTAINER_HOST,
 * CONTAINER_CONNECTION, CONTAINER_SSHKEY, REGISTRY_AUTH_FILE, STORAGE_DRIVER,
 * STORAGE_OPTS, DOCKER_HOST, DOCKER_CONFIG, DOCKER_CONTEXT, DOCKER_CERT_PATH,
 * DOCKER_TLS_VERIFY, DOCKER_API_VERSION), so that an image's Env can never copy
 * the server's own (podman expands "NAME" and "*" from its client's environment).
 * Fills out (cap pointers into environ, NULL-ended; call before fork, assign
 * environ = out in the child before exec). Returns the count. */
size_t sa_engine_environ(char **out, size_t cap);

/* GPUs this host can pass to a container: NVIDIA device nodes (/dev/nvidiaN)
 * and, for podman, a CDI spec for nvidia.com/gpu in /etc/cdi or /var/run/cdi.
 * Returns how many (0: none, with the reason in why when given). */
int sa_gpu_available(sa_engine_kind kind, char *why, size_t why_size);
/* Hands out GPU indices 0..n_gpus-1 to concurrent jobs of this host without
 * overlap, across processes (a flock(2)ed file a GPU in SEGARENA_GPU_LOCK_DIR, else
 * /run/lock, else /tmp; dropped by the kernel when a process dies): returns a free
 * index (now taken), -1 when all are taken, or -2 when a lock file cannot be opened
 * (a platform problem: waiting would not help). */
int sa_gpu_claim(int n_gpus);
/* sa_gpu_claim of GPU `gpu` alone: gpu (now taken), -1 busy, -2 no lock file. */
int sa_gpu_claim_index(int gpu);
void sa_gpu_release(int gpu);
/* The GPU index (as /dev/nvidiaN and the lock files number them) that this
 * process's CUDA device 0 is: 0 without CUDA_VISIBLE_DEVICES, its first entry when
 * that is a number below 64, else -1 (a UUID or MIG id: not a GPU the locks name). sa_gpu_order_by_bus() makes CUDA number devices as nvidia-smi
 * does (CUDA_DEVICE_ORDER=PCI_BUS_ID unless set); call it before any CUDA use. */
int sa_gpu_cuda_device0_index(void);
void sa_gpu_order_by_bus(void);

/* Limits of one case (container-contract.md). */
typedef struct sa_run_limits {
    double wall_seconds;   /* default 600 (kill by name when it runs past) */
    uint64_t memory_bytes; /* default 8 GiB; swap = memory (no swap) */
    double cpus;           /* default 2 */
    long pids;             /* default 256 */
    uint64_t output_bytes; /* size cap of /output; default 1 GiB */
    uint64_t tmp_bytes;    /* size of the /tmp tmpfs; default 2 GiB */
    size_t log_bytes;      /* stdout+stderr kept (the last ones); default 1 MiB */
    int gpu;               /* GPU index to pass in, -1 (default): none */
} sa_run_limits;

void sa_run_limits_default(sa_run_limits *lim);

/* One input image of the case, staged as /input/<role><ext of path>. */
typedef struct sa_run_input {
    const char *role; /* "flair", "pet", ... (sa_dataset_id_valid) */
    const char *path; /* host file (.nii.gz, .nii, .mha, .nrrd, ...) */
} sa_run_input;

typedef struct sa_run_request {
    sa_engine_kind engine;
    const char *image;   /* a name or id the engine already holds (never pulled) */
    const char *run_id;  /* sa_dataset_id_valid; container segarena-<run>-<case> */
    const char *case_id; /* sa_dataset_id_valid */
    const sa_run_input *inputs;
    size_t n_inputs;
    const char *reference;   /* geometry the mask must match; NULL: inputs[0].path */
    const char *scratch_dir; /* existing folder of SegArena's; the case works in a
                              * fresh subfolder <scratch>/<run>-<case>, removed at the
                              * end except the accepted mask */
    const char *user;        /* NULL: the image's own (non-root) USER; else --user */
} sa_run_request;

typedef enum sa_run_class {
    SA_RUN_SUCCEEDED,
    SA_RUN_TIMEOUT,
    SA_RUN_OUT_OF_MEMORY,
    SA_RUN_EXIT_CODE,
    SA_RUN_NO_OUTPUT,
    SA_RUN_INVALID_OUTPUT,
    SA_RUN_ENGINE_ERROR
} sa_run_class;

/* "succeeded", "timeout", "out_of_memory", "exit_code", "no_output",
 * "invalid_output", "engine_error". */
const char *sa_run_class_name(sa_run_class c);

typedef struct sa_run_result {
    int succeeded;          /* status: 1 succeeded, 0 failed */
    sa_run_class cls;
    /* The recorded error class: "succeeded", "timeout", "out_of_memory",
     * "exit_code 3", "no_output", "invalid_output: wrong geometry" (reasons: not an
     * image, wrong geometry, not integer, empty file, too big, not a regular file),
     * "engine_error: <reason>". Never holds text that came from the container. */
    char class_text[160];
    int exit_code;            /* the container's exit status; -1 when none */
    double wall_seconds;      /* engine client start to exit */
    int64_t peak_memory_bytes; /* from the container's cgroup; -1 unknown */
    /* Organisers only (may quote the image's output or the hidden data): */
    char *log;                /* last log_bytes of stdout+stderr, NUL-terminated */
    size_t log_len;
    int log_truncated;        /* 1 when earlier output was dropped */
    char detail[512];         /* why it was classified so (reader message, ...) */
    char *output_path;        /* accepted mask, copied to the case's scratch
                               * folder; NULL unless succeeded */
} sa_run_result;

void sa_run_result_free(sa_run_result *r);

/* Runs one case of a submission (container-contract.md, "One run per test case")
 * and classifies the outcome into *out. Returns 0 whenever a classification
 * was made (engine_error included), -1 only for SegArena's own failures (bad
 * request, scratch folder unusable, out of memory) with err set. Thread-safe:
 * distinct cases may run concurrently. */
int sa_run_case(const sa_run_request *req, const sa_run_limits *lim, sa_run_result *out,
                sa_error *err);

/* Unmounts and removes the work folder <scratch_dir>/<run_id>-<case_id> that a
 * case whose process was killed left behind (sa_run_case does the same for its
 * own case before it starts). Ids as for sa_run_request; never crosses into
 * another file system except to unmount the case's own /output tmpfs. */
void sa_run_case_cleanup(const char *scratch_dir, const char *run_id, const char *case_id);

#ifdef __cplusplus
}
#endif
#endif
