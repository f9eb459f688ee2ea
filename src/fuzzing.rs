//! Entry points for the fuzz targets in `fuzz/`, built only with
//! `--cfg fuzzing` (which cargo fuzz sets); not part of the library.

use crate::error::Error;
use crate::response::{Answer, AnswerBody, interpret};
use crate::sanitize::Redactor;
use crate::token::Token;

/// What the client makes of a complete answer, as `Client::get_token` does
/// once the body is read.
pub fn interpret_answer(
    status: u16,
    retry_after: Option<&str>,
    location: Option<&str>,
    body: &[u8],
    secrets: &[&str],
) -> Result<Token, Error> {
    let answer = Answer {
        status,
        retry_after,
        location,
        body: AnswerBody::Complete(body.to_vec().into()),
    };
    interpret(&answer, &Redactor::new(secrets.iter().copied()))
}

/// What a token source makes of a file in its store: never a panic, and a
/// record it accepts survives being written out and read again.
pub fn read_store_record(bytes: &[u8]) -> bool {
    let first = crate::request::TokenRequest::new(&crate::request::TokenRequestFields {
        grant_type: "refresh_token",
        client_id: "fuzz",
        client_secret: "fuzz secret",
        refresh_token: Some("rt-0"),
        ..Default::default()
    })
    .expect("a valid request");
    crate::source::shared::read_back_record(bytes, "fuzz-lineage", &first)
}

/// What the Redis store makes of a server's replies: the replies read one
/// after the other until one fails, never a panic, never more memory than
/// the protocol's limits allow.
pub fn read_redis_replies(bytes: &[u8]) -> usize {
    crate::redis::read_replies(bytes)
}
