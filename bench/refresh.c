/*
 * refresh.c: what callers pay for a refresh. One thread gets a token every
 * 2 ms for 12 s (five refreshes or more) of a 4 s token from a server whose answers
 * after the first take 300 ms, and reports the slowest get and how many
 * took over 1 ms and over 10 ms. Run normally, the library refreshes on a
 * thread of its own; run where it cannot start a thread (RLIMIT_NPROC),
 * it refreshes on the caller's thread, as token libraries commonly do.
 *
 * Usage: refresh URL CLIENT_ID   (URL: the scenario slow-refresh-300-expires-4)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "criteo_oauth.h"

static double now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: refresh URL CLIENT_ID\n");
        return 2;
    }
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, argv[1]);
    criteo_client_builder_set_proxy(builder, "");
    criteo_client *client = NULL;
    criteo_token_source *source = NULL;
    if (criteo_client_builder_build(builder, &client, NULL) != CRITEO_OK ||
        criteo_token_source_new(client, "client_credentials", argv[2], "secret", NULL, NULL, NULL,
                                &source, NULL) != CRITEO_OK) {
        fprintf(stderr, "cannot make a source\n");
        return 2;
    }
    criteo_token *token = NULL;
    criteo_token_source_get(source, &token, NULL);
    criteo_token_free(token);
    /* Six refresh margins of a 4 s token (2 s each). */
    long gets = 0, over_1ms = 0, over_10ms = 0, failed = 0;
    double slowest = 0, end = now_ms() + 12000;
    while (now_ms() < end) {
        double asked = now_ms();
        token = NULL;
        failed += criteo_token_source_get(source, &token, NULL) != CRITEO_OK;
        double took = now_ms() - asked;
        criteo_token_free(token);
        gets++;
        over_1ms += took > 1;
        over_10ms += took > 10;
        slowest = took > slowest ? took : slowest;
        usleep(2000);
    }
    printf("%ld gets, %ld failed: slowest %.3f ms, %ld over 1 ms, %ld over 10 ms\n", gets, failed,
           slowest, over_1ms, over_10ms);
    criteo_token_source_free(source);
    criteo_client_free(client);
    return 0;
}
