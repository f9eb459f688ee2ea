//! criteo-oauth: OAuth2 access tokens from Criteo's API (`POST /oauth2/token`),
//! for C and every language that can call C.
//!
//! The Rust core (`client`, `request`, `response`, `token`, `error`) is plain
//! safe Rust; the C ABI lives in [`ffi`], a thin layer over it.

mod admission;
mod authority;
pub mod client;
pub mod clock;
mod connect;
pub mod consent;
mod descriptors;
mod encoded;
pub mod endpoint;
pub mod error;
mod escapes;
pub mod ffi;
#[cfg(fuzzing)]
pub mod fuzzing;
mod gate;
pub mod process;
pub mod proxy;
mod redis;
pub mod request;
mod resolver;
mod response;
mod retry;
mod sanitize;
pub mod secret;
pub mod source;
mod threads;
mod tls;
mod tls_session;
pub mod token;
pub mod trace;
mod transport;
mod unfold;

pub use client::{Client, ClientConfig};
pub use consent::Consent;
pub use error::{Error, ErrorKind, OAuthError};
pub use request::{PkceExchangeFields, TokenRequest, TokenRequestFields};
pub use secret::Secret;
pub use token::Token;
