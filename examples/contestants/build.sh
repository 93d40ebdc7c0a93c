#!/bin/sh
# Builds the baseline contestants into docker-archive images, without a Docker engine:
#   build.sh OUTDIR   ->  OUTDIR/ms_flair_threshold.tar, OUTDIR/pet_suvmax40.tar
# Needs a C compiler with static libc and zlib (libz.a), and podman.
# Environment: CC (default cc).
set -eu
if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
cc=${CC:-cc}
ctx=$(mktemp -d "${TMPDIR:-/tmp}/segarena-contestants.XXXXXX")
trap 'rm -rf "$ctx"' EXIT INT TERM
for name in ms_flair_threshold pet_suvmax40; do
    mkdir -p "$ctx/$name"
    "$cc" -std=c11 -D_POSIX_C_SOURCE=200809L -static -O2 -Wall -Wextra \
        -o "$ctx/$name/$name" "$here/$name/main.c" "$here/common/nifti_io.c" -lz -lm
    cp "$here/$name/Containerfile" "$ctx/$name/Containerfile"
    tag="localhost/segarena-example-$name-$$:latest"
    podman build -q --platform linux/amd64 -f "$ctx/$name/Containerfile" -t "$tag" "$ctx/$name" >/dev/null
    rm -f "$out/$name.tar"
    if ! podman save -q --format docker-archive -o "$out/$name.tar" "$tag"; then
        podman rmi -f "$tag" >/dev/null 2>&1 || true
        echo "$0: podman save failed for $name" >&2
        exit 1
    fi
    podman rmi -f "$tag" >/dev/null
    echo "$out/$name.tar"
done
