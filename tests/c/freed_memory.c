/*
 * freed_memory.c: no secret is left in memory the library gives back.
 *
 * This program defines free() itself, so every block that any library in
 * the process frees passes through scan_block() before glibc takes it back:
 * a block that still holds a secret is a failure. The secrets are the
 * client secret, the authorization code, the refresh token, the access
 * tokens the test server issues (recognised by their fixed pieces), the
 * proxy password and its Basic base64 form. At the end, with every object
 * freed, the whole heap is scanned too.
 *
 * The calls cover every mode and path: keep-alive, Connection: close, TLS,
 * a CONNECT proxy with credentials; success, 401, a timeout; clients and a
 * token source freed; a consent (its state, verifier and code watched from
 * when they exist) finished, and a named lineage started from its token.
 *
 * Usage (the test server started with --tls and --proxy, and a plain one):
 *   freed_memory HTTP_URL HTTPS_URL CA_FILE PROXY_HOSTPORT
 * with CRITEO_TEST_PROXY_BASIC set to base64("user:PROXY_PASSWORD").
 * Exit status 0 when nothing was found, 1 when a secret was found, 2 when
 * a call did not end the way the test expects.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "criteo_oauth.h"

static void die(const char *message) {
    fprintf(stderr, "freed_memory: %s\n", message);
    exit(2);
}

#include "fetches_by.h"

void __libc_free(void *block);

#define CLIENT_SECRET "demo-secret"
#define CODE "demo-code"
#define REFRESH_TOKEN "demo-refresh"
#define PROXY_PASSWORD "proxy-pw-5e6f7a8b"

/* Kept in static storage, never on the heap, so the heap scan cannot find them here. */
enum { MAX_SECRETS = 16, MAX_SECRET_BYTES = 128 };
static char secrets[MAX_SECRETS][MAX_SECRET_BYTES];
static const char *secret_names[MAX_SECRETS];
static size_t secret_count;
static const char *step = "start";
static unsigned long findings;

static void watch(const char *name, const char *secret) {
    if (secret_count < MAX_SECRETS && strlen(secret) < MAX_SECRET_BYTES) {
        strcpy(secrets[secret_count], secret);
        secret_names[secret_count++] = name;
    }
}

/* Reports through write(2): stdio would allocate, and re-enter free(). */
static void report(const char *where, const char *name, size_t bytes) {
    char line[256];
    int length = snprintf(line, sizeof line, "FOUND %s in %s of %zu bytes (during: %s)\n", name,
                          where, bytes, step);
    if (length > 0) {
        (void)!write(STDERR_FILENO, line, (size_t)length);
    }
    findings++;
}

static void scan(const void *memory, size_t bytes, const char *where) {
    for (size_t i = 0; i < secret_count; i++) {
        if (memmem(memory, bytes, secrets[i], strlen(secrets[i])) != NULL) {
            report(where, secret_names[i], bytes);
        }
    }
}

void free(void *block) {
    if (block != NULL) {
        scan(block, malloc_usable_size(block), "a freed block");
    }
    __libc_free(block);
}

/* Scans the main heap ([heap] in /proc/self/maps), live and free blocks alike. */
static void scan_heap(void) {
    static char maps[1 << 16];
    FILE *file = fopen("/proc/self/maps", "r");
    if (file == NULL) {
        return;
    }
    size_t length = fread(maps, 1, sizeof maps - 1, file);
    fclose(file);
    maps[length] = '\0';
    for (char *line = strtok(maps, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        uintptr_t start, end;
        if (strstr(line, "[heap]") != NULL && sscanf(line, "%lx-%lx", &start, &end) == 2) {
            scan((const void *)start, end - start, "the heap after every object was freed");
        }
    }
}

static criteo_client *client_for(const char *host, const char *ca_file, const char *proxy,
                                 uint32_t total_ms) {
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, host);
    criteo_client_builder_set_timeouts(builder, total_ms, total_ms);
    criteo_client_builder_set_max_retries(builder, 0);
    criteo_client_builder_set_proxy(builder, proxy != NULL ? proxy : "");
    if (ca_file != NULL) {
        criteo_client_builder_set_ca_file(builder, ca_file);
    }
    criteo_client *client = NULL;
    criteo_error *error = NULL;
    if (criteo_client_builder_build(builder, &client, &error) != CRITEO_OK) {
        fprintf(stderr, "building a client for %s: %s\n", host, criteo_error_message(error));
        exit(2);
    }
    return client;
}

