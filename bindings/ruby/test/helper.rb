# frozen_string_literal: true

require "minitest/autorun"
require "criteo_oauth"
require "fileutils"
require "tmpdir"

# Starts the project's test token server once for the whole run.
module TestServer
  PATH = ENV.fetch("CRITEO_TEST_SERVER", File.expand_path("../../../target/debug/criteo-test-server", __dir__))

  def self.url
    @url ||= begin
      @io = IO.popen([PATH], "r")
      Minitest.after_run { Process.kill("TERM", @io.pid) }
      @io.gets.strip
    end
  end
end

# What every test of the binding needs.
module TestHelpers
  DEMO = { grant_type: "client_credentials", client_id: "demo-client", client_secret: "demo-secret" }.freeze

  def client(path = "", **options)
    CriteoOAuth::Client.new(host: TestServer.url + path, max_retries: 0, proxy: "", **options)
  end

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end
end

# A directory of the test's own (@tmp, mode 0700) holding a store
# directory (@store), removed after the test.
module StoreDirectory
  def setup
    @tmp = Dir.mktmpdir("criteo-oauth-ruby")
    @store = File.join(@tmp, "store")
    Dir.mkdir(@store, 0o700)
  end

  def teardown
    FileUtils.remove_entry(@tmp)
  end
end
