/*
 * fwdgen: Horizon's traffic generator for the forward workload (RFC 2544 style).
 *
 * One process holds a sender and a receiver; each runs in its own thread, and each thread enters its own network
 * namespace (setns acts per thread), so one tester machine can be both the source and the sink of a path through a
 * router guest. Frames carry a trial tag, a sequence number and the send time (CLOCK_MONOTONIC: sender and receiver
 * share the clock, so latency is one-way and exact).
 *
 *   fwdgen serve ADDRESS PORT    answer requests on TCP (one line in, result lines out; one child per connection)
 *   fwdgen run REQUEST...        run one request, results on stdout
 *
 * Requests: "trial KEY=VALUE..." (one trial at rate=PPS, 0 = as fast as the sender can) or "search KEY=VALUE..."
 * (highest rate with loss <= tol percent, by binary search between 0 and max=PPS; max=0 first measures what the
 * sender reaches). Keys: src_ns sink_ns dst count port frame ms drain_ms rate max tol precision trials min.
 * Output: "trial ..." lines, then "result ..." or "error ...".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAGIC 0x485a4657u /* "HZFW" */
#define HIST_US 1000000    /* 1 us buckets up to 1 s, then one overflow bucket */

struct request {
    char src_ns[128], sink_ns[128];
    struct in_addr dst;
    uint32_t count;
    int port, frame, ms, drain_ms, trials;
    double rate, max, tol, precision, min;
};

struct trial {
    double requested, offered_pps, forwarded_pps, loss_pct;
    uint64_t sent, received;
    double lat_avg_us, lat_p50_us, lat_p99_us, lat_max_us;
};

struct shared {
    const struct request *req;
    uint32_t tag;
    double rate;
    volatile int receiver_ready, stop_receiver;
    int error;
    char message[256];
    uint64_t sent, received;
    double send_seconds;
    uint32_t *hist;
    double lat_sum_ns, lat_max_ns;
};

static FILE *out;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void fail(struct shared *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->message, sizeof s->message, fmt, ap);
    va_end(ap);
    s->error = 1;
}

