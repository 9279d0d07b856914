#!/usr/bin/python3
"""The fault suite: real swiftfunc processes, a real (embedded) broker over TCP, real signals.

Each scenario produces a known set of unique messages with an independent client (Python
confluent-kafka), runs `swiftfunc start` with the Recorder fixture's durable entry points (each
processed message is appended to a file and fsynced before the function returns), injects a
fault, waits until every message is processed or dead-lettered, and reports:

  fault-scenario NAME: produced=N processed=N deadlettered=N lost=N duplicates=N

lost must be 0 everywhere; duplicates are allowed only where a crash or a kill interrupted an
invocation. Exits 1 when a scenario fails either rule.

Usage: faults/run.py BIN_DIR   (the folder holding swiftfunc and libRecorder.so)
"""
import json
import os
import shutil
import signal
import subprocess
import socket
import sys
import tempfile
import time
import threading
import urllib.error
import urllib.request
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/debug")
SWIFTFUNC = os.path.join(BIN, "swiftfunc")
RECORDER = os.path.join(BIN, "libRecorder.so")
WORK = tempfile.mkdtemp(prefix="swiftfunc-faults-")
RECORDS = os.path.join(WORK, "records")
os.makedirs(RECORDS)
PARTITIONS = 4
REFUSED_COMMIT = "Committing revoked partitions of"
# The librdkafka the host (and `swiftfunc broker`, whose mock cluster the scenarios run on) loads.
LIBRDKAFKA = subprocess.run([SWIFTFUNC, "--version"], capture_output=True, text=True).stdout.strip().rsplit(" ", 1)[-1]
# KIP-848's consumer group protocol: production-ready in librdkafka 2.12.0, whose mock cluster has it.
CONSUMER_PROTOCOL = tuple(int(part) for part in LIBRDKAFKA.split(".")[:2]) >= (2, 12)
CONSUMER = {"groupProtocol": "consumer"}


class Skipped(Exception):
    """A scenario the running librdkafka cannot run (said with the reason, not counted as failed)."""



def free_port():
    """A port nothing listens on now: each host's HTTP endpoint gets its own, so hosts running
    side by side (second-host) never collide, and a restarted worker binds its port again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(what, condition, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    if not condition():
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


class Broker:
    """`swiftfunc broker --control-stdin`: its first stdout line is its address."""

    def __init__(self, topics, partitions=PARTITIONS):
        arguments = [SWIFTFUNC, "broker", "--control-stdin", "--partitions", str(partitions)]
        for topic in topics:
            arguments += ["--topic", topic]
        self.process = subprocess.Popen(arguments, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        self.address = self.process.stdout.readline().strip()

    def command(self, line):
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().strip()
        if answer != f"ok {line}":
            raise RuntimeError(f"broker did not accept '{line}': {answer}")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


class Host:
    """`swiftfunc start` (supervised) in its own script root; its log goes to a file."""

    def __init__(self, name, root, arguments=()):
        self.root = root
        self.log_path = os.path.join(WORK, f"{name}.log")
        self.log = open(self.log_path, "w")
        environment = dict(os.environ, SWIFTFUNC_RECORD_DIR=RECORDS)
        self.port = free_port()
        self.process = subprocess.Popen([SWIFTFUNC, "start", "--script-root", root, "--port", str(self.port), *arguments], stdout=self.log,
                                        stderr=subprocess.STDOUT, env=environment)

    def get(self, path):
        """GET `path` on the host's HTTP endpoint: (status, body), or (None, "") when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except (urllib.error.URLError, OSError):
            return None, ""

    def assigned(self, function):
        """The partitions `function` owns on this host, as GET /admin/functions says."""
        status, body = self.get("/admin/functions")
        if status != 200:
            return set()
        for entry in json.loads(body):
            if entry.get("name") == function:
                return set(entry.get("assignedPartitions") or [])
        return set()

    def lag(self):
        """The sum of swiftfunc_consumer_lag on this host's /metrics; None when it does not answer."""
        status, body = self.get("/metrics")
        if status != 200:
            return None
        return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith("swiftfunc_consumer_lag{"))

    def text(self):
        with open(self.log_path) as log:
            return log.read()

    def wait_assigned(self, count=1):
        wait_until("the host's consumer to be assigned partitions",
                   lambda: self.text().count("was assigned partitions") >= count, timeout=60)

    def worker_pid(self):
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout.split()
        return int(children[0]) if children else None

    def kill_all(self):
        """SIGKILL the worker and the supervisor at once: nothing gets to clean up."""
        worker = self.worker_pid()
        self.process.kill()
        if worker:
            os.kill(worker, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()

    def stop(self, sig=signal.SIGTERM):
        self.process.send_signal(sig)
        status = self.process.wait(timeout=90)
        self.log.close()
        return status


def make_app(broker, topic, function, entry, cardinality="ONE", host_json=None, trigger=None, outputs=()):
    root = os.path.join(WORK, f"app-{uuid.uuid4().hex[:8]}")
    os.makedirs(os.path.join(root, "functions", function))
    with open(os.path.join(root, "host.json"), "w") as file:
        json.dump(host_json or {"version": "2.0"}, file)
    write_function(root, broker, topic, function, function, entry, cardinality, trigger, outputs)
    return root


def write_function(root, broker, topic, function, group, entry="process_durably", cardinality="ONE", trigger=None, outputs=()):
    """(Re)writes functions/FUNCTION/function.json: the trigger's topic and consumer group, and
    a `kafka` output binding for each of `outputs`."""
    with open(os.path.join(root, "functions", function, "function.json"), "w") as file:
        json.dump({"scriptFile": RECORDER, "entryPoint": entry, "deadLetterTopic": f"{topic}.dlq",
                   "bindings": [{"type": "kafkaTrigger", "direction": "in", "brokerList": broker.address,
                                 "topic": topic, "consumerGroup": group, "cardinality": cardinality,
                                 "dataType": "string", **(trigger or {})}]
                   + [{"type": "kafka", "direction": "out", "name": f"out{index}", "brokerList": broker.address, "topic": output}
                      for index, output in enumerate(outputs)]}, file)


def produce(broker, topic, values):
    producer = Producer({"bootstrap.servers": broker.address, "linger.ms": 5})
    for index, value in enumerate(values):
        producer.produce(topic, value=value.encode(), key=f"k{index % 16}".encode())
        producer.poll(0)
    if producer.flush(60) != 0:
        raise RuntimeError("the independent producer could not deliver everything")


def processed_lines(function):
    """(partition, offset, value) of every processed line, in the order they were written."""
    path = os.path.join(RECORDS, f"{function}.processed")
    if not os.path.exists(path):
        return []
    with open(path) as file:
        return [tuple(line.split(" ", 2)) for line in file.read().splitlines() if line.count(" ") >= 2]


def processed(function):
    path = os.path.join(RECORDS, f"{function}.processed")
    if not os.path.exists(path):
        return []
    with open(path) as file:
        return [line.split(" ", 2)[2] for line in file.read().splitlines() if line.count(" ") >= 2]


def dead_letters(broker, topic, partitions=PARTITIONS, isolation="read_uncommitted"):
    """Every value of `topic` (a dead-letter or output topic), read from the beginning."""
    consumer = Consumer({"bootstrap.servers": broker.address, "group.id": f"reader-{uuid.uuid4()}",
                         "enable.auto.commit": False, "isolation.level": isolation})
    consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in range(partitions)])
    values = []
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 2:
        message = consumer.poll(0.2)
        if message is None or message.error():
            continue
        values.append(message.value().decode())
        idle_since = time.monotonic()
    consumer.close()
    return values


