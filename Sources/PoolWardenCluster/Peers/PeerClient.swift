import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import PoolWardenRuntime
import ServiceLifecycle
import Synchronization

/// The HTTP client one replica uses to reach the others, and the check of the cluster key on
/// what they send. Runs as a service so that its connections close when the replica stops.
///
/// Peer URLs may be `https`: the client then trusts the system's roots plus `listen.tls`'s
/// `client_ca_file` (a cluster's internal CA usually signs both sides), and presents `listen.tls`'s
/// certificate and key as its client certificate, which a peer asking for client certificates
/// must accept. Those files are read once, at start.
///
/// The HTTP client itself is made at the first request, so that a replica built and never run
/// (or a configuration only checked) leaves no client behind to close.
public final class PeerClient: Service, Sendable {
    public let settings: ClusterSettings
    private let configuration: HTTPClient.Configuration
    private let client = Mutex<(client: HTTPClient?, closed: Bool)>((nil, false))
    private let keyDigest: [UInt8]
    private let logger: Logger

    /// How long a forwarded request may go without a byte from the owner before it is cut. The
    /// owner bounds its own work (statement timeouts, borrow waits); this only catches an owner
    /// whose host vanished without closing the connection.
    public static let forwardReadTimeout: TimeAmount = .minutes(5)
    /// A peer's part of a cluster view: past it the peer is listed as unreachable.
    public static let viewTimeout: Duration = .seconds(2)
    /// A peer's part of a broadcast, which includes a pool delete (bounded at 10 s by the peer).
    public static let broadcastTimeout: Duration = .seconds(15)
    /// The largest answer collected from a peer (a view of every pool and connection).
    public static let answerLimit = 64 << 20

