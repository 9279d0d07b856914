import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// A schema as the registry holds it, ready to decode or encode with.
enum RegisteredSchema: Sendable {
    case avro(AvroSchema)
    /// JSON Schema: the record is JSON text already (the schema itself is not needed to read it).
    case json
    case protobuf(ProtobufSchema)
}

/// Why a schema could not be had.
enum SchemaLookupFailure: Error {
    /// The registry answered that it has no such schema: retrying will not help.
    case notFound(String)
    /// The registry has it, but it cannot be used (an Avro schema avro-c refuses, a `.proto`
    /// libprotobuf refuses).
    case unusable(String)
    /// The registry could not be asked (down, timed out, refused the credentials): ask again later.
    case unavailable(String)

    var message: String {
        switch self {
        case .notFound(let text), .unusable(let text), .unavailable(let text): text
        }
    }
}

/// Talks to a Confluent-compatible schema registry over HTTP(S) (Foundation's URLSession, on
/// Linux libcurl: no package to build; TLS certificates are verified against the system's
/// trust store). Schemas are fetched once per id and kept for the life of the process (an id's
/// schema never changes). One client per registry location, shared by every thread and function.
final class SchemaRegistryClient: Sendable {
    let location: SchemaRegistryLocation
    private let schemas = Mutex<[Int32: RegisteredSchema]>([:])
    /// Referenced schemas by "subject/version", kept like schemas: a version never changes.
    private let referenced = Mutex<[String: Referenced]>([:])
    private let session: URLSession
    /// How long one request may take: the consuming thread waits for it.
    static let requestTimeoutSeconds: TimeInterval = 5

    private static let clients = Mutex<[SchemaRegistryLocation: SchemaRegistryClient]>([:])

    /// The client for `location`, made once per process.
    static func shared(_ location: SchemaRegistryLocation) -> SchemaRegistryClient {
        clients.withLock { clients in
            if let client = clients[location] { return client }
            let client = SchemaRegistryClient(location: location)
            clients[location] = client
            return client
        }
    }

    private init(location: SchemaRegistryLocation) {
        self.location = location
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = Self.requestTimeoutSeconds
        configuration.timeoutIntervalForResource = Self.requestTimeoutSeconds * 2
        session = URLSession(configuration: configuration)
    }

    /// The schema registered under `id` (`GET /schemas/ids/{id}`), from the cache after the first time.
    func schema(id: Int32) throws(SchemaLookupFailure) -> RegisteredSchema {
        if let known = schemas.withLock({ $0[id] }) { return known }
        let answer = try request("GET", path: "schemas/ids/\(id)", what: "schema id \(id)")
        let schema = try registeredSchema(from: answer, id: id, what: "schema id \(id)")
        schemas.withLock { $0[id] = schema }
        return schema
    }

    /// Registers `schema` (of `type` AVRO or PROTOBUF) under `subject` (`POST /subjects/{subject}/versions`;
    /// the registry answers with the existing id when it has it already) and returns its id.
    func register(schema: String, type: String = "AVRO", subject: String) throws(SchemaLookupFailure) -> Int32 {
        let body = try? JSONSerialization.data(withJSONObject: type == "AVRO" ? ["schema": schema] : ["schema": schema, "schemaType": type])
        let answer = try request("POST", path: "subjects/\(Self.escaped(subject))/versions", body: body, what: "registering subject '\(subject)'")
        guard let id = answer["id"] as? Int else {
            throw .unusable("the registry at \(location.url.absoluteString) answered the registration of '\(subject)' without an id")
        }
        return Int32(truncatingIfNeeded: id)
    }

    /// The newest schema of `subject` and its id (`GET /subjects/{subject}/versions/latest`).
    func latest(subject: String) throws(SchemaLookupFailure) -> (id: Int32, schema: RegisteredSchema) {
        let what = "the latest schema of subject '\(subject)'"
        let answer = try request("GET", path: "subjects/\(Self.escaped(subject))/versions/latest", what: what)
        guard let id = answer["id"] as? Int else {
            throw .unusable("the registry at \(location.url.absoluteString) answered \(what) without an id")
        }
        let schema = try registeredSchema(from: answer, id: Int32(truncatingIfNeeded: id), what: what)
        schemas.withLock { $0[Int32(truncatingIfNeeded: id)] = schema }
        return (Int32(truncatingIfNeeded: id), schema)
    }

    private func registeredSchema(from answer: [String: Any], id: Int32, what: String) throws(SchemaLookupFailure) -> RegisteredSchema {
        guard let text = answer["schema"] as? String else { throw .unusable("the registry's answer for \(what) has no schema") }
        let type = (answer["schemaType"] as? String)?.uppercased() ?? "AVRO"
        // Schema references (other subjects' schemas this one uses): fetched by subject and
        // version, the ones they use first, so each file's dependencies come before it. A JSON
        // Schema record is handed over as its JSON: its references are not needed.
        var dependencies: [(name: String, text: String)] = []
        if type != "JSON" { try resolve(Self.references(answer), into: &dependencies, what: what) }
        switch type {
        case "JSON":
            return .json
        case "PROTOBUF":
            do {
                return .protobuf(try ProtobufSchema(text: text, dependencies: dependencies, name: "schema-\(id).proto"))
            } catch {
                throw .unusable("\(what) is not a Protobuf schema libprotobuf accepts: \(error.message)")
            }
        case "AVRO":
            do {
                return .avro(try AvroSchema(json: text, references: dependencies.map(\.text)))
            } catch {
                throw .unusable("\(what) is not an Avro schema avro-c accepts: \(error.message)")
            }
        case let other:
            throw .unusable("\(what) has schema type \(other), which swiftfunc does not read")
        }
    }

