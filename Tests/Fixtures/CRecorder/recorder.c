/*
 * The Recorder fixture in plain C, written from docs/ABI.md alone, for either ABI version:
 * record_v1.c builds it for version 1, record_v2.c for version 2 (the tests build both with
 * cc -shared, as a C author would, and run them side by side in one host).
 *
 * record_one (ONE) and record_many (MANY) append what they received, exactly, to
 * $SWIFTFUNC_RECORD_DIR/<function name>.jsonl in the Swift Recorder's format (bytes as hex, null as
 * JSON null), one line per invocation. Version 2 also records, per event, the first header called
 * "dup" as the host's header(name) accessor finds it ("dup") and the trace context ("trace").
 */
#include <stdio.h>
#include <stdlib.h>
#include <swiftfunc.h>

uint32_t swiftfunc_abi_version(void) { return SWIFTFUNC_ABI_VERSION; }
const char *swiftfunc_signature_record_one(void) { return "trigger=one outputs=0"; }
const char *swiftfunc_signature_record_many(void) { return "trigger=many outputs=0"; }

static void hex(FILE *file, const void *bytes, size_t length) {
    if (bytes == NULL) {
        fputs("null", file);
        return;
    }
    fputc('"', file);
    for (size_t i = 0; i < length; i++) fprintf(file, "%02x", ((const uint8_t *)bytes)[i]);
    fputc('"', file);
}

static void describe(FILE *file, const sf_event *event, const sf_context *context) {
    const sf_header *headers;
    size_t count;
#if SWIFTFUNC_ABI_VERSION == 1
    (void)context;
    headers = event->headers;
    count = event->header_count;
#else
    count = context->headers(context, event, &headers);
#endif
    fprintf(file, "{\"topic\":\"%.*s\",\"partition\":%d,\"offset\":%lld,\"timestamp\":%lld,\"timestampType\":%d,\"key\":",
            (int)event->topic_length, event->topic, (int)event->partition, (long long)event->offset,
            (long long)event->timestamp, (int)event->timestamp_type);
    hex(file, event->key, event->key_length);
    fputs(",\"value\":", file);
    hex(file, event->value, event->value_length);
    fputs(",\"headers\":[", file);
    for (size_t i = 0; i < count; i++) {
        fprintf(file, "%s[\"%.*s\",", i ? "," : "", (int)headers[i].name_length, headers[i].name);
        hex(file, headers[i].value, headers[i].value_length);
        fputc(']', file);
    }
    fputc(']', file);
#if SWIFTFUNC_ABI_VERSION == 2
    const sf_header *dup = context->header(context, event, "dup", 3);
    fputs(",\"dup\":", file);
    if (dup) hex(file, dup->value, dup->value_length); else fputs("null", file);
    sf_trace_context trace;
    fputs(",\"trace\":", file);
    if (context->trace_context(context, event, &trace)) {
        fputc('[', file);
        hex(file, trace.traceparent, trace.traceparent_length);
        fputc(',', file);
        hex(file, trace.tracestate, trace.tracestate_length);
        fputc(']', file);
    } else {
        fputs("null", file);
    }
#endif
    fputc('}', file);
}

static int32_t record(const sf_event *events, size_t count, const sf_context *context) {
    const char *directory = getenv("SWIFTFUNC_RECORD_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.jsonl", directory ? directory : ".", context->function_name);
    FILE *file = fopen(path, "a");
    if (file == NULL) return SF_ERROR;
    fputs("{\"events\":[", file);
    for (size_t i = 0; i < count; i++) {
        if (i) fputc(',', file);
        describe(file, &events[i], context);
    }
    fputs("]}\n", file);
    return fclose(file) == 0 ? SF_OK : SF_ERROR;
}

int32_t record_one(const sf_event *event, const sf_context *context) { return record(event, 1, context); }

int32_t record_many(const sf_event *events, size_t count, const sf_context *context) { return record(events, count, context); }
