/*
 * hostile_host.c: the library inside a careless or hostile host program.
 *
 *   hostile_host descriptors TLS_URL CA_FILE PROXY_URL
 *       closes descriptors 0, 1 and 2, then gets tokens over TLS (direct
 *       and through the proxy, with the trust store from SSL_CERT_FILE and
 *       from set_ca_file) and keeps the connections alive: no descriptor
 *       0-2 may be open afterwards (/proc/self/fd), since any would be the
 *       library's. Reports on descriptor 3, a copy of stdout.
 *   hostile_host free-during-fetch SLOW_URL
 *       starts a fetch with criteo_token_source_get_within, frees the
 *       source, then frees the callback's user_data: the callback must
 *       never run (under ASan or valgrind, a call would read freed memory).
 *   hostile_host free-during-callback URL
 *       frees the source while its callback runs on the library's thread:
 *       free must return only after the callback did.
 *   hostile_host fork-during-callback URL
 *       forks while the callback runs on the library's thread: the child,
 *       where that thread does not exist, frees the source at once (under
 *       a 5 s alarm) and gets a token of its own; the parent's free still
 *       waits for its callback.
 *   hostile_host hanging-lookups URL CALLS
 *       makes CALLS calls of 200 ms each to URL, whose name the DNS server
 *       never answers: each must time out, and one lookup thread at most
 *       may be running at the end (they would pile up, one per call).
 *   hostile_host reused-socket URL
 *       gets a token (the connection stays in the client's pool), closes
 *       every descriptor from 3 as closefrom would, and puts a connected
 *       socket of its own on each number the library had: the next get
 *       must send nothing down those sockets (it would send the secret),
 *       and freeing the client must leave them open.
 *   hostile_host trust-store PATH TLS_URL
 *       PATH as set_ca_file: the build must fail at once with a message
 *       naming PATH; as SSL_CERT_FILE: the build succeeds (the system's
 *       trust store is read at the first connection), and a get must fail
 *       at once naming PATH (run under ulimit -v and a timeout).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "criteo_oauth.h"

static criteo_client *client_for(const char *url, const char *ca_file, const char *proxy,
                                 criteo_error **error) {
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, url);
    criteo_client_builder_set_proxy(builder, proxy);
    if (ca_file != NULL) {
        criteo_client_builder_set_ca_file(builder, ca_file);
    }
    criteo_client *client = NULL;
    criteo_client_builder_build(builder, &client, error);
    return client;
}

static int token_from(criteo_client *client) {
    criteo_token *token = NULL;
    int got = client != NULL &&
              criteo_get_token(client, "client_credentials", "demo-client", "demo-secret", NULL,
                               NULL, NULL, &token, NULL) == CRITEO_OK;
    criteo_token_free(token);
    return got;
}

static void sleep_ms(long ms) {
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

static int descriptors(const char *tls_url, const char *ca_file, const char *proxy) {
    int report = dup(1);
    if (report != 3) {
        fprintf(stderr, "expected the report on descriptor 3, got %d\n", report);
        return 1;
    }
    close(0);
    close(1);
    close(2);
    setenv("SSL_CERT_FILE", ca_file, 1);
    criteo_client *from_env = client_for(tls_url, NULL, "", NULL);
    criteo_client *direct = client_for(tls_url, ca_file, "", NULL);
    criteo_client *tunnelled = client_for(tls_url, ca_file, proxy, NULL);
    int tokens = token_from(from_env) + token_from(direct) + token_from(tunnelled);
    /* The connections stay in each client's pool: look now. */
    int on_stdio = 0;
    char path[64], target[256];
    for (int fd = 0; fd <= 2; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t length = readlink(path, target, sizeof target - 1);
        if (length >= 0) {
            target[length] = '\0';
            dprintf(report, "descriptor %d is open: %s\n", fd, target);
            on_stdio++;
        }
    }
    criteo_client_free(from_env);
    criteo_client_free(direct);
    criteo_client_free(tunnelled);
    dprintf(report, "%d tokens, %d of the library's descriptors on 0-2\n", tokens, on_stdio);
    return tokens == 3 && on_stdio == 0 ? 0 : 1;
}

/* What the callback touches: freed by the program once the source is. */
struct callback_state {
    atomic_int calls;
    atomic_int started, finished;
    long sleep_ms;
};

/* Set once the source is freed: a call after that is counted here too, so
 * that the plain build sees it as well as ASan and valgrind. */
static atomic_int source_freed, late_calls;

