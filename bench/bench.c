/*
 * bench.c: criteo-oauth side by side with libcurl, in one run, against the
 * same loopback nginx. Prints one table. Run by bench/run.sh (make bench),
 * which starts nginx and passes the URLs.
 *
 *   bench HTTP_URL HTTPS_URL CA_FILE STRIPPED_LIBRARY   the whole table
 *   bench first-token criteo|curl URL                  one token, for timing a fresh process
 *   bench memory criteo|curl URL N                     RSS after 1,000 and after N requests
 *
 * Figures are printed, never judged: the machine is shared and noisy.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "criteo_oauth.h"

static const char *const FORM = "grant_type=client_credentials&client_id=demo-client&client_secret=demo-secret";

static long env_count(const char *name, long fallback) {
    const char *value = getenv(name);
    return value != NULL ? atol(value) : fallback;
}

/* CPU (user + system, all threads) and wall time, in microseconds. */
struct clock_pair {
    double cpu_us;
    double wall_us;
};

static struct clock_pair now(void) {
    struct rusage usage;
    struct timespec wall;
    getrusage(RUSAGE_SELF, &usage);
    clock_gettime(CLOCK_MONOTONIC, &wall);
    struct clock_pair c = {
        .cpu_us = usage.ru_utime.tv_sec * 1e6 + usage.ru_utime.tv_usec + usage.ru_stime.tv_sec * 1e6 +
                  usage.ru_stime.tv_usec,
        .wall_us = wall.tv_sec * 1e6 + wall.tv_nsec / 1e3,
    };
    return c;
}

static struct clock_pair since(struct clock_pair start, long n) {
    struct clock_pair end = now();
    struct clock_pair per = {(end.cpu_us - start.cpu_us) / n, (end.wall_us - start.wall_us) / n};
    return per;
}

static void die(const char *what) {
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

/* ---- criteo-oauth ---- */

static criteo_client *criteo_make(const char *url, const char *ca_file) {
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, url);
    criteo_client_builder_set_proxy(builder, "");
    criteo_client_builder_set_max_retries(builder, 0);
    if (ca_file != NULL) {
        criteo_client_builder_set_ca_file(builder, ca_file);
    }
    criteo_client *client = NULL;
    criteo_error *error = NULL;
    if (criteo_client_builder_build(builder, &client, &error) != CRITEO_OK) {
        die(criteo_error_message(error));
    }
    return client;
}

static void criteo_request(const criteo_client *client) {
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    if (criteo_get_token(client, "client_credentials", "demo-client", "demo-secret", NULL, NULL, NULL, &token,
                         &error) != CRITEO_OK) {
        die(criteo_error_message(error));
    }
    criteo_token_free(token);
}

static struct clock_pair criteo_requests(const char *url, const char *ca_file, long n) {
    criteo_client *client = criteo_make(url, ca_file);
    for (int i = 0; i < 100; i++) {
        criteo_request(client);
    }
    struct clock_pair start = now();
    for (long i = 0; i < n; i++) {
        criteo_request(client);
    }
    struct clock_pair per = since(start, n);
    criteo_client_free(client);
    return per;
}

/* ---- libcurl, one reused easy handle ---- */

struct body {
    char data[4096];
    size_t length;
};

static size_t curl_collect(char *data, size_t size, size_t count, void *user) {
    struct body *body = user;
    size_t length = size * count;
    if (body->length + length < sizeof body->data) {
        memcpy(body->data + body->length, data, length);
        body->length += length;
    }
    return length;
}

struct curl_client {
    CURL *easy;
    struct curl_slist *headers;
    struct body body;
};

