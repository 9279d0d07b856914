import CRdKafka
import Foundation

/// Azure's `oAuthBearer*` binding fields: SASL OAUTHBEARER, mapped to librdkafka's
/// `sasl.oauthbearer.*` properties. With method `oidc` librdkafka itself fetches and refreshes
/// tokens from the token endpoint (client credentials grant), so the host needs no callback.
///
/// The client id, secret and endpoint are read like `password`: `%Setting%`, or a bare setting name.
public struct OAuthBearer: Hashable, Sendable {
    public enum Method: String, Hashable, Sendable {
        /// librdkafka's `default`: a token set by the application, or an unsecured JWT for
        /// development (`enable.sasl.oauthbearer.unsecure.jwt` through host.json's `librdkafka`).
        case `default`
        /// OpenID Connect client credentials: librdkafka fetches tokens from the token endpoint.
        case oidc
    }

    public var method: Method
    public var clientId: String?
    public var clientSecret: String?
    public var scope: String?
    public var tokenEndpointUrl: String?
    /// `key=value,key=value`, sent to the broker with the token.
    public var extensions: String?

    static let fieldNames = [
        "oAuthBearerMethod", "oAuthBearerClientId", "oAuthBearerClientSecret", "oAuthBearerScope",
        "oAuthBearerTokenEndpointUrl", "oAuthBearerExtensions",
    ]

    /// With method `default` only `sasl.mechanisms` is set (librdkafka's default method needs no
    /// property, and builds without OIDC refuse every `sasl.oauthbearer.*` OIDC property).
    var librdkafkaProperties: [(String, String)] {
        guard method == .oidc else { return [] }
        var properties = [("sasl.oauthbearer.method", method.rawValue)]
        if let clientId { properties.append(("sasl.oauthbearer.client.id", clientId)) }
        if let clientSecret { properties.append(("sasl.oauthbearer.client.secret", clientSecret)) }
        if let scope { properties.append(("sasl.oauthbearer.scope", scope)) }
        if let tokenEndpointUrl { properties.append(("sasl.oauthbearer.token.endpoint.url", tokenEndpointUrl)) }
        if let extensions { properties.append(("sasl.oauthbearer.extensions", extensions)) }
        return properties
    }

    /// Nil when the binding has no `oAuthBearer*` field.
    /// - Throws: ``ConfigurationError`` for an unknown method, an `oidc` method without its client
    ///   id, secret or token endpoint, a token endpoint that is not an http(s) URL, or
    ///   extensions that are not `key=value` pairs.
    static func parse(_ binding: JSONObject, settings: AppSettings) throws -> OAuthBearer? {
        guard fieldNames.contains(where: binding.has) else { return nil }
        func setting(_ key: String) throws -> String? {
            guard let value = try binding.string(key) else { return nil }
            let resolved = try settings.resolveSettingOrLiteral(value, file: binding.file, field: binding.fieldPath(key))
            return resolved.isEmpty ? nil : resolved
        }
        let method: Method
        switch try binding.string("oAuthBearerMethod").map(normalizedEnumValue) {
        case nil, "default"?: method = .default
        case "oidc"?: method = .oidc
        case let other?: throw binding.error("oAuthBearerMethod", "unknown value '\(other)'; use oidc (tokens from oAuthBearerTokenEndpointUrl) or default")
        }
        var oauth = OAuthBearer(method: method)
        oauth.clientId = try setting("oAuthBearerClientId")
        oauth.clientSecret = try setting("oAuthBearerClientSecret")
        oauth.scope = try setting("oAuthBearerScope")
        oauth.tokenEndpointUrl = try setting("oAuthBearerTokenEndpointUrl")
        oauth.extensions = try setting("oAuthBearerExtensions")
        if method == .default {
            if let key = fieldNames.dropFirst().first(where: binding.has) {
                throw binding.error(key, "is used only with oAuthBearerMethod oidc; set \"oAuthBearerMethod\": \"oidc\" (librdkafka then fetches tokens from oAuthBearerTokenEndpointUrl)")
            }
        }
        if method == .oidc {
            for (key, value) in [("oAuthBearerClientId", oauth.clientId), ("oAuthBearerClientSecret", oauth.clientSecret),
                                 ("oAuthBearerTokenEndpointUrl", oauth.tokenEndpointUrl)] where value == nil {
                throw binding.error(key, "is required with oAuthBearerMethod oidc (an app setting name, %Setting%, or the value)")
            }
        }
        if let url = oauth.tokenEndpointUrl, !(url.lowercased().hasPrefix("https://") || url.lowercased().hasPrefix("http://")) {
            throw binding.error("oAuthBearerTokenEndpointUrl", "must be an http(s) URL, not '\(url)'")
        }
        if let extensions = oauth.extensions {
            for pair in extensions.split(separator: ",", omittingEmptySubsequences: false) {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw binding.error("oAuthBearerExtensions", "must be comma-separated key=value pairs (e.g. \"logicalCluster=lkc-1,identityPoolId=pool-2\"), not '\(extensions)'")
                }
            }
        }
        return oauth
    }

    /// Whether this process's librdkafka can fetch OIDC tokens: it needs libcurl and OpenSSL at
    /// build time, and Debian 12's librdkafka 2.0.2 was built without them (it refuses every
    /// `sasl.oauthbearer.*` OIDC property).
    public static let librdkafkaSupportsOIDC: Bool = {
        let configuration = rd_kafka_conf_new()
        defer { rd_kafka_conf_destroy(configuration) }
        var error = [CChar](repeating: 0, count: 256)
        return rd_kafka_conf_set(configuration, "sasl.oauthbearer.method", "oidc", &error, error.count) == RD_KAFKA_CONF_OK
    }()

    /// Refuses method `oidc` when this librdkafka cannot do it, naming the field, before a
    /// client is made (librdkafka's own refusal would not name function.json's field).
    /// - Parameter path: the binding's path in `file` (`bindings[0]`).
    func checkSupported(file: String, path: String) throws {
        guard method == .oidc, !Self.librdkafkaSupportsOIDC else { return }
        throw ConfigurationError(file: file, field: "\(path).oAuthBearerMethod",
            "oidc needs a librdkafka built with libcurl and OpenSSL, and this one (\(String(cString: rd_kafka_version_str()))) was built without them; install a librdkafka with OIDC support (librdkafka 1.9 or later built with libcurl), or run against the embedded broker, which ignores authentication")
    }

    public init(method: Method) {
        self.method = method
    }
}
