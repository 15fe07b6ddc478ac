//! How a [`StoredSession`] becomes the bytes kept in Redis, and back.
//!
//! Without encryption the value is the session's JSON (the token in clear).
//! With the `encryption` feature and a key, the value is
//! `MAGIC || nonce (24 bytes) || XChaCha20-Poly1305(JSON)`, authenticated
//! together with the account's cache key and the generation number, so a
//! value cannot be moved to another account or have its generation field
//! (kept in clear beside it for fenced saves, compare-and-delete and touch)
//! changed unnoticed.

use auth_core::{AuthError, StoredSession};

/// First bytes of an encrypted value.
pub(crate) const ENCRYPTED_MAGIC: &[u8] = b"auth-redis:xc20p1305:v1:";

/// Turns sessions into stored values and back.
pub(crate) enum Codec {
    /// JSON, token in clear.
    Plain,
    /// JSON sealed with XChaCha20-Poly1305.
    #[cfg(feature = "encryption")]
    Encrypted(Box<chacha20poly1305::XChaCha20Poly1305>),
}

impl Codec {
    pub(crate) fn is_encrypted(&self) -> bool {
        !matches!(self, Codec::Plain)
    }

    /// The value to store for `session` under the account `cache_key`.
    pub(crate) fn encode(
        &self,
        cache_key: &str,
        session: &StoredSession,
    ) -> Result<Vec<u8>, AuthError> {
        let json = serde_json::to_vec(session).map_err(|e| {
            AuthError::Store(format!(
                "could not serialize the session: {}",
                auth_core::http::serde_error_without_values(&e)
            ))
        })?;
        match self {
            Codec::Plain => {
                let _ = cache_key;
                Ok(json)
            }
            #[cfg(feature = "encryption")]
            Codec::Encrypted(cipher) => seal(cipher, cache_key, session.generation, json),
        }
    }

    /// The session stored as `raw`, whose generation field reads `generation`.
    pub(crate) fn decode(
        &self,
        cache_key: &str,
        generation: u64,
        raw: &[u8],
    ) -> Result<StoredSession, AuthError> {
        let encrypted = raw.starts_with(ENCRYPTED_MAGIC);
        let session = match self {
            Codec::Plain => {
                if encrypted {
                    return Err(AuthError::Store(
                        "the stored session is encrypted but this store has no encryption key; configure the same key in every process".to_owned(),
                    ));
                }
                parse(raw)?
            }
            #[cfg(feature = "encryption")]
            Codec::Encrypted(cipher) => {
                if !encrypted {
                    return Err(AuthError::Store(
                        "the stored session is not encrypted but this store requires encryption; ignoring it".to_owned(),
                    ));
                }
                open(cipher, cache_key, generation, &raw[ENCRYPTED_MAGIC.len()..])?
            }
        };
        let _ = cache_key;
        if session.generation != generation {
            return Err(AuthError::Store(format!(
                "the stored session's generation ({}) does not match its generation field ({generation}); ignoring it",
                session.generation
            )));
        }
        Ok(session)
    }
}

fn parse(json: &[u8]) -> Result<StoredSession, AuthError> {
    // serde_json's data errors quote the offending value (`invalid type:
    // string "..."`, ``unknown variant `...` ``), and a stored session holds
    // the token and provider data: the quoted values are cut out, only the
    // position and what was expected stay.
    serde_json::from_slice(json).map_err(|e| {
        AuthError::Store(format!(
            "the stored session could not be read: {}",
            auth_core::http::serde_error_without_values(&e)
        ))
    })
}

#[cfg(feature = "encryption")]
fn aad(cache_key: &str, generation: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(cache_key.len() + 32);
    aad.extend_from_slice(ENCRYPTED_MAGIC);
    aad.extend_from_slice(cache_key.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&generation.to_be_bytes());
    aad
}