static void curl_make(struct curl_client *c, const char *url, const char *ca_file) {
    char endpoint[512];
    snprintf(endpoint, sizeof endpoint, "%s/oauth2/token", url);
    c->easy = curl_easy_init();
    c->headers = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    c->headers = curl_slist_append(c->headers, "Accept: application/json");
    curl_easy_setopt(c->easy, CURLOPT_URL, endpoint);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, FORM);
    curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "criteo-oauth-bench/curl");
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, curl_collect);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &c->body);
    curl_easy_setopt(c->easy, CURLOPT_PROXY, "");
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    if (ca_file != NULL) {
        curl_easy_setopt(c->easy, CURLOPT_CAINFO, ca_file);
    } else if (getenv("SSL_CERT_FILE") != NULL) {
        /* The system store as the environment names it, as the library reads it. */
        curl_easy_setopt(c->easy, CURLOPT_CAINFO, getenv("SSL_CERT_FILE"));
        curl_easy_setopt(c->easy, CURLOPT_CAPATH, getenv("SSL_CERT_DIR"));
    }
}

static void curl_request(struct curl_client *c) {
    long status = 0;
    c->body.length = 0;
    if (curl_easy_perform(c->easy) != CURLE_OK) {
        die("curl_easy_perform failed");
    }
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200 || c->body.length == 0) {
        die("curl: unexpected answer");
    }
}

static void curl_free_client(struct curl_client *c) {
    curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
}

static struct clock_pair curl_requests(const char *url, const char *ca_file, long n) {
    struct curl_client c = {0};
    curl_make(&c, url, ca_file);
    for (int i = 0; i < 100; i++) {
        curl_request(&c);
    }
    struct clock_pair start = now();
    for (long i = 0; i < n; i++) {
        curl_request(&c);
    }
    struct clock_pair per = since(start, n);
    curl_free_client(&c);
    return per;
}

/* ---- token source, cached path ---- */

struct getter {
    const criteo_token_source *source;
    long gets;
    int header; /* criteo_token_source_authorization instead of _get */
};

static void *get_cached(void *arg) {
    struct getter *getter = arg;
    char header[512];
    for (long i = 0; i < getter->gets; i++) {
        if (getter->header) {
            if (criteo_token_source_authorization(getter->source, header, sizeof header, NULL, NULL) != CRITEO_OK) {
                die("criteo_token_source_authorization failed");
            }
            continue;
        }
        criteo_token *token = NULL;
        if (criteo_token_source_get(getter->source, &token, NULL) != CRITEO_OK) {
            die("criteo_token_source_get failed");
        }
        criteo_token_free(token);
    }
    return NULL;
}

/* CPU ns per call, with `threads` threads sharing one source: a get and
 * free of the token, or (header) a copy of its Authorization value. */
static struct clock_pair cached_gets(const char *url, int threads, long gets_per_thread, int header) {
    criteo_client *client = criteo_make(url, NULL);
    criteo_token_source *source = NULL;
    if (criteo_token_source_new(client, "client_credentials", "demo-client", "demo-secret", NULL, NULL, NULL,
                                &source, NULL) != CRITEO_OK) {
        die("criteo_token_source_new failed");
    }
    struct getter warm = {source, 1000, header};
    get_cached(&warm);
    pthread_t ids[64];
    struct getter getters[64];
    struct clock_pair start = now();
    for (int t = 0; t < threads; t++) {
        getters[t] = (struct getter){source, gets_per_thread, header};
        pthread_create(&ids[t], NULL, get_cached, &getters[t]);
    }
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
    }
    struct clock_pair per = since(start, gets_per_thread * threads);
    criteo_token_source_free(source);
    criteo_client_free(client);
    /* In nanoseconds; wall is per get across all threads. */
    per.cpu_us *= 1000;
    per.wall_us *= 1000;
    return per;
}

/* ---- fresh processes ---- */

static const char *self_path;

/* Median wall milliseconds of `runs` fresh processes getting one token. */
static double first_token_ms(const char *which, const char *url, int runs) {
    double times[64];
    for (int r = 0; r < runs; r++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        pid_t pid = fork();
        if (pid == 0) {
            execl(self_path, self_path, "first-token", which, url, (char *)NULL);
            _exit(127);
        }
        int status;
        waitpid(pid, &status, 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            die("first-token child failed");
        }
        times[r] = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    }
    for (int i = 1; i < runs; i++) { /* insertion sort for the median */
        double t = times[i];
        int j = i - 1;
        for (; j >= 0 && times[j] > t; j--) {
            times[j + 1] = times[j];
        }
        times[j + 1] = t;
    }
    return times[runs / 2];
}

