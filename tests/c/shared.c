/*
 * shared.c: token sources shared by processes, through a store directory
 * or by inheritance across fork(). Every fetch is counted by the test
 * server (GET /count/<client_id>), so each mode checks how many fetches
 * its processes made, not only that they got tokens.
 *
 *   shared get STORE URL CLIENT_ID [REFRESH_TOKEN]
 *       one process: a source (client_credentials, or the refresh_token
 *       grant when REFRESH_TOKEN is given) on STORE ("-": no store,
 *       "default": the default directory), one get. Prints
 *       "<access token> <status of criteo_token_source_store_error> <its message>".
 *       The client secret is "secret", or $SECRET when set.
 *   shared count URL CLIENT_ID
 *       prints how many token requests CLIENT_ID has made.
 *   shared prefork URL CLIENT_ID WORKERS ROUNDS get|reject|invalidate [REFRESH_TOKEN]
 *       a pre-fork server: the master makes one source (no store) and gets
 *       a token, then forks WORKERS workers, each under a 20 s alarm. In
 *       each round a worker gets a token and, unless the mode is "get",
 *       drops it as after an API 401 (reject that token, or invalidate),
 *       then gets again. Prints "<fetches> fetches, <failures> failed gets,
 *       <n> distinct final tokens".
 *   shared first-gets STORE URL CLIENT_ID N
 *       for the benchmark (bench/shared.sh): N times, a new source on
 *       STORE and its first get, then its free; prints the CPU time (user
 *       and system) per round in microseconds.
 *   shared first-get-fresh STORE URL CLIENT_ID
 *       for the benchmark: the first get of a process just started, its
 *       client, its source on STORE and the get; prints that CPU time in
 *       microseconds (the library's first-call setup included), then the
 *       get's alone.
 *   shared fork-storm STORE URL CLIENT_ID FORKS
 *       a process whose thread fetches without pause (invalidate, get) on
 *       STORE forks FORKS children that sleep, never calling the library,
 *       and is then killed with SIGKILL; a new process's get must then
 *       succeed within its limits (4 s), though the children live on with
 *       every descriptor they inherited.
 *   shared fork-in-callback URL CLIENT_ID
 *       the refresh callback forks while another thread keeps calling
 *       criteo_token_source_store_error (which takes the source's lock):
 *       the child, which carries on from inside the callback, must finish
 *       its get and get again, under a 10 s alarm. 50 rounds.
 *   shared heal STORE URL CLIENT_ID REFRESH_TOKEN
 *       a get, then, after reading a line from stdin, an invalidate and a
 *       get: prints the token and store status after each.
 *   shared closefrom STORE URL CLIENT_ID DECOY_DIR
 *       a get, then a fork; the child closes every descriptor from 3 up
 *       (as daemons do), opens DECOY_DIR and files in it until it holds
 *       the numbers the library had, and gets again: the get must succeed
 *       and write nothing into DECOY_DIR or its files. Prints the child's
 *       token and store status.
 *   shared killed-holder STORE URL CLIENT_ID
 *       a child starts a fetch from URL (a slow scenario) on STORE and is
 *       killed with SIGKILL while it holds the lock; another process's get
 *       must then succeed within its client's limits (4 s total: a lock
 *       still held would time it out).
 *   shared fork-during-fetch STORE URL CLIENT_ID [kill-parent]
 *       forks while another thread's fetch (a slow scenario) holds the
 *       store's lock. The child's get must wait for that fetch and take its
 *       token (no fetch of its own). With kill-parent, the parent is killed
 *       right after the fork: the child must still get a token in time.
 *   shared exit-during-refresh STORE URL CLIENT_ID REFRESH_TOKEN [in-an-exit-handler]
 *       a short-lived program on the refresh_token grant: a child gets a
 *       token from URL (a slow scenario of a server that revokes used
 *       refresh tokens) on STORE with a margin of 899 s, so it is due a
 *       second later; then gets again, which starts a refresh in the
 *       background, and exits 100 ms later, before the server answers. Then the parent drops the token and
 *       gets a new one with what the store holds: if the child's exit cut
 *       its refresh off, that is a refresh token the server revoked.
 *       Prints the parent's status. With in-an-exit-handler, the child's
 *       second get is made by an atexit handler of its own, which runs
 *       after the library's (it was registered before the library's first
 *       thread started).
 *   shared exit-in-callback URL SLOW_URL CLIENT_ID
 *       two sources refresh in the background, one from SLOW_URL (a slow
 *       scenario), whose refresh is under way when the other's refresh
 *       callback calls exit(), on the library's thread, while the main
 *       thread sleeps: the exit must wait for the slow refresh (its
 *       callback runs), not for the thread it runs on (the client's time
 *       limit is 30 s; the caller runs this under a shorter timeout).
 *   shared fork-in-callback-then-exit URL CLIENT_ID
 *       the callback of a refresh in the background forks; the child, whose
 *       only thread is that library thread, starts a fetch of its own with
 *       criteo_token_source_get_within (waiting 200 ms, so that it has
 *       begun: a fetch still in line for a worker when exit() begins is
 *       not started) and exits: the exit must wait for that fetch (its
 *       callback runs).
 *   shared fork-and-exit-during-refresh URL CLIENT_ID
 *       while a refresh runs in the background (URL: a slow scenario), the
 *       process forks and the child exits at once: the child must not wait
 *       for its parent's refresh. Prints whether the parent's refresh was
 *       still under way when the child had exited.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "criteo_oauth.h"

static void die(const char *what) {
    fprintf(stderr, "%s\n", what);
    exit(2);
}

#include "fetches_by.h"

static criteo_client *client_for(const char *url, uint32_t total_ms) {
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, url);
    criteo_client_builder_set_timeouts(builder, 1000, total_ms);
    criteo_client_builder_set_proxy(builder, "");
    criteo_client *client = NULL;
    criteo_error *error = NULL;
    if (criteo_client_builder_build(builder, &client, &error) != CRITEO_OK) {
        fprintf(stderr, "client: %s\n", criteo_error_message(error));
        exit(2);
    }
    return client;
}

/* A source for CLIENT_ID on STORE ("-": none; "default": the default). */
static criteo_token_source *source_for(criteo_client *client, const char *store,
                                       const char *client_id, const char *refresh_token) {
    criteo_token_source *source = NULL;
    criteo_error *error = NULL;
    const char *grant = refresh_token != NULL ? "refresh_token" : "client_credentials";
    const char *secret = getenv("SECRET") != NULL ? getenv("SECRET") : "secret";
    if (criteo_token_source_new(client, grant, client_id, secret, NULL, NULL, refresh_token,
                                &source, &error) != CRITEO_OK) {
        fprintf(stderr, "source: %s\n", criteo_error_message(error));
        exit(2);
    }
    if (strcmp(store, "-") != 0) {
        const char *directory = strcmp(store, "default") == 0 ? NULL : store;
        criteo_status status = criteo_token_source_set_store(source, directory, &error);
        if (status != CRITEO_OK) {
            printf("set_store: %s: %s\n", criteo_status_str(status), criteo_error_message(error));
            criteo_error_free(error);
            exit(3);
        }
    }
    return source;
}

