/*
 * fork_first_call.c: fork() while another thread makes the library's very
 * first call, over and over: the library starts itself up then (its fork
 * watch, its panic hook), and a child forked in the middle of that must
 * not wait for a thread it does not have. Each child makes a call under a
 * 3 s alarm.
 *
 * Usage: fork_first_call   (prints how many children were forked and hung)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criteo_oauth.h"

static atomic_bool started, called;

static void one_call(void) {
    criteo_client_builder_free(criteo_client_builder_new());
}

static void *first_call(void *unused) {
    (void)unused;
    while (!atomic_load(&started)) {
    }
    one_call();
    atomic_store(&called, true);
    return NULL;
}

int main(void) {
    pthread_t thread;
    pthread_create(&thread, NULL, first_call, NULL);
    int forked = 0, hung = 0;
    atomic_store(&started, true);
    while (!atomic_load(&called) && forked < 200) {
        if (fork() == 0) {
            alarm(3);
            one_call();
            _exit(0);
        }
        forked++;
    }
    int status;
    while (wait(&status) > 0) {
        hung += WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM;
    }
    pthread_join(thread, NULL);
    printf("%d forked, %d hung\n", forked, hung);
    return hung != 0;
}
