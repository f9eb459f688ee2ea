/*
 * criteo_oauth.hpp: C++17 owners for libcriteo_oauth's handles.
 *
 * Header-only, over the C API of criteo_oauth.h (see criteo_oauth(3)): each
 * handle has one owner that frees it on every path, failures are thrown as
 * criteo::error, and strings are std::string. Link with -lcriteo_oauth as
 * for C (pkg-config criteo-oauth, or CMake's criteo-oauth::criteo-oauth).
 *
 *     criteo::token_source source(criteo::request{"client_credentials", id, secret});
 *     std::string header = source.authorization();   // "Bearer eyJ...", any thread
 *
 * The user's consent (authorization code with PKCE), then a lineage a store
 * keeps under a name:
 *
 *     criteo::consent consent(client, id, "https://app.example/callback");
 *     open_in_browser(consent.url());
 *     criteo::token token = consent.finish(client, secret, url_the_browser_came_back_to);
 *     criteo::token_source source = criteo::token_source::named(client, id, secret, "customer-42", token);
 *     source.set_store();                              // the default store: the token is written there
 *
 * Threads: a client and a token_source may be used from many threads at
 * once (as their C handles); a token is one thread's at a time. Moving an
 * owner is not thread-safe with calls on it. The classes are move-only; a
 * moved-from client, token_source or consent throws criteo::error
 * (CRITEO_ERR_INVALID_ARGUMENT) when used: a moved-from client never
 * stands for the default client. (The accessors of a moved-from token or
 * consent return nullptr instead.)
 *
 * Every string argument is checked for NUL bytes, which C would take as
 * its end: such a string is refused (criteo::error, CRITEO_ERR_INVALID_ARGUMENT)
 * rather than cut short. Secrets in your own std::strings (the client secret,
 * authorization()'s result) are yours to wipe.
 */
#ifndef CRITEO_OAUTH_HPP
#define CRITEO_OAUTH_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "criteo_oauth.h"

namespace criteo {

/*
 * A failed call: the library's status, the HTTP status (0 when no answer
 * came), the OAuth error fields (empty when the answer had none), the
 * server's Retry-After (-1 when it sent none), and what() the library's
 * one-line message, which never holds a secret.
 */
class error : public std::runtime_error {
  public:
    /* Copies what `raw` says (it stays the caller's); NULL gives the status alone. */
    error(criteo_status status, const criteo_error *raw)
        : std::runtime_error(criteo_error_message(raw)), status_(status),
          http_status_(criteo_error_http_status(raw)), code_(text(criteo_error_code(raw))),
          description_(text(criteo_error_description(raw))), uri_(text(criteo_error_uri(raw))),
          retry_after_(criteo_error_retry_after(raw)) {}

    /* An error the wrapper finds itself, before calling the library. */
    error(criteo_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}

    criteo_status status() const noexcept { return status_; }
    std::uint16_t http_status() const noexcept { return http_status_; }
    const std::optional<std::string> &code() const noexcept { return code_; }
    const std::optional<std::string> &description() const noexcept { return description_; }
    const std::optional<std::string> &uri() const noexcept { return uri_; }
    std::int64_t retry_after() const noexcept { return retry_after_; }

  private:
    static std::optional<std::string> text(const char *value) {
        return value == nullptr ? std::nullopt : std::optional<std::string>(value);
    }