static long rss_kib(void) {
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (status != NULL && fgets(line, sizeof line, status) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = atol(line + 6);
        }
    }
    if (status != NULL) {
        fclose(status);
    }
    return kib;
}

/* Runs `bench memory WHICH URL N` in a child; reads "after1000 afterN peak" (KiB). */
static void memory_of(const char *which, const char *url, long n, long out[3]) {
    char command[1024];
    snprintf(command, sizeof command, "'%s' memory %s '%s' %ld", self_path, which, url, n);
    FILE *child = popen(command, "r");
    if (child == NULL || fscanf(child, "%ld %ld %ld", &out[0], &out[1], &out[2]) != 3) {
        die("memory child failed");
    }
    pclose(child);
}

static int child_mode(char **argv) {
    int curl = strcmp(argv[2], "curl") == 0;
    if (strcmp(argv[1], "first-token") == 0) {
        if (curl) {
            curl_global_init(CURL_GLOBAL_DEFAULT);
            struct curl_client c = {0};
            curl_make(&c, argv[3], NULL);
            curl_request(&c);
            curl_free_client(&c);
        } else {
            criteo_client *client = criteo_make(argv[3], NULL);
            criteo_request(client);
            criteo_client_free(client);
        }
        return 0;
    }
    /* memory */
    long n = atol(argv[4]), after_1000 = 0;
    struct curl_client c = {0};
    criteo_client *client = NULL;
    if (curl) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_make(&c, argv[3], NULL);
    } else {
        client = criteo_make(argv[3], NULL);
    }
    for (long i = 1; i <= n; i++) {
        if (curl) {
            curl_request(&c);
        } else {
            criteo_request(client);
        }
        if (i == 1000) {
            after_1000 = rss_kib();
        }
    }
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("%ld %ld %ld\n", after_1000, rss_kib(), usage.ru_maxrss);
    return 0;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

