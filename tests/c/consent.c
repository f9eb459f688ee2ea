/*
 * consent.c: the consent flow (authorization code with PKCE) against the
 * test server, which plays Criteo's consent page (GET /consent approves,
 * GET /consent/deny refuses) and checks PKCE at its token endpoint. This
 * program plays the app and the user's browser: it asks for the consent
 * link, follows it with a plain HTTP GET, and reads where the server sends
 * the browser back (the Location header). Requests are counted with GET
 * /count/CLIENT_ID.
 *
 *   consent link URL
 *       prints the link, the state and the verifier, one per line
 *       ("link ...", "state ...", "verifier ..."), for run.sh to check
 *       independently.
 *   consent confidential URL
 *       demo-client with its secret: consent, finish, then a refresh_token
 *       source from the token's refresh token gets a token.
 *   consent public URL CLIENT_ID
 *       a public client (no secret): consent, finish.
 *   consent refused URL CLIENT_ID
 *       answers that are not this consent's, each refused with no request:
 *       another state, no state, a denied consent, another redirect URI, a
 *       duplicated code, a consent finished twice. Prints one line each.
 *   consent race URL CLIENT_ID
 *       8 threads finish one consent at once: one sends its code, the
 *       others are refused with no request.
 *   consent split URL CLIENT_ID
 *       the verifier kept, the code exchanged by criteo_get_token_pkce: a
 *       wrong verifier first (400 invalid_grant, no secret in the message),
 *       then the right one.
 *   consent arguments URL
 *       NULL and bad arguments, each CRITEO_ERR_INVALID_ARGUMENT.
 *   consent named-start URL STORE NAME
 *       consent and finish (demo-client), then a named lineage started
 *       from that token on STORE: prints what its get served, and the
 *       requests made after the exchange (none).
 *   consent named-order URL STORE NAME
 *       two consents finished in one order and started on NAME in the
 *       other: the store must serve the one started last, though it is
 *       the older token.
 *   consent named-late URL STORE
 *       a named lineage started from a token and got from (in memory):
 *       its store comes too late then.
 *   consent named-get URL STORE NAME
 *       a source of the named lineage, from the store alone: prints the
 *       status of its get, the access token, and the requests it made;
 *       then, after an invalidate, the same again (a refresh).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "criteo_oauth.h"

static void die(const char *message) {
    fprintf(stderr, "consent: %s\n", message);
    exit(1);
}

#include "fetches_by.h"

#define REDIRECT_URI "http://127.0.0.1:9/callback"
#define DEMO_SECRET "demo-secret"

static char server_url[256];

static criteo_client *client_for(const char *consent_path) {
    char consent_url[512];
    snprintf(consent_url, sizeof consent_url, "%s%s", server_url, consent_path);
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, server_url);
    criteo_client_builder_set_proxy(builder, "");
    if (criteo_client_builder_set_consent_url(builder, consent_url) != CRITEO_OK) {
        die("set_consent_url refused a loopback URL");
    }
    criteo_client *client = NULL;
    criteo_error *error = NULL;
    if (criteo_client_builder_build(builder, &client, &error) != CRITEO_OK) {
        die(criteo_error_message(error));
    }
    return client;
}

static criteo_consent *consent_for(const criteo_client *client, const char *client_id) {
    criteo_consent *consent = NULL;
    criteo_error *error = NULL;
    if (criteo_consent_new(client, client_id, REDIRECT_URI, &consent, &error) != CRITEO_OK) {
        die(criteo_error_message(error));
    }
    return consent;
}

/* Finishes CONSENT with REDIRECT_URL: the status, the token in *token. */
static criteo_status finish(const criteo_client *client, const criteo_consent *consent,
                            const char *secret, const char *redirect_url, criteo_token **token,
                            criteo_error **error) {
    return criteo_consent_finish(client, consent, secret, redirect_url, token, error);
}

static int link_fields(void) {
    criteo_client *client = client_for("/consent");
    criteo_consent *consent = consent_for(client, "my app/é");
    printf("link %s\nstate %s\nverifier %s\n", criteo_consent_url(consent),
           criteo_consent_state(consent), criteo_consent_code_verifier(consent));
    criteo_consent_free(consent);
    criteo_client_free(client);
    return 0;
}

