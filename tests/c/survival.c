/*
 * survival.c: what a long-running host does to the library.
 *
 * 1. A signal every millisecond (a handler installed without SA_RESTART,
 *    so every blocking system call is interrupted): calls still succeed.
 * 2. No file descriptor left (RLIMIT_NOFILE at the number already open):
 *    a call that needs a new connection, a name lookup and reading the
 *    system's trust store (at an https client's first connection) each
 *    fail with CRITEO_ERR_TRANSPORT saying so;
 *    once descriptors are available again, calls succeed.
 * Throughout, the library installs no signal handler and changes no signal
 * mask: every disposition and the mask are the same at the end (SIGALRM's
 * aside, which this program sets).
 * 3. Many failing calls (a refused connection, a 500 answer): no file
 *    descriptor is left open, and, with "check-memory", the resident size
 *    stays flat (under 2 MiB of growth after a warm-up).
 *
 * Usage: survival URL CALLS [check-memory]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "criteo_oauth.h"

static volatile sig_atomic_t signals_received;

static void on_alarm(int signal) {
    (void)signal;
    signals_received++;
}

static criteo_client *client_for(const char *url) {
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, url);
    criteo_client_builder_set_proxy(builder, "");
    criteo_client_builder_set_max_retries(builder, 0);
    criteo_client *client = NULL;
    if (criteo_client_builder_build(builder, &client, NULL) != CRITEO_OK) {
        exit(2);
    }
    return client;
}

static criteo_status call(const criteo_client *client, char *message, size_t size) {
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    criteo_status status = criteo_get_token(client, "client_credentials", "demo-client",
                                            "demo-secret", NULL, NULL, NULL, &token, &error);
    if (message != NULL) {
        snprintf(message, size, "%s", error != NULL ? criteo_error_message(error) : "");
    }
    criteo_token_free(token);
    criteo_error_free(error);
    return status;
}

/* Open file descriptors, not counting ".", ".." and the listing's own. */
static int open_descriptors(void) {
    int count = 0;
    DIR *fds = opendir("/proc/self/fd");
    while (fds != NULL && readdir(fds) != NULL) {
        count++;
    }
    if (fds != NULL) {
        closedir(fds);
    }
    return count - 3;
}