    criteo_status status_;
    std::uint16_t http_status_ = 0;
    std::optional<std::string> code_, description_, uri_;
    std::int64_t retry_after_ = -1;
};

namespace detail {

template <typename T, void (*Free)(T *)>
struct deleter {
    void operator()(T *handle) const noexcept { Free(handle); }
};

/* The one owner of a C handle. */
template <typename T, void (*Free)(T *)>
using owner = std::unique_ptr<T, deleter<T, Free>>;

/* Frees `raw` and, when `status` is a failure, throws what it says.
 * Call it after the call that wrote `raw`, never as that call's argument
 * (the order arguments are read in is unspecified). */
inline void check(criteo_status status, criteo_error *raw) {
    owner<criteo_error, criteo_error_free> failure(raw);
    if (status != CRITEO_OK) {
        throw error(status, failure.get());
    }
}

/* `value` as a C string, refused when C would read it cut short. */
inline const char *c_string(const std::string &value, const char *name) {
    if (value.find('\0') != std::string::npos) {
        throw error(CRITEO_ERR_INVALID_ARGUMENT, std::string(name) + " contains a NUL byte");
    }
    return value.c_str();
}

inline const char *c_string(const std::optional<std::string> &value, const char *name) {
    return value ? c_string(*value, name) : nullptr;
}

/* Overwrites a string that held a secret (a volatile write the compiler keeps). */
inline void wipe(std::string &secret) noexcept {
    volatile char *bytes = secret.data();
    for (std::size_t i = 0; i < secret.size(); i++) {
        bytes[i] = '\0';
    }
}

}  // namespace detail

/* What to ask for: the grant and its credentials (code and redirect_uri
 * for authorization_code, refresh_token for refresh_token). */
struct request {
    std::string grant_type;
    std::string client_id;
    std::string client_secret;
    std::optional<std::string> redirect_uri = std::nullopt;
    std::optional<std::string> code = std::nullopt;
    std::optional<std::string> refresh_token = std::nullopt;
};

/* An authorization code to exchange with its PKCE verifier
 * (client::get_token_pkce), for a consent made elsewhere whose
 * code_verifier() was kept. client_secret: nullopt for a public client,
 * which sends none. */
struct pkce_request {
    std::string client_id;
    std::optional<std::string> client_secret;
    std::string redirect_uri;
    std::string code;
    std::string code_verifier;
};

/* A token borrowed from the library (the refresh callback's): valid for
 * the call it is given to; copy what you keep. */
class token_view {
  public:
    explicit token_view(const criteo_token *raw) noexcept : raw_(raw) {}

    const char *access_token() const noexcept { return criteo_token_access_token(raw_); }
    const char *token_type() const noexcept { return criteo_token_token_type(raw_); }
    /* nullptr when the answer had none. */
    const char *refresh_token() const noexcept { return criteo_token_refresh_token(raw_); }
    /* Seconds, or -1 when the server gave no lifetime. */
    std::int64_t expires_in() const noexcept { return criteo_token_expires_in(raw_); }
    /* Unix time, or -1. */
    std::int64_t expires_at() const noexcept { return criteo_token_expires_at(raw_); }
    /* "Bearer <access token>", for an Authorization header. */
    const char *authorization() const noexcept { return criteo_token_authorization(raw_); }
    const criteo_token *get() const noexcept { return raw_; }

  protected:
    const criteo_token *raw_;
};

/* A token the program owns: freed (and wiped) with its owner. */
class token : public token_view {
  public:
    explicit token(criteo_token *raw) noexcept : token_view(raw), handle_(raw) {}
    token(token &&other) noexcept : token_view(other.raw_), handle_(std::move(other.handle_)) {
        other.raw_ = nullptr;
    }
    token &operator=(token &&other) noexcept {
        if (this != &other) {
            handle_ = std::move(other.handle_);
            raw_ = std::exchange(other.raw_, nullptr);
        }
        return *this;
    }

  private:
    detail::owner<criteo_token, criteo_token_free> handle_;
};

/* A configured connection pool to the token endpoint; the default
 * constructor is the library's process-wide default client
 * (https://api.criteo.com, the environment's proxy and trust store). */
class client {
  public:
    client() noexcept = default;
    explicit client(criteo_client *raw) noexcept : handle_(raw), is_default_(false) {}
    /* A moved-from client is empty: using it throws, it never becomes the
     * default client (which would send the credentials elsewhere). */
    client(client &&other) noexcept
        : handle_(std::move(other.handle_)), is_default_(std::exchange(other.is_default_, false)) {}
    client &operator=(client &&other) noexcept {
        if (this != &other) {
            handle_ = std::move(other.handle_);
            is_default_ = std::exchange(other.is_default_, false);
        }
        return *this;
    }

