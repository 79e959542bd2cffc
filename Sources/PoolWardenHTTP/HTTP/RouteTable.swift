import Yams

/// The API's paths and the methods each takes, read from the contract the service serves, so that
/// the router's fallback can tell a wrong method (405 with `Allow`) from a wrong path (404).
struct RouteTable: Sendable {
    private struct Route: Sendable {
        /// As the contract writes it (`/v1/leases/{token}`): safe to show, it holds no token.
        var template: String
        /// nil stands for a path parameter, which matches any one segment.
        var segments: [String?]
        var methods: [String]
    }

    private let routes: [Route]

    static let api = RouteTable(spec: String(decoding: PackageResources.openapi_yaml, as: UTF8.self))

    init(spec: String) {
        let document = (try? Yams.load(yaml: spec)) as? [String: Any]
        let paths = document?["paths"] as? [String: Any] ?? [:]
        let verbs = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        routes = paths.compactMap { template, item in
            guard let operations = item as? [String: Any] else { return nil }
            let methods = verbs.filter { operations[$0] != nil }.map { $0.uppercased() }
            let segments = template.split(separator: "/").map { $0.hasPrefix("{") ? nil : String($0) }
            return Route(template: template, segments: segments, methods: methods)
        }
        // A literal segment wins over a parameter in the same place.
        .sorted { $0.segments.filter { $0 == nil }.count < $1.segments.filter { $0 == nil }.count }
    }

    /// The route `path` matches, as its template and methods; nil when it matches none.
    func route(for path: String) -> (template: String, methods: [String])? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        let route = routes.first { route in
            route.segments.count == parts.count
                && zip(route.segments, parts).allSatisfy { segment, part in segment.map { $0 == part } ?? !part.isEmpty }
        }
        return route.map { ($0.template, $0.methods) }
    }
}
