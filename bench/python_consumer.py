"""What a user would write instead of a swiftfunc function: a confluent-kafka consumer loop that
calls a no-op Python function per message and stores its offset afterwards (at-least-once, like
the host: enable.auto.offset.store=false, librdkafka's auto commit commits what is stored).

usage: /usr/bin/python3 python_consumer.py BOOTSTRAP TOPIC GROUP EXPECTED RESULT_FILE

Writes "FIRST_NS LAST_NS COUNT" (time.monotonic_ns: the first message, the EXPECTED-th) to
RESULT_FILE once EXPECTED messages were handled, then runs until SIGTERM, commits and leaves.
"""
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException


def handle(message):
    """The user's function: does nothing."""


def main():
    bootstrap, topic, group, expected, result_path = sys.argv[1:6]
    expected = int(expected)
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,
        "auto.commit.interval.ms": 200,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
    })
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    consumer.subscribe([topic])
    count = 0
    first = 0
    while not stop:
        message = consumer.poll(0.1)
        if message is None or message.error():
            continue
        if count == 0:
            first = time.monotonic_ns()
        handle(message)
        consumer.store_offsets(message=message)
        count += 1
        if count == expected:
            with open(result_path, "w") as result:
                result.write(f"{first} {time.monotonic_ns()} {count}\n")
    try:
        consumer.commit(asynchronous=False)
    except KafkaException:
        pass  # nothing stored since the last auto commit
    consumer.close()


if __name__ == "__main__":
    main()
