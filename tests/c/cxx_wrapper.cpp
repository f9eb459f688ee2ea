// The C++ header, criteo_oauth.hpp, against the test server: every owner,
// the exception's fields, refused strings, the token source wrapper and
// its callbacks, the consent and the named lineages. Run under ASan and
// valgrind by run.sh, so that a leak or a use after free on any of these
// paths fails it.
//
// Usage: cxx_wrapper URL   (the test server's)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
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

// The answer of the test server at `url` (http://127.0.0.1:PORT) to GET
// `path`, whole, or "" when it cannot be reached. No redirect is followed.
std::string http_get(const std::string &url, const std::string &path) {
    int port = 0;
    if (std::sscanf(url.c_str(), "http://127.0.0.1:%d", &port) != 1) {
        return "";
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return "";
    }
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    std::string answer;
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
        char buffer[4096];
        ssize_t n;
        while ((n = read(fd, buffer, sizeof buffer)) > 0) {
            answer.append(buffer, static_cast<std::size_t>(n));
        }
    }
    close(fd);
    return answer;
}

// How many token requests `client_id` made, as the test server counts them.
long fetches(const std::string &url, const std::string &client_id) {
    std::string answer = http_get(url, "/count/" + client_id);
    std::size_t body = answer.find("\r\n\r\n");
    return body == std::string::npos ? -1 : std::strtol(answer.c_str() + body + 4, nullptr, 10);
}

// The user's browser: GETs the consent link, and returns where the
// consent page sends it back (its Location header), or "".
std::string browse(const std::string &url, const char *link) {
    std::string answer = http_get(url, std::string(link).substr(url.size()));
    const std::string header = "\r\nLocation: ";
    std::size_t at = answer.find(header);
    if (answer.compare(0, 12, "HTTP/1.1 302") != 0 || at == std::string::npos) {
        return "";
    }
    at += header.size();
    return answer.substr(at, answer.find("\r\n", at) - at);
}

// The value of `name` in a redirect URL (codes and states are plain).
std::string parameter(const std::string &back, const std::string &name) {
    std::size_t at = back.find(name + "=");
    if (at == std::string::npos) {
        return "";
    }
    at += name.size() + 1;
    return back.substr(at, back.find('&', at) - at);
}

const char *const redirect_uri = "http://127.0.0.1:9/callback";

criteo::client consent_client(const std::string &url, const std::string &path) {
    return criteo::client_builder().host(url).consent_url(url + path).max_retries(0).proxy("").build();
}

void consent_flow(const std::string &url) {
    criteo::client client = consent_client(url, "/consent");
    criteo::consent consent(client, "demo-client", redirect_uri);
    expect(std::strlen(consent.state()) == 43 && std::strlen(consent.code_verifier()) == 43,
           "a state and a verifier of 43 characters");
    std::string prefix = url + "/consent?response_type=code&client_id=demo-client&redirect_uri=";
    expect(std::string(consent.url()).compare(0, prefix.size(), prefix) == 0, "the link is on the consent page");
    expect(std::strstr(consent.url(), consent.code_verifier()) == nullptr, "the link does not hold the verifier");

    std::string back = browse(url, consent.url());
    expect(parameter(back, "state") == consent.state(), "the consent page sends the state back");
    long before = fetches(url, "demo-client");
    criteo::token token = consent.finish(client, "demo-secret", back);
    expect(std::strncmp(token.access_token(), "eyJ", 3) == 0 && token.refresh_token() != nullptr &&
               std::strncmp(token.refresh_token(), "rt-consent-", 11) == 0,
           "finish: a token and a refresh token");
    expect(fetches(url, "demo-client") - before == 1, "finish: one request");
    criteo::error again = thrown([&] { consent.finish(client, "demo-secret", back); });
    expect(again.status() == CRITEO_ERR_INVALID_ARGUMENT && fetches(url, "demo-client") - before == 1,
           "a consent finished twice is refused, nothing sent");

    // A public client: no secret.
    std::string public_id = "cxx-public-" + std::to_string(getpid());
    criteo::consent public_consent(client, public_id, redirect_uri);
    criteo::token public_token = public_consent.finish(client, browse(url, public_consent.url()));
    expect(public_token.refresh_token() != nullptr && fetches(url, public_id) == 1, "a public client: a token");

    // A user who refuses.
    std::string denied_id = "cxx-denied-" + std::to_string(getpid());
    criteo::client denying = consent_client(url, "/consent/deny");
    criteo::consent denied(denying, denied_id, redirect_uri);
    std::string denied_back = browse(url, denied.url());
    criteo::error refusal = thrown([&] { denied.finish(denying, denied_back); });
    expect(refusal.status() == CRITEO_ERR_INVALID_ARGUMENT &&
               refusal.code() == std::optional<std::string>("access_denied") && fetches(url, denied_id) == 0,
           "a denied consent: invalid argument, access_denied, nothing sent");

    // Another state.
    std::string forged_id = "cxx-forged-" + std::to_string(getpid());
    criteo::consent forged(client, forged_id, redirect_uri);
    std::string forged_back = browse(url, forged.url());
    std::string state = forged.state();
    std::string tampered = forged_back;
    tampered.replace(tampered.find(state), state.size(), "forged-state-of-another-consent-aaaaaaaaaaa");
    criteo::error tampering = thrown([&] { forged.finish(client, tampered); });
    expect(tampering.status() == CRITEO_ERR_INVALID_ARGUMENT && fetches(url, forged_id) == 0,
           "another state is refused, nothing sent");
    expect(forged.finish(client, forged_back).refresh_token() != nullptr, "then the genuine answer works");

    // The verifier kept, the code exchanged by get_token_pkce.
    criteo::consent split(client, "demo-client", redirect_uri);
    std::string code = parameter(browse(url, split.url()), "code");
    std::string wrong(64, 'w');
    criteo::error mismatch = thrown([&] {
        client.get_token_pkce({"demo-client", std::string("demo-secret"), redirect_uri, code, wrong});
    });
    expect(mismatch.status() == CRITEO_ERR_BAD_REQUEST && mismatch.http_status() == 400 &&
               mismatch.code() == std::optional<std::string>("invalid_grant"),
           "get_token_pkce with a wrong verifier: 400 invalid_grant");
    expect(std::strstr(mismatch.what(), code.c_str()) == nullptr && std::strstr(mismatch.what(), wrong.c_str()) == nullptr,
           "its message holds neither the code nor the verifier");
    criteo::consent kept(client, "demo-client", redirect_uri);
    std::string verifier = kept.code_verifier();
    code = parameter(browse(url, kept.url()), "code");
    criteo::token exchanged =
        client.get_token_pkce({"demo-client", std::string("demo-secret"), redirect_uri, code, verifier});
    expect(exchanged.refresh_token() != nullptr, "get_token_pkce with the kept verifier: a token");

    // Moves, and refused arguments.
    criteo::consent moved = std::move(split);
    expect(split.handle() == nullptr && split.url() == nullptr && moved.url() != nullptr,
           "a moved consent leaves an empty one");
    expect(thrown([&] { split.finish(client, "demo-secret", back); }).what() ==
               std::string("the criteo::consent was moved from"),
           "a moved-from consent throws");
    split = std::move(moved);
    expect(split.url() != nullptr, "move assignment");
    expect(thrown([&] { criteo::consent bad(client, "id", "/callback"); }).status() == CRITEO_ERR_INVALID_ARGUMENT,
           "a relative redirect URI is refused");
    expect(thrown([&] { criteo::consent bad(client, std::string("id\0x", 4), redirect_uri); }).what() ==
               std::string("client_id contains a NUL byte"),
           "a NUL in the client id is refused");
    criteo::error consent_url = thrown([&] { criteo::client_builder().consent_url("http://consent.example/x").build(); });
    expect(consent_url.status() == CRITEO_ERR_INVALID_ARGUMENT &&
               std::strstr(consent_url.what(), "consent_url") != nullptr,
           "an http consent URL off loopback is refused at build, naming it");
}

