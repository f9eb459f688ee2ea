/*
 * clocks.c: a token source whose clocks jump under it. This program
 * defines clock_gettime itself, so the library's calls (made through the C
 * library) come here, and it adds its own shift to each clock:
 * - a suspend of the machine moves CLOCK_REALTIME and CLOCK_BOOTTIME ahead
 *   while CLOCK_MONOTONIC stands still;
 * - a date set by hand moves CLOCK_REALTIME alone.
 * The server's tokens are all different, so "the same token" means no
 * fetch and "a new token" means a fetch.
 *
 *   clocks suspend URL CLIENT_ID
 *       for each way to get a token (get, try_get, authorization,
 *       get_within): a token, a suspend of one hour, then that getter must
 *       give a new token (try_get: none, the fetch being due). Prints what
 *       each gave, on one line.
 *   clocks wall URL CLIENT_ID
 *       a token; the wall clock one hour ahead, then one hour behind: every
 *       getter gives the same token. Prints how many did, on one line.
 *   clocks store STORE URL CLIENT_ID SHIFT
 *       one get through the store in STORE, on clocks shifted by SHIFT
 *       (none, wall-ahead, wall-behind or suspend, of one hour) from the
 *       start. Prints the token.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "criteo_oauth.h"

#define HOUR 3600

static _Atomic long long realtime_shift, boottime_shift;

int clock_gettime(clockid_t clock, struct timespec *now) {
    static int (*_Atomic real)(clockid_t, struct timespec *);
    if (real == NULL) {
        real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    }
    int result = real(clock, now);
    if (result == 0 && clock == CLOCK_REALTIME) {
        now->tv_sec += realtime_shift;
    } else if (result == 0 && clock == CLOCK_BOOTTIME) {
        now->tv_sec += boottime_shift;
    }
    return result;
}

static void suspend_for(long long seconds) {
    realtime_shift += seconds;
    boottime_shift += seconds;
}

static void fail(const char *what, criteo_status status, criteo_error *error) {
    fprintf(stderr, "%s: %s: %s\n", what, criteo_status_str(status),
            error != NULL ? criteo_error_message(error) : "");
    exit(1);
}

static criteo_token_source *source_for(const char *url, const char *client_id, const char *store) {
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, url);
    criteo_client_builder_set_proxy(builder, "");
    criteo_client *client = NULL;
    criteo_token_source *source = NULL;
    criteo_error *error = NULL;
    criteo_status status = criteo_client_builder_build(builder, &client, &error);
    if (status != CRITEO_OK) {
        fail("client", status, error);
    }
    status = criteo_token_source_new(client, "client_credentials", client_id, "secret", NULL, NULL,
                                     NULL, &source, &error);
    criteo_client_free(client);
    if (status == CRITEO_OK && store != NULL) {
        status = criteo_token_source_set_store(source, store, &error);
    }
    if (status != CRITEO_OK) {
        fail("source", status, error);
    }
    return source;
}

/* The token GETTER gives ("get", "try_get", "authorization" or
 * "get_within"), as text the caller frees: "none" when try_get has none. */
static char *token_by(criteo_token_source *source, const char *getter) {
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    criteo_status status;
    if (strcmp(getter, "authorization") == 0) {
        char header[8192];
        status = criteo_token_source_authorization(source, header, sizeof header, NULL, &error);
        if (status != CRITEO_OK) {
            fail(getter, status, error);
        }
        return strdup(header + strlen("Bearer "));
    }
    if (strcmp(getter, "try_get") == 0) {
        status = criteo_token_source_try_get(source, &token, &error);
    } else if (strcmp(getter, "get_within") == 0) {
        status = criteo_token_source_get_within(source, 10000, &token, &error);
    } else {
        status = criteo_token_source_get(source, &token, &error);
    }
    if (status != CRITEO_OK) {
        fail(getter, status, error);
    }
    char *text = strdup(token != NULL ? criteo_token_access_token(token) : "none");
    criteo_token_free(token);
    return text;
}

static const char *const GETTERS[] = {"get", "try_get", "authorization", "get_within"};
#define GETTER_COUNT (sizeof GETTERS / sizeof GETTERS[0])

static int after_suspends(const char *url, const char *client_id) {
    criteo_token_source *source = source_for(url, client_id, NULL);
    char *before = token_by(source, "get");
    for (size_t i = 0; i < GETTER_COUNT; i++) {
        suspend_for(HOUR);
        char *after = token_by(source, GETTERS[i]);
        const char *verdict = strcmp(after, before) != 0 ? "a new token" : "THE EXPIRED TOKEN";
        if (strcmp(after, "none") == 0) {
            verdict = "none, a fetch is due";
            free(after);
            after = token_by(source, "get");
        }
        printf("%s%s: %s", i == 0 ? "" : "; ", GETTERS[i], verdict);
        free(before);
        before = after;
    }
    printf("\n");
    free(before);
    criteo_token_source_free(source);
    return 0;
}

static int after_wall_steps(const char *url, const char *client_id) {
    criteo_token_source *source = source_for(url, client_id, NULL);
    char *first = token_by(source, "get");
    const long long steps[] = {HOUR, -2 * HOUR};
    for (size_t step = 0; step < 2; step++) {
        realtime_shift += steps[step];
        size_t same = 0;
        for (size_t i = 0; i < GETTER_COUNT; i++) {
            char *token = token_by(source, GETTERS[i]);
            same += strcmp(token, first) == 0;
            free(token);
        }
        printf("%s%s: %zu of %zu the same", step == 0 ? "" : "; ",
               steps[step] > 0 ? "an hour ahead" : "an hour behind", same, GETTER_COUNT);
    }
    printf("\n");
    free(first);
    criteo_token_source_free(source);
    return 0;
}

static int through_the_store(const char *store, const char *url, const char *client_id,
                             const char *shift) {
    if (strcmp(shift, "wall-ahead") == 0) {
        realtime_shift = HOUR;
    } else if (strcmp(shift, "wall-behind") == 0) {
        realtime_shift = -HOUR;
    } else if (strcmp(shift, "suspend") == 0) {
        suspend_for(HOUR);
    } else if (strcmp(shift, "none") != 0) {
        fprintf(stderr, "unknown shift %s\n", shift);
        return 2;
    }
    criteo_token_source *source = source_for(url, client_id, store);
    char *token = token_by(source, "get");
    printf("%s\n", token);
    free(token);
    criteo_token_source_free(source);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "suspend") == 0) {
        return after_suspends(argv[2], argv[3]);
    }
    if (argc == 4 && strcmp(argv[1], "wall") == 0) {
        return after_wall_steps(argv[2], argv[3]);
    }
    if (argc == 6 && strcmp(argv[1], "store") == 0) {
        return through_the_store(argv[2], argv[3], argv[4], argv[5]);
    }
    fprintf(stderr, "usage: clocks suspend|wall URL CLIENT_ID | clocks store STORE URL CLIENT_ID SHIFT\n");
    return 2;
}
