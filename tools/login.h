/*
 * criteo-token login: the consent step, for a person at a terminal. Part
 * of criteo-token.c (one translation unit, so that every build of the tool
 * stays one command); included after its helpers.
 *
 * Prints the consent link, then takes the address the browser is sent
 * back to: received on the redirect URI itself when that is a loopback
 * http://127.0.0.1:PORT/... (or [::1], or localhost) address (RFC 8252
 * §7.3), where requests without the consent's state are turned away, else
 * pasted on standard input. Exchanges the code, and keeps the
 * lineage in the store under the name "criteo-token", where later runs for
 * the client id find it.
 */
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>

/* The named lineage that login starts and plain runs look for first. */
#define LOGIN_LINEAGE "criteo-token"
/* How long login waits for the user by default, in milliseconds. */
#define LOGIN_WAIT_MS 300000u
/* The longest address accepted back, as the library's strings. */
#define MAX_REDIRECT_BYTES 65536

extern char **environ;

/* Milliseconds left until `deadline` (CLOCK_MONOTONIC), 0 when past. */
static int ms_left(const struct timespec *deadline) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms = (deadline->tv_sec - now.tv_sec) * 1000LL + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms <= 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* The sockets a loopback redirect URI is received on: 127.0.0.1, [::1], or
 * both for localhost (a browser may try either). */
struct listeners {
    int fds[2];
    int count;
};

/* Listens on `family`'s loopback address at `port`; exits 1 when the port
 * is taken (another program could receive the code). An IPv6 loopback
 * the system lacks is left out, when `optional`. */
static void listen_on(struct listeners *listeners, int family, uint16_t port, int optional, const char *uri) {
    struct sockaddr_storage address;
    memset(&address, 0, sizeof address);
    socklen_t length;
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&address;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        length = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&address;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        in6->sin6_addr = in6addr_loopback;
        length = sizeof *in6;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 &&
        bind(fd, (const struct sockaddr *)&address, length) == 0 && listen(fd, 8) == 0) {
        listeners->fds[listeners->count++] = fd;
        return;
    }
    int why = errno;
    if (fd >= 0) {
        close(fd);
    }
    if (optional && (why == EADDRNOTAVAIL || why == EAFNOSUPPORT)) {
        return;
    }
    fprintf(stderr, "criteo-token: cannot listen on %s (%s) for the browser's return: %s\n", uri,
            family == AF_INET ? "127.0.0.1" : "[::1]", strerror(why));
    exit(1);
}

/* Listens on the loopback address a redirect URI names, and writes its
 * path; 0 when it is no http:// loopback address (then the user pastes). */
static int listen_for_redirect(const char *uri, struct listeners *listeners, char *path, size_t path_size) {
    static const struct {
        const char *prefix;
        int inet, inet6;
    } hosts[] = {{"http://127.0.0.1:", 1, 0}, {"http://localhost:", 1, 1}, {"http://[::1]:", 0, 1}};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        size_t prefix = strlen(hosts[i].prefix);
        if (strncasecmp(uri, hosts[i].prefix, prefix) != 0) {
            continue;
        }
        const char *port_text = uri + prefix;
        size_t digits = strspn(port_text, "0123456789");
        long port = digits > 0 && digits <= 5 ? strtol(port_text, NULL, 10) : 0;
        const char *rest = port_text + digits;
        if (port < 1 || port > 65535 || (*rest != '\0' && *rest != '/' && *rest != '?')) {
            return 0;
        }
        snprintf(path, path_size, "%.*s", (int)strcspn(rest, "?"), *rest == '/' ? rest : "/");
        listeners->count = 0;
        if (hosts[i].inet) {
            listen_on(listeners, AF_INET, (uint16_t)port, 0, uri);
        }
        if (hosts[i].inet6) {
            listen_on(listeners, AF_INET6, (uint16_t)port, hosts[i].inet, uri);
        }
        return 1;
    }
    return 0;
}

static void answer_browser(int fd, const char *status, const char *text) {
    char page[1024];
    int length = snprintf(page, sizeof page,
                          "HTTP/1.1 %s\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n"
                          "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
                          status, strlen(text), text);
    if (write(fd, page, (size_t)length) != length) {
        /* The browser went away: nothing to tell it. */
    }
}

/* Whether the request target carries `state=STATE` as one of its query
 * parameters (a state is base64url: never percent-encoded). */
static int carries_state(const char *target, const char *state) {
    size_t length = strlen(state);
    const char *end = target + strcspn(target, "#");
    for (const char *at = strchr(target, '?'); at != NULL && at < end; at = strchr(at + 1, '&')) {
        if (strncmp(at + 1, "state=", 6) == 0 && strncmp(at + 7, state, length) == 0 &&
            strchr("&#", at[7 + length]) != NULL) {
            return 1;
        }
    }
    return 0;
}