/* Gets one token from a refresh_token source that starts from REFRESH_TOKEN. */
static void source_from(const criteo_client *client, const char *client_id, const char *secret,
                        const char *refresh_token) {
    criteo_token_source *source = NULL;
    criteo_error *error = NULL;
    if (criteo_token_source_new(client, "refresh_token", client_id, secret, NULL, NULL,
                                refresh_token, &source, &error) != CRITEO_OK) {
        die(criteo_error_message(error));
    }
    criteo_token *token = NULL;
    if (criteo_token_source_get(source, &token, &error) != CRITEO_OK) {
        die(criteo_error_message(error));
    }
    printf("a refresh_token source from it: %s\n",
           criteo_token_refresh_token(token) != NULL ? "a token and a new refresh token" : "no refresh token");
    criteo_token_free(token);
    criteo_token_source_free(source);
}

static int exchange(const char *client_id, const char *secret) {
    criteo_client *client = client_for("/consent");
    criteo_consent *consent = consent_for(client, client_id);
    char *back = browse(criteo_consent_url(consent));
    long before = fetches_by(server_url, client_id);
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    criteo_status status = finish(client, consent, secret, back, &token, &error);
    if (status != CRITEO_OK) {
        die(criteo_error_message(error));
    }
    printf("finished: %s, %ld request, refresh token %s\n", criteo_status_str(status),
           fetches_by(server_url, client_id) - before,
           criteo_token_refresh_token(token) != NULL ? "given" : "missing");
    if (secret != NULL) {
        source_from(client, client_id, secret, criteo_token_refresh_token(token));
    }
    free(back);
    criteo_token_free(token);
    criteo_consent_free(consent);
    criteo_client_free(client);
    return 0;
}

/* Finishes CONSENT with REDIRECT_URL, which must be refused before any
 * request; prints LABEL, the status and the message. */
static void refused(const criteo_client *client, const criteo_consent *consent, const char *client_id,
                    const char *label, const char *redirect_url) {
    long before = fetches_by(server_url, client_id);
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    criteo_status status = finish(client, consent, NULL, redirect_url, &token, &error);
    const char *oauth = criteo_error_code(error);
    printf("%s: %s, %ld requests%s%s: %s\n", label, criteo_status_str(status),
           fetches_by(server_url, client_id) - before, oauth != NULL ? ", oauth error " : "",
           oauth != NULL ? oauth : "", criteo_error_message(error));
    if (token != NULL) {
        die("a refused answer gave a token");
    }
    criteo_error_free(error);
}

/* BACK with its first "NAME=" value replaced by VALUE (into OUT). */
static void replace_parameter(char *out, size_t size, const char *back, const char *name, const char *value) {
    const char *at = strstr(back, name);
    if (at == NULL) {
        die("no such parameter");
    }
    const char *end = at + strlen(name) + strcspn(at + strlen(name), "&");
    snprintf(out, size, "%.*s%s%s", (int)(at - back), back, name, value);
    strncat(out, end, size - strlen(out) - 1);
}

static int refusals(const char *client_id) {
    criteo_client *client = client_for("/consent");
    criteo_consent *consent = consent_for(client, client_id);
    char *back = browse(criteo_consent_url(consent));
    char changed[8192];

    replace_parameter(changed, sizeof changed, back, "state=", "forged-state-of-another-consent-aaaaaaaaaaa");
    refused(client, consent, client_id, "another state", changed);
    replace_parameter(changed, sizeof changed, back, "state=", "");
    refused(client, consent, client_id, "an empty state", changed);
    snprintf(changed, sizeof changed, "http://127.0.0.1:10/callback%s", strchr(back, '?'));
    refused(client, consent, client_id, "another redirect URI", changed);
    snprintf(changed, sizeof changed, "%s&code=second-code", back);
    refused(client, consent, client_id, "a duplicated code", changed);
    replace_parameter(changed, sizeof changed, back, "code=", "");
    refused(client, consent, client_id, "an empty code", changed);

    criteo_client *denying = client_for("/consent/deny");
    criteo_consent *denied = consent_for(denying, client_id);
    char *denied_back = browse(criteo_consent_url(denied));
    refused(denying, denied, client_id, "a denied consent", denied_back);

    /* The genuine answer still works after the forged ones, once. */
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    criteo_status status = finish(client, consent, NULL, back, &token, &error);
    printf("the genuine answer: %s\n", criteo_status_str(status));
    criteo_token_free(token);
    criteo_error_free(error);
    refused(client, consent, client_id, "the same consent finished again", back);

    free(back);
    free(denied_back);
    criteo_consent_free(consent);
    criteo_consent_free(denied);
    criteo_client_free(client);
    criteo_client_free(denying);
    return 0;
}