    /* One request for a token (criteo_get_token). Throws criteo::error. */
    token get_token(const request &asked) const {
        criteo_token *raw = nullptr;
        criteo_error *failure = nullptr;
        criteo_status status = criteo_get_token(
            get(), detail::c_string(asked.grant_type, "grant_type"),
            detail::c_string(asked.client_id, "client_id"),
            detail::c_string(asked.client_secret, "client_secret"),
            detail::c_string(asked.redirect_uri, "redirect_uri"), detail::c_string(asked.code, "code"),
            detail::c_string(asked.refresh_token, "refresh_token"), &raw, &failure);
        detail::check(status, failure);
        return token(raw);
    }

    /* Exchanges an authorization code with its PKCE verifier, once and
     * never retried (criteo_get_token_pkce). Throws criteo::error:
     * CRITEO_ERR_BAD_REQUEST with code() "invalid_grant" for a code used
     * or expired, or a verifier that does not match. */
    token get_token_pkce(const pkce_request &asked) const {
        criteo_token *raw = nullptr;
        criteo_error *failure = nullptr;
        criteo_status status = criteo_get_token_pkce(
            get(), detail::c_string(asked.client_id, "client_id"),
            detail::c_string(asked.client_secret, "client_secret"),
            detail::c_string(asked.redirect_uri, "redirect_uri"), detail::c_string(asked.code, "code"),
            detail::c_string(asked.code_verifier, "code_verifier"), &raw, &failure);
        detail::check(status, failure);
        return token(raw);
    }

    /* The C handle: NULL for the default client. Throws for a moved-from
     * client. */
    const criteo_client *get() const {
        if (handle_ == nullptr && !is_default_) {
            throw error(CRITEO_ERR_INVALID_ARGUMENT, "the criteo::client was moved from");
        }
        return handle_.get();
    }

  private:
    detail::owner<criteo_client, criteo_client_free> handle_;
    bool is_default_ = true;
};

/* Settings for a client; build() makes it. A refused setting makes
 * build() throw, with the message saying which and why. */
class client_builder {
  public:
    client_builder() : handle_(criteo_client_builder_new()) {}

    client_builder &host(const std::string &base_url) {
        criteo_client_builder_set_host(handle_.get(), detail::c_string(base_url, "base_url"));
        return *this;
    }
    /* 0 keeps a default (see criteo_client_builder_set_timeouts). */
    client_builder &timeouts(std::chrono::milliseconds connect, std::chrono::milliseconds total) {
        criteo_client_builder_set_timeouts(handle_.get(), milliseconds(connect), milliseconds(total));
        return *this;
    }
    /* Where a consent sends the user: the consent page (default
     * https://consent.criteo.com/request); for a sandbox or a test. */
    client_builder &consent_url(const std::string &url) {
        criteo_client_builder_set_consent_url(handle_.get(), detail::c_string(url, "consent_url"));
        return *this;
    }
    client_builder &max_retries(std::uint32_t retries) {
        criteo_client_builder_set_max_retries(handle_.get(), retries);
        return *this;
    }
    client_builder &ca_file(const std::string &pem_path) {
        criteo_client_builder_set_ca_file(handle_.get(), detail::c_string(pem_path, "pem_path"));
        return *this;
    }
    /* An http:// proxy; "" for none whatever the environment says. */
    client_builder &proxy(const std::string &proxy_url) {
        criteo_client_builder_set_proxy(handle_.get(), detail::c_string(proxy_url, "proxy_url"));
        return *this;
    }
    client_builder &user_agent(const std::string &product) {
        criteo_client_builder_set_user_agent(handle_.get(), detail::c_string(product, "user_agent"));
        return *this;
    }

    /* Makes the client; the builder is used up either way. Throws
     * criteo::error (a refused setting, an unusable trust store or proxy). */
    client build() {
        criteo_client *raw = nullptr;
        criteo_error *failure = nullptr;
        // build consumes the builder whatever happens.
        criteo_status status = criteo_client_builder_build(handle_.release(), &raw, &failure);
        detail::check(status, failure);
        return client(raw);
    }

  private:
    static std::uint32_t milliseconds(std::chrono::milliseconds limit) {
        if (limit.count() < 0 || limit.count() > std::numeric_limits<std::uint32_t>::max()) {
            throw error(CRITEO_ERR_INVALID_ARGUMENT, "timeouts must be from 0 to 4294967295 ms");
        }
        return static_cast<std::uint32_t>(limit.count());
    }