/* A connection to the listener whose request has not come whole yet. */
struct pending {
    int fd;
    size_t got;
    /* When it is dropped if its request has not come whole. */
    struct timespec drop_at;
    char head[16384];
};

/* Connections read at once: a program that opens silent ones cannot hold
 * the browser's back (the oldest is dropped for a new one). */
enum { MAX_PENDING = 16 };
static struct pending pending[MAX_PENDING];
static int pending_count;

static void drop_pending(int i) {
    close(pending[i].fd);
    pending[i] = pending[--pending_count];
}

/* Takes a new connection from `listener`, dropping the oldest pending one
 * when all slots are taken. */
static void accept_pending(int listener) {
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) {
        return;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (pending_count == MAX_PENDING) {
        int oldest = 0;
        for (int i = 1; i < pending_count; i++) {
            if (ms_left(&pending[i].drop_at) < ms_left(&pending[oldest].drop_at)) {
                oldest = i;
            }
        }
        drop_pending(oldest);
    }
    struct pending *connection = &pending[pending_count++];
    connection->fd = fd;
    connection->got = 0;
    clock_gettime(CLOCK_MONOTONIC, &connection->drop_at);
    connection->drop_at.tv_sec += 5;
}

/* Reads what `connection` sent; its request target into `target` once its
 * head is whole ("" for anything but a GET). Returns 0 while more is to
 * come, 1 once the head is whole, -1 when the connection ended first. */
static int read_pending(struct pending *connection, char *target, size_t size) {
    ssize_t n = read(connection->fd, connection->head + connection->got,
                     sizeof connection->head - 1 - connection->got);
    if (n <= 0) {
        return n < 0 && errno == EAGAIN ? 0 : -1;
    }
    connection->got += (size_t)n;
    connection->head[connection->got] = '\0';
    const char *head = connection->head;
    int whole = strstr(head, "\r\n\r\n") != NULL || strstr(head, "\n\n") != NULL ||
                connection->got == sizeof connection->head - 1;
    if (!whole) {
        return 0;
    }
    target[0] = '\0';
    size_t length = strcspn(head + 4, " \r\n");
    if (strncmp(head, "GET ", 4) == 0 && length < size) {
        snprintf(target, size, "%.*s", (int)length, head + 4);
    }
    return 1;
}

/* Waits for the browser at the redirect URI, until `deadline`: returns the
 * address it came back to (the caller frees it), or NULL at the deadline.
 * Requests for other paths get 404, requests without the consent's state
 * (another local program's, say) 400, and the wait goes on; a connection
 * that has not sent its request within 5 s is dropped. */
static char *receive_redirect(const struct listeners *listeners, const char *uri, const char *path,
                              const char *state, const struct timespec *deadline) {
    static char target[MAX_REDIRECT_BYTES];
    char *back = NULL;
    while (back == NULL && ms_left(deadline) > 0) {
        struct pollfd ready[2 + MAX_PENDING];
        int wait = ms_left(deadline);
        for (int i = 0; i < pending_count; i++) {
            ready[i] = (struct pollfd){pending[i].fd, POLLIN, 0};
            wait = ms_left(&pending[i].drop_at) < wait ? ms_left(&pending[i].drop_at) : wait;
        }
        for (int i = 0; i < listeners->count; i++) {
            ready[pending_count + i] = (struct pollfd){listeners->fds[i], POLLIN, 0};
        }
        int listening = pending_count;
        if (poll(ready, (nfds_t)(listening + listeners->count), wait) < 0 && errno != EINTR) {
            break;
        }
        /* Requests first, then new connections: a request that came is never dropped for one. */
        for (int i = listening - 1; i >= 0 && back == NULL; i--) {
            int head = ready[i].revents != 0 ? read_pending(&pending[i], target, sizeof target) : 0;
            if (head == 0 && ms_left(&pending[i].drop_at) > 0) {
                continue;
            }
            size_t path_length = strcspn(target, "?");
            if (head <= 0) {
                /* Ended, or silent too long: dropped without an answer. */
            } else if (path_length != strlen(path) || strncmp(target, path, path_length) != 0) {
                answer_browser(pending[i].fd, "404 Not Found", "<p>Not the consent's return address.</p>");
            } else if (!carries_state(target, state)) {
                answer_browser(pending[i].fd, "400 Bad Request", "<p>Not an answer to this consent.</p>");
            } else {
                answer_browser(pending[i].fd, "200 OK",
                               "<!doctype html><title>criteo-token</title><p>criteo-token has the answer: you "
                               "may close this tab and go back to the terminal.</p>");
                /* The address as the browser asked for it: the URI's origin, then the target. */
                size_t origin = strlen("http://") + strcspn(uri + strlen("http://"), "/?");
                back = malloc(origin + strlen(target) + 1);
                if (back != NULL) {
                    sprintf(back, "%.*s%s", (int)origin, uri, target);
                }
            }
            drop_pending(i);
        }
        for (int i = 0; i < listeners->count && back == NULL; i++) {
            if (ready[listening + i].revents & POLLIN) {
                accept_pending(listeners->fds[i]);
            }
        }
    }
    while (pending_count > 0) {
        drop_pending(0);
    }
    return back;
}

