/*
 * swiftfunc.h: the C boundary between the swiftfunc host and a function library.
 *
 * Everything that crosses between the host and a function is declared here: plain C structs,
 * fixed-width integers and function pointers. Nothing Swift-typed ever crosses, so a function can
 * be written in Swift (through the SwiftFunctions SDK), C, Rust or Zig. docs/ABI.md explains it.
 *
 * Two versions of the boundary exist, and the host loads libraries of either side by side:
 *   2 (the default): the event carries what costs nothing to hand over (topic, partition, offset,
 *     timestamp, key, value); headers and the trace context are asked for through the context
 *     (sf_context.headers, .header, .trace_context), so a function that does not read them does
 *     not pay for parsing them.
 *   1: the event also carries its headers, parsed for every message. For a library written for
 *     version 1, define SWIFTFUNC_ABI_VERSION 1 before including this header.
 *
 * A function library exports:
 *   uint32_t swiftfunc_abi_version(void);      returns SWIFTFUNC_ABI_VERSION it was built with
 *   int32_t  ENTRY(...);                        the entry point named by function.json "entryPoint"
 * and, so that the host can check its bindings at load time (recommended; the Swift SDK computes it
 * from the entry point's Swift type):
 *   const char *swiftfunc_signature_ENTRY(void); e.g. "trigger=many outputs=1" (see below)
 *
 * The entry point's parameters follow the function's bindings, in order:
 *   trigger, cardinality ONE:   const sf_event *event
 *   trigger, cardinality MANY:  const sf_event *events, size_t count
 *   trigger with an eventFormat (azure, aws, tencent): const sf_document *document, whatever the
 *                               cardinality (the cardinality decides how many records it holds)
 *   each "kafka" output binding, in declared order:  const sf_output *output
 *   last:                       const sf_context *context
 * It returns SF_OK (0) when the invocation succeeded, SF_PENDING (2) when it succeeded but its
 * records must not be committed before the next successful flush; any other value fails it.
 *
 * Optional export, for functions that return SF_PENDING:
 *   int32_t ENTRY_flush(const sf_context *context);
 * Called on the function's consumer thread every flushIntervalSeconds (function.json), before its
 * partitions are revoked, and at shutdown. SF_OK makes every pending record committable.
 *
 * Lifetimes: every pointer the host passes (events, their bytes, headers, outputs, context) is
 * valid only until the entry point returns. Copy what you keep. Bytes point straight into
 * librdkafka's fetch buffers: they are read-only.
 */
#ifndef SWIFTFUNC_H
#define SWIFTFUNC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The versions of the boundary this header describes; the host loads libraries of both. */
#define SWIFTFUNC_ABI_VERSION_1 1
#define SWIFTFUNC_ABI_VERSION_2 2

/* The version a library built with this header speaks (what its swiftfunc_abi_version returns):
 * 2 unless the includer defines it as 1 first. */
#ifndef SWIFTFUNC_ABI_VERSION
#define SWIFTFUNC_ABI_VERSION SWIFTFUNC_ABI_VERSION_2
#endif
#if SWIFTFUNC_ABI_VERSION != 1 && SWIFTFUNC_ABI_VERSION != 2
#error "SWIFTFUNC_ABI_VERSION must be 1 or 2"
#endif

/* Return codes of an entry point and of sf_output.send. */
#define SF_OK 0
#define SF_ERROR 1
/* Entry point only: the invocation succeeded but its records are not durable yet (the function
 * buffers them, as a backup to files does). The host commits none of them, nor anything after
 * them in their partitions, until the function's flush export returns SF_OK. */
#define SF_PENDING 2

/* sf_event.timestamp_type */
#define SF_TIMESTAMP_NOT_AVAILABLE 0
#define SF_TIMESTAMP_CREATE_TIME 1
#define SF_TIMESTAMP_LOG_APPEND_TIME 2

/* sf_context.log levels */
#define SF_LOG_TRACE 0
#define SF_LOG_DEBUG 1
#define SF_LOG_INFO 2
#define SF_LOG_WARNING 3
#define SF_LOG_ERROR 4

