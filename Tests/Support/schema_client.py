"""Confluent's own serializers for the tests (confluent-kafka's schema_registry package, from
PyPI into .build/schema-venv: `make schema-venv`). Serializes and deserializes only; the bytes
travel through Kafka with kafka_client.py.

Usage: schema_client.py COMMAND  with a JSON request on stdin; prints a JSON answer on stdout.
  Every request may carry "auth": "user:password" for the registry.
  serialize-avro    {"registry", "topic", "schema", "records": [...], "field": "value"|"key"}
                    -> ["hex", ...] Confluent-framed Avro, the schema registered under TOPIC-FIELD
  serialize-json    {"registry", "topic", "schema", "records": [...]} -> ["hex", ...] (JSON Schema)
  deserialize-avro  {"registry", "topic", "values": ["hex", ...]} -> [record, ...]
"""
import json
import sys

from confluent_kafka.schema_registry import SchemaRegistryClient
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
    serializer = AvroSerializer(registry(request), request["schema"])
    return [serializer(record, context(request)).hex() for record in request["records"]]


def serialize_json(request):
    serializer = JSONSerializer(request["schema"], registry(request))
    return [serializer(record, context(request)).hex() for record in request["records"]]


def deserialize_avro(request):
    deserializer = AvroDeserializer(registry(request))
    return [deserializer(bytes.fromhex(value), context(request)) for value in request["values"]]


if __name__ == "__main__":
    commands = {"serialize-avro": serialize_avro, "serialize-json": serialize_json, "deserialize-avro": deserialize_avro}
    answer = commands[sys.argv[1]](json.load(sys.stdin))
    json.dump(answer, sys.stdout, default=str)
