/*
 * criteo-token: prints a Criteo access token, for shell scripts.
 *
 *   criteo-token                  prints the access token
 *   criteo-token --header         prints "Bearer <token>", an Authorization value
 *   criteo-token --json           prints the whole token as one JSON object
 *   criteo-token --no-cache       fetches a new token instead of a cached one
 *   criteo-token --store WHERE    caches in this directory or Redis URL
 *   criteo-token --timeout SECS   gives up after SECS seconds (default 30)
 *   criteo-token -v               tells each step on stderr (the token alone on stdout)
 *   criteo-token login            asks the user's consent (authorization code with PKCE)
 *                                 and keeps the lineage in the store for later runs
 *
 * Tokens are cached in the store --store names, else in the one
 * $CRITEO_OAUTH_STORE names, else in the library's default directory (see
 * criteo_token_source_set_store), shared with every other program (and,
 * on Redis, every host) that uses it: a loop of runs makes one token
 * request per token lifetime. A cached token is printed at once while it is valid, within
 * its refresh margin too (its refresh is left to a later run). After a login, runs
 * serve the login's lineage (the "criteo-token" named lineage of the store) instead
 * of client credentials, renewing it with its refresh token.
 *
 * Credentials come only from the environment, never from argv (which other
 * users can see in the process list):
 *   CRITEO_CLIENT_ID, CRITEO_CLIENT_SECRET   required
 *   CRITEO_HOST                              optional, default https://api.criteo.com
 *   CRITEO_REDIRECT_URI, CRITEO_CONSENT_URL  for login (or --redirect-uri); the
 *                                            consent page, default Criteo's
 * CRITEO_CLIENT_SECRET may be unset for login (a public client): the token is
 * then printed (--json gives the refresh token too), not kept.
 *
 * Exit status: 0 when the token was printed, 1 when the call failed or the
 * token could not be written (the reason on stderr), 2 for a usage or
 * setup mistake, 3 when the time limit passed.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "criteo_oauth.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: criteo-token [--header | --json] [--no-cache | --store WHERE]\n"
            "                    [--timeout SECONDS] [-v]\n"
            "       criteo-token login [--redirect-uri URI] [--open] [--header | --json]\n"
            "                    [--store WHERE] [--timeout SECONDS] [-v]\n"
            "Prints a Criteo access token. Reads CRITEO_CLIENT_ID, CRITEO_CLIENT_SECRET\n"
            "and optionally CRITEO_HOST and CRITEO_OAUTH_STORE from the environment.\n"
            "  --header          print \"Bearer <token>\", for curl -H \"Authorization: $(...)\"\n"
            "  --json            print the whole token as one JSON object\n"
            "  --no-cache        fetch a new token; tokens are otherwise cached for the user\n"
            "                    (in $XDG_RUNTIME_DIR/criteo-oauth, else /tmp/criteo-oauth-<uid>)\n"
            "  --store WHERE     cache in this directory, or on Redis: redis://host[:port][/db]\n"
            "                    [?prefix=P] or rediss://... (a password goes in\n"
            "                    CRITEO_OAUTH_STORE, never on the command line)\n"
            "  --timeout SECONDS give up after this long (default 30; decimals allowed)\n"
            "  -v, --verbose     tell each step (lookup, connect, request, answer, retry,\n"
            "                    fetch) on standard error, with its time\n"
            "login asks for the user's consent and keeps its lineage in the store, where\n"
            "later runs for the client id find it:\n"
            "  --redirect-uri URI the app's redirect URI (or CRITEO_REDIRECT_URI); a loopback\n"
            "                    http://127.0.0.1:PORT/... is received directly, else the\n"
            "                    address the browser is sent to is pasted on standard input\n"
            "  --open            open the consent link in a browser ($BROWSER or xdg-open)\n"
            "  --timeout SECONDS how long to wait for the user (default 300)\n"
            "Exit status: 0 printed, 1 failed, 2 usage or setup mistake, 3 timed out.\n");
}

/* How a token is printed. */
enum output { PLAIN, HEADER, JSON };

