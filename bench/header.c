/*
 * header.c: the cached header path, criteo_token_source_authorization on
 * one source from 1, 2 and 8 threads, in CPU nanoseconds per call. Uses
 * only functions of the first release, so that bench/header.sh can build
 * it against an older library and run both in turns.
 *
 *   header URL CALLS_PER_THREAD
 *       prints "1: <ns>   2: <ns>   8: <ns>"
 */
#define _GNU_SOURCE
#include <criteo_oauth.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void die(const char *why) {
    fprintf(stderr, "header: %s\n", why);
    exit(2);
}

struct caller {
    const criteo_token_source *source;
    long calls;
};

static void *call(void *arg) {
    struct caller *caller = arg;
    char header[512];
    for (long i = 0; i < caller->calls; i++) {
        if (criteo_token_source_authorization(caller->source, header, sizeof header, NULL, NULL) != CRITEO_OK) {
            die("criteo_token_source_authorization failed");
        }
    }
    return NULL;
}

static double cpu_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        die("usage: header URL CALLS_PER_THREAD");
    }
    long calls = atol(argv[2]);
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, argv[1]);
    criteo_client *client = NULL;
    criteo_token_source *source = NULL;
    if (criteo_client_builder_build(builder, &client, NULL) != CRITEO_OK ||
        criteo_token_source_new(client, "client_credentials", "demo-client", "demo-secret", NULL, NULL, NULL,
                                &source, NULL) != CRITEO_OK) {
        die("no client or source");
    }
    struct caller warm = {source, 1000};
    call(&warm);
    int counts[] = {1, 2, 8};
    for (int c = 0; c < 3; c++) {
        pthread_t threads[8];
        struct caller callers[8];
        double start = cpu_seconds();
        for (int t = 0; t < counts[c]; t++) {
            callers[t] = (struct caller){source, calls};
            pthread_create(&threads[t], NULL, call, &callers[t]);
        }
        for (int t = 0; t < counts[c]; t++) {
            pthread_join(threads[t], NULL);
        }
        double ns = (cpu_seconds() - start) * 1e9 / (double)(calls * counts[c]);
        printf("%s%d: %5.1f", c > 0 ? "   " : "", counts[c], ns);
    }
    printf("\n");
    criteo_token_source_free(source);
    criteo_client_free(client);
    return 0;
}
