/// The `# HELP` text of every metric family PoolWarden emits, by name. swift-metrics has no place
/// for a description, so ``DescribedMetricsFactory`` looks it up here when the family is made.
/// A family missing here is emitted without `# HELP`, which the metrics test refuses.
package enum MetricHelp {
    static let texts: [String: String] = [
        "poolwarden_connections_open": "Open server connections of the pool: idle, leased, being checked or reset, or closing (counts.open of its status).",
        "poolwarden_connections_idle": "Idle server connections of the pool (counts.idle).",
        "poolwarden_connections_leased": "Server connections of the pool leased to a caller (counts.leased).",
        "poolwarden_connections_opening": "Server connections of the pool being opened, a retry's backoff included (counts.opening).",
        "poolwarden_waiting": "Borrows waiting for a connection of the pool (counts.waiting).",
        "poolwarden_borrows_total": "Leases the pool granted (totals.borrows).",
        "poolwarden_borrow_timeouts_total": "Borrows whose wait ended without a connection: pool exhausted, paused, caller at its quota or server budget full (totals.timeouts).",
        "poolwarden_connect_attempts_total": "Server connects the pool started, retries included (totals.connect_attempts).",
        "poolwarden_connect_failures_total": "Server connects of the pool that failed (totals.connect_failures).",
        "poolwarden_leases_expired_total": "Leases revoked for idling past their TTL (totals.expired).",
        "poolwarden_leases_revoked_total": "Leases revoked by an immediate recycle, an admin, a pool delete or a shutdown (totals.revoked).",
        "poolwarden_connections_recycled_total": "Server connections closed by a recycle (totals.recycled).",
        "poolwarden_connections_closed_total": "Server connections of the pool closed for any reason (totals.closed).",
        "poolwarden_borrow_wait_seconds": "Time from a borrow's arrival to its lease.",
        "poolwarden_query_duration_seconds": "Time one statement took on its server connection.",
        "poolwarden_server_connections": "Connections counting against the servers: budget, ones being opened or closing included (open of GET /v1/servers).",
        "poolwarden_authentications_total": "Requests authenticated, by caller and by which of its keys (key_env[i] or key_sha256[i], its place in the config file; never the key), or cert_subject for a caller known by its client certificate: an old key no longer used during a rotation stops counting.",
        "poolwarden_authentication_failures_total": "Requests refused 401 on a /v1 route, by reason: missing (no bearer key, and no client certificate that names a caller), invalid (a key no caller has) or certificate (a key whose caller must also present its client certificate, without it).",
        "poolwarden_tls_handshake_failures_total": "Client connections whose TLS handshake failed: no or an untrusted client certificate, an untrusted server certificate or an old protocol version (listen.tls).",
        "poolwarden_http_connections": "HTTP client connections open now (listen.max_connections caps them).",
        "poolwarden_http_connections_refused_total": "HTTP client connections closed as soon as accepted, listen.max_connections being reached.",
        "poolwarden_http_request_timeouts_total": "HTTP client connections closed for not sending a whole request within listen.request_timeout of connecting or of their previous answer (idle keep-alive included).",
        "poolwarden_server_max_connections": "The servers: budget, its max_connections (max of GET /v1/servers).",
        "poolwarden_cluster_coordination_up": "1 while this replica's coordination session with the server is up, 0 while it is down (no connection is opened there then, and /readyz is false).",
        "poolwarden_cluster_slots_held": "Global slots this replica holds, by pool (pool NAME) or servers: budget (server HOST:PORT): one per connection it has open, being opened or closing.",
        "poolwarden_cluster_slot_waits_total": "Connects that found no global slot free (the cap held by other replicas, or this one holding its share while others wait); the pool tried again shortly.",
    ]

    /// Empty for a name not listed, which leaves the family without `# HELP`.
    package static func text(for name: String) -> String {
        texts[name] ?? ""
    }
}
