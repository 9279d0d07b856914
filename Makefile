# swiftfunc: build, run the examples on the embedded broker, test.
SWIFT ?= swift
EXAMPLES := Greeter BatchTotals Router Backup AWSPort TencentPort
CC ?= cc
BIN = $(shell $(SWIFT) build --show-bin-path)

.PHONY: all deps build functions run test faults bench clean

all: functions

## Install librdkafka-dev, libffi-dev, python3-confluent-kafka and kcat when missing.
deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

## Build the example functions into functions/NAME/libNAME.so (CGreeter: plain C, with cc -shared).
functions: build
	@for name in $(EXAMPLES); do cp "$(BIN)/lib$$name.so" "functions/$$name/lib$$name.so"; done
	$(CC) -shared -fPIC -O2 -Wall -I Sources/FunctionABI/include -o functions/CGreeter/libCGreeter.so Examples/CGreeter/greeter.c
	@echo "Example functions copied into functions/: $(EXAMPLES) CGreeter"

## Start the host with the example functions on the embedded broker.
run: functions
	BACKUP_DIRECTORY="$(CURDIR)/.swiftfunc/backup" "$(BIN)/swiftfunc" start --embedded-broker

## Build everything (the tests load the fixture libraries and run the swiftfunc binary) and test.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

## The fault suite: real processes, signals and broker outages; every scenario must lose nothing.
faults: build
	/usr/bin/python3 faults/run.py "$(BIN)"

## Benchmark in a release build: the host against librdkafka's own consumer loop and a Python
## confluent-kafka loop on one embedded broker, key ordering, latency, memory over a long stream,
## plus one invocation's cost. See BENCHMARKS.md. Options: make bench BENCH_ARGS="--quick".
bench: deps
	$(SWIFT) build -c release
	@mkdir -p .build/bench
	cc -O2 -Wall -o .build/bench/raw_consumer bench/raw_consumer.c $$(pkg-config --cflags --libs rdkafka)
	cc -O2 -Wall -o .build/bench/mock_cluster bench/mock_cluster.c $$(pkg-config --cflags --libs rdkafka)
	/usr/bin/python3 bench/run.py --bin "$$($(SWIFT) build -c release --show-bin-path)" --raw .build/bench/raw_consumer $(BENCH_ARGS)

clean:
	rm -rf .build functions/*/lib*.so .swiftfunc