enum { RACERS = 8 };

struct racer {
    const criteo_client *client;
    const criteo_consent *consent;
    const char *back;
    pthread_barrier_t *start;
    criteo_status status;
};

static void *race_to_finish(void *arg) {
    struct racer *racer = arg;
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    pthread_barrier_wait(racer->start);
    racer->status = finish(racer->client, racer->consent, NULL, racer->back, &token, &error);
    criteo_token_free(token);
    criteo_error_free(error);
    return NULL;
}

static int race(const char *client_id) {
    criteo_client *client = client_for("/consent");
    criteo_consent *consent = consent_for(client, client_id);
    char *back = browse(criteo_consent_url(consent));
    long before = fetches_by(server_url, client_id);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, RACERS);
    struct racer racers[RACERS];
    pthread_t threads[RACERS];
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (struct racer){client, consent, back, &start, CRITEO_ERR_INTERNAL};
        pthread_create(&threads[i], NULL, race_to_finish, &racers[i]);
    }
    int finished = 0, refused = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(threads[i], NULL);
        finished += racers[i].status == CRITEO_OK;
        refused += racers[i].status == CRITEO_ERR_INVALID_ARGUMENT;
    }
    printf("%d finished, %d refused, %ld request\n", finished, refused, fetches_by(server_url, client_id) - before);
    pthread_barrier_destroy(&start);
    free(back);
    criteo_consent_free(consent);
    criteo_client_free(client);
    return 0;
}

/* The code of a redirect URL, percent-decoding nothing (codes are plain). */
static char *code_of(const char *back) {
    const char *at = strstr(back, "code=");
    if (at == NULL) {
        die("no code in the redirect");
    }
    at += strlen("code=");
    return strndup(at, strcspn(at, "&"));
}

static int split(const char *client_id) {
    criteo_client *client = client_for("/consent");
    criteo_consent *consent = consent_for(client, client_id);
    /* What a web app keeps in its session: the verifier. */
    char *verifier = strdup(criteo_consent_code_verifier(consent));
    char *back = browse(criteo_consent_url(consent));
    char *code = code_of(back);
    criteo_consent_free(consent);

    char wrong[129];
    memset(wrong, 'w', 64);
    wrong[64] = '\0';
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    criteo_status status =
        criteo_get_token_pkce(client, client_id, NULL, REDIRECT_URI, code, wrong, &token, &error);
    const char *message = criteo_error_message(error);
    printf("a wrong verifier: %s %d %s\n", criteo_status_str(status), criteo_error_http_status(error),
           criteo_error_code(error) != NULL ? criteo_error_code(error) : "-");
    printf("its message holds the code: %s, the verifier: %s\n", strstr(message, code) ? "yes" : "no",
           strstr(message, wrong) ? "yes" : "no");
    criteo_error_free(error);
    error = NULL;

    /* The server spent the code on the wrong verifier: a new consent. */
    consent = consent_for(client, client_id);
    free(verifier);
    free(back);
    free(code);
    verifier = strdup(criteo_consent_code_verifier(consent));
    back = browse(criteo_consent_url(consent));
    code = code_of(back);
    criteo_consent_free(consent);
    status = criteo_get_token_pkce(client, client_id, NULL, REDIRECT_URI, code, verifier, &token, &error);
    printf("the kept verifier: %s\n", criteo_status_str(status));
    criteo_token_free(token);
    criteo_error_free(error);
    free(verifier);
    free(back);
    free(code);
    criteo_client_free(client);
    return 0;
}

