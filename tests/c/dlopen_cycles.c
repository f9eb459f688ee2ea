/*
 * dlopen_cycles.c: the library loaded with dlopen, used from several
 * threads (a client, a token source), freed and unloaded with dlclose,
 * CYCLES times over; then a fork() after dlclose and a last load that
 * still works. (glibc keeps the library mapped while a thread that used
 * its thread-local data lives, here the main thread; the summary says how
 * many cycles really unmapped it.)
 *
 * Usage: dlopen_cycles LIBRARY_PATH URL CYCLES
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criteo_oauth.h"

/* The library's functions, looked up after each dlopen. */
static struct {
    __typeof__(&criteo_client_builder_new) builder_new;
    __typeof__(&criteo_client_builder_set_host) set_host;
    __typeof__(&criteo_client_builder_set_proxy) set_proxy;
    __typeof__(&criteo_client_builder_build) build;
    __typeof__(&criteo_client_free) client_free;
    __typeof__(&criteo_get_token) get_token;
    __typeof__(&criteo_token_free) token_free;
    __typeof__(&criteo_token_source_new) source_new;
    __typeof__(&criteo_token_source_get) source_get;
    __typeof__(&criteo_token_source_free) source_free;
} lib;

static void *look_up(void *handle, const char *name) {
    void *symbol = dlsym(handle, name);
    if (symbol == NULL) {
        fprintf(stderr, "dlsym %s: %s\n", name, dlerror());
        exit(2);
    }
    return symbol;
}

static void *load(const char *path) {
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        exit(2);
    }
    lib.builder_new = look_up(handle, "criteo_client_builder_new");
    lib.set_host = look_up(handle, "criteo_client_builder_set_host");
    lib.set_proxy = look_up(handle, "criteo_client_builder_set_proxy");
    lib.build = look_up(handle, "criteo_client_builder_build");
    lib.client_free = look_up(handle, "criteo_client_free");
    lib.get_token = look_up(handle, "criteo_get_token");
    lib.token_free = look_up(handle, "criteo_token_free");
    lib.source_new = look_up(handle, "criteo_token_source_new");
    lib.source_get = look_up(handle, "criteo_token_source_get");
    lib.source_free = look_up(handle, "criteo_token_source_free");
    return handle;
}

static criteo_client *client;
static criteo_token_source *source;
static int unloaded; /* cycles after which the library was no longer mapped */

/* Whether the library is mapped into the process at all. */
static int mapped(void) {
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[4096];
    int found = 0;
    while (maps != NULL && fgets(line, sizeof line, maps) != NULL) {
        found |= strstr(line, "libcriteo_oauth") != NULL;
    }
    if (maps != NULL) {
        fclose(maps);
    }
    return found;
}

static void *calls(void *failures) {
    for (int i = 0; i < 5; i++) {
        criteo_token *token = NULL;
        if (lib.get_token(client, "client_credentials", "demo-client", "demo-secret", NULL, NULL,
                          NULL, &token, NULL) != CRITEO_OK ||
            (lib.token_free(token), lib.source_get(source, &token, NULL)) != CRITEO_OK) {
            ++*(int *)failures;
        }
        lib.token_free(token);
    }
    return NULL;
}

/* One cycle: load, use from three threads, free, unload. Failed calls. */
static int cycle(const char *path, const char *url) {
    void *handle = load(path);
    criteo_client_builder *builder = lib.builder_new();
    lib.set_host(builder, url);
    lib.set_proxy(builder, "");
    if (lib.build(builder, &client, NULL) != CRITEO_OK ||
        lib.source_new(client, "client_credentials", "demo-client", "demo-secret", NULL, NULL, NULL,
                       &source, NULL) != CRITEO_OK) {
        exit(2);
    }
    int failures[3] = {0, 0, 0};
    pthread_t threads[3];
    for (int i = 0; i < 3; i++) {
        pthread_create(&threads[i], NULL, calls, &failures[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(threads[i], NULL);
    }
    lib.source_free(source);
    lib.client_free(client);
    dlclose(handle);
    unloaded += !mapped();
    return failures[0] + failures[1] + failures[2];
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: dlopen_cycles LIBRARY_PATH URL CYCLES\n");
        return 2;
    }
    int cycles = atoi(argv[3]), failures = 0;
    for (int i = 0; i < cycles; i++) {
        failures += cycle(argv[1], argv[2]);
    }
    pid_t child = fork();
    if (child == 0) {
        _exit(cycle(argv[1], argv[2]) == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    int child_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    failures += cycle(argv[1], argv[2]);
    printf("%d load-use-unload cycles (%d really unloaded) and a fork after unloading: "
           "%d failed calls, child %s\n",
           cycles + 1, unloaded, failures, child_ok ? "fine" : "FAILED");
    return failures == 0 && child_ok ? 0 : 1;
}
