// The C++ header, criteo_oauth.hpp, against the test server: every owner,
// the exception's fields, refused strings, the token source wrapper and
// its callbacks. Run under ASan and valgrind by run.sh, so that a leak or a
// use after free on any of these paths fails it.
//
// Usage: cxx_wrapper URL   (the test server's)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "criteo_oauth.hpp"

namespace {

int failures = 0;

void expect(bool holds, const char *what) {
    if (!holds) {
        std::printf("FAIL %s\n", what);
        failures++;
    }
}

criteo::client client_for(const std::string &host) {
    return criteo::client_builder().host(host).max_retries(0).proxy("").build();
}

const criteo::request demo{"client_credentials", "demo-client", "demo-secret"};

// The error `call` throws, or a status of 99 when it throws none.
template <typename Call>
criteo::error thrown(Call call) {
    try {
        call();
    } catch (const criteo::error &error) {
        return error;
    }
    return criteo::error(99, "nothing was thrown");
}

void client_and_errors(const std::string &url) {
    criteo::client client = client_for(url);
    criteo::token token = client.get_token(demo);
    expect(std::strncmp(token.access_token(), "eyJ", 3) == 0, "a token from get_token");
    expect(std::string(token.authorization()) == std::string("Bearer ") + token.access_token(),
           "authorization() is Bearer and the token");
    expect(token.expires_in() == 900 && token.refresh_token() == nullptr, "expires_in and no refresh token");

    criteo::token moved = std::move(token);
    expect(token.get() == nullptr && moved.get() != nullptr, "a moved token leaves an empty one");
    token = client.get_token(demo);
    token = std::move(moved);  // frees the newer token
    expect(std::strncmp(token.access_token(), "eyJ", 3) == 0, "move assignment keeps the moved token");

    criteo::request wrong = demo;
    wrong.client_secret = "wrong";
    criteo::error unauthorized = thrown([&] { client.get_token(wrong); });
    expect(unauthorized.status() == CRITEO_ERR_UNAUTHORIZED && unauthorized.http_status() == 401,
           "401: status and HTTP status");
    expect(unauthorized.code() == std::optional<std::string>("invalid_client") && !unauthorized.uri(),
           "401: the OAuth code");
    expect(std::strstr(unauthorized.what(), "answered 401 Unauthorized: invalid_client") != nullptr,
           "401: the message");
    expect(unauthorized.retry_after() == -1, "401: no Retry-After");

    criteo::error limited = thrown([&] { client_for(url + "/scenario/429").get_token(demo); });
    expect(limited.status() == CRITEO_ERR_HTTP_STATUS && limited.retry_after() == 7, "429: Retry-After");

    criteo::request cut = demo;
    cut.client_secret = std::string("demo-secret\0tail", 16);
    criteo::error nul = thrown([&] { client.get_token(cut); });
    expect(nul.status() == CRITEO_ERR_INVALID_ARGUMENT &&
               std::string(nul.what()) == "client_secret contains a NUL byte",
           "a NUL inside a string is refused, not cut short");
    criteo::error host = thrown([&] { criteo::client_builder().host(std::string("http://a\0b", 10)); });
    expect(host.status() == CRITEO_ERR_INVALID_ARGUMENT, "a NUL inside the host is refused");
    criteo::error bad_host = thrown([&] { criteo::client_builder().host("ftp://x").build(); });
    expect(bad_host.status() == CRITEO_ERR_INVALID_ARGUMENT &&
               std::strstr(bad_host.what(), "base_url") != nullptr,
           "a refused host throws at build, naming it");
    criteo::error negative =
        thrown([&] { criteo::client_builder().timeouts(std::chrono::milliseconds(-1), std::chrono::seconds(1)); });
    expect(negative.status() == CRITEO_ERR_INVALID_ARGUMENT, "a negative timeout is refused");
    criteo::error timed_out = thrown([&] {
        criteo::client_builder()
            .host(url + "/scenario/slow-3000")
            .proxy("")
            .timeouts(std::chrono::milliseconds(0), std::chrono::milliseconds(300))
            .build()
            .get_token(demo);
    });
    expect(timed_out.status() == CRITEO_ERR_TIMEOUT, "a total limit alone times out");
}

void token_source(const std::string &url) {
    criteo::client client = client_for(url);
    criteo::token_source source(client, demo);
    std::atomic<int> fetches{0};
    source.on_refresh([&](criteo::token_view token) {
        expect(std::strncmp(token.access_token(), "eyJ", 3) == 0, "the callback sees the token");
        fetches++;
    });
    expect(source.store_error() == std::nullopt, "no store, no store error");
    expect(source.try_get() == std::nullopt, "try_get before any fetch: nothing");
    criteo::token first = source.get();
    std::string header = source.authorization();
    expect(header == std::string("Bearer ") + first.access_token(), "authorization() of the cached token");
    std::optional<criteo::token> cached = source.try_get();
    expect(cached && std::strcmp(cached->access_token(), first.access_token()) == 0, "try_get: the cached token");
    expect(fetches == 1, "one fetch for get, authorization and try_get");

    source.reject(first.access_token());
    std::optional<criteo::token> again = source.get_within(std::chrono::seconds(10));
    expect(again && std::strcmp(again->access_token(), first.access_token()) != 0,
           "after reject, get_within fetches a new token");
    expect(fetches == 2, "the callback ran for the second fetch");

    // A callback that throws is contained, and the one it replaced kept.
    source.on_refresh([](criteo::token_view) { throw std::runtime_error("from the callback"); });
    source.invalidate();
    expect(std::strncmp(source.get().access_token(), "eyJ", 3) == 0, "a throwing callback: the get succeeds");

    criteo::error margin = thrown([&] { source.set_refresh_margin(std::chrono::hours(25)); });
    expect(margin.status() == CRITEO_ERR_INVALID_ARGUMENT, "a margin over a day is refused");

    criteo::token_source moved = std::move(source);
    expect(source.handle() == nullptr, "a moved source leaves an empty one");
    expect(thrown([&] { source.get(); }).status() == CRITEO_ERR_INVALID_ARGUMENT,
           "an empty source throws, it does not crash");
    expect(thrown([&] { source.set_refresh_margin(std::chrono::seconds(1)); }).what() ==
               std::string("the criteo::token_source was moved from"),
           "a moved-from source says so");
    criteo::token_source other(client, demo);
    other.on_refresh([&](criteo::token_view) { fetches++; });
    moved = std::move(other);  // frees the first source, then takes the callbacks of the other
    moved.invalidate();
    int before = fetches;
    moved.get();
    expect(fetches == before + 1, "after move assignment, the moved callback runs");

    // A token longer than authorization()'s first buffer.
    criteo::client long_client = client_for(url + "/scenario/long-token");
    criteo::token_source long_source(long_client, demo);
    std::string long_header = long_source.authorization();
    expect(long_header.size() > 3000 && long_header == std::string("Bearer ") + long_source.get().access_token(),
           "authorization() of a 3000-character token");

    // A moved-from client is not the default client: using it throws.
    criteo::client moved_client(std::move(long_client));
    criteo::error moved_from = thrown([&] { criteo::token_source careless(long_client, demo); });
    expect(moved_from.status() == CRITEO_ERR_INVALID_ARGUMENT &&
               std::string(moved_from.what()) == "the criteo::client was moved from",
           "a moved-from client is refused, not taken as the default client");
    expect(thrown([&] { long_client.get_token(demo); }).status() == CRITEO_ERR_INVALID_ARGUMENT,
           "get_token on a moved-from client throws");
    expect(std::strncmp(moved_client.get_token(demo).access_token(), "eyJ", 3) == 0,
           "the client it was moved to works");

    criteo::token_source by_default(demo);  // the default client: nothing fetched yet
    expect(by_default.handle() != nullptr, "a source on the default client");
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: cxx_wrapper URL\n");
        return 2;
    }
    try {
        client_and_errors(argv[1]);
        token_source(argv[1]);
    } catch (const criteo::error &error) {
        std::printf("FAIL unexpected criteo::error %u: %s\n", error.status(), error.what());
        return 1;
    }
    if (failures == 0) {
        std::printf("the C++ header: all checks passed\n");
    }
    return failures == 0 ? 0 : 1;
}
