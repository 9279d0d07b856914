import Foundation

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
    /// `sslCaPEM`, `sslCertificatePEM`, `sslKeyPEM`: the certificates and key themselves, in PEM
    /// (usually from an app setting), librdkafka's `ssl.ca.pem`, `ssl.certificate.pem`, `ssl.key.pem`.
    public var sslCaPem: String?
    public var sslCertificatePem: String?
    public var sslKeyPem: String?
    /// `oAuthBearer*`: SASL OAUTHBEARER, with tokens fetched by librdkafka from an OIDC endpoint.
    public var oauthBearer: OAuthBearer?

    public init(brokerList: String) {
        self.brokerList = brokerList
    }

    /// True when any authentication or TLS option is set.
    public var isSecured: Bool {
        authenticationMode != nil || securityProtocol != nil || username != nil || password != nil
            || sslCaLocation != nil || sslCertificateLocation != nil || sslKeyLocation != nil || sslKeyPassword != nil
            || sslCaPem != nil || sslCertificatePem != nil || sslKeyPem != nil || oauthBearer != nil
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
        if let sslCaPem { properties.append(("ssl.ca.pem", sslCaPem)) }
        if let sslCertificatePem { properties.append(("ssl.certificate.pem", sslCertificatePem)) }
        if let sslKeyPem { properties.append(("ssl.key.pem", sslKeyPem)) }
        if let oauthBearer { properties += oauthBearer.librdkafkaProperties }
        return properties
    }

    /// The fields of a binding this type reads (every binding has them).
    static let fieldNames = [
        "brokerList", "authenticationMode", "protocol", "username", "password", "sslCaLocation", "sslCertificateLocation",
        "sslKeyLocation", "sslKeyPassword", "sslCaPEM", "sslCertificatePEM", "sslKeyPEM",
    ] + OAuthBearer.fieldNames

    /// Azure's connection fields swiftfunc does not support yet, with what to do instead.
    static let unsupportedFields: [String: String] = [
        "sslCertificateandKeyPEM": "put the certificate in sslCertificatePEM and the key in sslKeyPEM",
        "keyDataType": "keys are always bytes (the function decodes them)",
    ]

    /// Reads `brokerList` and the auth/TLS fields of a binding.
    /// - Parameters:
    ///   - directory: the function's folder: relative TLS file paths are resolved against it.
    static func parse(_ binding: JSONObject, settings: AppSettings, directory: URL) throws -> KafkaConnection {
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
        func path(_ key: String) throws -> String? {
            guard let value = try setting(key), !value.isEmpty else { return nil }
            // librdkafka's "probe" looks for the system's CA certificates itself.
            if key == "sslCaLocation" && value == "probe" { return value }
            return try resolvePath(value, against: directory, folderName: "the function's folder functions/\(directory.lastPathComponent)/",
                                   file: binding.file, field: binding.fieldPath(key))
        }
        connection.sslCaLocation = try path("sslCaLocation")
        connection.sslCertificateLocation = try path("sslCertificateLocation")
        connection.sslKeyLocation = try path("sslKeyLocation")
        connection.sslKeyPassword = try setting("sslKeyPassword")
        connection.sslCaPem = try setting("sslCaPEM")
        connection.sslCertificatePem = try setting("sslCertificatePEM")
        connection.sslKeyPem = try setting("sslKeyPEM")
        connection.oauthBearer = try OAuthBearer.parse(binding, settings: settings)
        if connection.oauthBearer?.method == .oidc {
            switch connection.authenticationMode {
            case nil: connection.authenticationMode = .oauthBearer
            case .oauthBearer: break
            case let other?:
                throw binding.error("authenticationMode", "is \(other.rawValue), but oAuthBearerMethod oidc needs OAuthBearer (or no authenticationMode)")
            }
        }
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