int main(int argc, char **argv) {
    self_path = argv[0];
    if (argc >= 4 && (strcmp(argv[1], "first-token") == 0 || strcmp(argv[1], "memory") == 0)) {
        return child_mode(argv);
    }
    if (argc != 6) {
        fprintf(stderr, "usage: bench HTTP_URL HTTPS_URL HTTPS_KEEPALIVE_URL CA_FILE STRIPPED_LIBRARY\n"
                        "(SSL_CERT_FILE and SSL_CERT_DIR name a store that trusts CA_FILE)\n");
        return 2;
    }
    const char *http = argv[1], *https = argv[2], *https_keep = argv[3], *ca = argv[4], *library = argv[5];
    long n = env_count("BENCH_REQUESTS", 20000);
    long n_tls = env_count("BENCH_TLS_REQUESTS", 2000);
    long n_gets = env_count("BENCH_GETS", 2000000);
    long n_memory = env_count("BENCH_MEMORY_REQUESTS", 100000);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    struct clock_pair lib = criteo_requests(http, NULL, n);
    struct clock_pair cur = curl_requests(http, NULL, n);
    struct clock_pair lib_tls = criteo_requests(https, ca, n_tls);
    struct clock_pair cur_tls = curl_requests(https, ca, n_tls);
    struct clock_pair lib_tls_keep = criteo_requests(https_keep, ca, n);
    struct clock_pair cur_tls_keep = curl_requests(https_keep, ca, n);
    struct clock_pair cached[3], headers[3];
    int thread_counts[3] = {1, 2, 8};
    for (int i = 0; i < 3; i++) {
        cached[i] = cached_gets(http, thread_counts[i], n_gets / thread_counts[i], 0);
        headers[i] = cached_gets(http, thread_counts[i], n_gets / thread_counts[i], 1);
    }
    double first_lib = first_token_ms("criteo", http, 21), first_curl = first_token_ms("curl", http, 21);
    double first_tls_lib = first_token_ms("criteo", https_keep, 21);
    double first_tls_curl = first_token_ms("curl", https_keep, 21);
    long mem_lib[3], mem_curl[3];
    memory_of("criteo", http, n_memory, mem_lib);
    memory_of("curl", http, n_memory, mem_curl);

    printf("criteo-oauth %s vs %s, same run, loopback nginx\n\n", criteo_version(), curl_version());
    printf("%-46s %12s %12s %8s\n", "measure", "criteo-oauth", "libcurl", "ratio");
    printf("%-46s %12.1f %12.1f %8.2f\n", "keep-alive request, client CPU us", lib.cpu_us, cur.cpu_us,
           lib.cpu_us / cur.cpu_us);
    printf("%-46s %12.1f %12.1f %8.2f\n", "keep-alive request, wall us", lib.wall_us, cur.wall_us,
           lib.wall_us / cur.wall_us);
    printf("%-46s %12.1f %12.1f %8.2f\n", "TLS keep-alive request, client CPU us", lib_tls_keep.cpu_us,
           cur_tls_keep.cpu_us, lib_tls_keep.cpu_us / cur_tls_keep.cpu_us);
    printf("%-46s %12.1f %12.1f %8.2f\n", "TLS keep-alive request, wall us", lib_tls_keep.wall_us,
           cur_tls_keep.wall_us, lib_tls_keep.wall_us / cur_tls_keep.wall_us);
    printf("%-46s %12.1f %12.1f %8.2f\n", "TLS, new connection per request, CPU us", lib_tls.cpu_us, cur_tls.cpu_us,
           lib_tls.cpu_us / cur_tls.cpu_us);
    printf("%-46s %12.1f %12.1f %8.2f\n", "TLS, new connection per request, wall us", lib_tls.wall_us,
           cur_tls.wall_us, lib_tls.wall_us / cur_tls.wall_us);
    for (int i = 0; i < 3; i++) {
        char label[64];
        snprintf(label, sizeof label, "cached get, %d thread%s, CPU ns per get", thread_counts[i],
                 thread_counts[i] == 1 ? "" : "s");
        printf("%-46s %12.0f %12s %8s\n", label, cached[i].cpu_us, "-", "-");
    }
    for (int i = 0; i < 3; i++) {
        char label[64];
        snprintf(label, sizeof label, "cached header, %d thread%s, CPU ns per call", thread_counts[i],
                 thread_counts[i] == 1 ? "" : "s");
        printf("%-46s %12.0f %12s %8s\n", label, headers[i].cpu_us, "-", "-");
    }
    printf("%-46s %12.1f %12.1f %8.2f\n", "fresh process to first token, wall ms (median)", first_lib, first_curl,
           first_lib / first_curl);
    printf("%-46s %12.1f %12.1f %8.2f\n", "  the same over TLS, system store (env), ms", first_tls_lib, first_tls_curl,
           first_tls_lib / first_tls_curl);
    printf("%-46s %12ld %12ld %8.2f\n", "RSS after 1,000 requests, KiB", mem_lib[0], mem_curl[0],
           (double)mem_lib[0] / mem_curl[0]);
    char label[64];
    snprintf(label, sizeof label, "RSS after %ld requests, KiB", n_memory);
    printf("%-46s %12ld %12ld %8.2f\n", label, mem_lib[1], mem_curl[1], (double)mem_lib[1] / mem_curl[1]);
    printf("%-46s %12ld %12ld %8.2f\n", "peak RSS, KiB", mem_lib[2], mem_curl[2], (double)mem_lib[2] / mem_curl[2]);
    printf("%-46s %12.2f %12s %8s\n", "stripped libcriteo_oauth.so, MB", file_size(library) / 1e6, "-", "-");
    printf("\nrequests: %ld keep-alive (plain and TLS), %ld TLS new connections, %ld cached gets, %ld for memory\n",
           n, n_tls, n_gets, n_memory);
    curl_global_cleanup();
    return 0;
}