/* The source's token as a string the caller frees, or NULL (said why). */
static char *get(criteo_token_source *source) {
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    criteo_status status = criteo_token_source_get(source, &token, &error);
    char *text = NULL;
    if (status == CRITEO_OK) {
        text = strdup(criteo_token_access_token(token));
    } else {
        fprintf(stderr, "[%d] get: %s: %s\n", (int)getpid(), criteo_status_str(status),
                criteo_error_message(error));
    }
    criteo_token_free(token);
    criteo_error_free(error);
    return text;
}

static int get_once(char **argv, int argc) {
    criteo_client *client = client_for(argv[3], 5000);
    criteo_token_source *source = source_for(client, argv[2], argv[4], argc > 5 ? argv[5] : NULL);
    char *token = get(source);
    criteo_error *error = NULL;
    criteo_status store = criteo_token_source_store_error(source, &error);
    printf("%s %s %s\n", token != NULL ? token : "NONE", criteo_status_str(store),
           error != NULL ? criteo_error_message(error) : "");
    criteo_error_free(error);
    free(token);
    criteo_token_source_free(source);
    criteo_client_free(client);
    return token != NULL ? 0 : 1;
}

/* One worker of `prefork`: writes its last token to `out`. */
static int worker(criteo_token_source *source, int rounds, const char *mode, int out) {
    alarm(20);
    int failures = 0;
    char *last = NULL;
    for (int round = 0; round < rounds; round++) {
        char *token = get(source);
        failures += token == NULL;
        if (token != NULL && strcmp(mode, "reject") == 0) {
            criteo_token_source_reject(source, token);
        } else if (strcmp(mode, "invalidate") == 0) {
            criteo_token_source_invalidate(source);
        }
        if (strcmp(mode, "get") != 0) {
            free(token);
            token = get(source);
            failures += token == NULL;
        }
        free(last);
        last = token;
        usleep(1000);
    }
    char line[4096];
    int length = snprintf(line, sizeof line, "%d %s\n", failures, last != NULL ? last : "NONE");
    free(last);
    return write(out, line, (size_t)length) == length ? 0 : 1;
}

