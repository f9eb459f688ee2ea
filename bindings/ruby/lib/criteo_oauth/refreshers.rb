# frozen_string_literal: true

module CriteoOAuth
  # Carries the C library's refresh callbacks to the token sources (internal).
  # One FFI function serves every source and lives as long as the process:
  # a fetch on the library's own thread may call back after its source was
  # closed or garbage-collected, and must then find live code that finds no
  # source. Sources are held weakly, by number.
  module Refreshers
    @sources = ObjectSpace::WeakMap.new
    @lock = Mutex.new
    @last_number = 0

    FUNCTION = FFI::Function.new(:void, %i[pointer pointer]) do |user_data, token|
      source = @lock.synchronize { @sources[user_data.address] }
      source&.__send__(:refreshed, Token.copy(token))
    end

    # The user_data that leads FUNCTION to this source.
    def self.register(source)
      @lock.synchronize do
        @last_number += 1
        @sources[@last_number] = source
        FFI::Pointer.new(@last_number)
      end
    end
  end
end