/* Each call must be refused as CRITEO_ERR_INVALID_ARGUMENT. */
static void invalid(const char *label, criteo_status status, criteo_error **error) {
    printf("%s: %s: %s\n", label, criteo_status_str(status),
           *error != NULL ? criteo_error_message(*error) : "(no error)");
    criteo_error_free(*error);
    *error = NULL;
}

static int arguments(void) {
    criteo_client *client = client_for("/consent");
    criteo_consent *consent = NULL;
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    invalid("NULL client_id", criteo_consent_new(client, NULL, REDIRECT_URI, &consent, &error), &error);
    invalid("a relative redirect_uri", criteo_consent_new(client, "id", "/callback", &consent, &error), &error);
    invalid("NULL consent_out", criteo_consent_new(client, "id", REDIRECT_URI, NULL, &error), &error);
    invalid("NULL consent", finish(client, NULL, NULL, REDIRECT_URI "?code=c&state=s", &token, &error), &error);
    invalid("a short verifier",
            criteo_get_token_pkce(client, "id", NULL, REDIRECT_URI, "code", "short", &token, &error), &error);
    invalid("a verifier with a space",
            criteo_get_token_pkce(client, "id", NULL, REDIRECT_URI, "code",
                                  "0123456789 0123456789012345678901234567890123456789", &token, &error),
            &error);
    criteo_client_builder *builder = criteo_client_builder_new();
    printf("an http consent URL off loopback: %s\n",
           criteo_status_str(criteo_client_builder_set_consent_url(builder, "http://consent.example/request")));
    printf("a NULL consent URL: %s\n", criteo_status_str(criteo_client_builder_set_consent_url(builder, NULL)));
    criteo_client_builder_free(builder);
    printf("accessors of NULL: %s %s %s\n", criteo_consent_url(NULL) == NULL ? "NULL" : "set",
           criteo_consent_state(NULL) == NULL ? "NULL" : "set",
           criteo_consent_code_verifier(NULL) == NULL ? "NULL" : "set");
    criteo_consent_free(NULL);
    criteo_client_free(client);
    return 0;
}

static criteo_token *exchanged(const criteo_client *client) {
    criteo_consent *consent = consent_for(client, "demo-client");
    char *back = browse(criteo_consent_url(consent));
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    if (finish(client, consent, DEMO_SECRET, back, &token, &error) != CRITEO_OK) {
        die(criteo_error_message(error));
    }
    free(back);
    criteo_consent_free(consent);
    return token;
}

static criteo_token_source *named_source(const criteo_client *client, const char *store, const char *name,
                                         const criteo_token *start) {
    criteo_token_source *source = NULL;
    criteo_error *error = NULL;
    if (criteo_token_source_new_named(client, "demo-client", DEMO_SECRET, name, start, &source, &error) !=
        CRITEO_OK) {
        die(criteo_error_message(error));
    }
    if (criteo_token_source_set_store(source, store, &error) != CRITEO_OK) {
        die(criteo_error_message(error));
    }
    criteo_status status = criteo_token_source_store_error(source, &error);
    printf("store: %s%s%s\n", criteo_status_str(status), error != NULL ? ": " : "",
           error != NULL ? criteo_error_message(error) : "");
    criteo_error_free(error);
    return source;
}

/* Gets from SOURCE; prints LABEL, the status, the access token (or the
 * message) and the requests of demo-client it took. */
static void named_get(const criteo_token_source *source, const char *label) {
    long before = fetches_by(server_url, "demo-client");
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    criteo_status status = criteo_token_source_get(source, &token, &error);
    long requests = fetches_by(server_url, "demo-client") - before;
    criteo_error *store_error = NULL;
    criteo_status store = criteo_token_source_store_error(source, &store_error);
    printf("%s: %s %s, %ld requests, store %s\n", label, criteo_status_str(status),
           status == CRITEO_OK ? criteo_token_access_token(token) : criteo_error_message(error), requests,
           criteo_status_str(store));
    criteo_token_free(token);
    criteo_error_free(error);
    criteo_error_free(store_error);
}