    detail::owner<criteo_client_builder, criteo_client_builder_free> handle_;
};

/*
 * The user's consent step of the authorization code flow with PKCE (see
 * criteo_consent_new): the link to the consent page of the client it was
 * made with, and the state and verifier that finish() checks the answer
 * and exchanges its code with. The state and verifier are secrets, wiped
 * when the consent is destroyed. Usable from many threads at once; it is
 * finished once (its code is single-use).
 */
class consent {
  public:
    /* Draws the state and verifier and makes the link; sends nothing.
     * Throws criteo::error (CRITEO_ERR_INVALID_ARGUMENT for a refused
     * client_id or redirect_uri, named). */
    consent(const client &through, const std::string &client_id, const std::string &redirect_uri) {
        criteo_consent *raw = nullptr;
        criteo_error *failure = nullptr;
        criteo_status status = criteo_consent_new(through.get(), detail::c_string(client_id, "client_id"),
                                                  detail::c_string(redirect_uri, "redirect_uri"), &raw, &failure);
        detail::check(status, failure);
        handle_.reset(raw);
    }

    consent(consent &&other) noexcept = default;
    consent &operator=(consent &&other) noexcept = default;

    /* The link to send the user to. Borrowed from the consent: valid until
     * it is destroyed; nullptr once moved from. */
    const char *url() const noexcept { return criteo_consent_url(handle_.get()); }
    /* The state, for an app that checks the answer itself. A secret;
     * borrowed, as url(). */
    const char *state() const noexcept { return criteo_consent_state(handle_.get()); }
    /* The PKCE verifier, for an app that exchanges the code elsewhere
     * (client::get_token_pkce). A secret; borrowed, as url(). */
    const char *code_verifier() const noexcept { return criteo_consent_code_verifier(handle_.get()); }

    /*
     * Finishes the consent with the URL the user's browser came back to,
     * then exchanges its code with the app's client_secret through
     * `through` (the client the consent was made with) once, never
     * retried (criteo_consent_finish). Throws criteo::error:
     * CRITEO_ERR_INVALID_ARGUMENT, before anything is sent, for an answer
     * that is not this consent's, a refusal (code() "access_denied") or a
     * consent finished already; CRITEO_ERR_BAD_REQUEST ("invalid_grant")
     * for a code or verifier the server refuses.
     */
    token finish(const client &through, const std::string &client_secret, const std::string &redirect_url) const {
        return exchange(through, detail::c_string(client_secret, "client_secret"), redirect_url);
    }
    /* As above, for a public client (one that cannot keep a secret):
     * no client_secret is sent. */
    token finish(const client &through, const std::string &redirect_url) const {
        return exchange(through, nullptr, redirect_url);
    }

    /* The C handle, for calls the wrapper lacks; NULL once moved from. */
    const criteo_consent *handle() const noexcept { return handle_.get(); }

  private:
    /* The C handle for a call; a moved-from consent throws instead. */
    const criteo_consent *live() const {
        if (handle_ == nullptr) {
            throw error(CRITEO_ERR_INVALID_ARGUMENT, "the criteo::consent was moved from");
        }
        return handle_.get();
    }

    token exchange(const client &through, const char *client_secret, const std::string &redirect_url) const {
        criteo_token *raw = nullptr;
        criteo_error *failure = nullptr;
        criteo_status status = criteo_consent_finish(through.get(), live(), client_secret,
                                                     detail::c_string(redirect_url, "redirect_url"), &raw, &failure);
        detail::check(status, failure);
        return token(raw);
    }

    detail::owner<criteo_consent, criteo_consent_free> handle_;
};

/*
 * A valid token whenever asked, cached and refreshed before it expires
 * (see criteo_token_source_get): the object a program keeps for its
 * credentials. Thread-safe as its C handle is; set_store, on_refresh and
 * set_refresh_margin are meant for before the first get.
 */
class token_source {
  public:
    using refresh_callback = std::function<void(token_view)>;

