#ifndef SWIFTFUNC_CTICKS_SHIM_H
#define SWIFTFUNC_CTICKS_SHIM_H
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

// 1 when sf_read_ticks reads a hardware counter, 0 when it falls back to CLOCK_MONOTONIC.
#if defined(__x86_64__) || defined(__aarch64__)
#define SF_TICKS_FROM_HARDWARE 1
#else
#define SF_TICKS_FROM_HARDWARE 0
#endif

// The time-stamp counter (x86-64) or the virtual counter (AArch64): a few nanoseconds, no
// system call and none of the vDSO's conversion. Not serialising: good for durations of a
// microsecond and more, which is what the invocation histogram's buckets start far above.
static inline uint64_t sf_read_ticks(void) {
#if defined(__x86_64__)
    return __rdtsc();
#elif defined(__aarch64__)
    uint64_t value;
    __asm__ volatile("mrs %0, cntvct_el0" : "=r"(value));
    return value;
#else
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
#endif
}
#endif
