// The C API of cprotobuf.h over libprotobuf: .proto text parsed with compiler::Parser into
// FileDescriptorProtos, a DescriptorPool over them (and the well-known types libprotobuf carries),
// DynamicMessageFactory for messages of types known only at run time, and libprotobuf's own
// proto3 JSON mapping (util::MessageToJsonString / JsonStringToMessage). Nothing here throws
// across the C boundary: every failure becomes an error string.
#include "cprotobuf.h"

#include <google/protobuf/compiler/parser.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor_database.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/stubs/strutil.h>
#include <google/protobuf/util/json_util.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace pb = google::protobuf;

struct cpb_schema {
    // The pool reads its files from the database, which must outlive it; the factory's
    // prototypes belong to the pool. Declared in the order they are built (destroyed in reverse).
    pb::SimpleDescriptorDatabase database;
    std::unique_ptr<pb::DescriptorPool> pool;
    std::unique_ptr<pb::DynamicMessageFactory> factory;
    const pb::FileDescriptor *file = nullptr;
};

namespace {

char *copy(const std::string &text) {
    char *out = static_cast<char *>(std::malloc(text.size() + 1));
    if (out) {
        std::memcpy(out, text.data(), text.size());
        out[text.size()] = 0;
    }
    return out;
}

void fail(char **error, const std::string &text) {
    if (error) *error = copy(text);
}

class TextErrors : public pb::io::ErrorCollector {
  public:
    std::string first;
    void AddError(int line, pb::io::ColumnNumber column, const std::string &message) override {
        if (first.empty()) first = "line " + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
    }
};

class PoolErrors : public pb::DescriptorPool::ErrorCollector {
  public:
    std::string first;
    void AddError(const std::string &filename, const std::string &element, const pb::Message *, ErrorLocation,
                  const std::string &message) override {
        if (first.empty()) first = filename + (element.empty() ? "" : " (" + element + ")") + ": " + message;
    }
};

/// A registry may hand a schema over as a base64 serialized FileDescriptorProto instead of .proto
/// text (Confluent's Python serializer registers it so). Text always has a space or a newline.
bool parseSerialized(const std::string &text, pb::FileDescriptorProto *proto) {
    if (text.empty() || text.find_first_of(" \n\t;{") != std::string::npos) return false;
    std::string bytes;
    return pb::Base64Unescape(text, &bytes) && proto->ParseFromString(bytes);
}

bool parseFile(const std::string &name, const std::string &text, pb::FileDescriptorProto *proto, std::string *error) {
    if (!parseSerialized(text, proto)) {
        proto->Clear();
        pb::io::ArrayInputStream input(text.data(), static_cast<int>(text.size()));
        TextErrors errors;
        pb::io::Tokenizer tokenizer(&input, &errors);
        pb::compiler::Parser parser;
        parser.RecordErrorsTo(&errors);
        if (!parser.Parse(&tokenizer, proto)) {
            *error = name + " is not a .proto file libprotobuf accepts: " + (errors.first.empty() ? "it does not parse" : errors.first);
            return false;
        }
    }
    proto->set_name(name);
    return true;
}

/// Adds `name`'s well-known type file (google/protobuf/timestamp.proto, ...) and what it imports
/// from the files compiled into libprotobuf, unless the database has it already.
void addBuiltIn(pb::SimpleDescriptorDatabase &database, const std::string &name) {
    pb::FileDescriptorProto known;
    if (database.FindFileByName(name, &known)) return;
    const pb::FileDescriptor *file = pb::DescriptorPool::generated_pool()->FindFileByName(name);
    if (!file) return;  // the pool then names the missing import
    file->CopyTo(&known);
    database.Add(known);
    for (int i = 0; i < file->dependency_count(); i++) addBuiltIn(database, file->dependency(i)->name());
}

const pb::Descriptor *messageAt(const pb::FileDescriptor *file, const int32_t *indexes, size_t count) {
    if (count == 0) return file->message_type_count() > 0 ? file->message_type(0) : nullptr;
    if (indexes[0] < 0 || indexes[0] >= file->message_type_count()) return nullptr;
    const pb::Descriptor *message = file->message_type(indexes[0]);
    for (size_t i = 1; i < count; i++) {
        if (indexes[i] < 0 || indexes[i] >= message->nested_type_count()) return nullptr;
        message = message->nested_type(indexes[i]);
    }
    return message;
}

const pb::Descriptor *messageNamed(const cpb_schema *schema, const char *full_name, std::string *error) {
    if (!full_name) {
        if (schema->file->message_type_count() == 0) {
            *error = "the schema declares no message";
            return nullptr;
        }
        return schema->file->message_type(0);
    }
    const pb::Descriptor *message = schema->pool->FindMessageTypeByName(full_name);
    if (!message || message->file() != schema->file) {
        std::string names;
        for (int i = 0; i < schema->file->message_type_count(); i++)
            names += (i ? ", " : "") + schema->file->message_type(i)->full_name();
        *error = "the schema has no message " + std::string(full_name) + " (its messages: " + names + ")";
        return nullptr;
    }
    return message;
}

}  // namespace

