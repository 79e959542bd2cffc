import NIOCore
import NIOPosix

// `serve` runs Swift concurrency's global executor on NIO's event loops: a request's handler then
// runs on the thread that read it and writes its answer without a hop, where the default pool
// would cost two thread switches per request. It must happen here, on the main thread, before any
// task is enqueued. The client subcommands keep the default executor.
if CommandLine.arguments.dropFirst().first == "serve" {
    NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
}
await PoolWardenCommand.start()
