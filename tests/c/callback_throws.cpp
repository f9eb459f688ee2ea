// callback_throws.cpp: a C++ exception that escapes the refresh callback
// ends the process with SIGABRT (the library is C to the callback: nothing
// may unwind through it), rather than leaving a source half-fetched.
//
// Usage: callback_throws URL   (must be killed by SIGABRT before the end)
#include <cstdio>
#include <stdexcept>

#include "criteo_oauth.h"

extern "C" void on_refresh(void *, const criteo_token *) {
    throw std::runtime_error("thrown from the refresh callback");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: callback_throws URL\n");
        return 2;
    }
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, argv[1]);
    criteo_client_builder_set_proxy(builder, "");
    criteo_client *client = nullptr;
    criteo_client_builder_build(builder, &client, nullptr);
    criteo_token_source *source = nullptr;
    criteo_token_source_new(client, "client_credentials", "demo-client", "demo-secret", nullptr,
                            nullptr, nullptr, &source, nullptr);
    criteo_token_source_set_refresh_callback(source, on_refresh, nullptr);
    criteo_token *token = nullptr;
    try {
        criteo_token_source_get(source, &token, nullptr);
    } catch (...) {
        std::printf("the exception came through the library\n");
        return 1;
    }
    std::printf("the call returned\n");
    return 1;
}
