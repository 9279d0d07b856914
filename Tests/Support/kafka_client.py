#!/usr/bin/python3
"""An independent Kafka client for the tests (Debian's python3-confluent-kafka).

Usage: kafka_client.py COMMAND  with a JSON request on stdin; prints a JSON answer on stdout.
  produce    {"broker", "messages": [{"topic", "value_hex"|null, "key_hex"|null,
              "headers": [[name, hex|null]], "partition"?, "timestamp"?}]}
             -> [{"topic", "partition", "offset"}] in message order
  committed  {"broker", "group", "topic", "partitions"} -> {"0": offset, ...} (-1001: none)
  consume    {"broker", "topic", "partitions", "count", "timeout"}
             -> [{"topic", "partition", "offset", "key_hex", "value_hex", "headers"}]
"""
import json
import sys
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition


def unhex(text):
    return None if text is None else bytes.fromhex(text)


def tohex(data):
    return None if data is None else data.hex()


def produce(request):
    producer = Producer({"bootstrap.servers": request["broker"], "linger.ms": 0, "message.max.bytes": 10_000_000})
    messages = request["messages"]
    results = [None] * len(messages)
    for index, message in enumerate(messages):
        def report(error, delivered, index=index):
            if error is not None:
                raise KafkaException(error)
            results[index] = {"topic": delivered.topic(), "partition": delivered.partition(),
                              "offset": delivered.offset()}
        arguments = {"topic": message["topic"], "value": unhex(message.get("value_hex")),
                     "key": unhex(message.get("key_hex")), "on_delivery": report}
        if message.get("headers") is not None:
            arguments["headers"] = [(name, unhex(value)) for name, value in message["headers"]]
        if message.get("partition") is not None:
            arguments["partition"] = message["partition"]
        if message.get("timestamp") is not None:
            arguments["timestamp"] = message["timestamp"]
        producer.produce(**arguments)
        producer.poll(0)
    left = producer.flush(30)
    if left or any(result is None for result in results):
        raise SystemExit(f"{left} messages were not delivered")
    return results


def committed(request):
    consumer = Consumer({"bootstrap.servers": request["broker"], "group.id": request["group"]})
    partitions = [TopicPartition(request["topic"], p) for p in range(request["partitions"])]
    answer = consumer.committed(partitions, timeout=15)
    consumer.close()
    return {str(tp.partition): tp.offset for tp in answer}


def consume(request):
    consumer = Consumer({"bootstrap.servers": request["broker"], "group.id": f"reader-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(request["topic"], p, OFFSET_BEGINNING) for p in range(request["partitions"])])
    messages = []
    deadline = time.monotonic() + request.get("timeout", 20)
    while len(messages) < request["count"] and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is None or message.error():
            continue
        messages.append({"topic": message.topic(), "partition": message.partition(), "offset": message.offset(),
                         "key_hex": tohex(message.key()), "value_hex": tohex(message.value()),
                         "headers": [[name, tohex(value)] for name, value in (message.headers() or [])]})
    consumer.close()
    return messages


if __name__ == "__main__":
    command = sys.argv[1]
    request = json.load(sys.stdin)
    print(json.dumps({"produce": produce, "committed": committed, "consume": consume}[command](request)))