void named_lineage(const std::string &url) {
    // A new directory of this user, mode 0700, under $TMPDIR.
    std::string store = (std::filesystem::temp_directory_path() / "cxx-wrapper-store-XXXXXX").string();
    bool made = mkdtemp(store.data()) != nullptr;
    expect(made, "a store directory");
    if (!made) {
        return;
    }
    std::string name = "customer-" + std::to_string(getpid());
    {
        criteo::client client = consent_client(url, "/consent");
        criteo::consent consent(client, "demo-client", redirect_uri);
        criteo::token token = consent.finish(client, "demo-secret", browse(url, consent.url()));
        long before = fetches(url, "demo-client");

        criteo::token_source started = criteo::token_source::named(client, "demo-client", "demo-secret", name, token);
        started.set_store(store);
        expect(started.store_error() == std::nullopt, "a named source started from the token: its store works");
        expect(std::strcmp(started.get().access_token(), token.access_token()) == 0,
               "the started source serves the token");
        criteo::token_source found = criteo::token_source::named(client, "demo-client", "demo-secret", name);
        found.set_store(store);
        expect(std::strcmp(found.get().access_token(), token.access_token()) == 0,
               "a second named source, from the store alone, serves it too");
        expect(fetches(url, "demo-client") - before == 0, "no request for either");

        criteo::token_source nothing = criteo::token_source::named(client, "demo-client", "demo-secret", name + "-none");
        nothing.set_store(store);
        expect(thrown([&] { nothing.get(); }).status() == CRITEO_ERR_STORE && nothing.store_error() == std::nullopt,
               "nothing stored under the name: CRITEO_ERR_STORE, the store itself works");

        criteo::token plain = client.get_token(demo);
        expect(thrown([&] { criteo::token_source::named(client, "demo-client", "demo-secret", "n", plain); })
                       .status() == CRITEO_ERR_INVALID_ARGUMENT,
               "a start token without a refresh token is refused");
        criteo::token moved = std::move(token);
        expect(thrown([&] { criteo::token_source::named(client, "demo-client", "demo-secret", "n", token); })
                       .status() == CRITEO_ERR_INVALID_ARGUMENT,
               "a moved-from start token is refused");
        expect(thrown([&] { criteo::token_source::named(client, "demo-client", "demo-secret", ""); }).status() ==
                   CRITEO_ERR_INVALID_ARGUMENT,
               "an empty name is refused");
    }
    std::error_code ignored;
    std::filesystem::remove_all(store, ignored);
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
        consent_flow(argv[1]);
        named_lineage(argv[1]);
    } catch (const criteo::error &error) {
        std::printf("FAIL unexpected criteo::error %u: %s\n", error.status(), error.what());
        return 1;
    }
    if (failures == 0) {
        std::printf("the C++ header: all checks passed\n");
    }
    return failures == 0 ? 0 : 1;
}
