// The benchmark's C functions on ABI version 1 (make bench's v1 rows): bench/NoopC/noop.c built
// for version 1, so the host fills every event's headers before the call.
#define SWIFTFUNC_ABI_VERSION 1
#include "../NoopC/noop.c"
