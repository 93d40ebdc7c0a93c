#!/bin/sh
# deps.sh: the Debian packages SegArena builds and tests with. Sourced by the
# set-up scripts; `install_missing_packages` installs what is missing when run as
# root and otherwise prints the exact apt-get line and fails.

SEGARENA_BUILD_PACKAGES="cmake make gcc g++ pkg-config libinsighttoolkit5-dev libdeflate-dev zlib1g-dev libjansson-dev libsodium-dev liblzma-dev libsqlite3-dev libmicrohttpd-dev"
SEGARENA_TEST_PACKAGES="curl python3 python3-nibabel python3-numpy dcmtk podman runc skopeo uidmap slirp4netns fuse-overlayfs chromium"
SEGARENA_BENCH_PACKAGES="plastimatch wrk"
# What running contestant containers needs (the main job's challenge step, the tests).
SEGARENA_RUN_PACKAGES="podman runc skopeo uidmap slirp4netns fuse-overlayfs"

# Node.js and npm drive the browser test (playwright-core, which runs on Node 18,
# Debian 12's own). Debian's nodejs and npm are added only where no `node` or
# `npm` is on PATH, so that a Node.js from elsewhere (NodeSource, nvm) is kept.
node_packages_if_absent() {
    command -v node >/dev/null 2>&1 || printf 'nodejs '
    command -v npm >/dev/null 2>&1 || printf 'npm '
}

missing_packages() {
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            printf '%s ' "$p"
        fi
    done
}

install_missing_packages() {
    missing=$(missing_packages "$@")
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "segarena: missing Debian packages; install them as root with:" >&2
        echo "  apt-get install -y --no-install-recommends $missing" >&2
        return 1
    fi
    echo "segarena: installing $missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || return 1
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null || return 1
}

# The container engine's settings for this host (issue 5): a drop-in that every
# podman call SegArena makes relies on. runc with cgroupfs, a file events
# logger, no proxy variables passed in, and default ulimits no higher than this
# host lets a process set (without CAP_SYS_RESOURCE, raising them fails).
install_podman_config() {
    command -v podman >/dev/null 2>&1 || return 0
    [ "$(id -u)" -eq 0 ] || return 0
    nofile=$(ulimit -Hn)
    case "$nofile" in ''|unlimited|*[!0-9]*) nofile=1048576 ;; esac
    [ "$nofile" -gt 1024 ] && nofile=1024
    nproc=$(awk '/^Max processes/ {print $4}' /proc/self/limits 2>/dev/null)  # dash has no ulimit -u
    case "$nproc" in ''|unlimited|*[!0-9]*) nproc=4096 ;; esac
    [ "$nproc" -gt 4096 ] && nproc=4096
    mkdir -p /etc/containers/containers.conf.d
    cat > /etc/containers/containers.conf.d/50-segarena.conf <<CONF
# Written by SegArena's set-up (scripts/deps.sh): see docs/containers.md.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
http_proxy = false

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
}