static long resident_kib(void) {
    long pages = 0, resident = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (statm != NULL) {
        if (fscanf(statm, "%ld %ld", &pages, &resident) != 2) {
            resident = 0;
        }
        fclose(statm);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A loopback port nothing listens on. */
static int closed_port(void) {
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    bind(probe, (struct sockaddr *)&address, sizeof address);
    getsockname(probe, (struct sockaddr *)&address, &length);
    close(probe);
    return ntohs(address.sin_port);
}

static int under_signals(const char *url, int calls) {
    char slow[512];
    snprintf(slow, sizeof slow, "%s/scenario/slow-20", url);
    criteo_client *client = client_for(slow);
    struct sigaction action = {.sa_handler = on_alarm}; /* no SA_RESTART */
    sigaction(SIGALRM, &action, NULL);
    struct itimerval every_ms = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_REAL, &every_ms, NULL);
    int failed = 0;
    char message[512];
    for (int i = 0; i < calls; i++) {
        if (call(client, message, sizeof message) != CRITEO_OK) {
            if (failed++ == 0) {
                printf("under signals: %s\n", message);
            }
        }
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    criteo_client_free(client);
    printf("%d calls under a signal every ms (%d signals): %d failed\n", calls,
           (int)signals_received, failed);
    return failed;
}

static int out_of_descriptors(const char *url) {
    criteo_client *client = client_for(url);
    /* With a CA file, read now: its first connection starts at the lookup. */
    criteo_client_builder *named_builder = criteo_client_builder_new();
    criteo_client_builder_set_host(named_builder, "https://criteo-oauth-test.invalid");
    criteo_client_builder_set_proxy(named_builder, "");
    criteo_client_builder_set_ca_file(named_builder, "/etc/ssl/certs/ca-certificates.crt");
    criteo_client *named = NULL;
    if (criteo_client_builder_build(named_builder, &named, NULL) != CRITEO_OK) {
        exit(2);
    }
    struct rlimit saved;
    getrlimit(RLIMIT_NOFILE, &saved);
    int lowest_free = dup(STDIN_FILENO); /* a new descriptor takes the lowest free number */
    close(lowest_free);
    struct rlimit none_left = {(rlim_t)lowest_free, saved.rlim_max};
    char message[512], lookup[512];
    setrlimit(RLIMIT_NOFILE, &none_left);
    criteo_status starved = call(client, message, sizeof message);
    criteo_status starved_lookup = call(named, lookup, sizeof lookup);
    /* An https client reads the system's trust store when it first
     * connects (the default host: the store is read before any lookup). */
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_proxy(builder, "");
    criteo_client *https = NULL;
    if (criteo_client_builder_build(builder, &https, NULL) != CRITEO_OK) {
        exit(2);
    }
    char trust[512];
    criteo_status starved_trust = call(https, trust, sizeof trust);
    criteo_client_free(https);
    setrlimit(RLIMIT_NOFILE, &saved);
    criteo_status recovered = call(client, NULL, 0);
    criteo_client_free(client);
    criteo_client_free(named);
    printf("out of descriptors: %s (%s); a name lookup: %s (%s); the trust store: %s (%s); "
           "after: %s\n",
           criteo_status_str(starved), message, criteo_status_str(starved_lookup), lookup,
           criteo_status_str(starved_trust), trust, criteo_status_str(recovered));
    return starved != CRITEO_ERR_TRANSPORT || strstr(message, "Too many open files") == NULL ||
           starved_lookup != CRITEO_ERR_TRANSPORT ||
           strstr(lookup, "no file descriptor is left") == NULL ||
           starved_trust != CRITEO_ERR_TRANSPORT ||
           strstr(trust, "no file descriptor is left") == NULL || recovered != CRITEO_OK;
}

static int failing_calls(const char *url, int calls, int check_memory) {
    char refused[128], broken[512];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d", closed_port());
    snprintf(broken, sizeof broken, "%s/scenario/500", url);
    criteo_client *clients[2] = {client_for(refused), client_for(broken)};
    for (int i = 0; i < 200; i++) {
        call(clients[i % 2], NULL, 0);
    }
    int descriptors = open_descriptors();
    long resident = resident_kib();
    int unexpected = 0;
    for (int i = 0; i < calls; i++) {
        criteo_status status = call(clients[i % 2], NULL, 0);
        unexpected += status != (i % 2 == 0 ? CRITEO_ERR_TRANSPORT : CRITEO_ERR_HTTP_STATUS);
    }
    int descriptors_after = open_descriptors();
    long growth = resident_kib() - resident;
    criteo_client_free(clients[0]);
    criteo_client_free(clients[1]);
    printf("%d failing calls: %d with an unexpected status; descriptors %d -> %d; resident "
           "growth %ld KiB%s\n",
           calls, unexpected, descriptors, descriptors_after, growth,
           check_memory ? "" : " (not checked)");
    return unexpected != 0 || descriptors_after != descriptors ||
           (check_memory && growth > 2048);
}

/* Every signal's handler and flags, and the signal mask. */
struct signal_state {
    struct sigaction actions[NSIG];
    sigset_t mask;
};

static void take_signal_state(struct signal_state *state) {
    memset(state, 0, sizeof *state);
    for (int signal = 1; signal < NSIG; signal++) {
        sigaction(signal, NULL, &state->actions[signal]);
    }
    sigprocmask(SIG_BLOCK, NULL, &state->mask);
}

/* Signals whose disposition or blocking changed, SIGALRM aside. */
static int signals_changed(const struct signal_state *before) {
    struct signal_state after;
    take_signal_state(&after);
    int changed = 0;
    for (int signal = 1; signal < NSIG; signal++) {
        if (signal == SIGALRM) {
            continue;
        }
        const struct sigaction *a = &before->actions[signal], *b = &after.actions[signal];
        if (a->sa_handler != b->sa_handler || a->sa_flags != b->sa_flags ||
            sigismember(&before->mask, signal) != sigismember(&after.mask, signal)) {
            printf("signal %d: its handler, flags or blocking changed\n", signal);
            changed++;
        }
    }
    return changed;
}

int main(int argc, char **argv) {
    static struct signal_state before;
    take_signal_state(&before);
    if (argc < 3) {
        fprintf(stderr, "usage: survival URL CALLS [check-memory]\n");
        return 2;
    }
    int calls = atoi(argv[2]);
    int check_memory = argc > 3 && strcmp(argv[3], "check-memory") == 0;
    int failures = under_signals(argv[1], calls / 30) + out_of_descriptors(argv[1]) +
                   failing_calls(argv[1], calls, check_memory) + signals_changed(&before);
    printf(failures == 0 ? "survived\n" : "FAILED\n");
    return failures == 0 ? 0 : 1;
}
