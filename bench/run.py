#!/usr/bin/python3
"""make bench: the host against librdkafka itself and against Python, side by side.

One embedded broker (`swiftfunc broker`, librdkafka's mock cluster), one pre-produced topic of
100-byte messages, and every contender reading all of it with a fresh consumer group:

  raw              bench/raw_consumer.c: librdkafka's consumer, batch fetch, offsets stored per
                   batch, auto commit. The physical limit; ratios are to it.
  raw-poll         the same, one rd_kafka_consumer_poll and one offset store per message.
  host-swift-many  swiftfunc with a no-op Swift function, cardinality MANY (maxBatchSize 1000).
  host-swift-one   the same, cardinality ONE.
  host-c-many      swiftfunc with a no-op C function (bench/NoopC), MANY.
  host-c-one       the same, ONE.
  python           bench/python_consumer.py: confluent-kafka, a no-op Python function and an
                   offset store per message.

Throughput is the messages divided by the time from the first message a contender handles to
the last (each contender timestamps both itself; group joins and shutdowns are not counted).
A run is complete when the group's committed offsets reach the end of every partition (polled,
with a deadline). Peak RSS is the process's VmHWM at that point. Then the produce-to-invocation
latency of the host with default settings at a fixed produce rate, and the micro-benchmark of one
invocation (swiftfunc-microbench). Runs repeat; the table shows medians.

The mock cluster keeps only about 5 MB per partition (~45k 100-byte messages; older ones vanish
even unconsumed), so the messages are spread over many partitions and the run checks that none
was dropped before it measures.

usage: /usr/bin/python3 bench/run.py --bin RELEASE_BIN_DIR --raw RAW_CONSUMER [options]
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

HERE = os.path.dirname(os.path.abspath(__file__))
VALUE_SIZE = 100


def log(text=""):
    print(text, flush=True)


def machine():
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
        f"OS: {release} (Linux {os.uname().release}), librdkafka {confluent_kafka.libversion()[0]}, "
        f"confluent-kafka (Python) {confluent_kafka.version()[0]}, Python {sys.version.split()[0]}",
    ]


# MARK: - The broker and the messages

def start_broker(swiftfunc, partitions, topics, work):
    stderr = open(os.path.join(work, "broker.log"), "w")
    command = [swiftfunc, "broker", "--partitions", str(partitions)]
    for topic in topics:
        command += ["--topic", topic]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    address = process.stdout.readline().strip()
    if not address:
        sys.exit("bench: the embedded broker did not start; see " + stderr.name)
    return process, address


def produce(address, topic, partitions, per_partition):
    producer = Producer({
        "bootstrap.servers": address,
        "linger.ms": 20,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 2000000,
        "queue.buffering.max.kbytes": 2097151,
    })
    failures = []
    value = bytes((ord("a") + i % 26) for i in range(VALUE_SIZE))
    total = partitions * per_partition
    for index in range(total):
        producer.produce(topic, value, partition=index % partitions,
                         on_delivery=lambda error, _: error and failures.append(error))
        if index % 20000 == 0:
            producer.poll(0)
    producer.flush(120)
    if failures:
        sys.exit(f"bench: {len(failures)} messages were not delivered: {failures[0]}")


def end_offsets(address, topic, partitions):
    consumer = Consumer({"bootstrap.servers": address, "group.id": "bench-watermarks"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in range(partitions)]
    finally:
        consumer.close()


def committed_reached(address, group, topic, ends):
    """True once the group has committed the end offset of every partition."""
    consumer = Consumer({"bootstrap.servers": address, "group.id": group, "enable.auto.commit": False})
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in range(len(ends))], timeout=10)
        return all(tp.offset == ends[tp.partition] for tp in committed)
    except Exception:
        return False
    finally:
        consumer.close()


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


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


# MARK: - Contenders

class Bench:
    def __init__(self, args, address):
        self.args = args
        self.address = address
        self.swiftfunc = os.path.join(args.bin, "swiftfunc")
        self.libraries = {
            "swift": os.path.join(args.bin, "libBenchNoop.so"),
            "c": os.path.join(args.bin, "libBenchNoopC.so"),
        }

    def host_root(self, name, language, entry_point, cardinality, group, topic, host_kafka, data_type):
        """A script root with host.json and one function, functions/Bench."""
        root = os.path.join(self.args.work, name)
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(os.path.join(root, "functions", "Bench"))
        import json
        host = {"version": "2.0", "logging": {"logLevel": {"default": "Warning"}}}
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
        function = {"scriptFile": self.libraries[language], "entryPoint": entry_point, "bindings": [trigger]}
        with open(os.path.join(root, "functions", "Bench", "function.json"), "w") as file:
            json.dump(function, file, indent=2)
        return root

    def command(self, contender, group, result):
        """The command line and environment that runs `contender` against the throughput topic."""
        args = self.args
        env = dict(os.environ, BrokerList=self.address, BENCH_EXPECTED=str(args.messages), BENCH_RESULT=result)
        kind = contender["kind"]
        if kind == "raw":
            return [args.raw, self.address, args.topic, group, str(args.messages), result, contender["mode"]], env
        if kind == "python":
            return ["/usr/bin/python3", os.path.join(HERE, "python_consumer.py"), self.address, args.topic, group,
                    str(args.messages), result], env
        cardinality = contender["cardinality"]
        kafka = dict(contender.get("kafka", {}), **({"maxBatchSize": 1000} if cardinality == "MANY" else {}))
        root = self.host_root(contender["name"], contender["language"], "count_" + cardinality.lower(), cardinality,
                              group, args.topic, kafka or None, "binary")
        return [self.swiftfunc, "start", "--script-root", root], env

    def throughput(self, contender, repeat, ends):
        name = contender["name"]
        group = f"bench-{name}-{repeat}-{os.getpid()}"
        result = os.path.join(self.args.work, f"{name}-{repeat}.result")
        if os.path.exists(result):
            os.remove(result)
        command, env = self.command(contender, group, result)
        output = open(os.path.join(self.args.work, f"{name}-{repeat}.log"), "w")
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.args.deadline
        try:
            # The contender writes its result when it has handled every message...
            while not os.path.exists(result) or os.path.getsize(result) == 0:
                if process.poll() is not None:
                    raise RuntimeError(f"exited with status {process.returncode} before handling every message (see {output.name})")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"did not handle {self.args.messages} messages within {self.args.deadline} s (see {output.name})")
                time.sleep(0.05)
            # ...and is done when their offsets are committed.
            while not committed_reached(self.address, group, self.args.topic, ends):
                if process.poll() is not None:
                    raise RuntimeError(f"exited with status {process.returncode} before committing every offset (see {output.name})")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"did not commit every offset within {self.args.deadline} s (see {output.name})")
                time.sleep(0.1)
            rss = peak_rss_mb(process.pid)
        finally:
            problem = stop(process)
        if problem:
            raise RuntimeError(problem)
        first, last, count = (int(field) for field in open(result).read().split())
        return {"msgs_per_s": count / ((last - first) / 1e9), "rss_mb": rss, "count": count}

    def latency(self, name, cardinality, topic, repeat, host_kafka=None):
        """Produce-to-invocation latency of the host at a fixed produce rate."""
        args = self.args
        group = f"bench-{name}-{repeat}-{os.getpid()}"
        result = os.path.join(args.work, f"{name}-{repeat}.latencies")
        ready = os.path.join(args.work, f"{name}-{repeat}.ready")
        for path in (result, ready):
            if os.path.exists(path):
                os.remove(path)
        root = self.host_root(name, "swift", "latency_" + cardinality.lower(), None if cardinality == "ONE" else cardinality,
                              group, topic, host_kafka, None)
        env = dict(os.environ, BrokerList=self.address, BENCH_RESULT=result, BENCH_READY=ready)
        output = open(os.path.join(args.work, f"{name}-{repeat}.log"), "w")
        process = subprocess.Popen([self.swiftfunc, "start", "--script-root", root], env=env, stdout=output, stderr=subprocess.STDOUT)
        # librdkafka's default linger.ms (5 ms) is part of the measured latency: with linger 0
        # the mock cluster, which answers a fetch with one message set per partition, falls behind.
        producer = Producer({"bootstrap.servers": self.address})
        value = b"l" * VALUE_SIZE
        try:
            # Produce at the rate from the start; measure only what is produced from `settle`
            # seconds after the function saw its first message (the backlog of the group join is
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
                    raise RuntimeError(f"the host did not start consuming within {args.deadline} s (see {output.name})")
                if process.poll() is not None:
                    raise RuntimeError(f"exited with status {process.returncode} (see {output.name})")
                target = int((now - started) * args.latency_rate)
                while sent < target:
                    producer.produce(topic, value, partition=sent % args.partitions)
                    sent += 1
                producer.poll(0)
                time.sleep(0.0005)
            producer.flush(30)
            rate = sent / (time.monotonic() - started)
            ends = [high for _, high in end_offsets(self.address, topic, args.partitions)]
            deadline = time.monotonic() + args.deadline
            while not committed_reached(self.address, group, topic, ends):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"did not commit every offset within {args.deadline} s (see {output.name})")
                time.sleep(0.1)
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


def percentile(sorted_values, percent):
    index = min(len(sorted_values) - 1, max(0, int(round(percent / 100 * len(sorted_values))) - 1))
    return sorted_values[index]


CONTENDERS = [
    {"name": "raw", "kind": "raw", "mode": "batch",
     "what": "C, librdkafka batch fetch, offsets stored per batch"},
    {"name": "raw-poll", "kind": "raw", "mode": "poll",
     "what": "C, librdkafka poll + offset store per message"},
    {"name": "host-swift-many", "kind": "host", "language": "swift", "cardinality": "MANY",
     "what": "swiftfunc, no-op Swift function, MANY (batch 1000)"},
    {"name": "host-swift-one", "kind": "host", "language": "swift", "cardinality": "ONE",
     "what": "swiftfunc, no-op Swift function, ONE"},
    {"name": "host-c-many", "kind": "host", "language": "c", "cardinality": "MANY",
     "what": "swiftfunc, no-op C function, MANY (batch 1000)"},
    {"name": "host-c-one", "kind": "host", "language": "c", "cardinality": "ONE",
     "what": "swiftfunc, no-op C function, ONE"},
    {"name": "host-swift-one-q1m", "kind": "host", "language": "swift", "cardinality": "ONE",
     "kafka": {"queuedMinMessages": 1000000}, "diagnostic": True,
     "what": "diagnostic: ONE with host.json queuedMinMessages 1000000"},
    {"name": "python", "kind": "python",
     "what": "Python confluent-kafka, no-op function, store per message"},
]

# (name, cardinality, host.json extensions.kafka): the host's defaults, and a diagnostic run
# with a short fetch.wait.max.ms, since the mock cluster holds a fetch that finds no data for the
# full fetch.wait.max.ms (500 ms) where a real broker answers as soon as data arrives.
LATENCY = [
    ("host-swift-one", "ONE", None),
    ("host-swift-many", "MANY", None),
    ("host-swift-one-fw5", "ONE", {"librdkafka": {"fetch.wait.max.ms": "5"}}),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="the release build's bin directory (swift build -c release --show-bin-path)")
    parser.add_argument("--raw", required=True, help="the compiled bench/raw_consumer.c")
    parser.add_argument("--work", default=".build/bench", help="scratch directory for script roots, logs and results")
    parser.add_argument("--partitions", type=int, default=40)
    parser.add_argument("--per-partition", type=int, default=25000,
                        help="messages per partition (the mock cluster keeps ~45k of 100 bytes; stay well under)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--deadline", type=float, default=120, help="seconds a single run may take")
    parser.add_argument("--latency-rate", type=int, default=10000, help="messages per second produced for the latency runs")
    parser.add_argument("--latency-seconds", type=float, default=10)
    parser.add_argument("--latency-settle", type=float, default=2)
    parser.add_argument("--latency-repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated contender names (default: all)")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-microbench", action="store_true")
    args = parser.parse_args()
    args.work = os.path.abspath(args.work)
    args.bin = os.path.abspath(args.bin)
    args.raw = os.path.abspath(args.raw)
    args.topic = "bench-throughput"
    args.messages = args.partitions * args.per_partition
    os.makedirs(args.work, exist_ok=True)
    contenders = [c for c in CONTENDERS if not args.only or c["name"] in args.only.split(",")]
    began = time.monotonic()

    log("swiftfunc benchmark")
    for line in machine():
        log("  " + line)
    latency_topics = [f"bench-latency-{name}-{r}" for name, _, _ in LATENCY for r in range(args.latency_repeats)]
    broker, address = start_broker(os.path.join(args.bin, "swiftfunc"), args.partitions, [args.topic] + latency_topics, args.work)
    try:
        log(f"  embedded broker (librdkafka mock cluster) at {address}: keeps only ~5 MB per partition")
        log(f"Producing {args.messages:,} messages of {VALUE_SIZE} bytes to {args.topic} "
            f"({args.partitions} partitions x {args.per_partition:,})...")
        produce(address, args.topic, args.partitions, args.per_partition)
        watermarks = end_offsets(address, args.topic, args.partitions)
        if any(low != 0 or high != args.per_partition for low, high in watermarks):
            sys.exit(f"bench: the broker does not hold every message (watermarks {watermarks[:4]}...): "
                     "the mock cluster dropped some; use more partitions or fewer messages per partition")
        ends = [high for _, high in watermarks]

        bench = Bench(args, address)
        results = {c["name"]: [] for c in contenders}
        for repeat in range(1, args.repeats + 1):
            log(f"Throughput, round {repeat} of {args.repeats}:")
            for contender in contenders:
                try:
                    outcome = bench.throughput(contender, repeat, ends)
                except RuntimeError as error:
                    sys.exit(f"bench: {contender['name']}: {error}")
                results[contender["name"]].append(outcome)
                log(f"  {contender['name']:<18} {outcome['msgs_per_s']:>12,.0f} msg/s  peak RSS {outcome['rss_mb']:6.1f} MB")

        latencies = {}
        if not args.skip_latency:
            log(f"Latency at {args.latency_rate:,} msg/s, {args.latency_seconds:g} s measured per run:")
            for repeat in range(args.latency_repeats):
                for name, cardinality, kafka in LATENCY:
                    topic = f"bench-latency-{name}-{repeat}"
                    try:
                        outcome = bench.latency(name, cardinality, topic, repeat, kafka)
                    except RuntimeError as error:
                        sys.exit(f"bench: latency {name}: {error}")
                    latencies.setdefault(name, []).append(outcome)
                    log(f"  {name:<18} p50 {outcome['p50_ms']:6.2f} ms  p99 {outcome['p99_ms']:6.2f} ms  "
                        f"max {outcome['max_ms']:7.2f} ms  ({outcome['samples']:,} messages, produced at {outcome['rate']:,.0f} msg/s)")
    finally:
        stop(broker)

    micro = {}
    if not args.skip_microbench:
        log("Micro-benchmark of one invocation (swiftfunc-microbench):")
        run = subprocess.run([os.path.join(args.bin, "swiftfunc-microbench"), args.bin], capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit("bench: swiftfunc-microbench failed:\n" + run.stdout + run.stderr)
        for line in run.stdout.splitlines():
            if line.startswith("microbench "):
                name, value = line[len("microbench "):].split(": ns_per_msg=")
                micro[name] = float(value)
                log(f"  {name:<24} {float(value):7.1f} ns per message")

    report(args, contenders, results, latencies, micro, time.monotonic() - began)


def report(args, contenders, results, latencies, micro, elapsed):
    medians = {name: {"msgs_per_s": statistics.median(r["msgs_per_s"] for r in runs),
                      "rss_mb": statistics.median(r["rss_mb"] for r in runs)}
               for name, runs in results.items() if runs}
    raw = medians.get("raw", {}).get("msgs_per_s")
    log()
    log(f"Results: {args.messages:,} messages of {VALUE_SIZE} bytes, {args.partitions} partitions, "
        f"median of {args.repeats} runs (took {elapsed:.0f} s)")
    width = max(len(c["what"]) for c in contenders)
    log(f"| {'contender':<18} | {'what':<{width}} | {'msgs/s':>10} | {'x raw':>6} | {'peak RSS':>9} | runs (msgs/s) |")
    log(f"|{'-' * 20}|{'-' * (width + 2)}|{'-' * 12}|{'-' * 8}|{'-' * 11}|---------------|")
    for contender in contenders:
        name = contender["name"]
        if name not in medians:
            continue
        median = medians[name]
        ratio = f"{median['msgs_per_s'] / raw:.2f}" if raw else "-"
        runs = ", ".join(f"{r['msgs_per_s'] / 1e3:,.0f}k" for r in results[name])
        log(f"| {name:<18} | {contender['what']:<{width}} | {median['msgs_per_s']:>10,.0f} | {ratio:>6} | "
            f"{median['rss_mb']:>6.1f} MB | {runs} |")
    if latencies:
        log()
        log(f"Produce-to-invocation latency at {args.latency_rate:,} msg/s (host defaults; -fw5: fetch.wait.max.ms 5; "
            f"producer linger.ms 5; CreateTime has ms resolution, so each sample is overstated by 0-1 ms), "
            f"median of {args.latency_repeats} runs:")
        for name, runs in latencies.items():
            log(f"  {name:<18} p50 {statistics.median(r['p50_ms'] for r in runs):.2f} ms, "
                f"p99 {statistics.median(r['p99_ms'] for r in runs):.2f} ms "
                "(p99 per run: " + ", ".join(f"{r['p99_ms']:.2f}" for r in runs) + ")")

    log()
    for contender in contenders:
        name = contender["name"]
        if name in medians:
            ratio = medians[name]["msgs_per_s"] / raw if raw else float("nan")
            log(f"bench {name}: msgs_per_s={medians[name]['msgs_per_s']:.0f} ratio_to_raw={ratio:.3f} "
                f"rss_mb={medians[name]['rss_mb']:.1f}")
    for name, runs in latencies.items():
        log(f"latency {name}: p50_ms={statistics.median(r['p50_ms'] for r in runs):.2f} "
            f"p99_ms={statistics.median(r['p99_ms'] for r in runs):.2f}")
    for name, value in micro.items():
        log(f"microbench {name}: ns_per_msg={value:.1f}")

    log()
    log("Targets (issue 5):")
    def target(text, met, detail):
        log(f"  [{'met' if met else 'MISSED'}] {text}: {detail}")
    def throughput(name):
        return medians.get(name, {}).get("msgs_per_s")
    python = throughput("python")
    for name, floor in [("host-swift-many", 0.9), ("host-c-many", 0.9), ("host-swift-one", 0.6), ("host-c-one", 0.6)]:
        if throughput(name) and raw:
            ratio = throughput(name) / raw
            target(f"{name} >= {floor} x raw", ratio >= floor, f"{ratio:.2f} x")
    for name in ("host-swift-many", "host-swift-one", "host-c-many", "host-c-one"):
        if throughput(name) and python:
            ratio = throughput(name) / python
            target(f"{name} >= 5 x python", ratio >= 5, f"{ratio:.1f} x")
    for name in ("invocation-one-swift", "invocation-many-swift", "invocation-one-c", "invocation-many-c"):
        if name in micro:
            target(f"{name} <= 100 ns per message", micro[name] <= 100, f"{micro[name]:.0f} ns")
    for name, runs in latencies.items():
        if name.endswith("-fw5"):
            continue
        p99 = statistics.median(r["p99_ms"] for r in runs)
        target(f"latency {name} p99 < 20 ms at {args.latency_rate:,} msg/s", p99 < 20, f"{p99:.2f} ms")
    for name in ("host-swift-many", "host-swift-one", "host-c-many", "host-c-one"):
        if name in medians:
            rss = medians[name]["rss_mb"]
            target(f"{name} peak RSS < 150 MB over {args.messages:,} messages", rss < 150, f"{rss:.0f} MB")


if __name__ == "__main__":
    main()
