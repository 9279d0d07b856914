import Foundation
import Logging
import Testing
@testable import FunctionHost

@Suite("Configuration", .timeLimit(.minutes(10)))
struct ConfigurationTests {
    private func parseFunction(_ json: String, name: String = "Fn", environment: [String: String] = [:],
                               localValues: [String: String] = [:]) throws -> FunctionConfiguration {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        return try FunctionConfiguration.parse(
            JSONObject(object, file: "functions/\(name)/function.json"), name: name,
            directory: URL(fileURLWithPath: "/app/functions/\(name)"),
            settings: AppSettings(environment: environment, localValues: localValues))
    }

    private func parseHost(_ json: String) throws -> HostConfiguration {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        return try HostConfiguration.parse(JSONObject(object, file: "host.json"))
    }

    @Test("host.json defaults follow Azure's Kafka extension")
    func hostDefaults() throws {
        let host = try parseHost(#"{ "version": "2.0" }"#)
        #expect(host.kafka.maxBatchSize == 64)
        #expect(host.kafka.subscriberIntervalInSeconds == 1)
        #expect(host.kafka.autoCommitIntervalMs == 200)
        #expect(host.kafka.autoOffsetReset == "earliest")
        #expect(host.kafka.sessionTimeoutMs == 10_000)
        #expect(host.kafka.fetchMaxBytes == 52_428_800)
        #expect(host.kafka.maxPartitionFetchBytes == 1_048_576)
        #expect(host.logLevel == .info)
    }

    @Test("host.json keys are matched in any case, and librdkafka properties pass through")
    func hostKeysAnyCase() throws {
        let host = try parseHost(#"""
            { "Version": "2.0", "Extensions": { "Kafka": {
                "MaxBatchSize": 10, "AUTOCOMMITINTERVALMS": 50, "autoOffsetReset": "Latest",
                "SessionTimeoutMs": 6000, "fetchMaxBytes": 1000000, "MaxPartitionFetchBytes": 2000,
                "LibkafkaDebug": "cgrp", "librdkafka": { "queued.max.messages.kbytes": 1024, "check.crcs": true } } },
              "logging": { "logLevel": { "default": "Warning" } } }
            """#)
        #expect(host.kafka.maxBatchSize == 10)
        #expect(host.kafka.autoCommitIntervalMs == 50)
        #expect(host.kafka.autoOffsetReset == "latest")
        #expect(host.logLevel == .warning)
        let properties = Dictionary(host.kafka.consumerProperties, uniquingKeysWith: { $1 })
        #expect(properties["auto.commit.interval.ms"] == "50")
        #expect(properties["auto.offset.reset"] == "latest")
        #expect(properties["session.timeout.ms"] == "6000")
        #expect(properties["fetch.max.bytes"] == "1000000")
        #expect(properties["max.partition.fetch.bytes"] == "2000")
        #expect(properties["debug"] == "cgrp")
        #expect(host.kafka.librdkafka == ["queued.max.messages.kbytes": "1024", "check.crcs": "true"])
    }

    @Test("host.json rejects values it cannot use, naming the field")
    func hostRejects() throws {
        #expect(throws: ConfigurationError(file: "host.json", field: "extensions.kafka.maxBatchSize", "must be from 1 to 10000, not 0")) {
            try parseHost(#"{ "extensions": { "kafka": { "maxBatchSize": 0 } } }"#)
        }
        #expect(throws: ConfigurationError(file: "host.json", field: "extensions.kafka.autoOffsetReset", "unknown value 'middle'; use Earliest or Latest")) {
            try parseHost(#"{ "extensions": { "kafka": { "autoOffsetReset": "middle" } } }"#)
        }
        #expect(throws: ConfigurationError(file: "host.json", field: "version", #"must be "2.0", not "1.0""#)) {
            try parseHost(#"{ "version": "1.0" }"#)
        }
    }

    @Test("function.json: defaults for scriptFile, entryPoint, cardinality, dataType and consumer group")
    func functionDefaults() throws {
        let function = try parseFunction(#"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b:9092", "topic": "t" } ] }"#)
        #expect(function.libraryPath == "/app/functions/Fn/libFn.so")
        #expect(function.entryPoint == "run")
        #expect(function.trigger.cardinality == .one)
        #expect(function.trigger.dataType == .binary)
        #expect(function.trigger.consumerGroup == "swiftfunc-Fn")
        #expect(function.disabled == false)
        #expect(function.outputs.isEmpty)
    }

    @Test("function.json: ordering and its limits, with their defaults and errors")
    func orderingSettings() throws {
        let plain = try parseFunction(#"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t" } ] }"#)
        #expect(plain.trigger.ordering == .partition)
        #expect(plain.trigger.maxConcurrency == 64)
        #expect(plain.trigger.maxQueuedMessages == 4096)
        let keyed = try parseFunction(#"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t", "ordering": "Key", "maxConcurrency": 8, "maxQueuedMessages": 100 } ] }"#)
        #expect(keyed.trigger.ordering == .key)
        #expect(keyed.trigger.maxConcurrency == 8)
        #expect(keyed.trigger.maxQueuedMessages == 100)
        #expect(throws: ConfigurationError(file: "functions/Fn/function.json", field: "bindings[0].ordering", "unknown value 'random'; use partition (in order per partition, the default), key (in order per key, in parallel across keys) or unordered")) {
            try parseFunction(#"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t", "ordering": "random" } ] }"#)
        }
        #expect(throws: ConfigurationError(file: "functions/Fn/function.json", field: "bindings[0].maxConcurrency", "must be from 1 to 1024, not 0")) {
            try parseFunction(#"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t", "maxConcurrency": 0 } ] }"#)
        }
        #expect(throws: ConfigurationError(file: "functions/Fn/function.json", field: "bindings[0].maxQueuedMessages", "must be from 1 to 100000, not -5")) {
            try parseFunction(#"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t", "maxQueuedMessages": -5 } ] }"#)
        }
    }

    @Test("Enum values are read in any case, as Azure's samples write them", arguments: [
        ("MANY", Cardinality.many), ("many", .many), ("Many", .many), ("ONE", .one), ("one", .one),
    ])
    func cardinalityAnyCase(text: String, expected: Cardinality) throws {
        let function = try parseFunction(#"{ "bindings": [ { "type": "KafkaTrigger", "brokerList": "b", "topic": "t", "cardinality": "\#(text)" } ] }"#)
        #expect(function.trigger.cardinality == expected)
    }

    @Test("Authentication and TLS options map to the librdkafka properties they mean", arguments: [
        ("saslSsl", "Plain", "sasl_ssl", "PLAIN"), ("SASLSSL", "PLAIN", "sasl_ssl", "PLAIN"),
        ("sasl_plaintext", "ScramSha256", "sasl_plaintext", "SCRAM-SHA-256"), ("SaslPlaintext", "scramsha512", "sasl_plaintext", "SCRAM-SHA-512"),
        ("ssl", "gssapi", "ssl", "GSSAPI"),
    ])
    func authMapping(protocolText: String, mode: String, securityProtocol: String, mechanism: String) throws {
        let tls = try ScriptRoot()
        for name in ["ca.pem", "cert.pem", "key.pem"] { try tls.write(name, "PEM") }
        let folder = tls.url.standardizedFileURL.path
        let function = try parseFunction(#"""
            { "bindings": [ { "type": "kafkaTrigger", "brokerList": "b:9093", "topic": "t",
              "protocol": "\#(protocolText)", "authenticationMode": "\#(mode)", "username": "$ConnectionString",
              "password": "%EventHubPassword%", "sslCaLocation": "\#(folder)/ca.pem", "sslCertificateLocation": "\#(folder)/cert.pem",
              "sslKeyLocation": "\#(folder)/key.pem", "sslKeyPassword": "secret" } ] }
            """#, environment: ["EventHubPassword": "pw"])
        let properties = Dictionary(function.trigger.connection.librdkafkaProperties, uniquingKeysWith: { $1 })
        #expect(properties == [
            "bootstrap.servers": "b:9093", "security.protocol": securityProtocol, "sasl.mechanisms": mechanism,
            "sasl.username": "$ConnectionString", "sasl.password": "pw", "ssl.ca.location": "\(folder)/ca.pem",
            "ssl.certificate.location": "\(folder)/cert.pem", "ssl.key.location": "\(folder)/key.pem", "ssl.key.password": "secret",
        ])
    }

    @Test("NotSet leaves authentication to librdkafka's defaults")
    func notSet() throws {
        let function = try parseFunction(#"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t", "protocol": "NotSet", "authenticationMode": "notset" } ] }"#)
        #expect(function.trigger.connection.librdkafkaProperties.map(\.0) == ["bootstrap.servers"])
    }

    @Test("App settings resolve from the environment first, then local.settings.json, as %Name% or a bare name")
    func appSettings() throws {
        let json = #"""
            { "bindings": [
                { "type": "kafkaTrigger", "brokerList": "BrokerList", "topic": "%Topic%-in", "consumerGroup": "%Group%" },
                { "type": "kafka", "direction": "out", "brokerList": "%OutBrokers%", "topic": "plain-topic" } ] }
            """#
        let function = try parseFunction(json, environment: ["BrokerList": "env:9092", "Topic": "orders"],
                                         localValues: ["BrokerList": "file:9092", "Group": "g1", "OutBrokers": "out:9092", "Topic": "ignored"])
        #expect(function.trigger.connection.brokerList == "env:9092")
        #expect(function.trigger.topic == "orders-in")
        #expect(function.trigger.consumerGroup == "g1")
        #expect(function.outputs.map(\.connection.brokerList) == ["out:9092"])
        #expect(function.outputs.map(\.topic) == ["plain-topic"])
        // A bare value that names no setting is taken literally.
        let literal = try parseFunction(#"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "localhost:9092", "topic": "t" } ] }"#)
        #expect(literal.trigger.connection.brokerList == "localhost:9092")
    }

    @Test("An unresolved %Name% names the function's file, the field and the setting")
    func unresolvedSetting() throws {
        #expect(throws: ConfigurationError(file: "functions/Orders/function.json", field: "bindings[0].topic",
                                           "setting 'OrdersTopic' is not set; define it in the environment or in local.settings.json \"Values\"")) {
            try parseFunction(#"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "%OrdersTopic%" } ] }"#, name: "Orders")
        }
    }

    @Test("local.settings.json Values are read from the script root")
    func localSettingsFile() throws {
        let root = try ScriptRoot()
        try root.write("local.settings.json", #"{ "IsEncrypted": false, "Values": { "BrokerList": "from-file:9092", "Port": 7 } }"#)
        let settings = try AppSettings.load(scriptRoot: root.url, environment: [:])
        #expect(settings["BrokerList"] == "from-file:9092")
        #expect(settings["Port"] == "7")
        try root.write("local.settings.json", #"{ "Values": [1] }"#)
        #expect(throws: ConfigurationError(file: "local.settings.json", field: "Values", "must be an object ({ ... }), not an array")) {
            try AppSettings.load(scriptRoot: root.url, environment: [:])
        }
    }

    @Test("Output bindings keep their declared order; a kafka binding without direction out is refused")
    func outputs() throws {
        let function = try parseFunction(#"""
            { "scriptFile": "custom/libX.so", "entryPoint": "handle", "disabled": true, "bindings": [
                { "type": "kafka", "direction": "out", "brokerList": "b", "topic": "first" },
                { "type": "kafkaTrigger", "direction": "in", "brokerList": "b", "topic": "t" },
                { "type": "kafka", "direction": "OUT", "brokerList": "b", "topic": "second" } ] }
            """#)
        #expect(function.outputs.map(\.topic) == ["first", "second"])
        #expect(function.libraryPath == "/app/functions/Fn/custom/libX.so")
        #expect(function.entryPoint == "handle")
        #expect(function.disabled)
        #expect(throws: ConfigurationError(file: "functions/Fn/function.json", field: "bindings[1].direction",
                                           "a kafka binding is an output binding: set \"direction\": \"out\"")) {
            try parseFunction(#"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t" }, { "type": "kafka", "brokerList": "b", "topic": "x" } ] }"#)
        }
    }

    @Test("A librdkafka property librdkafka refuses keeps that function from starting, with the property named")
    func refusedLibrdkafkaProperty() throws {
        let broker = try EmbeddedBroker()
        let hosted = try HostedApp(broker: broker, hostJSON: #"{ "version": "2.0", "extensions": { "kafka": { "librdkafka": { "no.such.property": "1" } } } }"#,
                                   functions: [("Fn", try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: "t", group: "g"))],
                                   start: .started)
        defer { hosted.stop() }
        let report = try #require(hosted.reports.first)
        guard case .failed(let reason) = report.status else {
            Issue.record("expected a failure, got \(report.status)")
            return
        }
        #expect(reason.contains("librdkafka property 'no.such.property' = '1'"))
    }
}