class Scenario:
    """`max_duplicates`: how many messages can have been in flight at the faults (None: the
    scenario does not bound them, as with ordering key, where messages settled out of order past an
    unsettled one are delivered again after a kill)."""

    def __init__(self, name, crash_or_kill, max_duplicates=0, extra_topics=(), partitions=PARTITIONS, strict=False):
        self.name = name
        # strict: the consumer protocol, under which the mock cluster accepts the commit on
        # revocation, so no refused commit excuses a duplicate.
        self.strict = strict
        self.partitions = partitions
        self.crash_or_kill = crash_or_kill
        self.max_duplicates = max_duplicates
        self.topic = f"faults-{name}-{uuid.uuid4().hex[:6]}"
        self.function = f"Fault{name.title().replace('-', '')}{uuid.uuid4().hex[:6]}"
        self.broker = Broker([self.topic, f"{self.topic}.dlq"] + [f"{self.topic}-{extra}" for extra in extra_topics]
                             + [f"{self.topic}-{extra}.dlq" for extra in extra_topics], partitions)
        self.hosts = []
        self.values = []
        # A pipeline's ledger is its output topic (read with this isolation level) instead of
        # the .processed file.
        self.output_topic = None
        self.output_isolation = "read_uncommitted"

    def processed(self):
        if self.output_topic:
            return dead_letters(self.broker, self.output_topic, self.partitions, self.output_isolation)
        return processed(self.function)

    def host(self, entry="process_durably", cardinality="ONE", host_json=None, trigger=None, root=None, arguments=()):
        """Starts a host in a new app, or again in `root` (same state folder: journals, crash counts)."""
        outputs = [self.output_topic] if self.output_topic else []
        root = root or make_app(self.broker, self.topic, self.function, entry, cardinality, host_json, trigger, outputs)
        host = Host(f"{self.name}-{len(self.hosts)}", root, arguments)
        self.hosts.append(host)
        return host

    def produce(self, values, topic=None):
        self.values += values
        produce(self.broker, topic or self.topic, values)

    def wait_all_accounted(self, expected_dead_letters, timeout=180, report_loss=False):
        """`report_loss`: past the timeout the scenario goes on to report what is missing as lost
        (for faults that lose messages silently, with their offsets committed), instead of failing
        with a timeout."""
        def accounted():
            done = set(self.processed())
            missing = set(self.values) - done
            return len(missing) <= expected_dead_letters
        try:
            wait_until(f"{self.name}: every message processed or bound for the dead-letter topic", accounted, timeout=timeout)
        except TimeoutError:
            if not report_loss:
                raise
        if expected_dead_letters:
            wait_until(f"{self.name}: the dead letters", lambda: len(dead_letters(self.broker, f"{self.topic}.dlq", self.partitions)) >= expected_dead_letters, timeout=120)

    def report(self):
        lines = self.processed()
        done = set(lines)
        dead = dead_letters(self.broker, f"{self.topic}.dlq", self.partitions)
        produced = set(self.values)
        lost = produced - done - set(dead)
        # librdkafka 2.0.2's mock cluster refuses offset commits while a group rebalances (a
        # Kafka broker accepts them while the group prepares its rebalance), so the host's
        # commit on revocation fails there and the new owner gets again what was settled since
        # the last auto-commit. The host logs each refused commit; only then are duplicates
        # without a crash or kill accepted.
        refused = any(REFUSED_COMMIT in line and "Group rebalance in progress" in line
                      for host in self.hosts for line in host.text().splitlines())
        result = {"name": self.name, "produced": len(produced), "processed": len(done & produced),
                  "deadlettered": len(set(dead)), "lost": len(lost), "duplicates": len(lines) - len(done),
                  "crash_or_kill": self.crash_or_kill, "refused_commit": refused and not self.strict,
                  "max_duplicates": self.max_duplicates}
        if lost:
            result["lost_examples"] = sorted(lost)[:5]
        return result

    def close(self):
        for host in self.hosts:
            if host.process.poll() is None:
                host.stop(signal.SIGKILL)
        self.broker.stop()