    /// A referenced schema: its text and the references it has itself.
    private struct Referenced: Sendable {
        let text: String
        let references: [Reference]
    }

    /// One entry of a registry answer's `references`: the import name (Protobuf) or type name
    /// (Avro), and where the schema is registered.
    private struct Reference: Sendable {
        let name: String
        let subject: String
        let version: Int
    }

    private static func references(_ answer: [String: Any]) -> [Reference] {
        (answer["references"] as? [[String: Any]] ?? []).compactMap { entry in
            guard let name = entry["name"] as? String, let subject = entry["subject"] as? String else { return nil }
            return Reference(name: name, subject: subject, version: entry["version"] as? Int ?? -1)
        }
    }

    /// Adds `references` and what they reference to `dependencies` (each name once, used ones first).
    /// A reference the registry does not have makes the schema not found; one it cannot be asked
    /// for makes the caller wait, as for the schema itself.
    private func resolve(_ references: [Reference], into dependencies: inout [(name: String, text: String)], what: String) throws(SchemaLookupFailure) {
        for reference in references where !dependencies.contains(where: { $0.name == reference.name }) {
            let version = reference.version < 0 ? "latest" : String(reference.version)
            let key = "\(reference.subject)/\(version)"
            let found: Referenced
            if let known = referenced.withLock({ $0[key] }) {
                found = known
            } else {
                let referenceWhat = "version \(version) of subject '\(reference.subject)' (referenced as '\(reference.name)' by \(what))"
                let answer = try request("GET", path: "subjects/\(Self.escaped(reference.subject))/versions/\(version)", what: referenceWhat)
                guard let text = answer["schema"] as? String else { throw .unusable("the registry's answer for \(referenceWhat) has no schema") }
                found = Referenced(text: text, references: Self.references(answer))
                if reference.version >= 0 { referenced.withLock { $0[key] = found } }
            }
            try resolve(found.references, into: &dependencies, what: what)
            dependencies.append((reference.name, found.text))
        }
    }

    private static func escaped(_ component: String) -> String {
        component.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? component
    }

    /// One request, waited for; the answer's JSON object.
    private func request(_ method: String, path: String, body: Data? = nil, what: String) throws(SchemaLookupFailure) -> [String: Any] {
        let base = location.url.absoluteString.hasSuffix("/") ? location.url.absoluteString : location.url.absoluteString + "/"
        guard let url = URL(string: base + path) else { throw .unusable("cannot make a URL of \(base + path)") }
        var request = URLRequest(url: url, timeoutInterval: Self.requestTimeoutSeconds)
        request.httpMethod = method
        request.setValue("application/vnd.schemaregistry.v1+json, application/json", forHTTPHeaderField: "Accept")
        if let body {
            request.httpBody = body
            request.setValue("application/vnd.schemaregistry.v1+json", forHTTPHeaderField: "Content-Type")
        }
        if let username = location.username, let password = location.password {
            request.setValue("Basic " + Data("\(username):\(password)".utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
        }
        let exchange = Exchange()
        session.dataTask(with: request) { data, response, error in
            exchange.finish(data: data, status: (response as? HTTPURLResponse)?.statusCode, error: error)
        }.resume()
        exchange.done.wait()
        let registry = "the schema registry at \(location.url.absoluteString)"
        let (data, status, error) = exchange.result
        if let error { throw .unavailable("\(registry) could not be asked for \(what): \(error.localizedDescription)") }
        guard let status else { throw .unavailable("\(registry) gave no answer for \(what)") }
        let object = data.flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any]
        let detail = (object?["message"] as? String).map { ": \($0)" } ?? ""
        switch status {
        case 200..<300:
            guard let object else { throw .unusable("\(registry) answered \(what) with something that is not a JSON object") }
            return object
        case 404:
            throw .notFound("\(registry) has no \(what) (HTTP 404\(detail))")
        case 401, 403:
            throw .unavailable("\(registry) refused the credentials asking for \(what) (HTTP \(status)\(detail)); check the app settings named by schemaRegistryUsername and schemaRegistryPassword")
        case 400..<500:
            throw .unusable("\(registry) refused \(what) (HTTP \(status)\(detail))")
        default:
            throw .unavailable("\(registry) failed answering \(what) (HTTP \(status)\(detail))")
        }
    }

    /// One request's answer, handed from URLSession's thread to the waiting one.
    private final class Exchange: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        private(set) var result: (Data?, Int?, (any Error)?) = (nil, nil, nil)

        func finish(data: Data?, status: Int?, error: (any Error)?) {
            result = (data, status, error)
            done.signal()
        }
    }
}