static int named_start(const char *store, const char *name) {
    criteo_client *client = client_for("/consent");
    criteo_token *token = exchanged(client);
    printf("exchanged %s\n", criteo_token_access_token(token));
    criteo_token_source *source = named_source(client, store, name, token);
    criteo_token_free(token);
    named_get(source, "the started source");
    criteo_token_source_free(source);
    criteo_client_free(client);
    return 0;
}

static int named_follow(const char *store, const char *name) {
    criteo_client *client = client_for("/consent");
    criteo_token_source *source = named_source(client, store, name, NULL);
    named_get(source, "from the store");
    criteo_token_source_invalidate(source);
    named_get(source, "after an invalidate");
    criteo_token_source_free(source);
    criteo_client_free(client);
    return 0;
}

/* Starts NAME on STORE from TOKEN, as a new login would. */
static void start_on(const criteo_client *client, const char *store, const char *name, const criteo_token *token) {
    criteo_token_source_free(named_source(client, store, name, token));
}

static int named_order(const char *store, const char *name) {
    criteo_client *client = client_for("/consent");
    criteo_token *older = exchanged(client);
    sleep(2);
    criteo_token *newer = exchanged(client);
    start_on(client, store, name, newer);
    start_on(client, store, name, older);
    criteo_token_source *reader = named_source(client, store, name, NULL);
    criteo_token *served = NULL;
    criteo_error *error = NULL;
    if (criteo_token_source_get(reader, &served, &error) != CRITEO_OK) {
        die(criteo_error_message(error));
    }
    const char *access = criteo_token_access_token(served);
    printf("the store serves: %s\n",
           strcmp(access, criteo_token_access_token(older)) == 0   ? "the token started last"
           : strcmp(access, criteo_token_access_token(newer)) == 0 ? "the token started first"
                                                                    : "another token");
    criteo_token_free(served);
    criteo_token_source_free(reader);
    criteo_token_free(older);
    criteo_token_free(newer);
    criteo_client_free(client);
    return 0;
}

static int named_late(const char *store) {
    criteo_client *client = client_for("/consent");
    criteo_token *token = exchanged(client);
    criteo_token_source *source = NULL;
    criteo_error *error = NULL;
    if (criteo_token_source_new_named(client, "demo-client", DEMO_SECRET, "late", token, &source, &error) !=
        CRITEO_OK) {
        die(criteo_error_message(error));
    }
    criteo_token *served = NULL;
    criteo_status status = criteo_token_source_get(source, &served, &error);
    printf("get: %s\n", criteo_status_str(status));
    status = criteo_token_source_set_store(source, store, &error);
    printf("set_store after it: %s: %s\n", criteo_status_str(status),
           error != NULL ? criteo_error_message(error) : "(no error)");
    criteo_error_free(error);
    criteo_token_free(served);
    criteo_token_free(token);
    criteo_token_source_free(source);
    criteo_client_free(client);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        die("usage: see the comment at the top of tests/c/consent.c");
    }
    snprintf(server_url, sizeof server_url, "%s", argv[2]);
    const char *mode = argv[1];
    if (strcmp(mode, "link") == 0) {
        return link_fields();
    }
    if (strcmp(mode, "confidential") == 0) {
        return exchange("demo-client", DEMO_SECRET);
    }
    if (strcmp(mode, "arguments") == 0) {
        return arguments();
    }
    if (argc < 4) {
        die("this mode needs a client id");
    }
    if (strcmp(mode, "public") == 0) {
        return exchange(argv[3], NULL);
    }
    if (strcmp(mode, "refused") == 0) {
        return refusals(argv[3]);
    }
    if (strcmp(mode, "split") == 0) {
        return split(argv[3]);
    }
    if (strcmp(mode, "race") == 0) {
        return race(argv[3]);
    }
    if (argc == 5 && strcmp(mode, "named-start") == 0) {
        return named_start(argv[3], argv[4]);
    }
    if (argc == 5 && strcmp(mode, "named-order") == 0) {
        return named_order(argv[3], argv[4]);
    }
    if (argc == 4 && strcmp(mode, "named-late") == 0) {
        return named_late(argv[3]);
    }
    if (argc == 5 && strcmp(mode, "named-get") == 0) {
        return named_follow(argv[3], argv[4]);
    }
    die("unknown mode");
}
