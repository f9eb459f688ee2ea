/*
 * get_token.c: the C quick start. Obtains an access token and prints the
 * Authorization header to use with it.
 *
 * Credentials come from the environment (never from the command line,
 * which other users of the machine can read):
 *   CRITEO_CLIENT_ID, CRITEO_CLIENT_SECRET   required
 *   CRITEO_HOST                              optional, default https://api.criteo.com
 *
 * Build: cc -std=c11 get_token.c -lcriteo_oauth
 */
#include <stdio.h>
#include <stdlib.h>

#include "criteo_oauth.h"

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

    criteo_token *token = NULL;
    criteo_error *error = NULL;
    criteo_status status = criteo_get_token(client, "client_credentials", client_id, client_secret,
                                            NULL, NULL, NULL, &token, &error);
    int exit_code = 0;
    if (status == CRITEO_OK) {
        printf("got a %s token, expires in %lld s\n", criteo_token_token_type(token),
               (long long)criteo_token_expires_in(token));
        printf("Authorization: %s\n", criteo_token_authorization(token));
    } else {
        fprintf(stderr, "%s: %s\n", criteo_status_str(status), criteo_error_message(error));
        exit_code = 1;
    }

    criteo_token_free(token);
    criteo_error_free(error);
    criteo_client_free(client);
    return exit_code;
}