static int enter_netns(const char *name, char *why, size_t len)
{
    char path[160];
    if (name[0] == 0)
        return 0;
    snprintf(path, sizeof path, name[0] == '/' ? "%.150s" : "/run/netns/%.140s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        snprintf(why, len, "cannot enter network namespace %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int payload_size(int frame)
{
    /* Ethernet header 14 + FCS 4 + IPv4 20 + UDP 8 = 46 bytes of a frame that are not UDP payload. */
    return frame - 46;
}

static void *receiver(void *arg)
{
    struct shared *s = arg;
    char why[256];
    if (enter_netns(s->req->sink_ns, why, sizeof why) != 0) {
        fail(s, "%s", why);
        s->receiver_ready = 1;
        return NULL;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int size = 16 << 20, one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct timeval tv = {0, 20000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(s->req->port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        fail(s, "sink cannot bind UDP port %d: %s", s->req->port, strerror(errno));
        close(fd);
        s->receiver_ready = 1;
        return NULL;
    }
    static __thread char bufs[BATCH][2048];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    s->receiver_ready = 1;
    while (!s->stop_receiver) {
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = sizeof bufs[i];
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0)
            continue;
        uint64_t t = now_ns();
        for (int i = 0; i < n; i++) {
            if (msgs[i].msg_len < 16)
                continue;
            uint32_t tag, seq;
            uint64_t sent;
            memcpy(&tag, bufs[i], 4);
            memcpy(&seq, bufs[i] + 4, 4);
            memcpy(&sent, bufs[i] + 8, 8);
            (void)seq;
            if (tag != s->tag)
                continue; /* warm-up frames and late frames of an earlier trial */
            s->received++;
            double lat = t > sent ? (double)(t - sent) : 0;
            s->lat_sum_ns += lat;
            if (lat > s->lat_max_ns)
                s->lat_max_ns = lat;
            uint64_t us = (uint64_t)(lat / 1000);
            s->hist[us < HIST_US ? us : HIST_US]++;
        }
    }
    close(fd);
    return NULL;
}

static int open_sender(const struct request *r, char *why, size_t len)
{
    if (enter_netns(r->src_ns, why, len) != 0)
        return -1;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
    return fd;
}

/* Sends a few untagged frames to every path's first address and waits: neighbour tables fill before the trial. */
static void warm_up(int fd, const struct request *r)
{
    char buf[2048] = {0};
    for (uint32_t i = 0; i < 8 && i < r->count; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(r->port), .sin_addr.s_addr = htonl(ntohl(r->dst.s_addr) + i)};
        sendto(fd, buf, payload_size(r->frame), 0, (struct sockaddr *)&a, sizeof a);
    }
    usleep(100000);
}

static void *sender(void *arg)
{
    struct shared *s = arg;
    const struct request *r = s->req;
    char why[256];
    int fd = open_sender(r, why, sizeof why);
    if (fd < 0) {
        fail(s, "%s", why);
        return NULL;
    }
    warm_up(fd, r);
    int len = payload_size(r->frame);
    static __thread char bufs[BATCH][2048];
    static __thread struct sockaddr_in addrs[BATCH];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    uint32_t base = ntohl(r->dst.s_addr), next = 0, seq = 0;
    double start = now_s(), end = start + r->ms / 1000.0;
    uint64_t sent = 0;
    for (;;) {
        double t = now_s();
        if (t >= end)
            break;
        long n = BATCH;
        if (s->rate > 0) {
            double due = (t - start) * s->rate - (double)sent;
            if (due < 1) {
                double wait = (1 - due) / s->rate;
                if (wait > 50e-6) {
                    struct timespec ts = {0, (long)(wait * 0.5e9)};
                    nanosleep(&ts, NULL);
                }
                continue;
            }
            n = due < BATCH ? (long)due : BATCH;
        }
        uint64_t stamp = now_ns();
        for (long i = 0; i < n; i++) {
            memcpy(bufs[i], &s->tag, 4);
            uint32_t q = seq + (uint32_t)i;
            memcpy(bufs[i] + 4, &q, 4);
            memcpy(bufs[i] + 8, &stamp, 8);
            addrs[i].sin_family = AF_INET;
            addrs[i].sin_port = htons(r->port);
            addrs[i].sin_addr.s_addr = htonl(base + (next + (uint32_t)i) % r->count);
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = len;
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_name = &addrs[i];
            msgs[i].msg_hdr.msg_namelen = sizeof addrs[i];
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int done = sendmmsg(fd, msgs, (unsigned)n, 0);
        if (done < 0) {
            if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
                continue;
            fail(s, "sendmmsg: %s", strerror(errno));
            break;
        }
        sent += (uint64_t)done;
        seq += (uint32_t)done;
        next = (next + (uint32_t)done) % r->count;
    }
    s->send_seconds = now_s() - start;
    s->sent = sent;
    close(fd);
    return NULL;
}

static double percentile(const uint32_t *hist, uint64_t total, double p)
{
    if (total == 0)
        return 0;
    uint64_t want = (uint64_t)(p * (double)total), seen = 0;
    for (int i = 0; i <= HIST_US; i++) {
        seen += hist[i];
        if (seen > want)
            return i;
    }
    return HIST_US;
}

static int run_trial(const struct request *r, double rate, struct trial *t, char *why, size_t len)
{
    static uint32_t counter;
    struct shared s = {.req = r, .rate = rate};
    s.tag = MAGIC ^ (uint32_t)getpid() ^ (++counter << 20);
    s.hist = calloc(HIST_US + 1, sizeof(uint32_t));
    pthread_t rx, tx;
    pthread_create(&rx, NULL, receiver, &s);
    while (!s.receiver_ready)
        usleep(1000);
    if (!s.error) {
        pthread_create(&tx, NULL, sender, &s);
        pthread_join(tx, NULL);
        usleep((useconds_t)r->drain_ms * 1000);
    }
    s.stop_receiver = 1;
    pthread_join(rx, NULL);
    if (s.error) {
        snprintf(why, len, "%s", s.message);
        free(s.hist);
        return -1;
    }
    memset(t, 0, sizeof *t);
    t->requested = rate;
    t->sent = s.sent;
    t->received = s.received > s.sent ? s.sent : s.received;
    double seconds = s.send_seconds > 0 ? s.send_seconds : r->ms / 1000.0;
    t->offered_pps = s.sent / seconds;
    t->forwarded_pps = t->received / seconds;
    t->loss_pct = s.sent ? 100.0 * (double)(s.sent - t->received) / (double)s.sent : 100;
    t->lat_avg_us = s.received ? s.lat_sum_ns / s.received / 1000 : 0;
    t->lat_p50_us = percentile(s.hist, s.received, 0.50);
    t->lat_p99_us = percentile(s.hist, s.received, 0.99);
    t->lat_max_us = s.lat_max_ns / 1000;
    free(s.hist);
    return 0;
}

static void print_trial(int n, const struct trial *t, int pass)
{
    fprintf(out, "trial n=%d requested_pps=%.0f offered_pps=%.0f forwarded_pps=%.0f sent=%llu received=%llu loss_pct=%.4f "
                 "lat_avg_us=%.1f lat_p50_us=%.0f lat_p99_us=%.0f lat_max_us=%.1f pass=%d\n",
            n, t->requested, t->offered_pps, t->forwarded_pps, (unsigned long long)t->sent, (unsigned long long)t->received,
            t->loss_pct, t->lat_avg_us, t->lat_p50_us, t->lat_p99_us, t->lat_max_us, pass);
    fflush(out);
}

/* The sender did not reach the rate asked of it: it shares the CPU with what it measures, so the figure is the tool's. */
static int short_of(const struct trial *t)
{
    return t->requested > 0 && t->offered_pps < 0.97 * t->requested;
}

static void print_result(const struct request *r, const struct trial *best, int trials, double generator_pps)
{
    double pps = best ? best->offered_pps : 0;
    fprintf(out, "result throughput_pps=%.0f throughput_mbps=%.3f frame=%d loss_pct=%.4f lat_avg_us=%.1f lat_p50_us=%.0f "
                 "lat_p99_us=%.0f lat_max_us=%.1f trials=%d generator_pps=%.0f limited=%d\n",
            pps, pps * r->frame * 8 / 1e6, r->frame, best ? best->loss_pct : 100, best ? best->lat_avg_us : 0,
            best ? best->lat_p50_us : 0, best ? best->lat_p99_us : 0, best ? best->lat_max_us : 0, trials, generator_pps,
            best ? short_of(best) : 0);
    fflush(out);
}

static int parse(char *line, struct request *r, int *search, char *why, size_t len)
{
    memset(r, 0, sizeof *r);
    r->count = 1;
    r->port = 9;
    r->frame = 64;
    r->ms = 1000;
    r->drain_ms = 300;
    r->trials = 16;
    r->precision = 0.01;
    r->min = 100;
    inet_pton(AF_INET, "198.18.0.1", &r->dst);
    char *save = NULL, *tok = strtok_r(line, " \t\r\n", &save);
    if (!tok || (strcmp(tok, "trial") && strcmp(tok, "search"))) {
        snprintf(why, len, "expected 'trial' or 'search', got '%s'", tok ? tok : "");
        return -1;
    }
    *search = strcmp(tok, "search") == 0;
    while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            snprintf(why, len, "'%s' is not KEY=VALUE", tok);
            return -1;
        }
        *eq = 0;
        const char *k = tok, *v = eq + 1;
        if (!strcmp(k, "src_ns"))
            snprintf(r->src_ns, sizeof r->src_ns, "%s", v);
        else if (!strcmp(k, "sink_ns"))
            snprintf(r->sink_ns, sizeof r->sink_ns, "%s", v);
        else if (!strcmp(k, "dst")) {
            if (inet_pton(AF_INET, v, &r->dst) != 1) {
                snprintf(why, len, "dst: '%s' is not an IPv4 address", v);
                return -1;
            }
        } else if (!strcmp(k, "count"))
            r->count = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(k, "port"))
            r->port = atoi(v);
        else if (!strcmp(k, "frame"))
            r->frame = atoi(v);
        else if (!strcmp(k, "ms"))
            r->ms = atoi(v);
        else if (!strcmp(k, "drain_ms"))
            r->drain_ms = atoi(v);
        else if (!strcmp(k, "trials"))
            r->trials = atoi(v);
        else if (!strcmp(k, "rate"))
            r->rate = atof(v);
        else if (!strcmp(k, "max"))
            r->max = atof(v);
        else if (!strcmp(k, "tol"))
            r->tol = atof(v);
        else if (!strcmp(k, "precision"))
            r->precision = atof(v);
        else if (!strcmp(k, "min"))
            r->min = atof(v);
        else {
            snprintf(why, len, "unknown key '%s'", k);
            return -1;
        }
    }
    if (r->frame < 64 || r->frame > 1518) {
        snprintf(why, len, "frame must be 64..1518 bytes, got %d", r->frame);
        return -1;
    }
    if (r->count < 1 || r->ms < 10 || r->ms > 600000 || r->port < 1 || r->port > 65535 || r->trials < 1 || r->trials > 64) {
        snprintf(why, len, "count >= 1, ms 10..600000, port 1..65535, trials 1..64");
        return -1;
    }
    return 0;
}