static void on_refresh(void *user_data, const criteo_token *token) {
    struct callback_state *state = user_data;
    (void)token;
    if (atomic_load(&source_freed)) {
        atomic_fetch_add(&late_calls, 1);
        return;
    }
    atomic_fetch_add(&state->calls, 1);
    atomic_store(&state->started, 1);
    sleep_ms(state->sleep_ms);
    atomic_store(&state->finished, 1);
}

static criteo_token_source *source_for(const char *url, struct callback_state *state) {
    criteo_client *client = client_for(url, NULL, "", NULL);
    criteo_token_source *source = NULL;
    criteo_token_source_new(client, "client_credentials", "demo-client", "demo-secret", NULL, NULL,
                            NULL, &source, NULL);
    criteo_client_free(client);
    if (source != NULL) {
        criteo_token_source_set_refresh_callback(source, on_refresh, state);
    }
    return source;
}

static int free_during_fetch(const char *slow_url) {
    struct callback_state *state = calloc(1, sizeof *state);
    criteo_token_source *source = source_for(slow_url, state);
    criteo_token *token = NULL;
    criteo_status status = criteo_token_source_get_within(source, 0, &token, NULL);
    criteo_token_source_free(source);
    atomic_store(&source_freed, 1);
    int calls_at_free = atomic_load(&state->calls);
    free(state);
    /* The fetch (1 s) ends after this: a callback would use freed memory. */
    sleep_ms(2000);
    printf("get_within: %s, token %s; callback calls before free: %d, after: %d\n",
           criteo_status_str(status), token == NULL ? "NULL" : "given", calls_at_free,
           atomic_load(&late_calls));
    return status == CRITEO_OK && token == NULL && calls_at_free == 0 && late_calls == 0 ? 0 : 1;
}

/* A source whose first fetch runs on the library's thread, once its
 * callback has started (or after 5 s). */
static criteo_token_source *source_in_its_callback(const char *url, struct callback_state *state) {
    criteo_token_source *source = source_for(url, state);
    criteo_token *token = NULL;
    criteo_token_source_get_within(source, 0, &token, NULL);
    criteo_token_free(token);
    for (int i = 0; i < 1000 && !atomic_load(&state->started); i++) {
        sleep_ms(5);
    }
    return source;
}

static int free_during_callback(const char *url) {
    struct callback_state *state = calloc(1, sizeof *state);
    state->sleep_ms = 500;
    criteo_token_source *source = source_in_its_callback(url, state);
    int started = atomic_load(&state->started);
    criteo_token_source_free(source);
    int finished = atomic_load(&state->finished);
    free(state);
    printf("callback started before free: %d, finished when free returned: %d\n", started,
           finished);
    return started && finished ? 0 : 1;
}

static int fork_during_callback(const char *url) {
    struct callback_state *state = calloc(1, sizeof *state);
    state->sleep_ms = 1000;
    criteo_token_source *source = source_in_its_callback(url, state);
    pid_t child = fork();
    if (child == 0) {
        alarm(5);
        criteo_token *own = NULL;
        criteo_status status = criteo_token_source_get(source, &own, NULL);
        criteo_token_source_free(source);
        _exit(status == CRITEO_OK && own != NULL ? 0 : 1);
    }
    int child_status = 0;
    waitpid(child, &child_status, 0);
    criteo_token_source_free(source);
    int finished = atomic_load(&state->finished);
    free(state);
    int child_fine = WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0;
    printf("child got a token and freed its source: %s; parent's free waited for its callback: %s\n",
           child_fine ? "yes" : "no", finished ? "yes" : "no");
    return child_fine && finished ? 0 : 1;
}

static int refused_naming(criteo_error *error, const char *path, const char *how) {
    const char *message = criteo_error_message(error);
    printf("%s: %s\n", how, message);
    return error != NULL && strstr(message, path) != NULL;
}

static int trust_store(const char *path, const char *tls_url) {
    criteo_error *error = NULL;
    criteo_client *client = client_for(tls_url, path, "", &error);
    int named = client == NULL && refused_naming(error, path, "set_ca_file");
    criteo_error_free(error);
    criteo_client_free(client);
    error = NULL;
    setenv("SSL_CERT_FILE", path, 1);
    client = client_for(tls_url, NULL, "", &error);
    criteo_token *token = NULL;
    criteo_status got = criteo_get_token(client, "client_credentials", "demo-client", "demo-secret", NULL, NULL,
                                         NULL, &token, &error);
    named += client != NULL && got == CRITEO_ERR_TLS && refused_naming(error, path, "SSL_CERT_FILE");
    criteo_token_free(token);
    criteo_error_free(error);
    criteo_client_free(client);
    return named == 2 ? 0 : 1;
}