static int prefork(char **argv, int argc) {
    const char *url = argv[2], *client_id = argv[3], *mode = argv[6];
    int workers = atoi(argv[4]), rounds = atoi(argv[5]);
    criteo_client *client = client_for(url, 5000);
    criteo_token_source *source = source_for(client, "-", client_id, argc > 7 ? argv[7] : NULL);
    free(get(source));
    int pipes[2];
    if (pipe(pipes) != 0) {
        die("pipe");
    }
    for (int i = 0; i < workers; i++) {
        if (fork() == 0) {
            close(pipes[0]);
            int status = worker(source, rounds, mode, pipes[1]);
            criteo_token_source_free(source);
            criteo_client_free(client);
            _exit(status);
        }
    }
    close(pipes[1]);
    int failures = 0, crashed = 0;
    for (int i = 0; i < workers; i++) {
        int status = 0;
        wait(&status);
        crashed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    char all[1 << 16];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof all - 1 && (n = read(pipes[0], all + got, sizeof all - 1 - got)) > 0) {
        got += (size_t)n;
    }
    all[got] = '\0';
    /* Distinct final tokens: count lines whose token differs from every earlier one. */
    char *tokens[256];
    int distinct = 0, lines = 0;
    for (char *line = strtok(all, "\n"); line != NULL && lines < 256; line = strtok(NULL, "\n")) {
        char *space = strchr(line, ' ');
        failures += atoi(line);
        tokens[lines] = space != NULL ? space + 1 : line;
        int seen = 0;
        for (int j = 0; j < lines; j++) {
            seen |= strcmp(tokens[j], tokens[lines]) == 0;
        }
        distinct += !seen;
        lines++;
    }
    printf("%ld fetches, %d failed gets, %d distinct final tokens, %d workers crashed\n",
           fetches_by(url, client_id), failures + (workers - lines), distinct, crashed);
    criteo_token_source_free(source);
    criteo_client_free(client);
    return 0;
}

static int killed_holder(char **argv) {
    const char *store = argv[2], *url = argv[3], *client_id = argv[4];
    pid_t holder = fork();
    if (holder == 0) {
        criteo_client *client = client_for(url, 30000);
        criteo_token_source *source = source_for(client, store, client_id, NULL);
        free(get(source));
        _exit(0);
    }
    /* Long enough for the holder to have the lock and be talking to the server. */
    usleep(700 * 1000);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    alarm(20);
    criteo_client *client = client_for(url, 4000);
    criteo_token_source *source = source_for(client, store, client_id, NULL);
    char *token = get(source);
    printf("after the holder was killed: %s, %ld fetches\n", token != NULL ? "a token" : "NO TOKEN",
           fetches_by(url, client_id));
    free(token);
    criteo_token_source_free(source);
    criteo_client_free(client);
    return 0;
}

