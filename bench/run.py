#!/usr/bin/python3
"""make bench: the host against librdkafka itself and against Python, side by side.

Throughput. One embedded broker (`swiftfunc broker`, librdkafka's mock cluster), one pre-produced
topic of 100-byte messages, and every contender reading all of it with a fresh consumer group:

  raw              bench/raw_consumer.c: librdkafka's consumer, batch fetch, offsets stored per
                   batch, auto commit. The physical limit; ratios are to it.
  raw-poll         the same, one rd_kafka_consumer_poll and one offset store per message.
  host-swift-many  swiftfunc with a no-op Swift function, cardinality MANY (maxBatchSize 1000).
  host-swift-one   the same, cardinality ONE.
  host-c-many      swiftfunc with a no-op C function (bench/NoopC), MANY.
  host-c-one       the same, ONE.
  host-swift-many-v1, host-swift-one-v1, host-c-many-v1, host-c-one-v1
                   the same functions on ABI version 1 (bench/NoopSwiftV1, bench/NoopCV1: the host
                   parses every event's headers before the call); the rows above are version 2
                   (headers parsed only when the function asks). Same run, side by side.
  raw-host-props-mimalloc
                   diagnostic: raw-host-props with the allocator the host is linked with
                   (mimalloc, LD_PRELOAD) in place of glibc's malloc (BENCHMARKS.md, "The allocator").
  python           bench/python_consumer.py: confluent-kafka, a no-op Python function and an
                   offset store per message.

Throughput is the messages divided by the time from the first message a contender handles to
the last (each contender timestamps both itself; group joins and shutdowns are not counted).
A run is complete when the group's committed offsets reach the end of every partition (polled,
with a deadline). Peak RSS is VmHWM at that point, of the process that consumes: for the host
that is the worker process `swiftfunc start` supervises, not the supervisor. CPU us/msg is that
process's CPU time (every thread: librdkafka's and the host's) from its first message to its
last, sampled every 20 ms from /proc, divided by the messages: the cost of a message, which moves
less than msgs/s on a shared machine where the broker competes for the same cores.

Key ordering. A second broker with 2-partition topics of keyed messages (1,000 keys, round
robin; librdkafka's default partitioner sends a key to one partition). The Swift function
wait_one waits 1 ms per message, as if it called a service, and counts messages that arrive out
of order for their key. The contenders differ only in the trigger's "ordering": partition (one
at a time per function), key (concurrent, in order per key), unordered.

Latency. The produce-to-invocation latency of the host with default settings at a fixed produce
rate, and of the raw consumer (same librdkafka defaults) as a control: what the raw consumer
shows is the mock broker's and librdkafka's share.

Memory. The host over a long stream (20 M messages by default) produced while it consumes, its
worker's VmRSS sampled every 0.5 s: flat means the value at 90% of the stream is not above the
value at 10%.

Pipeline (issue 10). Consume -> transform -> produce on a broker of its own: 80 partitions of
100-byte messages in, every value upper-cased and sent to a fresh 80-partition output topic per
run, at-least-once (an input's offset is committed only after its output record is acknowledged).
  raw          bench/raw_pipeline.c: librdkafka alone, batch fetch with the consumer properties the
               host sets (as raw-host-props: fetch.wait.max.ms 5 and the fetch-stall remedy),
               producer linger.ms 5 and enable.idempotence true, a batch's offsets stored once all
               its deliveries (and every earlier batch's) are confirmed, tracked asynchronously.
               The ratios are to it.
  raw-defaults diagnostic: the same with librdkafka's consumer defaults (the control before
               2026-12-06, which stalled on runs of more than 100,000 inputs).
  many-c, many-swift, one-c, one-swift
               swiftfunc with upper_many / upper_one (bench/NoopC/transform.c,
               bench/NoopSwift/Transform.swift) and one kafka output binding, MANY (maxBatchSize
               1000) and ONE; `send` without a delivery pointer (the host waits, not the function).
  exactly-once-many-c
               many-c with "processingGuarantee": "exactlyOnce" on the trigger, only where the host
               takes it (`swiftfunc start --check` neither fails nor warns about it); otherwise
               skipped with a note. Its outputs are counted by reading them read_committed.
Throughput is the inputs divided by the time from the contender's first message to the moment the
output topic holds one record per input (its high watermarks, polled every 10 ms; see
OutputCounter); the run is complete when the group has also committed every input partition's end.

Then the micro-benchmark of one invocation (swiftfunc-microbench). Runs repeat; tables show
medians.

The mock cluster keeps only about 5 MB per partition (~45k 100-byte messages; older ones vanish
even unconsumed), so pre-produced topics are spread over enough partitions and the run checks
their watermarks before it measures; the memory run holds the producer back when the consumer
falls behind (see Bench.memory).

--only NAME,... runs only the named contenders and skips every section none of them is in:
throughput names (raw, host-swift-one, ...; --variant adds more), ordering-partition,
ordering-key, ordering-unordered, latency:NAME (latency:raw, latency:host-swift-one, ...),
memory:NAME (memory:host-swift-many, memory:host-swift-one), microbench, pipeline (the whole
pipeline section) and pipeline:NAME (pipeline:many-c, ...; the control always runs with them).

usage: /usr/bin/python3 bench/run.py --bin RELEASE_BIN_DIR --raw RAW_CONSUMER [--raw-pipeline RAW_PIPELINE] [options]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import socket
import subprocess
import sys
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, Producer, TopicPartition

HERE = os.path.dirname(os.path.abspath(__file__))
VALUE_SIZE = 100
# The mock cluster keeps about 5 MB per partition: ~45k messages of 100 bytes.
PARTITION_RETENTION = 45000


def log(text=""):
    print(text, flush=True)


def host_librdkafka(swiftfunc):
    """The librdkafka the host (and raw_consumer, built with the same pkg-config) runs with:
    `swiftfunc --version` prints the loaded library's rd_kafka_version_str()."""
    try:
        out = subprocess.run([swiftfunc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return "unknown"
    return out.strip().rsplit("librdkafka ", 1)[-1] if "librdkafka " in out else "unknown"


def machine(swiftfunc):
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GB"
    release = ""
    if os.path.exists("/etc/debian_version"):
        release = "Debian " + open("/etc/debian_version").read().strip()
    import confluent_kafka
    return [
        f"cores: {os.cpu_count()}, CPU: {model}, memory: {memory}",
        f"OS: {release} (Linux {os.uname().release})",
        f"librdkafka measured (host and raw consumer): {host_librdkafka(swiftfunc)}; "
        f"the Python contender's: {confluent_kafka.libversion()[0]} (confluent-kafka {confluent_kafka.version()[0]}, "
        f"Python {sys.version.split()[0]})",
    ]


def wait_until(condition, deadline, what, process=None, output=None, interval=0.05, worker=None):
    """Polls `condition` until it is true; raises when `deadline` (monotonic) passes, `process`
    exits or the host's `worker` process is gone (it crashed: its supervisor starts another,
    which would count from zero)."""
    while not condition():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"exited with status {process.returncode} before {what}"
                               + (f" (see {output})" if output else ""))
        if worker is not None and not worker_alive(worker):
            raise RuntimeError(f"the host's worker process {worker} died (crashed?) before {what}"
                               + (f" (see {output})" if output else ""))
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out before {what}" + (f" (see {output})" if output else ""))
        time.sleep(interval)


# MARK: - The broker and the messages

def free_port():
    """A free port for a host's HTTP endpoint: it stays on (metrics cost included), and hosts
    never collide on 7071."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_broker(swiftfunc, partitions, topics, work, name="broker", brokers=1, mock_cluster=None):
    """`swiftfunc broker` (one broker), or bench/mock_cluster.c for more."""
    stderr = open(os.path.join(work, f"{name}.log"), "w")
    if brokers > 1:
        command = [mock_cluster, str(brokers), str(partitions)] + list(topics)
    else:
        command = [swiftfunc, "broker", "--partitions", str(partitions)]
        for topic in topics:
            command += ["--topic", topic]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    address = process.stdout.readline().strip()
    if not address:
        sys.exit("bench: the embedded broker did not start; see " + stderr.name)
    return process, address


def bulk_producer(address, extra=None):
    return Producer(dict({
        "bootstrap.servers": address,
        "linger.ms": 20,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 2000000,
        "queue.buffering.max.kbytes": 2097151,
    }, **(extra or {})))


def send_all(producer, topic, messages):
    """Produces (value, key, partition) triples and waits for all; exits on any failure."""
    failures = []
    for index, (value, key, partition) in enumerate(messages):
        producer.produce(topic, value, key=key, on_delivery=lambda error, _: error and failures.append(error),
                         **({} if partition is None else {"partition": partition}))
        if index % 20000 == 0:
            producer.poll(0)
    producer.flush(120)
    if failures:
        sys.exit(f"bench: {len(failures)} messages were not delivered: {failures[0]}")


def produce(address, topic, partitions, per_partition):
    value = bytes((ord("a") + i % 26) for i in range(VALUE_SIZE))
    send_all(bulk_producer(address), topic,
             ((value, None, index % partitions) for index in range(partitions * per_partition)))


def keyed_value(key, sequence):
    """The value wait_one parses: "kKEY:SEQ:" padded to VALUE_SIZE bytes."""
    return f"k{key}:{sequence}:".ljust(VALUE_SIZE, ".").encode()


def produce_keyed(address, topic, messages, keys):
    """Message i has key k(i % keys) and sequence i // keys: per key 0, 1, 2... in produce order.
    No partition is given: librdkafka's default partitioner hashes the key, so a key always goes
    to the same partition. Idempotence keeps each partition in produce order even if a request
    is retried."""
    send_all(bulk_producer(address, {"enable.idempotence": True}), topic,
             ((keyed_value(index % keys, index // keys), f"k{index % keys}".encode(), None) for index in range(messages)))


def end_offsets(address, topic, partitions):
    consumer = Consumer({"bootstrap.servers": address, "group.id": "bench-watermarks"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in range(partitions)]
    finally:
        consumer.close()


def committed_offsets(consumer, topic, partitions):
    """The group's committed offset per partition (0 where it has none yet)."""
    committed = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    offsets = [0] * partitions
    for tp in committed:
        offsets[tp.partition] = max(tp.offset, 0)
    return offsets


def committed_reached(address, group, topic, ends):
    """True once the group has committed the end offset of every partition that holds messages."""
    consumer = Consumer({"bootstrap.servers": address, "group.id": group, "enable.auto.commit": False})
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in range(len(ends))], timeout=10)
        return all(tp.offset == ends[tp.partition] or ends[tp.partition] == 0 for tp in committed)
    except Exception:
        return False
    finally:
        consumer.close()


