#!/usr/bin/env bash
# Builds librdkafka from Debian's own newer source package (trixie carries 2.8.0) into a prefix
# inside the repository's ignored build folder, so the host can be built and tested against a
# current librdkafka next to Debian 12's 2.0.2 (`make test LIBRDKAFKA=current`).
#
#   scripts/build-librdkafka.sh            # -> .build/librdkafka-2.8/{include,lib,lib/pkgconfig}
#   LIBRDKAFKA_VERSION=2.8.0 LIBRDKAFKA_SUITE=trixie scripts/build-librdkafka.sh
#
# What it changes on the machine (as root, or with password-less sudo):
# - adds /etc/apt/sources.list.d/swiftfunc-trixie-src.sources: a deb-src line for trixie only.
#   No binary (deb) line is added, so no system package is upgraded or pinned;
# - installs librdkafka's build dependencies from Debian 12 (liblz4-dev libzstd-dev libssl-dev
#   libsasl2-dev zlib1g-dev libcurl4-openssl-dev) when missing.
# Nothing is installed outside the repository otherwise: the library lives in the prefix, and the
# Makefile points pkg-config, the linker's rpath and LD_LIBRARY_PATH at it.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${LIBRDKAFKA_VERSION:-2.8.0}"
suite="${LIBRDKAFKA_SUITE:-trixie}"
series="${version%.*}"                                   # 2.8
prefix="${LIBRDKAFKA_PREFIX:-$PWD/.build/librdkafka-$series}"
work="$PWD/.build/librdkafka-src"
jobs="${JOBS:-2}"

if [ -f "$prefix/lib/pkgconfig/rdkafka.pc" ] && [ -f "$prefix/include/librdkafka/rdkafka_mock.h" ] \
    && grep -q "^Version: $version" "$prefix/lib/pkgconfig/rdkafka.pc"; then
    echo "librdkafka $version already built in $prefix"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo"
else
    echo "error: adding the $suite deb-src line and the build dependencies needs root." >&2
    exit 1
fi

started=$(date +%s)

build_deps=()
for package in dpkg-dev build-essential pkg-config liblz4-dev libzstd-dev libssl-dev libsasl2-dev zlib1g-dev libcurl4-openssl-dev; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || build_deps+=("$package")
done

sources_file=/etc/apt/sources.list.d/swiftfunc-$suite-src.sources
need_update=""
if [ ! -f "$sources_file" ]; then
    echo "Adding $sources_file (deb-src only)"
    $sudo tee "$sources_file" >/dev/null <<SOURCES
# Added by swiftfunc's scripts/build-librdkafka.sh: source packages only (apt-get source), so a
# newer librdkafka can be built into the repository's .build folder. No binary packages.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    need_update=1
fi
if [ -n "$need_update" ] || [ ${#build_deps[@]} -gt 0 ]; then
    $sudo apt-get update -qq
fi
if [ ${#build_deps[@]} -gt 0 ]; then
    echo "Installing librdkafka's build dependencies from Debian 12: ${build_deps[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${build_deps[@]}"
fi

rm -rf "$work" && mkdir -p "$work"
(
    cd "$work"
    # The exact Debian version (e.g. 2.8.0-1) from the trixie source index.
    debian_version=$(apt-cache showsrc librdkafka 2>/dev/null \
        | awk -v v="$version" '$1 == "Version:" && index($2, v "-") == 1 { print $2; exit }')
    if [ -z "$debian_version" ]; then
        echo "error: no librdkafka $version source package in apt's index (is $sources_file there and apt-get update run?)" >&2
        exit 1
    fi
    echo "Fetching Debian's source package librdkafka=$debian_version"
    apt-get source -qq "librdkafka=$debian_version" >/dev/null
)
source_dir=$(find "$work" -maxdepth 1 -type d -name "librdkafka-$version*" | head -n 1)
[ -n "$source_dir" ] || { echo "error: apt-get source unpacked nothing in $work" >&2; exit 1; }

echo "Building librdkafka $version into $prefix ($jobs jobs)"
(
    cd "$source_dir"
    # The C library only (the host does not use librdkafka++); static libraries too are built by
    # default, which is fine. No install-deps: every dependency comes from Debian 12.
    ./configure --prefix="$prefix" --enable-ssl --enable-gssapi --enable-zstd --enable-lz4-ext \
        --enable-curl --disable-debug-symbols >"$work/configure.log" 2>&1 \
        || { tail -n 40 "$work/configure.log" >&2; exit 1; }
    nice -n 5 make -C src -j"$jobs" >"$work/make.log" 2>&1 || { tail -n 40 "$work/make.log" >&2; exit 1; }
    make -C src install >"$work/install.log" 2>&1 || { tail -n 40 "$work/install.log" >&2; exit 1; }
)
# The host includes <librdkafka/rdkafka_mock.h> (the embedded broker); make sure it was installed.
if [ ! -f "$prefix/include/librdkafka/rdkafka_mock.h" ]; then
    install -m 0644 "$source_dir/src/rdkafka_mock.h" "$prefix/include/librdkafka/"
fi
echo "librdkafka $version built in $prefix in $(( $(date +%s) - started )) s"