extern "C" cpb_schema *cpb_schema_parse(const char *main_name, const char *main_text, size_t dependency_count,
                                        const char *const *names, const char *const *texts, char **error) {
    auto schema = std::make_unique<cpb_schema>();
    std::vector<std::string> imports;
    for (size_t i = 0; i <= dependency_count; i++) {
        std::string name = i == dependency_count ? main_name : names[i];
        std::string text = i == dependency_count ? main_text : texts[i];
        pb::FileDescriptorProto proto;
        std::string problem;
        if (!parseFile(name, text, &proto, &problem)) {
            fail(error, problem);
            return nullptr;
        }
        for (const std::string &dependency : proto.dependency()) imports.push_back(dependency);
        if (!schema->database.Add(proto)) {
            fail(error, "the schema's files name " + name + " twice");
            return nullptr;
        }
    }
    for (const std::string &name : imports) addBuiltIn(schema->database, name);
    PoolErrors errors;
    schema->pool = std::make_unique<pb::DescriptorPool>(&schema->database, &errors);
    schema->file = schema->pool->FindFileByName(main_name);
    if (!schema->file) {
        fail(error, errors.first.empty() ? "the schema does not build" : errors.first);
        return nullptr;
    }
    schema->factory = std::make_unique<pb::DynamicMessageFactory>(schema->pool.get());
    return schema.release();
}

extern "C" void cpb_schema_free(cpb_schema *schema) { delete schema; }

extern "C" char *cpb_message_name(const cpb_schema *schema, const int32_t *indexes, size_t count) {
    const pb::Descriptor *message = messageAt(schema->file, indexes, count);
    return message ? copy(message->full_name()) : nullptr;
}

extern "C" int cpb_message_indexes(const cpb_schema *schema, const char *full_name, int32_t **indexes, size_t *count,
                                   char **error) {
    std::string problem;
    const pb::Descriptor *message = messageNamed(schema, full_name, &problem);
    if (!message) {
        fail(error, problem);
        return -1;
    }
    std::vector<int32_t> path;
    for (const pb::Descriptor *level = message; level; level = level->containing_type()) path.insert(path.begin(), level->index());
    *indexes = static_cast<int32_t *>(std::malloc(path.size() * sizeof(int32_t)));
    std::memcpy(*indexes, path.data(), path.size() * sizeof(int32_t));
    *count = path.size();
    return 0;
}

extern "C" int cpb_decode_json(const cpb_schema *schema, const int32_t *indexes, size_t count, const void *bytes,
                               size_t length, char **json, size_t *json_length, char **error) {
    const pb::Descriptor *type = messageAt(schema->file, indexes, count);
    if (!type) {
        std::string path;
        for (size_t i = 0; i < count; i++) path += (i ? "," : "") + std::to_string(indexes[i]);
        fail(error, "the message indexes [" + path + "] name no message of the schema");
        return -1;
    }
    std::unique_ptr<pb::Message> message(schema->factory->GetPrototype(type)->New());
    if (!message->ParseFromArray(bytes, static_cast<int>(length))) {
        fail(error, "the bytes are not a " + type->full_name() + " message (truncated or invalid)");
        return -1;
    }
    std::string out;
    pb::util::JsonPrintOptions options;  // the proto3 JSON mapping's defaults (docs/SCHEMAS.md)
    pb::util::Status status = pb::util::MessageToJsonString(*message, &out, options);
    if (!status.ok()) {
        fail(error, type->full_name() + " cannot be written as JSON: " + std::string(status.message()));
        return -1;
    }
    *json_length = out.size();
    *json = copy(out);
    return 0;
}

extern "C" int cpb_encode_json(const cpb_schema *schema, const char *full_name, const char *json, size_t json_length,
                               uint8_t **bytes, size_t *length, char **error) {
    std::string problem;
    const pb::Descriptor *type = messageNamed(schema, full_name, &problem);
    if (!type) {
        fail(error, problem);
        return -1;
    }
    std::unique_ptr<pb::Message> message(schema->factory->GetPrototype(type)->New());
    pb::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;  // a misspelt field is the author's mistake: name it
    pb::util::Status status = pb::util::JsonStringToMessage(pb::StringPiece(json, json_length), message.get(), options);
    if (!status.ok()) {
        fail(error, "the record does not fit " + type->full_name() + ": " + std::string(status.message()));
        return -1;
    }
    if (!message->IsInitialized()) {
        fail(error, "the record does not fit " + type->full_name() + ": required field(s) missing: " + message->InitializationErrorString());
        return -1;
    }
    std::string out;
    if (!message->SerializeToString(&out)) {
        fail(error, type->full_name() + " could not be serialized");
        return -1;
    }
    *length = out.size();
    *bytes = static_cast<uint8_t *>(std::malloc(out.size() ? out.size() : 1));
    if (!out.empty()) std::memcpy(*bytes, out.data(), out.size());
    return 0;
}

extern "C" void cpb_free(void *pointer) { std::free(pointer); }
