#ifndef SWIFTFUNC_CRDKAFKA_SHIM_H
#define SWIFTFUNC_CRDKAFKA_SHIM_H
// librdkafka's consumer and producer API plus its in-process mock cluster (the embedded broker).
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

// Macros Swift cannot import, as functions.
static inline int64_t crdkafka_offset_invalid(void) { return RD_KAFKA_OFFSET_INVALID; }
static inline int32_t crdkafka_partition_unassigned(void) { return RD_KAFKA_PARTITION_UA; }
static inline int crdkafka_msg_f_copy(void) { return RD_KAFKA_MSG_F_COPY; }
#endif