/* One trial, printed; returns 1 when it passed, 0 when it lost frames, -1 (error printed) when it could not run. */
static int trial_printed(const struct request *r, double rate, struct trial *t, int n)
{
    char why[256];
    if (run_trial(r, rate, t, why, sizeof why) != 0) {
        fprintf(out, "error %s\n", why);
        return -1;
    }
    int pass = t->loss_pct <= r->tol;
    print_trial(n, t, pass);
    return pass;
}

/* RFC 2544 section 26.1: the highest rate at which no frame is lost, found by binary search on the offered rate. */
static int handle(char *line)
{
    struct request r;
    int search;
    char why[256];
    if (parse(line, &r, &search, why, sizeof why) != 0) {
        fprintf(out, "error %s\n", why);
        return 2;
    }
    struct trial t, best;
    int have_best = 0, n = 0, pass;
    if (!search) {
        if (trial_printed(&r, r.rate, &t, ++n) < 0)
            return 1;
        print_result(&r, &t, 1, t.offered_pps);
        return 0;
    }
    double hi = r.max, generator = 0;
    if (hi <= 0) {
        /* As fast as the sender can: its rate on this path is the top of the search. */
        if ((pass = trial_printed(&r, 0, &t, ++n)) < 0)
            return 1;
        generator = hi = t.offered_pps;
    } else {
        if ((pass = trial_printed(&r, hi, &t, ++n)) < 0)
            return 1;
        generator = t.offered_pps;
    }
    if (pass) {
        print_result(&r, &t, n, generator);
        return 0;
    }
    double lo = 0, fail_rate = hi, rate;
    while (n < r.trials && (fail_rate - lo) > r.precision * fail_rate) {
        rate = (lo + fail_rate) / 2;
        if (rate < r.min)
            break;
        if ((pass = trial_printed(&r, rate, &t, ++n)) < 0)
            return 1;
        if (pass) {
            /* A sender that fell short passed at the rate it reached, not the one asked: search on from there. */
            lo = short_of(&t) ? t.offered_pps : rate;
            best = t;
            have_best = 1;
        } else {
            fail_rate = rate;
        }
    }
    print_result(&r, have_best ? &best : NULL, n, generator);
    return 0;
}

static int serve(const char *address, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, address, &a.sin_addr) != 1 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0) {
        fprintf(stderr, "fwdgen: cannot listen on %s:%d: %s\n", address, port, strerror(errno));
        return 1;
    }
    signal(SIGCHLD, SIG_IGN);
    for (;;) {
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        if (fork() == 0) {
            close(fd);
            alarm(3600); /* a request never outlives an hour */
            FILE *in = fdopen(c, "r");
            out = fdopen(dup(c), "w");
            char line[2048];
            if (in && out && fgets(line, sizeof line, in))
                handle(line);
            fflush(out);
            _exit(0);
        }
        close(c);
    }
}

int main(int argc, char **argv)
{
    out = stdout;
    if (argc == 4 && !strcmp(argv[1], "serve"))
        return serve(argv[2], atoi(argv[3]));
    if (argc >= 3 && !strcmp(argv[1], "run")) {
        char line[2048] = "";
        for (int i = 2; i < argc; i++) {
            strncat(line, argv[i], sizeof line - strlen(line) - 2);
            strcat(line, " ");
        }
        return handle(line);
    }
    fprintf(stderr, "usage: fwdgen serve ADDRESS PORT | fwdgen run trial|search KEY=VALUE...\n");
    return 2;
}
