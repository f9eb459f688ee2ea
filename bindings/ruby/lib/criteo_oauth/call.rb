# frozen_string_literal: true

module CriteoOAuth
  # A blocking C call run on a thread of its own (internal), so that the
  # calling thread waits in Ruby, where Timeout, Thread#raise, Thread#kill
  # and Interrupt reach it at once. Any number of threads may wait for one
  # call. An abandoned call runs to its end, within the client's time
  # limits, and nobody sees its result.
  class Call
    def initialize(&work)
      @thread = Thread.new do
        [work.call, nil]
      rescue Exception => e # rubocop:disable Lint/RescueException -- raised again in every waiting thread
        [nil, e]
      end
      @thread.name = "criteo_oauth call"
    end

    # The call's result, or its exception raised in this thread.
    def value
      result, error = @thread.value
      raise error if error

      result
    end

    def done?
      !@thread.alive?
    end
  end
end
