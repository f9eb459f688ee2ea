/*
 * token_source.c: several threads share one token source. Each thread asks
 * it for a token many times, as a program would before each API call; the
 * source fetches once and hands out copies of the cached token until it is
 * due for refresh.
 *
 * Environment: CRITEO_CLIENT_ID, CRITEO_CLIENT_SECRET (required),
 * CRITEO_HOST (optional, default https://api.criteo.com).
 *
 * Build: cc -std=c11 -pthread token_source.c -lcriteo_oauth
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "criteo_oauth.h"

enum { THREADS = 8, GETS_PER_THREAD = 1000 };

struct worker {
    const criteo_token_source *source;
    int failures;
    char first_token[64];
};

/* Runs after each fetch; a real program might store the refresh token. */
static void on_refresh(void *user_data, const criteo_token *token) {
    (void)user_data;
    fprintf(stderr, "fetched a token, expires in %lld s\n", (long long)criteo_token_expires_in(token));
}

static void *work(void *arg) {
    struct worker *worker = arg;
    for (int i = 0; i < GETS_PER_THREAD; i++) {
        criteo_token *token = NULL;
        criteo_error *error = NULL;
        if (criteo_token_source_get(worker->source, &token, &error) != CRITEO_OK) {
            fprintf(stderr, "get failed: %s\n", criteo_error_message(error));
            criteo_error_free(error);
            worker->failures++;
            continue;
        }
        if (i == 0) {
            snprintf(worker->first_token, sizeof worker->first_token, "%s", criteo_token_access_token(token));
        }
        /* ... use criteo_token_authorization(token) in an API request ... */
        criteo_token_free(token);
    }
    return NULL;
}

/* A client for CRITEO_HOST, or NULL (the default client) when it is unset. */
static int make_client(criteo_client **client_out) {
    const char *host = getenv("CRITEO_HOST");
    *client_out = NULL;
    if (host == NULL) {
        return 0;
    }
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, host);
    criteo_error *error = NULL;
    if (criteo_client_builder_build(builder, client_out, &error) != CRITEO_OK) {
        fprintf(stderr, "bad CRITEO_HOST: %s\n", criteo_error_message(error));
        criteo_error_free(error);
        return -1;
    }
    return 0;
}

int main(void) {
    const char *client_id = getenv("CRITEO_CLIENT_ID");
    const char *client_secret = getenv("CRITEO_CLIENT_SECRET");
    if (client_id == NULL || client_secret == NULL) {
        fprintf(stderr, "set CRITEO_CLIENT_ID and CRITEO_CLIENT_SECRET\n");
        return 2;
    }
    criteo_client *client = NULL;
    if (make_client(&client) != 0) {
        return 2;
    }
    criteo_token_source *source = NULL;
    criteo_error *error = NULL;
    if (criteo_token_source_new(client, "client_credentials", client_id, client_secret, NULL, NULL, NULL,
                                &source, &error) != CRITEO_OK) {
        fprintf(stderr, "%s\n", criteo_error_message(error));
        criteo_error_free(error);
        criteo_client_free(client);
        return 2;
    }
    /* The source keeps its own reference to the client. */
    criteo_client_free(client);
    criteo_token_source_set_refresh_callback(source, on_refresh, NULL);

    struct worker workers[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){.source = source};
        pthread_create(&threads[i], NULL, work, &workers[i]);
    }
    int failures = 0;
    int same_token = 1;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        failures += workers[i].failures;
        same_token &= strcmp(workers[i].first_token, workers[0].first_token) == 0;
    }
    criteo_token_source_free(source);

    printf("%d threads x %d gets: %d failed, %s\n", THREADS, GETS_PER_THREAD, failures,
           same_token ? "all threads shared one token" : "threads saw different tokens");
    return failures == 0 && same_token ? 0 : 1;
}
