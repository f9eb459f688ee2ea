# frozen_string_literal: true

module CriteoOAuth
  # A configured connection pool to the token endpoint; safe to share
  # between threads. Freed by #close, or when garbage-collected; token
  # sources made from it keep working after it is closed.
  class Client
    include Closable

    # host: the API's base URL (default https://api.criteo.com).
    # consent_url: where Consent sends the user, the consent page (default
    #   https://consent.criteo.com/request); for a sandbox or a test. Read
    #   as host is: https, or http to a loopback host, with no query.
    # timeout / connect_timeout: seconds for the whole call (retries
    #   included) and for connecting; nil keeps the defaults (30 s, and for
    #   connecting 10 s or the timeout when that is smaller).
    # ca_file: trust exactly this PEM bundle. proxy: an http:// proxy, or
    #   "" for none whatever the environment says. user_agent: your product
    #   token, sent first. max_retries: 0 to 10 (default 2).
    # max_concurrent_requests: how many token requests the client sends at
    #   once, from all its callers and sources (1 to 1024, default 8); the
    #   others wait their turn within their own time limits.
    # trace: a Logger (each step as a #debug line) or anything with #call
    #   (given a CriteoOAuth::Event), told every step of the client's calls
    #   and of its token sources' fetches, on the thread doing the work
    #   (the library's own for a refresh in the background); it must be
    #   quick and must not call this client or its sources. What it raises
    #   is dropped. A block works too: Client.new { |event| ... }.
    def initialize(host: nil, timeout: nil, connect_timeout: nil, ca_file: nil, proxy: nil, user_agent: nil,
                   max_retries: nil, max_concurrent_requests: nil, trace: nil, consent_url: nil, &block)
      builder = Native.criteo_client_builder_new
      trace ||= block
      if trace
        @tracer, key = Tracers.register(trace)
        Native.criteo_client_builder_set_trace(builder, Tracers::FUNCTION, key)
      end
      settings = { "base_url" => [:criteo_client_builder_set_host, host],
                   "consent_url" => [:criteo_client_builder_set_consent_url, consent_url],
                   "pem_path" => [:criteo_client_builder_set_ca_file, ca_file],
                   "proxy_url" => [:criteo_client_builder_set_proxy, proxy],
                   "user_agent" => [:criteo_client_builder_set_user_agent, user_agent] }
      begin
        settings.each do |name, (setter, value)|
          Native.public_send(setter, builder, Native.c_string(name, value)) unless value.nil?
        end
      rescue InvalidArgument
        Native.criteo_client_builder_free(builder)
        raise
      end
      Native.criteo_client_builder_set_timeouts(builder, milliseconds(connect_timeout), milliseconds(timeout))
      Native.criteo_client_builder_set_max_retries(builder, max_retries) unless max_retries.nil?
      unless max_concurrent_requests.nil?
        Native.criteo_client_builder_set_max_concurrent_requests(builder, max_concurrent_requests)
      end
      pointer = Native.call_with_out(:criteo_client_builder_build, builder)
      @handle = Handle.new("client", pointer, Native.method(:criteo_client_free))
    end

    # Asks the endpoint for a token; returns a frozen Token or raises a
    # CriteoOAuth::Error. Timeout, Thread#raise, Thread#kill and Interrupt
    # stop the wait within a few tens of milliseconds; the request itself
    # ends in the background, within the client's time limits. A token
    # with a refresh token (the authorization_code grant) can start a
    # named lineage: see TokenSource.named.
    def get_token(grant_type:, client_id:, client_secret:, redirect_uri: nil, code: nil, refresh_token: nil)
      strings = Request.strings(grant_type: grant_type, client_id: client_id, client_secret: client_secret,
                                redirect_uri: redirect_uri, code: code, refresh_token: refresh_token)
      # A new source's first fetch is exactly one request, and a source can
      # be waited for in slices.
      Thread.handle_interrupt(Object => :never) do
        source = @handle.use { |pointer| Native.call_with_out(:criteo_token_source_new, pointer, *strings) }
        begin
          Thread.handle_interrupt(Object => :immediate) { Native.wait_for_token(source, keep: true) }
        ensure
          Native.criteo_token_source_free(source)
        end
      end
    end

    # Exchanges an authorization code with its PKCE verifier (RFC 7636),
    # for an app that made the consent elsewhere (Consent.new in another
    # request of a web app, or on another host) and kept its
    # code_verifier; returns a frozen Token or raises a CriteoOAuth::Error.
    # redirect_uri is the consent's, exactly; client_secret nil means a
    # public client, which sends none; code_verifier is 43 to 128
    # characters of A-Z a-z 0-9 - . _ ~. The request is sent once and never
    # retried (a code is single-use): a code that was used or expired, or
    # a verifier that does not match, raises BadRequest with code
    # "invalid_grant". No message holds the secret, the code or the
    # verifier. Timeout, Thread#raise, Thread#kill and Interrupt stop the
    # wait at once; the exchange ends in the background, within the
    # client's time limits, and its token is lost with the code.
    #
    # The token's refresh_token starts a refresh_token TokenSource, or,
    # given to TokenSource.named as it is, a named lineage.
    def get_token_pkce(client_id:, redirect_uri:, code:, code_verifier:, client_secret: nil)
      strings = { "client_id" => client_id, "client_secret" => client_secret, "redirect_uri" => redirect_uri,
                  "code" => code, "code_verifier" => code_verifier }.map { |name, value| Native.c_string(name, value) }
      Native.in_background do
        @handle.use { |pointer| Token.keep(Native.call_with_out(:criteo_get_token_pkce, pointer, *strings)) }
      end
    end

    private

    # For TokenSource.new and Consent (internal): the handle, and the tracer a source
    # keeps alive while it may fetch.
    attr_reader :handle, :tracer

    def milliseconds(seconds)
      return 0 if seconds.nil?
      raise InvalidArgument.new("timeouts must be positive seconds", status: 1) unless seconds.positive?

      [(seconds * 1000).ceil, 0xFFFF_FFFF].min
    end
  end
end
