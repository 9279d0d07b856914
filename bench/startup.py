#!/usr/bin/python3
"""Start-up: how long after `swiftfunc start` each function of the example app gets its first
assignment.

Starts `make run`'s app (the repository's functions/ and host.json, `swiftfunc start
--embedded-broker`) N times, reads from the host's log when each function logs "'NAME' was
assigned partitions" (the first assignment of its consumer group), measured from the moment the
process was started, and prints every start's times and the distribution over all of them.

  bench/startup.py BIN_DIR [--starts 10] [--limit 4]     (make startup [LIBRDKAFKA=current])

BIN_DIR holds the swiftfunc binary; the example libraries must be in functions/ (`make functions`).
Exits 1 when an assignment took longer than --limit seconds, or a function was never assigned
within --timeout.
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSIGNED = re.compile(r"'([^']+)' was assigned partitions")


def free_port():
    """The host's HTTP endpoint on a port of its own (7071 may be another host's)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def example_functions():
    return sorted(name for name in os.listdir(os.path.join(ROOT, "functions"))
                  if os.path.exists(os.path.join(ROOT, "functions", name, "function.json")))


def one_start(swiftfunc, functions, timeout, log_path):
    """Seconds from the process's start to each function's first assignment (None: never)."""
    environment = dict(os.environ, BACKUP_DIRECTORY=os.path.join(ROOT, ".swiftfunc", "backup"))
    started = time.monotonic()
    process = subprocess.Popen([swiftfunc, "start", "--embedded-broker", "--port", str(free_port())], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
    assigned = {}
    everyone = threading.Event()

    def read():
        with open(log_path, "w") as log:
            for line in process.stdout:
                now = time.monotonic() - started
                log.write(f"[{now:8.3f}] {line}")
                match = ASSIGNED.search(line)
                if match and match.group(1) not in assigned:
                    assigned[match.group(1)] = now
                    if set(functions) <= set(assigned):
                        everyone.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    everyone.wait(timeout)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    reader.join(timeout=10)
    return {name: assigned.get(name) for name in functions}


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bin", help="the folder holding swiftfunc")
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--limit", type=float, default=4.0, help="seconds an assignment may take (default 4)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for every function per start")
    arguments = parser.parse_args()
    swiftfunc = os.path.join(os.path.abspath(arguments.bin), "swiftfunc")
    functions = example_functions()
    version = subprocess.run([swiftfunc, "--version"], capture_output=True, text=True).stdout.strip()
    logs = os.path.join(ROOT, ".swiftfunc", "startup")
    os.makedirs(logs, exist_ok=True)
    print(f"{len(functions)} functions ({', '.join(functions)}), {arguments.starts} starts; {version}", flush=True)
    everything = []
    late = 0
    for start in range(1, arguments.starts + 1):
        times = one_start(swiftfunc, functions, arguments.timeout, os.path.join(logs, f"start-{start}.log"))
        seen = [value for value in times.values() if value is not None]
        everything += seen
        slow = sorted(name for name, value in times.items() if value is None or value > arguments.limit)
        late += 1 if slow else 0
        cells = " ".join(f"{name}={'never' if value is None else f'{value:.2f}'}" for name, value in sorted(times.items()))
        print(f"start {start:>2}: first {min(seen, default=0):.2f} s, last {max(seen, default=0):.2f} s"
              f"{'  LATE: ' + ', '.join(slow) if slow else ''}   {cells}", flush=True)
    if everything:
        print(f"\n{len(everything)} assignments of {len(functions) * arguments.starts}: min {min(everything):.2f} s, "
              f"median {percentile(everything, 0.5):.2f} s, p90 {percentile(everything, 0.9):.2f} s, max {max(everything):.2f} s")
    print(f"starts with every function assigned within {arguments.limit:g} s: {arguments.starts - late} of {arguments.starts}")
    print(f"(logs in {logs})")
    sys.exit(1 if late else 0)


if __name__ == "__main__":
    main()
