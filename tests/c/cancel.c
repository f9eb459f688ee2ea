/*
 * cancel.c: pthread_cancel of a thread that is inside criteo_get_token,
 * criteo_token_source_get or criteo_token_source_get_within (waiting for
 * the library's own fetch thread) does not abort the process. The call finishes
 * normally (here with a token, from a server that answers after 1 s), and
 * the cancellation takes effect at the thread's next cancellation point
 * after the call, as the header documents.
 *
 * Usage: cancel SLOW_URL   (the test server's slow-1000 scenario)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "criteo_oauth.h"

static criteo_client *client;
static criteo_token_source *source;
static criteo_token_source *waited_source;
static atomic_int status_seen = -1;

static void *get_token_then_pause(void *unused) {
    (void)unused;
    criteo_token *token = NULL;
    criteo_status status = criteo_get_token(client, "client_credentials", "id", "secret", NULL,
                                            NULL, NULL, &token, NULL);
    criteo_token_free(token);
    atomic_store(&status_seen, (int)status);
    for (;;) {
        pause(); /* a cancellation point */
    }
    return NULL;
}

static void *source_get_then_pause(void *unused) {
    (void)unused;
    criteo_token *token = NULL;
    criteo_status status = criteo_token_source_get(source, &token, NULL);
    criteo_token_free(token);
    atomic_store(&status_seen, (int)status);
    for (;;) {
        pause();
    }
    return NULL;
}

static void *source_get_within_then_pause(void *unused) {
    (void)unused;
    criteo_token *token = NULL;
    criteo_status status = criteo_token_source_get_within(waited_source, 5000, &token, NULL);
    if (token == NULL && status == CRITEO_OK) {
        status = CRITEO_ERR_INTERNAL; /* the fetch takes 1 s: it must have come */
    }
    criteo_token_free(token);
    atomic_store(&status_seen, (int)status);
    for (;;) {
        pause();
    }
    return NULL;
}

/* 0 when the cancelled call still completed with a token. */
static int cancel_during(const char *what, void *(*body)(void *)) {
    atomic_store(&status_seen, -1);
    pthread_t thread;
    pthread_create(&thread, NULL, body, NULL);
    usleep(300 * 1000); /* well inside the 1 s answer */
    pthread_cancel(thread);
    void *result = NULL;
    pthread_join(thread, &result);
    int status = atomic_load(&status_seen);
    if (result != PTHREAD_CANCELED || status != CRITEO_OK) {
        printf("%s: thread %s, call status %d\n", what,
               result == PTHREAD_CANCELED ? "cancelled" : "not cancelled", status);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: cancel SLOW_URL\n");
        return 2;
    }
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, argv[1]);
    criteo_client_builder_set_proxy(builder, "");
    if (criteo_client_builder_build(builder, &client, NULL) != CRITEO_OK ||
        criteo_token_source_new(client, "client_credentials", "id", "secret", NULL, NULL, NULL,
                                &source, NULL) != CRITEO_OK ||
        criteo_token_source_new(client, "client_credentials", "id", "secret", NULL, NULL, NULL,
                                &waited_source, NULL) != CRITEO_OK) {
        return 2;
    }
    int failures =
        cancel_during("criteo_get_token", get_token_then_pause) +
        cancel_during("criteo_token_source_get", source_get_then_pause) +
        cancel_during("criteo_token_source_get_within", source_get_within_then_pause);
    criteo_token_source_free(waited_source);
    criteo_token_source_free(source);
    criteo_client_free(client);
    if (failures == 0) {
        printf("cancelled inside every call: each finished with a token, then its thread ended\n");
    }
    return failures == 0 ? 0 : 1;
}
