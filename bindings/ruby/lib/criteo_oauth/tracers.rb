# frozen_string_literal: true

module CriteoOAuth
  # One step of a call or fetch (see Client.new's trace:). kind is a
  # Symbol (:lookup, :connect, :tls, :request, :response, :retry, :fetch);
  # message one line that never holds a secret; elapsed the seconds since
  # its call (or, for :fetch, its fetch) began.
  Event = Struct.new(:kind, :message, :elapsed)

  # Carries the C library's trace callbacks to the clients' blocks or
  # Loggers (internal). One FFI function serves every client and lives as
  # long as the process: a fetch on the library's own thread may call back
  # after its client and sources are gone, and then finds no tracer. The
  # client and its sources hold their tracer; the registry holds it weakly.
  module Tracers
    KINDS = { 1 => :lookup, 2 => :connect, 3 => :tls, 4 => :request, 5 => :response, 6 => :retry,
              7 => :fetch }.freeze

    @tracers = ObjectSpace::WeakMap.new
    @lock = Mutex.new
    @last_number = 0

    FUNCTION = FFI::Function.new(:void, %i[pointer pointer]) do |user_data, event|
      tracer = @lock.synchronize { @tracers[user_data.address] }
      tracer&.call(Event.new(KINDS.fetch(Native.criteo_event_kind(event), :event),
                             Native.criteo_event_message(event).dup.force_encoding(Encoding::UTF_8),
                             Native.criteo_event_elapsed_us(event) / 1_000_000.0).freeze)
    end

    # A tracer for a block or a Logger (anything with #debug), and the
    # user_data that leads FUNCTION to it.
    def self.register(trace)
      tracer = Tracer.new(trace)
      @lock.synchronize do
        @last_number += 1
        @tracers[@last_number] = tracer
        [tracer, FFI::Pointer.new(@last_number)]
      end
    end

    # What a client's trace: is; exceptions it raises are dropped (they
    # must not unwind through the C library).
    class Tracer
      def initialize(trace)
        @trace = trace
      end

      def call(event)
        if @trace.respond_to?(:debug)
          @trace.debug("criteo-oauth #{event.kind}: #{event.message} (#{(event.elapsed * 1000).round(3)} ms)")
        else
          @trace.call(event)
        end
      rescue StandardError
        nil
      end
    end
  end
end
