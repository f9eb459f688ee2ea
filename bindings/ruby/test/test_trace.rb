# frozen_string_literal: true

require_relative "helper"
require "logger"
require "stringio"

class TestTrace < Minitest::Test
  include TestHelpers

  def test_a_block_is_told_each_step_without_the_secret
    events = Queue.new
    traced = client(trace: ->(event) { events << event })
    traced.get_token(**DEMO)
    kinds = []
    kinds << events.pop until events.empty?
    # get_token is one fetch of a source of its own.
    assert_equal %i[fetch request connect connect response fetch], kinds.map(&:kind)
    assert kinds.all? { |event| event.frozen? && event.elapsed >= 0 }
    refute kinds.any? { |event| event.message.include?(DEMO[:client_secret]) }
    assert_match(/\A200 OK, /, kinds.find { |event| event.kind == :response }.message)
  end

  def test_a_logger_gets_debug_lines_and_a_raising_block_is_contained
    log = StringIO.new
    client(trace: Logger.new(log)).get_token(**DEMO)
    assert_match(/criteo-oauth request: POST .*oauth2\/token, a form of \d+ bytes/, log.string)
    raising = client(trace: ->(_event) { raise "from the trace" })
    assert raising.get_token(**DEMO).access_token
  end

  def test_a_source_tells_its_fetches_and_counts_them
    events = Queue.new
    traced = client(trace: ->(event) { events << event })
    source = CriteoOAuth::TokenSource.new(client: traced, **DEMO)
    traced.close
    source.token
    messages = []
    messages << events.pop until events.empty?
    fetches = messages.select { |event| event.kind == :fetch }.map(&:message)
    assert_equal ["asking the server: no token yet", "a token from the server"], fetches
    assert_equal({ fetches: 1, fetch_failures: 0, store_hits: 0 }, source.stats)
  ensure
    source&.close
  end
end
