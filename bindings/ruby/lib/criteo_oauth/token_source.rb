# frozen_string_literal: true

module CriteoOAuth
  # A valid token whenever asked, from any number of threads: caches the
  # token, refreshes it before it expires, one fetch at a time. The fetch
  # runs on a thread of the library's own; the threads that want its token
  # wait for it, and can be interrupted meanwhile. Freed by #close, or when
  # garbage-collected.
  class TokenSource
    include Closable

    # client: a Client, or nil for the library's default client. The
    # source keeps its own reference to it.
    def initialize(client: nil, grant_type:, client_id:, client_secret:, redirect_uri: nil, code: nil,
                   refresh_token: nil)
      strings = Request.strings(grant_type: grant_type, client_id: client_id, client_secret: client_secret,
                                redirect_uri: redirect_uri, code: code, refresh_token: refresh_token)
      pointer = with_client_pointer(client) do |client_pointer|
        Native.call_with_out(:criteo_token_source_new, client_pointer, *strings)
      end
      @handle = Handle.new("token source", pointer, Native.method(:criteo_token_source_free))
      @refresh_lock = Mutex.new
      @refresh_failure = nil
    end

    # A valid token (frozen): the cached one at once, or the one the fetch
    # under way brings. Raises CriteoOAuth::Error when none can be had, or
    # what the on_refresh block raised. Timeout, Thread#raise, Thread#kill
    # and Interrupt stop the wait within a few tens of milliseconds; the
    # fetch goes on, within the client's time limits, and its token is
    # cached for the next call.
    def token
      token = @handle.use(interruptible: true) { |pointer| Native.wait_for_token(pointer) }
      failure = @refresh_lock.synchronize { @refresh_failure.tap { @refresh_failure = nil } }
      raise failure if failure

      token
    end

    # Drops the cached token, after the API answered 401 to it.
    def invalidate
      @handle.use { |pointer| Native.criteo_token_source_invalidate(pointer) }
      nil
    end

    # Refresh this many seconds before expiry (0 to 86400).
    def refresh_margin=(seconds)
      seconds = Integer(seconds)
      raise InvalidArgument.new("refresh margin must be 0 to 86400 seconds", status: 1) unless seconds.between?(0, 86_400)

      @handle.use { |pointer| Native.criteo_token_source_set_refresh_margin(pointer, seconds) }
    end

    # Calls the block with every token fetched from then on (e.g. to
    # persist a rotated refresh_token), one call at a time, in the order
    # of the fetches, before the threads waiting for that fetch get the
    # token; it runs on a thread of the ffi gem's. It may call #token
    # (answered with the token it was given, even one that came already
    # expired). It is never called once #close has returned. If it raises, the next #token call
    # raises the same exception; the token stays cached. Without a block,
    # removes it.
    def on_refresh(&block)
      @on_refresh = block
      @handle.use do |pointer|
        @refresh_key ||= Refreshers.register(self)
        Native.criteo_token_source_set_refresh_callback(pointer, Refreshers::FUNCTION, @refresh_key)
      end
      nil
    end

    private

    def with_client_pointer(client, &block)
      return yield(nil) if client.nil?

      client.__send__(:handle).use(&block)
    end

    # Called back from C through Refreshers: an exception must not unwind
    # through C, so it is kept for #token to raise.
    def refreshed(token)
      @on_refresh&.call(token)
    rescue Exception => e # rubocop:disable Lint/RescueException -- raised again by #token
      @refresh_lock.synchronize { @refresh_failure = e }
    end
  end
end
