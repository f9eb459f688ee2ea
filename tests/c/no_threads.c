/*
 * no_threads.c: a process that cannot start one more thread (run under
 * RLIMIT_NPROC of 1, as a user with no other process) still gets a clear
 * answer: looking a host name up needs a thread, and failing to start one
 * is CRITEO_ERR_TRANSPORT saying so. A host given as an IP address needs
 * no thread: a token from URL still comes. criteo_token_source_get_within,
 * which fetches on a thread of its own, says it could not start one. A token
 * due for refresh is served by try_get as none (the fetch is the caller's)
 * and by get_within as it is, and refreshed by get and authorization on
 * the caller's thread, which the library's thread would do otherwise. The
 * library prints nothing:
 * stderr goes to a file during the calls, which must stay empty.
 *
 * Usage: no_threads URL   (the test server; prints the error message)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "criteo_oauth.h"

/* A client for `url` with no proxy, or NULL. */
static criteo_client *client_for(const char *url) {
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, url);
    criteo_client_builder_set_proxy(builder, "");
    criteo_client *client = NULL;
    criteo_client_builder_build(builder, &client, NULL);
    return client;
}

/* Whether a token comes from `url` (an IP address: no lookup, no thread). */
static int token_from(const char *url) {
    criteo_client *client = client_for(url);
    criteo_token *token = NULL;
    int got = client != NULL &&
              criteo_get_token(client, "client_credentials", "demo-client", "demo-secret", NULL,
                               NULL, NULL, &token, NULL) == CRITEO_OK;
    criteo_token_free(token);
    criteo_client_free(client);
    return got;
}

/* Whether criteo_token_source_get_within reports that it could not start
 * its fetch's thread. */
static int source_says_no_thread(const char *url) {
    criteo_client *client = client_for(url);
    criteo_token_source *source = NULL;
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    criteo_status status = CRITEO_ERR_INTERNAL;
    if (client != NULL &&
        criteo_token_source_new(client, "client_credentials", "demo-client", "demo-secret", NULL,
                                NULL, NULL, &source, NULL) == CRITEO_OK) {
        status = criteo_token_source_get_within(source, 100, &token, &error);
    }
    printf("get_within: %s: %s\n", criteo_status_str(status),
           error != NULL ? criteo_error_message(error) : "");
    int said = status == CRITEO_ERR_TRANSPORT && token == NULL &&
               strstr(criteo_error_message(error), "could not start a thread for the fetch") != NULL;
    criteo_error_free(error);
    criteo_token_free(token);
    criteo_token_source_free(source);
    criteo_client_free(client);
    return said;
}

/* The access token in an Authorization header value, as a copy. */
static char *from_header(criteo_token_source *source) {
    char header[4096] = "";
    criteo_token_source_authorization(source, header, sizeof header, NULL, NULL);
    return strdup(header + strlen("Bearer "));
}

static char *token_text(criteo_token *token) {
    char *text = strdup(token != NULL ? criteo_token_access_token(token) : "none");
    criteo_token_free(token);
    return text;
}

/* Whether a token due for refresh is handled as the header says when no
 * thread can be started. */
static int refreshes_on_the_callers_thread(const char *url) {
    criteo_client *client = client_for(url);
    criteo_token_source *source = NULL;
    if (client == NULL ||
        criteo_token_source_new(client, "client_credentials", "demo-client", "demo-secret", NULL,
                                NULL, NULL, &source, NULL) != CRITEO_OK) {
        return 0;
    }
    criteo_token_source_set_refresh_margin(source, 899);
    criteo_token *token = NULL;
    criteo_token_source_get(source, &token, NULL);
    char *first = token_text(token);
    usleep(1100 * 1000);
    criteo_token_source_try_get(source, &token, NULL);
    char *tried = token_text(token);
    criteo_token_source_get_within(source, 0, &token, NULL);
    char *within = token_text(token);
    criteo_token_source_get(source, &token, NULL);
    char *got = token_text(token);
    usleep(1100 * 1000);
    char *header = from_header(source);
    int right = strcmp(tried, "none") == 0 && strcmp(within, first) == 0 &&
                strcmp(got, first) != 0 && strcmp(header, got) != 0 && strcmp(header, "") != 0;
    printf("due for refresh: try_get %s, get_within %s, get %s, authorization %s\n",
           strcmp(tried, "none") == 0 ? "none" : "a token",
           strcmp(within, first) == 0 ? "the valid token" : "another token",
           strcmp(got, first) != 0 ? "a new token" : "THE OLD TOKEN",
           strcmp(header, got) != 0 ? "a new token" : "THE OLD TOKEN");
    free(first), free(tried), free(within), free(got), free(header);
    criteo_token_source_free(source);
    criteo_client_free(client);
    return right;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: no_threads URL\n");
        return 2;
    }
    FILE *captured = tmpfile();
    int saved_stderr = dup(STDERR_FILENO);
    if (captured == NULL || saved_stderr < 0 || dup2(fileno(captured), STDERR_FILENO) < 0) {
        return 2;
    }
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, "https://criteo-oauth-test.invalid");
    criteo_client_builder_set_proxy(builder, "");
    criteo_client_builder_set_timeouts(builder, 1000, 2000);
    criteo_client *client = NULL;
    criteo_error *error = NULL;
    if (criteo_client_builder_build(builder, &client, &error) != CRITEO_OK) {
        printf("build: %s\n", criteo_error_message(error));
        criteo_error_free(error);
        return 2;
    }
    criteo_token *token = NULL;
    criteo_status status = criteo_get_token(client, "client_credentials", "id", "secret", NULL,
                                            NULL, NULL, &token, &error);
    printf("%s: %s\n", criteo_status_str(status), error != NULL ? criteo_error_message(error) : "");
    int expected = status == CRITEO_ERR_TRANSPORT &&
                   strstr(criteo_error_message(error), "could not start a thread") != NULL;
    if (!token_from(argv[1])) {
        printf("no token from %s, which needs no thread\n", argv[1]);
        expected = 0;
    }
    if (!source_says_no_thread(argv[1]) || !refreshes_on_the_callers_thread(argv[1])) {
        expected = 0;
    }
    criteo_token_free(token);
    criteo_error_free(error);
    criteo_client_free(client);
    dup2(saved_stderr, STDERR_FILENO);
    struct stat written;
    if (fstat(fileno(captured), &written) != 0 || written.st_size != 0) {
        printf("the library wrote %lld bytes to stderr\n", (long long)written.st_size);
        return 1;
    }
    return expected ? 0 : 1;
}