def values(prefix, count):
    return [f"{prefix}:{index}" for index in range(count)]


def scenario_throws():
    scenario = Scenario("throws", crash_or_kill=False)
    try:
        scenario.host(host_json={"version": "2.0", "retry": {"strategy": "fixedDelay", "maxRetryCount": 2, "delayInterval": "00:00:00.1"}}).wait_assigned()
        batch = values("ok", 2000) + values("fail", 10) + values("fail-once", 10)
        scenario.produce(batch)
        scenario.wait_all_accounted(expected_dead_letters=10)
        scenario.hosts[0].stop()
        return scenario.report()
    finally:
        scenario.close()


def scenario_trap():
    scenario = Scenario("trap", crash_or_kill=True)
    try:
        scenario.host().wait_assigned()
        scenario.produce(values("ok", 500) + ["crash:1"] + values("after", 500))
        scenario.wait_all_accounted(expected_dead_letters=1)
        scenario.hosts[0].stop()
        return scenario.report()
    finally:
        scenario.close()


def scenario_sigkill(name="sigkill", count=400, under_way=50, max_duplicates=1, **host_options):
    scenario = Scenario(name, crash_or_kill=True, max_duplicates=max_duplicates)
    try:
        host = scenario.host(**host_options)
        host.wait_assigned()
        scenario.produce(values("slow", count))  # 20 ms each: about 8 s of work one at a time
        wait_until("the stream to be under way", lambda: len(processed(scenario.function)) >= under_way)
        os.kill(host.worker_pid(), signal.SIGKILL)
        scenario.wait_all_accounted(expected_dead_letters=0)
        host.stop()
        return scenario.report()
    finally:
        scenario.close()


