# frozen_string_literal: true

require_relative "helper"

class CriteoOAuthTest < Minitest::Test
  include TestHelpers

  def test_get_token
    token = client.get_token(**DEMO)
    assert token.frozen?
    assert_match(/\AeyJ/, token.access_token)
    assert_equal "Bearer", token.token_type
    assert_nil token.refresh_token
    assert_equal 900, token.expires_in
    assert_in_delta Time.now + 900, token.expires_at, 5
    assert_equal "Bearer #{token.access_token}", token.authorization
    refute_includes token.inspect, token.access_token
  end

  def test_unauthorized
    error = assert_raises(CriteoOAuth::Unauthorized) { client.get_token(**DEMO, client_secret: "wrong") }
    assert_kind_of CriteoOAuth::Error, error
    assert_equal [401, 401, "invalid_client", nil], [error.status, error.http_status, error.code, error.retry_after]
    assert_equal "POST #{TestServer.url}/oauth2/token answered 401 Unauthorized: invalid_client: " \
                 "client_id doesn't exist or the client_secret is invalid",
                 error.message
  end

  def test_bad_request
    error = assert_raises(CriteoOAuth::BadRequest) { client("/scenario/400-json").get_token(**DEMO) }
    assert_equal %w[invalid_grant https://developers.criteo.com/oauth], [error.code, error.uri]
    assert_equal "The authorization code has expired", error.description
  end

  def test_http_status_with_retry_after
    error = assert_raises(CriteoOAuth::HTTPStatusError) { client("/scenario/429").get_token(**DEMO) }
    assert_equal [429, 7], [error.http_status, error.retry_after]
  end

  def test_timeout
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    assert_raises(CriteoOAuth::Timeout) do
      client("/scenario/slow-3000", timeout: 0.5, connect_timeout: 0.2).get_token(**DEMO)
    end
    assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - started, :<, 2.5
  end

  # A timeout alone, under the default connect limit (10 s), is accepted:
  # connecting is then bounded by the timeout.
  def test_a_timeout_alone_under_the_default_connect_limit
    assert_raises(CriteoOAuth::Timeout) do
      client("/scenario/slow-3000", timeout: 0.5).get_token(**DEMO)
    end
  end

  # Code written for Ruby's own timeouts handles the library's too.
  def test_the_library_s_timeout_is_a_timeout_error
    slow = client("/scenario/slow-3000", timeout: 0.3)
    caught = begin
      slow.get_token(**DEMO)
    rescue ::Timeout::Error => e
      e
    end
    assert_instance_of CriteoOAuth::Timeout, caught
    assert_kind_of CriteoOAuth::Error, caught
    assert_kind_of ::Timeout::Error, caught
    assert_equal 3, caught.status
    # Only Timeout::Error itself: its subclasses and other classes still
    # catch what they did.
    require "net/http"
    refute Net::ReadTimeout === caught
    refute RuntimeError === caught
    assert ::Timeout::Error === ::Timeout::Error.new
    refute ::Timeout::Error === CriteoOAuth::TransportError.new("x", status: 2)
  end

  # Without the library, require says how it is found.
  def test_a_missing_library_is_a_load_error_that_says_how_to_find_it
    lib = File.expand_path("../lib", __dir__)
    output = IO.popen([{ "CRITEO_OAUTH_LIB" => "/nonexistent/libcriteo_oauth.so.0" }, RbConfig.ruby, "-I", lib,
                       "-e", 'begin; require "criteo_oauth"; rescue LoadError => e; puts e.message; end'], &:read)
    assert_match %r{\Alibcriteo_oauth could not be loaded \(Could not open library '/nonexistent/}, output
    %w[CRITEO_OAUTH_LIB PKG_CONFIG_PATH LD_LIBRARY_PATH].each { |name| assert_includes output, name }
  end

  # An empty CRITEO_OAUTH_LIB is unset: the usual search, then the usual message.
  def test_an_empty_library_variable_counts_as_unset
    lib = File.expand_path("../lib", __dir__)
    output = IO.popen([{ "CRITEO_OAUTH_LIB" => "", "LD_LIBRARY_PATH" => "", "PKG_CONFIG_PATH" => "/nonexistent" },
                       RbConfig.ruby, "-I", lib, "-e",
                       'begin; require "criteo_oauth"; puts "loaded"; rescue LoadError => e; puts e.message; end'],
                      &:read)
    assert_match(/\A(loaded|libcriteo_oauth could not be loaded .*CRITEO_OAUTH_LIB)/, output)
  end

  def test_bad_arguments
    error = assert_raises(CriteoOAuth::InvalidArgument) { client.get_token(**DEMO, client_id: "") }
    assert_equal "client_id must not be empty", error.message
    error = assert_raises(CriteoOAuth::InvalidArgument) { client.get_token(**DEMO, client_secret: "a\0b") }
    assert_equal "client_secret contains a NUL byte", error.message
    error = assert_raises(CriteoOAuth::InvalidArgument) { client.get_token(**DEMO, client_secret: "a\nb") }
    assert_equal "client_secret contains a control character (at byte 1)", error.message
    error = assert_raises(CriteoOAuth::InvalidArgument) { client.get_token(**DEMO, client_id: "\xff".b) }
    assert_equal "client_id is not valid UTF-8 (at byte 0)", error.message
    error = assert_raises(CriteoOAuth::InvalidArgument) { CriteoOAuth::Client.new(host: "http://api.criteo.com") }
    assert_match(/not loopback/, error.message)
    assert_raises(CriteoOAuth::InvalidArgument) { CriteoOAuth::Client.new(max_retries: 11) }
    [0, 1025].each do |max|
      error = assert_raises(CriteoOAuth::InvalidArgument) { CriteoOAuth::Client.new(max_concurrent_requests: max) }
      assert_match(/max_concurrent_requests \(#{max}\) must be from 1 to 1024/, error.message)
    end
    assert_raises(CriteoOAuth::InvalidArgument) { CriteoOAuth::Client.new(timeout: -1) }
  end

  def test_token_source
    source = CriteoOAuth::TokenSource.new(client: client, **DEMO)
    first = source.token
    assert_equal first, source.token
    source.invalidate
    refute_equal first.access_token, source.token.access_token
    assert_raises(CriteoOAuth::InvalidArgument) { source.refresh_margin = 90_000 }
    assert_raises(CriteoOAuth::InvalidArgument) { source.refresh_margin = -1 }
    source.refresh_margin = 30
    failing = CriteoOAuth::TokenSource.new(client: client("/scenario/401-json"), **DEMO)
    assert_raises(CriteoOAuth::Unauthorized) { failing.token }
  end

  def test_threads_share_one_client_and_one_source
    shared = client
    source = CriteoOAuth::TokenSource.new(client: shared, **DEMO)
    tokens = Queue.new
    threads = Array.new(16) do
      Thread.new do
        5.times do
          shared.get_token(**DEMO)
          tokens << source.token.access_token
        end
      end
    end
    threads.each(&:join)
    assert_equal 1, Array.new(tokens.size) { tokens.pop }.uniq.size
  end

  def test_other_threads_run_while_a_call_waits
    slow = client("/scenario/slow-2000")
    ticks = 0
    ticker = Thread.new do
      loop do
        ticks += 1
        sleep 0.01
      end
    end
    sleep 0.05
    before = ticks
    slow.get_token(**DEMO)
    during = ticks - before
    ticker.kill
    # About 200 ticks fit in 2 s; with the interpreter lock held, none would.
    assert_operator during, :>, 50, "the call held the interpreter lock"
  end

  def rss_kib
    File.read("/proc/self/status")[/VmRSS:\s+(\d+)/, 1].to_i
  end

  def test_gc_stress_over_10000_calls
    shared = client
    source = CriteoOAuth::TokenSource.new(client: shared, **DEMO)
    baseline = nil
    10_000.times do |i|
      source.token
      shared.get_token(**DEMO) if (i % 10).zero?
      if (i % 100).zero?
        # Handles made and dropped, for their finalizers to free.
        CriteoOAuth::TokenSource.new(client: client, **DEMO).token
        GC.start
      end
      baseline = rss_kib if i == 1_000
    end
    GC.start
    growth = rss_kib - baseline
    assert_operator growth, :<, 16 * 1024, "resident memory grew by #{growth} KiB"
  end

  def test_version
    assert_equal "0.1.0", CriteoOAuth::Native.criteo_version
  end
end
