/*
 * many.c: one process that holds many token sources, as a service that
 * works for many accounts does. Each mode checks what such a process
 * relies on: descriptors, threads and requests that do not grow with the
 * number of sources, and tokens that every get still gives.
 *
 *   many descriptors URL N OWN
 *       the program first opens OWN descriptors of its own (run it under
 *       `ulimit -n 1024`), then makes N sources on one client (the
 *       client_credentials grant, each its own source) and gets a token
 *       from each. Prints "<N> sources: <failed> gets failed, the library
 *       holds <d> descriptors and <t> threads, <kept> of <OWN> own
 *       descriptors kept".
 *   many scale URL N
 *       for the benchmark (bench/many.sh): N sources on one client, each
 *       got once from 8 threads. Prints "<N> <ms to the first token of
 *       all> <descriptors> <threads of the library's> <RSS growth, KiB>
 *       <bytes per source>" (RSS read once the tokens are cached and
 *       idle).
 *   many died STORE URL PREFIX N [wait]
 *       N lineages (client ids PREFIX-<k>) on the store directory STORE,
 *       each a source got once and freed. With "wait", then waits up to
 *       20 s for the directory's sweep (which that lock may have started
 *       on a worker) to settle. Prints "<records> records, <locks> lock
 *       files" (the .json and .lock files in STORE).
 *   many exit-queued STORE URL PREFIX N [check]
 *       a short-lived program: N sources of the refresh_token grant
 *       (refresh tokens PREFIX-<k>, a server that revokes a refresh token
 *       once used), each got once, then all due at once: a get of each
 *       starts N refreshes in the background, more than the workers, and
 *       the program exits at once. With "check", a later process makes a
 *       new fetch for every lineage from what STORE holds. Prints
 *       "<ok> lineages still serve, <failed> refused".
 *   many held-at-once URL CLIENT_ID THREADS
 *       THREADS sources of CLIENT_ID on a client that sends one request
 *       at a time, got at once from THREADS threads; URL answers 429 with
 *       Retry-After, slowly. Prints "<requests> requests for <THREADS>
 *       gets at once": the turn goes on only once the hold is set.
 *   many fork-while-making URL FORKS
 *       one thread makes refresh_token sources without pause while the
 *       main thread forks FORKS times; each child gets the source made
 *       last before its fork, then the parent gets it too (URL revokes a
 *       refresh token once used). Prints "<FORKS> forks while sources were
 *       made: <n> not shared" (a source made around the fork is shared).
 *   many fork-in-worker URL N
 *       N sources of the refresh_token grant (URL revokes a refresh token
 *       once used), all due at once: their refreshes run on the library's
 *       workers, and source 0's refresh callback forks; the child returns
 *       from the callback, on its copy of the worker. Prints "<c> callbacks
 *       in the child, <p> in the parent, <r> requests": the child must run
 *       none of the parent's waiting refreshes.
 *   many due URL CLIENT_ID N LIMIT
 *       N sources of CLIENT_ID on a client that sends at most LIMIT token
 *       requests at once; first gets from 32 threads, then every token is
 *       due at once (a margin of all but 1 s of its life) and each source
 *       is got again, which serves the token and starts its refresh in the
 *       background. Prints "<failed> gets failed, at most <m> requests at
 *       once (limit <LIMIT>), at most <w> threads of the library's,
 *       <r> refreshes done".
 *   many held URL CLIENT_ID N
 *       one source of CLIENT_ID is answered 429 with Retry-After (URL is a
 *       scenario that always says so), then N other sources of it get.
 *       Prints "<requests> requests for <N + 1> gets, <h> refused as held".
 *   many fork URL PREFIX N
 *       N sources, each its own client id PREFIX-<k>, on a scenario whose
 *       tokens live 2 s, each got once; then a fork. Once the tokens have
 *       expired, parent and child both get source N/2 at once: they must
 *       share one fetch and one token. Prints "<fetches> fetches of source
 *       <N/2> for both processes, same token: <yes|no>".
 */
#define _GNU_SOURCE
#include <criteo_oauth.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *why) {
    fprintf(stderr, "many: %s\n", why);
    exit(2);
}

