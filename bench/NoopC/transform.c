// The pipeline section's C function (make bench; see bench/run.py): one `kafka` output binding.
//   upper_one / upper_many: upper-case each value (ASCII a-z) and send it to the output binding
//                           (no key, the partitioner picks; send without a delivery pointer, so
//                           the host, not the function, waits for the acknowledgement). Once
//                           $BENCH_EXPECTED events have been sent they write
//                           "FIRST_NS LAST_NS COUNT" (CLOCK_MONOTONIC: the first call, the call
//                           that reached the count) to $BENCH_RESULT, as count_one does in noop.c.
#include "swiftfunc.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

const char *swiftfunc_signature_upper_one(void) { return "trigger=one outputs=1"; }
const char *swiftfunc_signature_upper_many(void) { return "trigger=many outputs=1"; }

// The host calls a function from one thread at a time (ordering partition), so plain statics suffice.
static long long expected = -1, sent = 0, first_ns = 0;
static int done = 0;
static uint8_t *buffer = NULL;
static size_t capacity = 0;

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void started(void) {
    if (first_ns != 0) return;
    first_ns = now_ns();
    const char *text = getenv("BENCH_EXPECTED");
    expected = text ? atoll(text) : -1;
}

static void counted(size_t count) {
    sent += (long long)count;
    if (expected >= 0 && sent >= expected && !done) {
        done = 1;
        const char *path = getenv("BENCH_RESULT");
        FILE *file = path ? fopen(path, "w") : NULL;
        if (file) {
            fprintf(file, "%lld %lld %lld\n", first_ns, now_ns(), sent);
            fclose(file);
        }
    }
}

// The host copies every byte before send returns, so one buffer, grown to the largest value, serves every call.
static int32_t send_upper_cased(const sf_event *event, const sf_output *output) {
    sf_message message = {.partition = -1};
    if (event->value) {
        if (event->value_length > capacity) {
            uint8_t *grown = realloc(buffer, event->value_length);
            if (!grown) return SF_ERROR;
            buffer = grown;
            capacity = event->value_length;
        }
        for (size_t i = 0; i < event->value_length; i++) {
            uint8_t c = event->value[i];
            buffer[i] = (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
        }
        message.value = buffer;
        message.value_length = event->value_length;
    }
    return output->send(output, &message, NULL);
}

int32_t upper_one(const sf_event *event, const sf_output *output, const sf_context *context) {
    (void)context;
    started();
    if (send_upper_cased(event, output) != SF_OK) return SF_ERROR;
    counted(1);
    return SF_OK;
}

int32_t upper_many(const sf_event *events, size_t count, const sf_output *output, const sf_context *context) {
    (void)context;
    started();
    for (size_t i = 0; i < count; i++) {
        if (send_upper_cased(&events[i], output) != SF_OK) return SF_ERROR;
    }
    counted(count);
    return SF_OK;
}
