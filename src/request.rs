//! The token request: validated fields and their exact form encoding.

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};
use crate::sanitize::Redactor;
use crate::secret::Secret;

/// The arguments of `OAuthApi.get_token`, borrowed from the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenRequestFields<'a> {
    pub grant_type: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code: Option<&'a str>,
    pub refresh_token: Option<&'a str>,
}

/// The exchange of an authorization code with PKCE (RFC 7636), borrowed
/// from the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct PkceExchangeFields<'a> {
    pub client_id: &'a str,
    /// `None` for a public client, which has no secret.
    pub client_secret: Option<&'a str>,
    pub redirect_uri: &'a str,
    pub code: &'a str,
    pub code_verifier: &'a str,
}

/// A checked token request that owns its secrets. Its copies share them
/// (a source keeps a few: what it started from, what it sends next).
#[derive(Debug, Clone)]
pub struct TokenRequest(Arc<Fields>);

#[derive(Debug)]
struct Fields {
    grant_type: String,
    client_id: String,
    /// `None` only for a public client's PKCE exchange.
    client_secret: Option<Secret>,
    redirect_uri: Option<String>,
    code: Option<Secret>,
    refresh_token: Option<Secret>,
    code_verifier: Option<Secret>,
    /// For a source of a named lineage (see [`TokenRequest::named`]).
    lineage_name: Option<String>,
}

impl TokenRequest {
    /// Checks every field (present, not empty, no control character) and
    /// that the grant has what it needs.
    pub fn new(fields: &TokenRequestFields) -> Result<Self, Error> {
        #[cfg(feature = "test-panic")]
        assert!(
            fields.grant_type != "test-panic",
            "forced by the test-panic feature"
        );
        let request = TokenRequest(Arc::new(Fields {
            grant_type: checked("grant_type", fields.grant_type)?.to_owned(),
            client_id: checked("client_id", fields.client_id)?.to_owned(),
            client_secret: Some(Secret::new(checked("client_secret", fields.client_secret)?)),
            redirect_uri: checked_optional("redirect_uri", fields.redirect_uri)?.map(str::to_owned),
            code: checked_optional("code", fields.code)?.map(Secret::new),
            refresh_token: checked_optional("refresh_token", fields.refresh_token)?
                .map(Secret::new),
            code_verifier: None,
            lineage_name: None,
        }));
        request.check_grant_needs()?;
        Ok(request)
    }

    /// The `authorization_code` grant with a PKCE verifier: every field
    /// checked, the verifier as RFC 7636 §4.1 has it (43 to 128
    /// unreserved characters), the secret left out for a public client.
    pub fn pkce_exchange(fields: &PkceExchangeFields) -> Result<Self, Error> {
        let code_verifier = checked("code_verifier", fields.code_verifier)?;
        check_code_verifier(code_verifier)?;
        Ok(TokenRequest(Arc::new(Fields {
            grant_type: "authorization_code".into(),
            client_id: checked("client_id", fields.client_id)?.to_owned(),
            client_secret: checked_optional("client_secret", fields.client_secret)?
                .map(Secret::new),
            redirect_uri: Some(checked("redirect_uri", fields.redirect_uri)?.to_owned()),
            code: Some(Secret::new(checked("code", fields.code)?)),
            refresh_token: None,
            code_verifier: Some(Secret::new(code_verifier)),
            lineage_name: None,
        })))
    }

    /// The first request of a source of the lineage that `name` names
    /// for this client in its store, rather than one a code or refresh
    /// token starts: the `refresh_token` grant, with no refresh token to
    /// send until the lineage is given a token or found in the store.
    pub fn named(client_id: &str, client_secret: &str, name: &str) -> Result<Self, Error> {
        Ok(TokenRequest(Arc::new(Fields {
            grant_type: "refresh_token".into(),
            client_id: checked("client_id", client_id)?.to_owned(),
            client_secret: Some(Secret::new(checked("client_secret", client_secret)?)),
            redirect_uri: None,
            code: None,
            refresh_token: None,
            code_verifier: None,
            lineage_name: Some(checked("name", name)?.to_owned()),
        })))
    }

    /// Why this request cannot be sent: a named lineage's first request,
    /// before the lineage had a refresh token.
    pub(crate) fn unsendable(&self) -> Option<Error> {
        let name = self.0.lineage_name.as_deref()?;
        if self.0.refresh_token.is_some() {
            return None;
        }
        Some(Error::new(
            ErrorKind::Store,
            format!(
                "no token is stored under the name {name} for client_id {}: start the lineage \
                 with a token (criteo_token_source_new_named, or criteo-token login)",
                self.0.client_id
            ),
        ))
    }

    pub fn client_id(&self) -> &str {
        &self.0.client_id
    }

    /// True for a grant whose request must never reach the server twice:
    /// an authorization code is single-use.
    pub fn is_single_use(&self) -> bool {
        self.0.grant_type == "authorization_code"
    }

