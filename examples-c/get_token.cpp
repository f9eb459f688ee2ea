// get_token.cpp: the C++17 quick start. The library's handles are owned by
// std::unique_ptr, so nothing leaks on any path; failures become exceptions.
//
// Environment: CRITEO_CLIENT_ID, CRITEO_CLIENT_SECRET (required),
// CRITEO_HOST (optional, default https://api.criteo.com).
//
// Build: c++ -std=c++17 get_token.cpp -lcriteo_oauth
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include "criteo_oauth.h"

namespace criteo {

template <typename T, void (*Free)(T *)>
struct Deleter {
    void operator()(T *handle) const { Free(handle); }
};

using ErrorPtr = std::unique_ptr<criteo_error, Deleter<criteo_error, criteo_error_free>>;
using TokenPtr = std::unique_ptr<criteo_token, Deleter<criteo_token, criteo_token_free>>;
using ClientPtr = std::unique_ptr<criteo_client, Deleter<criteo_client, criteo_client_free>>;
using BuilderPtr =
    std::unique_ptr<criteo_client_builder, Deleter<criteo_client_builder, criteo_client_builder_free>>;

// A failed call: the status code and the library's one-line message.
class Error : public std::runtime_error {
  public:
    Error(criteo_status status, const ErrorPtr &error)
        : std::runtime_error(criteo_error_message(error.get())), status_(status),
          http_status_(criteo_error_http_status(error.get())) {}
    criteo_status status() const { return status_; }
    std::uint16_t http_status() const { return http_status_; }

  private:
    criteo_status status_;
    std::uint16_t http_status_;
};

// A client for `host`, or the default client (an empty pointer) for nullptr.
ClientPtr make_client(const char *host) {
    if (host == nullptr) {
        return ClientPtr();
    }
    BuilderPtr builder(criteo_client_builder_new());
    criteo_client_builder_set_host(builder.get(), host);
    criteo_client *client = nullptr;
    criteo_error *raw_error = nullptr;
    // build consumes the builder whatever happens.
    criteo_status status = criteo_client_builder_build(builder.release(), &client, &raw_error);
    ErrorPtr error(raw_error);
    if (status != CRITEO_OK) {
        throw Error(status, error);
    }
    return ClientPtr(client);
}

TokenPtr client_credentials(const ClientPtr &client, const std::string &id, const std::string &secret) {
    criteo_token *token = nullptr;
    criteo_error *raw_error = nullptr;
    criteo_status status = criteo_get_token(client.get(), "client_credentials", id.c_str(), secret.c_str(),
                                            nullptr, nullptr, nullptr, &token, &raw_error);
    ErrorPtr error(raw_error);
    if (status != CRITEO_OK) {
        throw Error(status, error);
    }
    return TokenPtr(token);
}

}  // namespace criteo

int main() {
    const char *id = std::getenv("CRITEO_CLIENT_ID");
    const char *secret = std::getenv("CRITEO_CLIENT_SECRET");
    if (id == nullptr || secret == nullptr) {
        std::cerr << "set CRITEO_CLIENT_ID and CRITEO_CLIENT_SECRET\n";
        return 2;
    }
    try {
        criteo::ClientPtr client = criteo::make_client(std::getenv("CRITEO_HOST"));
        criteo::TokenPtr token = criteo::client_credentials(client, id, secret);
        std::cout << "got a " << criteo_token_token_type(token.get()) << " token, expires in "
                  << criteo_token_expires_in(token.get()) << " s\n"
                  << "Authorization: " << criteo_token_authorization(token.get()) << "\n";
    } catch (const criteo::Error &error) {
        std::cerr << criteo_status_str(error.status()) << ": " << error.what() << "\n";
        return error.status() == CRITEO_ERR_INVALID_ARGUMENT ? 2 : 1;
    }
    return 0;
}