#[cfg(feature = "encryption")]
fn seal(
    cipher: &chacha20poly1305::XChaCha20Poly1305,
    cache_key: &str,
    generation: u64,
    mut json: Vec<u8>,
) -> Result<Vec<u8>, AuthError> {
    use auth_core::secrecy::zeroize::Zeroize;
    use chacha20poly1305::aead::{Aead, AeadCore, OsRng, Payload};

    let nonce = chacha20poly1305::XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let aad = aad(cache_key, generation);
    let sealed = cipher.encrypt(
        &nonce,
        Payload {
            msg: &json,
            aad: &aad,
        },
    );
    json.zeroize();
    let sealed =
        sealed.map_err(|_| AuthError::Store("could not encrypt the session".to_owned()))?;
    let mut out = Vec::with_capacity(ENCRYPTED_MAGIC.len() + nonce.len() + sealed.len());
    out.extend_from_slice(ENCRYPTED_MAGIC);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

#[cfg(feature = "encryption")]
fn open(
    cipher: &chacha20poly1305::XChaCha20Poly1305,
    cache_key: &str,
    generation: u64,
    body: &[u8],
) -> Result<StoredSession, AuthError> {
    use auth_core::secrecy::zeroize::Zeroize;
    use chacha20poly1305::XNonce;
    use chacha20poly1305::aead::{Aead, Payload};

    const NONCE: usize = 24;
    if body.len() < NONCE {
        return Err(AuthError::Store(
            "the stored session is truncated; ignoring it".to_owned(),
        ));
    }
    let (nonce, sealed) = body.split_at(NONCE);
    let aad = aad(cache_key, generation);
    let mut json = cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: &aad,
            },
        )
        .map_err(|_| {
            AuthError::Store(
                "the stored session could not be decrypted (another encryption key, or tampered with); ignoring it"
                    .to_owned(),
            )
        })?;
    let session = parse(&json);
    json.zeroize();
    session
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::Expiry;
    use auth_core::secrecy::{ExposeSecret, SecretString};

    fn session(generation: u64) -> StoredSession {
        StoredSession {
            token: SecretString::from("tok-en-secret"),
            issued_at: "2025-01-02T03:04:05Z".parse().unwrap(),
            expiry: Expiry::UntilRejected,
            generation,
            data: serde_json::json!({"user": 7}),
            expires_in: None,
            credentials: None,
        }
    }

    #[test]
    fn plain_round_trip_and_generation_check() {
        let raw = Codec::Plain.encode("k", &session(3)).unwrap();
        assert!(String::from_utf8_lossy(&raw).contains("tok-en-secret"));
        let back = Codec::Plain.decode("k", 3, &raw).unwrap();
        assert_eq!(back.token.expose_secret(), "tok-en-secret");
        assert_eq!(back.generation, 3);
        assert!(Codec::Plain.decode("k", 4, &raw).is_err());
        let err = Codec::Plain.decode("k", 3, b"{not json").unwrap_err();
        assert!(matches!(err, AuthError::Store(_)));
    }

    #[test]
    fn read_errors_do_not_quote_stored_values() {
        // A stored value of the wrong shape: serde would quote the token
        // and the expiry variant it could not read.
        for raw in [
            r#"{"token":"tok-en-secret","issued_at":"2025-01-02T03:04:05Z","expiry":"tok-en-secret","generation":3,"data":{}}"#,
            r#"{"token":"tok-en-secret","issued_at":"tok-en-secret","expiry":"UntilRejected","generation":3,"data":{}}"#,
            r#"{"token":"tok-en-secret","issued_at":"2025-01-02T03:04:05Z","expiry":"UntilRejected","generation":"tok-en-secret","data":{}}"#,
        ] {
            let err = Codec::Plain.decode("k", 3, raw.as_bytes()).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(matches!(err, AuthError::Store(_)), "{text}");
            assert!(!text.contains("tok-en-secret"), "{text}");
        }
    }

    #[cfg(feature = "encryption")]
    #[test]
    fn encrypted_round_trip_binds_key_and_generation() {
        use chacha20poly1305::KeyInit;
        let codec = Codec::Encrypted(Box::new(chacha20poly1305::XChaCha20Poly1305::new(
            &[7u8; 32].into(),
        )));
        let raw = codec.encode("acct", &session(5)).unwrap();
        assert!(raw.starts_with(ENCRYPTED_MAGIC));
        assert!(!String::from_utf8_lossy(&raw).contains("tok-en-secret"));
        assert_eq!(
            codec.decode("acct", 5, &raw).unwrap().token.expose_secret(),
            "tok-en-secret"
        );
        assert!(
            codec.decode("other", 5, &raw).is_err(),
            "bound to the account"
        );
        assert!(
            codec.decode("acct", 6, &raw).is_err(),
            "bound to the generation"
        );
        let mut tampered = raw.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(codec.decode("acct", 5, &tampered).is_err());
        assert!(codec.decode("acct", 5, &raw[..30]).is_err());
        // A plain value is refused when encryption is required, and an
        // encrypted one without the key.
        let plain = Codec::Plain.encode("acct", &session(5)).unwrap();
        assert!(codec.decode("acct", 5, &plain).is_err());
        assert!(Codec::Plain.decode("acct", 5, &raw).is_err());
        let other = Codec::Encrypted(Box::new(chacha20poly1305::XChaCha20Poly1305::new(
            &[8u8; 32].into(),
        )));
        assert!(other.decode("acct", 5, &raw).is_err());
    }
}
