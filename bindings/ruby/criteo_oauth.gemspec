# gem build packs files relative to the current directory: build from this
# one, wherever the build was started (bundler is already here).
Dir.chdir(__dir__) unless File.identical?(Dir.pwd, __dir__)

Gem::Specification.new do |spec|
  spec.name = "criteo_oauth"
  spec.version = "0.1.0"
  spec.summary = "OAuth2 access tokens from Criteo's API, through libcriteo_oauth"
  spec.description = "Ruby binding (ffi) for libcriteo_oauth: get tokens, share a cached token source " \
                     "between threads, interrupt a wait, persist rotated refresh tokens."
  spec.authors = ["criteo-oauth developers"]
  spec.license = "Apache-2.0"
  spec.files = Dir["lib/**/*.rb", "README.md", "LICENSE"]
  spec.extra_rdoc_files = ["README.md"]
  spec.require_paths = ["lib"]
  spec.required_ruby_version = ">= 3.0"
  spec.add_dependency "ffi", ">= 1.15"
end
