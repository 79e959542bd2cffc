import Hummingbird
import NIOCore
import NIOPosix

/// Keeps a request on the event loop thread that read it. A task waiting for PostgreSQL is woken by
/// the driver's reactor thread; without a preference it would resume on any thread of the global
/// executor and hand its answer back to the connection's loop, one more thread switch per request.
/// With NIO's loops as the global executor (`poolwarden serve`), this makes the whole request run
/// on one thread.
///
/// The loop is the channel's, not "the current one": where NIO is not the global executor (the
/// tests, an embedding app) the handler starts on Swift's cooperative pool, and would otherwise stay
/// there, where other work of the process can hold every thread for seconds (issue 12).
struct EventLoopAffinityMiddleware: RouterMiddleware {
    func handle(
        _ request: Request,
        context: WardenRequestContext,
        next: (Request, WardenRequestContext) async throws -> Response
    ) async throws -> Response {
        try await withTaskExecutorPreference(EventLoopTaskExecutor(loop: context.channel.eventLoop)) {
            try await next(request, context)
        }
    }
}

/// An event loop as a `TaskExecutor`: jobs run on the loop's thread.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }
}
