#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestPostgres

/// One HTTP/1.1 request over a bare non-blocking socket, with a deadline on the whole exchange.
///
/// For what URLSession cannot send or would rewrite (invalid UTF-8, raw NUL bytes, `%00` and
/// `..` in paths, chunked uploads) and for bodies large enough that a blocking `send` could wait
/// forever on a peer that stops reading: every wait here is a `poll` bounded by the deadline, so
/// a service that never answers fails the test instead of hanging it.
enum RawExchange {
    struct Response: Sendable {
        var status: Int
        /// Header names lowercased.
        var headers: [String: String]
        var body: [UInt8]
        /// Bytes of the request body the service took before it answered (or hung up).
        var bodyBytesSent: Int

        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
        var code: String? { json["code"] as? String }
        var contentType: String? { headers["content-type"] }
    }

    enum Failure: Error, CustomStringConvertible {
        case connect(Int32)
        case noAnswer(String)
        case malformed(String)

        var description: String {
            switch self {
            case .connect(let errno): "connect failed: errno \(errno)"
            case .noAnswer(let what): "no answer: \(what)"
            case .malformed(let what): "malformed answer: \(what)"
            }
        }
    }

    /// Sends `method target` with `body` (Content-Length, or chunked in `chunkSize` pieces) and
    /// reads the answer. Stops sending as soon as a complete answer has arrived.
    static func send(
        port: Int,
        _ method: String,
        _ target: String,
        key: String? = ServiceHarness.adminKey,
        contentType: String? = "application/json",
        body: [UInt8]? = nil,
        chunkSize: Int? = nil,
        timeout: Duration = .seconds(20)
    ) async throws -> Response {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if let key { head += "Authorization: Bearer \(key)\r\n" }
        if let contentType, body != nil { head += "Content-Type: \(contentType)\r\n" }
        var payload: [UInt8] = []
        if let body {
            if let chunkSize {
                head += "Transfer-Encoding: chunked\r\n"
                var offset = 0
                while offset < body.count {
                    let end = min(body.count, offset + chunkSize)
                    payload += Array(String(end - offset, radix: 16).utf8) + [13, 10] + body[offset..<end] + [13, 10]
                    offset = end
                }
                payload += Array("0\r\n\r\n".utf8)
            } else {
                head += "Content-Length: \(body.count)\r\n"
                payload = body
            }
        } else if method == "POST" || method == "PATCH" {
            head += "Content-Length: 0\r\n"
        }
        head += "\r\n"
        let bytes = Array(head.utf8) + payload
        let headLength = head.utf8.count
        return try await TestPostgres.offThread {
            try exchange(port: port, bytes: bytes, headLength: headLength, timeout: timeout, label: "\(method) \(target.prefix(60))")
        }
    }

    private static func exchange(port: Int, bytes: [UInt8], headLength: Int, timeout: Duration, label: String) throws -> Response {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.connect(errno) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure.connect(errno) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)

        let deadline = ContinuousClock.now + timeout
        var sent = 0
        var sending = true
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let response = try parse(received, complete: false) {
                return Response(status: response.status, headers: response.headers, body: response.body, bodyBytesSent: max(0, sent - headLength))
            }
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else {
                throw Failure.noAnswer("\(label): nothing complete within \(timeout) (sent \(sent) of \(bytes.count) bytes, received \(received.count))")
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN) | (sending ? Int16(POLLOUT) : 0), revents: 0)
            let milliseconds = Int32(clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1)
            let ready = poll(&poller, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            if sending && poller.revents & Int16(POLLOUT) != 0 {
                let count = bytes.withUnsafeBytes { raw in
                    Glibc.send(fd, raw.baseAddress! + sent, min(bytes.count - sent, 65536), Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                }
                if count > 0 {
                    sent += count
                    if sent == bytes.count { sending = false }
                } else if count < 0 && errno != EAGAIN && errno != EINTR {
                    // The service hung up on the upload (say after answering 413): read what it said.
                    sending = false
                }
            }
            if poller.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if count > 0 {
                    received += buffer[0..<count]
                } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                    if let response = try parse(received, complete: true) {
                        return Response(status: response.status, headers: response.headers, body: response.body, bodyBytesSent: max(0, sent - headLength))
                    }
                    throw Failure.noAnswer("\(label): connection closed after \(received.count) bytes (sent \(sent) of \(bytes.count))")
                }
            }
        }
    }

    /// The answer in `data` once it is complete: by Content-Length, chunked, or (when the peer
    /// closed, `complete`) whatever body arrived.
    private static func parse(_ data: [UInt8], complete: Bool) throws -> (status: Int, headers: [String: String], body: [UInt8])? {
        guard let end = data.indices.dropLast(3).first(where: { data[$0] == 13 && data[$0 + 1] == 10 && data[$0 + 2] == 13 && data[$0 + 3] == 10 }) else {
            return nil
        }
        let lines = String(decoding: data[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw Failure.malformed(lines[0]) }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let rest = Array(data[(end + 4)...])
        if let length = headers["content-length"].flatMap(Int.init) {
            return rest.count >= length ? (status, headers, Array(rest.prefix(length))) : nil
        }
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var body: [UInt8] = []
            var index = 0
            while true {
                guard let lineEnd = rest[index...].indices.dropLast().first(where: { rest[$0] == 13 && rest[$0 + 1] == 10 }) else { return nil }
                let sizeText = String(decoding: rest[index..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { throw Failure.malformed("chunk size \(sizeText)") }
                let start = lineEnd + 2
                if size == 0 { return (status, headers, body) }
                guard rest.count >= start + size + 2 else { return nil }
                body += rest[start..<(start + size)]
                index = start + size + 2
            }
        }
        if status == 204 || status == 304 { return (status, headers, []) }
        return complete ? (status, headers, rest) : nil
    }
}