#include "fetches_by.h"

static criteo_client *client_for(const char *url, unsigned limit) {
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, url);
    criteo_client_builder_set_max_retries(builder, 0);
    if (limit > 0) {
        criteo_client_builder_set_max_concurrent_requests(builder, limit);
    }
    criteo_client *client = NULL;
    criteo_error *error = NULL;
    if (criteo_client_builder_build(builder, &client, &error) != CRITEO_OK) {
        fprintf(stderr, "many: %s\n", criteo_error_message(error));
        exit(2);
    }
    return client;
}

static criteo_token_source *source_for(const criteo_client *client, const char *client_id) {
    criteo_token_source *source = NULL;
    criteo_error *error = NULL;
    if (criteo_token_source_new(client, "client_credentials", client_id, "secret", NULL, NULL, NULL, &source,
                                &error) != CRITEO_OK) {
        fprintf(stderr, "many: %s\n", criteo_error_message(error));
        exit(2);
    }
    return source;
}

/* The token's text, or NULL when the get failed (its error freed). */
static char *get(const criteo_token_source *source) {
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    if (criteo_token_source_get(source, &token, &error) != CRITEO_OK) {
        criteo_error_free(error);
        return NULL;
    }
    char *text = strdup(criteo_token_access_token(token));
    criteo_token_free(token);
    return text;
}

static int count_entries(const char *directory) {
    DIR *dir = opendir(directory);
    if (dir == NULL) {
        die("cannot list a /proc directory");
    }
    int count = 0;
    for (struct dirent *entry; (entry = readdir(dir)) != NULL;) {
        count += entry->d_name[0] != '.';
    }
    closedir(dir);
    return count - (strcmp(directory, "/proc/self/fd") == 0); /* opendir's own */
}

static int threads_now(void) { return count_entries("/proc/self/task"); }