def process_ended(pid):
    """True once `pid` has exited: gone from /proc, or a zombie nobody has reaped yet (an orphan
    is reaped by init or the nearest subreaper, whenever that gets to it)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def scenario_sigkill_supervisor():
    """SIGKILL the supervisor alone mid-stream: its worker must end within a second (it watches
    its supervisor's lifeline pipe), so a host started again in the same folder is the only
    member of the group, owning every partition. The broker is a process of its own (an embedded
    one would die with the supervisor). Duplicates only from the invocation the worker abandoned."""
    scenario = Scenario("sigkill-supervisor", crash_or_kill=True, max_duplicates=1)
    try:
        first = scenario.host()
        first.wait_assigned()
        scenario.produce(values("slow", 400))
        wait_until("the stream to be under way", lambda: len(processed(scenario.function)) >= 50)
        worker = first.worker_pid()
        if worker is None:
            raise RuntimeError("the supervisor has no worker to orphan")
        os.kill(first.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        # Polled every 5 ms (not wait_until's 100 ms) so the time it took is measured, not rounded.
        while not process_ended(worker) and time.monotonic() - killed_at < 1:
            time.sleep(0.005)
        worker_ended_after = time.monotonic() - killed_at
        if not process_ended(worker):
            os.kill(worker, signal.SIGKILL)
            raise RuntimeError(f"the worker (pid {worker}) outlived its supervisor by more than 1 s")
        first.process.wait(timeout=30)
        first.log.close()
        reasons = [line for line in first.text().splitlines() if "The supervisor (pid" in line and "is gone" in line]
        if len(reasons) != 1:
            raise RuntimeError(f"the worker logged {len(reasons)} lines saying why it stopped, not 1")
        processed_when_killed = len(processed(scenario.function))
        second = scenario.host(root=first.root)
        wait_until("the new host to be the group's only member, owning every partition",
                   lambda: second.assigned(scenario.function) == set(range(PARTITIONS)), timeout=120)
        scenario.wait_all_accounted(expected_dead_letters=0)
        if second.assigned(scenario.function) != set(range(PARTITIONS)):
            raise RuntimeError("another member of the group took partitions from the new host")
        second.stop()
        result = scenario.report()
        result["worker_ended_after"] = worker_ended_after
        result["processed_when_killed"] = processed_when_killed
        return result
    finally:
        scenario.close()


def kill_pipeline(name, max_duplicates, trigger=None, isolation="read_uncommitted"):
    """SIGKILL mid-stream of a function that sends each value on through an output binding; the
    output topic (read with `isolation`) is the ledger: every input's output must be there."""
    scenario = Scenario(name, crash_or_kill=True, max_duplicates=max_duplicates, extra_topics=("out",))
    scenario.output_topic = f"{scenario.topic}-out"
    scenario.output_isolation = isolation
    try:
        host = scenario.host(entry="forward_value", trigger=trigger)
        host.wait_assigned()
        scenario.produce(values("slow", 400))
        wait_until("the stream to be under way", lambda: len(scenario.processed()) >= 50)
        os.kill(host.worker_pid(), signal.SIGKILL)
        scenario.wait_all_accounted(expected_dead_letters=0)
        host.stop()
        return scenario.report()
    finally:
        scenario.close()


def scenario_sigkill_pipeline():
    """Duplicates only from invocations the kill cut short (the one being called and the ones
    whose records were sent but not yet acknowledged and settled)."""
    return kill_pipeline("sigkill-pipeline", max_duplicates=4)


def scenario_sigkill_exactly_once():
    """processingGuarantee exactlyOnce, the output read with isolation.level=read_committed. On
    Kafka each input's output is there exactly once. librdkafka's mock cluster neither aborts the
    killed worker's open transaction nor hides it from read_committed readers, so there the records
    of the transaction the kill cut short (at most a commit interval's worth: about 10 messages of
    20 ms in 200 ms) can show up twice."""
    return kill_pipeline("sigkill-exactly-once", max_duplicates=20, trigger={"processingGuarantee": "exactlyOnce"},
                         isolation="read_committed")


def scenario_broker_down():
    scenario = Scenario("broker-down", crash_or_kill=False)
    try:
        host = scenario.host()
        host.wait_assigned()
        scenario.produce(values("slow", 400))
        wait_until("the stream to be under way", lambda: len(processed(scenario.function)) >= 50)
        scenario.broker.command("down")
        time.sleep(10)  # the fault itself: the broker stays down for 10 s
        scenario.broker.command("up")
        scenario.wait_all_accounted(expected_dead_letters=0)
        host.stop()
        return scenario.report()
    finally:
        scenario.close()


def scenario_rebalance():
    scenario = Scenario("second-host", crash_or_kill=False)
    try:
        first = scenario.host()
        first.wait_assigned()
        scenario.produce(values("slow", 600))
        wait_until("the stream to be under way", lambda: len(processed(scenario.function)) >= 50)
        second = scenario.host()
        second.wait_assigned()
        wait_until("the second host to process", lambda: "Executed" in second.text() or len(processed(scenario.function)) >= 400, timeout=60)
        if second.stop() != 0:
            raise RuntimeError("the second host did not stop cleanly")
        scenario.wait_all_accounted(expected_dead_letters=0)
        first.stop()
        return scenario.report()
    finally:
        scenario.close()


def scenario_sigterm(name, count, under_way, **host_options):
    """SIGTERM once `under_way` messages are processed, then a new host finishes the stream."""
    scenario = Scenario(name, crash_or_kill=False)
    try:
        host = scenario.host(**host_options)
        host.wait_assigned()
        scenario.produce(values("slow", count))
        wait_until("the stream to be under way", lambda: len(processed(scenario.function)) >= under_way)
        status = host.stop(signal.SIGTERM)
        if status != 0:
            raise RuntimeError(f"the host exited with {status} after SIGTERM")
        if "Stopped." not in host.text():
            raise RuntimeError("the host did not report a clean stop")
        scenario.host(**host_options).wait_assigned()
        scenario.wait_all_accounted(expected_dead_letters=0)
        scenario.hosts[-1].stop()
        return scenario.report()
    finally:
        scenario.close()


def scenario_sigterm_mid_batch():
    # A batch of 50 takes about 1 s: the SIGTERM lands in the middle of one.
    return scenario_sigterm("sigterm-mid-batch", 400, 50, entry="process_batch_durably", cardinality="MANY",
                            host_json={"version": "2.0", "extensions": {"kafka": {"maxBatchSize": 50}}})


# Ordering key: eight lanes, the values' sixteen keys spread over them (20 ms each: about 3 s).
KEYED = {"ordering": "key", "maxConcurrency": 8}


def scenario_sigkill_keyed():
    return scenario_sigkill("sigkill-key", 1200, 100, max_duplicates=None, trigger=KEYED)


def scenario_retarget(name, stop):
    """A function runs on topic A; the host stops (`stop`); the function is pointed at topic B with
    another consumer group and started again in the same app (same journals). Every message of B
    must be processed: nothing the host knew about A may move B's offsets."""
    scenario = Scenario(name, crash_or_kill=stop != "sigterm", max_duplicates=1 if stop != "sigterm" else 0, extra_topics=["b"])
    try:
        first = scenario.host()
        first.wait_assigned()
        scenario.produce(values("a", 300))
        wait_until("the stream of A to be under way", lambda: len(processed(scenario.function)) >= 150)
        if stop == "sigterm":
            if first.stop(signal.SIGTERM) != 0:
                raise RuntimeError("the host did not stop cleanly")
        else:
            first.kill_all()
        a_done = set(processed(scenario.function))
        scenario.values = [value for value in scenario.values if value in a_done]  # A is not consumed any more
        topic_b = f"{scenario.topic}-b"
        write_function(first.root, scenario.broker, topic_b, scenario.function, f"{scenario.function}-b")
        scenario.produce(values("b", 3000), topic=topic_b)
        scenario.host(root=first.root).wait_assigned()
        scenario.wait_all_accounted(expected_dead_letters=0, timeout=60, report_loss=True)
        scenario.hosts[-1].stop()
        return scenario.report()
    finally:
        scenario.close()


def scenario_retarget_after_stop():
    return scenario_retarget("retarget-after-stop", "sigterm")


def scenario_retarget_after_kill():
    return scenario_retarget("retarget-after-kill", "sigkill")


def reset_group_offsets(broker, topic, group, offset=0):
    """What an operator does to replay a topic: commit `offset` for every partition, without
    metadata. librdkafka's mock cluster refuses a commit from outside the group while the killed
    member is still in it, so this client joins the group (the killed member is dropped from it
    after its session timeout) and commits as its member."""
    consumer = Consumer({"bootstrap.servers": broker.address, "group.id": group, "enable.auto.commit": False,
                         "session.timeout.ms": 10000, "heartbeat.interval.ms": 3000, "max.poll.interval.ms": 10000})
    consumer.subscribe([topic])
    wait_until("the resetting client to join the group", lambda: (consumer.poll(0.2), len(consumer.assignment()) == PARTITIONS)[1], timeout=120)
    consumer.commit(offsets=[TopicPartition(topic, partition, offset) for partition in range(PARTITIONS)], asynchronous=False)
    consumer.close()


def kill_mid_stream(scenario):
    """Starts a host, streams 400 slow messages and SIGKILLs supervisor and worker once 100 are
    processed; returns the dead host (its app folder is started again by the caller)."""
    host = scenario.host()
    host.wait_assigned()
    scenario.produce(values("slow", 400))
    wait_until("the stream to be under way", lambda: len(processed(scenario.function)) >= 100)
    host.kill_all()
    return host


def scenario_offsets_reset_after_kill():
    """SIGKILL, then an operator moves the group's offsets back to the start: everything is
    delivered again after the restart (the host's journal must not move them forward again)."""
    scenario = Scenario("offsets-reset-after-kill", crash_or_kill=True, max_duplicates=None)
    try:
        first = kill_mid_stream(scenario)
        before_restart = len(processed(scenario.function))
        reset_group_offsets(scenario.broker, scenario.topic, scenario.function)
        scenario.host(root=first.root).wait_assigned()
        scenario.wait_all_accounted(expected_dead_letters=0)
        # Everything was reset: every message must be delivered again after the restart.
        try:
            wait_until("every message to be delivered again after the reset",
                       lambda: set(scenario.values) <= set(processed(scenario.function)[before_restart:]), timeout=60)
        except TimeoutError:
            pass  # reported below as lost
        scenario.hosts[-1].stop()
        result = scenario.report()
        again = set(processed(scenario.function)[before_restart:])
        result["lost"] = len(set(scenario.values) - again)
        result["duplicates"] = len(processed(scenario.function)[before_restart:]) - len(again)
        result["max_duplicates"] = 0
        return result
    finally:
        scenario.close()


def scenario_double_kill():
    """SIGKILL mid-stream, restart, SIGKILL again before the new worker is assigned, restart."""
    scenario = Scenario("double-kill", crash_or_kill=True, max_duplicates=2)
    try:
        first = kill_mid_stream(scenario)
        second = scenario.host(root=first.root)
        wait_until("the restarted worker", lambda: second.worker_pid() is not None, timeout=30)
        time.sleep(0.3)  # the fault itself: killed while it joins the group, before its assignment
        if "was assigned partitions" in second.text():
            raise RuntimeError("the second host was assigned before the kill; the scenario did not test what it should")
        second.kill_all()
        scenario.host(root=first.root).wait_assigned()
        scenario.wait_all_accounted(expected_dead_letters=0)
        scenario.hosts[-1].stop()
        return scenario.report()
    finally:
        scenario.close()


class SteadyStream:
    """Produces `rate` messages a second to `topic` on a thread of its own until stopped."""

    def __init__(self, scenario, prefix, rate):
        self.scenario, self.prefix, self.rate = scenario, prefix, rate
        self.stopped = threading.Event()
        self.sent = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        producer = Producer({"bootstrap.servers": self.scenario.broker.address, "linger.ms": 5})
        index = 0
        while not self.stopped.is_set():
            value = f"{self.prefix}:{index}"
            producer.produce(self.scenario.topic, value=value.encode(), key=f"k{index % 48}".encode())
            self.sent.append(value)
            producer.poll(0)
            index += 1
            time.sleep(1 / self.rate)
        if producer.flush(60) != 0:
            raise RuntimeError("the steady stream could not deliver everything")

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=90)
        self.scenario.values += self.sent


