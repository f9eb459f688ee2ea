# frozen_string_literal: true

require_relative "helper"
require "timeout"
require "rbconfig"

# Calls that can be interrupted, objects that can be closed, the refresh
# callback.
class LifecycleTest < Minitest::Test
  include TestHelpers

  # How soon an interrupted wait must end: generous for a loaded 2-core
  # machine, far below the slow scenarios' delays.
  PROMPTLY = 0.7

  def test_timeout_stops_the_wait_for_a_call
    slow = client("/scenario/slow-3000")
    started = now
    assert_raises(::Timeout::Error) { ::Timeout.timeout(0.3) { slow.get_token(**DEMO) } }
    assert_operator now - started, :<, 0.3 + PROMPTLY
  end

  def test_thread_kill_and_raise_stop_the_wait_for_a_call
    slow = client("/scenario/slow-3000")
    waiting = Thread.new { slow.get_token(**DEMO) }
    sleep 0.3
    started = now
    waiting.kill
    waiting.join
    assert_operator now - started, :<, PROMPTLY, "Thread#kill waited for the network"

    waiting = Thread.new { slow.get_token(**DEMO) }
    waiting.report_on_exception = false
    sleep 0.3
    started = now
    waiting.raise(RuntimeError, "stop")
    error = assert_raises(RuntimeError) { waiting.value }
    assert_equal "stop", error.message
    assert_operator now - started, :<, PROMPTLY, "Thread#raise waited for the network"
  end

  # Ctrl-C in a console: the Interrupt comes at once, and the process ends
  # without waiting for the abandoned call.
  def test_sigint_interrupts_a_call_and_the_process_exits
    script = <<~RUBY
      require "criteo_oauth"
      # A shell that started the suite in the background ignores SIGINT, and
      # so would this child: Ctrl-C in a console is what is tried here.
      trap("INT", "DEFAULT")
      client = CriteoOAuth::Client.new(host: ARGV[0], max_retries: 0, proxy: "")
      started = nil
      begin
        $stdout.puts "ready"
        $stdout.flush
        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        client.get_token(grant_type: "client_credentials", client_id: "demo-client", client_secret: "demo-secret")
        $stdout.puts "no interrupt"
      rescue Interrupt
        $stdout.puts format("interrupted after %.3f", Process.clock_gettime(Process::CLOCK_MONOTONIC) - started)
      end
    RUBY
    lib = File.expand_path("../lib", __dir__)
    IO.popen([RbConfig.ruby, "-I", lib, "-e", script, "#{TestServer.url}/scenario/slow-5000"], "r") do |io|
      assert_equal "ready", io.gets&.strip
      sleep 0.5
      signalled = now
      Process.kill("INT", io.pid)
      line = io.gets&.strip
      assert_match(/\Ainterrupted after/, line.to_s)
      assert_operator now - signalled, :<, PROMPTLY, line
      io.read
      Process.wait(io.pid)
      assert_operator now - signalled, :<, 2 * PROMPTLY, "the process waited for the abandoned call to exit"
    end
  end

  def test_an_abandoned_fetch_is_cached_for_the_next_call
    source = CriteoOAuth::TokenSource.new(client: client("/scenario/slow-3000"), **DEMO)
    started = now
    assert_raises(::Timeout::Error) { ::Timeout.timeout(0.3) { source.token } }
    assert_operator now - started, :<, 0.3 + PROMPTLY
    token = source.token
    # The abandoned fetch ends 3 s after it started; a new one would end
    # 3 s after this call.
    assert_operator now - started, :<, 5, "the abandoned fetch was not shared"
    assert_equal token, source.token
  end

  def test_close_is_idempotent_and_later_calls_raise
    shared = client
    source = CriteoOAuth::TokenSource.new(client: shared, **DEMO)
    shared.close
    shared.close
    assert shared.closed?
    error = assert_raises(CriteoOAuth::ClosedError) { shared.get_token(**DEMO) }
    assert_kind_of CriteoOAuth::Error, error
    assert_equal "the client is closed", error.message
    assert_raises(CriteoOAuth::ClosedError) { CriteoOAuth::TokenSource.new(client: shared, **DEMO) }
    assert source.token, "a source outlives its client"
    source.close
    source.close
    assert_raises(CriteoOAuth::ClosedError) { source.token }
    assert_raises(CriteoOAuth::ClosedError) { source.invalidate }
    assert_raises(CriteoOAuth::ClosedError) { source.refresh_margin = 10 }
    refute_respond_to shared, :handle
    refute_respond_to source, :handle
  end

  def test_closing_during_calls_never_crashes
    slow = client("/scenario/slow-1500")
    source = CriteoOAuth::TokenSource.new(client: slow, **DEMO)
    calls = [Thread.new { slow.get_token(**DEMO) }, Thread.new { source.token }]
    sleep 0.3
    started = now
    slow.close
    source.close
    assert_operator now - started, :<, 0.2, "close waited for the calls"
    calls.each { |call| assert_match(/\AeyJ/, call.value.access_token) }
    GC.start
    assert_raises(CriteoOAuth::ClosedError) { source.token }
  end

  def test_on_refresh_sees_every_rotated_token
    source = CriteoOAuth::TokenSource.new(client: client("/scenario/rotate"), grant_type: "authorization_code",
                                          client_id: "demo-client", client_secret: "demo-secret", code: "any",
                                          redirect_uri: "https://app.example/cb")
    seen = []
    inside = nil
    source.on_refresh do |token|
      seen << token.refresh_token
      inside = source.token
    end
    first = source.token
    assert_equal ["rt-1"], seen, "the block ran before #token returned"
    assert_equal first, inside
    source.invalidate
    source.token
    source.on_refresh
    source.invalidate
    source.token
    assert_equal %w[rt-1 rt-2], seen
  end

  # The ffi gem runs the block on a thread of its own: a #token from it is
  # answered with the token being announced, even one that came expired.
  def test_on_refresh_may_call_token_when_the_token_came_expired
    %w[/scenario/lives-0 /scenario/slow-1200-lives-1].each do |path|
      source = CriteoOAuth::TokenSource.new(client: client(path), **DEMO)
      inside = nil
      source.on_refresh { |_token| inside = source.token }
      first = Timeout.timeout(10) { source.token }
      assert_equal first, inside, path
      source.close
    end
  end

  # A fetch left to finish on the library's thread calls back after its
  # source was dropped and collected: the process must live on.
  def test_a_callback_after_the_source_was_collected_is_harmless
    script = <<~RUBY
      require "criteo_oauth"
      require "timeout"
      client = CriteoOAuth::Client.new(host: ARGV[0], max_retries: 0, proxy: "")
      20.times do |i|
        source = CriteoOAuth::TokenSource.new(client: client, grant_type: "client_credentials",
                                              client_id: "demo-client", client_secret: "demo-secret")
        source.on_refresh { |token| token.access_token }
        begin
          Timeout.timeout(0.05) { source.token }
        rescue Timeout::Error
          source.close if i.even?
        end
      end
      10.times do
        Array.new(10_000) { "x" * 100 }
        GC.start(full_mark: true, immediate_sweep: true)
      end
      sleep 1.5
      puts "survived"
    RUBY
    lib = File.expand_path("../lib", __dir__)
    output = IO.popen([RbConfig.ruby, "-I", lib, "-e", script, "#{TestServer.url}/scenario/slow-800"],
                      err: %i[child out], &:read)
    assert_equal "survived", output.lines.last&.strip, output
  end

  def test_an_exception_in_on_refresh_reaches_the_next_caller_once
    source = CriteoOAuth::TokenSource.new(client: client, **DEMO)
    source.on_refresh { |_token| raise IOError, "disk full" }
    error = assert_raises(IOError) { source.token }
    assert_equal "disk full", error.message
    assert_match(/\AeyJ/, source.token.access_token, "the token stayed cached")
  end

  def test_expired
    token = client.get_token(**DEMO)
    refute token.expired?
    assert CriteoOAuth::Token.new(access_token: "a", expires_at: Time.now - 1).expired?
    refute CriteoOAuth::Token.new(access_token: "a", expires_at: nil).expired?
  end
end