/* A record header. Names are not NUL-terminated; use name_length. value == NULL is a null value. */
typedef struct sf_header {
    const char *name;
    size_t name_length;
    const uint8_t *value;
    size_t value_length;
} sf_header;

/* One Kafka record as the trigger received it, version 1: with its headers, which the host
 * parses for every message whether the function reads them or not.
 * key == NULL means a null key; a non-NULL key with key_length 0 is an empty key. The same holds
 * for value (a null value is a tombstone). For dataType "string" the host has checked that the
 * value is valid UTF-8 before the call. topic is not NUL-terminated; use topic_length. */
typedef struct sf_event_v1 {
    const char *topic;
    size_t topic_length;
    int32_t partition;
    int32_t timestamp_type;   /* SF_TIMESTAMP_* */
    int64_t offset;
    int64_t timestamp;        /* milliseconds since the Unix epoch, -1 when not available */
    const uint8_t *key;
    size_t key_length;
    const uint8_t *value;
    size_t value_length;
    const sf_header *headers;
    size_t header_count;
} sf_event_v1;

/* One Kafka record, version 2: the same fields up to value_length (written out again, so that
 * each version's event reads on its own), without the headers: ask the context for them
 * (sf_context.headers, .header, .trace_context), passing this event's pointer. It keeps
 * version 1's size, so that a MANY call's array has the same stride in both versions;
 * host_reserved is the host's own (it caches the parsed headers there): never read it. This
 * struct never grows: what later versions of the host add about an event comes through
 * accessors on the context that take the event's pointer. */
typedef struct sf_event_v2 {
    const char *topic;
    size_t topic_length;
    int32_t partition;
    int32_t timestamp_type;   /* SF_TIMESTAMP_* */
    int64_t offset;
    int64_t timestamp;        /* milliseconds since the Unix epoch, -1 when not available */
    const uint8_t *key;
    size_t key_length;
    const uint8_t *value;
    size_t value_length;
    const void *host_reserved[2];
} sf_event_v2;

/* The event of the version this library speaks. */
#if SWIFTFUNC_ABI_VERSION == 1
typedef sf_event_v1 sf_event;
#else
typedef sf_event_v2 sf_event;
#endif

/* Version 2: the W3C trace context (https://www.w3.org/TR/trace-context/) an event's processing
 * continues, as sf_context.trace_context fills it. Texts are not NUL-terminated; a missing
 * tracestate is NULL with length 0. */
typedef struct sf_trace_context {
    const char *traceparent;
    size_t traceparent_length;
    const char *tracestate;
    size_t tracestate_length;
} sf_trace_context;

/* A record a function sends through an output binding. The host copies every byte before send
 * returns. partition -1 lets the producer's partitioner choose (by key when there is one). */
typedef struct sf_message {
    const uint8_t *key;
    size_t key_length;
    const uint8_t *value;
    size_t value_length;
    const sf_header *headers;
    size_t header_count;
    int32_t partition;
} sf_message;

/* Where a sent record landed, filled by send when the caller asks for it. */
typedef struct sf_delivery {
    int32_t partition;
    int32_t error_code;       /* 0 on success, else librdkafka's rd_kafka_resp_err_t */
    int64_t offset;           /* -1 when the record was not written */
    char error_message[256];  /* NUL-terminated; empty on success */
} sf_delivery;

/* A "kafka" output binding. topic is NUL-terminated and lives as long as the host.
 * send(output, message, NULL) queues the record and returns at once; the host waits for every
 * queued record's delivery after the entry point returns, and fails the invocation if any failed.
 * send(output, message, &delivery) waits for this record's delivery and fills delivery.
 * send returns SF_OK, or SF_ERROR when the record could not be queued or (with a delivery) was
 * not delivered. */
typedef struct sf_output {
    const char *topic;
    void *host_data;
    int32_t (*send)(const struct sf_output *output, const sf_message *message, sf_delivery *delivery);
} sf_output;

