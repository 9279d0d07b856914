import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOPosix

/// One request passed from the supervisor's endpoint to the worker's, over loopback HTTP/1.1
/// (a connection per request: a request is an operator's or a probe's, never a stream).
enum WorkerConnection {
    /// Why a request got no response from the worker.
    enum Failure: Error {
        /// Nothing listens on the worker's port: it is starting, ending or gone.
        case unreachable
        /// The worker took the connection but gave no whole response within the timeout (or
        /// closed it first): hung or overloaded, unless it ended meanwhile.
        case noAnswer
    }

    /// Headers that belong to one connection, not to the request or response: not passed on.
    private static let hopByHop: Set<String> = ["connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"]

    /// Sends `request` (with its collected `body`) to the worker on `port`.
    /// - Returns: the worker's response.
    /// - Throws: ``Failure``: `unreachable` when nothing takes the connection, `noAnswer` when
    ///   the worker does not answer within `timeout`.
    static func forward(_ request: Request, body: ByteBuffer, to port: Int, timeout: TimeAmount) async throws(Failure) -> Response {
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(2))
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw .unreachable
        }
        do {
            return try await exchange(request, body: body, over: channel, port: port, timeout: timeout)
        } catch {
            throw .noAnswer
        }
    }

    private static func exchange(_ request: Request, body: ByteBuffer, over channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>,
                                 port: Int, timeout: TimeAmount) async throws -> Response {
        // A worker that stops answering mid-way (it was killed, or hangs) ends the exchange.
        let deadline = channel.channel.eventLoop.scheduleTask(in: timeout) { channel.channel.close(promise: nil) }
        defer { deadline.cancel() }
        var headers = HTTPHeaders()
        for field in request.headers where !hopByHop.contains(field.name.canonicalName) {
            headers.add(name: field.name.rawName, value: field.value)
        }
        headers.add(name: "host", value: "127.0.0.1:\(port)")
        headers.add(name: "connection", value: "close")
        headers.add(name: "content-length", value: "\(body.readableBytes)")
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method.rawValue), uri: request.uri.string, headers: headers)
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(.head(head))
            if body.readableBytes > 0 { try await outbound.write(.body(.byteBuffer(body))) }
            try await outbound.write(.end(nil))
            var responseHead: HTTPResponseHead?
            var responseBody = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let received):
                    responseHead = received
                case .body(var chunk):
                    responseBody.writeBuffer(&chunk)
                case .end:
                    guard let responseHead else { throw Failure.noAnswer }
                    var fields = HTTPFields()
                    for (name, value) in responseHead.headers where !hopByHop.contains(name.lowercased()) {
                        if let fieldName = HTTPField.Name(name) { fields.append(HTTPField(name: fieldName, value: value)) }
                    }
                    return Response(status: HTTPResponse.Status(code: Int(responseHead.status.code)), headers: fields,
                                    body: ResponseBody(byteBuffer: responseBody))
                }
            }
            throw Failure.noAnswer
        }
    }
}
