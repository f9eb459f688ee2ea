# frozen_string_literal: true

require "ffi"

module CriteoOAuth
  # The C functions of libcriteo_oauth. Calls that may wait are attached
  # with blocking: true, so other Ruby threads run meanwhile.
  module Native
    extend FFI::Library

    # Where the library is: CRITEO_OAUTH_LIB when set (and not empty); otherwise on the
    # loader's path (the system's, LD_LIBRARY_PATH), then in the libdir
    # pkg-config gives for criteo-oauth (an install under another prefix,
    # with PKG_CONFIG_PATH set).
    def self.library_paths
      # Empty counts as unset, as in a shell's `CRITEO_OAUTH_LIB= ruby ...`.
      return [ENV["CRITEO_OAUTH_LIB"]] unless ENV.fetch("CRITEO_OAUTH_LIB", "").empty?

      libdir = begin
        IO.popen(%w[pkg-config --variable=libdir criteo-oauth], err: File::NULL, &:read).strip
      rescue SystemCallError
        ""
      end
      ["libcriteo_oauth.so.0", ("#{libdir}/libcriteo_oauth.so.0" unless libdir.empty?)].compact
    end

    # ffi's own LoadError lists the files tried but not how to make one
    # of them work.
    def self.load_library
      ffi_lib library_paths
    rescue LoadError => e
      raise LoadError, "libcriteo_oauth could not be loaded (#{e.message.lines.first&.strip}). " \
                       "Set CRITEO_OAUTH_LIB to the library's path (e.g. /usr/local/lib/libcriteo_oauth.so.0), " \
                       "or PKG_CONFIG_PATH to the directory of criteo-oauth.pc (PREFIX/lib/pkgconfig after " \
                       "make install), or install it where the system's loader looks (ldconfig, " \
                       "LD_LIBRARY_PATH); see the binding's README."
    end
    load_library

    typedef :uint32, :status
    typedef :pointer, :out

    attach_function :criteo_status_str, [:uint32], :string
    attach_function :criteo_version, [], :string

    attach_function :criteo_get_token,
                    %i[pointer string string string string string string out out], :status, blocking: true

    attach_function :criteo_token_access_token, [:pointer], :string
    attach_function :criteo_token_token_type, [:pointer], :string
    attach_function :criteo_token_refresh_token, [:pointer], :string
    attach_function :criteo_token_expires_in, [:pointer], :int64
    attach_function :criteo_token_expires_at, [:pointer], :int64
    attach_function :criteo_token_free, [:pointer], :void

    attach_function :criteo_error_status, [:pointer], :status
    attach_function :criteo_error_http_status, [:pointer], :uint16
    attach_function :criteo_error_code, [:pointer], :string
    attach_function :criteo_error_description, [:pointer], :string
    attach_function :criteo_error_uri, [:pointer], :string
    attach_function :criteo_error_message, [:pointer], :string
    attach_function :criteo_error_retry_after, [:pointer], :int64
    attach_function :criteo_error_free, [:pointer], :void

    attach_function :criteo_client_builder_new, [], :pointer
    attach_function :criteo_client_builder_set_host, %i[pointer string], :status
    attach_function :criteo_client_builder_set_consent_url, %i[pointer string], :status
    attach_function :criteo_client_builder_set_timeouts, %i[pointer uint32 uint32], :status
    attach_function :criteo_client_builder_set_max_retries, %i[pointer uint32], :status
    attach_function :criteo_client_builder_set_max_concurrent_requests, %i[pointer uint32], :status
    attach_function :criteo_client_builder_set_ca_file, %i[pointer string], :status
    attach_function :criteo_client_builder_set_proxy, %i[pointer string], :status
    attach_function :criteo_client_builder_set_user_agent, %i[pointer string], :status
    attach_function :criteo_client_builder_build, %i[pointer out out], :status, blocking: true
    attach_function :criteo_client_free, [:pointer], :void

    attach_function :criteo_token_source_new,
                    %i[pointer string string string string string string out out], :status
    attach_function :criteo_token_source_new_named, %i[pointer string string string pointer out out], :status
    attach_function :criteo_token_source_set_refresh_margin, %i[pointer uint32], :status
    attach_function :criteo_token_source_get, %i[pointer out out], :status, blocking: true
    attach_function :criteo_token_source_get_within, %i[pointer uint32 out out], :status, blocking: true
    callback :trace_callback, %i[pointer pointer], :void
    attach_function :criteo_client_builder_set_trace, %i[pointer trace_callback pointer], :status
    attach_function :criteo_event_kind, [:pointer], :uint32
    attach_function :criteo_event_message, [:pointer], :string
    attach_function :criteo_event_elapsed_us, [:pointer], :uint64
    attach_function :criteo_token_source_stat, %i[pointer uint32], :uint64

    callback :refresh_callback, %i[pointer pointer], :void
    attach_function :criteo_token_source_set_refresh_callback, %i[pointer refresh_callback pointer], :status
    attach_function :criteo_token_source_invalidate, [:pointer], :void
    # The store's calls never wait for a fetch; set_store may wait for the
    # store's lock, to write a named lineage's first token.
    attach_function :criteo_token_source_set_store, %i[pointer string out], :status, blocking: true
    attach_function :criteo_token_source_store_error, %i[pointer out], :status
    attach_function :criteo_token_source_reject, %i[pointer string], :void
    # Blocking: free waits for a refresh callback under way, which needs the GVL.
    attach_function :criteo_token_source_free, [:pointer], :void, blocking: true

    attach_function :criteo_consent_new, %i[pointer string string out out], :status
    attach_function :criteo_consent_url, [:pointer], :string
    attach_function :criteo_consent_state, [:pointer], :string
    attach_function :criteo_consent_code_verifier, [:pointer], :string
    attach_function :criteo_consent_finish, %i[pointer pointer string string out out], :status, blocking: true
    attach_function :criteo_consent_free, [:pointer], :void
    attach_function :criteo_get_token_pkce,
                    %i[pointer string string string string string out out], :status, blocking: true

    OK = 0

    module_function

    # Calls a function whose last two arguments are a result and an error
    # out-parameter; returns the result pointer or raises the error.
    def call_with_out(function, *args)
      result = FFI::MemoryPointer.new(:pointer)
      error = FFI::MemoryPointer.new(:pointer)
      status = public_send(function, *args, result, error)
      raise CriteoOAuth::Error.take(error.read_pointer) unless status == OK

      result.read_pointer
    end

    # How long one wait in C lasts: an interrupt waits at most this long.
    WAIT_SLICE_MS = 50

    # Waits for a token from a C source, in slices between which Timeout,
    # Thread#raise, Thread#kill and Interrupt reach the thread. The fetch
    # runs on the library's own thread: when the wait is abandoned, it ends
    # within the client's time limits, and its token is cached.
    # With keep, a token with a refresh token keeps the library's own (see
    # Token.keep).
    def wait_for_token(source, keep: false)
      loop do
        token = Thread.handle_interrupt(Object => :never) do
          found = call_with_out(:criteo_token_source_get_within, source, WAIT_SLICE_MS)
          (keep ? Token.keep(found) : Token.take(found)) unless found.null?
        end
        return token if token
      end
    end

    # The threads of in_background still running. An exit waits for them
    # (each ends within its client's time limits) in an at_exit handler:
    # Ruby's own end of the remaining threads would interrupt a thread
    # that is in C over and over, spinning a core until it returns.
    WORKERS = []
    WORKERS_LOCK = Mutex.new
    at_exit { WORKERS_LOCK.synchronize { WORKERS.dup }.each(&:join) }

    # Runs a call that sends a single-use code (it is never retried, and
    # the library has no form of it that waits in slices) on a thread of
    # its own, and returns what the block returns or raises what it
    # raises. Timeout, Thread#raise, Thread#kill and Interrupt stop the
    # wait at once; the call then ends in the background, within the
    # client's time limits, and its result is dropped. The block holds
    # the handles it uses for as long as it runs.
    def in_background(&block)
      # (Not interrupted between the thread's start and its entry in
      # WORKERS; the thread inherits the mask, and is never interrupted.)
      worker = Thread.handle_interrupt(Object => :never) do
        WORKERS_LOCK.synchronize do
          Thread.new do
            [block.call, nil]
          rescue Exception => e # rubocop:disable Lint/RescueException -- raised again by the caller
            [nil, e]
          ensure
            WORKERS_LOCK.synchronize { WORKERS.delete(Thread.current) }
          end.tap { |thread| WORKERS << thread }
        end
      end
      result, error = worker.value
      raise error if error

      result
    end

    # A Ruby string ready for C: nil stays nil (NULL); a NUL byte, which C
    # would cut the string at, is refused naming the argument.
    def c_string(name, value)
      return nil if value.nil?

      value = value.to_s
      raise InvalidArgument.new("#{name} contains a NUL byte", status: 1) if value.include?("\0")

      value
    end
  end
end