/* Reads the pasted address from standard input, until `deadline`: NULL
 * at the deadline, or with *ended set at the end of the input (or past
 * MAX_REDIRECT_BYTES). */
static char *read_pasted(const struct timespec *deadline, int *ended) {
    char *line = malloc(MAX_REDIRECT_BYTES + 2);
    size_t got = 0;
    *ended = 0;
    while (line != NULL && got < MAX_REDIRECT_BYTES + 1) {
        struct pollfd ready = {STDIN_FILENO, POLLIN, 0};
        int left = ms_left(deadline);
        if (left == 0 || poll(&ready, 1, left) <= 0) {
            break;
        }
        ssize_t n = read(STDIN_FILENO, line + got, 1);
        if (n <= 0 || line[got] == '\n') {
            line[got] = '\0';
            /* Spaces around it and a carriage return are the terminal's. */
            while (got > 0 && strchr(" \t\r", line[got - 1]) != NULL) {
                line[--got] = '\0';
            }
            size_t lead = strspn(line, " \t");
            memmove(line, line + lead, got - lead + 1);
            if (got - lead > 0) {
                return line;
            }
            if (n <= 0) {
                *ended = 1;
                break;
            }
            got = 0;
            continue;
        }
        got++;
    }
    *ended |= got > MAX_REDIRECT_BYTES;
    free(line);
    return NULL;
}

/* A page that sends the browser to `link`, in a directory of its own
 * (mode 0700) under $XDG_RUNTIME_DIR or /tmp: the browser is given the
 * page's path, so the link (its state and challenge) is never on a command
 * line, where any user could read it in the process list. Writes the
 * directory to `directory`; returns 0 when it cannot be made. */