    /// - Parameter maxConnections: connections to one peer at once: `listen.max_connections`, so
    ///   that every request this replica may be answering can be forwarded at the same time.
    public init(settings: ClusterSettings, tls: ListenTLS?, maxConnections: Int, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        keyDigest = Array(SHA256.hash(data: Array(settings.key.utf8)))
        var configuration = HTTPClient.Configuration(
            timeout: .init(
                connect: Self.timeAmount(settings.peerConnectTimeout),
                read: Self.forwardReadTimeout
            )
        )
        // One attempt: a peer that refuses is gone, and the caller is told so at once.
        configuration.connectionPool.retryConnectionEstablishment = false
        // AsyncHTTPClient's default of 8 queued the ninth forwarded request behind the others: one
        // caller's long statement or stream held up every other caller's.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = maxConnections
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        if settings.peers.contains(where: { $0.url.lowercased().hasPrefix("https:") }) {
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            if let tls {
                tlsConfiguration.certificateChain = try NIOSSLCertificate.fromPEMFile(tls.certificateFile).map { .certificate($0) }
                tlsConfiguration.privateKey = .privateKey(try NIOSSLPrivateKey(file: tls.keyFile, format: .pem))
                if let authority = tls.clientCAFile { tlsConfiguration.additionalTrustRoots = [.file(authority)] }
            }
            configuration.tlsConfiguration = tlsConfiguration
        }
        self.configuration = configuration
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Closes the client's connections; a request after it fails as if every peer were gone.
    public func shutdown() async {
        let open = client.withLock { state -> HTTPClient? in
            state.closed = true
            defer { state.client = nil }
            return state.client
        }
        try? await open?.shutdown()
    }

    private func http() throws(PeerFailure) -> HTTPClient {
        try client.withLock { state throws(PeerFailure) -> HTTPClient in
            guard !state.closed else { throw PeerFailure(reachable: false, "this replica is shutting down") }
            if let client = state.client { return client }
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            state.client = client
            return client
        }
    }

    /// Whether `presented` is the cluster key. Digests are compared, in constant time, so that
    /// neither the key's bytes nor its length show in the time an answer takes.
    public func accepts(key presented: String) -> Bool {
        ConstantTime.equals(Array(SHA256.hash(data: Array(presented.utf8))), keyDigest)
    }

    /// `headers` (the original request's, hop-by-hop ones already dropped) with the cluster key
    /// and the caller's certificate subject added.
    public func peerHeaders(_ headers: HTTPHeaders, subject: CertificateSubject?) -> HTTPHeaders {
        var headers = headers
        headers.replaceOrAdd(name: ClusterHeader.key, value: settings.key)
        if let subject { headers.replaceOrAdd(name: ClusterHeader.subject, value: ClusterHeader.encode(subject: subject)) }
        return headers
    }

    /// Sends a request on to `peer` and answers its response as soon as the head arrives, the
    /// body still streaming from the peer. `target` is the path with its query. Fails only when
    /// no answer came: the peer is then taken to be gone.
    public func forward(
        to peer: ClusterSettings.Peer, method: String, target: String, headers: HTTPHeaders,
        subject: CertificateSubject?, body: HTTPClientRequest.Body?
    ) async throws(PeerFailure) -> HTTPClientResponse {
        var request = HTTPClientRequest(url: peer.url + target)
        request.method = HTTPMethod(rawValue: method)
        request.headers = peerHeaders(headers, subject: subject)
        request.body = body
        let client = try http()
        do {
            // The deadline is the head's; the owner bounds how long its work takes.
            return try await client.execute(request, deadline: .distantFuture, logger: logger)
        } catch {
            throw Self.failure(error)
        }
    }

    /// One request to `peer` whose answer is read whole within `timeout`: a view's part or a
    /// broadcast's.
    public func exchange(
        with peer: ClusterSettings.Peer, method: String, target: String, headers: HTTPHeaders,
        subject: CertificateSubject?, body: ByteBuffer?, timeout: Duration
    ) async -> PeerAnswer {
        var outgoing = HTTPClientRequest(url: peer.url + target)
        outgoing.method = HTTPMethod(rawValue: method)
        outgoing.headers = peerHeaders(headers, subject: subject)
        outgoing.body = body.map { .bytes($0) }
        let request = outgoing
        let client: HTTPClient
        do {
            client = try http()
        } catch {
            return PeerAnswer(replica: peer.name, result: .failure(error))
        }
        let logger = logger
        let result = await withTaskGroup(of: PeerAnswer?.self) { group in
            group.addTask {
                do {
                    let response = try await client.execute(request, deadline: .now() + Self.timeAmount(timeout), logger: logger)
                    let bytes = try await response.body.collect(upTo: Self.answerLimit)
                    return PeerAnswer(
                        replica: peer.name,
                        result: .success(.init(status: Int(response.status.code), headers: response.headers, body: bytes))
                    )
                } catch {
                    return PeerAnswer(replica: peer.name, result: .failure(Self.failure(error)))
                }
            }
            // The deadline above covers the head only; this covers a body that stops coming.
            group.addTask {
                try? await Task.sleep(for: timeout + .milliseconds(100))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        return result ?? PeerAnswer(replica: peer.name, result: .failure(PeerFailure(reachable: false, "no answer within \(timeout)")))
    }

    /// `exchange` with every other replica at once, answers in the peers list's order.
    public func exchangeWithOthers(
        method: String, target: String, headers: HTTPHeaders, subject: CertificateSubject?, body: ByteBuffer?, timeout: Duration
    ) async -> [PeerAnswer] {
        let others = settings.others
        let answers = await withTaskGroup(of: PeerAnswer.self) { group in
            for peer in others {
                group.addTask {
                    await self.exchange(with: peer, method: method, target: target, headers: headers, subject: subject, body: body, timeout: timeout)
                }
            }
            var answers: [String: PeerAnswer] = [:]
            for await answer in group { answers[answer.replica] = answer }
            return answers
        }
        return others.compactMap { answers[$0.name] }
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// What an operator is told of a failed exchange: the kind of failure, never the URL (its path
    /// may hold a token).
    static func failure(_ error: any Error) -> PeerFailure {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return PeerFailure(reachable: false, "connect timed out")
            case .deadlineExceeded, .readTimeout: return PeerFailure(reachable: false, "no answer in time")
            case .remoteConnectionClosed: return PeerFailure(reachable: false, "connection closed before the answer")
            default: break
            }
        }
        if error is NIOTooManyBytesError { return PeerFailure(reachable: true, "answer too large") }
        if error is NIOSSLError || error is BoringSSLError { return PeerFailure(reachable: false, "TLS failed: \(error)") }
        return PeerFailure(reachable: false, "\(error)")
    }
}

/// A peer's whole answer, or why there was none.
public struct PeerAnswer: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: ByteBuffer

        public init(status: Int, headers: HTTPHeaders, body: ByteBuffer) {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    public var replica: String
    public var result: Result<Response, PeerFailure>

    public init(replica: String, result: Result<Response, PeerFailure>) {
        self.replica = replica
        self.result = result
    }

    /// The problem code of an error answer (its `code` member), for the operator's summary.
    public var problemCode: String? {
        guard case .success(let response) = result, response.status >= 300,
              let value = try? JSONDecoder().decode(JSONValue.self, from: Data(response.body.readableBytesView))
        else { return nil }
        return value["code"]?.string
    }
}