/* What the command line asks for. */
struct options {
    enum output output;
    int cached;
    /* The store --store names; NULL for CRITEO_OAUTH_STORE or the default. */
    const char *store;
    /* The time limit in milliseconds; 0 for the library's default. */
    uint32_t timeout_ms;
    int verbose;
    /* criteo-token login, with its redirect URI (NULL: CRITEO_REDIRECT_URI). */
    int login;
    const char *redirect_uri;
    int open_browser;
};

/* SECONDS (decimal, such as 5 or 0.5) as milliseconds, or 0 when it is
 * not a positive number of at most 4294967 seconds (what fits in the
 * library's limits). */
static uint32_t parse_timeout(const char *text) {
    /* Decimal digits and a point only: strtod would also take hex, exponents and signs. */
    if (text[0] == '\0' || text[strspn(text, "0123456789.")] != '\0') {
        return 0;
    }
    char *end = NULL;
    errno = 0;
    double seconds = strtod(text, &end);
    /* !(seconds > 0) is also true for NaN; the upper bound stops infinity. */
    if (errno != 0 || end == text || *end != '\0' || !(seconds > 0) || seconds > 4294967.0) {
        return 0;
    }
    double exact = seconds * 1000.0;
    uint32_t millis = (uint32_t)exact;
    return millis < exact ? millis + 1 : millis;
}

/* Exits 2 unless --store names a store, and one without a password:
 * argv is readable by every user of the machine. */
static void check_store(const char *store) {
    if (store == NULL || store[0] == '\0') {
        fprintf(stderr, "criteo-token: --store needs a directory or a redis:// URL\n");
        exit(2);
    }
    /* Any @ of a Redis URL may end a user info (a password may hold / ? #). */
    if (strncasecmp(store + strspn(store, " \t\n\v\f\r"), "redis", 5) == 0 && strchr(store, '@') != NULL) {
        fprintf(stderr, "criteo-token: --store must not hold a password, which any user can read "
                        "in the process list: put the URL in CRITEO_OAUTH_STORE\n");
        exit(2);
    }
}

/* Reads argv into `options`; exits 0 after --help, 2 on a mistake. */
static struct options parse_arguments(int argc, char **argv) {
    struct options options = {PLAIN, 1, NULL, 0, 0, 0, NULL, 0};
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "login") == 0) {
        options.login = 1;
        first = 2;
    }
    for (int i = first; i < argc; i++) {
        const char *argument = argv[i];
        if (options.login && (strcmp(argument, "--redirect-uri") == 0 || strncmp(argument, "--redirect-uri=", 15) == 0)) {
            options.redirect_uri = argument[14] == '=' ? argument + 15 : argv[++i];
            if (options.redirect_uri == NULL) {
                fprintf(stderr, "criteo-token: --redirect-uri needs the app's redirect URI\n");
                exit(2);
            }
        } else if (options.login && strcmp(argument, "--open") == 0) {
            options.open_browser = 1;
        } else if (strcmp(argument, "--json") == 0 || strcmp(argument, "--header") == 0) {
            enum output wanted = argument[2] == 'j' ? JSON : HEADER;
            if (options.output != PLAIN && options.output != wanted) {
                fprintf(stderr, "criteo-token: --header and --json cannot be used together\n");
                exit(2);
            }
            options.output = wanted;
        } else if (strcmp(argument, "--no-cache") == 0) {
            options.cached = 0;
        } else if (strcmp(argument, "--store") == 0 || strncmp(argument, "--store=", 8) == 0) {
            options.store = argument[7] == '=' ? argument + 8 : argv[++i];
            check_store(options.store);
        } else if (strcmp(argument, "-v") == 0 || strcmp(argument, "--verbose") == 0) {
            options.verbose = 1;
        } else if (strcmp(argument, "--timeout") == 0 || strncmp(argument, "--timeout=", 10) == 0) {
            const char *value = argument[9] == '=' ? argument + 10 : argv[++i];
            if (value == NULL || (options.timeout_ms = parse_timeout(value)) == 0) {
                fprintf(stderr, "criteo-token: --timeout needs a number of seconds above 0 and at "
                                "most 4294967, such as 5 or 0.5\n");
                exit(2);
            }
        } else if (strcmp(argument, "--help") == 0 || strcmp(argument, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "criteo-token: unknown argument '%s'\n", argument);
            usage(stderr);
            exit(2);
        }
    }
    if (!options.cached && options.store != NULL) {
        fprintf(stderr, "criteo-token: --no-cache and --store cannot be used together\n");
        exit(2);
    }
    if (!options.cached && options.login) {
        fprintf(stderr, "criteo-token: login keeps its lineage in the store: --no-cache cannot be used with it\n");
        exit(2);
    }
    return options;
}

