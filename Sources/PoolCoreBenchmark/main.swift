import PoolCore

/// The types the runtime uses: a class handle per connection, callers named by strings, the
/// continuous clock.
enum BenchmarkTypes: PoolTypes {
    typealias Connection = BenchmarkConnection
    typealias Caller = String
    typealias Instant = ContinuousClock.Instant
    typealias Random = SystemRandomNumberGenerator
}

/// Stands in for the runtime's connection object.
final class BenchmarkConnection: Sendable {
    let backendPID: Int32

    init(backendPID: Int32) {
        self.backendPID = backendPID
    }
}

typealias Group = PoolGroup<BenchmarkTypes>

struct Options {
    var seconds = 3.0
    var quick = false
    var help = false

    init(arguments: [String]) {
        var index = 1
        while index < arguments.count {
            switch arguments[index] {
            case "--quick":
                self.quick = true
            case "--seconds":
                index += 1
                guard index < arguments.count, let value = Double(arguments[index]), value > 0 else {
                    fatalError("--seconds needs a positive number")
                }
                self.seconds = value
            case "--help", "-h":
                self.help = true
            default:
                fatalError("unknown argument \(arguments[index]); try --help")
            }
            index += 1
        }
        if self.quick {
            self.seconds = 0.2
        }
    }
}

let connections = 16
let outstanding = 8
let callers = 8
let target = 2_000_000.0

/// A pool of 16 open connections with `outstanding` leases held at all times: every step borrows
/// one connection and releases the oldest lease, so the idle list, the caller loads and the lease
/// slots all turn over.
struct Bench {
    var group: Group
    var pool: PoolID
    var ring: [LeaseID]
    var ringHead = 0
    var request: UInt64 = 0
    var now: ContinuousClock.Instant
    let callerNames = (0..<callers).map { "caller-\($0)" }

    init(now: ContinuousClock.Instant) {
        self.now = now
        self.group = Group(now: now, random: SystemRandomNumberGenerator())
        var configuration = PoolConfiguration()
        configuration.limits = PoolLimits(min: connections, max: connections, maxPerCaller: connections)
        let (pool, actions) = try! self.group.addPool(configuration, now: now)
        self.pool = pool
        var opened: Int32 = 0
        for case .open(let id, _, _) in actions {
            opened += 1
            _ = self.group.connectionOpened(id, BenchmarkConnection(backendPID: 1000 + opened), now: now)
        }
        precondition(opened == connections, "expected \(connections) opens, got \(opened)")
        self.ring = []
        for _ in 0..<outstanding {
            self.ring.append(self.borrow())
        }
    }

    mutating func borrow() -> LeaseID {
        self.request &+= 1
        let caller = self.callerNames[Int(self.request % UInt64(callers))]
        let actions = self.group.borrow(self.request, pool: self.pool, caller: caller, now: self.now)
        for case .grant(let grant) in actions {
            return grant.lease
        }
        fatalError("borrow was not served from an idle connection: \(Array(actions))")
    }

    /// One borrow and one release.
    mutating func step() {
        let lease = self.borrow()
        let oldest = self.ring[self.ringHead]
        self.ring[self.ringHead] = lease
        self.ringHead = self.ringHead + 1 == outstanding ? 0 : self.ringHead + 1
        let actions = self.group.release(oldest, .clean, now: self.now)
        precondition(actions.count <= 1)
        self.now = self.now.advanced(by: .microseconds(1))
    }
}

func seconds(_ duration: Duration) -> Double {
    let (whole, fraction) = duration.components
    return Double(whole) + Double(fraction) / 1e18
}

func run(_ options: Options) {
    let clock = ContinuousClock()
    var bench = Bench(now: clock.now)

    // Warm-up: let caches, branch predictors and collection capacities settle.
    let warmUpEnd = clock.now.advanced(by: .seconds(options.quick ? 0.05 : 0.5))
    while clock.now < warmUpEnd {
        for _ in 0..<4096 { bench.step() }
    }

    var pairs = 0
    let start = clock.now
    let end = start.advanced(by: .seconds(options.seconds))
    while clock.now < end {
        for _ in 0..<4096 { bench.step() }
        pairs += 4096
    }
    let elapsed = seconds(start.duration(to: clock.now))
    let rate = Double(pairs) / elapsed
    let problems = bench.group.invariantViolations()
    precondition(problems.isEmpty, "invariants broken after the run: \(problems)")

    print("PoolCore borrow+release: \(connections) connections, \(outstanding) leases held, \(callers) callers")
    print("pairs: \(pairs) in \(format3(elapsed)) s")
    print("rate: \(Int(rate)) pairs/s (\(format3(rate / target))x the 2M/s target)")
    print("per pair: \(format3(1e9 / rate)) ns")
}

/// Three decimals, without Foundation (and without libm, which a Foundation-free link lacks).
func format3(_ value: Double) -> String {
    let scaled = Int(value * 1000 + 0.5)
    let fraction = String(scaled % 1000)
    return "\(scaled / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
}

let options = Options(arguments: CommandLine.arguments)
if options.help {
    print("usage: PoolCoreBenchmark [--seconds N] [--quick]")
} else {
    run(options)
}
