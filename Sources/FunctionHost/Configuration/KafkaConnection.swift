/// How to reach a Kafka cluster: the broker list plus the authentication and TLS options of a
/// binding, mapped to the librdkafka properties they mean. Two bindings with equal connections
/// share one producer.
public struct KafkaConnection: Hashable, Sendable {
    public var brokerList: String
    public var authenticationMode: AuthenticationMode?
    public var securityProtocol: SecurityProtocol?
    public var username: String?
    public var password: String?
    public var sslCaLocation: String?
    public var sslCertificateLocation: String?
    public var sslKeyLocation: String?
    public var sslKeyPassword: String?

    public init(brokerList: String) {
        self.brokerList = brokerList
    }

    /// True when any authentication or TLS option is set.
    public var isSecured: Bool {
        authenticationMode != nil || securityProtocol != nil || username != nil || password != nil
            || sslCaLocation != nil || sslCertificateLocation != nil || sslKeyLocation != nil || sslKeyPassword != nil
    }

    /// The librdkafka properties for this connection, in a stable order.
    public var librdkafkaProperties: [(String, String)] {
        var properties = [("bootstrap.servers", brokerList)]
        if let securityProtocol { properties.append(("security.protocol", securityProtocol.librdkafkaValue)) }
        if let authenticationMode { properties.append(("sasl.mechanisms", authenticationMode.librdkafkaValue)) }
        if let username { properties.append(("sasl.username", username)) }
        if let password { properties.append(("sasl.password", password)) }
        if let sslCaLocation { properties.append(("ssl.ca.location", sslCaLocation)) }
        if let sslCertificateLocation { properties.append(("ssl.certificate.location", sslCertificateLocation)) }
        if let sslKeyLocation { properties.append(("ssl.key.location", sslKeyLocation)) }
        if let sslKeyPassword { properties.append(("ssl.key.password", sslKeyPassword)) }
        return properties
    }

    /// Reads `brokerList` and the auth/TLS fields of a binding.
    static func parse(_ binding: JSONObject, settings: AppSettings) throws -> KafkaConnection {
        func setting(_ key: String) throws -> String? {
            guard let value = try binding.string(key) else { return nil }
            return try settings.resolveSettingOrLiteral(value, file: binding.file, field: binding.fieldPath(key))
        }
        guard let brokerList = try setting("brokerList"), !brokerList.isEmpty else {
            throw binding.error("brokerList", "is required: the Kafka bootstrap servers (\"host:port,...\") or the name of an app setting holding them")
        }
        var connection = KafkaConnection(brokerList: brokerList)
        connection.authenticationMode = try binding.string("authenticationMode").flatMap {
            try AuthenticationMode.parse($0, in: binding, field: "authenticationMode")
        }
        connection.securityProtocol = try binding.string("protocol").flatMap {
            try SecurityProtocol.parse($0, in: binding, field: "protocol")
        }
        connection.username = try setting("username")
        connection.password = try setting("password")
        connection.sslCaLocation = try setting("sslCaLocation")
        connection.sslCertificateLocation = try setting("sslCertificateLocation")
        connection.sslKeyLocation = try setting("sslKeyLocation")
        connection.sslKeyPassword = try setting("sslKeyPassword")
        return connection
    }
}

/// Azure's `authenticationMode`, librdkafka's `sasl.mechanisms`.
public enum AuthenticationMode: String, CaseIterable, Sendable, AzureAuthenticationOption {
    case gssapi, plain, scramSha256, scramSha512, oauthBearer

    var librdkafkaValue: String {
        switch self {
        case .gssapi: "GSSAPI"
        case .plain: "PLAIN"
        case .scramSha256: "SCRAM-SHA-256"
        case .scramSha512: "SCRAM-SHA-512"
        case .oauthBearer: "OAUTHBEARER"
        }
    }

    static let choices = "Gssapi, Plain, ScramSha256, ScramSha512, OAuthBearer"
}

/// Azure's `protocol`, librdkafka's `security.protocol`.
public enum SecurityProtocol: String, CaseIterable, Sendable, AzureAuthenticationOption {
    case plaintext, ssl, saslPlaintext, saslSsl

    var librdkafkaValue: String {
        switch self {
        case .plaintext: "plaintext"
        case .ssl: "ssl"
        case .saslPlaintext: "sasl_plaintext"
        case .saslSsl: "sasl_ssl"
        }
    }

    static let choices = "Plaintext, Ssl, SaslPlaintext, SaslSsl"
}

/// An authentication option Azure spells in any case, where `NotSet` means librdkafka's default.
protocol AzureAuthenticationOption: CaseIterable, RawRepresentable where RawValue == String {
    var librdkafkaValue: String { get }
    /// The values, as Azure's documentation writes them, for error messages.
    static var choices: String { get }
}

extension AzureAuthenticationOption {
    /// `nil` for `NotSet`; accepts Azure's names and librdkafka's in any case.
    static func parse(_ text: String, in binding: JSONObject, field: String) throws -> Self? {
        let key = normalizedEnumValue(text)
        if key == "notset" || key.isEmpty { return nil }
        if let value = allCases.first(where: { normalizedEnumValue($0.rawValue) == key || normalizedEnumValue($0.librdkafkaValue) == key }) {
            return value
        }
        throw binding.error(field, "unknown value '\(text)'; use one of NotSet, \(choices)")
    }
}

/// Azure's samples spell enum values in any case and with or without separators
/// (`saslSsl`, `SASLSSL`, `sasl_ssl`); this is the form they are compared in.
func normalizedEnumValue(_ text: String) -> String {
    String(text.lowercased().filter { $0 != "_" && $0 != "-" && $0 != " " })
}