static int descriptors(const char *url, long n, int own) {
    int *mine = calloc((size_t)own, sizeof *mine);
    for (int i = 0; i < own; i++) {
        mine[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (mine[i] < 0) {
            die("cannot open the program's own descriptors (is ulimit -n too low?)");
        }
    }
    int before = count_entries("/proc/self/fd");
    int threads_before = threads_now();
    criteo_client *client = client_for(url, 0);
    criteo_token_source **sources = calloc((size_t)n, sizeof *sources);
    long failed = 0;
    for (long i = 0; i < n; i++) {
        sources[i] = source_for(client, "many-descriptors");
        char *token = get(sources[i]);
        failed += token == NULL;
        free(token);
    }
    int held = count_entries("/proc/self/fd") - before;
    int threads = threads_now() - threads_before;
    int kept = 0;
    for (int i = 0; i < own; i++) {
        kept += fcntl(mine[i], F_GETFD) >= 0;
    }
    /* Every get again, from the cache. */
    for (long i = 0; i < n; i++) {
        char *token = get(sources[i]);
        failed += token == NULL;
        free(token);
        criteo_token_source_free(sources[i]);
    }
    criteo_client_free(client);
    for (int i = 0; i < own; i++) {
        close(mine[i]);
    }
    printf("%ld sources: %ld gets failed, the library holds %d descriptors and %d threads, %d of %d own "
           "descriptors kept\n",
           n, failed, held, threads, kept, own);
    free(sources);
    free(mine);
    return 0;
}

struct getting {
    criteo_token_source **sources;
    long n;
    atomic_long next, failed;
};

static void *get_some(void *arg) {
    struct getting *work = arg;
    for (long i; (i = atomic_fetch_add(&work->next, 1)) < work->n;) {
        char *token = get(work->sources[i]);
        atomic_fetch_add(&work->failed, token == NULL);
        free(token);
    }
    return NULL;
}

/* A get of each of the N sources, from THREADS threads at once; returns
 * how many failed. */
static long get_all(criteo_token_source **sources, long n, int threads) {
    struct getting work = {.sources = sources, .n = n};
    pthread_t *getters = calloc((size_t)threads, sizeof *getters);
    for (int i = 0; i < threads; i++) {
        pthread_create(&getters[i], NULL, get_some, &work);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(getters[i], NULL);
    }
    free(getters);
    return atomic_load(&work.failed);
}

/* Frees the N sources, their array and their client. */
static void free_all(criteo_token_source **sources, long n, criteo_client *client) {
    for (long i = 0; i < n; i++) {
        criteo_token_source_free(sources[i]);
    }
    free(sources);
    criteo_client_free(client);
}

static atomic_int most_threads;
static atomic_bool storm_over;

static void *watch_threads(void *arg) {
    int base = *(int *)arg;
    while (!atomic_load(&storm_over)) {
        int now = threads_now() - base;
        if (now > atomic_load(&most_threads)) {
            atomic_store(&most_threads, now);
        }
        usleep(2000);
    }
    return NULL;
}

static int due(const char *url, const char *client_id, long n, unsigned limit) {
    criteo_client *client = client_for(url, limit);
    criteo_token_source **sources = calloc((size_t)n, sizeof *sources);
    for (long i = 0; i < n; i++) {
        sources[i] = source_for(client, client_id);
        criteo_token_source_set_refresh_margin(sources[i], 0);
    }
    long failed = get_all(sources, n, 32);
    /* Due at once: every token has more than a second left, and a margin
     * of its lifetime less one second. Then, past that second, one get
     * each: the cached token, and its refresh started in the background. */
    int base = threads_now() + 1; /* the watcher */
    pthread_t watcher;
    pthread_create(&watcher, NULL, watch_threads, &base);
    for (long i = 0; i < n; i++) {
        criteo_token_source_set_refresh_margin(sources[i], 899);
    }
    sleep(2);
    for (long i = 0; i < n; i++) {
        char *token = get(sources[i]);
        failed += token == NULL;
        free(token);
    }
    long refreshed = 0;
    for (int waited = 0; waited < 600 && refreshed < n; waited++) {
        refreshed = 0;
        for (long i = 0; i < n; i++) {
            refreshed += criteo_token_source_stat(sources[i], CRITEO_STAT_FETCHES) >= 2;
        }
        usleep(100000);
    }
    atomic_store(&storm_over, true);
    pthread_join(watcher, NULL);
    free_all(sources, n, client);
    printf("%ld gets failed, at most %ld requests at once (limit %u), at most %d threads of the library's, "
           "%ld refreshes done\n",
           failed, most_at_once(url, client_id), limit, atomic_load(&most_threads), refreshed);
    return 0;
}

static long resident_kib(void) {
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (status != NULL && fgets(line, sizeof line, status) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
            break;
        }
    }
    if (status != NULL) {
        fclose(status);
    }
    return kib;
}

static double wall_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6;
}

static int scale(const char *url, long n) {
    criteo_client *client = client_for(url, 0);
    criteo_token_source *warm = source_for(client, "many-scale-warm");
    free(get(warm));
    int descriptors_before = count_entries("/proc/self/fd");
    int threads_before = threads_now();
    long before = resident_kib();
    double started = wall_ms();
    criteo_token_source **sources = calloc((size_t)n, sizeof *sources);
    for (long i = 0; i < n; i++) {
        sources[i] = source_for(client, "many-scale");
    }
    long failed = get_all(sources, n, 8);
    double spent = wall_ms() - started;
    long grown = resident_kib() - before;
    int descriptors = count_entries("/proc/self/fd") - descriptors_before;
    int threads = threads_now() - threads_before;
    if (failed > 0) {
        die("a get failed");
    }
    printf("%ld %.0f %d %d %ld %.0f\n", n, spent, descriptors, threads, grown, (double)grown * 1024.0 / (double)n);
    criteo_token_source_free(warm);
    free_all(sources, n, client);
    return 0;
}

/* How many files in DIRECTORY end with SUFFIX. */
static int files_ending(const char *directory, const char *suffix) {
    DIR *dir = opendir(directory);
    int count = 0;
    size_t wanted = strlen(suffix);
    for (struct dirent *entry; dir != NULL && (entry = readdir(dir)) != NULL;) {
        size_t length = strlen(entry->d_name);
        count += length > wanted && strcmp(entry->d_name + length - wanted, suffix) == 0;
    }
    if (dir != NULL) {
        closedir(dir);
    }
    return count;
}

