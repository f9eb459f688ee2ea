/*
 * trace.c: the CPU a fetch costs with no trace callback and with one that
 * does nothing, side by side (part of make bench, via bench/trace.sh).
 * Rounds alternate between the two clients, so that a noisy machine
 * affects both alike; CPU is the process's (CLOCK_PROCESS_CPUTIME_ID),
 * which counts the test server's work not at all.
 *
 * Usage: trace URL ROUNDS CALLS_PER_ROUND
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "criteo_oauth.h"

static void ignore(void *user_data, const criteo_event *event) {
    (void)user_data;
    (void)event;
}

static criteo_client *client_for(const char *url, int traced) {
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, url);
    criteo_client_builder_set_proxy(builder, "");
    if (traced) {
        criteo_client_builder_set_trace(builder, ignore, NULL);
    }
    criteo_client *client = NULL;
    if (criteo_client_builder_build(builder, &client, NULL) != CRITEO_OK) {
        exit(1);
    }
    return client;
}

static double cpu_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* CPU seconds for `calls` fetches of a token. */
static double fetches(criteo_client *client, int calls) {
    double started = cpu_seconds();
    for (int i = 0; i < calls; i++) {
        criteo_token *token = NULL;
        if (criteo_get_token(client, "client_credentials", "demo-client", "demo-secret", NULL, NULL,
                             NULL, &token, NULL) != CRITEO_OK) {
            exit(1);
        }
        criteo_token_free(token);
    }
    return cpu_seconds() - started;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: trace URL ROUNDS CALLS_PER_ROUND\n");
        return 2;
    }
    int rounds = atoi(argv[2]), calls = atoi(argv[3]);
    criteo_client *plain = client_for(argv[1], 0), *traced = client_for(argv[1], 1);
    fetches(plain, calls);
    fetches(traced, calls);
    double off = 0, on = 0;
    for (int round = 0; round < rounds; round++) {
        off += fetches(plain, calls);
        on += fetches(traced, calls);
    }
    double per_call = 1e6 / ((double)rounds * calls);
    printf("  %-34s %.1f us CPU per fetch\n", "no trace callback", off * per_call);
    printf("  %-34s %.1f us CPU per fetch\n", "a callback that does nothing", on * per_call);
    criteo_client_free(plain);
    criteo_client_free(traced);
    return 0;
}
