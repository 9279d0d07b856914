# swiftfunc: build, run the examples on the embedded broker, test.
SWIFT ?= swift
EXAMPLES := Greeter BatchTotals Router Backup AWSPort TencentPort AvroOrders ProtobufOrders
CC ?= cc

## Which librdkafka to build and test against:
##   LIBRDKAFKA=system   Debian 12's librdkafka-dev 2.0.2 (pkg-config rdkafka), build in .build
##   LIBRDKAFKA=current  Debian forky's (or sid's) source package (2.14.2) built by
##                       scripts/build-librdkafka.sh into .build/librdkafka-2.14, build in
##                       .build-rdkafka-current (both coexist); the binaries find it through their
##                       rpath, not LD_LIBRARY_PATH, so the Python client the tests use keeps the
##                       system's.
## e.g. make test LIBRDKAFKA=current, make faults LIBRDKAFKA=current, make bench LIBRDKAFKA=current
LIBRDKAFKA ?= system
LIBRDKAFKA_CURRENT_VERSION ?= 2.14.2
RDKAFKA_PREFIX := $(CURDIR)/.build/librdkafka-$(basename $(LIBRDKAFKA_CURRENT_VERSION))
ifeq ($(LIBRDKAFKA),current)
export PKG_CONFIG_PATH := $(RDKAFKA_PREFIX)/lib/pkgconfig
SWIFT_FLAGS := --scratch-path .build-rdkafka-current -Xlinker -rpath -Xlinker $(RDKAFKA_PREFIX)/lib
RDKAFKA_RPATH := -Wl,-rpath,$(RDKAFKA_PREFIX)/lib
RDKAFKA_BUILD := librdkafka
BENCH_DIR := .build-rdkafka-current/bench
else ifeq ($(LIBRDKAFKA),system)
SWIFT_FLAGS :=
RDKAFKA_RPATH :=
RDKAFKA_BUILD :=
BENCH_DIR := .build/bench
else
$(error LIBRDKAFKA must be system or current, not '$(LIBRDKAFKA)')
endif
BIN = $(shell $(SWIFT) build $(SWIFT_FLAGS) --show-bin-path)

.PHONY: all deps librdkafka build functions run test faults bench clean schema-venv startup

all: functions

## Install librdkafka-dev, libffi-dev, python3-confluent-kafka and kcat when missing.
deps:
	@scripts/install-deps.sh

## Build librdkafka $(LIBRDKAFKA_CURRENT_VERSION) from Debian's source package into .build/ (LIBRDKAFKA=current does this itself).
librdkafka:
	@LIBRDKAFKA_VERSION=$(LIBRDKAFKA_CURRENT_VERSION) LIBRDKAFKA_PREFIX=$(RDKAFKA_PREFIX) scripts/build-librdkafka.sh

build: deps $(RDKAFKA_BUILD)
	$(SWIFT) build $(SWIFT_FLAGS)

## Build the example functions into functions/NAME/libNAME.so (CGreeter: plain C, with cc -shared).
functions: build
	@for name in $(EXAMPLES); do cp --remove-destination "$(BIN)/lib$$name.so" "functions/$$name/lib$$name.so"; done
	$(CC) -shared -fPIC -O2 -Wall -I Sources/FunctionABI/include -o functions/CGreeter/libCGreeter.so Examples/CGreeter/greeter.c
	@echo "Example functions copied into functions/: $(EXAMPLES) CGreeter"

## Start the host with the example functions on the embedded broker.
run: functions
	BACKUP_DIRECTORY="$(CURDIR)/.swiftfunc/backup" "$(BIN)/swiftfunc" start --embedded-broker

## Build everything (the tests load the fixture libraries and run the swiftfunc binary) and test;
## then the deploy recipes (deploy/: manifests and Dockerfile, checked without a cluster).
test: deps $(RDKAFKA_BUILD) schema-venv
	$(SWIFT) build $(SWIFT_FLAGS) --build-tests
	$(SWIFT) test $(SWIFT_FLAGS) --skip-build
	/usr/bin/python3 -m unittest discover -s Tests/Deploy

## Confluent's serializers (confluent-kafka[avro,json,schemaregistry] from PyPI) for the schema
## tests, and OpenTelemetry's protobuf definitions (opentelemetry-proto) for the tracing tests'
## OTLP receiver, in a virtual environment of their own (Debian 12 packages no fastavro).
SCHEMA_VENV := .build/schema-venv
schema-venv: $(SCHEMA_VENV)/.installed-otlp
$(SCHEMA_VENV)/.installed-otlp:
	@echo "Installing confluent-kafka's schema-registry serializers and opentelemetry-proto into $(SCHEMA_VENV) (about 20 s, once)"
	/usr/bin/python3 -m venv $(SCHEMA_VENV)
	$(SCHEMA_VENV)/bin/pip install -q --disable-pip-version-check "confluent-kafka[avro,json,protobuf,schemaregistry]==2.16.1" "grpcio-tools==1.85.1" "opentelemetry-proto==1.45.2"
	@touch $@

## Start-up: `make run`'s app started 10 times; each function's first assignment after the start
## (bench/startup.py; BENCHMARKS.md "Start-up"). Fails when one took longer than 4 s.
startup: functions
	/usr/bin/python3 bench/startup.py "$(BIN)" $(STARTUP_ARGS)

## The fault suite: real processes, signals and broker outages; every scenario must lose nothing.
faults: build
	/usr/bin/python3 faults/run.py "$(BIN)"

## Benchmark in a release build: the host against librdkafka's own consumer loop and a Python
## confluent-kafka loop on one embedded broker, key ordering, latency, memory over a long stream,
## a consume -> transform -> produce pipeline against bench/raw_pipeline.c, plus one invocation's
## cost. See BENCHMARKS.md. Options: make bench BENCH_ARGS="--quick", BENCH_ARGS="--only pipeline".
bench: deps $(RDKAFKA_BUILD)
	$(SWIFT) build $(SWIFT_FLAGS) -c release
	@mkdir -p $(BENCH_DIR)
	cc -O2 -Wall -o $(BENCH_DIR)/raw_consumer bench/raw_consumer.c $$(pkg-config --cflags --libs rdkafka) $(RDKAFKA_RPATH)
	cc -O2 -Wall -o $(BENCH_DIR)/mock_cluster bench/mock_cluster.c $$(pkg-config --cflags --libs rdkafka) $(RDKAFKA_RPATH)
	cc -O2 -Wall -pthread -o $(BENCH_DIR)/raw_pipeline bench/raw_pipeline.c $$(pkg-config --cflags --libs rdkafka) $(RDKAFKA_RPATH)
	/usr/bin/python3 bench/run.py --bin "$$($(SWIFT) build $(SWIFT_FLAGS) -c release --show-bin-path)" --raw $(BENCH_DIR)/raw_consumer --work $(BENCH_DIR) $(BENCH_ARGS)

clean:
	rm -rf .build .build-rdkafka-current functions/*/lib*.so .swiftfunc
