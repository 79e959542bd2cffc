import Crypto

/// The first key of a slot's advisory lock (`pg_try_advisory_lock(key, slot)`): one number per
/// pool name and one per server budget, the same on every replica, taken from SHA-256 so that
/// names that differ by a letter land far apart. The two-integer form keeps these apart from an
/// application's own one-bigint advisory locks in the same database.
struct SlotKey: Hashable, Sendable, CustomStringConvertible {
    enum Kind: String, Sendable { case pool, server, poolWant = "pool-want", serverWant = "server-want" }

    let kind: Kind
    let name: String
    let value: Int32

    init(_ kind: Kind, _ name: String) {
        self.kind = kind
        self.name = name
        let digest = Array(SHA256.hash(data: Array("poolwarden:\(kind.rawValue):\(name)".utf8)))
        value = Int32(bitPattern: UInt32(digest[0]) << 24 | UInt32(digest[1]) << 16 | UInt32(digest[2]) << 8 | UInt32(digest[3]))
    }

    var description: String { "\(kind.rawValue) \(name)" }

    /// The lock a replica holds while its borrows wait for a slot of this key: how the others
    /// learn that it wants one (seen in `pg_locks`, gone with its session).
    var want: SlotKey {
        SlotKey(kind == .server || kind == .serverWant ? .serverWant : .poolWant, name)
    }

    /// `classid` as `pg_locks` shows it (an oid: the key's bits, unsigned).
    var classID: Int64 { Int64(UInt32(bitPattern: value)) }
}
