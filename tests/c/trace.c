/*
 * trace.c: the trace callback on many threads at once (run under ASan and
 * valgrind by run.sh): 8 threads, each with its own token source and
 * fetches on one client, every event checked as it comes (a message that
 * is one line without the secret, times that never go back within the
 * thread's call), counted per thread.
 *
 * trace late SLOW_REFRESH_URL
 *   frees the source, the client and the callback's user_data while a
 *   refresh runs in the background (the server answers it late): the
 *   callback must not run after the frees (under ASan, a call would read
 *   freed memory).
 *
 * Usage: trace URL | trace late URL   (the test server's)
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "criteo_oauth.h"

#define THREADS 8
#define FETCHES 10

static atomic_int events, bad_events;
static _Thread_local uint64_t last_elapsed_us;
static _Thread_local int events_here;

static void on_event(void *user_data, const criteo_event *event) {
    (void)user_data;
    const char *message = criteo_event_message(event);
    uint32_t kind = criteo_event_kind(event);
    int bad = message == NULL || strchr(message, '\n') != NULL || strstr(message, "demo-secret") != NULL ||
              kind < CRITEO_EVENT_LOOKUP || kind > CRITEO_EVENT_FETCH;
    /* Within one HTTP call its events' times never go back; a fetch's own
     * events count from the fetch, so only calls are compared. */
    if (kind == CRITEO_EVENT_REQUEST) {
        last_elapsed_us = 0;
    }
    if (kind != CRITEO_EVENT_FETCH) {
        bad |= criteo_event_elapsed_us(event) < last_elapsed_us;
        last_elapsed_us = criteo_event_elapsed_us(event);
    }
    events_here++;
    atomic_fetch_add(&events, 1);
    atomic_fetch_add(&bad_events, bad);
}

static void *fetcher(void *client) {
    criteo_token_source *source = NULL;
    if (criteo_token_source_new(client, "client_credentials", "demo-client", "demo-secret", NULL, NULL,
                                NULL, &source, NULL) != CRITEO_OK) {
        return (void *)1;
    }
    for (int i = 0; i < FETCHES; i++) {
        criteo_token *token = NULL;
        criteo_token_source_invalidate(source);
        if (criteo_token_source_get(source, &token, NULL) != CRITEO_OK) {
            atomic_fetch_add(&bad_events, 1);
        }
        criteo_token_free(token);
    }
    int fetches = (int)criteo_token_source_stat(source, CRITEO_STAT_FETCHES);
    criteo_token_source_free(source);
    /* Each fetch told at least: asking, request, response, its end. */
    return (void *)(intptr_t)(fetches != FETCHES || events_here < 4 * FETCHES);
}

/* A client for `url`, no proxy, telling `callback` every step. */
static criteo_client *traced_client(const char *url, criteo_trace_callback callback, void *user_data) {
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, url);
    criteo_client_builder_set_proxy(builder, "");
    criteo_client_builder_set_trace(builder, callback, user_data);
    criteo_client *client = NULL;
    criteo_client_builder_build(builder, &client, NULL);
    return client;
}

static atomic_int late_events;

static void count_late(void *user_data, const criteo_event *event) {
    (void)event;
    (*(int *)user_data)++;
    atomic_fetch_add(&late_events, 1);
}

static void sleep_ms(long ms) {
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

static int late(const char *url) {
    int *count = malloc(sizeof *count);
    *count = 0;
    criteo_client *client = traced_client(url, count_late, count);
    criteo_token_source *source = NULL;
    if (client == NULL ||
        criteo_token_source_new(client, "client_credentials", "demo-client", "demo-secret", NULL, NULL,
                                NULL, &source, NULL) != CRITEO_OK) {
        return 1;
    }
    criteo_token_source_set_refresh_margin(source, 2);
    criteo_token *token = NULL;
    criteo_token_source_get(source, &token, NULL); /* a 3 s token, refreshed after 1 s */
    criteo_token_free(token);
    sleep_ms(1100);
    token = NULL;
    criteo_token_source_get(source, &token, NULL); /* starts the refresh, answered late */
    criteo_token_free(token);
    sleep_ms(100);
    criteo_token_source_free(source);
    criteo_client_free(client);
    int before = atomic_load(&late_events);
    free(count);
    sleep_ms(2000); /* the refresh ends meanwhile */
    printf("events after the frees: %d\n", atomic_load(&late_events) - before);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "late") == 0) {
        return late(argv[2]);
    }
    if (argc != 2) {
        fprintf(stderr, "usage: trace URL | trace late URL\n");
        return 2;
    }
    criteo_client *client = traced_client(argv[1], on_event, NULL);
    if (client == NULL) {
        return 1;
    }
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        pthread_create(&threads[i], NULL, fetcher, client);
    }
    int failed_threads = 0;
    for (int i = 0; i < THREADS; i++) {
        void *failed = NULL;
        pthread_join(threads[i], &failed);
        failed_threads += failed != NULL;
    }
    criteo_client_free(client);
    printf("%d threads: %s events, %d bad, %d threads short of events or fetches\n", THREADS,
           atomic_load(&events) >= THREADS * FETCHES * 4 ? "all" : "missing", atomic_load(&bad_events),
           failed_threads);
    return 0;
}
