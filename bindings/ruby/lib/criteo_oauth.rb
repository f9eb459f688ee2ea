# frozen_string_literal: true

# OAuth2 access tokens from Criteo's API, through libcriteo_oauth.
#
#   client = CriteoOAuth::Client.new(timeout: 10)
#   token = client.get_token(grant_type: "client_credentials", client_id: id, client_secret: secret)
#   request["Authorization"] = token.authorization
#
# Consent is the user's consent step (authorization code with PKCE), and
# TokenSource.named a lineage that a store keeps under a name.
#
# The library is found by CRITEO_OAUTH_LIB, then as libcriteo_oauth.so.0 on
# the loader's path, then in pkg-config's libdir for criteo-oauth.
module CriteoOAuth
end

require_relative "criteo_oauth/native"
require_relative "criteo_oauth/errors"
require_relative "criteo_oauth/handle"
require_relative "criteo_oauth/token"
require_relative "criteo_oauth/refreshers"
require_relative "criteo_oauth/tracers"
require_relative "criteo_oauth/client"
require_relative "criteo_oauth/token_source"
require_relative "criteo_oauth/consent"
