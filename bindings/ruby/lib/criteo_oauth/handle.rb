# frozen_string_literal: true

module CriteoOAuth
  # A C object shared by the calls using it (internal). #close marks it
  # closed at once, and the object is freed when the last call using it
  # ends, so closing never frees memory a call is still reading. An object
  # never closed is freed by the garbage collector.
  class Handle
    def initialize(what, pointer, free)
      @what = what
      @pointer = FFI::AutoPointer.new(pointer, free)
      @lock = Mutex.new
      @users = 0
      @closed = false
    end

    # Yields the C pointer for one call; raises ClosedError once closed.
    # Interrupts (Timeout, Thread#raise, Thread#kill) wait until the block
    # is done, unless it is interruptible: it then masks them itself
    # around each step that must not be cut short.
    def use(interruptible: false)
      Thread.handle_interrupt(Object => :never) do
        @lock.synchronize do
          raise ClosedError.new("the #{@what} is closed", status: 1) if @closed

          @users += 1
        end
        begin
          Thread.handle_interrupt(Object => interruptible ? :immediate : :never) { yield @pointer }
        ensure
          @lock.synchronize do
            @users -= 1
            free_if_done
          end
        end
      end
    end

    def close
      @lock.synchronize do
        @closed = true
        free_if_done
      end
      nil
    end

    def closed?
      @closed
    end

    private

    def free_if_done
      return unless @closed && @users.zero? && !@freed

      @freed = true
      @pointer.free
    end
  end

  # #close and #closed? of the objects that own a Handle in @handle.
  module Closable
    # Frees the C object once the calls under way have finished; returns
    # at once and may be called again. Later calls raise ClosedError.
    def close
      @handle.close
    end

    def closed?
      @handle.closed?
    end
  end
end