/* One call; `expected` is the status it must end with. */
static void call(const char *name, const criteo_client *client, const char *grant_type,
                 const char *secret, criteo_status expected) {
    step = name;
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    const char *code = strcmp(grant_type, "authorization_code") == 0 ? CODE : NULL;
    const char *redirect_uri = code != NULL ? "https://app.example/callback" : NULL;
    criteo_status status = criteo_get_token(client, grant_type, "demo-client", secret, redirect_uri,
                                            code, NULL, &token, &error);
    if (status != expected) {
        fprintf(stderr, "%s: %s (%s), expected %s\n", name, criteo_status_str(status),
                error != NULL ? criteo_error_message(error) : "", criteo_status_str(expected));
        exit(2);
    }
    criteo_token_free(token);
    criteo_error_free(error);
}

static void source_fetches(const criteo_client *client) {
    step = "a token source with refresh-token rotation, freed";
    criteo_token_source *source = NULL;
    criteo_token *token = NULL;
    if (criteo_token_source_new(client, "authorization_code", "demo-client", CLIENT_SECRET,
                                "https://app.example/callback", CODE, NULL, &source,
                                NULL) != CRITEO_OK ||
        criteo_token_source_get(source, &token, NULL) != CRITEO_OK) {
        fprintf(stderr, "%s: failed\n", step);
        exit(2);
    }
    criteo_token_free(token);
    criteo_token_source_invalidate(source);
    if (criteo_token_source_get(source, &token, NULL) != CRITEO_OK) {
        fprintf(stderr, "%s: the refresh failed\n", step);
        exit(2);
    }
    criteo_token_free(token);
    criteo_token_source_free(source);
}

/* A consent finished, and a named lineage started from its token and
 * renewed; the consent's secrets are watched once they exist. */
static void consent_flow(const char *url) {
    step = "a consent, finished, and a named lineage from its token";
    char consent_url[512];
    snprintf(consent_url, sizeof consent_url, "%s/consent", url);
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, url);
    criteo_client_builder_set_proxy(builder, "");
    criteo_client_builder_set_consent_url(builder, consent_url);
    criteo_client *client = NULL;
    criteo_consent *consent = NULL;
    if (criteo_client_builder_build(builder, &client, NULL) != CRITEO_OK ||
        criteo_consent_new(client, "demo-client", "https://app.example/callback", &consent, NULL) != CRITEO_OK) {
        die("the consent could not be made");
    }
    watch("the consent's state", criteo_consent_state(consent));
    watch("the consent's verifier", criteo_consent_code_verifier(consent));
    char *back = browse(criteo_consent_url(consent));
    const char *code = strstr(back, "code=");
    char code_only[MAX_SECRET_BYTES];
    snprintf(code_only, sizeof code_only, "%.*s", (int)strcspn(code + 5, "&"), code + 5);
    watch("the consent's code", code_only);
    watch("a consent refresh token", "rt-consent-");
    criteo_token *token = NULL;
    criteo_token_source *source = NULL;
    if (criteo_consent_finish(client, consent, CLIENT_SECRET, back, &token, NULL) != CRITEO_OK ||
        criteo_token_source_new_named(client, "demo-client", CLIENT_SECRET, "freed-memory", token, &source,
                                      NULL) != CRITEO_OK) {
        die("the consent could not be finished");
    }
    /* Wiped by hand: this program's own copy is no finding of the library's. */
    memset(back, 0, strlen(back));
    free(back);
    criteo_token_free(token);
    criteo_token_source_invalidate(source);
    if (criteo_token_source_get(source, &token, NULL) != CRITEO_OK) {
        die("the named lineage could not be renewed");
    }
    criteo_token_free(token);
    criteo_token_source_free(source);
    criteo_consent_free(consent);
    criteo_client_free(client);
}