static double cpu_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static int first_gets(char **argv) {
    criteo_client *client = client_for(argv[3], 5000);
    long rounds = atol(argv[5]);
    double started = cpu_seconds();
    for (long i = 0; i < rounds; i++) {
        criteo_token_source *source = source_for(client, argv[2], argv[4], NULL);
        char *token = get(source);
        if (token == NULL) {
            return 1;
        }
        free(token);
        criteo_token_source_free(source);
    }
    printf("%.1f\n", (cpu_seconds() - started) / (double)rounds * 1e6);
    criteo_client_free(client);
    return 0;
}

static int first_get_fresh(char **argv) {
    double started = cpu_seconds();
    criteo_client *client = client_for(argv[3], 5000);
    criteo_token_source *source = source_for(client, argv[2], argv[4], NULL);
    double getting = cpu_seconds();
    char *token = get(source);
    double done = cpu_seconds();
    if (token == NULL) {
        return 1;
    }
    printf("%.1f %.1f\n", (done - started) * 1e6, (done - getting) * 1e6);
    free(token);
    criteo_token_source_free(source);
    criteo_client_free(client);
    return 0;
}

static criteo_token_source *fetching_source;
static char *parent_token;

static void *fetch_in_background(void *unused) {
    (void)unused;
    parent_token = get(fetching_source);
    return NULL;
}

/* The process that forks in `fork-during-fetch`; `done` is closed by it
 * and its child when they end. */
static int fork_while_fetching(const char *store, const char *url, const char *client_id,
                               int kill_parent, int done) {
    criteo_client *client = client_for(url, 5000);
    fetching_source = source_for(client, store, client_id, NULL);
    pthread_t thread;
    pthread_create(&thread, NULL, fetch_in_background, NULL);
    usleep(300 * 1000);
    int report[2];
    if (pipe(report) != 0) {
        die("pipe");
    }
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        alarm(20);
        if (kill_parent) {
            kill(parent, SIGKILL);
        }
        char *token = get(fetching_source);
        if (kill_parent) {
            printf("child of a killed parent %s; %ld fetches\n",
                   token != NULL ? "got a token" : "got NO token", fetches_by(url, client_id));
            fflush(stdout);
            _exit(token != NULL ? 0 : 1);
        }
        int length = (int)(token != NULL ? strlen(token) : 0);
        _exit(token != NULL && write(report[1], token, (size_t)length) == length ? 0 : 1);
    }
    close(report[1]);
    pthread_join(thread, NULL);
    char child_token[4096] = "";
    ssize_t n = read(report[0], child_token, sizeof child_token - 1);
    child_token[n > 0 ? n : 0] = '\0';
    int status = 0;
    waitpid(child, &status, 0);
    printf("child %s, %s the parent's; %ld fetches\n",
           WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "got a token" : "FAILED",
           parent_token != NULL && strcmp(parent_token, child_token) == 0 ? "the same as"
                                                                           : "NOT the same as",
           fetches_by(url, client_id));
    free(parent_token);
    criteo_token_source_free(fetching_source);
    criteo_client_free(client);
    fflush(stdout);
    close(done);
    return 0;
}

static int fork_during_fetch(char **argv, int argc) {
    int done[2];
    if (pipe(done) != 0) {
        die("pipe");
    }
    int kill_parent = argc > 5 && strcmp(argv[5], "kill-parent") == 0;
    pid_t forking = fork();
    if (forking == 0) {
        close(done[0]);
        _exit(fork_while_fetching(argv[2], argv[3], argv[4], kill_parent, done[1]));
    }
    close(done[1]);
    char byte;
    while (read(done[0], &byte, 1) > 0) {
    }
    waitpid(forking, NULL, 0);
    return 0;
}