    /// True for grants renewed with a refresh token: `authorization_code`
    /// and `refresh_token` itself.
    pub fn renews_with_refresh_token(&self) -> bool {
        matches!(
            self.0.grant_type.as_str(),
            "authorization_code" | "refresh_token"
        )
    }

    /// The `refresh_token` grant for the same client, with `refresh_token`.
    pub fn refresh_with(&self, refresh_token: &Secret) -> TokenRequest {
        TokenRequest(Arc::new(Fields {
            grant_type: "refresh_token".into(),
            client_id: self.0.client_id.clone(),
            client_secret: self.0.client_secret.clone(),
            redirect_uri: None,
            code: None,
            refresh_token: Some(refresh_token.clone()),
            code_verifier: None,
            lineage_name: None,
        }))
    }

    /// The refresh token this request sends, if any.
    pub(crate) fn refresh_token(&self) -> Option<&Secret> {
        self.0.refresh_token.as_ref()
    }

    /// What makes the lineage of this request: the grant and client, and
    /// the code or refresh token it starts from, or its name (see
    /// `source::shared`).
    pub(crate) fn lineage_fields(&self) -> [&str; 5] {
        fn or_empty(secret: &Option<Secret>) -> &str {
            secret.as_ref().map_or("", Secret::expose)
        }
        if let Some(name) = &self.0.lineage_name {
            // No grant holds a control character: no other lineage's
            // fields are these.
            let client_secret = or_empty(&self.0.client_secret);
            return ["\u{1}named", &self.0.client_id, client_secret, "", name];
        }
        [
            &self.0.grant_type,
            &self.0.client_id,
            or_empty(&self.0.client_secret),
            or_empty(&self.0.code),
            or_empty(&self.0.refresh_token),
        ]
    }

    /// The body, in the order and encoding the reference SDK uses: WHATWG
    /// `application/x-www-form-urlencoded`.
    pub fn form_body(&self) -> Zeroizing<String> {
        let pairs = self.pairs();
        // Sized for the worst case (every byte percent-encoded) so the
        // buffer never reallocates and leaves a copy of a secret behind.
        let capacity = pairs
            .iter()
            .map(|(name, value)| name.len() + 3 * value.len() + 2)
            .sum();
        let mut serializer = form_urlencoded::Serializer::new(String::with_capacity(capacity));
        serializer.extend_pairs(pairs);
        Zeroizing::new(serializer.finish())
    }

    /// What keeps every secret of the request (and its client credentials
    /// as HTTP Basic would carry them) out of error messages.
    pub(crate) fn redactor(&self) -> Redactor {
        let redactor = Redactor::new(self.secrets());
        match &self.0.client_secret {
            Some(secret) => redactor.with_basic_credentials(&self.0.client_id, secret.expose()),
            None => redactor,
        }
    }

    /// Every secret of the request, so that nothing a server echoes can
    /// carry one into an error message.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        [
            self.0.client_secret.as_ref(),
            self.0.code.as_ref(),
            self.0.refresh_token.as_ref(),
            self.0.code_verifier.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(Secret::expose)
    }

    /// The reference SDK's order, then the PKCE verifier; absent fields
    /// are left out.
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        fn secret(secret: &Option<Secret>) -> Option<&str> {
            secret.as_ref().map(Secret::expose)
        }
        let fields = [
            ("grant_type", Some(self.0.grant_type.as_str())),
            ("client_id", Some(self.0.client_id.as_str())),
            ("client_secret", secret(&self.0.client_secret)),
            ("redirect_uri", self.0.redirect_uri.as_deref()),
            ("code", secret(&self.0.code)),
            ("refresh_token", secret(&self.0.refresh_token)),
            ("code_verifier", secret(&self.0.code_verifier)),
        ];
        fields
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?)))
            .collect()
    }

    fn check_grant_needs(&self) -> Result<(), Error> {
        let missing = match self.0.grant_type.as_str() {
            "authorization_code" if self.0.code.is_none() => "code",
            "refresh_token" if self.0.refresh_token.is_none() => "refresh_token",
            _ => return Ok(()),
        };
        Err(Error::invalid_argument(format!(
            "{missing} is required with grant_type {}",
            self.0.grant_type
        )))
    }
}