def committed_offsets(broker, topic, group, partitions):
    consumer = Consumer({"bootstrap.servers": broker.address, "group.id": group, "enable.auto.commit": False})
    offsets = {entry.partition: entry.offset for entry in
               consumer.committed([TopicPartition(topic, partition) for partition in range(partitions)], timeout=10)}
    consumer.close()
    return offsets


def scenario_scale_out(name="scale-out", trigger=None):
    """Three hosts of one app (one consumer group, 12 partitions) share a steady stream; each one's
    swiftfunc_consumer_lag falls to 0; one is SIGTERMed, later another is SIGKILLed and a new one
    started. Duplicates are bounded by what the killed host had processed past the group's
    committed offsets when it died (in flight, or settled and not committed yet: a new pod has
    none of its state). Under the classic protocol the mock's refused commits mid-rebalance add
    their own (the documented allowance); under the consumer protocol (`trigger` CONSUMER) only
    the kill's count."""
    partitions = 12
    consumer = trigger == CONSUMER
    if consumer and not CONSUMER_PROTOCOL:
        raise Skipped(f"the consumer group protocol needs librdkafka 2.12.0 or later; this host runs {LIBRDKAFKA}")
    scenario = Scenario(name, crash_or_kill=True, partitions=partitions, strict=consumer)
    stream = None
    try:
        hosts = [scenario.host(trigger=trigger) for _ in range(3)]
        owned = lambda: [host.assigned(scenario.function) for host in hosts]
        wait_until("the 12 partitions to be spread over the three hosts",
                   lambda: all(owned()) and set().union(*owned()) == set(range(partitions)) and sum(map(len, owned())) == partitions,
                   timeout=120)
        spread = [sorted(part) for part in owned()]
        stream = SteadyStream(scenario, "steady", rate=100)
        wait_until("every host's consumer lag to fall to 0 while the stream flows",
                   lambda: all(host.lag() == 0 for host in hosts), timeout=120)
        # A host leaves cleanly: the other two take its partitions.
        if hosts[0].stop(signal.SIGTERM) != 0:
            raise RuntimeError("the host did not stop cleanly after SIGTERM")
        wait_until("the two remaining hosts to own every partition",
                   lambda: set().union(*(h.assigned(scenario.function) for h in hosts[1:])) == set(range(partitions)), timeout=120)
        time.sleep(2)  # the stream flows on with two hosts
        # Another dies: its in-flight and settled-but-uncommitted messages are delivered again by the others.
        killed = hosts[1].assigned(scenario.function)
        hosts[1].kill_all()
        committed = committed_offsets(scenario.broker, scenario.topic, scenario.function, partitions)
        in_flight = [line for line in processed_lines(scenario.function)
                     if int(line[0]) in killed and int(line[1]) >= committed.get(int(line[0]), 0)]
        scenario.max_duplicates = len(in_flight)
        replacement = scenario.host(trigger=trigger)
        survivors = [hosts[2], replacement]
        wait_until("the surviving host and the new one to own every partition",
                   lambda: set().union(*(h.assigned(scenario.function) for h in survivors)) == set(range(partitions)), timeout=120)
        stream.stop()
        stream = None
        scenario.wait_all_accounted(expected_dead_letters=0)
        wait_until("the lag of the hosts still running to fall to 0", lambda: all(h.lag() == 0 for h in survivors), timeout=60)
        for host in survivors:
            host.stop()
        result = scenario.report()
        result["spread"] = spread
        return result
    finally:
        if stream:
            stream.stop()
        scenario.close()


