#if canImport(Glibc)
import Glibc
#endif

/// What every process the tests spawn needs: no descriptor of the test process but 0, 1 and 2.
///
/// NIO accepts connections without close-on-exec on Linux, so a child spawned while an in-process
/// service holds client connections would inherit them and keep each one open after the service
/// closed it: the client never sees the close. A `poolwarden serve` that one test ran for 30 s so
/// held 1,501 sockets of another test's flood past their deadline.
public enum SpawnActions {
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's Glibc
    /// module does not declare; looked up once.
    private static let closeFrom: CloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: CloseFrom.self)
    }()

    /// Adds "close every descriptor from 3 up" to `actions`; false where glibc cannot.
    @discardableResult
    public static func closeInherited(_ actions: inout posix_spawn_file_actions_t) -> Bool {
        guard let closeFrom else { return false }
        return closeFrom(&actions, 3) == 0
    }
}
