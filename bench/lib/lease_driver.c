/*
 * W2 / W3 / W7 load driver: N client threads, each looping borrow -> [query SELECT 1 | the W7
 * transaction's statements one call each ->] release over
 * one HTTP/1.1 keep-alive connection (reconnecting only when the service answers Connection: close).
 * Compiled (bench/run builds it with cc) so that the driver, not the service, is never the limit:
 * an interpreted client at 64 connections measures its own scheduler.
 *
 *   lease_driver HOST PORT KEY POOL CLIENTS SECONDS brq|br|tx [CYCLES_PER_S_PER_CLIENT]
 *
 * tx: BEGIN, two INSERTs, an UPDATE and a SELECT of one of 1024 counter rows, COMMIT: the W7
 * transaction as a lease caller runs it, 8 calls a cycle with the borrow and the release.
 *
 * With a rate, each client starts a cycle on a fixed schedule (open loop) and a call's latency is
 * counted from when it was due, so a stall is not hidden by the calls it delayed. Without one,
 * clients loop as fast as answers come (closed loop). Prints cycles_per_s, p50_us / p99_us / p999_us
 * over every call, pair_p50_us / pair_p99_us / pair_p999_us over whole cycles, and failures.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host, *key, *pool;
static int port, mode_query, mode_tx;

/* The W7 transaction, one statement per call; %d is the counter row. bench/lib/tx.lua and the
 * Flask service's /transaction run the same statements. */
static const char *tx_statements[] = {
    "{\"sql\":\"BEGIN\"}",
    "{\"sql\":\"INSERT INTO bench_tx (n, note) VALUES ($1, 'first')\",\"params\":[%d]}",
    "{\"sql\":\"INSERT INTO bench_tx (n, note) VALUES ($1, 'second')\",\"params\":[%d]}",
    "{\"sql\":\"UPDATE bench_counter SET n = n + 1 WHERE id = $1\",\"params\":[%d]}",
    "{\"sql\":\"SELECT id, n FROM bench_counter WHERE id = $1\",\"params\":[%d]}",
    "{\"sql\":\"COMMIT\"}",
};
static double seconds, rate;
static int64_t warmup_end_ns, end_ns;

typedef struct {
    int64_t *calls, *pairs;
    size_t ncalls, npairs, capcalls, cappairs;
    long cycles, failures;
    char last_failure[200];
    int fd;
    char buf[65536];
    size_t have;
} client_t;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void push(int64_t **values, size_t *n, size_t *cap, int64_t v) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        *values = realloc(*values, *cap * sizeof(int64_t));
        if (!*values) { perror("realloc"); exit(1); }
    }
    (*values)[(*n)++] = v;
}

