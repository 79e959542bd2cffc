import Foundation
import Glibc

/// Reads an HTTP/1.1 answer off a raw socket a piece at a time, taking the chunked encoding off
/// as it goes, so that a test can read millions of streamed rows without holding them (the
/// service runs in the test's own process, and its memory is measured with the test's). Blocks:
/// use it off the cooperative pool (`TestPostgres.offThread`), from one thread at a time.
final class ChunkedBodyReader {
    let client: RawHTTPClient
    private(set) var head: String?
    /// The terminating chunk (or the whole `Content-Length` body) arrived: the answer is complete.
    private(set) var ended = false
    /// The service closed the connection.
    private(set) var closed = false

    private enum Phase { case head, size, data(Int), dataEnd, fixed(Int), done }
    private var phase = Phase.head
    private var pending: [UInt8] = []

    init(client: RawHTTPClient) {
        self.client = client
    }

    var status: Int {
        guard let head, let line = head.split(separator: "\r\n").first else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// The body bytes that came with the next receive (possibly none, when it held only framing);
    /// nil once the answer ended, the connection closed, or nothing came within `timeout`.
    func next(timeout: Duration = .seconds(10)) -> [UInt8]? {
        if ended || closed { return nil }
        var poller = pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        let count = recv(client.fd, &buffer, buffer.count, 0)
        guard count > 0 else {
            closed = true
            return nil
        }
        pending.append(contentsOf: buffer[..<count])
        return parse()
    }

    /// Reads the whole answer: its body, and whether it ended properly.
    func readAll(timeout: Duration = .seconds(30)) -> (body: [UInt8], complete: Bool) {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var body: [UInt8] = []
        while ContinuousClock.now < deadline, let piece = next() { body += piece }
        return (body, ended)
    }

    private func parse() -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        func line() -> String? {
            guard let end = pending[index...].firstRange(of: [0x0D, 0x0A]) else { return nil }
            defer { index = end.upperBound }
            return String(decoding: pending[index..<end.lowerBound], as: UTF8.self)
        }
        parsing: while true {
            switch phase {
            case .head:
                guard let end = pending.firstRange(of: Array("\r\n\r\n".utf8)) else { break parsing }
                let text = String(decoding: pending[..<end.lowerBound], as: UTF8.self)
                head = text
                index = end.upperBound
                let lines = text.lowercased().split(separator: "\r\n")
                if lines.contains(where: { $0.hasPrefix("transfer-encoding:") && $0.contains("chunked") }) {
                    phase = .size
                } else {
                    let length = lines.first { $0.hasPrefix("content-length:") }
                        .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                    phase = .fixed(length)
                }
            case .size:
                guard let text = line() else { break parsing }
                let size = Int(text.split(separator: ";").first ?? "", radix: 16) ?? 0
                if size == 0 {
                    ended = true
                    phase = .done
                } else {
                    phase = .data(size)
                }
            case .data(let left):
                let take = min(left, pending.count - index)
                guard take > 0 else { break parsing }
                out += pending[index..<(index + take)]
                index += take
                phase = left - take == 0 ? .dataEnd : .data(left - take)
            case .dataEnd:
                guard pending.count - index >= 2 else { break parsing }
                index += 2
                phase = .size
            case .fixed(let left):
                let take = min(left, pending.count - index)
                out += pending[index..<(index + take)]
                index += take
                if left - take == 0 {
                    ended = true
                    phase = .done
                } else {
                    phase = .fixed(left - take)
                    break parsing
                }
            case .done:
                break parsing
            }
        }
        pending.removeFirst(index)
        return out
    }

    /// A query request as a script would send it, closing the connection after the answer: a
    /// single shot on `pool`, or on the lease `token`.
    static func request(pool: String = "", token: String? = nil, sql: String, accept: String?, timeoutMs: Int? = nil, key: String = ServiceHarness.appKey) -> String {
        var object: [String: Any] = ["sql": sql]
        if let timeoutMs { object["timeout_ms"] = timeoutMs }
        let body = String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        let path = token.map { "/v1/leases/\($0)/query" } ?? "/v1/pools/\(pool)/query"
        var text = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(key)\r\n"
        if let accept { text += "Accept: \(accept)\r\n" }
        text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        return text
    }
}