static int died(const char *store, const char *url, const char *prefix, long n, bool wait) {
    criteo_client *client = client_for(url, 0);
    char client_id[128];
    for (long i = 0; i < n; i++) {
        snprintf(client_id, sizeof client_id, "%s-%ld", prefix, i);
        criteo_token_source *source = source_for(client, client_id);
        criteo_error *error = NULL;
        if (criteo_token_source_set_store(source, store, &error) != CRITEO_OK) {
            fprintf(stderr, "many: %s\n", criteo_error_message(error));
            exit(2);
        }
        char *token = get(source);
        if (token == NULL) {
            die("a get failed");
        }
        free(token);
        criteo_token_source_free(source);
    }
    int records = files_ending(store, ".json");
    for (int waited = 0; wait && waited < 200; waited++) {
        usleep(100 * 1000);
        int now = files_ending(store, ".json");
        if (now == records && waited >= 10) {
            break;
        }
        records = now;
    }
    printf("%d records, %d lock files\n", files_ending(store, ".json"), files_ending(store, ".lock"));
    criteo_client_free(client);
    return 0;
}

static criteo_token_source *rotating_source(const criteo_client *client, const char *store, const char *refresh) {
    criteo_token_source *source = NULL;
    criteo_error *error = NULL;
    if (criteo_token_source_new(client, "refresh_token", "many-exit", "secret", NULL, NULL, refresh, &source,
                                &error) != CRITEO_OK ||
        criteo_token_source_set_store(source, store, &error) != CRITEO_OK) {
        fprintf(stderr, "many: %s\n", criteo_error_message(error));
        exit(2);
    }
    return source;
}

static int exit_queued(const char *store, const char *url, const char *prefix, long n, bool check) {
    criteo_client *client = client_for(url, 1024);
    criteo_token_source **sources = calloc((size_t)n, sizeof *sources);
    for (long i = 0; i < n; i++) {
        char refresh[128];
        snprintf(refresh, sizeof refresh, "%s-%ld", prefix, i);
        sources[i] = rotating_source(client, store, refresh);
    }
    get_all(sources, n, 32);
    if (!check) {
        for (long i = 0; i < n; i++) {
            criteo_token_source_set_refresh_margin(sources[i], 899);
        }
        sleep(2);
        for (long i = 0; i < n; i++) {
            free(get(sources[i]));
        }
        exit(0); /* with n refreshes in the background, most waiting for a worker */
    }
    for (long i = 0; i < n; i++) {
        criteo_token_source_invalidate(sources[i]);
    }
    long refused = get_all(sources, n, 32);
    printf("%ld lineages still serve, %ld refused\n", n - refused, refused);
    free_all(sources, n, client);
    return 0;
}

static int held_at_once(const char *url, const char *client_id, int threads) {
    criteo_client *client = client_for(url, 1);
    criteo_token_source **sources = calloc((size_t)threads, sizeof *sources);
    for (int i = 0; i < threads; i++) {
        sources[i] = source_for(client, client_id);
    }
    get_all(sources, threads, threads);
    printf("%ld requests for %d gets at once\n", fetches_by(url, client_id), threads);
    free_all(sources, threads, client);
    return 0;
}

enum { MOST_MADE = 100000 };
static criteo_token_source *made[MOST_MADE];
static atomic_long last_made = -1;
static atomic_bool stop_making;

static void *make_sources(void *client) {
    for (long k = 0; k < MOST_MADE && !atomic_load(&stop_making); k++) {
        char refresh[64];
        snprintf(refresh, sizeof refresh, "made-%d-%ld", (int)getpid(), k);
        criteo_error *error = NULL;
        if (criteo_token_source_new(client, "refresh_token", "many-made", "secret", NULL, NULL, refresh, &made[k],
                                    &error) != CRITEO_OK) {
            die("criteo_token_source_new failed");
        }
        atomic_store(&last_made, k);
    }
    return NULL;
}