static int connect_service(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { close(fd); return -1; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* One request and its whole answer. Returns the status (0 when the connection failed); the body
 * goes to `body` (NUL-terminated, truncated to `bodycap`). */
static int call(client_t *c, const char *method, const char *path, const char *json, char *body, size_t bodycap) {
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0) { c->fd = connect_service(); c->have = 0; }
        if (c->fd < 0) return 0;
        char request[1024], length_header[96] = "";
        if (json) snprintf(length_header, sizeof length_header, "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(json));
        int length = snprintf(request, sizeof request, "%s %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n%s\r\n%s",
            method, path, host, port, key, length_header, json ? json : "");
        if (send(c->fd, request, length, MSG_NOSIGNAL) != length) { close(c->fd); c->fd = -1; continue; }
        /* read the head */
        char *end = NULL;
        for (;;) {
            c->buf[c->have] = 0;
            end = strstr(c->buf, "\r\n\r\n");
            if (end) break;
            ssize_t got = recv(c->fd, c->buf + c->have, sizeof c->buf - 1 - c->have, 0);
            if (got <= 0) break;
            c->have += got;
        }
        if (!end) { close(c->fd); c->fd = -1; if (c->have == 0) continue; return 0; }
        int status = atoi(c->buf + 9);
        size_t head = end + 4 - c->buf, content = 0;
        int closing = 0;
        for (char *line = strstr(c->buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
            if (strncasecmp(line, "content-length:", 15) == 0) content = strtoul(line + 15, NULL, 10);
            if (strncasecmp(line, "connection:", 11) == 0 && strncasecmp(line + 11 + strspn(line + 11, " "), "close", 5) == 0) closing = 1;
        }
        while (c->have < head + content) {
            ssize_t got = recv(c->fd, c->buf + c->have, sizeof c->buf - 1 - c->have, 0);
            if (got <= 0) { close(c->fd); c->fd = -1; return 0; }
            c->have += got;
        }
        size_t copy = content < bodycap - 1 ? content : bodycap - 1;
        memcpy(body, c->buf + head, copy);
        body[copy] = 0;
        memmove(c->buf, c->buf + head + content, c->have - head - content);
        c->have -= head + content;
        if (closing) { close(c->fd); c->fd = -1; }
        return status;
    }
    return 0;
}

static void failed(client_t *c, const char *what, int status, const char *body) {
    c->failures++;
    snprintf(c->last_failure, sizeof c->last_failure, "%s %d %.120s", what, status, body);
}

static void *client_main(void *arg) {
    client_t *c = arg;
    char body[4096], path[512];
    int64_t interval = rate > 0 ? (int64_t)(1e9 / rate) : 0;
    int64_t due = now_ns() + (interval ? rand() % interval : 0);
    for (;;) {
        if (interval) {
            int64_t wait = due - now_ns();
            if (wait > 0) { struct timespec ts = {wait / 1000000000, wait % 1000000000}; nanosleep(&ts, NULL); }
        }
        int64_t t0 = interval ? due : now_ns();
        if (t0 >= end_ns) break;
        int measuring = t0 >= warmup_end_ns;
        due += interval;
        snprintf(path, sizeof path, "/v1/pools/%s/leases", pool);
        int status = call(c, "POST", path, "{\"ttl_ms\":60000}", body, sizeof body);
        int64_t t1 = now_ns();
        if (measuring) push(&c->calls, &c->ncalls, &c->capcalls, t1 - t0);
        char *token = strstr(body, "\"token\":\"");
        if (status != 201 || !token) { if (measuring) failed(c, "borrow", status, body); continue; }
        token += 9;
        char *close_quote = strchr(token, '"');
        if (!close_quote) { failed(c, "borrow", status, body); continue; }
        *close_quote = 0;
        char lease[256];
        snprintf(lease, sizeof lease, "%s", token);
        if (mode_tx) {
            int row = 1 + rand() % 1024;
            snprintf(path, sizeof path, "/v1/leases/%s/query", lease);
            for (size_t i = 0; i < sizeof tx_statements / sizeof *tx_statements; i++) {
                char json[256];
                snprintf(json, sizeof json, tx_statements[i], row);
                status = call(c, "POST", path, json, body, sizeof body);
                int64_t t2 = now_ns();
                if (measuring) push(&c->calls, &c->ncalls, &c->capcalls, t2 - t1);
                t1 = t2;
                if (status != 200 && measuring) failed(c, "tx statement", status, body);
            }
        }
        if (mode_query) {
            snprintf(path, sizeof path, "/v1/leases/%s/query", lease);
            status = call(c, "POST", path, "{\"sql\":\"SELECT 1\"}", body, sizeof body);
            int64_t t2 = now_ns();
            if (measuring) push(&c->calls, &c->ncalls, &c->capcalls, t2 - t1);
            t1 = t2;
            if (status != 200 && measuring) failed(c, "query", status, body);
        }
        snprintf(path, sizeof path, "/v1/leases/%s", lease);
        status = call(c, "DELETE", path, NULL, body, sizeof body);
        int64_t t3 = now_ns();
        if (!measuring) continue;
        push(&c->calls, &c->ncalls, &c->capcalls, t3 - t1);
        push(&c->pairs, &c->npairs, &c->cappairs, t3 - t0);
        if (status != 204) failed(c, "release", status, body);
        else c->cycles++;
    }
    return NULL;
}

static int compare(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static long pct(int64_t *values, size_t n, double p) {
    if (!n) return 0;
    size_t index = (size_t)(n * p / 100.0);
    if (index >= n) index = n - 1;
    return (long)(values[index] / 1000);
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: %s HOST PORT KEY POOL CLIENTS SECONDS brq|br|tx [CYCLES_PER_S_PER_CLIENT]\n", argv[0]);
        return 2;
    }
    host = argv[1]; port = atoi(argv[2]); key = argv[3]; pool = argv[4];
    int clients = atoi(argv[5]);
    seconds = atof(argv[6]);
    mode_query = strcmp(argv[7], "brq") == 0;
    mode_tx = strcmp(argv[7], "tx") == 0;
    rate = argc > 8 ? atof(argv[8]) : 0;
    double warmup = seconds / 4 < 1 ? seconds / 4 : 1;
    int64_t start = now_ns();
    warmup_end_ns = start + (int64_t)(warmup * 1e9);
    end_ns = warmup_end_ns + (int64_t)(seconds * 1e9);
    client_t *all = calloc(clients, sizeof(client_t));
    pthread_t *threads = calloc(clients, sizeof(pthread_t));
    for (int i = 0; i < clients; i++) {
        all[i].fd = -1;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        if (pthread_create(&threads[i], &attr, client_main, &all[i]) != 0) { perror("pthread_create"); return 1; }
    }
    size_t ncalls = 0, npairs = 0;
    long cycles = 0, failures = 0;
    const char *last = NULL;
    for (int i = 0; i < clients; i++) {
        pthread_join(threads[i], NULL);
        ncalls += all[i].ncalls; npairs += all[i].npairs;
        cycles += all[i].cycles; failures += all[i].failures;
        if (all[i].failures) last = all[i].last_failure;
        if (all[i].fd >= 0) close(all[i].fd);
    }
    int64_t *calls = malloc((ncalls + 1) * sizeof(int64_t)), *pairs = malloc((npairs + 1) * sizeof(int64_t));
    size_t ci = 0, pi = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(calls + ci, all[i].calls, all[i].ncalls * sizeof(int64_t)); ci += all[i].ncalls;
        memcpy(pairs + pi, all[i].pairs, all[i].npairs * sizeof(int64_t)); pi += all[i].npairs;
    }
    qsort(calls, ncalls, sizeof(int64_t), compare);
    qsort(pairs, npairs, sizeof(int64_t), compare);
    printf("cycles_per_s %.0f\n", cycles / seconds);
    printf("p50_us %ld\np99_us %ld\np999_us %ld\n", pct(calls, ncalls, 50), pct(calls, ncalls, 99), pct(calls, ncalls, 99.9));
    printf("pair_p50_us %ld\npair_p99_us %ld\npair_p999_us %ld\n", pct(pairs, npairs, 50), pct(pairs, npairs, 99), pct(pairs, npairs, 99.9));
    printf("calls %zu\nfailures %ld\n", ncalls, failures);
    if (last) fprintf(stderr, "last failure: %s\n", last);
    return 0;
}
