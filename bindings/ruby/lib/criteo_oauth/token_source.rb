# frozen_string_literal: true

module CriteoOAuth
  # A valid token whenever asked, from any number of threads: caches the
  # token, refreshes it before it expires, one fetch at a time.
  class TokenSource
    # client: a Client, or nil for the library's default client. The
    # source keeps its own reference to it.
    def initialize(client: nil, grant_type:, client_id:, client_secret:, redirect_uri: nil, code: nil,
                   refresh_token: nil)
      strings = Request.strings(grant_type: grant_type, client_id: client_id, client_secret: client_secret,
                                redirect_uri: redirect_uri, code: code, refresh_token: refresh_token)
      pointer = Native.call_with_out(:criteo_token_source_new, client&.handle, *strings)
      @handle = FFI::AutoPointer.new(pointer, Native.method(:criteo_token_source_free))
    end

    # A valid token (frozen); raises CriteoOAuth::Error when none can be had.
    def token
      Token.take(Native.call_with_out(:criteo_token_source_get, @handle))
    end

    # Drops the cached token, after the API answered 401 to it.
    def invalidate
      Native.criteo_token_source_invalidate(@handle)
    end

    # Refresh this many seconds before expiry (0 to 86400).
    def refresh_margin=(seconds)
      seconds = Integer(seconds)
      status = seconds.between?(0, 86_400) ? Native.criteo_token_source_set_refresh_margin(@handle, seconds) : 1
      raise InvalidArgument.new("refresh margin must be 0 to 86400 seconds", status: status) unless status == Native::OK
    end
  end
end