/* Writes `text` as a JSON string. */
static void print_json_string(const char *text) {
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++) {
        if (*c == '"' || *c == '\\') {
            printf("\\%c", *c);
        } else if (*c < 0x20) {
            printf("\\u%04x", *c);
        } else {
            putchar(*c);
        }
    }
    putchar('"');
}

static void print_json(const criteo_token *token) {
    const char *refresh_token = criteo_token_refresh_token(token);
    printf("{\"access_token\":");
    print_json_string(criteo_token_access_token(token));
    printf(",\"token_type\":");
    print_json_string(criteo_token_token_type(token));
    printf(",\"refresh_token\":");
    if (refresh_token != NULL) {
        print_json_string(refresh_token);
    } else {
        printf("null");
    }
    long long expires_in = (long long)criteo_token_expires_in(token);
    long long expires_at = (long long)criteo_token_expires_at(token);
    if (expires_in < 0) {
        printf(",\"expires_in\":null,\"expires_at\":null}\n");
    } else {
        printf(",\"expires_in\":%lld,\"expires_at\":%lld}\n", expires_in, expires_at);
    }
}

/* A refused setting, named as the user set it: the environment variable. */
static void print_setting_error(const char *message) {
    static const struct {
        const char *argument, *variable;
    } names[] = {{"client_id ", "CRITEO_CLIENT_ID "},
                 {"client_secret ", "CRITEO_CLIENT_SECRET "},
                 {"base_url ", "CRITEO_HOST "},
                 {"consent_url ", "CRITEO_CONSENT_URL "},
                 {"redirect_uri ", "the redirect URI "}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t length = strlen(names[i].argument);
        if (strncmp(message, names[i].argument, length) == 0) {
            fprintf(stderr, "criteo-token: %s%s\n", names[i].variable, message + length);
            return;
        }
    }
    fprintf(stderr, "criteo-token: %s\n", message);
}

static const char *event_name(uint32_t kind) {
    switch (kind) {
    case CRITEO_EVENT_LOOKUP:
        return "lookup";
    case CRITEO_EVENT_CONNECT:
        return "connect";
    case CRITEO_EVENT_TLS:
        return "tls";
    case CRITEO_EVENT_REQUEST:
        return "request";
    case CRITEO_EVENT_RESPONSE:
        return "response";
    case CRITEO_EVENT_RETRY:
        return "retry";
    case CRITEO_EVENT_FETCH:
        return "fetch";
    default:
        return "event";
    }
}

/* When the run began, for -v's times. */
static struct timespec started;

/* -v: one line per event on standard error, as curl -v does, with the
 * time since the run began (an event's own elapsed time counts from its
 * call or fetch, and a fetch holds calls). */
static void print_event(void *user_data, const criteo_event *event) {
    (void)user_data;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long us = (now.tv_sec - started.tv_sec) * 1000000LL + (now.tv_nsec - started.tv_nsec) / 1000;
    fprintf(stderr, "* [%6lld.%03lld ms] %s: %s\n", us / 1000, us % 1000,
            event_name(criteo_event_kind(event)), criteo_event_message(event));
}

/* The client for CRITEO_HOST (default https://api.criteo.com), with the
 * proxy and trust store the environment gives, and `timeout_ms` as its
 * total time limit when not 0, and -v's trace; exits 2 when it cannot be made, with the
 * message of whichever setting is wrong. */
