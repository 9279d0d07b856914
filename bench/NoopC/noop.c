// The benchmark's C function: the C boundary alone, no Swift SDK.
//   noop_one / noop_many:   do nothing (the micro-benchmark calls these).
//   headers_one:            (version 2) asks the host for the event's headers, which it parses
//                           then (the micro-benchmark's function that reads headers).
//   count_one / count_many: do nothing but count events; once $BENCH_EXPECTED have arrived they
//                           write "FIRST_NS LAST_NS COUNT" (CLOCK_MONOTONIC: the first call, the
//                           call that reached the count) to $BENCH_RESULT.
#include "swiftfunc.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

uint32_t swiftfunc_abi_version(void) { return SWIFTFUNC_ABI_VERSION; }

int32_t noop_one(const sf_event *event, const sf_context *context) {
    (void)event;
    (void)context;
    return SF_OK;
}

int32_t noop_many(const sf_event *events, size_t count, const sf_context *context) {
    (void)events;
    (void)count;
    (void)context;
    return SF_OK;
}

#if SWIFTFUNC_ABI_VERSION == 2
static size_t headers_seen = 0;

int32_t headers_one(const sf_event *event, const sf_context *context) {
    const sf_header *headers;
    headers_seen += context->headers(context, event, &headers);
    return SF_OK;
}
#endif

// The host calls a function from one thread, so plain statics suffice.
static long long expected = -1, consumed = 0, first_ns = 0;
static int done = 0;

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void counted(size_t count) {
    if (first_ns == 0) {
        first_ns = now_ns();
        const char *text = getenv("BENCH_EXPECTED");
        expected = text ? atoll(text) : -1;
    }
    consumed += (long long)count;
    if (expected >= 0 && consumed >= expected && !done) {
        done = 1;
        const char *path = getenv("BENCH_RESULT");
        FILE *file = path ? fopen(path, "w") : NULL;
        if (file) {
            fprintf(file, "%lld %lld %lld\n", first_ns, now_ns(), consumed);
            fclose(file);
        }
    }
}

int32_t count_one(const sf_event *event, const sf_context *context) {
    (void)event;
    (void)context;
    counted(1);
    return SF_OK;
}

int32_t count_many(const sf_event *events, size_t count, const sf_context *context) {
    (void)events;
    (void)context;
    counted(count);
    return SF_OK;
}