/* What the host knows about the invocation in progress, and the ways back into the host.
 * Version 2 appends fields to version 1's, and later hosts append more without a version bump:
 * before reading a field added after version 2, check that the host's context has it with
 * SF_CONTEXT_HAS(context, field) (it compares the field's end with context->size). */
typedef struct sf_context {
    uint32_t abi_version;          /* the version the host calls this library with: the library's own */
    uint32_t size;                 /* v2: sizeof(sf_context) in the host (v1 hosts wrote 0 here) */
    const char *function_name;     /* NUL-terminated */
    uint64_t invocation_id;        /* unique within the host process */
    int64_t deadline;              /* ms since the Unix epoch the function should finish by; INT64_MAX: none */
    void *host_data;
    /* Writes one line to the host's log, tagged with the function and invocation. */
    void (*log)(const struct sf_context *context, int32_t level, const char *message, size_t length);
    /* MANY only: marks item `index` of the batch as failed. The invocation's other items succeed;
     * the failed ones are delivered again (see the delivery guarantees in the README). */
    void (*fail_item)(const struct sf_context *context, size_t index, const char *reason, size_t reason_length);
    /* Non-zero once the host wants the function to stop early (shutdown). */
    int32_t (*is_cancelled)(const struct sf_context *context);

    /* ---- version 2 ---- `event` is a pointer the host passed to this invocation (the event, or
     * events + i of a batch); any other pointer gets no headers. Headers are parsed the first time
     * one of these is called for an event, at most once per message; what they return lives until
     * the entry point returns, like the event. */

    /* Sets *headers to the event's headers, in the producer's order (names may repeat), and
     * returns how many (0, with *headers NULL, when it has none). */
    size_t (*headers)(const struct sf_context *context, const sf_event *event, const sf_header **headers);
    /* The first header of the event called `name` (name_length bytes, not NUL-terminated), or
     * NULL when it has none. */
    const sf_header *(*header)(const struct sf_context *context, const sf_event *event,
                               const char *name, size_t name_length);
    /* Fills *trace with the trace context the processing of `event` continues and returns 1, or
     * returns 0 (and leaves *trace empty) when there is none. Today that is the record's own
     * W3C "traceparent" and "tracestate" headers; a host that traces invocations returns the
     * context of the span it opened for this one instead (a child of the record's), so that what
     * the function sends continues the trace. */
    int32_t (*trace_context)(const struct sf_context *context, const sf_event *event, sf_trace_context *trace);
} sf_context;

/* Whether the host's context has `field` (for fields added after version 2). */
#define SF_CONTEXT_HAS(context, field) \
    ((context)->size >= offsetof(sf_context, field) + sizeof(((sf_context *)0)->field))

/* A trigger's records serialized as one JSON document in the shape of another platform's event
 * (function.json "eventFormat": azure, aws or tencent). event.value is the UTF-8 JSON; event.key is
 * NULL and there are no headers (the headers accessors return none for it); topic, partition, offset and timestamp are the first record's.
 * It has the layout of an sf_event; the distinct type lets typed languages tell the shapes apart. */
typedef struct sf_document {
    sf_event event;
} sf_document;

/* The signature descriptor: the text swiftfunc_signature_ENTRY() returns, space-separated
 * key=value pairs, unknown keys ignored:
 *   trigger=one|many|document   the entry point's first parameter(s)
 *   outputs=N                   how many sf_output parameters follow
 * The host refuses a library whose descriptor does not match its function.json; a library without
 * one is loaded unchecked, with a warning. The returned string must live as long as the library. */
#define SF_SIGNATURE_SYMBOL_PREFIX "swiftfunc_signature_"

/* Signatures of the symbols a function library exports, for hosts written in C. */
typedef uint32_t (*sf_abi_version_fn)(void);
typedef const char *(*sf_signature_fn)(void);
typedef int32_t (*sf_flush_fn)(const sf_context *context);

#ifdef __cplusplus
}
#endif

#endif /* SWIFTFUNC_H */
