#ifndef CPROTOBUF_H
#define CPROTOBUF_H
/* Protobuf schemas and dynamic messages for the host, over Debian's libprotobuf (C++), as a plain
 * C API: Swift imports this header without C++ interoperability (which would slow every build of
 * the host). Errors come back as malloc'd strings; free them, and every returned buffer, with
 * cpb_free. */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A parsed .proto file and the files it imports; immutable, safe to use from any thread. */
typedef struct cpb_schema cpb_schema;

/* Parses `main_text` (a .proto file's text, or a base64 serialized FileDescriptorProto, the form
 * some registries and serializers use) named `main_name`. `names`/`texts` are the files it may
 * import, by import name (the registry's references); the well-known
 * types (google/protobuf/…), come from libprotobuf itself. Returns NULL and sets *error when it does not parse. */
cpb_schema *cpb_schema_parse(const char *main_name, const char *main_text,
                             size_t dependency_count, const char *const *names, const char *const *texts,
                             char **error);
void cpb_schema_free(cpb_schema *schema);

/* The full name of the message that a Confluent message-index path names in the main file
 * (e.g. [1] the second top-level message, [0, 2] the first's third nested one), or NULL when
 * it names none. An empty path means the first message. Free with cpb_free. */
char *cpb_message_name(const cpb_schema *schema, const int32_t *indexes, size_t count);

/* The message-index path of the message `full_name` (NULL: the file's first message) in the main
 * file: *indexes (free with cpb_free) and *count. Returns 0, or -1 and sets *error. */
int cpb_message_indexes(const cpb_schema *schema, const char *full_name, int32_t **indexes, size_t *count, char **error);

/* Decodes `bytes` as the message the index path names and writes it as proto3 JSON
 * (lowerCamelCase names, 64-bit integers as strings, enums by name, bytes as base64, fields at
 * their default value left out). Returns 0 with *json (NUL-terminated, *json_length bytes), or
 * -1 and sets *error. */
int cpb_decode_json(const cpb_schema *schema, const int32_t *indexes, size_t count,
                    const void *bytes, size_t length, char **json, size_t *json_length, char **error);

/* Encodes proto3 JSON `json` (either the JSON names or the .proto names) as the message
 * `full_name` (NULL: the file's first message). Returns 0 with *bytes / *length, or -1 and sets
 * *error, naming the field that does not fit. */
int cpb_encode_json(const cpb_schema *schema, const char *full_name, const char *json, size_t json_length,
                    uint8_t **bytes, size_t *length, char **error);

void cpb_free(void *pointer);

#ifdef __cplusplus
}
#endif
#endif
