Gem::Specification.new do |spec|
  spec.name = "criteo_oauth"
  spec.version = "0.1.0"
  spec.summary = "OAuth2 access tokens from Criteo's API, through libcriteo_oauth"
  spec.description = "Ruby binding (ffi) for libcriteo_oauth: get tokens, share a cached token source between threads."
  spec.authors = ["criteo-oauth developers"]
  spec.license = "Apache-2.0"
  spec.files = Dir["lib/**/*.rb"]
  spec.require_paths = ["lib"]
  spec.required_ruby_version = ">= 3.0"
  spec.add_dependency "ffi", ">= 1.15"
end
