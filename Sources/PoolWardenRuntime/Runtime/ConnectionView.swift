/// One server connection in a pool's status.
public struct ConnectionView: Sendable, Equatable {
    /// Unique for the life of the service, increasing in creation order.
    public var id: Int
    /// nil while it is being opened.
    public var backendPID: Int32?
    /// opening, backoff, idle, checking, leased, resetting or closing.
    public var state: String
    /// Since it was opened (since its connect started, while opening).
    public var age: Duration
    /// Since it was last used: for a leased connection, since its lease's last statement ended
    /// (zero while one runs); otherwise since it was last handed out, returned or checked.
    public var idle: Duration
    /// The holder, while leased.
    public var caller: String?
    /// The holder's token prefix, while leased.
    public var tokenPrefix: String?
    /// Why a closing connection still counts, when its backend outlived the close.
    public var note: String?

    public init(
        id: Int, backendPID: Int32?, state: String, age: Duration, idle: Duration, caller: String?, tokenPrefix: String?,
        note: String? = nil
    ) {
        self.id = id
        self.backendPID = backendPID
        self.state = state
        self.age = age
        self.idle = idle
        self.caller = caller
        self.tokenPrefix = tokenPrefix
        self.note = note
    }
}