static criteo_client *client_from_environment(uint32_t timeout_ms, int verbose) {
    criteo_client_builder *builder = criteo_client_builder_new();
    const char *host = getenv("CRITEO_HOST");
    /* An empty CRITEO_HOST is refused, not quietly taken as the default. */
    if (host != NULL && host[0] == '\0') {
        fprintf(stderr, "criteo-token: CRITEO_HOST is set but empty: unset it for "
                        "https://api.criteo.com, or set it to the API's base URL\n");
        exit(2);
    }
    if (host != NULL) {
        criteo_client_builder_set_host(builder, host);
    }
    const char *consent_url = getenv("CRITEO_CONSENT_URL");
    if (consent_url != NULL) {
        criteo_client_builder_set_consent_url(builder, consent_url);
    }
    if (timeout_ms != 0) {
        criteo_client_builder_set_timeouts(builder, 0, timeout_ms);
    }
    if (verbose) {
        criteo_client_builder_set_trace(builder, print_event, NULL);
    }
    criteo_client *client = NULL;
    criteo_error *error = NULL;
    if (criteo_client_builder_build(builder, &client, &error) != CRITEO_OK) {
        print_setting_error(criteo_error_message(error));
        criteo_error_free(error);
        exit(2);
    }
    return client;
}

/* Descriptors 0-2 open before anything else, on /dev/null when closed, so
 * that no file or socket takes their place: what is printed to stdout
 * must never go into a connection. Returns whether stdout was open. */
static int open_standard_descriptors(void) {
    int stdout_was_open = 1;
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
            stdout_was_open &= fd != 1;
            if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd) {
                _exit(2);
            }
        }
    }
    return stdout_was_open;
}

/* Flushes and closes stdout; says why and returns 1 if anything written to
 * it was lost. */
static int finish_output(void) {
    int failed = ferror(stdout);
    failed |= fclose(stdout) != 0;
    if (failed) {
        fprintf(stderr, "criteo-token: cannot write the token to standard output: %s\n",
                errno != 0 ? strerror(errno) : "write error");
        return 1;
    }
    return 0;
}

/* A token source for the credentials, on `store` (NULL: the one
 * CRITEO_OAUTH_STORE names, or the default) unless `cached` is 0; a store
 * that cannot be used is reported and done without. Exits 2 when the
 * credentials are refused. */
static criteo_token_source *source_for(criteo_client *client, const char *client_id,
                                       const char *client_secret, int cached,
                                       const char *store) {
    criteo_token_source *source = NULL;
    criteo_error *error = NULL;
    if (criteo_token_source_new(client, "client_credentials", client_id, client_secret, NULL,
                                NULL, NULL, &source, &error) != CRITEO_OK) {
        print_setting_error(criteo_error_message(error));
        exit(2);
    }
    if (cached && criteo_token_source_set_store(source, store, &error) != CRITEO_OK) {
        fprintf(stderr, "criteo-token: not caching: %s\n", criteo_error_message(error));
        criteo_error_free(error);
    }
    return source;
}

/* Says so when the token could not be cached (a full disk, say). */
static void report_store_failure(const criteo_token_source *source) {
    criteo_error *error = NULL;
    if (criteo_token_source_store_error(source, &error) != CRITEO_OK) {
        fprintf(stderr, "criteo-token: the token was not cached: %s\n",
                criteo_error_message(error));
        criteo_error_free(error);
    }
}

/* Gets the token, within `timeout_ms` when not 0: the fetch runs on the
 * library's thread, and a fetch still under way at the limit is a
 * CRITEO_ERR_TIMEOUT. */
static criteo_status get_token(const criteo_token_source *source, uint32_t timeout_ms,
                               criteo_token **token, criteo_error **error) {
    if (timeout_ms == 0) {
        return criteo_token_source_get(source, token, error);
    }
    criteo_status status = criteo_token_source_get_within(source, timeout_ms, token, error);
    if (status == CRITEO_OK && *token == NULL) {
        return CRITEO_ERR_TIMEOUT;
    }
    return status;
}