int main(int argc, char **argv) {
    const char *proxy_basic = getenv("CRITEO_TEST_PROXY_BASIC");
    if (argc != 5 || proxy_basic == NULL) {
        fprintf(stderr, "usage: CRITEO_TEST_PROXY_BASIC=... freed_memory HTTP_URL HTTPS_URL "
                        "CA_FILE PROXY_HOSTPORT\n");
        return 2;
    }
    const char *http_url = argv[1], *https_url = argv[2], *ca_file = argv[3];
    char scenario[512], slow[512], proxy[512];
    snprintf(scenario, sizeof scenario, "%s/scenario/close", http_url);
    snprintf(slow, sizeof slow, "%s/scenario/slow-3000", http_url);
    snprintf(proxy, sizeof proxy, "http://user:" PROXY_PASSWORD "@%s", argv[4]);

    watch("the client secret", CLIENT_SECRET);
    watch("the authorization code", "code=" CODE);
    watch("the refresh token", REFRESH_TOKEN);
    watch("an access token (its head)", "eyJhbGciOiJIUzI1NiJ9.eyJzZXEiOiJ");
    watch("an access token (its tail)", "In0.c2lnbmF0dXJl-_");
    watch("the proxy password", PROXY_PASSWORD);
    watch("the proxy password in Basic base64", proxy_basic);

    criteo_client *plain = client_for(http_url, NULL, NULL, 10000);
    for (int i = 0; i < 20; i++) {
        call("keep-alive, success", plain, "client_credentials", CLIENT_SECRET, CRITEO_OK);
    }
    call("keep-alive, 401", plain, "client_credentials", "wrong-" CLIENT_SECRET,
         CRITEO_ERR_UNAUTHORIZED);
    call("authorization code", plain, "authorization_code", CLIENT_SECRET, CRITEO_OK);
    source_fetches(plain);
    consent_flow(http_url);

    criteo_client *closing = client_for(scenario, NULL, NULL, 10000);
    for (int i = 0; i < 20; i++) {
        call("Connection: close, success", closing, "client_credentials", CLIENT_SECRET, CRITEO_OK);
    }
    criteo_client *slow_client = client_for(slow, NULL, NULL, 300);
    call("timeout", slow_client, "client_credentials", CLIENT_SECRET, CRITEO_ERR_TIMEOUT);

    criteo_client *tls = client_for(https_url, ca_file, NULL, 10000);
    for (int i = 0; i < 5; i++) {
        call("TLS, success", tls, "client_credentials", CLIENT_SECRET, CRITEO_OK);
    }
    call("TLS, 401", tls, "client_credentials", "wrong-" CLIENT_SECRET, CRITEO_ERR_UNAUTHORIZED);
    source_fetches(tls);

    criteo_client *proxied = client_for(https_url, ca_file, proxy, 10000);
    for (int i = 0; i < 5; i++) {
        call("TLS through a proxy with credentials", proxied, "client_credentials", CLIENT_SECRET,
             CRITEO_OK);
    }

    step = "freeing the clients";
    criteo_client_free(plain);
    criteo_client_free(closing);
    criteo_client_free(slow_client);
    criteo_client_free(tls);
    criteo_client_free(proxied);
    step = "every object freed";
    scan_heap();

    if (findings > 0) {
        fprintf(stderr, "%lu secret(s) found in memory the library gave back or still holds\n",
                findings);
        return 1;
    }
    printf("no secret in any freed block or in the heap\n");
    return 0;
}
