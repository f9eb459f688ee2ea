/*
 * fleet.c: the hosts of a fleet, sharing one token through a store on
 * Redis. A host is a process of its own, started with fork() and exec()
 * of this program, with its own TMPDIR and XDG_RUNTIME_DIR: nothing but
 * the Redis server is shared (no store directory, and no anonymous store
 * inherited across fork()). Every host names its store the way a deployed
 * program would: set_store(NULL), so $CRITEO_OAUTH_STORE (a redis:// URL,
 * whose password stays off argv). Every fetch is counted by the test
 * server (GET /count/<client_id>).
 *
 *   fleet host URL CLIENT_ID ROUNDS get|reject [REFRESH_TOKEN]
 *       one host: a source (client_credentials, or the refresh_token grant
 *       when REFRESH_TOKEN is given; secret $FLEET_SECRET or
 *       "fleet-S3cret") with a total time limit of $FLEET_LIMIT_MS (5000),
 *       on the store $CRITEO_OAUTH_STORE names. Each round: a get and, in
 *       reject mode, criteo_token_source_reject of that token and another
 *       get. A get that times out is tried again, 200 ms later, while less
 *       than $FLEET_RETRY_MS (0) have passed since the first try. With
 *       $FLEET_WAIT_LINE set, each round after the first starts once a
 *       line is read from stdin. Prints a line per get:
 *         get R.I: TOKEN STATUS MS ms within|OVER LIMIT ms; store STATUS MESSAGE
 *       ("refresh RT" after it when the token has one), and last:
 *         host: F failed gets, I invalid_grant, R rejected tokens returned,
 *         O over the limit, last TOKEN
 *   fleet hosts N URL CLIENT_ID ROUNDS get|reject [REFRESH_TOKEN]
 *       N hosts (as above), started at once (each waits, between its fork
 *       and its exec, for all to be forked). Prints every host's lines,
 *       prefixed "[host I] ", then
 *         N hosts: T with a token, L distinct last tokens, F failed gets,
 *         I invalid_grant, R rejected tokens returned, S distinct tokens
 *         seen, C fetches
 *         last token: TOKEN
 *   fleet stopped-holder URL CLIENT_ID B_LIMIT_MS [REFRESH_TOKEN]
 *       URL is a slow scenario (the holder must be inside its fetch), each
 *       host's total time limit 2 s (so the lease is 4 s), B's B_LIMIT_MS
 *       (with 2000, B waits for the lock less than the lease). With
 *       REFRESH_TOKEN, a first host starts the lineage, and the holder
 *       rejects the stored token and refreshes it. The holder (host A) is
 *       stopped with SIGSTOP as soon as the server has its request; host B
 *       then gets a token (trying again after timeouts, up to 15 s); then A
 *       is continued (SIGCONT) and finishes; then host C gets a token and,
 *       with REFRESH_TOKEN, rejects it and gets another (a refresh with the
 *       refresh token the store kept). Prints every host's lines, then
 *         B: OUTCOME N ms after the stop (the lease ran out at about M ms):
 *         after|BEFORE the lease; store STATUS
 *         A after SIGCONT: STATUS
 *         C: WHOSE token, F failed gets, I invalid_grant; fetches after C: N
 *       where WHOSE is "B's", "A's" or "another".
 *   fleet count URL CLIENT_ID
 *       prints how many token requests CLIENT_ID has made.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "criteo_oauth.h"

#define MAX_HOSTS 64
#define MAX_TOKENS 4096

static void die(const char *what) {
    fprintf(stderr, "%s: %s\n", what, strerror(errno));
    exit(2);
}

static long now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static long env_long(const char *name, long fallback) {
    const char *value = getenv(name);
    return value != NULL && value[0] != '\0' ? atol(value) : fallback;
}

#include "fetches_by.h"

/* ---- one host ---- */

struct tally {
    int failures, invalid_grants, rejected_returned, over_limit;
};

static criteo_client *client_for(const char *url, long total_ms) {
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, url);
    criteo_client_builder_set_timeouts(builder, 1000, (uint32_t)total_ms);
    criteo_client_builder_set_proxy(builder, "");
    criteo_client *client = NULL;
    criteo_error *error = NULL;
    if (criteo_client_builder_build(builder, &client, &error) != CRITEO_OK) {
        printf("client: %s\n", criteo_error_message(error));
        exit(2);
    }
    return client;
}

