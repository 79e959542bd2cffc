import Hummingbird
import NIOCore

/// Hummingbird's basic context plus the request's channel, through which a borrow finds out
/// whether its client hangs up while it waits.
struct WardenRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
