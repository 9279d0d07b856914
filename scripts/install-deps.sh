#!/usr/bin/env bash
# Installs what building and testing swiftfunc needs, when it is missing: librdkafka and libffi
# (headers + pkg-config files), mimalloc (libmimalloc2.0: the allocator the swiftfunc executable links), avro-c (libavro-dev: Avro records), libprotobuf (libprotobuf-dev, and libprotoc-dev for the
# .proto parser's headers: Protobuf records), python3-venv (the schema
# tests' serializers come from PyPI into a virtual environment), and Debian's python3-confluent-kafka and kcat, the independent
# Kafka clients the tests and benchmarks use, and python3-yaml (the deploy manifests' test).
set -euo pipefail

packages=()
pkg-config --version >/dev/null 2>&1 || packages+=(pkg-config)
pkg-config --exists rdkafka 2>/dev/null || packages+=(librdkafka-dev)
pkg-config --exists libffi 2>/dev/null || packages+=(libffi-dev)
pkg-config --exists avro-c 2>/dev/null || packages+=(libavro-dev)
pkg-config --exists protobuf 2>/dev/null || packages+=(libprotobuf-dev)
[ -f /usr/include/google/protobuf/compiler/parser.h ] || packages+=(libprotoc-dev)
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || packages+=(python3-venv)
/usr/bin/python3 -c 'import confluent_kafka' >/dev/null 2>&1 || packages+=(python3-confluent-kafka)
/usr/bin/python3 -c 'import yaml' >/dev/null 2>&1 || packages+=(python3-yaml)
command -v kcat >/dev/null 2>&1 || packages+=(kcat)
# mimalloc: the swiftfunc executable links it in place of glibc's malloc (BENCHMARKS.md, "The allocator").
/sbin/ldconfig -p | grep -q 'libmimalloc\.so\.2 ' || packages+=(libmimalloc2.0)
[ ${#packages[@]} -eq 0 ] && exit 0

echo "swiftfunc needs: ${packages[*]} (installing with apt-get)"
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo"
else
    echo "error: cannot install packages without root. Run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${packages[*]}" >&2
    echo "then run make again." >&2
    exit 1
fi
if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}"; }; then
    echo "error: apt-get could not install ${packages[*]}." >&2
    echo "Install them by hand (Debian/Ubuntu: apt-get install ${packages[*]}) and run make again." >&2
    exit 1
fi