/* One get (tried again after timeouts while less than `retry_ms` have
 * passed), each try printed; the token as a string the caller frees, or
 * NULL. */
static char *timed_get(criteo_token_source *source, int round, int which, long limit_ms,
                       long retry_ms, struct tally *tally) {
    long first_try = now_ms();
    for (int attempt = 1;; attempt++) {
        criteo_token *token = NULL;
        criteo_error *error = NULL;
        long started = now_ms();
        criteo_status status = criteo_token_source_get(source, &token, &error);
        long elapsed = now_ms() - started;
        criteo_error *store_error = NULL;
        criteo_status store = criteo_token_source_store_error(source, &store_error);
        const char *message = error != NULL ? criteo_error_message(error) : "";
        bool over = elapsed > limit_ms;
        tally->over_limit += over;
        char try_number[32] = "";
        if (attempt > 1) {
            snprintf(try_number, sizeof try_number, " try %d", attempt);
        }
        printf("get %d.%d%s: %s %s %ld ms %s %ld ms; store %s %s", round, which, try_number,
               status == CRITEO_OK ? criteo_token_access_token(token) : "NONE",
               criteo_status_str(status), elapsed, over ? "OVER" : "within", limit_ms,
               criteo_status_str(store), store_error != NULL ? criteo_error_message(store_error) : "");
        if (status == CRITEO_OK && criteo_token_refresh_token(token) != NULL) {
            printf("; refresh %s", criteo_token_refresh_token(token));
        }
        if (status != CRITEO_OK) {
            printf("; error %s", message);
        }
        printf("\n");
        fflush(stdout);
        char *text = status == CRITEO_OK ? strdup(criteo_token_access_token(token)) : NULL;
        bool invalid_grant = status != CRITEO_OK && strstr(message, "invalid_grant") != NULL;
        criteo_token_free(token);
        criteo_error_free(error);
        criteo_error_free(store_error);
        tally->invalid_grants += invalid_grant;
        if (status == CRITEO_ERR_TIMEOUT && now_ms() - first_try < retry_ms) {
            usleep(200 * 1000);
            continue;
        }
        tally->failures += status != CRITEO_OK;
        return text;
    }
}

static int host(int argc, char **argv) {
    const char *url = argv[2], *client_id = argv[3], *mode = argv[5];
    const char *refresh_token = argc > 6 ? argv[6] : NULL;
    int rounds = atoi(argv[4]);
    long limit = env_long("FLEET_LIMIT_MS", 5000), retry = env_long("FLEET_RETRY_MS", 0);
    const char *secret = getenv("FLEET_SECRET") != NULL ? getenv("FLEET_SECRET") : "fleet-S3cret";
    alarm(90);
    criteo_client *client = client_for(url, limit);
    criteo_token_source *source = NULL;
    criteo_error *error = NULL;
    if (criteo_token_source_new(client, refresh_token != NULL ? "refresh_token" : "client_credentials",
                                client_id, secret, NULL, NULL, refresh_token, &source,
                                &error) != CRITEO_OK) {
        printf("source: %s\n", criteo_error_message(error));
        return 2;
    }
    criteo_status status = criteo_token_source_set_store(source, NULL, &error);
    if (status != CRITEO_OK) {
        printf("set_store: %s: %s\n", criteo_status_str(status), criteo_error_message(error));
        criteo_error_free(error);
        return 3;
    }
    struct tally tally = {0};
    char *last = NULL;
    for (int round = 1; round <= rounds; round++) {
        if (round > 1 && getenv("FLEET_WAIT_LINE") != NULL) {
            char line[64];
            if (fgets(line, sizeof line, stdin) == NULL) {
                printf("no line on stdin before round %d\n", round);
                return 2;
            }
        }
        char *token = timed_get(source, round, 1, limit, retry, &tally);
        if (token != NULL && strcmp(mode, "reject") == 0) {
            criteo_token_source_reject(source, token);
            char *again = timed_get(source, round, 2, limit, retry, &tally);
            tally.rejected_returned += again != NULL && strcmp(again, token) == 0;
            free(token);
            token = again;
        }
        if (token != NULL) {
            free(last);
            last = token;
        }
    }
    printf("host: %d failed gets, %d invalid_grant, %d rejected tokens returned, %d over the limit, last %s\n",
           tally.failures, tally.invalid_grants, tally.rejected_returned, tally.over_limit,
           last != NULL ? last : "NONE");
    free(last);
    criteo_token_source_free(source);
    criteo_client_free(client);
    return 0;
}