def replace_file(source, destination):
    """What `swiftfunc build` does: a new file takes the old one's name (the running worker keeps
    the old one mapped)."""
    temporary = destination + ".new"
    shutil.copyfile(source, temporary)
    os.replace(temporary, destination)


def scenario_reload_under_load(name="reload-under-load", trigger=None):
    """`swiftfunc start --watch` while a steady stream flows: the function's library is replaced
    (a new worker takes over gracefully), then its function.json is broken (refused: the running
    worker goes on) and mended (the worker reloads that function alone). Nothing lost, nothing twice
    (under the consumer protocol, `trigger` CONSUMER, without the classic protocol's allowance for
    refused commits)."""
    consumer = trigger == CONSUMER
    if consumer and not CONSUMER_PROTOCOL:
        raise Skipped(f"the consumer group protocol needs librdkafka 2.12.0 or later; this host runs {LIBRDKAFKA}")
    scenario = Scenario(name, crash_or_kill=False, strict=consumer)
    stream = None
    try:
        root = make_app(scenario.broker, scenario.topic, scenario.function, "process_durably", trigger=trigger)
        folder = os.path.join(root, "functions", scenario.function)
        library = os.path.join(folder, "libRecorder.so")
        shutil.copyfile(RECORDER, library)
        function_json = os.path.join(folder, "function.json")
        with open(function_json) as file:
            definition = json.load(file)
        definition["scriptFile"] = "libRecorder.so"
        good = json.dumps(definition)
        with open(function_json, "w") as file:
            file.write(good)
        host = scenario.host(root=root, arguments=["--watch"])
        host.wait_assigned()
        stream = SteadyStream(scenario, "steady", rate=100)
        wait_until("the stream to be under way", lambda: len(processed(scenario.function)) >= 100)
        replace_file(RECORDER, library)
        wait_until("the worker to be replaced", lambda: "Reloading:" in host.text(), timeout=60)
        host.wait_assigned(count=2)
        with open(function_json, "w") as file:
            file.write(good[:-5])  # cut short: malformed JSON
        wait_until("the broken function.json to be refused", lambda: "Not reloading after changes to" in host.text(), timeout=60)
        if host.text().count("Reloading:") != 1:
            raise RuntimeError("a change that does not load replaced the worker")
        with open(function_json, "w") as file:
            file.write(json.dumps(definition, indent=2))  # mended, laid out differently: a change to reload
        wait_until("the mended function.json to reload the function in the worker",
                   lambda: f"Reloaded '{scenario.function}'" in host.text(), timeout=60)
        if host.text().count("Reloading:") != 1:
            raise RuntimeError("a change to function.json alone replaced the worker")
        host.wait_assigned(count=3)
        stream.stop()
        stream = None
        scenario.wait_all_accounted(expected_dead_letters=0)
        host.stop()
        return scenario.report()
    finally:
        if stream:
            stream.stop()
        scenario.close()