def status_mb(pid, field):
    """VmHWM (peak) or VmRSS (now) of a process, in MB; None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def cpu_seconds(pid):
    """User and system CPU time of a process, every thread, in seconds; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            # After the command name (which may hold spaces): state is field 3, utime 14, stime 15.
            fields = file.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def cpu_between(samples, first_ns, last_ns):
    """CPU seconds spent between two CLOCK_MONOTONIC instants, interpolated from `samples`
    ((monotonic ns, CPU seconds), ascending); None without samples around both."""
    def at(instant):
        for (t0, c0), (t1, c1) in zip(samples, samples[1:]):
            if t0 <= instant <= t1:
                return c0 + (c1 - c0) * ((instant - t0) / (t1 - t0) if t1 > t0 else 0)
        return None
    start, end = at(first_ns), at(last_ns)
    return end - start if start is not None and end is not None else None


def children(pid):
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as file:
                found += [int(child) for child in file.read().split()]
    except FileNotFoundError:
        pass
    return found


def worker_alive(pid):
    """True while `pid` runs (a zombie, dead but not yet reaped, is not running)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


def host_worker(process, deadline, output):
    """`swiftfunc start` supervises a worker process that hosts the functions: its pid."""
    found = []
    wait_until(lambda: found.extend(children(process.pid)) or found, deadline,
               "starting its worker process", process, output)
    return found[0]


def stop(process, timeout=30):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return "killed after it ignored SIGTERM for 30 s"
    return None


def read_result(path):
    """The probe's "FIRST_NS LAST_NS COUNT [MORE...]" line, as integers."""
    return [int(field) for field in open(path).read().split()]


# MARK: - Contenders