/* How many of this process's threads have this name (as /proc shows it). */
static int threads_named(const char *name) {
    DIR *tasks = opendir("/proc/self/task");
    int count = 0;
    for (struct dirent *task; tasks != NULL && (task = readdir(tasks)) != NULL;) {
        char path[300], comm[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", task->d_name);
        FILE *file = fopen(path, "r");
        if (file != NULL && fgets(comm, sizeof comm, file) != NULL) {
            comm[strcspn(comm, "\n")] = '\0';
            count += strcmp(comm, name) == 0;
        }
        if (file != NULL) {
            fclose(file);
        }
    }
    if (tasks != NULL) {
        closedir(tasks);
    }
    return count;
}

static int hanging_lookups(const char *url, int calls) {
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, url);
    criteo_client_builder_set_proxy(builder, "");
    criteo_client_builder_set_timeouts(builder, 0, 200);
    criteo_client_builder_set_max_retries(builder, 0);
    criteo_client *client = NULL;
    if (criteo_client_builder_build(builder, &client, NULL) != CRITEO_OK) {
        return 1;
    }
    int timed_out = 0;
    for (int i = 0; i < calls; i++) {
        criteo_token *token = NULL;
        timed_out += criteo_get_token(client, "client_credentials", "demo-client", "demo-secret",
                                      NULL, NULL, NULL, &token, NULL) == CRITEO_ERR_TIMEOUT;
        criteo_token_free(token);
    }
    /* Thread names are cut at 15 characters. */
    printf("%d of %d calls timed out, lookup threads: %d\n", timed_out, calls,
           threads_named("criteo-oauth lo"));
    criteo_client_free(client);
    return 0;
}

/* A connected loopback socket pair: `*ours` is the program's end, `*peer`
 * where what is sent to it arrives. */
static int socket_pair(int *ours, int *peer) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, length) != 0 ||
        listen(listener, 1) != 0 || getsockname(listener, (struct sockaddr *)&address, &length) != 0) {
        return -1;
    }
    *ours = socket(AF_INET, SOCK_STREAM, 0);
    if (*ours < 0 || connect(*ours, (struct sockaddr *)&address, length) != 0) {
        return -1;
    }
    *peer = accept(listener, NULL, NULL);
    close(listener);
    return *peer < 0 ? -1 : 0;
}

static int reused_socket(const char *url) {
    criteo_client *client = client_for(url, NULL, "", NULL);
    int first = token_from(client);
    /* The library's descriptors: all that are open from 3 on. */
    int library[64], count = 0;
    for (int fd = 3; fd < 1024 && count < 64; fd++) {
        if (fcntl(fd, F_GETFD) != -1) {
            library[count++] = fd;
        }
    }
    for (int fd = 3; fd < 1024; fd++) {
        close(fd);
    }
    int ours = -1, peer = -1;
    if (socket_pair(&ours, &peer) != 0) {
        perror("socket pair");
        return 1;
    }
    for (int i = 0; i < count; i++) {
        if (library[i] != ours && library[i] != peer && dup2(ours, library[i]) < 0) {
            perror("dup2");
            return 1;
        }
    }
    int second = token_from(client);
    criteo_client_free(client);
    int still_open = 0;
    for (int i = 0; i < count; i++) {
        still_open += fcntl(library[i], F_GETFD) != -1;
    }
    fcntl(peer, F_SETFL, O_NONBLOCK);
    char received[4096];
    ssize_t got = read(peer, received, sizeof received);
    printf("tokens %d %d; the program's socket received %zd bytes; %d of %d still open after free\n",
           first, second, got < 0 ? 0 : got, still_open, count);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "descriptors") == 0) {
        return descriptors(argv[2], argv[3], argv[4]);
    }
    if (argc == 3 && strcmp(argv[1], "free-during-fetch") == 0) {
        return free_during_fetch(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "free-during-callback") == 0) {
        return free_during_callback(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "fork-during-callback") == 0) {
        return fork_during_callback(argv[2]);
    }
    if (argc == 4 && strcmp(argv[1], "hanging-lookups") == 0) {
        return hanging_lookups(argv[2], atoi(argv[3]));
    }
    if (argc == 3 && strcmp(argv[1], "reused-socket") == 0) {
        return reused_socket(argv[2]);
    }
    if (argc == 4 && strcmp(argv[1], "trust-store") == 0) {
        return trust_store(argv[2], argv[3]);
    }
    fprintf(stderr, "usage: see the comment at the top of hostile_host.c\n");
    return 2;
}
