/*
 * fetches_by.h: how many token requests a client id has made (GET
 * /count/<client_id>), and how many the server answered at once at most
 * (GET /most-at-once/<client_id>), asked of the test server over a plain
 * socket. For the C test programs that count fetches (shared.c, fleet.c,
 * many.c, consent.c, freed_memory.c); they define die() before including
 * it. And the user's browser at the test server's consent page.
 */
#ifndef CRITEO_TEST_FETCHES_BY_H
#define CRITEO_TEST_FETCHES_BY_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* GETs TARGET from the test server on loopback PORT, its answer (head and
 * body, cut at SIZE - 1 bytes) into ANSWER; dies saying WHAT failed. */
static inline void test_server_get(int port, const char *target, char *answer, size_t size, const char *what) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        die(what);
    }
    char request[4096];
    int length = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target);
    if (length >= (int)sizeof request || write(fd, request, (size_t)length) != length) {
        die(what);
    }
    size_t got = 0;
    ssize_t n;
    while (got < size - 1 && (n = read(fd, answer + got, size - 1 - got)) > 0) {
        got += (size_t)n;
    }
    close(fd);
    answer[got] = '\0';
}

/* The number the test server at URL (http://127.0.0.1:PORT...) answers to
 * GET /WHAT/CLIENT_ID; -1 when its answer has no body. */
static inline long ask_test_server(const char *url, const char *what, const char *client_id) {
    int port = 0;
    if (sscanf(url, "http://127.0.0.1:%d", &port) != 1) {
        fprintf(stderr, "the URL must be http://127.0.0.1:PORT\n");
        exit(2);
    }
    char target[512], answer[4096];
    snprintf(target, sizeof target, "/%s/%s", what, client_id);
    test_server_get(port, target, answer, sizeof answer, "cannot ask the test server");
    const char *body = strstr(answer, "\r\n\r\n");
    return body != NULL ? atol(body + 4) : -1;
}

/* How many token requests CLIENT_ID has made. */
static inline long fetches_by(const char *url, const char *client_id) {
    return ask_test_server(url, "count", client_id);
}

/* The most token requests of CLIENT_ID the server answered at once. */
static inline long most_at_once(const char *url, const char *client_id) {
    return ask_test_server(url, "most-at-once", client_id);
}

/* The user's browser: GETs LINK (http://127.0.0.1:PORT/...) and returns
 * where the server sends it (its Location header), which the caller frees. */
static inline char *browse(const char *link) {
    int port = 0, offset = 0;
    if (sscanf(link, "http://127.0.0.1:%d%n", &port, &offset) != 1) {
        die("the link is not on the test server");
    }
    char answer[8192];
    test_server_get(port, link + offset, answer, sizeof answer, "cannot ask the consent page");
    const char *location = strstr(answer, "\r\nLocation: ");
    if (strncmp(answer, "HTTP/1.1 302", 12) != 0 || location == NULL) {
        fprintf(stderr, "%s\n", answer);
        die("the consent page did not send the browser back");
    }
    location += strlen("\r\nLocation: ");
    return strndup(location, strcspn(location, "\r\n"));
}

#endif