static void print_token(const criteo_token *token, enum output output) {
    switch (output) {
    case JSON:
        print_json(token);
        break;
    case HEADER:
        printf("Bearer %s\n", criteo_token_access_token(token));
        break;
    case PLAIN:
        printf("%s\n", criteo_token_access_token(token));
        break;
    }
}

#include "login.h"

/* The login's lineage in the store, and its get; NULL (and *status
 * untouched) when the store holds none, or cannot be used: then client
 * credentials serve. */
static criteo_token_source *login_lineage(criteo_client *client, const char *client_id,
                                          const char *client_secret, const struct options *options,
                                          criteo_status *status, criteo_token **token, criteo_error **error) {
    criteo_token_source *source = NULL;
    if (criteo_token_source_new_named(client, client_id, client_secret, LOGIN_LINEAGE, NULL, &source, error) !=
            CRITEO_OK ||
        criteo_token_source_set_store(source, options->store, error) != CRITEO_OK) {
        criteo_error_free(*error);
        *error = NULL;
        criteo_token_source_free(source);
        return NULL;
    }
    criteo_status got = get_token(source, options->timeout_ms, token, error);
    criteo_error *store_error = NULL;
    int store_works = criteo_token_source_store_error(source, &store_error) == CRITEO_OK;
    criteo_error_free(store_error);
    if (got == CRITEO_ERR_STORE && store_works) {
        /* No login was kept for this client id. */
        criteo_error_free(*error);
        *error = NULL;
        criteo_token_source_free(source);
        return NULL;
    }
    *status = got;
    return source;
}

int main(int argc, char **argv) {
    clock_gettime(CLOCK_MONOTONIC, &started);
    int stdout_was_open = open_standard_descriptors();
    struct options options = parse_arguments(argc, argv);
    if (!stdout_was_open) {
        fprintf(stderr, "criteo-token: standard output is closed: nowhere to print the token\n");
        return 1;
    }
    const char *client_id = getenv("CRITEO_CLIENT_ID");
    const char *client_secret = getenv("CRITEO_CLIENT_SECRET");
    if (options.login && client_id != NULL && client_secret == NULL && options.output != JSON) {
        fprintf(stderr, "criteo-token: without CRITEO_CLIENT_SECRET (a public client), login can only print "
                        "the token (--json): the store's records are sealed with the client secret\n");
        return 2;
    }
    if (client_id == NULL || (client_secret == NULL && !options.login)) {
        fprintf(stderr,
                "criteo-token: %s is not set: set CRITEO_CLIENT_ID and CRITEO_CLIENT_SECRET in "
                "the environment\n",
                client_id == NULL ? "CRITEO_CLIENT_ID" : "CRITEO_CLIENT_SECRET");
        return 2;
    }
    if (options.login) {
        return login(&options, client_id, client_secret);
    }

    criteo_client *client = client_from_environment(options.timeout_ms, options.verbose);
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    criteo_status status = CRITEO_OK;
    criteo_token_source *source = NULL;
    int from_login = 0;
    if (options.cached) {
        source = login_lineage(client, client_id, client_secret, &options, &status, &token, &error);
        from_login = source != NULL;
    }
    if (source == NULL) {
        source = source_for(client, client_id, client_secret, options.cached, options.store);
        status = get_token(source, options.timeout_ms, &token, &error);
    }
    report_store_failure(source);
    int exit_code = 0;
    if (status == CRITEO_ERR_TIMEOUT && error == NULL) {
        fprintf(stderr, "criteo-token: no token within the time limit (--timeout)\n");
        exit_code = 3;
    } else if (status != CRITEO_OK) {
        const char *code = criteo_error_code(error);
        int refused = from_login && code != NULL && strcmp(code, "invalid_grant") == 0;
        fprintf(stderr, "criteo-token: %s%s\n", criteo_error_message(error),
                refused ? " (the login's refresh token was refused: run criteo-token login again)" : "");
        exit_code = status == CRITEO_ERR_TIMEOUT ? 3 : 1;
    } else {
        print_token(token, options.output);
        exit_code = finish_output();
    }
    criteo_token_free(token);
    criteo_error_free(error);
    criteo_token_source_free(source);
    criteo_client_free(client);
    return exit_code;
}
