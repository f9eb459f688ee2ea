# frozen_string_literal: true

require "timeout"

module CriteoOAuth
  # A failed call. #message is one readable line that never holds a secret.
  class Error < StandardError
    # The library's status code (Integer), e.g. 401.
    attr_reader :status
    # The HTTP status of the answer, or nil when no answer came.
    attr_reader :http_status
    # The OAuth error fields of the answer, or nil.
    attr_reader :code, :description, :uri
    # Seconds the server asked to wait (Retry-After), or nil.
    attr_reader :retry_after

    def initialize(message, status:, http_status: nil, code: nil, description: nil, uri: nil, retry_after: nil)
      super(message)
      @status = status
      @http_status = http_status
      @code = code
      @description = description
      @uri = uri
      @retry_after = retry_after
    end

    # Copies a criteo_error into Ruby, frees it, and returns the exception
    # of the class that matches its status.
    def self.take(pointer)
      status = Native.criteo_error_status(pointer)
      http_status = Native.criteo_error_http_status(pointer)
      retry_after = Native.criteo_error_retry_after(pointer)
      CLASSES.fetch(status, Error).new(
        Native.criteo_error_message(pointer),
        status: status,
        http_status: http_status.zero? ? nil : http_status,
        code: Native.criteo_error_code(pointer),
        description: Native.criteo_error_description(pointer),
        uri: Native.criteo_error_uri(pointer),
        retry_after: retry_after.negative? ? nil : retry_after
      )
    ensure
      Native.criteo_error_free(pointer)
    end
  end

  class InvalidArgument < Error; end
  # A call on a closed Client or TokenSource.
  class ClosedError < InvalidArgument; end
  class TransportError < Error; end
  # The library's time limit passed. It is a CriteoOAuth::Error, and also
  # a ::Timeout::Error to `rescue Timeout::Error` and to
  # `is_a?(Timeout::Error)`, so that code written for Ruby's own timeouts
  # (Timeout.timeout, Net::HTTP's) handles the library's too. (A class has
  # one superclass: ::Timeout::Error is not among its ancestors.)
  class Timeout < Error
    def is_a?(klass)
      klass.equal?(::Timeout::Error) || super
    end
    alias kind_of? is_a?
  end

  # Makes `rescue Timeout::Error` (which asks Timeout::Error.===) catch a
  # CriteoOAuth::Timeout; the subclasses of Timeout::Error are unchanged.
  module TimeoutErrorMatch
    def ===(other)
      (equal?(::Timeout::Error) && other.is_a?(CriteoOAuth::Timeout)) || super
    end
  end
  ::Timeout::Error.singleton_class.prepend(TimeoutErrorMatch)
  class TLSError < Error; end
  class InvalidResponse < Error; end
  class HTTPStatusError < Error; end
  class InternalError < Error; end
  # The store shared by processes could not be used (a full disk, a
  # removed directory): see TokenSource#store_error. Never raised by #token.
  class StoreError < Error; end
  class BadRequest < Error; end
  class Unauthorized < Error; end

  class Error
    CLASSES = {
      1 => InvalidArgument, 2 => TransportError, 3 => Timeout, 4 => TLSError, 5 => InvalidResponse,
      6 => HTTPStatusError, 7 => InternalError, 8 => StoreError, 400 => BadRequest, 401 => Unauthorized
    }.freeze
  end
end