static int write_redirect_page(const char *link, char *directory, size_t size, char *page, size_t page_size) {
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    snprintf(directory, size, "%s/criteo-token-XXXXXX", runtime != NULL && runtime[0] == '/' ? runtime : "/tmp");
    if (mkdtemp(directory) == NULL) {
        return 0;
    }
    snprintf(page, page_size, "%s/consent.html", directory);
    int fd = open(page, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (out == NULL) {
        rmdir(directory);
        return 0;
    }
    fputs("<!doctype html><meta http-equiv=\"refresh\" content=\"0; url=", out);
    for (const char *c = link; *c != '\0'; c++) {
        switch (*c) {
        case '&':
            fputs("&amp;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        default:
            fputc(*c, out);
        }
    }
    fputs("\"><title>criteo-token</title>\n", out);
    if (fclose(out) != 0) {
        /* A page cut short (a full disk) may still hold the state. */
        unlink(page);
        rmdir(directory);
        return 0;
    }
    return 1;
}

/* Opens `link` in the user's browser ($BROWSER, else xdg-open), without a
 * shell, through a page in `directory` (see write_redirect_page); says so
 * when no browser can be started. */
static void open_browser(const char *link, char *directory, size_t size) {
    char page[4096 + 64], page_url[4096 + 80];
    if (!write_redirect_page(link, directory, size, page, sizeof page)) {
        directory[0] = '\0';
        fprintf(stderr, "criteo-token: could not write the page that opens the link (%s); open the link yourself\n",
                strerror(errno));
        return;
    }
    snprintf(page_url, sizeof page_url, "file://%s", page);
    const char *browser = getenv("BROWSER");
    const char *program = browser != NULL && browser[0] != '\0' ? browser : "xdg-open";
    char *arguments[] = {(char *)program, page_url, NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    if (posix_spawnp(&pid, program, &actions, NULL, arguments, environ) != 0) {
        fprintf(stderr, "criteo-token: no browser could be opened (%s); open the link yourself\n", program);
    }
    posix_spawn_file_actions_destroy(&actions);
}

/* Removes the page open_browser wrote, and its directory. */
static void remove_redirect_page(const char *directory) {
    char page[4096 + 64];
    if (directory[0] != '\0') {
        snprintf(page, sizeof page, "%s/consent.html", directory);
        unlink(page);
        rmdir(directory);
    }
}

/* Starts the login lineage in the store from `token` and prints the
 * token; a public client's (no secret) is printed only. */
static int keep_login(criteo_client *client, const char *client_id, const char *client_secret,
                      const struct options *options, const criteo_token *token) {
    if (client_secret == NULL) {
        fprintf(stderr, "criteo-token: logged in as a public client: the token is printed, not kept\n");
        print_token(token, options->output);
        return finish_output();
    }
    criteo_token_source *source = NULL;
    criteo_error *error = NULL;
    if (criteo_token_source_new_named(client, client_id, client_secret, LOGIN_LINEAGE, token, &source, &error) !=
            CRITEO_OK ||
        criteo_token_source_set_store(source, options->store, &error) != CRITEO_OK ||
        criteo_token_source_store_error(source, &error) != CRITEO_OK) {
        fprintf(stderr, "criteo-token: the login could not be kept in the store: %s\n", criteo_error_message(error));
        criteo_error_free(error);
        criteo_token_source_free(source);
        return 1;
    }
    criteo_token_source_free(source);
    fprintf(stderr, "criteo-token: logged in; later runs for this client id serve tokens from this consent\n");
    print_token(token, options->output);
    return finish_output();
}

/* The address the browser came back to, received or pasted, within the
 * user's time limit; NULL with the exit status in *exit_code. */
static char *answer_of_the_user(const struct options *options, const char *redirect_uri,
                                const criteo_consent *consent, int *exit_code) {
    struct listeners listeners;
    char path[4096];
    int listening = listen_for_redirect(redirect_uri, &listeners, path, sizeof path);
    const char *link = criteo_consent_url(consent);
    fprintf(stderr, "Open this link in a browser and let the app act for your Criteo account:\n\n  %s\n\n", link);
    char page_directory[4096] = "";
    if (options->open_browser) {
        open_browser(link, page_directory, sizeof page_directory);
    }
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    uint32_t wait_ms = options->timeout_ms != 0 ? options->timeout_ms : LOGIN_WAIT_MS;
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    char *back;
    int ended = 0;
    if (listening) {
        fprintf(stderr, "Waiting for the browser at %s ...\n", redirect_uri);
        back = receive_redirect(&listeners, redirect_uri, path, criteo_consent_state(consent), &deadline);
        for (int i = 0; i < listeners.count; i++) {
            close(listeners.fds[i]);
        }
    } else {
        fprintf(stderr, "Then paste here the address the browser was sent to:\n");
        back = read_pasted(&deadline, &ended);
    }
    remove_redirect_page(page_directory);
    if (back == NULL && ended) {
        fprintf(stderr, "criteo-token: standard input ended before an address was pasted (or it was over 64 KiB)\n");
        *exit_code = 1;
    } else if (back == NULL) {
        fprintf(stderr, "criteo-token: no answer from the browser within the time limit (--timeout)\n");
        *exit_code = 3;
    }
    return back;
}

/* criteo-token login: exits 0 once the lineage is kept and its token
 * printed, 1 when the consent or the exchange failed, 2 for a usage or
 * setup mistake, 3 when the user did not come back in time. */
static int login(const struct options *options, const char *client_id, const char *client_secret) {
    const char *redirect_uri = options->redirect_uri != NULL ? options->redirect_uri : getenv("CRITEO_REDIRECT_URI");
    if (redirect_uri == NULL || redirect_uri[0] == '\0') {
        fprintf(stderr, "criteo-token: login needs the app's redirect URI: --redirect-uri URI or "
                        "CRITEO_REDIRECT_URI (a loopback http://127.0.0.1:PORT/... is received directly)\n");
        return 2;
    }
    criteo_client *client = client_from_environment(0, options->verbose);
    criteo_consent *consent = NULL;
    criteo_error *error = NULL;
    if (criteo_consent_new(client, client_id, redirect_uri, &consent, &error) != CRITEO_OK) {
        print_setting_error(criteo_error_message(error));
        return 2;
    }
    int exit_code = 0;
    char *back = answer_of_the_user(options, redirect_uri, consent, &exit_code);
    criteo_token *token = NULL;
    if (back != NULL) {
        criteo_status status = criteo_consent_finish(client, consent, client_secret, back, &token, &error);
        free(back);
        if (status != CRITEO_OK) {
            fprintf(stderr, "criteo-token: %s\n", criteo_error_message(error));
            exit_code = status == CRITEO_ERR_TIMEOUT ? 3 : 1;
        } else {
            exit_code = keep_login(client, client_id, client_secret, options, token);
        }
    }
    criteo_consent_free(consent);
    criteo_token_free(token);
    criteo_error_free(error);
    criteo_client_free(client);
    return exit_code;
}
