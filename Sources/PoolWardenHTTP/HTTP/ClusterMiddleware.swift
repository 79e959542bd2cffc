import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import PoolWardenCluster
import PoolWardenRuntime

/// The cluster's door into the HTTP layer, installed only with `cluster:`. A request from a peer
/// (a valid cluster key) is answered here like any other, never sent on; a lease request whose
/// token names another replica goes to that owner, its answer streamed back unchanged; a
/// cluster view and an operator's change reach every replica. The decisions and the peer client
/// are `PoolWardenCluster`'s; this only moves requests and answers between it and Hummingbird.
struct ClusterMiddleware: RouterMiddleware {
    typealias Context = WardenRequestContext
    private typealias Fallback = RouteFallbackMiddleware<Context>

    let peers: PeerClient
    let maxBodyBytes: Int
    let logger: Logger

    private static let keyField = HTTPField.Name(ClusterHeader.key)!
    private static let subjectField = HTTPField.Name(ClusterHeader.subject)!
    private static let replicasField = HTTPField.Name(ClusterHeader.replicas)!
    /// Not passed between client, replica and owner: they describe one connection, not the request
    /// (RFC 9110 section 7.6.1), or are written again by whoever sends the next hop.
    private static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host",
        "content-length", "expect", "date", "server", ClusterHeader.key.lowercased(), ClusterHeader.subject.lowercased(),
    ]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.headers[Self.keyField] != nil || request.headers[Self.subjectField] != nil {
            return try await fromPeer(request, context: context, next: next)
        }
        switch peers.settings.route(method: request.method.rawValue, path: request.uri.path, query: request.uri.query) {
        case .local:
            return try await next(request, context)
        case .forward(let owner):
            return try await forward(request, to: owner, context: context)
        case .ownerUnknown(let name):
            // Debug: any client can make up such a token, and must not fill the log with it.
            logger.debug("lease request for a replica not among the peers", metadata: ["owner": "\(name)", "path": "\(Fallback.shown(request.uri.path))"])
            return Fallback.problem(.leaseGone(reason: .replicaLost))
        case .view(let kind):
            return try await view(request, kind: kind, context: context, next: next)
        case .broadcast:
            return try await broadcast(request, context: context, next: next)
        case .revoke:
            return try await revoke(request, context: context, next: next)
        }
    }

    /// A peer's request: believed (its subject header included) only with the cluster key, and
    /// then answered locally. A client presenting these headers without the key is refused, so
    /// that nobody can claim another caller's certificate.
    private func fromPeer(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let key = request.headers[Self.keyField], peers.accepts(key: key) else {
            // Counted nowhere else, but any client can send it: debug, not to fill the log.
            logger.debug("refused a request with cluster headers but no valid cluster key", metadata: ["path": "\(Fallback.shown(request.uri.path))"])
            return Fallback.problem(.unauthorized("invalid cluster key"))
        }
        let subject = request.headers[Self.subjectField].flatMap(ClusterHeader.decodeSubject)
        var head = request.head
        head.headerFields[Self.keyField] = nil
        head.headerFields[Self.subjectField] = nil
        // The connection's own certificate is the sending replica's, never the caller's.
        return try await RequestPeer.$subject.withValue(subject) {
            try await next(Request(head: head, body: request.body), context)
        }
    }

    private func forward(_ request: Request, to owner: ClusterSettings.Peer, context: Context) async throws -> Response {
        // Read whole (within max_body_bytes, as the owner would) before it goes on: a request body
        // streamed to the owner, which answered before reading it all (a 413), was iterated a
        // second time by Hummingbird once the answer went back, which traps the process.
        guard let collected = try await wholeBody(request) else { return Fallback.problem(.payloadTooLarge(limit: maxBodyBytes)) }
        let body: HTTPClientRequest.Body? = collected.readableBytes == 0 ? nil : .bytes(collected)
        let peers = peers
        let method = request.method.rawValue
        let target = request.head.path ?? request.uri.path
        let headers = Self.forwardable(request.headers)
        let subject = RequestPeer.subject
        // The owner learns of a hang-up only if this end lets go of its connection: the owner's
        // own watch then cancels a waiting borrow or a running statement.
        let hangUp = await ClientHangUpHandler.hangUp(of: context.channel)
        let exchange = Task {
            try await peers.forward(to: owner, method: method, target: target, headers: headers, subject: subject, body: body)
        }
        let watch = hangUp?.onHangUp { exchange.cancel() }
        defer { if let watch { hangUp?.remove(watch) } }
        let response: HTTPClientResponse
        switch await exchange.result {
        case .success(let answer):
            response = answer
        case .failure(let error):
            let failure = error as? PeerFailure ?? PeerFailure(reachable: false, "\(error)")
            if hangUp?.hasHungUp != true {
                logger.warning("lease owner unreachable", metadata: [
                    "owner": "\(owner.name)", "error": "\(failure)", "path": "\(Fallback.shown(request.uri.path))",
                ])
            }
            return Fallback.problem(.leaseGone(reason: .replicaLost))
        }
        var fields = HTTPFields()
        for (name, value) in response.headers where !Self.hopByHop.contains(name.lowercased()) {
            if let field = HTTPField.Name(name) { fields.append(HTTPField(name: field, value: value)) }
        }
        if let length = response.headers.first(name: "content-length") { fields[.contentLength] = length }
        return Response(status: .init(code: Int(response.status.code)), headers: fields, body: ResponseBody(asyncSequence: response.body))
    }

    /// A `scope=cluster` listing: this replica's answer, as the caller may see it, merged with
    /// every peer's, each asked with the caller's own credentials. A refusal here (401, 403, 404)
    /// is the answer, as it would be at any replica.
    private func view(
        _ request: Request, kind: ClusterView.Kind, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let target = ClusterSettings.localTarget(path: request.uri.path, query: request.uri.query)
        var head = request.head
        head.path = target
        let local = try await next(Request(head: head, body: request.body), context)
        guard local.status == .ok else { return local }
        let collected = LocalAnswer()
        try await local.body.write(CollectingWriter(into: collected, limit: PeerClient.answerLimit))
        var headers = Self.forwardable(request.headers)
        headers.replaceOrAdd(name: "Accept", value: "application/json")
        let answers = await peers.exchangeWithOthers(
            method: "GET", target: target, headers: headers, subject: RequestPeer.subject, body: nil, timeout: PeerClient.viewTimeout
        )
        var parts = answers.map { answer in
            ClusterView.Part(replica: answer.replica, answer: answer.result.flatMap { response -> Result<[UInt8], PeerFailure> in
                guard response.status == 200 else {
                    return .failure(PeerFailure(reachable: true, "answered \(response.status)" + (answer.problemCode.map { " \($0)" } ?? "")))
                }
                return .success(Array(response.body.readableBytesView))
            })
        }
        parts.append(ClusterView.Part(replica: peers.settings.replica, answer: .success(Array(collected.bytes.readableBytesView))))
        let order = Dictionary(uniqueKeysWithValues: peers.settings.peers.enumerated().map { ($0.element.name, $0.offset) })
        parts.sort { order[$0.replica, default: .max] < order[$1.replica, default: .max] }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: ClusterView.merge(parts, kind: kind)))
        )
    }

    /// An operator's change: applied here first, then sent to every other replica, whose answers
    /// the `PoolWarden-Replicas` header of this one's answer sums up. A request refused here as
    /// malformed or unauthorized would be refused everywhere and goes no further.
    private func broadcast(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let body = try await wholeBody(request) else { return Fallback.problem(.payloadTooLarge(limit: maxBodyBytes)) }
        var response = try await next(Request(head: request.head, body: RequestBody(buffer: body)), context)
        let status = response.status.code
        guard ![400, 401, 403, 413, 415].contains(status) else { return response }
        let answers = await peers.exchangeWithOthers(
            method: request.method.rawValue, target: request.head.path ?? request.uri.path, headers: Self.forwardable(request.headers),
            subject: RequestPeer.subject, body: body.readableBytes == 0 ? nil : body, timeout: PeerClient.broadcastTimeout
        )
        let summary = Broadcast.summary(replica: peers.settings.replica, localStatus: status, peers: answers)
        response.headers[Self.replicasField] = summary
        if !Broadcast.failures(answers).isEmpty {
            logger.warning("a change did not apply at every replica", metadata: [
                "method": "\(request.method)", "path": "\(Fallback.shown(request.uri.path))", "replicas": "\(summary)",
            ])
        }
        return response
    }

    /// A revoke by token prefix: here when the lease is here; else at the one replica whose lease
    /// list shows the prefix, found first, so that a prefix never revokes leases at two replicas.
    /// Several such replicas answer 409 `ambiguous_prefix`, as several leases at one replica do.
    private func revoke(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        guard response.status == .notFound else { return response }
        // `/v1/pools/{pool}/leases/{prefix}`; an empty pool or prefix (`//`) was answered here.
        let segments = request.uri.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard segments.count == 6, !segments[3].isEmpty, !segments[5].isEmpty else { return response }
        let (pool, prefix) = (segments[3], segments[5])
        let headers = Self.forwardable(request.headers)
        let subject = RequestPeer.subject
        let lists = await peers.exchangeWithOthers(
            method: "GET", target: "/v1/pools/\(pool)/leases", headers: headers, subject: subject, body: nil, timeout: PeerClient.viewTimeout
        )
        let holders = Broadcast.holders(of: prefix, in: lists)
        var outcomes = lists.map { list -> PeerAnswer in
            guard case .success = list.result else { return list }
            return PeerAnswer(replica: list.replica, result: .success(.init(status: 404, headers: [:], body: ByteBuffer())))
        }
        if holders.count > 1 {
            response = Fallback.problem(.ambiguousPrefix(prefix, matches: holders.count))
        } else if let holder = holders.first, let peer = peers.settings.peers.first(where: { $0.name == holder }) {
            let answer = await peers.exchange(
                with: peer, method: "DELETE", target: request.head.path ?? request.uri.path, headers: headers, subject: subject,
                body: nil, timeout: PeerClient.broadcastTimeout
            )
            outcomes = outcomes.map { $0.replica == holder ? answer : $0 }
            if case .success(let revoked) = answer.result {
                var fields = HTTPFields()
                if let type = revoked.headers.first(name: "content-type") { fields[.contentType] = type }
                response = Response(status: .init(code: revoked.status), headers: fields, body: ResponseBody(byteBuffer: revoked.body))
            }
        }
        response.headers[Self.replicasField] = Broadcast.summary(replica: peers.settings.replica, localStatus: 404, peers: outcomes)
        return response
    }

    /// The request's body read whole, within `max_body_bytes` as the handler would read it; nil
    /// when it is larger (413).
    private func wholeBody(_ request: Request) async throws -> ByteBuffer? {
        do {
            return try await request.body.collect(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            return nil
        }
    }

    /// The request's headers a peer should see: the caller's credentials and content headers.
    private static func forwardable(_ fields: HTTPFields) -> HTTPHeaders {
        var headers = HTTPHeaders()
        for field in fields where !hopByHop.contains(field.name.canonicalName) {
            headers.add(name: field.name.rawName, value: field.value)
        }
        return headers
    }
}

/// This replica's part of a view, as the local handler wrote it.
private final class LocalAnswer: @unchecked Sendable {
    // Written by one writer, in order, and read after it finished.
    var bytes = ByteBuffer()
}

private struct CollectingWriter: ResponseBodyWriter {
    struct TooLarge: Error {}

    let into: LocalAnswer
    let limit: Int

    mutating func write(_ buffer: ByteBuffer) async throws {
        guard into.bytes.readableBytes + buffer.readableBytes <= limit else { throw TooLarge() }
        var buffer = buffer
        into.bytes.writeBuffer(&buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
