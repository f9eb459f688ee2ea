/* Compiled with -std=c11 -Wall -Wextra -Wpedantic -Werror: the header must
 * be clean C11, and every declaration must match its use below. */
#include "criteo_oauth.h"

#include <stddef.h>

_Static_assert(CRITEO_OK == 0, "CRITEO_OK");
_Static_assert(CRITEO_ERR_INVALID_ARGUMENT == 1, "CRITEO_ERR_INVALID_ARGUMENT");
_Static_assert(CRITEO_ERR_TRANSPORT == 2, "CRITEO_ERR_TRANSPORT");
_Static_assert(CRITEO_ERR_TIMEOUT == 3, "CRITEO_ERR_TIMEOUT");
_Static_assert(CRITEO_ERR_TLS == 4, "CRITEO_ERR_TLS");
_Static_assert(CRITEO_ERR_INVALID_RESPONSE == 5, "CRITEO_ERR_INVALID_RESPONSE");
_Static_assert(CRITEO_ERR_HTTP_STATUS == 6, "CRITEO_ERR_HTTP_STATUS");
_Static_assert(CRITEO_ERR_INTERNAL == 7, "CRITEO_ERR_INTERNAL");
_Static_assert(CRITEO_ERR_BAD_REQUEST == 400, "CRITEO_ERR_BAD_REQUEST");
_Static_assert(CRITEO_ERR_UNAUTHORIZED == 401, "CRITEO_ERR_UNAUTHORIZED");
_Static_assert(sizeof(criteo_status) == 4, "criteo_status is a uint32_t");
_Static_assert(CRITEO_OAUTH_VERSION_MAJOR == 0 && CRITEO_OAUTH_VERSION_MINOR == 1 &&
                   CRITEO_OAUTH_VERSION_PATCH == 0,
               "version macros");

int main(void) {
    criteo_status (*get_token)(const criteo_client *, const char *, const char *, const char *,
                               const char *, const char *, const char *, criteo_token **,
                               criteo_error **) = criteo_get_token;
    const char *(*token_text)(const criteo_token *) = criteo_token_access_token;
    const char *(*error_text)(const criteo_error *) = criteo_error_message;
    int64_t (*expires)(const criteo_token *) = criteo_token_expires_at;
    uint16_t (*http_status)(const criteo_error *) = criteo_error_http_status;
    criteo_status (*build)(criteo_client_builder *, criteo_client **, criteo_error **) =
        criteo_client_builder_build;
    const char *(*status_str)(uint32_t) = criteo_status_str;
    return get_token == NULL || token_text == NULL || error_text == NULL || expires == NULL ||
           http_status == NULL || build == NULL || status_str == NULL;
}
