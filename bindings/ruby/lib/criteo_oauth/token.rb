# frozen_string_literal: true

module CriteoOAuth
  # An access token, copied into Ruby and frozen.
  Token = Struct.new(:access_token, :token_type, :refresh_token, :expires_in, :expires_at, keyword_init: true) do
    # The value for an Authorization header: "Bearer <access_token>".
    def authorization
      "Bearer #{access_token}"
    end

    def inspect
      "#<CriteoOAuth::Token #{token_type} expires_at=#{expires_at.inspect} access_token=[redacted]>"
    end
    alias_method :to_s, :inspect

    # True once the token has expired (false when its lifetime is unknown).
    def expired?
      !expires_at.nil? && Time.now >= expires_at
    end

    # Copies a criteo_token into Ruby and frees it.
    def self.take(pointer)
      copy(pointer)
    ensure
      Native.criteo_token_free(pointer)
    end

    # Copies a criteo_token from a Client or Consent call into Ruby. One
    # with a refresh token can start a named lineage (TokenSource.named),
    # which needs the library's own token: that one is kept with the Ruby
    # token (and its copies), and freed when they are collected. Any
    # other is freed at once.
    def self.keep(pointer)
      return take(pointer) if Native.criteo_token_refresh_token(pointer).nil?

      copy(pointer, NativeToken.new(pointer))
    end

    # Copies a criteo_token (borrowed) into Ruby.
    def self.copy(pointer, native = nil)
      expires_in = Native.criteo_token_expires_in(pointer)
      token = new(
        access_token: Native.criteo_token_access_token(pointer).freeze,
        token_type: Native.criteo_token_token_type(pointer).freeze,
        refresh_token: Native.criteo_token_refresh_token(pointer)&.freeze,
        expires_in: expires_in.negative? ? nil : expires_in,
        expires_at: expires_in.negative? ? nil : Time.at(Native.criteo_token_expires_at(pointer)).freeze
      )
      token.instance_variable_set(:@native, native) if native
      token.freeze
    end

    private

    # The library's own token, for TokenSource.named; nil for a token
    # made by hand, read from a source, or loaded by Marshal.
    def native
      @native&.pointer
    end
  end

  # A criteo_token kept with the Ruby token it was copied into (internal).
  # Marshal writes nothing of it: a loaded token has none.
  class NativeToken
    attr_reader :pointer

    def initialize(pointer)
      @pointer = FFI::AutoPointer.new(pointer, Native.method(:criteo_token_free))
    end

    def _dump(_level)
      ""
    end

    def self._load(_data)
      nil
    end
  end

  # The six strings of a token request, checked for Ruby-side mistakes.
  module Request
    module_function

    def strings(grant_type:, client_id:, client_secret:, redirect_uri: nil, code: nil, refresh_token: nil)
      {
        "grant_type" => grant_type, "client_id" => client_id, "client_secret" => client_secret,
        "redirect_uri" => redirect_uri, "code" => code, "refresh_token" => refresh_token
      }.map { |name, value| Native.c_string(name, value) }
    end
  end
end