    token_source(const client &through, const request &asked) {
        criteo_token_source *raw = nullptr;
        criteo_error *failure = nullptr;
        criteo_status status = criteo_token_source_new(
            through.get(), detail::c_string(asked.grant_type, "grant_type"),
            detail::c_string(asked.client_id, "client_id"),
            detail::c_string(asked.client_secret, "client_secret"),
            detail::c_string(asked.redirect_uri, "redirect_uri"), detail::c_string(asked.code, "code"),
            detail::c_string(asked.refresh_token, "refresh_token"), &raw, &failure);
        detail::check(status, failure);
        handle_.reset(raw);
    }
    /* Through the default client. */
    explicit token_source(const request &asked) : token_source(client(), asked) {}

    /*
     * A source for the lineage that `name` names for client_id and
     * client_secret in the source's store (criteo_token_source_new_named),
     * started from `start`: a token from consent::finish,
     * client::get_token_pkce or the authorization_code grant, with a
     * refresh token (copied). set_store then writes it to the store,
     * replacing what the store held under the name.
     */
    static token_source named(const client &through, const std::string &client_id,
                              const std::string &client_secret, const std::string &name,
                              const token_view &start) {
        if (start.get() == nullptr) {
            throw error(CRITEO_ERR_INVALID_ARGUMENT, "the start token was moved from");
        }
        return make_named(through, client_id, client_secret, name, start.get());
    }
    /* A source for the named lineage, taken from its store (set_store):
     * a get fails with CRITEO_ERR_STORE while the store holds nothing
     * under the name. */
    static token_source named(const client &through, const std::string &client_id,
                              const std::string &client_secret, const std::string &name) {
        return make_named(through, client_id, client_secret, name, nullptr);
    }

    token_source(token_source &&other) noexcept = default;
    token_source &operator=(token_source &&other) noexcept {
        if (this != &other) {
            // The source goes first, so that no callback of it runs once
            // its callbacks are released.
            handle_.reset();
            callbacks_ = std::move(other.callbacks_);
            handle_ = std::move(other.handle_);
        }
        return *this;
    }

    /* A valid token: the cached one, or a new one (criteo_token_source_get). */
    token get() const {
        criteo_token *raw = nullptr;
        criteo_error *failure = nullptr;
        criteo_status status = criteo_token_source_get(live(), &raw, &failure);
        detail::check(status, failure);
        return token(raw);
    }

    /* The token get() would give at once, or nothing when a fetch is due
     * or under way (criteo_token_source_try_get); never waits for a fetch. */
    std::optional<token> try_get() const {
        criteo_token *raw = nullptr;
        criteo_error *failure = nullptr;
        criteo_status status = criteo_token_source_try_get(live(), &raw, &failure);
        detail::check(status, failure);
        return optional(raw);
    }

    /* As get(), waiting at most `wait` for a fetch that runs on the
     * library's thread; nothing when it is still under way. */
    std::optional<token> get_within(std::chrono::milliseconds wait) const {
        auto waited = wait.count() < 0 ? 0 : wait.count();
        auto most = static_cast<std::chrono::milliseconds::rep>(std::numeric_limits<std::uint32_t>::max());
        criteo_token *raw = nullptr;
        criteo_error *failure = nullptr;
        criteo_status status = criteo_token_source_get_within(
            live(), static_cast<std::uint32_t>(waited < most ? waited : most), &raw, &failure);
        detail::check(status, failure);
        return optional(raw);
    }

    /* "Bearer <access token>" of a valid token, as get() obtains it. A
     * secret: wipe your copy when done with it. */
    std::string authorization() const {
        std::string value(1024, '\0');
        for (;;) {
            std::size_t length = 0;
            criteo_error *failure = nullptr;
            // data() has size() + 1 writable bytes, the last one the NUL.
            criteo_status status = criteo_token_source_authorization(live(), value.data(),
                                                                     value.size() + 1, &length, &failure);
            if (status == CRITEO_ERR_INVALID_ARGUMENT && length > value.size()) {
                criteo_error_free(failure);
                detail::wipe(value);
                value.assign(length, '\0');
                continue;
            }
            if (status != CRITEO_OK) {
                detail::wipe(value);
            }
            detail::check(status, failure);
            value.resize(length);
            return value;
        }
    }

