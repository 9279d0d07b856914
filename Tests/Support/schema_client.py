"""Confluent's own serializers for the tests (confluent-kafka's schema_registry package, from
PyPI into .build/schema-venv: `make schema-venv`). Serializes and deserializes only; the bytes
travel through Kafka with kafka_client.py.

Usage: schema_client.py COMMAND  with a JSON request on stdin; prints a JSON answer on stdout.
  Every request may carry "auth": "user:password" for the registry.
  serialize-avro    {"registry", "topic", "schema", "records": [...], "field": "value"|"key",
                     "references"?: [{"name", "subject", "schema"}]}
                    -> ["hex", ...] Confluent-framed Avro, the schema registered under TOPIC-FIELD
                    (with references: each registered under its subject first, the schema naming them)
  serialize-json    {"registry", "topic", "schema", "records": [...]} -> ["hex", ...] (JSON Schema)
  deserialize-avro  {"registry", "topic", "values": ["hex", ...]} -> [record, ...]
  serialize-protobuf {"registry", "topic", "files": {"name.proto": text}, "main", "message",
                     "records": [proto3 JSON object, ...], "register": "serializer"|"text"}
                    -> ["hex", ...] ProtobufSerializer's framing of each record (message classes made
                    by grpcio-tools' protoc in a temporary folder). "serializer": it registers the
                    files itself (base64 descriptors, imports under their file names); "text": the
                    .proto texts are registered first (imports under their file names, the main file
                    under TOPIC-value, with references), and the serializer uses the latest version.
  deserialize-protobuf {"registry", "topic", "files", "main", "message", "values": ["hex", ...]}
                    -> [proto3 JSON object, ...] read by ProtobufDeserializer
  proto-serialized  {"files": {"name.proto": text}, "main"} -> "base64 FileDescriptorProto of main"
"""
import base64
import importlib
import json
import os
import sys
import tempfile

from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def registry(request):
    config = {"url": request["registry"]}
    if request.get("auth"):
        config["basic.auth.user.info"] = request["auth"]
    return SchemaRegistryClient(config)


def context(request):
    field = MessageField.KEY if request.get("field") == "key" else MessageField.VALUE
    return SerializationContext(request["topic"], field)


def serialize_avro(request):
    client = registry(request)
    schema = request["schema"]
    if request.get("references"):
        references = []
        for reference in request["references"]:
            client.register_schema(reference["subject"], Schema(reference["schema"], "AVRO"))
            version = client.get_latest_version(reference["subject"]).version
            references.append(SchemaReference(reference["name"], reference["subject"], version))
        schema = Schema(schema, "AVRO", references)
    serializer = AvroSerializer(client, schema)
    return [serializer(record, context(request)).hex() for record in request["records"]]


def serialize_json(request):
    serializer = JSONSerializer(request["schema"], registry(request))
    return [serializer(record, context(request)).hex() for record in request["records"]]


def deserialize_avro(request):
    deserializer = AvroDeserializer(registry(request))
    return [deserializer(bytes.fromhex(value), context(request)) for value in request["values"]]


def protoc(files, out, python=False):
    """Writes `files` into `out` and runs grpcio-tools' protoc on them."""
    from grpc_tools import protoc as grpc_protoc
    import grpc_tools
    for name, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(out, name)), exist_ok=True)
        with open(os.path.join(out, name), "w") as file:
            file.write(text)
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    return include, lambda *args: grpc_protoc.main(["protoc", f"-I{out}", f"-I{include}", *args])


def message_class(request, out):
    _, run = protoc(request["files"], out)
    if run(f"--python_out={out}", *request["files"]) != 0:
        raise SystemExit("protoc failed")
    sys.path.insert(0, out)
    module = importlib.import_module(request["main"][:-len(".proto")].replace("/", ".") + "_pb2")
    cls = module
    for part in request["message"].split("."):
        cls = getattr(cls, part)
    return cls


def imports(text):
    return [line.split('"')[1] for line in text.splitlines() if line.strip().startswith("import ")]


def serialize_protobuf(request):
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
    from google.protobuf import json_format
    client = registry(request)
    with tempfile.TemporaryDirectory() as out:
        cls = message_class(request, out)
        config = {}
        if request.get("register") == "text":
            def register(name, subject):
                references = [SchemaReference(dep, dep, register(dep, dep)) for dep in imports(request["files"][name])
                              if dep in request["files"]]
                client.register_schema(subject, Schema(request["files"][name], "PROTOBUF", references))
                return client.get_latest_version(subject).version
            register(request["main"], f"{request['topic']}-value")
            config = {"auto.register.schemas": False, "use.latest.version": True}
            client = registry(request)  # a new client: the first one keeps the texts it registered
        serializer = ProtobufSerializer(cls, client, config)
        return [serializer(json_format.ParseDict(record, cls()), context(request)).hex() for record in request["records"]]


def deserialize_protobuf(request):
    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
    from google.protobuf import json_format
    with tempfile.TemporaryDirectory() as out:
        cls = message_class(request, out)
        deserializer = ProtobufDeserializer(cls, {}, registry(request))
        return [json_format.MessageToDict(deserializer(bytes.fromhex(value), context(request))) for value in request["values"]]


def proto_serialized(request):
    from google.protobuf import descriptor_pb2
    with tempfile.TemporaryDirectory() as out:
        _, run = protoc(request["files"], out)
        if run(f"--descriptor_set_out={out}/set.pb", request["main"]) != 0:
            raise SystemExit("protoc failed")
        descriptors = descriptor_pb2.FileDescriptorSet()
        with open(f"{out}/set.pb", "rb") as file:
            descriptors.ParseFromString(file.read())
        return base64.standard_b64encode(descriptors.file[0].SerializeToString()).decode("ascii")


if __name__ == "__main__":
    commands = {"serialize-avro": serialize_avro, "serialize-json": serialize_json, "deserialize-avro": deserialize_avro,
                "serialize-protobuf": serialize_protobuf, "deserialize-protobuf": deserialize_protobuf,
                "proto-serialized": proto_serialized}
    answer = commands[sys.argv[1]](json.load(sys.stdin))
    json.dump(answer, sys.stdout, default=str)
