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
    #
    # store: shares the token with every source of the same lineage (host,
    # grant, client_id, client_secret, and the code or refresh token it was
    # made with) that uses the same store, in this process or any other
    # (Ruby, Go, C, the criteo-token command): one cached token and one
    # fetch at a time for all of them, and rotated refresh tokens no
    # process loses.
    # - nil or false (the default): no store; the token is this source's.
    # - true: the default: the store $CRITEO_OAUTH_STORE names when it is
    #   set and not empty, else $XDG_RUNTIME_DIR/criteo-oauth (when
    #   XDG_RUNTIME_DIR names an existing directory by an absolute path),
    #   else /tmp/criteo-oauth-<uid>; criteo-token uses it.
    # - a String (or Pathname): that directory, or a Redis URL shared by
    #   the hosts of a fleet, redis://[[user]:password@]host[:port][/db]
    #   [?prefix=P] or rediss:// for TLS (its password never appears in an
    #   error). "" raises InvalidArgument (it never means the default).
    # A directory is created (mode 0700) when missing; one that is a
    # symbolic link, owned by another user, or open to group or others,
    # and a URL that cannot be read, raise InvalidArgument saying why.
    # Records are sealed (AES-256-GCM under a key derived from the client
    # secret). A store that stops working later (a full disk, Redis down)
    # never makes #token fail: see #store_error.
    def initialize(client: nil, grant_type:, client_id:, client_secret:, redirect_uri: nil, code: nil,
                   refresh_token: nil, store: nil)
      strings = Request.strings(grant_type: grant_type, client_id: client_id, client_secret: client_secret,
                                redirect_uri: redirect_uri, code: code, refresh_token: refresh_token)
      make(client, store) do |client_pointer|
        Native.call_with_out(:criteo_token_source_new, client_pointer, *strings)
      end
    end

    # A source for a named lineage: the refresh_token lineage that name
    # (e.g. "customer-42") names for client_id and client_secret, on the
    # client's host, in the source's store, rather than one that a code or
    # a refresh token starts. A program that works for many accounts names
    # each account's lineage, and finds it again in the store after a
    # restart without keeping any refresh token itself (criteo-token
    # login names its lineage "criteo-token"). client and store: as for
    # TokenSource.new.
    #
    # token: the Token to start the lineage from, as Consent#finish,
    # Client#get_token_pkce or Client#get_token (authorization_code)
    # returned it, with a refresh token: the source starts from the
    # library's own copy of it, so a Token made by hand, read from a
    # source or loaded by Marshal raises InvalidArgument. The source serves
    # it while it is valid, then renews it with its refresh token, rotating
    # as any source does. With a store, it is written there at once
    # (waiting within the client's time limit for another process that
    # holds the lineage), replacing what the store held under the name:
    # the lineage starts over from this token. When that write fails,
    # #store_error says why, and the token is written at the next fetch.
    #
    # token: nil: the lineage is taken from the store; #token raises
    # StoreError ("no token is stored under the name ...") while the store
    # holds nothing under the name, sending nothing, and #store_error stays
    # nil (the store works).
    #
    # client_secret is required (it keys and seals the store's record);
    # name must not be empty.
    def self.named(client: nil, client_id:, client_secret:, name:, token: nil, store: nil)
      allocate.tap { |source| source.__send__(:initialize_named, client, client_id, client_secret, name, token, store) }
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

    # Drops the cached token, whichever it is: the next #token fetches,
    # unless another process sharing the store has stored a newer one.
    # After an API 401, prefer #reject. With a store, the token is dropped
    # there too.
    def invalidate
      @handle.use { |pointer| Native.criteo_token_source_invalidate(pointer) }
      nil
    end

    # Drops the cached token if it is still access_token (a String), for
    # when the API answered 401 to it: the next #token fetches a new one,
    # unless another thread or process already has. Of many callers that
    # saw a 401 for the same token, the first causes one fetch and the
    # others reuse its token; a late 401 for a token already replaced
    # drops nothing. With a store, the token is dropped there too.
    #
    #   token = source.token
    #   response = http.request(request_with(token))
    #   source.reject(token.access_token) if response.code == "401"
    def reject(access_token)
      return nil if access_token.nil?

      access_token = String(access_token)
      # A NUL byte: no token the library has, and C would see it cut short.
      return nil if access_token.include?("\0")

      @handle.use { |pointer| Native.criteo_token_source_reject(pointer, access_token) }
      nil
    end

    # nil when the source has no store or its store's last operation
    # succeeded; else a CriteoOAuth::StoreError (not raised) telling why
    # the store failed, e.g. a write to a full disk. A store failure never
    # makes #token fail: the token is returned all the same, but other
    # processes do not see it until the store works again.
    def store_error
      error = FFI::MemoryPointer.new(:pointer)
      status = @handle.use { |pointer| Native.criteo_token_source_store_error(pointer, error) }
      status == Native::OK ? nil : Error.take(error.read_pointer)
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

    # This source's counters, in this process: {fetches:, fetch_failures:,
    # store_hits:} (fetches avoided because another process had stored a
    # token). Reading never slows #token.
    def stats
      @handle.use do |pointer|
        { fetches: 1, fetch_failures: 2, store_hits: 3 }.transform_values do |which|
          Native.criteo_token_source_stat(pointer, which)
        end
      end
    end

    private

    def initialize_named(client, client_id, client_secret, name, token, store)
      strings = { "client_id" => client_id, "client_secret" => client_secret, "name" => name }
                .map { |argument, value| Native.c_string(argument, value) }
      native = nil
      unless token.nil?
        native = token.__send__(:native) if token.is_a?(Token)
        if native.nil?
          raise InvalidArgument.new("token must be a Token that Consent#finish, Client#get_token_pkce or " \
                                    "Client#get_token returned, with a refresh token", status: 1)
        end
      end
      make(client, store) do |client_pointer|
        Native.call_with_out(:criteo_token_source_new_named, client_pointer, *strings, native)
      end
    end

    # Makes the C source (the block, given the client's pointer), then gives
    # it its store.
    def make(client, store)
      directory = store_directory(store)
      pointer = with_client_pointer(client) { |client_pointer| yield client_pointer }
      @handle = Handle.new("token source", pointer, Native.method(:criteo_token_source_free))
      # The C source keeps the client, so the client's trace lives on.
      @tracer = client&.__send__(:tracer)
      set_store(directory) if store
      @refresh_lock = Mutex.new
      @refresh_failure = nil
    end

    # The directory for criteo_token_source_set_store: nil for the default.
    def store_directory(store)
      case store
      when nil, false, true then nil
      when String then Native.c_string("store", store)
      when ->(path) { path.respond_to?(:to_path) } then Native.c_string("store", store.to_path)
      else raise InvalidArgument.new("store must be nil, false, true, a directory or a Redis URL", status: 1)
      end
    end

    # Gives the new source its store; closes it when the store is refused.
    def set_store(directory)
      error = FFI::MemoryPointer.new(:pointer)
      status = @handle.use { |pointer| Native.criteo_token_source_set_store(pointer, directory, error) }
      return if status == Native::OK

      close
      raise Error.take(error.read_pointer)
    end

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