static atomic_bool storming;

static void *fetch_without_pause(void *source) {
    while (atomic_load(&storming)) {
        criteo_token_source_invalidate(source);
        free(get(source));
    }
    return NULL;
}

static int fork_storm(char **argv) {
    const char *store = argv[2], *url = argv[3], *client_id = argv[4];
    int forks = atoi(argv[5]);
    pid_t stormer = fork();
    if (stormer == 0) {
        criteo_client *client = client_for(url, 5000);
        criteo_token_source *source = source_for(client, store, client_id, NULL);
        atomic_store(&storming, true);
        pthread_t thread;
        pthread_create(&thread, NULL, fetch_without_pause, source);
        for (int i = 0; i < forks; i++) {
            if (fork() == 0) {
                /* Off the caller's output, which would wait for them. */
                int null = open("/dev/null", O_WRONLY);
                dup2(null, 1);
                dup2(null, 2);
                sleep(10);
                _exit(0);
            }
            usleep(2000);
        }
        raise(SIGKILL);
    }
    waitpid(stormer, NULL, 0);
    alarm(20);
    criteo_client *client = client_for(url, 4000);
    criteo_token_source *source = source_for(client, store, client_id, NULL);
    char *token = get(source);
    printf("after %d forks and SIGKILL mid-storm: %s\n", forks, token != NULL ? "a token" : "NO TOKEN");
    free(token);
    criteo_token_source_free(source);
    criteo_client_free(client);
    return 0;
}

static atomic_bool asking;

static void *ask_store_error(void *source) {
    while (atomic_load(&asking)) {
        criteo_error *error = NULL;
        criteo_token_source_store_error(source, &error);
        criteo_error_free(error);
    }
    return NULL;
}

static pid_t forked_in_callback;

static void fork_here(void *unused, const criteo_token *token) {
    (void)unused;
    (void)token;
    forked_in_callback = fork();
    if (forked_in_callback == 0) {
        alarm(10);
    }
}

static int fork_in_callback(char **argv) {
    criteo_client *client = client_for(argv[2], 5000);
    int hung = 0, failed = 0;
    for (int round = 0; round < 50; round++) {
        criteo_token_source *source = source_for(client, "-", argv[3], NULL);
        criteo_token_source_set_refresh_callback(source, fork_here, NULL);
        atomic_store(&asking, true);
        pthread_t thread;
        pthread_create(&thread, NULL, ask_store_error, source);
        usleep(5000);
        char *token = get(source);
        if (forked_in_callback == 0) {
            criteo_token_source_invalidate(source);
            char *again = get(source);
            _exit(token != NULL && again != NULL ? 0 : 1);
        }
        atomic_store(&asking, false);
        pthread_join(thread, NULL);
        int status = 0;
        waitpid(forked_in_callback, &status, 0);
        hung += WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM;
        failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        free(token);
        criteo_token_source_free(source);
    }
    printf("50 forks inside the callback: %d children failed, %d hung\n", failed, hung);
    criteo_client_free(client);
    return 0;
}

static void print_outcome(criteo_token_source *source) {
    char *token = get(source);
    criteo_error *error = NULL;
    criteo_status store = criteo_token_source_store_error(source, &error);
    printf("%s %s\n", token != NULL ? token : "NONE", criteo_status_str(store));
    fflush(stdout);
    criteo_error_free(error);
    free(token);
}