static int fork_while_making(const char *url, int forks) {
    criteo_client *client = client_for(url, 0);
    pthread_t maker;
    pthread_create(&maker, NULL, make_sources, client);
    while (atomic_load(&last_made) < 0) {
        usleep(100);
    }
    int not_shared = 0;
    for (int f = 0; f < forks; f++) {
        int pipe_ends[2];
        if (pipe(pipe_ends) != 0) {
            die("pipe");
        }
        pid_t child = fork();
        if (child == 0) {
            long k = atomic_load(&last_made);
            char *token = get(made[k]);
            dprintf(pipe_ends[1], "%ld %s\n", k, token != NULL ? token : "(failed)");
            _exit(0);
        }
        close(pipe_ends[1]);
        char line[512] = "";
        FILE *from_child = fdopen(pipe_ends[0], "r");
        char *read = fgets(line, sizeof line, from_child);
        fclose(from_child);
        waitpid(child, NULL, 0);
        long k;
        char theirs[400];
        if (read == NULL || sscanf(line, "%ld %399s", &k, theirs) != 2) {
            die("no word from a child");
        }
        char *ours = get(made[k]);
        not_shared += ours == NULL || strcmp(ours, theirs) != 0;
        free(ours);
    }
    atomic_store(&stop_making, true);
    pthread_join(maker, NULL);
    for (long k = 0; k <= atomic_load(&last_made); k++) {
        criteo_token_source_free(made[k]);
    }
    criteo_client_free(client);
    printf("%d forks while sources were made: %d not shared\n", forks, not_shared);
    return 0;
}

/* Callbacks counted across fork(), in memory parent and child share. */
struct callbacks {
    atomic_int in_parent, in_child, forked;
};
static struct callbacks *seen;
static pid_t parent_pid;

static void counted_callback(void *user_data, const criteo_token *token) {
    (void)token;
    if (getpid() != parent_pid) {
        atomic_fetch_add(&seen->in_child, 1);
        return;
    }
    atomic_fetch_add(&seen->in_parent, 1);
    if (user_data != NULL && atomic_exchange(&seen->forked, 1) == 0 && fork() == 0) {
        alarm(20);
        return; /* the child goes on from the callback, on the worker */
    }
}

