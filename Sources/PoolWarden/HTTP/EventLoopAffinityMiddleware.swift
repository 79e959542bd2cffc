import Hummingbird
import NIOCore
import NIOPosix

/// Keeps a request on the event loop thread that read it. A task waiting for PostgreSQL is woken by
/// the driver's reactor thread; without a preference it would resume on any thread of the global
/// executor and hand its answer back to the connection's loop, one more thread switch per request.
/// With NIO's loops as the global executor (`poolwarden serve`), this makes the whole request run
/// on one thread.
struct EventLoopAffinityMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let loop = MultiThreadedEventLoopGroup.currentEventLoop else {
            return try await next(request, context)
        }
        return try await withTaskExecutorPreference(EventLoopTaskExecutor(loop: loop)) {
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
