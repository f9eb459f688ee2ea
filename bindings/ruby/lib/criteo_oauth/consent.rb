# frozen_string_literal: true

module CriteoOAuth
  # The user's consent step of the authorization code flow with PKCE (RFC
  # 7636): the link that sends the user to Criteo's consent page, and the
  # state and verifier its answer is checked and exchanged with. Safe to
  # share between threads; finished once (its code is single-use). Freed
  # (its state and verifier wiped) by #close, or when garbage-collected.
  #
  #   consent = CriteoOAuth::Consent.new(client: client, client_id: id,
  #                                      redirect_uri: "https://app.example/callback")
  #   redirect_to consent.url
  #   # ... the browser comes back to the callback:
  #   token = consent.finish(request.url, client_secret: secret)
  #
  # The state and verifier are secrets: an app that finishes the consent
  # in another process keeps them in its own session store, never in a URL
  # or a log, and exchanges the code with Client#get_token_pkce.
  class Consent
    include Closable

    # Draws a state and a PKCE verifier from the system's random source,
    # and makes the link to the client's consent page (Client.new's
    # consent_url:, by default https://consent.criteo.com/request) with
    # response_type=code, client_id, redirect_uri, the state, the
    # verifier's S256 code_challenge and code_challenge_method=S256.
    # Nothing is sent.
    #
    # client: a Client, or nil for the library's default client; #finish
    #   uses it, so it must not be closed before.
    # redirect_uri: where Criteo sends the user back, as registered for the
    #   app: an absolute URI (https://..., a loopback
    #   http://127.0.0.1:PORT/..., or an app's own scheme), no fragment.
    # Raises InvalidArgument for a refused argument, named.
    def initialize(client: nil, client_id:, redirect_uri:)
      strings = [Native.c_string("client_id", client_id), Native.c_string("redirect_uri", redirect_uri)]
      pointer = with_client_pointer(client) do |client_pointer|
        Native.call_with_out(:criteo_consent_new, client_pointer, *strings)
      end
      @client = client
      @handle = Handle.new("consent", pointer, Native.method(:criteo_consent_free))
    end

    # The link to send the user to (open it in a browser). It holds the
    # state, not the verifier.
    def url
      @handle.use { |pointer| Native.criteo_consent_url(pointer) }
    end

    # The consent's state (43 characters of base64url), for an app that
    # keeps it in its session to check the answer itself. A secret.
    def state
      @handle.use { |pointer| Native.criteo_consent_state(pointer) }
    end

    # The consent's PKCE verifier (43 characters of base64url), for an app
    # that exchanges the code elsewhere with Client#get_token_pkce. A
    # secret: whoever holds it and the code can get the tokens.
    def code_verifier
      @handle.use { |pointer| Native.criteo_consent_code_verifier(pointer) }
    end

    # Finishes the consent with redirect_url, the URL the user's browser
    # came back to (as the browser shows it; a fragment is ignored), then
    # exchanges its code for a token through the consent's client; returns
    # a frozen Token. client_secret: the app's secret, or nil for a public
    # client (one that cannot keep a secret), which sends none.
    #
    # Raises InvalidArgument, before anything is sent, for a URL that goes
    # elsewhere than the consent's redirect_uri, a parameter given twice, a
    # missing state or one that is not the consent's, an error answer
    # (#code gives the OAuth error, such as "access_denied" when the user
    # refused, and #description its description), a missing code, or a
    # consent finished already. No message holds the code, the state or
    # the verifier.
    #
    # Then the code is sent once, never retried (it is single-use), and the
    # consent is finished whatever the answer: a code that was used or
    # expired, or a verifier the server does not match, raises BadRequest
    # with code "invalid_grant". Timeout, Thread#raise, Thread#kill and
    # Interrupt stop the wait at once; the exchange ends in the background,
    # within the client's time limits, and its token is lost with the code.
    #
    # The token's refresh_token starts a refresh_token TokenSource; or,
    # given to TokenSource.named as it is, a named lineage in a store.
    def finish(redirect_url, client_secret: nil)
      strings = [Native.c_string("client_secret", client_secret), Native.c_string("redirect_url", redirect_url)]
      Native.in_background do
        with_client_pointer(@client) do |client_pointer|
          @handle.use do |pointer|
            Token.keep(Native.call_with_out(:criteo_consent_finish, client_pointer, pointer, *strings))
          end
        end
      end
    end

    # Never shows the state or the verifier.
    def inspect
      "#<CriteoOAuth::Consent#{' (closed)' if closed?}>"
    end
    alias to_s inspect

    private

    def with_client_pointer(client, &block)
      return yield(nil) if client.nil?

      client.__send__(:handle).use(&block)
    end
  end
end