static int fork_in_worker(const char *url, long n) {
    seen = mmap(NULL, sizeof *seen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (seen == MAP_FAILED) {
        die("mmap");
    }
    parent_pid = getpid();
    criteo_client *client = client_for(url, 1024);
    char client_id[64];
    snprintf(client_id, sizeof client_id, "many-fork-in-worker-%d", (int)getpid());
    criteo_token_source **sources = calloc((size_t)n, sizeof *sources);
    for (long i = 0; i < n; i++) {
        char refresh[128];
        snprintf(refresh, sizeof refresh, "%s-%ld", client_id, i);
        criteo_error *error = NULL;
        if (criteo_token_source_new(client, "refresh_token", client_id, "secret", NULL, NULL, refresh, &sources[i],
                                    &error) != CRITEO_OK) {
            die("criteo_token_source_new failed");
        }
        free(get(sources[i]));
        criteo_token_source_set_refresh_margin(sources[i], 900);
    }
    /* Set after the first gets: only the refreshes call back. */
    for (long i = 0; i < n; i++) {
        criteo_token_source_set_refresh_callback(sources[i], counted_callback, i == 0 ? "fork" : NULL);
    }
    for (long i = 0; i < n; i++) {
        free(get(sources[i]));
    }
    for (int waited = 0; waited < 100 && atomic_load(&seen->in_parent) < n; waited++) {
        usleep(100 * 1000);
    }
    while (wait(NULL) > 0) {
    }
    printf("%d callbacks in the child, %d in the parent, %ld requests\n", atomic_load(&seen->in_child),
           atomic_load(&seen->in_parent), fetches_by(url, client_id));
    free_all(sources, n, client);
    return 0;
}

static int held(const char *url, const char *client_id, long n) {
    criteo_client *client = client_for(url, 0);
    criteo_token_source *first = source_for(client, client_id);
    free(get(first));
    long refused_as_held = 0;
    for (long i = 0; i < n; i++) {
        criteo_token_source *source = source_for(client, client_id);
        criteo_token *token = NULL;
        criteo_error *error = NULL;
        if (criteo_token_source_get(source, &token, &error) == CRITEO_OK) {
            criteo_token_free(token);
        } else {
            refused_as_held += criteo_error_http_status(error) == 429 && criteo_error_retry_after(error) > 0 &&
                               strstr(criteo_error_message(error), "not sent") != NULL;
            criteo_error_free(error);
        }
        criteo_token_source_free(source);
    }
    criteo_token_source_free(first);
    criteo_client_free(client);
    printf("%ld requests for %ld gets, %ld refused as held\n", fetches_by(url, client_id), n + 1,
           refused_as_held);
    return 0;
}

static int fork_among_many(const char *url, const char *prefix, long n) {
    criteo_client *client = client_for(url, 0);
    criteo_token_source **sources = calloc((size_t)n, sizeof *sources);
    char client_id[128];
    for (long i = 0; i < n; i++) {
        snprintf(client_id, sizeof client_id, "%s-%ld", prefix, i);
        sources[i] = source_for(client, client_id);
        free(get(sources[i]));
    }
    long chosen = n / 2;
    snprintf(client_id, sizeof client_id, "%s-%ld", prefix, chosen);
    int to_parent[2];
    if (pipe(to_parent) != 0) {
        die("pipe");
    }
    pid_t child = fork();
    if (child < 0) {
        die("fork");
    }
    sleep(3); /* the tokens, of 2 s, have expired */
    char *token = get(sources[chosen]);
    if (child == 0) {
        dprintf(to_parent[1], "%s\n", token != NULL ? token : "(failed)");
        _exit(0);
    }
    char theirs[4096] = "";
    FILE *from_child = fdopen(to_parent[0], "r");
    close(to_parent[1]);
    if (fgets(theirs, sizeof theirs, from_child) == NULL) {
        die("no word from the child");
    }
    theirs[strcspn(theirs, "\n")] = '\0';
    waitpid(child, NULL, 0);
    bool same = token != NULL && strcmp(token, theirs) == 0;
    printf("%ld fetches of source %ld for both processes, same token: %s\n", fetches_by(url, client_id), chosen,
           same ? "yes" : "no");
    free(token);
    fclose(from_child);
    free_all(sources, n, client);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "descriptors") == 0) {
        return descriptors(argv[2], atol(argv[3]), atoi(argv[4]));
    }
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "died") == 0) {
        return died(argv[2], argv[3], argv[4], atol(argv[5]), argc == 7 && strcmp(argv[6], "wait") == 0);
    }
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "exit-queued") == 0) {
        return exit_queued(argv[2], argv[3], argv[4], atol(argv[5]), argc == 7 && strcmp(argv[6], "check") == 0);
    }
    if (argc == 5 && strcmp(argv[1], "held-at-once") == 0) {
        return held_at_once(argv[2], argv[3], atoi(argv[4]));
    }
    if (argc == 4 && strcmp(argv[1], "fork-while-making") == 0) {
        return fork_while_making(argv[2], atoi(argv[3]));
    }
    if (argc == 4 && strcmp(argv[1], "fork-in-worker") == 0) {
        return fork_in_worker(argv[2], atol(argv[3]));
    }
    if (argc == 4 && strcmp(argv[1], "scale") == 0) {
        return scale(argv[2], atol(argv[3]));
    }
    if (argc == 6 && strcmp(argv[1], "due") == 0) {
        return due(argv[2], argv[3], atol(argv[4]), (unsigned)atoi(argv[5]));
    }
    if (argc == 5 && strcmp(argv[1], "held") == 0) {
        return held(argv[2], argv[3], atol(argv[4]));
    }
    if (argc == 5 && strcmp(argv[1], "fork") == 0) {
        return fork_among_many(argv[2], argv[3], atol(argv[4]));
    }
    fprintf(stderr, "usage: see the comment at the top of many.c\n");
    return 2;
}
