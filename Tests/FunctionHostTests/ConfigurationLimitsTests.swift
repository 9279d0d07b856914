import CRdKafka
import Foundation
import Testing
@testable import FunctionHost

private func parseHost(_ json: String, scriptRoot: URL? = nil) throws -> HostConfiguration {
    let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
    return try HostConfiguration.parse(JSONObject(object, file: "host.json"), scriptRoot: scriptRoot)
}

private func parseFunction(_ json: String, name: String = "Fn", directory: URL? = nil, environment: [String: String] = [:]) throws -> FunctionConfiguration {
    let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
    return try FunctionConfiguration.parse(
        JSONObject(object, file: "functions/\(name)/function.json"), name: name,
        directory: directory ?? URL(fileURLWithPath: "/app/functions/\(name)"),
        settings: AppSettings(environment: environment))
}

private func trigger(_ extra: String) -> String {
    #"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b:9092", "topic": "t"\#(extra) } ] }"#
}

/// Every number has a range, and an error outside it names the file, the field and the range.
@Suite("Configuration limits", .timeLimit(.minutes(10)))
struct ConfigurationLimitsTests {
    @Test("host.json numbers outside their range are refused with the field and the range", arguments: [
        (#""maxBatchSize": 2000000000"#, "extensions.kafka.maxBatchSize", "must be from 1 to 10000, not 2000000000"),
        (#""maxBatchSize": 10000000"#, "extensions.kafka.maxBatchSize", "must be from 1 to 10000, not 10000000"),
        (#""maxBatchSize": 1e30"#, "extensions.kafka.maxBatchSize", "must be from 1 to 10000, not 1e+30"),
        (#""maxBatchSize": "5e12""#, "extensions.kafka.maxBatchSize", "must be from 1 to 10000, not 5e12"),
        (#""subscriberIntervalInSeconds": 100000000000"#, "extensions.kafka.subscriberIntervalInSeconds", "must be from 1 to 300, not 100000000000"),
        (#""autoCommitIntervalMs": 0"#, "extensions.kafka.autoCommitIntervalMs", "must be from 1 to 86400000, not 0"),
        (#""sessionTimeoutMs": 3600001"#, "extensions.kafka.sessionTimeoutMs", "must be from 1 to 3600000, not 3600001"),
        (#""fetchMaxBytes": 2147483136"#, "extensions.kafka.fetchMaxBytes", "must be from 1 to 2147483135, not 2147483136"),
        (#""maxPartitionFetchBytes": -1"#, "extensions.kafka.maxPartitionFetchBytes", "must be from 1 to 1000000000, not -1"),
        (#""queuedMinMessages": 0"#, "extensions.kafka.queuedMinMessages", "must be from 1 to 10000000, not 0"),
        (#""queuedMaxMessagesKbytes": 2097152"#, "extensions.kafka.queuedMaxMessagesKbytes", "must be from 1 to 2097151, not 2097152"),
        (#""reconnectBackoffMs": -5"#, "extensions.kafka.reconnectBackoffMs", "must be from 0 to 3600000, not -5"),
        (#""statisticsIntervalMs": 86400001"#, "extensions.kafka.statisticsIntervalMs", "must be from 0 to 86400000, not 86400001"),
        (#""heartbeatIntervalMs": 10000"#, "extensions.kafka.heartbeatIntervalMs", "must be less than sessionTimeoutMs (10000), not 10000"),
        (#""maxPollIntervalMs": 5000"#, "extensions.kafka.maxPollIntervalMs", "must be at least sessionTimeoutMs (10000), not 5000"),
    ])
    func kafkaBounds(field: String, path: String, message: String) throws {
        #expect(throws: ConfigurationError(file: "host.json", field: path, message)) {
            try parseHost(#"{ "version": "2.0", "extensions": { "kafka": { \#(field) } } }"#)
        }
    }

    @Test("host.json time spans and counts have upper bounds too", arguments: [
        (#""functionTimeout": "48:00:00""#, "functionTimeout", "must be from 00:00:01 to 1.00:00:00 (a day), not '48:00:00'; \"-1\" means none"),
        (#""swiftfunc": { "shutdownTimeout": "02:00:00" }"#, "swiftfunc.shutdownTimeout", "must be from 00:00:00 to 01:00:00, not '02:00:00'"),
        (#""swiftfunc": { "maxCrashesPerMessage": 0 }"#, "swiftfunc.maxCrashesPerMessage", "must be from 1 to 1000, not 0"),
        (#""swiftfunc": { "unreachableWarningAfter": "30.00:00:00" }"#, "swiftfunc.unreachableWarningAfter", "must be from 00:00:01 to 1.00:00:00 (a day), not '30.00:00:00'"),
        (#""retry": { "strategy": "fixedDelay", "maxRetryCount": 10001, "delayInterval": "00:00:01" }"#, "retry.maxRetryCount", "must be from -1 to 10000, not 10001"),
        (#""retry": { "strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "99999999:00:00" }"#, "retry.delayInterval", "must be from 00:00:00 to 1.00:00:00 (a day), not '99999999:00:00'"),
    ])
    func hostBounds(field: String, path: String, message: String) throws {
        #expect(throws: ConfigurationError(file: "host.json", field: path, message)) {
            try parseHost(#"{ "version": "2.0", \#(field) }"#)
        }
    }

    @Test("function.json numbers outside their range are refused with the field and the range", arguments: [
        (trigger(#", "maxConcurrency": 5000"#), "bindings[0].maxConcurrency", "must be from 1 to 1024, not 5000"),
        (trigger(#", "maxQueuedMessages": 100000000"#), "bindings[0].maxQueuedMessages", "must be from 1 to 100000, not 100000000"),
        (#"{ "flushIntervalSeconds": 0, "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t" } ] }"#,
         "flushIntervalSeconds", "must be from 1 to 3600, not 0"),
        (#"{ "retry": { "strategy": "exponentialBackoff", "maxRetryCount": -2, "minimumInterval": "00:00:01", "maximumInterval": "00:00:02" }, "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t" } ] }"#,
         "retry.maxRetryCount", "must be from -1 to 10000, not -2"),
    ])
    func functionBounds(json: String, path: String, message: String) throws {
        #expect(throws: ConfigurationError(file: "functions/Fn/function.json", field: path, message)) {
            try parseFunction(json)
        }
    }

    @Test("The largest allowed values load")
    func largestAllowed() throws {
        let host = try parseHost(#"{ "extensions": { "kafka": { "maxBatchSize": 10000, "subscriberIntervalInSeconds": 300 } }, "functionTimeout": "1.00:00:00" }"#)
        #expect(host.kafka.maxBatchSize == 10_000)
        #expect(host.functionTimeoutSeconds == 86_400)
        let function = try parseFunction(trigger(#", "maxConcurrency": 1024, "maxQueuedMessages": 100000"#))
        #expect(function.trigger.maxQueuedMessages == 100_000)
    }
}

/// Fields the host does not read are warned about, never refused.
@Suite("Configuration warnings", .timeLimit(.minutes(10)))
struct ConfigurationWarningTests {
    @Test("An unknown field is a warning naming the nearest known one")
    func unknownFieldNearestName() throws {
        let function = try parseFunction(#"{ "entrypoint": "run", "scriptFle": "libFn.so", "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t", "dataTyp": "string", "zzzzzzzz": 1 } ] }"#)
        #expect(function.warnings.map(\.description).sorted() == [
            "functions/Fn/function.json: bindings[0].dataTyp: unknown field, ignored; did you mean 'dataType'?",
            "functions/Fn/function.json: bindings[0].zzzzzzzz: unknown field, ignored",
            "functions/Fn/function.json: scriptFle: unknown field, ignored; did you mean 'scriptFile'?",
        ])
        #expect(function.trigger.dataType == .binary)
    }

    @Test("Azure fields swiftfunc knows but does not support say so")
    func unsupportedAzureFields() throws {
        let function = try parseFunction(#"""
            { "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t", "keyDataType": "string", "lagThreshold": 1000 },
                            { "type": "kafka", "direction": "out", "brokerList": "b", "topic": "o", "enableIdempotence": true } ] }
            """#)
        let warnings = Dictionary(uniqueKeysWithValues: function.warnings.map { ($0.field, $0.message) })
        #expect(warnings["bindings[0].keyDataType"] == "is not supported yet and is ignored; keys are always bytes (the function decodes them)")
        #expect(warnings["bindings[0].lagThreshold"]?.contains("does not scale out") == true)
        // The output binding's producer fields are read (OutputSettlementTests), so not warned about.
        #expect(warnings["bindings[1].enableIdempotence"] == nil)
        #expect(warnings.count == 2)
    }

    @Test("host.json: unknown fields warn, Azure's own sections pass quietly, and keys are matched in any case")
    func hostWarnings() throws {
        let host = try parseHost(#"""
            { "version": "2.0", "extensionBundle": { "id": "Microsoft.Azure.Functions.ExtensionBundle" },
              "logging": { "logLevel": { "default": "Information" }, "applicationInsights": {} },
              "extensions": { "kafka": { "MaxBatchSize": 8, "maxBatchSze": 9, "executorChannelCapacity": 1 }, "http": {} },
              "swiftfunc": { "maxCrashesPerMesage": 2 } }
            """#)
        #expect(host.kafka.maxBatchSize == 8)
        #expect(host.warnings.map(\.description).sorted() == [
            "host.json: extensions.kafka.maxBatchSze: unknown field, ignored; did you mean 'maxBatchSize'?",
            "host.json: swiftfunc.maxCrashesPerMesage: unknown field, ignored; did you mean 'maxCrashesPerMessage'?",
        ])
    }

    @Test("The host logs each warning when it starts, and the function still runs")
    func warningsAreLogged() throws {
        let broker = try EmbeddedBroker()
        let name = uniqueName("Warned")
        let json = try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: uniqueName("t"), group: name, triggerFields: #""consumerGroupp": "x""#)
        let hosted = try HostedApp(broker: broker, hostJSON: #"{ "version": "2.0", "extensions": { "kafka": { "maxBatchSze": 4 } } }"#,
                                   functions: [(name, json)], start: .started)
        defer { hosted.stop() }
        #expect(hosted.report(name)?.status == .running)
        #expect(hosted.log.contains("host.json: extensions.kafka.maxBatchSze: unknown field, ignored; did you mean 'maxBatchSize'?"))
        #expect(hosted.log.contains("functions/\(name)/function.json: bindings[0].consumerGroupp: unknown field, ignored; did you mean 'consumerGroup'?"))
    }
}

/// File paths in bindings are resolved like `scriptFile`, and a wrong one is named at load.
@Suite("Configuration paths", .timeLimit(.minutes(10)))
struct ConfigurationPathTests {
    @Test("Relative TLS paths are resolved against the function's folder")
    func relativeTLSPaths() throws {
        let root = try ScriptRoot()
        let folder = root.url.appendingPathComponent("functions/Fn")
        try root.write("functions/Fn/certs/ca.pem", "CA")
        try root.write("functions/Fn/certs/client.pem", "CERT")
        try root.write("shared/client.key", "KEY")
        let function = try parseFunction(trigger(#", "protocol": "ssl", "sslCaLocation": "certs/ca.pem", "sslCertificateLocation": "./certs/client.pem", "sslKeyLocation": "../../shared/client.key""#),
                                         directory: folder)
        let connection = function.trigger.connection
        let base = root.url.standardizedFileURL.path
        #expect(connection.sslCaLocation == "\(base)/functions/Fn/certs/ca.pem")
        #expect(connection.sslCertificateLocation == "\(base)/functions/Fn/certs/client.pem")
        #expect(connection.sslKeyLocation == "\(base)/shared/client.key")
        // librdkafka's "probe" (find the system's CA certificates) is not a path.
        let probing = try parseFunction(trigger(#", "sslCaLocation": "probe""#), directory: folder)
        #expect(probing.trigger.connection.sslCaLocation == "probe")
    }

    @Test("A path to nothing is an error naming the field and the path tried")
    func missingFile() throws {
        let root = try ScriptRoot()
        let folder = root.url.appendingPathComponent("functions/Fn")
        let base = root.url.standardizedFileURL.path
        #expect(throws: ConfigurationError(file: "functions/Fn/function.json", field: "bindings[0].sslKeyLocation",
                                           "'\(base)/functions/Fn/missing.key' does not exist (a relative path is resolved against the function's folder functions/Fn/)")) {
            try parseFunction(trigger(#", "sslKeyLocation": "missing.key""#), directory: folder)
        }
        #expect(throws: ConfigurationError(file: "functions/Fn/function.json", field: "bindings[1].sslCaLocation", "'/no/such/ca.pem' does not exist")) {
            try parseFunction(#"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t" }, { "type": "kafka", "direction": "out", "brokerList": "b", "topic": "o", "sslCaLocation": "/no/such/ca.pem" } ] }"#, directory: folder)
        }
    }

    @Test("host.json's librdkafka file properties (keytab, certificates) are resolved against the script root")
    func hostLibrdkafkaPaths() throws {
        let root = try ScriptRoot()
        try root.write("secrets/kafka.keytab", "KEYTAB")
        let host = try parseHost(#"{ "extensions": { "kafka": { "librdkafka": { "sasl.kerberos.keytab": "secrets/kafka.keytab", "client.rack": "r1" } } } }"#, scriptRoot: root.url)
        #expect(host.kafka.librdkafka["sasl.kerberos.keytab"] == root.url.standardizedFileURL.path + "/secrets/kafka.keytab")
        #expect(host.kafka.librdkafka["client.rack"] == "r1")
        #expect(throws: ConfigurationError(file: "host.json", field: "extensions.kafka.librdkafka.ssl.ca.location",
                                           "'\(root.url.standardizedFileURL.path)/ca.pem' does not exist (a relative path is resolved against the script root)")) {
            try parseHost(#"{ "extensions": { "kafka": { "librdkafka": { "ssl.ca.location": "ca.pem" } } } }"#, scriptRoot: root.url)
        }
    }
}

/// A configuration the host cannot use stops `swiftfunc start` once, not in a restart loop.
@Suite("Configuration errors stop the supervisor", .timeLimit(.minutes(10)))
struct ConfigurationErrorExitTests {
    @Test("host.json with maxBatchSize 2000000000: start exits 64 at once, naming the field and range, without starting a worker")
    func hostJSONOutOfRange() throws {
        let root = try ScriptRoot(hostJSON: #"{ "version": "2.0", "extensions": { "kafka": { "maxBatchSize": 2000000000 } } }"#)
        let host = try ChildProcess(TestPaths.swiftfunc, ["start", "--script-root", root.url.path])
        defer { _ = try? host.stop(signal: SIGKILL) }
        try waitUntil("start to exit", timeout: 30) { !host.process.isRunning }
        #expect(host.process.terminationStatus == HostSupervisor.configurationErrorStatus)
        #expect(host.stderr.contains("host.json: extensions.kafka.maxBatchSize: must be from 1 to 10000, not 2000000000"))
        #expect(!host.stderr.contains("Restarting"))
    }

    @Test("A worker that cannot load its functions exits 64 and the supervisor reports it and does not restart it")
    func workerConfigurationError() throws {
        let root = try ScriptRoot()
        try FileManager.default.removeItem(at: root.url.appendingPathComponent("functions"))
        let host = try ChildProcess(TestPaths.swiftfunc, ["start", "--script-root", root.url.path])
        defer { _ = try? host.stop(signal: SIGKILL) }
        try waitUntil("start to exit", timeout: 30) { !host.process.isRunning }
        #expect(host.process.terminationStatus == HostSupervisor.configurationErrorStatus)
        #expect(host.stderr.contains("there is no functions/ folder"))
        #expect(host.stderr.contains("not restarting it"))
        #expect(!host.stderr.contains("Restarting"))
    }
}

/// Azure's oAuthBearer fields, as librdkafka's sasl.oauthbearer properties.
@Suite("OAuth bearer", .timeLimit(.minutes(10)))
struct OAuthBearerTests {
    private let oidcBinding = #"""
        , "protocol": "SaslSsl", "oAuthBearerMethod": "OIDC", "oAuthBearerClientId": "ClientIdSetting",
        "oAuthBearerClientSecret": "%ClientSecret%", "oAuthBearerScope": "kafka", "oAuthBearerTokenEndpointUrl": "https://login.example.com/oauth2/token",
        "oAuthBearerExtensions": "logicalCluster=lkc-1,identityPoolId=pool-2"
        """#

    @Test("oidc maps to sasl.mechanisms OAUTHBEARER and the sasl.oauthbearer properties, secrets from app settings")
    func oidcMapping() throws {
        let function = try parseFunction(trigger(oidcBinding), environment: ["ClientIdSetting": "my-client", "ClientSecret": "s3cret"])
        let properties = Dictionary(function.trigger.connection.librdkafkaProperties, uniquingKeysWith: { $1 })
        #expect(properties == [
            "bootstrap.servers": "b:9092", "security.protocol": "sasl_ssl", "sasl.mechanisms": "OAUTHBEARER",
            "sasl.oauthbearer.method": "oidc", "sasl.oauthbearer.client.id": "my-client", "sasl.oauthbearer.client.secret": "s3cret",
            "sasl.oauthbearer.scope": "kafka", "sasl.oauthbearer.token.endpoint.url": "https://login.example.com/oauth2/token",
            "sasl.oauthbearer.extensions": "logicalCluster=lkc-1,identityPoolId=pool-2",
        ])
        #expect(function.warnings.isEmpty)
    }

    @Test("librdkafka accepts the configuration: a consumer and a producer are created with it (no broker needed); without OIDC in librdkafka the host says so, naming the field")
    func librdkafkaAccepts() throws {
        let function = try parseFunction(trigger(oidcBinding), environment: ["ClientIdSetting": "my-client", "ClientSecret": "s3cret"])
        guard OAuthBearer.librdkafkaSupportsOIDC else {
            // Debian 12's librdkafka 2.0.2 is built without libcurl: no OIDC at all.
            #expect {
                try function.checkSupportedByLibrdkafka()
            } throws: { error in
                let text = "\(error)"
                return text.hasPrefix("functions/Fn/function.json: bindings[0].oAuthBearerMethod: oidc needs a librdkafka built with libcurl and OpenSSL")
                    && text.contains("install a librdkafka with OIDC support")
            }
            return
        }
        try function.checkSupportedByLibrdkafka()
        for type in [RD_KAFKA_CONSUMER, RD_KAFKA_PRODUCER] {
            var properties = function.trigger.connection.librdkafkaProperties
            if type == RD_KAFKA_CONSUMER { properties.append(("group.id", "oauth-test")) }
            let client = try KafkaClient.make(type, configuration: try KafkaClient.makeConfiguration(properties, origin: "oauth test"))
            rd_kafka_destroy(client)
        }
    }

    @Test("Method default with librdkafka's unsecured JWT (development) creates clients on any librdkafka")
    func defaultMethodAccepted() throws {
        let function = try parseFunction(trigger(#", "protocol": "SaslPlaintext", "authenticationMode": "OAuthBearer", "oAuthBearerMethod": "default""#))
        #expect(function.trigger.connection.librdkafkaProperties.map(\.0) == ["bootstrap.servers", "security.protocol", "sasl.mechanisms"])
        try function.checkSupportedByLibrdkafka()
        let properties = function.trigger.connection.librdkafkaProperties + [
            ("enable.sasl.oauthbearer.unsecure.jwt", "true"), ("sasl.oauthbearer.config", "principal=dev scope=kafka"), ("group.id", "oauth-dev"),
        ]
        let client = try KafkaClient.make(RD_KAFKA_CONSUMER, configuration: try KafkaClient.makeConfiguration(properties, origin: "oauth test"))
        rd_kafka_destroy(client)
    }

    @Test("A function using oidc where librdkafka lacks it is reported not running, with the field; the embedded broker still runs it",
          .enabled(if: !OAuthBearer.librdkafkaSupportsOIDC, "this librdkafka has OIDC (2.8.0 built with libcurl): nothing to report"))
    func hostReportsMissingOIDC() throws {
        let broker = try EmbeddedBroker()
        let name = uniqueName("Oidc")
        let fields = #""oAuthBearerMethod": "oidc", "oAuthBearerClientId": "c", "oAuthBearerClientSecret": "s", "oAuthBearerTokenEndpointUrl": "https://login.example.com/token""#
        let hosted = try HostedApp(broker: broker, functions: [
            (name, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: uniqueName("t"), group: name, triggerFields: fields)),
        ], start: .started)
        defer { hosted.stop() }
        guard case .failed(let reason)? = hosted.report(name)?.status else {
            Issue.record("expected a failure, got \(String(describing: hosted.report(name)?.status))")
            return
        }
        #expect(reason.hasPrefix("functions/\(name)/function.json: bindings[0].oAuthBearerMethod: oidc needs a librdkafka built with libcurl"))
        let overridden = try FunctionAppHost(scriptRoot: hosted.root.url, environment: [:], logger: LogCapture().logger(), brokerOverride: broker.bootstrapServers)
        defer { overridden.stop() }
        #expect(try overridden.start().first?.status == .running)
    }

    @Test("oidc refuses a missing client id, secret or endpoint, a bad endpoint, bad extensions and another mechanism", arguments: [
        (#", "oAuthBearerMethod": "oidc", "oAuthBearerClientSecret": "s", "oAuthBearerTokenEndpointUrl": "https://x""#,
         "bindings[0].oAuthBearerClientId", "is required with oAuthBearerMethod oidc (an app setting name, %Setting%, or the value)"),
        (#", "oAuthBearerMethod": "oidc", "oAuthBearerClientId": "c", "oAuthBearerClientSecret": "s", "oAuthBearerTokenEndpointUrl": "login.example.com""#,
         "bindings[0].oAuthBearerTokenEndpointUrl", "must be an http(s) URL, not 'login.example.com'"),
        (#", "oAuthBearerMethod": "oidc", "oAuthBearerClientId": "c", "oAuthBearerClientSecret": "s", "oAuthBearerTokenEndpointUrl": "https://x", "oAuthBearerExtensions": "a=1,b""#,
         "bindings[0].oAuthBearerExtensions", "must be comma-separated key=value pairs (e.g. \"logicalCluster=lkc-1,identityPoolId=pool-2\"), not 'a=1,b'"),
        (#", "oAuthBearerMethod": "jwt""#, "bindings[0].oAuthBearerMethod", "unknown value 'jwt'; use oidc (tokens from oAuthBearerTokenEndpointUrl) or default"),
        (#", "oAuthBearerScope": "kafka""#, "bindings[0].oAuthBearerScope", "is used only with oAuthBearerMethod oidc; set \"oAuthBearerMethod\": \"oidc\" (librdkafka then fetches tokens from oAuthBearerTokenEndpointUrl)"),
        (#", "authenticationMode": "Plain", "oAuthBearerMethod": "oidc", "oAuthBearerClientId": "c", "oAuthBearerClientSecret": "s", "oAuthBearerTokenEndpointUrl": "https://x""#,
         "bindings[0].authenticationMode", "is plain, but oAuthBearerMethod oidc needs OAuthBearer (or no authenticationMode)"),
    ])
    func refusals(extra: String, field: String, message: String) throws {
        #expect(throws: ConfigurationError(file: "functions/Fn/function.json", field: field, message)) {
            try parseFunction(trigger(extra))
        }
    }

    @Test("An unset %Setting% for the client secret names the field and the setting")
    func unsetSecret() throws {
        #expect(throws: ConfigurationError(file: "functions/Fn/function.json", field: "bindings[0].oAuthBearerClientSecret",
                                           "setting 'ClientSecret' is not set; define it in the environment or in local.settings.json \"Values\"")) {
            try parseFunction(trigger(oidcBinding), environment: ["ClientIdSetting": "my-client"])
        }
    }

    @Test("Output bindings take the same fields; PEM certificates map to librdkafka's ssl.*.pem")
    func outputAndPEM() throws {
        let function = try parseFunction(#"""
            { "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t" },
              { "type": "kafka", "direction": "out", "brokerList": "b", "topic": "o", "authenticationMode": "OAuthBearer",
                "oAuthBearerMethod": "default", "sslCaPEM": "%CaPem%", "sslCertificatePEM": "CERT", "sslKeyPEM": "KEY" } ] }
            """#, environment: ["CaPem": "-----BEGIN CERTIFICATE-----"])
        let properties = Dictionary(function.outputs[0].connection.librdkafkaProperties, uniquingKeysWith: { $1 })
        #expect(properties["sasl.mechanisms"] == "OAUTHBEARER")
        #expect(properties["sasl.oauthbearer.method"] == nil)
        #expect(properties["ssl.ca.pem"] == "-----BEGIN CERTIFICATE-----")
        #expect(properties["ssl.certificate.pem"] == "CERT")
        #expect(properties["ssl.key.pem"] == "KEY")
    }
}