    /* Drops the cached token: the next get fetches a new one. */
    void invalidate() const noexcept { criteo_token_source_invalidate(handle_.get()); }

    /* Drops the cached token if it is still `access_token` (the API
     * answered 401 to it). */
    void reject(const std::string &access_token) const noexcept {
        if (access_token.find('\0') == std::string::npos) {
            criteo_token_source_reject(handle_.get(), access_token.c_str());
        }
    }

    /* Shares tokens with other processes through `directory`, or the
     * library's default directory (see criteo_token_source_set_store). */
    void set_store(const std::optional<std::string> &directory = std::nullopt) {
        criteo_error *failure = nullptr;
        criteo_status status = criteo_token_source_set_store(
            live(), detail::c_string(directory, "directory"), &failure);
        detail::check(status, failure);
    }

    /* Why the store does not work, or nothing when it does. */
    std::optional<error> store_error() const {
        criteo_error *failure = nullptr;
        criteo_status status = criteo_token_source_store_error(live(), &failure);
        detail::owner<criteo_error, criteo_error_free> owned(failure);
        if (status == CRITEO_OK) {
            return std::nullopt;
        }
        return error(status, owned.get());
    }

    void set_refresh_margin(std::chrono::seconds margin) {
        if (margin.count() < 0 || margin.count() > 86400) {
            throw error(CRITEO_ERR_INVALID_ARGUMENT, "refresh margin must be from 0 to 86400 s");
        }
        auto seconds = static_cast<std::uint32_t>(margin.count());
        detail::check(criteo_token_source_set_refresh_margin(live(), seconds), nullptr);
    }

    /*
     * Calls `callback` after every successful fetch with the new token
     * (borrowed for the call), on the thread that fetched: see
     * criteo_token_source_set_refresh_callback. An exception it throws
     * cannot cross the C library: it is caught and dropped, so catch
     * and report your own. A later call replaces the callback; the
     * replaced ones are kept until the source is destroyed, since one may
     * still be running on another thread.
     */
    void on_refresh(refresh_callback callback) {
        criteo_token_source *source = live();
        callbacks_.push_back(std::make_unique<refresh_callback>(std::move(callback)));
        criteo_token_source_set_refresh_callback(source, &call_back, callbacks_.back().get());
    }

    /* The C handle, for calls the wrapper lacks; NULL once moved from. */
    const criteo_token_source *handle() const noexcept { return handle_.get(); }

  private:
    /* The C handle for a call; a moved-from source throws instead. */
    criteo_token_source *live() const {
        if (handle_ == nullptr) {
            throw error(CRITEO_ERR_INVALID_ARGUMENT, "the criteo::token_source was moved from");
        }
        return handle_.get();
    }

  public:

  private:
    explicit token_source(criteo_token_source *raw) noexcept : handle_(raw) {}

    static token_source make_named(const client &through, const std::string &client_id,
                                   const std::string &client_secret, const std::string &name,
                                   const criteo_token *start) {
        criteo_token_source *raw = nullptr;
        criteo_error *failure = nullptr;
        criteo_status status = criteo_token_source_new_named(
            through.get(), detail::c_string(client_id, "client_id"),
            detail::c_string(client_secret, "client_secret"), detail::c_string(name, "name"), start, &raw,
            &failure);
        detail::check(status, failure);
        return token_source(raw);
    }

    static std::optional<token> optional(criteo_token *raw) {
        return raw == nullptr ? std::nullopt : std::optional<token>(token(raw));
    }

    static void call_back(void *user_data, const criteo_token *raw) noexcept {
        try {
            (*static_cast<refresh_callback *>(user_data))(token_view(raw));
        } catch (...) {
            // Dropped: an exception must not unwind through C.
        }
    }

    // Declared first, destroyed last: after the source, whose free waits
    // for a callback running on the library's thread.
    std::vector<std::unique_ptr<refresh_callback>> callbacks_;
    detail::owner<criteo_token_source, criteo_token_source_free> handle_;
};

}  // namespace criteo

#endif /* CRITEO_OAUTH_HPP */