fn checked<'a>(name: &str, value: &'a str) -> Result<&'a str, Error> {
    if value.is_empty() {
        return Err(Error::invalid_argument(format!("{name} must not be empty")));
    }
    if let Some(position) = value.find(char::is_control) {
        return Err(Error::invalid_argument(format!(
            "{name} contains a control character (at byte {position})"
        )));
    }
    Ok(value)
}

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`.
fn check_code_verifier(verifier: &str) -> Result<(), Error> {
    let unreserved = |byte: u8| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
    if !(43..=128).contains(&verifier.len()) || !verifier.bytes().all(unreserved) {
        return Err(Error::invalid_argument(format!(
            "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636), \
             not {} bytes{}",
            verifier.len(),
            match verifier.bytes().all(unreserved) {
                true => "",
                false => " holding other characters",
            }
        )));
    }
    Ok(())
}

fn checked_optional<'a>(name: &str, value: Option<&'a str>) -> Result<Option<&'a str>, Error> {
    value.map(|value| checked(name, value)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn client_credentials<'a>(
        client_id: &'a str,
        client_secret: &'a str,
    ) -> TokenRequestFields<'a> {
        TokenRequestFields {
            grant_type: "client_credentials",
            client_id,
            client_secret,
            ..Default::default()
        }
    }

    fn body_of(fields: TokenRequestFields) -> String {
        TokenRequest::new(&fields).unwrap().form_body().to_string()
    }

    #[test]
    fn body_matches_the_reference_sdk_byte_for_byte() {
        assert_eq!(
            body_of(client_credentials("my id", "s3cr&t=x")),
            "grant_type=client_credentials&client_id=my+id&client_secret=s3cr%26t%3Dx"
        );
    }

    #[test]
    fn plus_is_percent_encoded_and_safe_characters_are_kept() {
        assert_eq!(
            body_of(client_credentials("a*b-c.d_e", "p+q/r~é")),
            "grant_type=client_credentials&client_id=a*b-c.d_e&client_secret=p%2Bq%2Fr%7E%C3%A9"
        );
    }

    #[test]
    fn optional_fields_follow_in_documented_order() {
        let fields = TokenRequestFields {
            grant_type: "authorization_code",
            client_id: "id",
            client_secret: "secret",
            redirect_uri: Some("https://example.com/cb?x=1"),
            code: Some("c0de"),
            refresh_token: Some("rt"),
        };
        assert_eq!(
            body_of(fields),
            "grant_type=authorization_code&client_id=id&client_secret=secret\
             &redirect_uri=https%3A%2F%2Fexample.com%2Fcb%3Fx%3D1&code=c0de&refresh_token=rt"
        );
    }

    #[test]
    fn encoding_round_trips_through_a_form_decoder() {
        let secret = "  ?&=+%\u{7f}x".replace('\u{7f}', "\u{e9}\u{1f600}");
        let fields = client_credentials("id with spaces", &secret);
        let body = body_of(fields);
        let decoded: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(decoded[1], ("client_id".into(), "id with spaces".into()));
        assert_eq!(decoded[2], ("client_secret".into(), secret));
    }

    #[test]
    fn empty_and_control_characters_are_refused_naming_the_field() {
        let error = TokenRequest::new(&client_credentials("", "s")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidArgument);
        assert_eq!(error.message(), "client_id must not be empty");

        let error = TokenRequest::new(&client_credentials("id", "se\ncret")).unwrap_err();
        assert_eq!(
            error.message(),
            "client_secret contains a control character (at byte 2)"
        );

        let fields = TokenRequestFields {
            code: Some(""),
            ..client_credentials("id", "s")
        };
        assert_eq!(
            TokenRequest::new(&fields).unwrap_err().message(),
            "code must not be empty"
        );
    }

    #[test]
    fn grants_must_carry_what_they_need() {
        let fields = TokenRequestFields {
            grant_type: "authorization_code",
            ..client_credentials("id", "s")
        };
        assert_eq!(
            TokenRequest::new(&fields).unwrap_err().message(),
            "code is required with grant_type authorization_code"
        );
        let fields = TokenRequestFields {
            grant_type: "refresh_token",
            ..client_credentials("id", "s")
        };
        assert_eq!(
            TokenRequest::new(&fields).unwrap_err().message(),
            "refresh_token is required with grant_type refresh_token"
        );
    }

    #[test]
    fn a_refresh_keeps_the_client_and_drops_the_code() {
        let fields = TokenRequestFields {
            grant_type: "authorization_code",
            redirect_uri: Some("https://app/cb"),
            code: Some("c0de"),
            ..client_credentials("id", "secret")
        };
        let request = TokenRequest::new(&fields).unwrap();
        assert!(request.is_single_use() && request.renews_with_refresh_token());
        let refresh = request.refresh_with(&Secret::new("rt-2"));
        assert!(!refresh.is_single_use() && refresh.renews_with_refresh_token());
        assert_eq!(
            refresh.form_body().as_str(),
            "grant_type=refresh_token&client_id=id&client_secret=secret&refresh_token=rt-2"
        );
        assert!(
            !TokenRequest::new(&client_credentials("id", "s"))
                .unwrap()
                .renews_with_refresh_token()
        );
    }

    #[test]
    fn secrets_lists_every_secret_and_debug_hides_them() {
        let fields = TokenRequestFields {
            grant_type: "refresh_token",
            refresh_token: Some("rt-value"),
            code: Some("code-value"),
            ..client_credentials("id", "secret-value")
        };
        let request = TokenRequest::new(&fields).unwrap();
        let secrets: Vec<&str> = request.secrets().collect();
        assert_eq!(secrets, ["secret-value", "code-value", "rt-value"]);
        let debug = format!("{request:?}");
        for secret in secrets {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
}