class Bench:
    def __init__(self, args):
        self.args = args
        self.swiftfunc = args.swiftfunc
        self.trace_sink = None
        self.libraries = {
            "swift": os.path.join(args.bin, "libBenchNoop.so"),
            "c": os.path.join(args.bin, "libBenchNoopC.so"),
            "swift-v1": os.path.join(args.bin, "libBenchNoopV1.so"),
            "c-v1": os.path.join(args.bin, "libBenchNoopCV1.so"),
        }

    def host_root(self, name, language, entry_point, cardinality, group, topic, host_kafka, data_type, trigger_extra=None,
                  outputs=()):
        """A script root with host.json and one function, functions/Bench (`outputs`: its output bindings)."""
        root = os.path.join(self.args.work, name)
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(os.path.join(root, "functions", "Bench"))
        host = {"version": "2.0", "logging": {"logLevel": {"default": "Warning"}}}
        host_kafka = merge_kafka(self.args.host_kafka, host_kafka or {})
        if host_kafka:
            host["extensions"] = {"kafka": host_kafka}
        with open(os.path.join(root, "host.json"), "w") as file:
            json.dump(host, file, indent=2)
        trigger = {"type": "kafkaTrigger", "direction": "in", "name": "events" if cardinality == "MANY" else "event",
                   "brokerList": "BrokerList", "topic": topic, "consumerGroup": group}
        if cardinality:
            trigger["cardinality"] = cardinality
        if data_type:
            trigger["dataType"] = data_type
        trigger.update(trigger_extra or {})
        function = {"scriptFile": self.libraries[language], "entryPoint": entry_point, "bindings": [trigger] + list(outputs)}
        with open(os.path.join(root, "functions", "Bench", "function.json"), "w") as file:
            json.dump(function, file, indent=2)
        return root

    def tracing_environment(self, contender, env):
        """`env` for a contender with "tracing" (the sampled share of invocations): the host exports
        its spans over OTLP/HTTP to a local sink that accepts and discards them
        (Tests/Support/otlp_receiver.py --discard, started once), so the export's cost is real."""
        if "tracing" not in contender:
            return env
        if self.trace_sink is None:
            self.trace_sink = subprocess.Popen(
                ["/usr/bin/python3", os.path.join(HERE, "..", "Tests", "Support", "otlp_receiver.py"), "--discard"],
                stdout=subprocess.PIPE, text=True)
            self.trace_sink_url = f"http://127.0.0.1:{self.trace_sink.stdout.readline().strip()}"
        return dict(env, OTEL_EXPORTER_OTLP_ENDPOINT=self.trace_sink_url, OTEL_TRACES_SAMPLER="parentbased_traceidratio",
                    OTEL_TRACES_SAMPLER_ARG=str(contender["tracing"]))

    def close(self):
        if self.trace_sink is not None:
            self.trace_sink.kill()
            self.trace_sink.wait()

    def command(self, contender, address, topic, messages, group, result):
        """The command line and environment that runs `contender` against `topic`."""
        args = self.args
        env = self.tracing_environment(contender, dict(os.environ, BrokerList=address, BENCH_EXPECTED=str(messages), BENCH_RESULT=result))
        if "preload" in contender:
            env["LD_PRELOAD"] = shared_library_path(contender["preload"])
        kind = contender["kind"]
        if kind == "raw":
            properties = contender.get("librdkafka", {})
            if properties == "host":
                properties = host_consumer_properties(host_librdkafka(self.swiftfunc))
            return [args.raw, address, topic, group, str(messages), result, contender["mode"]] + \
                [f"{name}={value}" for name, value in properties.items()], env
        if kind == "python":
            return ["/usr/bin/python3", os.path.join(HERE, "python_consumer.py"), address, topic, group,
                    str(messages), result], env
        cardinality = contender["cardinality"]
        entry_point = contender.get("entry_point", "count_" + cardinality.lower())
        root = self.host_root(contender["name"], contender["language"], entry_point, cardinality,
                              group, topic, host_kafka_settings(contender), "binary", contender.get("trigger"))
        return [self.swiftfunc, "start", "--script-root", root, "--port", str(free_port())], env

    def throughput(self, contender, repeat, address, topic, ends, deadline_seconds=None):
        """Runs `contender` over every message of `topic` (ending at `ends`) with a fresh group."""
        name = contender["name"]
        messages = sum(ends)
        group = f"bench-{name}-{repeat}-{os.getpid()}"
        result = os.path.join(self.args.work, f"{name}-{repeat}.result")
        if os.path.exists(result):
            os.remove(result)
        command, env = self.command(contender, address, topic, messages, group, result)
        output = open(os.path.join(self.args.work, f"{name}-{repeat}.log"), "w")
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + (deadline_seconds or self.args.deadline)
        try:
            worker = host_worker(process, deadline, output.name) if contender["kind"] == "host" else None
            consumer_pid = worker or process.pid
            # The consuming process's CPU time, sampled while it works: what it spent between its
            # first message and its last is its cost per message (steadier than msgs/s on a
            # shared machine, where the broker competes for the same cores).
            cpu_samples = []

            def handled_all():
                cpu = cpu_seconds(consumer_pid)
                if cpu is not None:
                    cpu_samples.append((time.monotonic_ns(), cpu))
                return os.path.exists(result) and os.path.getsize(result) > 0
            # The contender writes its result when it has handled every message...
            wait_until(handled_all, deadline, f"handling {messages} messages", process, output.name,
                       interval=0.02, worker=worker)
            # ...and is done when their offsets are committed.
            wait_until(lambda: committed_reached(address, group, topic, ends), deadline,
                       "committing every offset", process, output.name, interval=0.1, worker=worker)
            rss = status_mb(consumer_pid, "VmHWM")
        finally:
            problem = stop(process)
        if problem:
            raise RuntimeError(problem)
        fields = read_result(result)
        first, last, count = fields[:3]
        cpu = cpu_between(cpu_samples, first, last)
        return {"msgs_per_s": count / ((last - first) / 1e9), "rss_mb": rss if rss is not None else float("nan"),
                "cpu_us_per_msg": cpu * 1e6 / count if cpu is not None else float("nan"),
                "count": count, "extra": fields[3:]}

    def latency(self, entry, topic, repeat, address):
        """Produce-to-invocation latency of the host, or of the raw consumer, at a fixed produce rate."""
        args = self.args
        name = entry["name"]
        group = f"bench-latency-{name}-{repeat}-{os.getpid()}"
        result = os.path.join(args.work, f"latency-{name}-{repeat}.latencies")
        ready = os.path.join(args.work, f"latency-{name}-{repeat}.ready")
        for path in (result, ready):
            if os.path.exists(path):
                os.remove(path)
        env = dict(os.environ, BrokerList=address, BENCH_RESULT=result, BENCH_READY=ready)
        if entry.get("kind") == "raw":
            command = [args.raw, address, topic, group, "0", result, "latency"] + \
                [f"{key}={value}" for key, value in entry.get("librdkafka", {}).items()]
        else:
            cardinality = entry["cardinality"]
            root = self.host_root(f"latency-{name}", "swift", "latency_" + cardinality.lower(),
                                  None if cardinality == "ONE" else cardinality, group, topic, entry.get("kafka"), None)
            command = [self.swiftfunc, "start", "--script-root", root, "--port", str(free_port())]
        output = open(os.path.join(args.work, f"latency-{name}-{repeat}.log"), "w")
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        # librdkafka's default linger.ms (5 ms) is part of the measured latency: with linger 0
        # the mock cluster, which answers a fetch with one message set per partition, falls behind.
        producer = Producer({"bootstrap.servers": address})
        value = b"l" * VALUE_SIZE
        try:
            # Produce at the rate from the start; measure only what is produced from `settle`
            # seconds after the consumer saw its first message (the backlog of the group join is
            # gone by then) until the end.
            started = time.monotonic()
            sent = 0
            measure_from = None
            stop_at = None
            while True:
                now = time.monotonic()
                if measure_from is None and os.path.exists(ready):
                    measure_from = time.time() + args.latency_settle
                    stop_at = now + args.latency_settle + args.latency_seconds
                if stop_at is not None and now >= stop_at:
                    break
                if measure_from is None and now - started > args.deadline:
                    raise RuntimeError(f"did not start consuming within {args.deadline} s (see {output.name})")
                if process.poll() is not None:
                    raise RuntimeError(f"exited with status {process.returncode} (see {output.name})")
                target = int((now - started) * args.latency_rate)
                while sent < target:
                    producer.produce(topic, value, partition=sent % min(args.latency_partitions, args.partitions))
                    sent += 1
                producer.poll(0)
                time.sleep(0.0005)  # the produce rate's clock tick, not a synchronisation
            producer.flush(30)
            rate = sent / (time.monotonic() - started)
            ends = [high for _, high in end_offsets(address, topic, args.partitions)]
            wait_until(lambda: committed_reached(address, group, topic, ends), time.monotonic() + args.deadline,
                       "committing every offset", process, output.name, interval=0.1)
        finally:
            problem = stop(process)
        if problem:
            raise RuntimeError(problem)
        if process.returncode != 0:
            raise RuntimeError(f"exited with status {process.returncode} (see {output.name})")
        cutoff_ms = measure_from * 1000
        samples = sorted(int(latency) for timestamp, latency in
                         (line.split() for line in open(result)) if int(timestamp) >= cutoff_ms)
        if not samples:
            raise RuntimeError("no latency samples")
        return {"p50_ms": percentile(samples, 50) / 1000, "p99_ms": percentile(samples, 99) / 1000,
                "max_ms": samples[-1] / 1000, "samples": len(samples), "rate": rate}

    def memory(self, entry, repeat, address, topic):
        """The host over a long stream produced while it consumes, its worker's VmRSS sampled.

        The mock cluster drops a partition's oldest messages beyond ~5 MB (~45k messages) even
        when nobody has read them, so a producer running ahead of the consumer by more than that
        would lose messages and the function could never count them all. The producer therefore
        holds back whenever it is more than --memory-max-lag messages per partition ahead of the
        group's committed offsets (which trail what the function has seen, so the real lead is
        smaller): the stream is as fast as the slower of producer and host. Complete means the
        function counted every message produced (its probe writes the result at that count) and
        the group committed every partition's end offset. Committed offsets at the end without
        the function's result would mean messages were dropped before it saw them: reported as
        an error, never counted as done.
        """
        args = self.args
        name = entry["name"]
        total = args.memory_messages
        partitions = args.memory_partitions
        group = f"bench-memory-{name}-{repeat}-{os.getpid()}"
        result = os.path.join(args.work, f"memory-{name}-{repeat}.result")
        ready = os.path.join(args.work, f"memory-{name}-{repeat}.ready")
        for path in (result, ready):
            if os.path.exists(path):
                os.remove(path)
        contender = dict(entry, kind="host", language="swift", name=f"memory-{name}")
        command, env = self.command(contender, address, topic, total, group, result)
        env["BENCH_READY"] = ready
        output = open(os.path.join(args.work, f"memory-{name}-{repeat}.log"), "w")
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        samples = []  # (monotonic seconds, VmRSS MB)
        sampling = threading.Event()
        sampler = None
        lag_reader = Consumer({"bootstrap.servers": address, "group.id": group, "enable.auto.commit": False})
        try:
            deadline = time.monotonic() + args.deadline
            worker = host_worker(process, deadline, output.name)

            def sample():
                while not sampling.is_set():
                    rss = status_mb(worker, "VmRSS")
                    if rss is None:
                        return
                    samples.append((time.monotonic(), rss))
                    sampling.wait(args.memory_sample_interval)  # the sampling period

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()

            producer = Producer({
                "bootstrap.servers": address,
                "linger.ms": 10,
                "batch.num.messages": 10000,
                "queue.buffering.max.messages": 1000000,
            })
            failures = []
            on_delivery = lambda error, _: error and failures.append(error)
            value = bytes((ord("a") + i % 26) for i in range(VALUE_SIZE))
            committed = [0] * partitions
            held_back = 0.0
            # One message per partition first; the stream proper starts once the function has
            # seen one (the group join takes seconds; the stream should not pile up before it).
            for index in range(partitions):
                producer.produce(topic, value, partition=index, on_delivery=on_delivery)
            producer.flush(30)
            wait_until(lambda: os.path.exists(ready), deadline, "its first message", process, output.name, worker=worker)
            started = time.monotonic()
            for index in range(partitions, total):
                if index % (100 * partitions) == 0:
                    ahead = index // partitions - min(committed)
                    if ahead > args.memory_max_lag:
                        waited_from = time.monotonic()
                        progress_deadline = waited_from + args.deadline
                        while True:
                            committed = committed_offsets(lag_reader, topic, partitions)
                            if index // partitions - min(committed) <= args.memory_max_lag:
                                break
                            if process.poll() is not None:
                                raise RuntimeError(f"exited with status {process.returncode} (see {output.name})")
                            if not worker_alive(worker):
                                raise RuntimeError(f"the host's worker process {worker} died (crashed?) (see {output.name})")
                            if time.monotonic() > progress_deadline:
                                raise RuntimeError(f"the consumer did not catch up within {args.deadline} s (see {output.name})")
                            producer.poll(0.05)  # serve deliveries while the consumer catches up
                        held_back += time.monotonic() - waited_from
                while True:
                    try:
                        producer.produce(topic, value, partition=index % partitions, on_delivery=on_delivery)
                        break
                    except BufferError:
                        producer.poll(0.01)  # the producer's queue is full: let it drain
                if index % 10000 == 0:
                    producer.poll(0)
            producer.flush(120)
            produced_in = time.monotonic() - started
            if failures:
                raise RuntimeError(f"{len(failures)} messages were not delivered: {failures[0]}")
            ends = [total // partitions + (1 if p < total % partitions else 0) for p in range(partitions)]
            deadline = time.monotonic() + args.deadline
            wait_until(lambda: committed_reached(address, group, topic, ends), deadline,
                       "committing every offset", process, output.name, interval=0.1, worker=worker)
            if not os.path.exists(result) or os.path.getsize(result) == 0:
                raise RuntimeError(f"every offset is committed but the function counted fewer than {total:,} messages: "
                                   "the mock cluster dropped some before they were consumed (retention); "
                                   "lower --memory-max-lag")
            peak = status_mb(worker, "VmHWM")
        finally:
            sampling.set()
            if sampler:
                sampler.join()
            lag_reader.close()
            problem = stop(process)
        if problem:
            raise RuntimeError(problem)
        first, last, count = read_result(result)[:3]
        first, last = first / 1e9, last / 1e9
        with open(os.path.join(args.work, f"memory-{name}-{repeat}.rss.csv"), "w") as series:
            series.write("seconds_since_first_message,vmrss_mb\n")
            series.writelines(f"{t - first:.3f},{rss:.1f}\n" for t, rss in samples)

        def at(fraction):
            # The median of the samples within 10% of the stream's duration around the mark (the
            # prefetch queue's level and malloc's arenas move RSS up and down by 10-20 MB within
            # seconds), or the nearest sample when none is that close.
            moment = first + fraction * (last - first)
            near = [rss for t, rss in samples if abs(t - moment) <= 0.1 * (last - first)]
            return statistics.median(near) if near else min(samples, key=lambda s: abs(s[0] - moment))[1]

        return {"rss_10pct_mb": at(0.1), "rss_50pct_mb": at(0.5), "rss_90pct_mb": at(0.9),
                "peak_mb": peak if peak is not None else max(s[1] for s in samples),
                "msgs_per_s": count / (last - first), "samples": len(samples),
                "produced_per_s": total / produced_in, "held_back_s": held_back}

    def pipeline(self, contender, repeat, address, topic, ends, output_topic, deadline_seconds):
        """Runs pipeline `contender` over every message of `topic` with a fresh group, sending to
        `output_topic` (fresh, empty), until every input's output record is in it.

        Throughput is the inputs divided by the time from the contender's first message (its own
        CLOCK_MONOTONIC timestamp, as in the throughput section) to the moment this process sees
        the output topic hold that many records (the same clock; see OutputCounter). The run is
        complete when, besides, the group has committed every partition's end offset.
        """
        args = self.args
        name = contender["name"]
        messages = sum(ends)
        group = f"bench-pipeline-{name}-{repeat}-{os.getpid()}"
        result = os.path.join(args.work, f"pipeline-{name}-{repeat}.result")
        if os.path.exists(result):
            os.remove(result)
        env = self.tracing_environment(contender, dict(os.environ, BrokerList=address, BENCH_EXPECTED=str(messages), BENCH_RESULT=result))
        if contender["kind"] == "raw-pipeline":
            properties = contender.get("librdkafka", {})
            if properties == "host":
                properties = host_consumer_properties(host_librdkafka(self.swiftfunc))
            command = [args.raw_pipeline, address, topic, output_topic, group, str(messages), result] + \
                [f"{name}={value}" for name, value in properties.items()]
        else:
            command = [self.swiftfunc, "start", "--script-root",
                       self.pipeline_root(contender, f"pipeline-{name}", group, topic, output_topic),
                       "--port", str(free_port())]
        output = open(os.path.join(args.work, f"pipeline-{name}-{repeat}.log"), "w")
        counter = OutputCounter(address, output_topic, len(ends), read_committed=contender.get("exactly_once", False))
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + deadline_seconds
        complete = []

        def output_complete():
            if counter.count() < messages:
                return False
            complete.append(time.monotonic())
            return True

        try:
            worker = host_worker(process, deadline, output.name) if contender["kind"] == "host" else None
            wait_until(output_complete, deadline, f"{messages:,} records reached {output_topic}", process, output.name,
                       interval=0.01, worker=worker)
            wait_until(lambda: os.path.exists(result) and os.path.getsize(result) > 0, deadline,
                       f"handling {messages} messages", process, output.name, worker=worker)
            wait_until(lambda: committed_reached(address, group, topic, ends), deadline,
                       "committing every offset", process, output.name, interval=0.1, worker=worker)
            produced = counter.count()
        finally:
            problem = stop(process)
            counter.close()
        if problem:
            raise RuntimeError(problem)
        first, last, count = read_result(result)[:3]
        return {"msgs_per_s": messages / (complete[0] - first / 1e9), "handled_per_s": count / ((last - first) / 1e9),
                "outputs": produced, "extra": produced - messages}

    def pipeline_root(self, contender, name, group, topic, output_topic):
        """A script root for a host pipeline contender: upper_one or upper_many, one kafka output."""
        cardinality = contender["cardinality"]
        output = {"type": "kafka", "direction": "out", "name": "output", "brokerList": "BrokerList", "topic": output_topic}
        return self.host_root(name, contender["language"], "upper_" + cardinality.lower(), cardinality, group, topic,
                              host_kafka_settings(contender), "binary",
                              contender.get("trigger"), outputs=[output])

    def refusal(self, contender, address):
        """Why the host does not run `contender`'s trigger settings, or None when it does.

        Starts the host (no supervisor) on the empty topic bench-pipeline-check-in until it says
        it is running, then stops it. A host that refuses a setting exits with an error; one that
        reads past it (an unknown field is a warning, never an error, and `start --check` does
        not print warnings) names it in a warning: either way it would not run what the row is
        named after, so the row's number would mean something else.
        """
        root = self.pipeline_root(contender, f"pipeline-check-{contender['name']}", "bench-pipeline-check",
                                  "bench-pipeline-check-in", "bench-pipeline-check-out")
        path = os.path.join(self.args.work, f"pipeline-check-{contender['name']}.log")
        with open(path, "w") as output:
            process = subprocess.Popen([self.swiftfunc, "start", "--no-supervisor", "--script-root", root, "--port", "0"],
                                       env=dict(os.environ, BrokerList=address), stdout=output, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 30
                while process.poll() is None and time.monotonic() < deadline and "Running" not in open(path).read():
                    time.sleep(0.05)
            finally:
                stop(process)
        lines = [line.strip() for line in open(path) if line.strip()]
        named = [line for line in lines if any(field in line for field in contender.get("trigger", {}))
                 and any(word in line.lower() for word in ("warning", "unknown", "ignored", "not supported", "error", "not loading", "refus"))]
        if named:
            return named[0]
        if not any("Running" in line for line in lines):
            return (lines or ["no output"])[-1] + f" (see {path})"
        return None


class OutputCounter:
    """How many records a run's output topic holds, read the cheapest exact way.

    At-least-once (no transactions): the sum of the partitions' high watermarks, one ListOffsets
    request for all partitions (offsets_for_times with OFFSET_END). A high watermark counts every
    record written even after the mock cluster's retention has dropped old ones, so the topic may
    hold more than ~45k records per partition. Transactions write a control record per partition
    and commit, and aborted records stay in the log, so watermarks overcount them: with
    `read_committed` a thread consumes the topic with isolation.level read_committed and counts
    what it reads (costs CPU on the machine the contender runs on; say so beside the number).
    """

    def __init__(self, address, topic, partitions, read_committed=False):
        self.partitions = [TopicPartition(topic, p, OFFSET_END) for p in range(partitions)]
        self.consumer = Consumer({"bootstrap.servers": address, "group.id": f"bench-output-counter-{os.getpid()}",
                                  "enable.auto.commit": False,
                                  "isolation.level": "read_committed" if read_committed else "read_uncommitted"})
        self.counted = 0
        self.thread = None
        self.stopping = threading.Event()
        if read_committed:
            self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
            self.thread = threading.Thread(target=self.consume, daemon=True)
            self.thread.start()

    def consume(self):
        while not self.stopping.is_set():
            self.counted += sum(1 for message in self.consumer.consume(10000, 0.05) if not message.error())

    def count(self):
        if self.thread:
            return self.counted
        try:
            self.counted = sum(max(tp.offset, 0) for tp in self.consumer.offsets_for_times(self.partitions, timeout=10))
        except KafkaException:
            pass  # asked again on the next poll
        return self.counted

    def close(self):
        self.stopping.set()
        if self.thread:
            self.thread.join()
        self.consumer.close()

def percentile(sorted_values, percent):
    index = min(len(sorted_values) - 1, max(0, int(round(percent / 100 * len(sorted_values))) - 1))
    return sorted_values[index]


CONTENDERS = [
    {"name": "raw", "kind": "raw", "mode": "batch",
     "what": "C, librdkafka batch fetch, offsets stored per batch"},
    {"name": "raw-poll", "kind": "raw", "mode": "poll",
     "what": "C, librdkafka poll + offset store per message"},
    {"name": "raw-host-props", "kind": "raw", "mode": "batch", "librdkafka": "host",
     "what": "C, batch fetch, with the consumer properties the host sets (the fair control)"},
    {"name": "host-swift-many", "kind": "host", "language": "swift", "cardinality": "MANY",
     "what": "swiftfunc, no-op Swift function, MANY (batch 1000)"},
    {"name": "host-swift-one", "kind": "host", "language": "swift", "cardinality": "ONE",
     "what": "swiftfunc, no-op Swift function, ONE"},
    {"name": "host-c-many", "kind": "host", "language": "c", "cardinality": "MANY",
     "what": "swiftfunc, no-op C function, MANY (batch 1000)"},
    {"name": "host-c-one", "kind": "host", "language": "c", "cardinality": "ONE",
     "what": "swiftfunc, no-op C function, ONE"},
    {"name": "host-swift-many-v1", "kind": "host", "language": "swift-v1", "cardinality": "MANY",
     "what": "host-swift-many's function on ABI version 1 (headers parsed for every event)"},
    {"name": "host-swift-one-v1", "kind": "host", "language": "swift-v1", "cardinality": "ONE",
     "what": "host-swift-one's function on ABI version 1"},
    {"name": "host-c-many-v1", "kind": "host", "language": "c-v1", "cardinality": "MANY",
     "what": "host-c-many's function on ABI version 1"},
    {"name": "host-c-one-v1", "kind": "host", "language": "c-v1", "cardinality": "ONE",
     "what": "host-c-one's function on ABI version 1"},
    # Tracing on (issue 18): every invocation gets a span, sampled at 100 % or 1 % (the bench's
    # records carry no traceparent: each is a new trace, sampled by ratio), exported to a local
    # OTLP/HTTP sink that discards them. Their twins without tracing are host-swift-one and -many.
    {"name": "host-swift-one-traced", "kind": "host", "language": "swift", "cardinality": "ONE", "tracing": 1.0,
     "what": "host-swift-one, tracing on, every span sampled and exported"},
    {"name": "host-swift-one-traced1", "kind": "host", "language": "swift", "cardinality": "ONE", "tracing": 0.01,
     "what": "host-swift-one, tracing on, 1 % of spans sampled"},
    {"name": "host-swift-many-traced", "kind": "host", "language": "swift", "cardinality": "MANY", "tracing": 1.0,
     "what": "host-swift-many, tracing on, every batch's span sampled and exported"},
    {"name": "host-swift-one-q1m", "kind": "host", "language": "swift", "cardinality": "ONE",
     "kafka": {"queuedMinMessages": 1000000}, "diagnostic": True,
     "what": "diagnostic: ONE with host.json queuedMinMessages 1000000"},
    {"name": "host-swift-one-md50", "kind": "host", "language": "swift", "cardinality": "ONE",
     "kafka": {"librdkafka": {"topic.metadata.refresh.interval.ms": "50"}}, "diagnostic": True,
     "what": "diagnostic: ONE, topic.metadata.refresh.interval.ms 50"},
    {"name": "host-swift-many-md50", "kind": "host", "language": "swift", "cardinality": "MANY",
     "kafka": {"librdkafka": {"topic.metadata.refresh.interval.ms": "50"}}, "diagnostic": True,
     "what": "diagnostic: MANY, topic.metadata.refresh.interval.ms 50"},
    # The allocator (BENCHMARKS.md, "The allocator"): the host is linked with mimalloc, because
    # glibc's malloc serialises librdkafka's cross-thread frees (a message is allocated on its
    # broker thread, freed on the consumer's) on an arena lock. The controls above keep glibc's;
    # this one preloads the host's allocator, to show how much of the host's lead is the allocator.
    {"name": "raw-host-props-mimalloc", "kind": "raw", "mode": "batch", "librdkafka": "host",
     "preload": "libmimalloc.so.2", "diagnostic": True,
     "what": "diagnostic: raw-host-props with the host's allocator, mimalloc (LD_PRELOAD)"},
    {"name": "python", "kind": "python",
     "what": "Python confluent-kafka, no-op function, store per message"},
]
def host_kafka_settings(contender):
    """host.json's extensions.kafka for a host contender: its own settings, MANY with batches of 1000."""
    kafka = dict(contender.get("kafka", {}), **({"maxBatchSize": 1000} if contender["cardinality"] == "MANY" else {}))
    return kafka or None


def shared_library_path(soname):
    """Where the dynamic linker finds `soname` (for LD_PRELOAD); exits naming the package when absent."""
    listing = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        if line.strip().startswith(soname + " ") and "=>" in line:
            return line.split("=>", 1)[1].strip()
    sys.exit(f"bench: {soname} not found (ldconfig -p): run `make deps` (it installs libmimalloc2.0)")


# What the host sets on every consumer beyond librdkafka's defaults that bears on fetching
# (HostConfiguration.consumerProperties and MockClusterDetection), for the raw-host-props control:
# the host must keep up with a C consumer configured as it is, not only with librdkafka's defaults.
def host_consumer_properties(version):
    """The stall remedy depends on the librdkafka version, as in RDKafka/LibrdkafkaVersion.swift."""
    properties = {"fetch.wait.max.ms": "5", "fetch.max.bytes": "52428800", "max.partition.fetch.bytes": "1048576",
                  "enable.partition.eof": "false"}
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        major, minor = 2, 0
    if (major, minor) >= (2, 2):
        properties["fetch.queue.backoff.ms"] = "10"
    else:
        # The host wakes a stalled 2.0.2 fetcher itself (RDKafka/FetcherWakeup.swift: a metadata
        # request when its queue runs dry, at most every 50 ms); the C loop has no such code, so
        # it gets the same wake-ups from librdkafka's periodic refresh, as the host did until
        # 2026-12-07 (a consumer alone in its group does not hit that refresh's double join).
        properties["topic.metadata.refresh.interval.ms"] = "50"
    return properties

# The -md50 rows: librdkafka 2.0.2 looks at a partition that stopped fetching because the local
# queue held queued.min.messages only when its broker thread wakes up, which with nothing else to
# do is at the end of its fixed 1000 ms serve period (rd_kafka_max_block_ms); a metadata request
# every 50 ms wakes the thread (on this 1-broker cluster, the one that fetches). See
# bench/STALL.md.

# The key-ordering contenders: wait_one (1 ms per message, ONE) with the trigger's "ordering".
# Partition ordering runs at about 1k msg/s, so it gets its own, smaller topic.
ORDERING = [
    {"name": "ordering-partition", "ordering": "partition", "topic": "bench-ordering-partition",
     "what": "wait_one (1 ms), ordering partition: one at a time"},
    {"name": "ordering-key", "ordering": "key", "topic": "bench-ordering-keyed",
     "what": "wait_one (1 ms), ordering key: concurrent, in order per key"},
    {"name": "ordering-unordered", "ordering": "unordered", "topic": "bench-ordering-keyed",
     "what": "wait_one (1 ms), ordering unordered: concurrent"},
]

# The host's defaults, a diagnostic run with a short fetch.wait.max.ms (the mock cluster holds a
# fetch that finds no data for the full fetch.wait.max.ms, 500 ms, where a real broker answers as
# soon as data arrives), and the raw consumer as the control for each: what it shows is the mock
# broker's and librdkafka's share, the rest is the host's.
LATENCY = [
    {"name": "raw", "kind": "raw"},
    {"name": "host-swift-one", "cardinality": "ONE"},
    {"name": "host-swift-many", "cardinality": "MANY"},
    {"name": "raw-fw5", "kind": "raw", "librdkafka": {"fetch.wait.max.ms": "5"}},
    {"name": "host-swift-one-fw5", "cardinality": "ONE", "kafka": {"librdkafka": {"fetch.wait.max.ms": "5"}}},
]

MEMORY = [
    {"name": "host-swift-many", "cardinality": "MANY"},
    {"name": "host-swift-one", "cardinality": "ONE"},
]

# The pipeline section: consume -> upper-case each value -> produce to an output topic, at-least-
# once (an input's offset is committed only once its output record is acknowledged). The control
# is librdkafka alone (bench/raw_pipeline.c); the host runs upper_one / upper_many (bench/NoopC
# transform.c, bench/NoopSwift Transform.swift) with one kafka output binding and sends without a
# delivery pointer. exactly-once-many-c runs only where the host takes "processingGuarantee":
# "exactlyOnce" on the trigger (Kafka transactions); elsewhere it is skipped with a note.
#
# The control's consumer has the fetch properties the host sets (host_consumer_properties: on
# 2.0.2 fetch.wait.max.ms 5 and the 50 ms metadata refresh). With librdkafka's defaults instead
# (raw-defaults, the control before 2026-12-06) it slowed as runs got longer: once its local
# queue held queued.min.messages (100,000: only inputs of more than that can get there) fetching
# stopped for up to a second (bench/STALL.md), and each start lost up to fetch.wait.max.ms
# (500 ms) while the first partition's empty fetch was held. See BENCHMARKS.md.
PIPELINE = [
    {"name": "raw", "kind": "raw-pipeline", "librdkafka": "host",
     "what": "C, librdkafka alone, the host's consumer properties: produce (linger 5 ms, idempotent), offsets stored once acked"},
    {"name": "raw-defaults", "kind": "raw-pipeline", "diagnostic": True,
     "what": "diagnostic: the control with librdkafka's consumer defaults (the control before 2026-12-06)"},
    {"name": "many-c", "kind": "host", "language": "c", "cardinality": "MANY",
     "what": "swiftfunc, C upper_many, MANY (batch 1000), one kafka output"},
    {"name": "many-swift", "kind": "host", "language": "swift", "cardinality": "MANY",
     "what": "swiftfunc, Swift upper_many, MANY (batch 1000), one kafka output"},
    {"name": "one-c", "kind": "host", "language": "c", "cardinality": "ONE",
     "what": "swiftfunc, C upper_one, ONE, one kafka output"},
    {"name": "one-swift", "kind": "host", "language": "swift", "cardinality": "ONE",
     "what": "swiftfunc, Swift upper_one, ONE, one kafka output"},
    {"name": "one-swift-traced", "kind": "host", "language": "swift", "cardinality": "ONE", "tracing": 1.0,
     "what": "one-swift, tracing on (100 %): a span per invocation, traceparent on every output record"},
    {"name": "one-swift-traced1", "kind": "host", "language": "swift", "cardinality": "ONE", "tracing": 0.01,
     "what": "one-swift, tracing on, 1 % of spans sampled (every output record still carries a traceparent)"},
    {"name": "exactly-once-many-c", "kind": "host", "language": "c", "cardinality": "MANY",
     "trigger": {"processingGuarantee": "exactlyOnce"}, "exactly_once": True,
     # Records without a key go to one partition for 10 ms at a time (librdkafka's sticky
     # partitioner): at a million records a second that is more than the mock cluster keeps of a
     # partition (5 MB), and the read_committed counter lost the records it dropped before it
     # read them (the run timed out). Spread every record instead (consistent_random).
     "kafka": {"librdkafka": {"sticky.partitioning.linger.ms": "0"}},
     "what": "many-c with processingGuarantee exactlyOnce (transactions; outputs counted read_committed)"},
]

# --quick: what each option becomes unless given explicitly.
DEFAULTS = {
    "repeats": (3, 1), "per_partition": (40000, 20000),
    "latency_seconds": (10, 5), "latency_repeats": (3, 1),
    "ordering_repeats": (3, 1), "ordering_messages": (60000, 20000), "ordering_partition_messages": (5000, 2000),
    "memory_messages": (20000000, 2000000),
    "pipeline_repeats": (3, 1), "pipeline_per_partition": (5000, 1250),
}


def merge_kafka(base, options):
    """host.json extensions.kafka `base` with `options` over it (their librdkafka maps merged too)."""
    kafka = dict(base)
    for key, value in options.items():
        if key == "librdkafka":
            kafka["librdkafka"] = dict(kafka.get("librdkafka", {}), **value)
        else:
            kafka[key] = value
    return kafka


def parse_variant(text):
    """NAME=BASE:JSON -> a throughput contender: BASE's, with JSON merged into host.json extensions.kafka."""
    try:
        name, rest = text.split("=", 1)
        base_name, options = rest.split(":", 1)
        options = json.loads(options)
    except ValueError as error:
        sys.exit(f"bench: --variant '{text}': use NAME=BASE:JSON ({error})")
    base = next((c for c in CONTENDERS if c["name"] == base_name and c["kind"] == "host"), None)
    if base is None:
        sys.exit(f"bench: --variant '{text}': BASE must be a host contender, not '{base_name}'")
    kafka = merge_kafka(base.get("kafka", {}), options)
    return dict(base, name=name, kafka=kafka, diagnostic=True, what=f"{base_name} + {json.dumps(options)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="the release build's bin directory (swift build -c release --show-bin-path)")
    parser.add_argument("--raw", required=True, help="the compiled bench/raw_consumer.c")
    parser.add_argument("--swiftfunc", help="the swiftfunc executable to run as host and broker (default: BIN/swiftfunc), "
                        "e.g. another branch's build; the functions still come from BIN")
    parser.add_argument("--work", default=".build/bench", help="scratch directory for script roots, logs and results")
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats and messages, to try things: " + ", ".join(
                            f"{key.replace('_', '-')} {quick:,}" for key, (_, quick) in DEFAULTS.items()))
    parser.add_argument("--brokers", type=int, default=1,
                        help="brokers in the mock cluster (default 1: `swiftfunc broker`; more: bench/mock_cluster.c, "
                             "partition leaders spread over them)")
    parser.add_argument("--mock-cluster", help="the compiled bench/mock_cluster.c (default: next to --raw)")
    # 80 partitions of 40,000 (3.2 M messages): a throughput run lasts a few seconds. Runs of
    # 0.3-0.7 s (40 x 10,000 or 25,000, before) were mostly the fetchers' ramp-up, and moved by 40 %
    # from one run to the next (BENCHMARKS.md).
    parser.add_argument("--partitions", type=int, default=80)
    parser.add_argument("--per-partition", type=int,
                        help="messages per partition (default 40,000, --quick 20,000; the mock cluster keeps ~45k of 100 bytes; stay under)")
    parser.add_argument("--repeats", type=int, help="throughput runs per contender (default 3)")
    parser.add_argument("--deadline", type=float, default=120, help="seconds a single run may take")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=BASE:JSON",
                        help="an extra throughput contender: host contender BASE with JSON merged into host.json "
                             "extensions.kafka, e.g. 'one-q300k=host-swift-one:{\"queuedMinMessages\": 300000}' "
                             "or 'one-fw10=host-swift-one:{\"librdkafka\": {\"fetch.wait.max.ms\": \"10\"}}' (repeatable)")
    parser.add_argument("--host-kafka", type=json.loads, default={}, metavar="JSON",
                        help="merged into host.json extensions.kafka of every host run in every section (a contender's "
                             "own settings win), to try candidate defaults, e.g. "
                             "'{\"librdkafka\": {\"topic.metadata.refresh.interval.ms\": \"50\"}}'")
    parser.add_argument("--latency-partitions", type=int, default=4,
                        help="partitions the latency runs produce to (the mock cluster answers a fetch with one "
                             "producer batch per partition, so tiny batches over many partitions measure the mock)")
    parser.add_argument("--latency-rate", type=int, default=10000, help="messages per second produced for the latency runs")
    parser.add_argument("--latency-seconds", type=float, help="seconds measured per latency run (default 10)")
    parser.add_argument("--latency-settle", type=float, default=2)
    parser.add_argument("--latency-repeats", type=int, help="default 3")
    parser.add_argument("--ordering-messages", type=int, help="messages for ordering key and unordered (default 60,000)")
    parser.add_argument("--ordering-partition-messages", type=int, help="messages for ordering partition (default 5,000)")
    parser.add_argument("--ordering-keys", type=int, default=1000)
    parser.add_argument("--ordering-partitions", type=int, default=2)
    parser.add_argument("--ordering-max-concurrency", type=int,
                        help="maxConcurrency for ordering key and unordered (default: not set, the host's default)")
    parser.add_argument("--ordering-repeats", type=int, help="default 3")
    parser.add_argument("--memory-messages", type=int,
                        help="messages in the long stream (default 20,000,000: about 40 s a run here; over 5 M the "
                             "stream lasts ~10 s and its 10%% mark falls in the first seconds' growth)")
    parser.add_argument("--memory-partitions", type=int, default=40)
    parser.add_argument("--memory-max-lag", type=int, default=15000,
                        help="messages per partition the producer may run ahead of the committed offsets")
    parser.add_argument("--memory-sample-interval", type=float, default=0.5)
    parser.add_argument("--raw-pipeline", help="the compiled bench/raw_pipeline.c (default: next to --raw)")
    parser.add_argument("--pipeline-per-partition", type=int,
                        help="input messages per partition for the pipeline section (default 5,000, --quick 1,250)")
    parser.add_argument("--pipeline-repeats", type=int, help="default 3")
    parser.add_argument("--pipeline-min-rate", type=float, default=1000,
                        help="a pipeline run may take messages / this + 30 s (at least --deadline)")
    parser.add_argument("--only", default="", help="comma-separated contender names; every section none of them "
                        "is in is skipped (see above)")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-ordering", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--skip-microbench", action="store_true")
    args = parser.parse_args()
    for key, (normal, quick) in DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else normal)
    args.work = os.path.abspath(args.work)
    args.bin = os.path.abspath(args.bin)
    args.raw = os.path.abspath(args.raw)
    args.swiftfunc = os.path.abspath(args.swiftfunc or os.path.join(args.bin, "swiftfunc"))
    args.mock_cluster = os.path.abspath(args.mock_cluster or os.path.join(os.path.dirname(args.raw), "mock_cluster"))
    args.raw_pipeline = os.path.abspath(args.raw_pipeline or os.path.join(os.path.dirname(args.raw), "raw_pipeline"))
    if args.brokers > 1 and not os.access(args.mock_cluster, os.X_OK):
        sys.exit(f"bench: --brokers {args.brokers} needs {args.mock_cluster} (cc bench/mock_cluster.c; make bench builds it)")
    args.cluster = {"brokers": args.brokers, "mock_cluster": args.mock_cluster}
    args.topic = "bench-throughput"
    args.messages = args.partitions * args.per_partition
    os.makedirs(args.work, exist_ok=True)

    variants = [parse_variant(text) for text in args.variant]
    only = set(filter(None, args.only.split(",")))
    known = ({c["name"] for c in CONTENDERS + variants + ORDERING} | {"latency:" + e["name"] for e in LATENCY}
             | {"memory:" + e["name"] for e in MEMORY} | {"microbench", "pipeline"} | {"pipeline:" + e["name"] for e in PIPELINE})
    if only - known:
        sys.exit(f"bench: --only: unknown {', '.join(sorted(only - known))}; known: {', '.join(sorted(known))}")

    def selected(name):
        return not only or name in only

    contenders = [c for c in CONTENDERS + variants if selected(c["name"])]
    ordering = [] if args.skip_ordering else [c for c in ORDERING if selected(c["name"])]
    latency_entries = [] if args.skip_latency else [e for e in LATENCY if selected("latency:" + e["name"])]
    memory_entries = [] if args.skip_memory else [e for e in MEMORY if selected("memory:" + e["name"])]
    run_microbench = not args.skip_microbench and selected("microbench")
    pipeline_entries = [] if args.skip_pipeline else \
        [e for e in PIPELINE if selected("pipeline") or selected("pipeline:" + e["name"])]
    if pipeline_entries and PIPELINE[0] not in pipeline_entries:
        pipeline_entries.insert(0, PIPELINE[0])  # the control: the ratios are to it
    if pipeline_entries and not os.access(args.raw_pipeline, os.X_OK):
        sys.exit(f"bench: the pipeline section needs {args.raw_pipeline} (cc bench/raw_pipeline.c; make bench builds it)")
    began = time.monotonic()
    bench = Bench(args)
    swiftfunc = args.swiftfunc

    log("swiftfunc benchmark")
    for line in machine(swiftfunc):
        log("  " + line)
    if args.host_kafka:
        log(f"  every host run's host.json extensions.kafka includes {json.dumps(args.host_kafka)} (--host-kafka)")

    results = {c["name"]: [] for c in contenders}
    latencies = {}
    if contenders or latency_entries:
        latency_topics = [f"bench-latency-{e['name']}-{r}" for e in latency_entries for r in range(args.latency_repeats)]
        topics = ([args.topic] if contenders else []) + latency_topics
        broker, address = start_broker(swiftfunc, args.partitions, topics, args.work, **args.cluster)
        try:
            log(f"  embedded broker (librdkafka mock cluster, {args.brokers} broker{'s' if args.brokers > 1 else ''}) at {address}: "
                "keeps only ~5 MB per partition")
            if contenders:
                log(f"Producing {args.messages:,} messages of {VALUE_SIZE} bytes to {args.topic} "
                    f"({args.partitions} partitions x {args.per_partition:,})...")
                produce(address, args.topic, args.partitions, args.per_partition)
                watermarks = end_offsets(address, args.topic, args.partitions)
                if any(low != 0 or high != args.per_partition for low, high in watermarks):
                    sys.exit(f"bench: the broker does not hold every message (watermarks {watermarks[:4]}...): "
                             "the mock cluster dropped some; use more partitions or fewer messages per partition")
                ends = [high for _, high in watermarks]
                for repeat in range(1, args.repeats + 1):
                    log(f"Throughput, round {repeat} of {args.repeats}:")
                    for contender in contenders:
                        try:
                            outcome = bench.throughput(contender, repeat, address, args.topic, ends)
                        except RuntimeError as error:
                            sys.exit(f"bench: {contender['name']}: {error}")
                        results[contender["name"]].append(outcome)
                        log(f"  {contender['name']:<20} {outcome['msgs_per_s']:>12,.0f} msg/s  "
                            f"CPU {outcome['cpu_us_per_msg']:5.2f} us/msg  peak RSS {outcome['rss_mb']:6.1f} MB")

            if latency_entries:
                log(f"Latency at {args.latency_rate:,} msg/s, {args.latency_seconds:g} s measured per run:")
                for repeat in range(args.latency_repeats):
                    for entry in latency_entries:
                        name = entry["name"]
                        try:
                            outcome = bench.latency(entry, f"bench-latency-{name}-{repeat}", repeat, address)
                        except RuntimeError as error:
                            sys.exit(f"bench: latency {name}: {error}")
                        latencies.setdefault(name, []).append(outcome)
                        log(f"  {name:<18} p50 {outcome['p50_ms']:6.2f} ms  p99 {outcome['p99_ms']:6.2f} ms  "
                            f"max {outcome['max_ms']:7.2f} ms  ({outcome['samples']:,} messages, produced at {outcome['rate']:,.0f} msg/s)")
        finally:
            stop(broker)

    orderings, ordering_failures, ordering_note = run_ordering(args, bench, swiftfunc, ordering) if ordering else ({}, {}, None)

    pipelines, pipeline_failures, pipeline_notes = \
        run_pipeline(args, bench, swiftfunc, pipeline_entries) if pipeline_entries else ({}, {}, [])

    memories = {}
    if memory_entries:
        topics = [f"bench-memory-{e['name']}" for e in memory_entries]
        broker, address = start_broker(swiftfunc, args.memory_partitions, topics, args.work, "memory-broker", **args.cluster)
        try:
            log(f"Memory over a stream of {args.memory_messages:,} messages produced while the host consumes "
                f"({args.memory_partitions} partitions, VmRSS every {args.memory_sample_interval:g} s):")
            for entry in memory_entries:
                name = entry["name"]
                try:
                    outcome = bench.memory(entry, 1, address, f"bench-memory-{name}")
                except RuntimeError as error:
                    sys.exit(f"bench: memory {name}: {error}")
                memories[name] = outcome
                log(f"  {name:<18} RSS at 10% {outcome['rss_10pct_mb']:6.1f} MB, 50% {outcome['rss_50pct_mb']:6.1f} MB, "
                    f"90% {outcome['rss_90pct_mb']:6.1f} MB, peak {outcome['peak_mb']:6.1f} MB  "
                    f"({outcome['msgs_per_s']:,.0f} msg/s consumed, produced at {outcome['produced_per_s']:,.0f} msg/s, "
                    f"producer held back {outcome['held_back_s']:.1f} s, {outcome['samples']} samples)")
        finally:
            stop(broker)

    micro = {}
    if run_microbench:
        log("Micro-benchmark of one invocation (swiftfunc-microbench):")
        run = subprocess.run([os.path.join(args.bin, "swiftfunc-microbench"), args.bin], capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit("bench: swiftfunc-microbench failed:\n" + run.stdout + run.stderr)
        for line in run.stdout.splitlines():
            if line.startswith("microbench "):
                name, value = line[len("microbench "):].split(": ns_per_msg=")
                micro[name] = float(value)
                log(f"  {name:<24} {float(value):7.1f} ns per message")

    bench.close()
    report(args, contenders, results, latencies, orderings, ordering_failures, ordering_note, memories, micro,
           time.monotonic() - began, (pipeline_entries, pipelines, pipeline_failures, pipeline_notes))
    failed = sorted(ordering_failures) + [f"pipeline-{name}" for name in sorted(pipeline_failures)]
    if failed:
        sys.exit(f"bench: failed: {', '.join(failed)} (see above)")


def run_ordering(args, bench, swiftfunc, contenders):
    """The key-ordering section on its own broker: returns ({name: [outcome...]}, {name: failure}, note or None)."""
    sizes = {"bench-ordering-partition": args.ordering_partition_messages, "bench-ordering-keyed": args.ordering_messages}
    topics = sorted({c["topic"] for c in contenders})
    broker, address = start_broker(swiftfunc, args.ordering_partitions, topics, args.work, "ordering-broker", **args.cluster)
    outcomes = {c["name"]: [] for c in contenders}
    failures = {}
    note = None
    try:
        ends = {}
        for topic in topics:
            messages = sizes[topic]
            log(f"Producing {messages:,} keyed messages ({args.ordering_keys:,} keys, round robin) to {topic} "
                f"({args.ordering_partitions} partitions, partitioned by key)...")
            produce_keyed(address, topic, messages, args.ordering_keys)
            watermarks = end_offsets(address, topic, args.ordering_partitions)
            if any(low != 0 for low, _ in watermarks) or sum(high for _, high in watermarks) != messages:
                sys.exit(f"bench: the broker does not hold every message of {topic} (watermarks {watermarks}): "
                         "the mock cluster dropped some; use fewer --ordering-messages or more --ordering-partitions")
            if max(high for _, high in watermarks) > PARTITION_RETENTION * 0.9:
                sys.exit(f"bench: {topic}: a partition holds {max(high for _, high in watermarks):,} messages, too close to "
                         f"the ~{PARTITION_RETENTION:,} the mock cluster keeps; use fewer --ordering-messages")
            ends[topic] = [high for _, high in watermarks]
            log(f"  messages per partition: {', '.join(f'{high:,}' for _, high in watermarks)}")
        skip = set()
        for repeat in range(1, args.ordering_repeats + 1):
            if all(entry["name"] in skip or entry["name"] in failures for entry in contenders):
                break
            log(f"Key ordering, round {repeat} of {args.ordering_repeats}:")
            for entry in contenders:
                name = entry["name"]
                if name in skip or name in failures:
                    continue
                trigger = {"ordering": entry["ordering"]}
                if args.ordering_max_concurrency and entry["ordering"] != "partition":
                    trigger["maxConcurrency"] = args.ordering_max_concurrency
                contender = {"name": name, "kind": "host", "language": "swift", "cardinality": "ONE",
                             "entry_point": "wait_one", "trigger": trigger}
                messages = sum(ends[entry["topic"]])
                # Run one at a time (the host without the setting), 1 ms each, could take this long.
                deadline = max(args.deadline, messages * 0.0025 + 30)
                try:
                    outcome = bench.throughput(contender, repeat, address, entry["topic"], ends[entry["topic"]], deadline)
                except RuntimeError as error:
                    # Reported with the results (and in the exit status); the other sections still run.
                    failures[name] = str(error)
                    log(f"  {name:<18} FAILED: {error}")
                    continue
                outcome["violations"] = outcome["extra"][0] if outcome["extra"] else None
                outcomes[name].append(outcome)
                log(f"  {name:<18} {outcome['msgs_per_s']:>12,.0f} msg/s  key order violations {outcome['violations']}  "
                    f"peak RSS {outcome['rss_mb']:6.1f} MB")
            # The host before the "ordering" setting ignores it and runs key mode one at a time:
            # a minute per run that tells nothing more; say so and do not repeat it.
            partition = outcomes.get("ordering-partition")
            key = outcomes.get("ordering-key")
            if repeat == 1 and args.ordering_repeats > 1 and partition and key:
                ratio = key[0]["msgs_per_s"] / partition[0]["msgs_per_s"]
                if ratio < 2:
                    skip = {"ordering-key", "ordering-unordered"}
                    note = (f"ordering-key ran at {ratio:.2f} x ordering-partition in round 1: this host runs it one "
                            "message at a time (it ignores \"ordering\"?), so key and unordered were not repeated")
                    log("  " + note)
    finally:
        stop(broker)
    return outcomes, failures, note


def run_pipeline(args, bench, swiftfunc, contenders):
    """The pipeline section on its own broker: returns ({name: [outcome...]}, {name: failure}, [note...])."""
    topic = "bench-pipeline-in"
    outputs = {(c["name"], r): f"bench-pipeline-out-{c['name']}-{r}"
               for c in contenders for r in range(1, args.pipeline_repeats + 1)}
    broker, address = start_broker(swiftfunc, args.partitions, [topic] + sorted(outputs.values()) + ["bench-pipeline-check-in", "bench-pipeline-check-out"],
                                   args.work, "pipeline-broker", **args.cluster)
    outcomes = {c["name"]: [] for c in contenders}
    failures = {}
    notes = []
    try:
        messages = args.partitions * args.pipeline_per_partition
        log(f"Producing {messages:,} messages of {VALUE_SIZE} bytes to {topic} "
            f"({args.partitions} partitions x {args.pipeline_per_partition:,}) for the pipeline...")
        produce(address, topic, args.partitions, args.pipeline_per_partition)
        watermarks = end_offsets(address, topic, args.partitions)
        if any(low != 0 or high != args.pipeline_per_partition for low, high in watermarks):
            sys.exit(f"bench: the broker does not hold every message of {topic} (watermarks {watermarks[:4]}...): "
                     "the mock cluster dropped some; use fewer --pipeline-per-partition")
        ends = [high for _, high in watermarks]
        for contender in [c for c in contenders if c.get("trigger")]:
            refusal = bench.refusal(contender, address)
            if refusal:
                notes.append(f"{contender['name']} skipped: this host does not take "
                             f"{json.dumps(contender['trigger'])} on the trigger ({refusal})")
                log("  Note: " + notes[-1])
                del outcomes[contender["name"]]
        # The current host waits for every record's acknowledgement after each invocation: ONE
        # runs at a few thousand messages a second. Give it time rather than a failure.
        deadline = max(args.deadline, messages / args.pipeline_min_rate + 30)
        for repeat in range(1, args.pipeline_repeats + 1):
            log(f"Pipeline (consume -> upper-case -> produce), round {repeat} of {args.pipeline_repeats}:")
            for contender in contenders:
                name = contender["name"]
                if name not in outcomes or name in failures:
                    continue
                try:
                    outcome = bench.pipeline(contender, repeat, address, topic, ends, outputs[(name, repeat)], deadline)
                except RuntimeError as error:
                    # Reported with the results (and in the exit status); the other contenders still run.
                    failures[name] = str(error)
                    log(f"  {name:<20} FAILED: {error}")
                    continue
                outcomes[name].append(outcome)
                log(f"  {name:<20} {outcome['msgs_per_s']:>10,.0f} msg/s until every output is in the topic  "
                    f"(inputs handled at {outcome['handled_per_s']:,.0f} msg/s; {outcome['outputs']:,} outputs, "
                    f"{outcome['extra']:,} more than inputs)")
    finally:
        stop(broker)
    return outcomes, failures, notes


def report(args, contenders, results, latencies, orderings, ordering_failures, ordering_note, memories, micro, elapsed,
           pipeline):
    medians = {name: {"msgs_per_s": statistics.median(r["msgs_per_s"] for r in runs),
                      "cpu_us_per_msg": statistics.median(r["cpu_us_per_msg"] for r in runs),
                      "rss_mb": statistics.median(r["rss_mb"] for r in runs)}
               for name, runs in results.items() if runs}
    raw = medians.get("raw", {}).get("msgs_per_s")
    shown = [c for c in contenders if c["name"] in medians]
    if shown:
        log()
        log(f"Results: {args.messages:,} messages of {VALUE_SIZE} bytes, {args.partitions} partitions, "
            f"median of {args.repeats} runs (took {elapsed:.0f} s; peak RSS of the host is its worker process's)")
        width = max(len(c["what"]) for c in shown)
        names = max([18] + [len(c["name"]) for c in shown])
        log(f"| {'contender':<{names}} | {'what':<{width}} | {'msgs/s':>10} | {'x raw':>6} | {'CPU us/msg':>10} | {'peak RSS':>9} | runs (msgs/s) |")
        log(f"|{'-' * (names + 2)}|{'-' * (width + 2)}|{'-' * 12}|{'-' * 8}|{'-' * 12}|{'-' * 11}|---------------|")
        for contender in shown:
            name = contender["name"]
            median = medians[name]
            ratio = f"{median['msgs_per_s'] / raw:.2f}" if raw else "-"
            runs = ", ".join(f"{r['msgs_per_s'] / 1e3:,.0f}k" for r in results[name])
            log(f"| {name:<{names}} | {contender['what']:<{width}} | {median['msgs_per_s']:>10,.0f} | {ratio:>6} | "
                f"{median['cpu_us_per_msg']:>10.2f} | {median['rss_mb']:>6.1f} MB | {runs} |")

    ordering_medians = {name: {"msgs_per_s": statistics.median(r["msgs_per_s"] for r in runs),
                               "violations": statistics.median(r["violations"] for r in runs),
                               "rss_mb": statistics.median(r["rss_mb"] for r in runs), "runs": runs}
                        for name, runs in orderings.items() if runs}
    partition = ordering_medians.get("ordering-partition", {}).get("msgs_per_s")
    if ordering_medians:
        log()
        log(f"Key ordering: wait_one (usleep 1 ms per message, ONE), {args.ordering_partitions} partitions, "
            f"{args.ordering_keys:,} keys; ordering partition over {args.ordering_partition_messages:,} messages, "
            f"key and unordered over {args.ordering_messages:,}; maxConcurrency "
            f"{args.ordering_max_concurrency or 'the host default'}; median of the runs")
        width = max(len(entry["what"]) for entry in ORDERING)
        log(f"| {'contender':<18} | {'what':<{width}} | {'msgs/s':>8} | {'x partition':>11} | {'violations':>10} | {'peak RSS':>9} | runs (msgs/s) |")
        log(f"|{'-' * 20}|{'-' * (width + 2)}|{'-' * 10}|{'-' * 13}|{'-' * 12}|{'-' * 11}|---------------|")
        for entry in ORDERING:
            name = entry["name"]
            if name not in ordering_medians:
                continue
            median = ordering_medians[name]
            ratio = f"{median['msgs_per_s'] / partition:.2f}" if partition else "-"
            runs = ", ".join(f"{r['msgs_per_s']:,.0f}" for r in median["runs"])
            log(f"| {name:<18} | {entry['what']:<{width}} | {median['msgs_per_s']:>8,.0f} | {ratio:>11} | "
                f"{median['violations']:>10,.0f} | {median['rss_mb']:>6.1f} MB | {runs} |")
        if ordering_note:
            log("  Note: " + ordering_note)
    if ordering_failures:
        log()
        for name, failure in ordering_failures.items():
            log(f"  {name}: FAILED: {failure}")

    pipeline_entries, pipelines, pipeline_failures, pipeline_notes = pipeline
    pipeline_medians = {name: {"msgs_per_s": statistics.median(r["msgs_per_s"] for r in runs),
                               "handled_per_s": statistics.median(r["handled_per_s"] for r in runs),
                               "extra": max(r["extra"] for r in runs), "runs": runs}
                        for name, runs in pipelines.items() if runs}
    raw_pipeline = pipeline_medians.get("raw", {}).get("msgs_per_s")
    if pipeline_medians or pipeline_failures or pipeline_notes:
        log()
        log(f"Pipeline: consume -> upper-case -> produce, {args.partitions * args.pipeline_per_partition:,} messages of "
            f"{VALUE_SIZE} bytes, {args.partitions} partitions in and out, at-least-once; msgs/s from the first message "
            f"to the moment every output record is in the output topic; median of {args.pipeline_repeats} runs")
        pipeline_shown = [e for e in pipeline_entries if e["name"] in pipeline_medians]
        width = max([len(e["what"]) for e in pipeline_shown] + [4])
        names = max([20] + [len(e["name"]) for e in pipeline_shown])
        log(f"| {'contender':<{names}} | {'what':<{width}} | {'msgs/s':>10} | {'x raw':>6} | {'inputs handled/s':>16} | "
            f"{'extra outputs':>13} | runs (msgs/s) |")
        log(f"|{'-' * (names + 2)}|{'-' * (width + 2)}|{'-' * 12}|{'-' * 8}|{'-' * 18}|{'-' * 15}|---------------|")
        for entry in pipeline_shown:
            name = entry["name"]
            median = pipeline_medians[name]
            ratio = f"{median['msgs_per_s'] / raw_pipeline:.3f}" if raw_pipeline else "-"
            runs = ", ".join(f"{r['msgs_per_s']:,.0f}" for r in median["runs"])
            log(f"| {name:<{names}} | {entry['what']:<{width}} | {median['msgs_per_s']:>10,.0f} | {ratio:>6} | "
                f"{median['handled_per_s']:>16,.0f} | {median['extra']:>13,} | {runs} |")
        log("  inputs handled/s: up to the function's (the control's: the last acknowledgement's) own timestamp of "
            "its last input; extra outputs: records beyond one per input (redeliveries), the worst run")
        for note in pipeline_notes:
            log("  Note: " + note)
        for name, failure in pipeline_failures.items():
            log(f"  {name}: FAILED: {failure}")

    if latencies:
        log()
        log(f"Produce-to-invocation latency at {args.latency_rate:,} msg/s over {min(args.latency_partitions, args.partitions)} partitions (host defaults; -fw5: fetch.wait.max.ms 5; "
            f"raw: bench/raw_consumer.c, librdkafka defaults, batch fetch, the control; raw-fw5: the same with "
            f"fetch.wait.max.ms 5; "
            f"producer linger.ms 5; CreateTime has ms resolution, so each sample is overstated by 0-1 ms), "
            f"median of {args.latency_repeats} runs:")
        for name, runs in latencies.items():
            log(f"  {name:<18} p50 {statistics.median(r['p50_ms'] for r in runs):.2f} ms, "
                f"p99 {statistics.median(r['p99_ms'] for r in runs):.2f} ms "
                "(p99 per run: " + ", ".join(f"{r['p99_ms']:.2f}" for r in runs) + ")")

    if memories:
        log()
        log(f"Memory of the host's worker over a stream of {args.memory_messages:,} messages produced while it consumes "
            f"({args.memory_partitions} partitions; VmRSS at 10/50/90% of the time from its first message to its last, "
            f"median of the samples within 10% of it; peak = VmHWM):")
        for name, outcome in memories.items():
            log(f"  {name:<18} {outcome['rss_10pct_mb']:6.1f} MB, {outcome['rss_50pct_mb']:6.1f} MB, "
                f"{outcome['rss_90pct_mb']:6.1f} MB, peak {outcome['peak_mb']:6.1f} MB ({outcome['msgs_per_s']:,.0f} msg/s)")

    log()
    for contender in shown:
        name = contender["name"]
        ratio = medians[name]["msgs_per_s"] / raw if raw else float("nan")
        log(f"bench {name}: msgs_per_s={medians[name]['msgs_per_s']:.0f} ratio_to_raw={ratio:.3f} "
            f"cpu_us_per_msg={medians[name]['cpu_us_per_msg']:.3f} rss_mb={medians[name]['rss_mb']:.1f}")
    for entry in ORDERING:
        name = entry["name"]
        if name not in ordering_medians:
            continue
        median = ordering_medians[name]
        ratio = "" if name == "ordering-partition" else \
            f" ratio_to_partition={median['msgs_per_s'] / partition:.3f}" if partition else " ratio_to_partition=nan"
        log(f"bench {name}: msgs_per_s={median['msgs_per_s']:.0f}{ratio} order_violations={median['violations']:.0f} "
            f"rss_mb={median['rss_mb']:.1f}")
    for name, failure in ordering_failures.items():
        log(f"bench {name}: failed=\"{failure}\"")
    for entry in pipeline_entries:
        name = entry["name"]
        if name in pipeline_medians:
            rate = pipeline_medians[name]["msgs_per_s"]
            ratio = rate / raw_pipeline if raw_pipeline else float("nan")
            log(f"bench pipeline-{name}: msgs_per_s={rate:.0f} ratio_to_raw_pipeline={ratio:.3f}")
    for name, failure in pipeline_failures.items():
        log(f"bench pipeline-{name}: failed=\"{failure}\"")
    for name, runs in latencies.items():
        log(f"latency {name}: p50_ms={statistics.median(r['p50_ms'] for r in runs):.2f} "
            f"p99_ms={statistics.median(r['p99_ms'] for r in runs):.2f}")
    for name, outcome in memories.items():
        log(f"memory {name}: rss_10pct_mb={outcome['rss_10pct_mb']:.1f} rss_50pct_mb={outcome['rss_50pct_mb']:.1f} "
            f"rss_90pct_mb={outcome['rss_90pct_mb']:.1f} peak_mb={outcome['peak_mb']:.1f}")
    for name, value in micro.items():
        log(f"microbench {name}: ns_per_msg={value:.1f}")

    targets = []  # printed under one heading at the end, when any applies
    def target(text, met, detail):
        targets.append(f"  [{'met' if met else 'MISSED'}] {text}: {detail}")
    def throughput(name):
        return medians.get(name, {}).get("msgs_per_s")
    python = throughput("python")
    for name, floor in [("host-swift-many", 0.9), ("host-c-many", 0.9), ("host-swift-one", 0.6), ("host-c-one", 0.6)]:
        if throughput(name) and raw:
            ratio = throughput(name) / raw
            target(f"{name} >= {floor} x raw", ratio >= floor, f"{ratio:.2f} x")
    control = throughput("raw-host-props")
    # Issue 23's floors, for C and Swift functions alike.
    for name, floor in [("host-swift-many", 1.05), ("host-c-many", 1.05), ("host-swift-one", 1.0), ("host-c-one", 1.0)]:
        if throughput(name) and control:
            ratio = throughput(name) / control
            target(f"{name} >= {floor} x raw-host-props (same properties as the host)", ratio >= floor, f"{ratio:.2f} x")
    for name in ("host-swift-many", "host-swift-one", "host-c-many", "host-c-one"):
        if throughput(name) and python:
            ratio = throughput(name) / python
            target(f"{name} >= 5 x python", ratio >= 5, f"{ratio:.1f} x")
    for name in ("host-swift-one", "host-c-one"):
        if throughput(name) and throughput(name + "-v1"):
            ratio = throughput(name) / throughput(name + "-v1")
            target(f"{name} (ABI v2) >= 1.1 x {name}-v1 (same run)", ratio >= 1.1, f"{ratio:.2f} x")
    for name in ("invocation-one-swift", "invocation-many-swift", "invocation-one-c", "invocation-many-c"):
        if name in micro:
            target(f"{name} <= 100 ns per message", micro[name] <= 100, f"{micro[name]:.0f} ns")
    for name, runs in latencies.items():
        if name.endswith("-fw5") or name.startswith("raw"):
            continue
        p99 = statistics.median(r["p99_ms"] for r in runs)
        target(f"latency {name} p99 < 20 ms at {args.latency_rate:,} msg/s", p99 < 20, f"{p99:.2f} ms")
    for name in ("host-swift-many", "host-swift-one", "host-c-many", "host-c-one"):
        if name in medians:
            rss = medians[name]["rss_mb"]
            target(f"{name} peak RSS < 150 MB over {args.messages:,} messages", rss < 150, f"{rss:.0f} MB")
    if partition and "ordering-key" in ordering_medians:
        ratio = ordering_medians["ordering-key"]["msgs_per_s"] / partition
        target(f"ordering-key >= 20 x ordering-partition (1 ms function, {args.ordering_partitions} partitions, "
               f"{args.ordering_keys:,} keys)", ratio >= 20, f"{ratio:.1f} x")
    for name in ordering_failures:
        target(f"{name} runs", False, "FAILED (see above)")
    for name in ("ordering-partition", "ordering-key"):
        if name in ordering_medians:
            worst = max(r["violations"] for r in ordering_medians[name]["runs"])
            target(f"{name} keeps every key in order", worst == 0, f"{worst} violations in the worst run")
    for name, outcome in memories.items():
        # Flat: the 90% value no more than 15% (at least 10 MB) above the 10% value: above the
        # swing of the queue level, below what a leak of 1 byte per message would add between
        # the marks over the default 20 M messages (16 MB).
        allowed = outcome["rss_10pct_mb"] + max(10, 0.15 * outcome["rss_10pct_mb"])
        target(f"memory {name} flat over {args.memory_messages:,} messages (RSS at 90% <= RSS at 10% + max(10 MB, 15%))",
               outcome["rss_90pct_mb"] <= allowed,
               f"{outcome['rss_10pct_mb']:.1f} MB -> {outcome['rss_90pct_mb']:.1f} MB")
    if targets:
        log()
        log("Targets (issue 5, the ordering issue and issue 20):")
        for line in targets:
            log(line)


if __name__ == "__main__":
    main()