static int closefrom_child(char **argv) {
    criteo_client *client = client_for(argv[3], 5000);
    criteo_token_source *source = source_for(client, argv[2], argv[4], NULL);
    free(get(source));
    pid_t child = fork();
    if (child == 0) {
        alarm(20);
        for (int fd = 3; fd < 1024; fd++) {
            close(fd);
        }
        /* The lowest numbers go to the decoys: a directory open to all, and files. */
        if (open(argv[5], O_RDONLY | O_DIRECTORY) < 0) {
            _exit(2);
        }
        for (int i = 0; i < 16; i++) {
            char name[4096];
            snprintf(name, sizeof name, "%s/decoy-%d", argv[5], i);
            if (open(name, O_RDWR | O_CREAT, 0666) < 0) {
                _exit(2);
            }
        }
        criteo_token_source_invalidate(source);
        print_outcome(source);
        /* Freeing closes none of them, though one has the number the
         * source's store had. */
        criteo_token_source_free(source);
        criteo_client_free(client);
        int open_decoys = 0;
        for (int fd = 3; fd < 3 + 17; fd++) {
            open_decoys += fcntl(fd, F_GETFD) != -1;
        }
        printf("after the frees, %d of 17 descriptors still open\n", open_decoys);
        fflush(stdout);
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    criteo_token_source_free(source);
    criteo_client_free(client);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int heal(char **argv) {
    criteo_client *client = client_for(argv[3], 5000);
    criteo_token_source *source = source_for(client, argv[2], argv[4], argv[5]);
    print_outcome(source);
    char line[16];
    if (fgets(line, sizeof line, stdin) == NULL) {
        return 2;
    }
    criteo_token_source_invalidate(source);
    print_outcome(source);
    criteo_token_source_free(source);
    criteo_client_free(client);
    return 0;
}

static criteo_token_source *exiting_source;

/* The last get of a program that is exiting, and a moment's work with the
 * token, in which a refresh's request reaches the server, whose answer
 * takes longer. */
static void last_get(void) {
    char *token = get(exiting_source);
    usleep(100 * 1000);
    if (token == NULL) {
        _exit(1);
    }
    free(token);
}

static int exit_during_refresh(char **argv, int argc) {
    pid_t child = fork();
    if (child == 0) {
        int in_handler = argc > 6 && strcmp(argv[6], "in-an-exit-handler") == 0;
        if (in_handler) {
            atexit(last_get);
        }
        criteo_client *client = client_for(argv[3], 5000);
        exiting_source = source_for(client, argv[2], argv[4], argv[5]);
        criteo_token_source_set_refresh_margin(exiting_source, 899);
        criteo_token *first = NULL;
        while (first == NULL) { /* on a library thread: its exit handler comes in */
            if (criteo_token_source_get_within(exiting_source, 5000, &first, NULL) != CRITEO_OK) {
                _exit(1);
            }
        }
        criteo_token_free(first);
        usleep(1100 * 1000);
        if (!in_handler) {
            last_get();
        }
        exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("the child failed\n");
        return 1;
    }
    criteo_client *client = client_for(argv[3], 5000);
    criteo_token_source *source = source_for(client, argv[2], argv[4], argv[5]);
    free(get(source));
    criteo_token_source_invalidate(source);
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    criteo_status got = criteo_token_source_get(source, &token, &error);
    printf("after the child's exit: %s %s\n", criteo_status_str(got),
           error != NULL ? criteo_error_message(error) : "");
    criteo_token_free(token);
    criteo_error_free(error);
    criteo_token_source_free(source);
    criteo_client_free(client);
    return got == CRITEO_OK ? 0 : 1;
}

/* A source on the refresh_token grant (whose fetches exit() waits for)
 * with a token that is due for refresh a second after it came (the caller
 * waits for that), with `on_refresh` called for later fetches. */
static criteo_token_source *due_soon(const char *url, const char *client_id,
                                     criteo_refresh_callback on_refresh) {
    criteo_client *client = client_for(url, 30000);
    criteo_token_source *source = source_for(client, "-", client_id, "rt-start");
    criteo_client_free(client);
    criteo_token_source_set_refresh_margin(source, 899);
    free(get(source));
    criteo_token_source_set_refresh_callback(source, on_refresh, NULL);
    return source;
}

static void say(void *user_data, const criteo_token *token) {
    (void)token;
    printf("%s\n", (const char *)user_data);
    fflush(stdout);
}

static void exit_here(void *user_data, const criteo_token *token) {
    say(user_data, token);
    exit(0);
}

static int exit_in_callback(char **argv) {
    criteo_token_source *slow = due_soon(argv[3], argv[4], say);
    criteo_token_source_set_refresh_callback(slow, say, "the slow refresh ended");
    criteo_token_source *exiting = due_soon(argv[2], argv[4], NULL);
    criteo_token_source_set_refresh_callback(exiting, exit_here, "exit() from the callback");
    usleep(1100 * 1000);
    free(get(slow));
    free(get(exiting));
    sleep(60);
    printf("the callback never ran\n");
    return 1;
}

static criteo_token_source *forking;

static void fork_then_fetch_and_exit(void *user_data, const criteo_token *token) {
    (void)user_data, (void)token;
    if (fork() != 0) {
        wait(NULL);
        return;
    }
    criteo_token_source_set_refresh_callback(forking, say, "the child's own fetch ended");
    criteo_token_source_invalidate(forking);
    criteo_token *fetched = NULL;
    criteo_token_source_get_within(forking, 200, &fetched, NULL);
    criteo_token_free(fetched);
    exit(0);
}

static int fork_in_callback_then_exit(char **argv) {
    forking = due_soon(argv[2], argv[3], fork_then_fetch_and_exit);
    usleep(1100 * 1000);
    free(get(forking));
    sleep(5);
    printf("the parent is done\n");
    return 0;
}

static atomic_bool refreshed;

static void note_refresh(void *user_data, const criteo_token *token) {
    (void)user_data, (void)token;
    atomic_store(&refreshed, true);
}

static int fork_and_exit_during_refresh(char **argv) {
    criteo_token_source *source = due_soon(argv[2], argv[3], note_refresh);
    usleep(1100 * 1000);
    free(get(source));
    pid_t child = fork();
    if (child == 0) {
        exit(0);
    }
    waitpid(child, NULL, 0);
    printf("the child exited %s the parent's refresh ended\n",
           atomic_load(&refreshed) ? "after" : "before");
    criteo_token_source_free(source);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "get") == 0) {
        return get_once(argv, argc);
    }
    if (argc == 4 && strcmp(argv[1], "count") == 0) {
        printf("%ld\n", fetches_by(argv[2], argv[3]));
        return 0;
    }
    if (argc >= 7 && strcmp(argv[1], "prefork") == 0) {
        return prefork(argv, argc);
    }
    if (argc == 5 && strcmp(argv[1], "first-get-fresh") == 0) {
        return first_get_fresh(argv);
    }
    if (argc == 6 && strcmp(argv[1], "first-gets") == 0) {
        return first_gets(argv);
    }
    if (argc == 6 && strcmp(argv[1], "fork-storm") == 0) {
        return fork_storm(argv);
    }
    if (argc == 4 && strcmp(argv[1], "fork-in-callback") == 0) {
        return fork_in_callback(argv);
    }
    if (argc == 6 && strcmp(argv[1], "closefrom") == 0) {
        return closefrom_child(argv);
    }
    if (argc == 6 && strcmp(argv[1], "heal") == 0) {
        return heal(argv);
    }
    if (argc == 5 && strcmp(argv[1], "killed-holder") == 0) {
        return killed_holder(argv);
    }
    if (argc >= 5 && strcmp(argv[1], "fork-during-fetch") == 0) {
        return fork_during_fetch(argv, argc);
    }
    if (argc >= 6 && strcmp(argv[1], "exit-during-refresh") == 0) {
        return exit_during_refresh(argv, argc);
    }
    if (argc == 5 && strcmp(argv[1], "exit-in-callback") == 0) {
        return exit_in_callback(argv);
    }
    if (argc == 4 && strcmp(argv[1], "fork-in-callback-then-exit") == 0) {
        return fork_in_callback_then_exit(argv);
    }
    if (argc == 4 && strcmp(argv[1], "fork-and-exit-during-refresh") == 0) {
        return fork_and_exit_during_refresh(argv);
    }
    fprintf(stderr, "usage: see the comment at the top of tests/c/shared.c\n");
    return 2;
}
