#!/usr/bin/env bash
# Builds a current librdkafka from Debian's own source package (forky and sid carry 2.14.2) into a
# prefix inside the repository's ignored build folder, so the host can be built and tested against
# it next to Debian 12's 2.0.2 (`make test LIBRDKAFKA=current`).
#
#   scripts/build-librdkafka.sh            # -> .build/librdkafka-2.14/{include,lib,lib/pkgconfig}
#   LIBRDKAFKA_VERSION=2.14.2 LIBRDKAFKA_SUITES="forky sid" scripts/build-librdkafka.sh
#
# It builds the upstream tarball of that source package (librdkafka_VERSION.orig.tar.gz), not the
# tree `apt-get source` would unpack: Debian's patches make 2.14's tree expect nanopb-generated
# OpenTelemetry headers that Debian 12 cannot provide, and the upstream tarball vendors them.
# apt checks the tarball against the signed source index, as it does for any package.
#
# What it changes on the machine (as root, or with password-less sudo):
# - adds /etc/apt/sources.list.d/swiftfunc-librdkafka-src.sources: a deb-src line for those
#   suites only. No binary (deb) line is added, so no system package is upgraded or pinned;
# - installs librdkafka's build dependencies from Debian 12 (build-essential pkg-config
#   liblz4-dev libzstd-dev libssl-dev libsasl2-dev zlib1g-dev libcurl4-openssl-dev) when missing.
# Nothing is installed outside the repository otherwise: the library lives in the prefix, and the
# Makefile points pkg-config and the linker's rpath at it.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${LIBRDKAFKA_VERSION:-2.14.2}"
suites="${LIBRDKAFKA_SUITES:-forky sid}"
series="${version%.*}"                                   # 2.14
prefix="${LIBRDKAFKA_PREFIX:-$PWD/.build/librdkafka-$series}"
work="$PWD/.build/librdkafka-src"
jobs="${JOBS:-2}"
sources_file=/etc/apt/sources.list.d/swiftfunc-librdkafka-src.sources

step="starting"
say() { echo "librdkafka $version: $*"; step="$*"; }
fail() {
    echo "error: building librdkafka $version failed while: $step" >&2
    [ $# -gt 0 ] && echo "$*" >&2
    exit 1
}
trap 'fail' ERR

if [ -f "$prefix/lib/pkgconfig/rdkafka.pc" ] && [ -f "$prefix/include/librdkafka/rdkafka_mock.h" ] \
    && grep -q "^Version: $version\$" "$prefix/lib/pkgconfig/rdkafka.pc"; then
    echo "librdkafka $version already built in $prefix"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo"
else
    fail "Adding a deb-src line for $suites and installing the build dependencies needs root (or password-less sudo)."
fi

started=$(date +%s)
rm -rf "$work" && mkdir -p "$work"

build_deps=()
for package in ca-certificates build-essential pkg-config liblz4-dev libzstd-dev libssl-dev libsasl2-dev zlib1g-dev libcurl4-openssl-dev; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || build_deps+=("$package")
done

need_update=""
if [ ! -f "$sources_file" ] || ! grep -q "^Suites: $suites\$" "$sources_file"; then
    say "adding $sources_file (deb-src for $suites only)"
    $sudo tee "$sources_file" >/dev/null <<SOURCES
# Added by swiftfunc's scripts/build-librdkafka.sh: source packages only, so a current librdkafka
# can be built into the repository's .build folder. No binary packages come from these suites.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $suites
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    need_update=1
fi
# A source index older than the newest package is as good as none (the version may have moved on).
if [ -z "$need_update" ] && ! apt-cache showsrc librdkafka 2>/dev/null | grep -q "^Version: $version-"; then
    need_update=1
fi
if [ -n "$need_update" ] || [ ${#build_deps[@]} -gt 0 ]; then
    say "updating apt's package lists"
    $sudo apt-get update -qq || fail "apt-get update failed: is deb.debian.org reachable?"
fi
if [ ${#build_deps[@]} -gt 0 ]; then
    say "installing the build dependencies from Debian 12: ${build_deps[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${build_deps[@]}" \
        >"$work/apt-install.log" 2>&1 || fail "apt-get install ${build_deps[*]} failed: $(tail -n 20 "$work/apt-install.log")"
fi

# The exact Debian version (e.g. 2.14.2-1) from the source index.
step="looking up the source package"
debian_version=$(apt-cache showsrc librdkafka 2>/dev/null \
    | awk -v v="$version" '$1 == "Version:" && index($2, v "-") == 1 { print $2; exit }')
[ -n "$debian_version" ] || fail "No librdkafka $version source package in apt's index for $suites
(versions there: $(apt-cache showsrc librdkafka 2>/dev/null | awk '$1 == "Version:" { printf "%s ", $2 }')).
Set LIBRDKAFKA_VERSION to one of them (and LIBRDKAFKA_CURRENT_VERSION for make), or LIBRDKAFKA_SUITES to a suite that has $version."

say "downloading Debian's source package librdkafka=$debian_version"
(cd "$work" && apt-get source --download-only -qq "librdkafka=$debian_version" >"$work/download.log" 2>&1) \
    || fail "$(tail -n 20 "$work/download.log")"
tarball="$work/librdkafka_$version.orig.tar.gz"
[ -f "$tarball" ] || fail "The source package has no upstream tarball $(basename "$tarball"): $(ls "$work")"
# Its top folder is named after the upstream commit (confluentinc-librdkafka-6516057), so strip it.
source_dir="$work/librdkafka-$version"
mkdir -p "$source_dir"
tar -xzf "$tarball" -C "$source_dir" --strip-components=1
[ -x "$source_dir/configure" ] || fail "$(basename "$tarball") has no configure script at its top"

say "configuring (log: $work/configure.log)"
cd "$source_dir"
# The C library only (the host does not use librdkafka++); static libraries too are built by
# default, which is fine. No install-deps: every dependency comes from Debian 12.
./configure --prefix="$prefix" --enable-ssl --enable-gssapi --enable-zstd --enable-lz4-ext \
    --enable-curl --disable-debug-symbols >"$work/configure.log" 2>&1 \
    || fail "$(tail -n 40 "$work/configure.log")"

total=$(find src -maxdepth 1 -name '*.c' | wc -l)
say "compiling $total C files with $jobs jobs (log: $work/make.log)"
nice -n 5 make -C src -j"$jobs" >"$work/make.log" 2>&1 &
make_pid=$!
while kill -0 "$make_pid" 2>/dev/null; do
    sleep 15
    kill -0 "$make_pid" 2>/dev/null || break
    echo "librdkafka $version: compiled $(find src -maxdepth 1 -name '*.o' | wc -l) of $total files, $(( $(date +%s) - started )) s"
done
wait "$make_pid" || fail "$(grep -m 5 -i 'error' "$work/make.log"; tail -n 30 "$work/make.log")"

say "installing into $prefix"
make -C src install >"$work/install.log" 2>&1 || fail "$(tail -n 40 "$work/install.log")"
# The host includes <librdkafka/rdkafka_mock.h> (the embedded broker); make sure it was installed.
if [ ! -f "$prefix/include/librdkafka/rdkafka_mock.h" ]; then
    install -m 0644 "src/rdkafka_mock.h" "$prefix/include/librdkafka/"
fi
grep -q "^Version: $version\$" "$prefix/lib/pkgconfig/rdkafka.pc" \
    || fail "$prefix/lib/pkgconfig/rdkafka.pc does not say Version: $version"
echo "librdkafka $version built in $prefix in $(( $(date +%s) - started )) s"
