import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A response from the host's HTTP endpoint.
struct HTTPAnswer {
    var status: Int
    var body: String

    /// The body parsed as a JSON object (or array).
    func json() throws -> Any { try JSONSerialization.jsonObject(with: Data(body.utf8)) }

    /// In a Prometheus text body: the value of the sample `name{labels}` whose labels include
    /// every one of `labels` (summed over the samples that match).
    func sample(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        var total: Double?
        for line in body.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            let metric = series.firstIndex(of: "{").map { series[..<$0] } ?? series
            guard metric == name else { continue }
            let wanted = labels.allSatisfy { series.contains("\($0.key)=\"\($0.value)\"") }
            if wanted { total = (total ?? 0) + value }
        }
        return total
    }
}

/// Real HTTP requests over loopback (URLSession), for the tests of the operations endpoint.
enum HTTP {
    static func get(_ url: String, headers: [String: String] = [:]) throws -> HTTPAnswer {
        try request("GET", url, headers: headers)
    }

    static func post(_ url: String, json: String = "", headers: [String: String] = [:]) throws -> HTTPAnswer {
        try request("POST", url, body: Data(json.utf8), headers: headers.merging(["content-type": "application/json"]) { $1 })
    }

    static func request(_ method: String, _ url: String, body: Data? = nil, headers: [String: String] = [:], timeout: Double = 60) throws -> HTTPAnswer {
        var request = URLRequest(url: URL(string: url)!, timeoutInterval: timeout)
        request.httpMethod = method
        request.httpBody = body
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<HTTPAnswer, any Error> = .failure(TestSetupError("no answer"))
        let task = URLSession.shared.dataTask(with: request) { data, response, error in
            if let error {
                result = .failure(TestSetupError("\(method) \(url): \(error)"))
            } else {
                result = .success(HTTPAnswer(status: (response as? HTTPURLResponse)?.statusCode ?? 0,
                                             body: String(decoding: data ?? Data(), as: UTF8.self)))
            }
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + timeout + 5) == .timedOut { throw TestSetupError("\(method) \(url): no answer within \(Int(timeout)) s") }
        return try result.get()
    }
}

/// A loopback port nothing listens on right now (for the `swiftfunc` binary, whose `--port 0`
/// turns the endpoint off).
func freePort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
    }
    guard bound else { throw TestSetupError("cannot find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Holds a loopback port open (listening) until closed: a port in use.
final class OccupiedPort {
    let port: Int
    private let socket: Int32

    init() throws {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.socket = socket
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, length) == 0 && listen(socket, 1) == 0 && getsockname(socket, $0, &length) == 0
            }
        }
        guard listening else {
            close(socket)
            throw TestSetupError("cannot listen on a loopback port")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(socket) }
}