def scenario_scale_out_consumer():
    return scenario_scale_out("scale-out-consumer", trigger=CONSUMER)


def scenario_reload_under_load_consumer():
    return scenario_reload_under_load("reload-under-load-consumer", trigger=CONSUMER)


def owned_twice(first_pass, second_pass):
    """Partitions two hosts owned at once, from two passes of /admin/functions readings taken
    host after host (h0, h1, h2, then again): host i's two readings bracket host j's first one
    (i < j), and host j's two readings bracket host i's second one, so a partition counts only when
    one host held it across the moment another reported it too (no false alarm from a handover
    between two readings)."""
    twice = set()
    for i in range(len(first_pass)):
        for j in range(i + 1, len(first_pass)):
            twice |= first_pass[i] & second_pass[i] & first_pass[j]
            twice |= first_pass[j] & second_pass[j] & second_pass[i]
    return twice


def scenario_rolling_join():
    """Three hosts of one app join its consumer group one at a time, under the consumer protocol,
    while a steady stream flows (12 partitions): each joiner takes partitions from the others
    while the rest keep flowing. Every host's /admin/functions is read all along: no partition is
    owned by two hosts at once. Nothing lost, nothing twice (the consumer protocol's revoke commits
    are accepted)."""
    if not CONSUMER_PROTOCOL:
        raise Skipped(f"the consumer group protocol needs librdkafka 2.12.0 or later; this host runs {LIBRDKAFKA}")
    partitions = 12
    scenario = Scenario("rolling-join", crash_or_kill=False, partitions=partitions, strict=True)
    stream = None
    hosts = []
    watching = threading.Event()
    overlaps, readings = [], [0]

    def watch():
        while not watching.is_set():
            current = list(hosts)
            first = [host.assigned(scenario.function) for host in current]
            second = [host.assigned(scenario.function) for host in current]
            readings[0] += 1
            twice = owned_twice(first, second)
            if twice:
                overlaps.append((sorted(twice), [sorted(part) for part in first], [sorted(part) for part in second]))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    try:
        hosts.append(scenario.host(trigger=CONSUMER))
        wait_until("the first host to own all 12 partitions", lambda: len(hosts[0].assigned(scenario.function)) == partitions, timeout=60)
        stream = SteadyStream(scenario, "steady", rate=100)
        watcher.start()
        for count in (2, 3):
            time.sleep(2)  # the stream flows with count - 1 hosts
            hosts.append(scenario.host(trigger=CONSUMER))
            wait_until(f"the partitions spread over {count} hosts",
                       lambda: all(host.assigned(scenario.function) for host in hosts)
                       and sum(len(host.assigned(scenario.function)) for host in hosts) == partitions
                       and set().union(*(host.assigned(scenario.function) for host in hosts)) == set(range(partitions)), timeout=60)
        spread = [sorted(host.assigned(scenario.function)) for host in hosts]
        time.sleep(2)
        stream.stop()
        stream = None
        scenario.wait_all_accounted(expected_dead_letters=0)
        watching.set()
        watcher.join(timeout=10)
        for host in hosts:
            host.stop()
        result = scenario.report()
        result["spread"] = spread
        result["ownership_readings"] = readings[0]
        if overlaps:  # fails the scenario (passed())
            result["owned_twice"] = overlaps[:3]
        return result
    finally:
        watching.set()
        if stream:
            stream.stop()
        scenario.close()


