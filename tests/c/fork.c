/*
 * fork.c: a client and a token source keep working in children forked
 * while other threads of the parent are in the middle of calls.
 *
 * The parent warms a client's connection pool, then keeps two threads
 * calling it (and a token source) without pause while it forks CHILDREN
 * children, BATCH at a time. Each child, under a 10 s alarm so that a hang
 * fails instead of blocking, makes three calls as its own client_id and a
 * get on the inherited source, then a criteo_token_source_get_within that
 * must fetch on a thread of the child's own (the parent's threads use it
 * too, so a fetch thread of the parent may hold the source's lock when it
 * forks). The test server's `whoami` scenario names
 * the client_id in the token, so a child that read an answer meant for
 * another process (a shared socket) is caught. Each child also drops the
 * token of a second source whose refresh token the parent had rotated
 * three times (the `rotate` scenario) and gets one again: the source is
 * shared with the children, so the first child to do so sends the latest
 * refresh token, rt-3, and every child gets the token that brought rt-4.
 *
 * Usage: fork SERVER_URL CHILDREN BATCH [idle]
 * With "idle" the parent's two threads are not started: the allocator of
 * AddressSanitizer (GCC 12) is not fork-safe, and a child forked while
 * another thread is inside malloc can wait for ever on its lock.
 * Prints one summary line; exit status 0 only if every child and the
 * parent's threads succeeded.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criteo_oauth.h"

static criteo_client *client, *rotating_client;
static criteo_token_source *source, *rotating;
static atomic_bool stop;
static atomic_long parent_failures;

/* 0 when a call as `client_id` gets the token naming it. */
static int call_as(const char *client_id) {
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    criteo_status status = criteo_get_token(client, "client_credentials", client_id, "secret",
                                            NULL, NULL, NULL, &token, &error);
    int failed = 1;
    if (status != CRITEO_OK) {
        fprintf(stderr, "[%d] %s: %s\n", (int)getpid(), criteo_status_str(status),
                criteo_error_message(error));
    } else {
        char expected[64];
        snprintf(expected, sizeof expected, "tok-%s", client_id);
        failed = strcmp(criteo_token_access_token(token), expected) != 0;
        if (failed) {
            fprintf(stderr, "[%d] asked as %s, got %s\n", (int)getpid(), client_id,
                    criteo_token_access_token(token));
        }
    }
    criteo_token_free(token);
    criteo_error_free(error);
    return failed;
}

static int source_get(void) {
    criteo_token *token = NULL;
    criteo_status status = criteo_token_source_get(source, &token, NULL);
    criteo_token_free(token);
    return status != CRITEO_OK;
}

/* 0 when criteo_token_source_get_within brings a fresh token, waiting in
 * slices of 100 ms as an interpreter would. */
static int source_get_within(void) {
    criteo_token_source_invalidate(source);
    criteo_token *token = NULL;
    criteo_status status = CRITEO_OK;
    for (int slice = 0; slice < 100 && status == CRITEO_OK && token == NULL; slice++) {
        status = criteo_token_source_get_within(source, 100, &token, NULL);
    }
    int failed = status != CRITEO_OK || token == NULL;
    criteo_token_free(token);
    return failed;
}

static void *keep_calling(void *unused) {
    (void)unused;
    char client_id[32];
    snprintf(client_id, sizeof client_id, "parent-%d", (int)getpid());
    while (!atomic_load(&stop)) {
        atomic_fetch_add(&parent_failures, call_as(client_id) + source_get() + source_get_within());
        criteo_token_source_invalidate(source);
    }
    return NULL;
}

/* 0 when a fresh fetch from `rotating` brings the refresh token `expected`. */
static int refresh_brings(const char *expected) {
    criteo_token_source_invalidate(rotating);
    criteo_token *token = NULL;
    int failed = criteo_token_source_get(rotating, &token, NULL) != CRITEO_OK ||
                 strcmp(criteo_token_refresh_token(token), expected) != 0;
    if (failed) {
        fprintf(stderr, "[%d] expected refresh token %s, got %s\n", (int)getpid(), expected,
                token != NULL ? criteo_token_refresh_token(token) : "no token");
    }
    criteo_token_free(token);
    return failed;
}

/* A client for SERVER_URL/scenario/NAME. */
static criteo_client *client_for(const char *server_url, const char *scenario) {
    char url[512];
    snprintf(url, sizeof url, "%s/scenario/%s", server_url, scenario);
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, url);
    criteo_client_builder_set_timeouts(builder, 2000, 5000);
    criteo_client_builder_set_proxy(builder, "");
    criteo_client *made = NULL;
    if (criteo_client_builder_build(builder, &made, NULL) != CRITEO_OK) {
        fprintf(stderr, "cannot make a client for %s\n", url);
        exit(2);
    }
    return made;
}

static int child(void) {
    alarm(10);
    char client_id[32];
    snprintf(client_id, sizeof client_id, "child-%d", (int)getpid());
    int failures = 0;
    for (int i = 0; i < 3; i++) {
        failures += call_as(client_id);
    }
    failures += source_get();
    failures += source_get_within();
    failures += refresh_brings("rt-4");
    return failures == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: fork SERVER_URL CHILDREN BATCH [idle]\n");
        return 2;
    }
    int children = atoi(argv[2]), batch = atoi(argv[3]);
    int busy_threads = argc == 5 && strcmp(argv[4], "idle") == 0 ? 0 : 2;
    client = client_for(argv[1], "whoami");
    rotating_client = client_for(argv[1], "rotate");
    if (criteo_token_source_new(client, "client_credentials", "source", "secret", NULL, NULL, NULL,
                                &source, NULL) != CRITEO_OK ||
        criteo_token_source_new(rotating_client, "authorization_code", "source", "secret",
                                "https://app.example/cb", "code", NULL, &rotating,
                                NULL) != CRITEO_OK ||
        refresh_brings("rt-1") + refresh_brings("rt-2") + refresh_brings("rt-3") != 0) {
        fprintf(stderr, "setup failed\n");
        return 2;
    }
    for (int i = 0; i < 8; i++) {
        call_as("warm-up");
    }
    pthread_t threads[2];
    for (int i = 0; i < busy_threads; i++) {
        pthread_create(&threads[i], NULL, keep_calling, NULL);
    }

    int failed = 0, hung = 0;
    for (int started = 0; started < children; started += batch) {
        pid_t pids[64];
        int count = batch < 64 ? batch : 64;
        for (int i = 0; i < count; i++) {
            pids[i] = fork();
            if (pids[i] == 0) {
                _exit(child());
            }
        }
        for (int i = 0; i < count; i++) {
            int status = 0;
            waitpid(pids[i], &status, 0);
            if (WIFSIGNALED(status)) {
                hung += WTERMSIG(status) == SIGALRM;
                failed += WTERMSIG(status) != SIGALRM;
            } else if (WEXITSTATUS(status) != 0) {
                failed++;
            }
        }
    }

    atomic_store(&stop, true);
    for (int i = 0; i < busy_threads; i++) {
        pthread_join(threads[i], NULL);
    }
    int parent_ok = call_as("after") == 0 && atomic_load(&parent_failures) == 0;
    criteo_token_source_free(source);
    criteo_token_source_free(rotating);
    criteo_client_free(client);
    criteo_client_free(rotating_client);
    printf("%d children: %d failed, %d hung; parent %s\n", children, failed, hung,
           parent_ok ? "unaffected" : "FAILED");
    return failed == 0 && hung == 0 && parent_ok ? 0 : 1;
}
