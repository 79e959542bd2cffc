import CoreMetrics
import Synchronization

/// A metrics backend for runtime tests: keeps every value in memory, by label and `pool`
/// dimension, so a test can read what the registry emitted without bootstrapping a global backend.
final class RuntimeTestMetrics: MetricsFactory {
    private let values = Mutex<[String: Double]>([:])
    private let timings = Mutex<[String: [Int64]]>([:])

    func counter(_ label: String, pool: String) -> Double {
        values.withLock { $0[Self.key(label, [("pool", pool)])] ?? 0 }
    }

    func gauge(_ label: String, pool: String) -> Double? {
        values.withLock { $0[Self.key(label, [("pool", pool)])] }
    }

    func timings(_ label: String, pool: String) -> [Int64] {
        timings.withLock { $0[Self.key(label, [("pool", pool)])] ?? [] }
    }

    static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        ([label] + dimensions.map { "\($0.0)=\($0.1)" }).joined(separator: ",")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        Handler(key: Self.key(label, dimensions), owner: self)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        Handler(key: Self.key(label, dimensions), owner: self)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Handler(key: Self.key(label, dimensions), owner: self)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        Handler(key: Self.key(label, dimensions), owner: self)
    }

    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    fileprivate func add(_ key: String, _ amount: Double) {
        values.withLock { $0[key, default: 0] += amount }
    }

    fileprivate func set(_ key: String, _ value: Double) {
        values.withLock { $0[key] = value }
    }

    fileprivate func time(_ key: String, _ nanoseconds: Int64) {
        timings.withLock { $0[key, default: []].append(nanoseconds) }
    }
}

private final class Handler: CounterHandler, FloatingPointCounterHandler, RecorderHandler, TimerHandler {
    let key: String
    let owner: RuntimeTestMetrics

    init(key: String, owner: RuntimeTestMetrics) {
        self.key = key
        self.owner = owner
    }

    func increment(by amount: Int64) { owner.add(key, Double(amount)) }
    func increment(by amount: Double) { owner.add(key, amount) }
    func reset() { owner.set(key, 0) }
    func record(_ value: Int64) { owner.set(key, Double(value)) }
    func record(_ value: Double) { owner.set(key, value) }
    func recordNanoseconds(_ duration: Int64) { owner.time(key, duration) }
}