def scenario_sigterm_keyed():
    return scenario_sigterm("sigterm-key", 1200, 100, trigger=KEYED)


def passed(result):
    """Nothing lost; duplicates only after a crash or kill (no more than were in flight), or a
    commit the broker refused."""
    if result["lost"] != 0 or result.get("owned_twice"):
        return False
    if result["duplicates"] == 0 or result["refused_commit"]:
        return True
    bound = result["max_duplicates"]
    return result["crash_or_kill"] and (bound is None or result["duplicates"] <= bound)


def main():
    scenarios = [scenario_throws, scenario_trap, scenario_sigkill, scenario_broker_down, scenario_rebalance,
                 scenario_sigterm_mid_batch, scenario_sigkill_keyed, scenario_sigterm_keyed,
                 scenario_retarget_after_stop, scenario_retarget_after_kill, scenario_offsets_reset_after_kill,
                 scenario_double_kill, scenario_scale_out, scenario_reload_under_load, scenario_sigkill_pipeline,
                 scenario_sigkill_exactly_once, scenario_sigkill_supervisor,
                 scenario_scale_out_consumer, scenario_reload_under_load_consumer, scenario_rolling_join]
    only = os.environ.get("FAULTS")  # FAULTS=double-kill,sigkill runs those only
    if only:
        scenarios = [run for run in scenarios if run.__name__.removeprefix("scenario_").replace("_", "-") in only.split(",")]
    results = []
    skipped = []
    failed = False
    print(f"librdkafka {LIBRDKAFKA}", flush=True)
    for run in scenarios:
        started = time.monotonic()
        try:
            result = run()
        except Skipped as reason:
            name = run.__name__.removeprefix("scenario_").replace("_", "-")
            skipped.append(name)
            print(f"fault-scenario {name}: skipped: {reason}", flush=True)
            continue
        except Exception as error:  # a scenario that cannot finish is a failure, reported as such
            print(f"fault-scenario {run.__name__}: ERROR {error}", flush=True)
            failed = True
            continue
        result["seconds"] = round(time.monotonic() - started, 1)
        results.append(result)
        ok = passed(result)
        failed = failed or not ok
        print(f"fault-scenario {result['name']}: produced={result['produced']} processed={result['processed']} "
              f"deadlettered={result['deadlettered']} lost={result['lost']} duplicates={result['duplicates']}", flush=True)
        if "ownership_readings" in result:
            print(f"  partitions per host after the joins: {result['spread']}; {result['ownership_readings']} readings of every "
                  f"host's /admin/functions, partitions owned by two hosts at once: {result.get('owned_twice', 'none')}", flush=True)
        elif "spread" in result:
            print(f"  partitions per host at the start: {result['spread']}; duplicates allowed by the kill: "
                  f"{result['max_duplicates']} (processed past the committed offsets of the killed host's partitions)", flush=True)
        if "worker_ended_after" in result:
            print(f"  the orphaned worker ended {result['worker_ended_after'] * 1000:.1f} ms after its supervisor's SIGKILL", flush=True)
        if not ok:
            print(f"  FAILED: {result}", flush=True)
    print()
    print(f"{'scenario':<26} {'produced':>9} {'processed':>10} {'dead-lettered':>14} {'lost':>5} {'duplicates':>11} {'seconds':>8}")
    for result in results:
        print(f"{result['name']:<26} {result['produced']:>9} {result['processed']:>10} {result['deadlettered']:>14} "
              f"{result['lost']:>5} {result['duplicates']:>11} {result['seconds']:>8}")
    for result in results:
        if result["duplicates"] and not result["crash_or_kill"] and result["refused_commit"]:
            print(f"{result['name']}: the broker refused the commit on revocation (librdkafka's mock cluster does during "
                  f"a rebalance; Kafka does not), so {result['duplicates']} settled messages were delivered again to the new owner")
    count = sum(1 for result in results if passed(result))
    print(f"\n{count} passed, {len(scenarios) - count - len(skipped)} failed, {len(skipped)} skipped"
          + (f" ({', '.join(skipped)}: librdkafka {LIBRDKAFKA} has no consumer group protocol)" if skipped else ""))
    print(f"(logs in {WORK})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
