# frozen_string_literal: true

require_relative "helper"
require "net/http"
require "timeout"
require "uri"

# The consent flow against the test server, which plays Criteo's consent
# page: GET /consent approves (302 to the redirect URI with a code and the
# state), GET /consent/deny refuses (302 with error=access_denied). These
# tests play the app and the user's browser. Also Client#get_token_pkce
# and TokenSource.named.
class ConsentTest < Minitest::Test
  include TestHelpers
  include StoreDirectory

  REDIRECT_URI = "http://127.0.0.1:9/callback"

  # A client whose consent page is the test server's path: "/consent"
  # approves, "/consent/deny" refuses.
  def consent_client(path = "/consent", **options)
    client(consent_url: TestServer.url + path, **options)
  end

  def consent(client_id = "demo-client", through: consent_client)
    CriteoOAuth::Consent.new(client: through, client_id: client_id, redirect_uri: REDIRECT_URI)
  end

  # The user's browser: GETs link, follows no redirect, and returns where
  # the consent page sends it back (the Location header).
  def browse(link)
    uri = URI(link)
    response = Net::HTTP.start(uri.host, uri.port, nil) { |http| http.get(uri.request_uri) }
    assert_equal "302", response.code, response.body
    response["Location"]
  end

  def parameter(url, name)
    URI.decode_www_form(URI(url).query).to_h[name]
  end

  # url with its parameter name set to value.
  def with_parameter(url, name, value)
    uri = URI(url)
    uri.query = URI.encode_www_form(URI.decode_www_form(uri.query).to_h.merge(name => value))
    uri.to_s
  end

  # How many token requests client_id made, as the test server counts them.
  def fetches(client_id)
    uri = URI(TestServer.url)
    Net::HTTP.start(uri.host, uri.port, nil) { |http| Integer(http.get("/count/#{client_id}").body) }
  end

  def test_the_link
    made = consent
    state = made.state
    verifier = made.code_verifier
    assert_equal [43, 43], [state.size, verifier.size]
    assert made.url.start_with?("#{TestServer.url}/consent?response_type=code&client_id=demo-client&redirect_uri=" \
                                "#{URI.encode_www_form_component(REDIRECT_URI)}&state=#{state}&code_challenge="),
           made.url
    assert made.url.end_with?("&code_challenge_method=S256")
    refute_includes made.url, verifier
    other = consent
    refute_equal [state, verifier], [other.state, other.code_verifier]
    refute_includes made.inspect, state
  end

  def test_finish_with_the_secret
    through = consent_client
    made = consent(through: through)
    back = browse(made.url)
    assert_equal made.state, parameter(back, "state")
    before = fetches("demo-client")
    token = made.finish(back, client_secret: "demo-secret")
    assert token.frozen?
    assert_match(/\AeyJ/, token.access_token)
    assert_match(/\Art-consent-/, token.refresh_token)
    assert_equal 1, fetches("demo-client") - before

    # Finished: its code is single-use, and nothing more is sent.
    error = assert_raises(CriteoOAuth::InvalidArgument) { made.finish(back, client_secret: "demo-secret") }
    assert_match(/finished already/, error.message)
    assert_equal 1, fetches("demo-client") - before

    # The refresh token starts a refresh_token source.
    source = CriteoOAuth::TokenSource.new(client: through, grant_type: "refresh_token", client_id: "demo-client",
                                          client_secret: "demo-secret", refresh_token: token.refresh_token)
    refute_equal token.access_token, source.token.access_token

    made.close
    made.close
    assert made.closed?
    assert_raises(CriteoOAuth::ClosedError) { made.finish(back, client_secret: "demo-secret") }
    assert_raises(CriteoOAuth::ClosedError) { made.url }
  end

  def test_a_public_client
    client_id = "ruby-public-#{name}"
    made = consent(client_id)
    token = made.finish(browse(made.url))
    refute_nil token.access_token
    refute_nil token.refresh_token
    assert_equal 1, fetches(client_id)
  end

  def test_a_denied_consent
    client_id = "ruby-denied-#{name}"
    made = consent(client_id, through: consent_client("/consent/deny"))
    back = browse(made.url)
    assert_equal "access_denied", parameter(back, "error")
    error = assert_raises(CriteoOAuth::InvalidArgument) { made.finish(back) }
    assert_equal ["access_denied", 1, nil], [error.code, error.status, error.http_status]
    refute_nil error.description
    assert_equal 0, fetches(client_id)
  end

  def test_another_state_is_refused
    client_id = "ruby-state-#{name}"
    made = consent(client_id)
    back = browse(made.url)
    { "another state" => with_parameter(back, "state", "forged-state-of-another-consent-aaaaaaaaaaa"),
      "an empty state" => with_parameter(back, "state", ""),
      "another redirect URI" => back.sub("127.0.0.1:9/", "127.0.0.1:10/") }.each do |what, forged|
      error = assert_raises(CriteoOAuth::InvalidArgument, what) { made.finish(forged) }
      refute_includes error.message, made.state, what
    end
    assert_equal 0, fetches(client_id)
    refute_nil made.finish(back).access_token # the genuine answer still works
  end

  def test_get_token_pkce
    through = consent_client
    made = consent(through: through)
    code = parameter(browse(made.url), "code")
    made.close
    wrong = "w" * 64
    error = assert_raises(CriteoOAuth::BadRequest) do
      through.get_token_pkce(client_id: "demo-client", client_secret: "demo-secret", redirect_uri: REDIRECT_URI,
                             code: code, code_verifier: wrong)
    end
    assert_equal [400, 400, "invalid_grant"], [error.status, error.http_status, error.code]
    refute_includes error.message, code
    refute_includes error.message, wrong

    made = consent(through: through)
    verifier = made.code_verifier # what a web app keeps in its session
    code = parameter(browse(made.url), "code")
    token = through.get_token_pkce(client_id: "demo-client", client_secret: "demo-secret",
                                   redirect_uri: REDIRECT_URI, code: code, code_verifier: verifier)
    refute_nil token.refresh_token

    error = assert_raises(CriteoOAuth::InvalidArgument) do
      through.get_token_pkce(client_id: "demo-client", redirect_uri: REDIRECT_URI, code: code, code_verifier: "short")
    end
    assert_match(/code_verifier/, error.message)
    error = assert_raises(CriteoOAuth::InvalidArgument) do
      through.get_token_pkce(client_id: "demo-client", redirect_uri: REDIRECT_URI, code: "a\0b", code_verifier: verifier)
    end
    assert_equal "code contains a NUL byte", error.message
  end

  # The exchange runs on a thread of its own: Timeout stops the wait at once.
  def test_timeout_stops_the_wait_for_an_exchange
    slow = client("/scenario/slow-3000")
    started = now
    assert_raises(::Timeout::Error) do
      ::Timeout.timeout(0.3) do
        slow.get_token_pkce(client_id: "demo-client", redirect_uri: REDIRECT_URI, code: "c", code_verifier: "v" * 43)
      end
    end
    assert_operator now - started, :<, 1.0
  end

  def test_arguments
    through = consent_client
    error = assert_raises(CriteoOAuth::InvalidArgument) { consent("") }
    assert_match(/client_id/, error.message)
    error = assert_raises(CriteoOAuth::InvalidArgument) do
      CriteoOAuth::Consent.new(client: through, client_id: "id", redirect_uri: "/callback")
    end
    assert_match(/redirect_uri/, error.message)
    error = assert_raises(CriteoOAuth::InvalidArgument) { consent("id\0") }
    assert_equal "client_id contains a NUL byte", error.message
    ["", "http://consent.example/request", "#{TestServer.url}/consent?x=1"].each do |url|
      error = assert_raises(CriteoOAuth::InvalidArgument, url) { CriteoOAuth::Client.new(consent_url: url) }
      assert_match(/consent_url/, error.message)
    end
    # The default client, and its consent page.
    made = CriteoOAuth::Consent.new(client_id: "id", redirect_uri: "https://app.example/callback")
    assert made.url.start_with?("https://consent.criteo.com/request?response_type=code&client_id=id&"), made.url
    # A consent whose client was closed.
    closing = consent_client
    made = consent(through: closing)
    back = browse(made.url)
    closing.close
    assert_raises(CriteoOAuth::ClosedError) { made.finish(back, client_secret: "demo-secret") }
  end

  def test_a_named_source_started_from_the_finished_token
    through = consent_client
    made = consent(through: through)
    token = made.finish(browse(made.url), client_secret: "demo-secret")
    lineage = { client: through, client_id: "demo-client", client_secret: "demo-secret", name: "customer-#{name}",
                store: @store }
    before = fetches("demo-client")

    started = CriteoOAuth::TokenSource.named(**lineage, token: token)
    assert_nil started.store_error
    assert_equal token.access_token, started.token.access_token

    # A second source of the lineage, from the store alone.
    found = CriteoOAuth::TokenSource.named(**lineage)
    assert_equal token.access_token, found.token.access_token
    assert_equal 0, fetches("demo-client") - before

    # It renews with the lineage's refresh token; the first source, once
    # the API refuses the old token, takes the renewed one from the store.
    found.invalidate
    renewed = found.token.access_token
    refute_equal token.access_token, renewed
    started.reject(token.access_token)
    assert_equal renewed, started.token.access_token
    assert_equal 1, fetches("demo-client") - before
    assert_nil found.store_error

    # A name the store holds nothing under: StoreError, nothing sent, and
    # the store itself works.
    nothing = CriteoOAuth::TokenSource.named(**lineage, name: "nothing-#{name}")
    assert_raises(CriteoOAuth::StoreError) { nothing.token }
    assert_nil nothing.store_error
    assert_equal 1, fetches("demo-client") - before
  end

  def test_named_source_arguments
    through = client
    lineage = { client: through, client_id: "demo-client", client_secret: "demo-secret", name: "n" }
    hand_made = CriteoOAuth::Token.new(access_token: "eyJ", token_type: "Bearer", refresh_token: "rt")
    assert_raises(CriteoOAuth::InvalidArgument) { CriteoOAuth::TokenSource.named(**lineage, token: hand_made) }
    assert_raises(CriteoOAuth::InvalidArgument) { CriteoOAuth::TokenSource.named(**lineage, token: "rt") }
    # A token without a refresh token cannot start a lineage.
    assert_raises(CriteoOAuth::InvalidArgument) do
      CriteoOAuth::TokenSource.named(**lineage, token: through.get_token(**DEMO))
    end
    error = assert_raises(CriteoOAuth::InvalidArgument) { CriteoOAuth::TokenSource.named(**lineage, name: "") }
    assert_match(/name/, error.message)
    assert_raises(CriteoOAuth::InvalidArgument) { CriteoOAuth::TokenSource.named(**lineage, client_secret: nil) }

    # A token from the authorization_code grant starts one, in memory;
    # a copy of it too, but not one loaded by Marshal.
    code = client("/scenario/rotate").get_token(grant_type: "authorization_code", client_id: "demo-client",
                                                client_secret: "demo-secret", code: "any",
                                                redirect_uri: "https://app.example/cb")
    assert_equal code.access_token, CriteoOAuth::TokenSource.named(**lineage, token: code.dup).token.access_token
    loaded = Marshal.load(Marshal.dump(code))
    assert_equal code, loaded
    assert_raises(CriteoOAuth::InvalidArgument) { CriteoOAuth::TokenSource.named(**lineage, token: loaded) }
  end
end
