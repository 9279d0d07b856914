// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "swiftfunc",
    products: [
        .executable(name: "swiftfunc", targets: ["swiftfunc"]),
        // What a function author depends on (by path or URL) to write a function.
        .library(name: "SwiftFunctions", targets: ["SwiftFunctions"]),
        .library(name: "FunctionHost", targets: ["FunctionHost"]),
        // Example functions, built by `make functions` into functions/NAME/libNAME.so.
        .library(name: "Greeter", type: .dynamic, targets: ["Greeter"]),
        .library(name: "BatchTotals", type: .dynamic, targets: ["BatchTotals"]),
        .library(name: "Router", type: .dynamic, targets: ["Router"]),
        .library(name: "Backup", type: .dynamic, targets: ["Backup"]),
        .library(name: "AWSPort", type: .dynamic, targets: ["AWSPort"]),
        .library(name: "TencentPort", type: .dynamic, targets: ["TencentPort"]),
        .library(name: "AvroOrders", type: .dynamic, targets: ["AvroOrders"]),
        .library(name: "ProtobufOrders", type: .dynamic, targets: ["ProtobufOrders"]),
        // Libraries the tests load into the host.
        .library(name: "Recorder", type: .dynamic, targets: ["Recorder"]),
        .library(name: "WrongABI", type: .dynamic, targets: ["WrongABI"]),
        // The benchmark's no-op functions (make bench): through the Swift SDK, and in plain C.
        .library(name: "BenchNoop", type: .dynamic, targets: ["BenchNoop"]),
        .library(name: "BenchNoopC", type: .dynamic, targets: ["BenchNoopC"]),
        // The same on ABI version 1, for the v1 rows next to the v2 ones.
        .library(name: "BenchNoopV1", type: .dynamic, targets: ["BenchNoopV1"]),
        .library(name: "BenchNoopCV1", type: .dynamic, targets: ["BenchNoopCV1"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The host's HTTP endpoint (metrics, health, admin): Sources/FunctionHost/Operations.
        // No default traits: swift-configuration support is not needed and costs build time.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // Invocation spans exported over OTLP/HTTP (Sources/FunctionHost/Tracing). Its OTLPHTTP
        // trait alone: the default adds gRPC (grpc-swift-2 and its transport), about 7 minutes
        // of a clean build on 2 cores, for an export protocol the host does not offer.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.2"),
    ],
    targets: [
        // C
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CFFI", pkgConfig: "libffi", providers: [.apt(["libffi-dev"])]),
        // Avro records (schema-aware triggers and outputs): avro-c, Debian's libavro-dev.
        .systemLibrary(name: "CAvro", pkgConfig: "avro-c", providers: [.apt(["libavro-dev"])]),
        // Protobuf records: Debian's libprotobuf (C++) behind a plain C API, so the host needs no
        // Swift C++ interoperability (it would slow every build of it). Headers: libprotobuf-dev,
        // libprotoc-dev (compiler/parser.h; the parser itself is in libprotobuf).
        .target(name: "CProtobuf", linkerSettings: [.linkedLibrary("protobuf")]),
        .systemLibrary(name: "FunctionABI"),
        .systemLibrary(name: "CSharedMemory"),
        .systemLibrary(name: "CSpawn"),
        .systemLibrary(name: "CTicks"),

        // The SDK a function author imports.
        // Keys, values and header values are RawSpan views tied to the event (`@_lifetime`), so
        // that keeping one past the call does not compile; declaring such accessors needs the
        // Lifetimes feature (using them does not).
        .target(name: "SwiftFunctions", dependencies: ["FunctionABI"],
                swiftSettings: [.enableExperimentalFeature("Lifetimes")]),

        // The host: configuration, loading, invocation, triggers, output, runtime.
        .target(
            name: "FunctionHost",
            dependencies: [
                "CRdKafka", "CFFI", "CAvro", "CProtobuf", "FunctionABI", "CSharedMemory", "CSpawn", "CTicks",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                // The supervisor forwards the endpoint's requests to its worker (SupervisorEndpoint).
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            // The consuming thread touches the listener's state per message; Swift's run-time
            // exclusivity checks cost about a tenth of its time there (BENCHMARKS.md). Release
            // builds leave them out; debug builds, which the tests run, keep them.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "swiftfunc",
            dependencies: [
                "FunctionHost",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // mimalloc in place of glibc's malloc for the whole process (librdkafka included):
            // librdkafka allocates each fetched message on its broker thread and the consuming
            // thread frees it, which glibc does under the broker arena's lock (BENCHMARKS.md,
            // "The allocator"). Named by soname so Debian's runtime package (libmimalloc2.0) is
            // all a build needs; listed before libc, so its malloc is the one every library binds.
            linkerSettings: [.linkedLibrary(":libmimalloc.so.2")]
        ),

        // Examples
        .target(name: "Greeter", dependencies: ["SwiftFunctions"], path: "Examples/Greeter"),
        .target(name: "BatchTotals", dependencies: ["SwiftFunctions"], path: "Examples/BatchTotals"),
        .target(name: "Router", dependencies: ["SwiftFunctions"], path: "Examples/Router"),
        .target(name: "Backup", dependencies: ["SwiftFunctions"], path: "Examples/Backup"),
        .target(name: "AWSPort", dependencies: ["SwiftFunctions"], path: "Examples/AWSPort"),
        .target(name: "TencentPort", dependencies: ["SwiftFunctions"], path: "Examples/TencentPort"),
        .target(name: "AvroOrders", dependencies: ["SwiftFunctions"], path: "Examples/AvroOrders"),
        .target(name: "ProtobufOrders", dependencies: ["SwiftFunctions"], path: "Examples/ProtobufOrders"),

        // Test fixtures and tests
        .target(name: "Recorder", dependencies: ["SwiftFunctions"], path: "Tests/Fixtures/Recorder"),
        .target(name: "WrongABI", path: "Tests/Fixtures/WrongABI", publicHeadersPath: "."),
        .testTarget(
            name: "FunctionHostTests",
            dependencies: ["FunctionHost", .product(name: "Logging", package: "swift-log")]
        ),

        // Benchmark (make bench; see BENCHMARKS.md)
        .target(name: "BenchNoop", dependencies: ["SwiftFunctions"], path: "bench/NoopSwift"),
        // A C function includes swiftfunc.h itself: a system-library dependency gives C no search path.
        .target(name: "BenchNoopC", path: "bench/NoopC", publicHeadersPath: ".",
                cSettings: [.headerSearchPath("../../Sources/FunctionABI/include")]),
        .target(name: "BenchNoopV1", dependencies: ["FunctionABI"], path: "bench/NoopSwiftV1"),
        .target(name: "BenchNoopCV1", path: "bench/NoopCV1", publicHeadersPath: ".",
                cSettings: [.headerSearchPath("../../Sources/FunctionABI/include")]),
        .executableTarget(
            name: "swiftfunc-microbench",
            dependencies: [
                "FunctionHost", "CRdKafka", "FunctionABI",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "bench/Microbench"
        ),
    ]
)

// Package-wide Swift settings, in one place.
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}
