# frozen_string_literal: true

require_relative "helper"
require "net/http"
require "pathname"

# Token sources sharing a store, #reject and #store_error.
class StoreTest < Minitest::Test
  include TestHelpers
  include StoreDirectory

  LIVES_900 = "/scenario/lives-900"

  # Credentials of this test alone, so that the server's count is its own.
  def request
    { grant_type: "client_credentials", client_id: "ruby-#{name}", client_secret: "store-secret" }
  end

  def source(path = LIVES_900, **options)
    CriteoOAuth::TokenSource.new(client: client(path), **request, **options)
  end

  # How many token requests client_id made, as the test server counts them.
  def fetches(client_id = request[:client_id])
    uri = URI(TestServer.url)
    Net::HTTP.start(uri.host, uri.port, nil) { |http| Integer(http.get("/count/#{client_id}").body) }
  end

  def test_two_sources_on_one_store_share_one_token
    a = source(store: @store)
    b = source(store: @store)
    assert_equal a.token.access_token, b.token.access_token
    assert_equal 1, fetches
    assert_nil a.store_error
    assert_nil b.store_error

    # Without a store (nil or false), no sharing.
    [source, source(store: false)].each { |alone| refute_equal a.token.access_token, alone.token.access_token }
    assert_equal 3, fetches
  end

  def test_reject_drops_only_the_token_it_names
    a = source(store: @store)
    b = source(store: @store)
    stale = a.token.access_token
    assert_equal stale, b.token.access_token
    assert_nil a.reject(stale)
    renewed = a.token.access_token
    refute_equal stale, renewed
    assert_equal 2, fetches
    # Late 401s for the stale token, in both sources: the renewed token
    # stays, and b takes it from the store.
    a.reject(stale)
    b.reject(stale)
    a.reject(nil)
    a.reject("#{renewed}\0")
    assert_equal [renewed, renewed], [a.token.access_token, b.token.access_token]
    assert_equal 2, fetches

    # Many threads that saw a 401 for the same token: one fetch.
    threads = Array.new(8) { |i| Thread.new { [a, b][i % 2].tap { |s| s.reject(renewed) }.token.access_token } }
    assert_equal 1, threads.map(&:value).uniq.size
    assert_equal 3, fetches
  end

  def test_store_options
    error = assert_raises(CriteoOAuth::InvalidArgument) { source(store: "") }
    assert_equal "store must not be empty", error.message
    error = assert_raises(CriteoOAuth::InvalidArgument) { source(store: "a\0b") }
    assert_equal "store contains a NUL byte", error.message
    assert_raises(CriteoOAuth::InvalidArgument) { source(store: 7) }
    open = File.join(@tmp, "open")
    Dir.mkdir(open)
    File.chmod(0o755, open)
    error = assert_raises(CriteoOAuth::InvalidArgument) { source(store: open) }
    assert_match(/open to group or others/, error.message)

    # true: $XDG_RUNTIME_DIR/criteo-oauth, made 0700; a Pathname works too.
    saved = ENV.fetch("XDG_RUNTIME_DIR", nil)
    ENV["XDG_RUNTIME_DIR"] = @tmp
    begin
      a = source(store: true)
      b = source(store: Pathname.new(File.join(@tmp, "criteo-oauth")))
      assert_equal a.token.access_token, b.token.access_token
    ensure
      ENV["XDG_RUNTIME_DIR"] = saved
    end
    assert_equal 1, fetches
    assert_equal 0o700, File.stat(File.join(@tmp, "criteo-oauth")).mode & 0o777
  end

  def test_store_error_reports_a_failed_store_without_failing_token
    a = source(store: @store)
    # A file where the directory was: a removed directory is made again.
    FileUtils.remove_entry(@store)
    File.write(@store, "not a directory")
    assert_match(/\AeyJ/, a.token.access_token)
    error = a.store_error
    assert_kind_of CriteoOAuth::StoreError, error
    assert_equal 8, error.status
    a.close
    assert_raises(CriteoOAuth::ClosedError) { a.store_error }
  end

  # A refresh token rotated by one source is the one the other presents:
  # strict-rotate answers 400 to a refresh token presented twice.
  def test_sources_on_one_store_share_rotated_refresh_tokens
    credentials = request.merge(grant_type: "refresh_token", refresh_token: "seed-#{name}-#{Process.pid}")
    a = CriteoOAuth::TokenSource.new(client: client("/scenario/strict-rotate"), **credentials, store: @store)
    b = CriteoOAuth::TokenSource.new(client: client("/scenario/strict-rotate"), **credentials, store: @store)
    a.reject(a.token.access_token)
    second = a.token.access_token
    assert_equal second, b.token.access_token
    b.reject(second)
    refute_equal second, b.token.access_token
    assert_equal 3, fetches
  end
end
