import CLibPQ
import Synchronization

/// Every notification dropped by `drainNotifications()` in this process.
private let discardedNotifications = Atomic<Int>(0)

extension PGConnection {
    /// NOTIFY messages received and dropped by every connection of the process since it started.
    /// Nothing here delivers notifications to callers; a session that LISTENs still receives them,
    /// and this count shows that it does.
    public static var notificationsDiscarded: Int {
        discardedNotifications.load(ordering: .relaxed)
    }

    /// Frees the NOTIFY messages libpq has parsed. libpq keeps each one until `PQnotifies` hands it
    /// out, so a session that LISTENs to a busy channel would otherwise grow this process's memory
    /// without bound; called wherever input is consumed, it keeps at most one read's worth.
    func drainNotifications() {
        var count = 0
        while let notification = PQnotifies(handle) {
            PQfreemem(notification)
            count += 1
        }
        if count > 0 { discardedNotifications.add(count, ordering: .relaxed) }
    }
}
