/*
 * consent.c: a command-line app gets a user's consent (authorization code
 * with PKCE), then keeps a token source for that user's lineage in a store,
 * where the next run of the app finds it by name.
 *
 *   1. criteo_consent_new: the link to Criteo's consent page, with a fresh
 *      state and PKCE verifier.
 *   2. The user opens it and approves; the browser is sent to the redirect
 *      URI with a code. This app asks the user to paste that address.
 *   3. criteo_consent_finish: checks the address and exchanges the code.
 *   4. criteo_token_source_new_named: the token starts a lineage named
 *      "example-user" in the store; the source renews it with its refresh
 *      token, and calls on_refresh with each new token.
 *
 * Environment: CRITEO_CLIENT_ID, CRITEO_CLIENT_SECRET, CRITEO_REDIRECT_URI
 * (required); CRITEO_HOST, CRITEO_CONSENT_URL (optional, for a sandbox);
 * CRITEO_OAUTH_STORE (optional: the store; default the user's directory).
 *
 * Build: cc -std=c11 consent.c -lcriteo_oauth
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "criteo_oauth.h"

static int fail(const char *what, criteo_error *error) {
    fprintf(stderr, "%s: %s\n", what, criteo_error_message(error));
    criteo_error_free(error);
    return 1;
}

/* Runs after each renewal: the new refresh token is in the store already. */
static void on_refresh(void *user_data, const criteo_token *token) {
    (void)user_data;
    fprintf(stderr, "renewed: expires in %lld s\n", (long long)criteo_token_expires_in(token));
}

static criteo_client *client_from_environment(void) {
    criteo_client_builder *builder = criteo_client_builder_new();
    if (getenv("CRITEO_HOST") != NULL) {
        criteo_client_builder_set_host(builder, getenv("CRITEO_HOST"));
    }
    if (getenv("CRITEO_CONSENT_URL") != NULL) {
        criteo_client_builder_set_consent_url(builder, getenv("CRITEO_CONSENT_URL"));
    }
    criteo_client *client = NULL;
    criteo_error *error = NULL;
    if (criteo_client_builder_build(builder, &client, &error) != CRITEO_OK) {
        exit(fail("client", error));
    }
    return client;
}

/* Steps 1 to 3: the token of the user's consent, or NULL. */
static criteo_token *consent_of_the_user(const criteo_client *client, const char *client_id,
                                         const char *client_secret, const char *redirect_uri) {
    criteo_consent *consent = NULL;
    criteo_error *error = NULL;
    if (criteo_consent_new(client, client_id, redirect_uri, &consent, &error) != CRITEO_OK) {
        fail("consent", error);
        return NULL;
    }
    printf("Open this link and approve:\n%s\n", criteo_consent_url(consent));
    printf("Then paste the address your browser was sent to:\n");
    fflush(stdout);
    char redirect_url[8192];
    criteo_token *token = NULL;
    if (fgets(redirect_url, sizeof redirect_url, stdin) == NULL) {
        fprintf(stderr, "no address given\n");
    } else {
        redirect_url[strcspn(redirect_url, "\r\n")] = '\0';
        if (criteo_consent_finish(client, consent, client_secret, redirect_url, &token, &error) != CRITEO_OK) {
            fail("finish", error);
        }
    }
    criteo_consent_free(consent);
    return token;
}

int main(void) {
    const char *client_id = getenv("CRITEO_CLIENT_ID");
    const char *client_secret = getenv("CRITEO_CLIENT_SECRET");
    const char *redirect_uri = getenv("CRITEO_REDIRECT_URI");
    if (client_id == NULL || client_secret == NULL || redirect_uri == NULL) {
        fprintf(stderr, "set CRITEO_CLIENT_ID, CRITEO_CLIENT_SECRET and CRITEO_REDIRECT_URI\n");
        return 2;
    }
    criteo_client *client = client_from_environment();
    criteo_token *consented = consent_of_the_user(client, client_id, client_secret, redirect_uri);
    if (consented == NULL) {
        criteo_client_free(client);
        return 1;
    }

    /* Step 4: the lineage, kept in the store under a name of the app's. */
    criteo_token_source *source = NULL;
    criteo_error *error = NULL;
    criteo_status status = criteo_token_source_new_named(client, client_id, client_secret, "example-user",
                                                         consented, &source, &error);
    criteo_token_free(consented);
    if (status != CRITEO_OK) {
        criteo_client_free(client);
        return fail("source", error);
    }
    criteo_token_source_set_refresh_callback(source, on_refresh, NULL);
    if (criteo_token_source_set_store(source, NULL, &error) != CRITEO_OK ||
        criteo_token_source_store_error(source, &error) != CRITEO_OK) {
        fail("the lineage was not kept", error);
    }

    /* Before each API call: the cached token, renewed when due. */
    criteo_token *token = NULL;
    status = criteo_token_source_get(source, &token, &error);
    if (status == CRITEO_OK) {
        printf("Authorization: %s\n", criteo_token_authorization(token));
        criteo_token_free(token);
    } else {
        fail("get", error);
    }
    criteo_token_source_free(source);
    criteo_client_free(client);
    return status == CRITEO_OK ? 0 : 1;
}
