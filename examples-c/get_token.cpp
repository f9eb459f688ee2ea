// get_token.cpp: the C++17 quick start, with criteo_oauth.hpp: every
// handle has an owner, so nothing leaks on any path; failures are thrown
// as criteo::error.
//
// Environment: CRITEO_CLIENT_ID, CRITEO_CLIENT_SECRET (required),
// CRITEO_HOST (optional, default https://api.criteo.com).
//
// Build: c++ -std=c++17 get_token.cpp $(pkg-config --cflags --libs criteo-oauth)
#include <cstdlib>
#include <iostream>

#include "criteo_oauth.hpp"

int main() {
    const char *id = std::getenv("CRITEO_CLIENT_ID");
    const char *secret = std::getenv("CRITEO_CLIENT_SECRET");
    if (id == nullptr || secret == nullptr) {
        std::cerr << "set CRITEO_CLIENT_ID and CRITEO_CLIENT_SECRET\n";
        return 2;
    }
    try {
        const char *host = std::getenv("CRITEO_HOST");
        // The default client, or one for CRITEO_HOST.
        criteo::client client = host == nullptr ? criteo::client() : criteo::client_builder().host(host).build();
        criteo::token token = client.get_token({"client_credentials", id, secret});
        std::cout << "got a " << token.token_type() << " token, expires in " << token.expires_in() << " s\n"
                  << "Authorization: " << token.authorization() << "\n";
    } catch (const criteo::error &error) {
        std::cerr << criteo_status_str(error.status()) << ": " << error.what() << "\n";
        return error.status() == CRITEO_ERR_INVALID_ARGUMENT ? 2 : 1;
    }
    return 0;
}