/* ---- hosts, as processes of their own ---- */

struct spawned {
    pid_t pid;
    char dir[PATH_MAX];
    char out[PATH_MAX + 8];
};

static char self[PATH_MAX];
static char base[] = "/tmp/fleet-XXXXXX";

static int remove_entry(const char *path, const struct stat *status, int flag, struct FTW *walk) {
    (void)status, (void)flag, (void)walk;
    return remove(path);
}

static void remove_hosts(void) {
    nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void prepare(void) {
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        die("readlink /proc/self/exe");
    }
    self[n] = '\0';
    if (mkdtemp(base) == NULL) {
        die("mkdtemp");
    }
    atexit(remove_hosts);
}

/* Forks host `index`: its own directories, TMPDIR and XDG_RUNTIME_DIR,
 * stdout (and stderr) into a file, `extra` variables set ("NAME=VALUE",
 * NULL-terminated); it waits for EOF on `barrier` (when not -1) before
 * its exec of this program with `args` (after argv[0]). */
static void spawn(struct spawned *host, int index, char *const args[], const char *const extra[],
                  int barrier, int barrier_writer) {
    snprintf(host->dir, sizeof host->dir, "%s/host-%d", base, index);
    char tmp[PATH_MAX + 8], run[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s/tmp", host->dir);
    snprintf(run, sizeof run, "%s/run", host->dir);
    snprintf(host->out, sizeof host->out, "%s/out", host->dir);
    if (mkdir(host->dir, 0700) != 0 || mkdir(tmp, 0700) != 0 || mkdir(run, 0700) != 0) {
        die("mkdir");
    }
    fflush(stdout);
    host->pid = fork();
    if (host->pid < 0) {
        die("fork");
    }
    if (host->pid > 0) {
        return;
    }
    if (barrier_writer >= 0) {
        close(barrier_writer);
    }
    int out = open(host->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
        _exit(2);
    }
    close(out);
    setenv("TMPDIR", tmp, 1);
    setenv("XDG_RUNTIME_DIR", run, 1);
    for (int i = 0; extra != NULL && extra[i] != NULL; i++) {
        putenv((char *)extra[i]);
    }
    if (barrier >= 0) {
        char byte;
        while (read(barrier, &byte, 1) > 0) {
        }
        close(barrier);
    }
    char *argv[16] = {self};
    for (int i = 0; args[i] != NULL && i < 14; i++) {
        argv[i + 1] = args[i];
    }
    execv(self, argv);
    _exit(127);
}

/* Waits for the host; its output, which the caller frees (prefixed
 * copies printed), and whether it exited 0. */
static char *finish(struct spawned *host, const char *name, bool *ok) {
    int status = 0;
    waitpid(host->pid, &status, 0);
    *ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    FILE *file = fopen(host->out, "r");
    char *all = calloc(1, 1 << 20);
    size_t got = file != NULL ? fread(all, 1, (1 << 20) - 1, file) : 0;
    all[got] = '\0';
    if (file != NULL) {
        fclose(file);
    }
    char *copy = strdup(all);
    for (char *line = strtok(copy, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        printf("[%s] %s\n", name, line);
    }
    if (!*ok) {
        printf("[%s] EXITED %s %d\n", name, WIFEXITED(status) ? "with" : "on signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
    free(copy);
    return all;
}

/* The tokens of a host's "get" lines, added to `seen` when new. */
static int collect_tokens(const char *output, char **seen, int count) {
    char *copy = strdup(output);
    char *saved = NULL;
    for (char *line = strtok_r(copy, "\n", &saved); line != NULL; line = strtok_r(NULL, "\n", &saved)) {
        if (strncmp(line, "get ", 4) != 0) {
            continue;
        }
        char *colon = strstr(line, ": ");
        if (colon == NULL) {
            continue;
        }
        char token[8192];
        if (sscanf(colon + 2, "%8191s", token) != 1 || strcmp(token, "NONE") == 0) {
            continue;
        }
        bool known = false;
        for (int i = 0; i < count && !known; i++) {
            known = strcmp(seen[i], token) == 0;
        }
        if (!known && count < MAX_TOKENS) {
            seen[count++] = strdup(token);
        }
    }
    free(copy);
    return count;
}

/* The summary of a host's output ("host: ..."): false when missing. */
static bool summary_of(const char *output, struct tally *tally, char *last, size_t capacity) {
    const char *line = strstr(output, "host: ");
    char format[160];
    snprintf(format, sizeof format,
             "host: %%d failed gets, %%d invalid_grant, %%d rejected tokens returned, "
             "%%d over the limit, last %%%zus",
             capacity - 1);
    return line != NULL && sscanf(line, format, &tally->failures, &tally->invalid_grants,
                                  &tally->rejected_returned, &tally->over_limit, last) == 5;
}

static int hosts(int argc, char **argv) {
    int count = atoi(argv[2]);
    const char *url = argv[3], *client_id = argv[4];
    if (count < 1 || count > MAX_HOSTS) {
        fprintf(stderr, "1 to %d hosts\n", MAX_HOSTS);
        return 2;
    }
    prepare();
    int barrier[2];
    if (pipe2(barrier, O_CLOEXEC) != 0) {
        die("pipe");
    }
    char *args[8] = {"host"};
    for (int i = 3; i < argc && i < 9; i++) {
        args[i - 2] = argv[i];
    }
    struct spawned spawned[MAX_HOSTS];
    for (int i = 0; i < count; i++) {
        spawn(&spawned[i], i, args, NULL, barrier[0], barrier[1]);
    }
    close(barrier[0]);
    close(barrier[1]); /* all start now */
    int with_token = 0, distinct_last = 0, seen_count = 0;
    struct tally total = {0};
    char *seen[MAX_TOKENS], *lasts[MAX_HOSTS];
    for (int i = 0; i < count; i++) {
        char name[32];
        snprintf(name, sizeof name, "host %d", i);
        bool ok;
        char *output = finish(&spawned[i], name, &ok);
        struct tally tally = {0};
        lasts[i] = calloc(1, 8192);
        if (!ok || !summary_of(output, &tally, lasts[i], 8192)) {
            total.failures++;
            strcpy(lasts[i], "NONE");
        }
        total.failures += tally.failures;
        total.invalid_grants += tally.invalid_grants;
        total.rejected_returned += tally.rejected_returned;
        with_token += strcmp(lasts[i], "NONE") != 0;
        bool known = false;
        for (int j = 0; j < i && !known; j++) {
            known = strcmp(lasts[j], lasts[i]) == 0;
        }
        distinct_last += !known && strcmp(lasts[i], "NONE") != 0;
        seen_count = collect_tokens(output, seen, seen_count);
        free(output);
    }
    printf("%d hosts: %d with a token, %d distinct last tokens, %d failed gets, %d invalid_grant, "
           "%d rejected tokens returned, %d distinct tokens seen, %ld fetches\n",
           count, with_token, distinct_last, total.failures, total.invalid_grants,
           total.rejected_returned, seen_count, fetches_by(url, client_id));
    printf("last token: %s\n", lasts[0]);
    for (int i = 0; i < count; i++) {
        free(lasts[i]);
    }
    for (int i = 0; i < seen_count; i++) {
        free(seen[i]);
    }
    return 0;
}

/* The last token a host's output names ("host: ... last TOKEN"), in
 * `last`; the tally in `tally`. */
static void outcome_of(const char *output, bool ok, struct tally *tally, char *last, size_t capacity) {
    if (!ok || !summary_of(output, tally, last, capacity)) {
        snprintf(last, capacity, "NONE");
        tally->failures++;
    }
}

static int stopped_holder(int argc, char **argv) {
    const char *url = argv[2], *client_id = argv[3];
    char *refresh_token = argc > 5 ? argv[5] : NULL;
    const long limit = 2000, lease = limit + 2000;
    prepare();
    static const char *const limited[] = {"FLEET_LIMIT_MS=2000", NULL};
    char b_limit[64];
    snprintf(b_limit, sizeof b_limit, "FLEET_LIMIT_MS=%ld", atol(argv[4]));
    const char *const retrying[] = {b_limit, "FLEET_RETRY_MS=15000", NULL};
    char *get_args[] = {"host", (char *)url, (char *)client_id, "1", "get", refresh_token, NULL};
    char *reject_args[] = {"host", (char *)url, (char *)client_id, "1", "reject", refresh_token, NULL};
    struct spawned first, a, b, c;
    bool ok;
    char last_a[8192], last_b[8192], last_c[8192];
    struct tally tally_a = {0}, tally_b = {0}, tally_c = {0};
    if (refresh_token != NULL) {
        spawn(&first, 0, get_args, limited, -1, -1);
        free(finish(&first, "first", &ok));
        if (!ok) {
            printf("the first host failed\n");
            return 1;
        }
    }
    long before = fetches_by(url, client_id);
    spawn(&a, 1, refresh_token != NULL ? reject_args : get_args, limited, -1, -1);
    long asked = now_ms();
    while (fetches_by(url, client_id) == before) {
        if (now_ms() - asked > 10000) {
            printf("the holder never asked the server\n");
            kill(a.pid, SIGKILL);
            free(finish(&a, "A", &ok));
            return 1;
        }
        usleep(2000);
    }
    kill(a.pid, SIGSTOP);
    long stopped = now_ms();
    printf("A stopped %ld ms after its start, inside its fetch\n", stopped - asked);
    spawn(&b, 2, get_args, retrying, -1, -1);
    char *output_b = finish(&b, "B", &ok);
    long b_done = now_ms() - stopped;
    outcome_of(output_b, ok, &tally_b, last_b, sizeof last_b);
    kill(a.pid, SIGCONT);
    char *output_a = finish(&a, "A", &ok);
    outcome_of(output_a, ok, &tally_a, last_a, sizeof last_a);
    long after_a = fetches_by(url, client_id);
    spawn(&c, 3, refresh_token != NULL ? reject_args : get_args, limited, -1, -1);
    char *output_c = finish(&c, "C", &ok);
    outcome_of(output_c, ok, &tally_c, last_c, sizeof last_c);
    /* C's first token: the one the store held. */
    char c_first[8192] = "NONE";
    const char *line = strstr(output_c, "get 1.1: ");
    if (line == NULL || sscanf(line + 9, "%8191s", c_first) != 1) {
        snprintf(c_first, sizeof c_first, "NONE");
    }
    const char *whose = strcmp(c_first, "NONE") == 0  ? "no"
                        : strcmp(c_first, last_b) == 0 ? "B's"
                        : strcmp(c_first, last_a) == 0 ? "A's"
                                                       : "another";
    /* The store's state when B got its token (its last get line). */
    char b_store[64] = "NONE";
    const char *b_line = NULL;
    for (const char *at = strstr(output_b, "; store "); at != NULL; at = strstr(at + 1, "; store ")) {
        b_line = at;
    }
    if (b_line == NULL || sscanf(b_line, "; store %63s", b_store) != 1) {
        snprintf(b_store, sizeof b_store, "NONE");
    }
    if (strcmp(last_b, "NONE") != 0) {
        printf("B: a token %ld ms after the stop (the lease ran out at about %ld ms): %s; store %s\n",
               b_done, lease, b_done >= lease - 1000 ? "after the lease" : "BEFORE THE LEASE", b_store);
    } else {
        printf("B: no token, %d invalid_grant, %ld ms after the stop\n", tally_b.invalid_grants, b_done);
    }
    printf("A after SIGCONT: %s\n", strcmp(last_a, "NONE") != 0 ? "a token" : "no token");
    printf("C: %s token, %d failed gets, %d invalid_grant; fetches after C: %ld (%+ld)\n", whose,
           tally_c.failures, tally_c.invalid_grants, fetches_by(url, client_id),
           fetches_by(url, client_id) - after_a);
    free(output_a);
    free(output_b);
    free(output_c);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 6 && strcmp(argv[1], "host") == 0) {
        return host(argc, argv);
    }
    if (argc >= 7 && strcmp(argv[1], "hosts") == 0) {
        return hosts(argc, argv);
    }
    if (argc >= 5 && strcmp(argv[1], "stopped-holder") == 0) {
        return stopped_holder(argc, argv);
    }
    if (argc == 4 && strcmp(argv[1], "count") == 0) {
        printf("%ld\n", fetches_by(argv[2], argv[3]));
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of tests/c/fleet.c\n");
    return 2;
}
