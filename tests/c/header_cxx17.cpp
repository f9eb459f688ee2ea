// Compiled with -std=c++17 -Wall -Wextra -Wpedantic -Werror: the header must
// be usable from C++ as is (extern "C", no C-only constructs).
#include "criteo_oauth.h"

#include <type_traits>

static_assert(std::is_same_v<criteo_status, uint32_t>, "criteo_status is a uint32_t");
static_assert(CRITEO_ERR_UNAUTHORIZED == 401, "status numbers are stable");
static_assert(std::is_same_v<decltype(&criteo_get_token),
                             criteo_status (*)(const criteo_client *, const char *, const char *,
                                               const char *, const char *, const char *, const char *,
                                               criteo_token **, criteo_error **)>,
              "criteo_get_token matches API.md");

int main() { return criteo_version() == nullptr; }
