#!/bin/sh
# deps.sh: the Debian packages SegArena builds and tests with. Sourced by the
# set-up scripts; `install_missing_packages` installs what is missing when run as
# root and otherwise prints the exact apt-get line and fails.

SEGARENA_BUILD_PACKAGES="cmake make gcc g++ pkg-config libinsighttoolkit5-dev libdeflate-dev zlib1g-dev libjansson-dev libsodium-dev"
SEGARENA_TEST_PACKAGES="python3 python3-nibabel python3-numpy dcmtk"
SEGARENA_BENCH_PACKAGES="plastimatch"

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
