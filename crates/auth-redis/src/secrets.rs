//! The secret parts of the Redis URL: redacted for `Debug`, scrubbed from
//! every error message.

use auth_core::secrecy::{ExposeSecret as _, SecretString};

/// Secret parts of the connection URL, scrubbed from every error message.
pub(crate) struct Secrets {
    needles: Vec<SecretString>,
}

impl Secrets {
    #[cfg(test)]
    pub(crate) fn of_url(raw: &str) -> Self {
        Self::of_urls([raw])
    }

    /// The secrets of several URLs (the nodes of a cluster, sentinels).
    pub(crate) fn of_urls<'a>(urls: impl IntoIterator<Item = &'a str>) -> Self {
        let mut needles = Vec::new();
        for raw in urls {
            Self::collect(raw, &mut needles);
        }
        Self::sorted(needles)
    }

    /// These secrets and `secret`.
    #[cfg(feature = "sentinel")]
    pub(crate) fn with(self, secret: &str) -> Self {
        let mut needles = self.needles;
        needles.push(SecretString::from(secret.to_owned()));
        Self::sorted(needles)
    }

    fn sorted(mut needles: Vec<SecretString>) -> Self {
        needles.retain(|n| !n.expose_secret().is_empty());
        // Longest first, so a password inside the URL is replaced as part of
        // the URL.
        needles.sort_by_key(|n| std::cmp::Reverse(n.expose_secret().len()));
        Self { needles }
    }

    fn collect(raw: &str, needles: &mut Vec<SecretString>) {
        needles.push(SecretString::from(raw.to_owned()));
        if let Ok(url) = auth_core::url::Url::parse(raw) {
            if let Some(p) = url.password() {
                needles.push(SecretString::from(p.to_owned()));
                needles.push(SecretString::from(
                    percent_encoding::percent_decode_str(p)
                        .decode_utf8_lossy()
                        .into_owned(),
                ));
            }
            for (k, v) in url.query_pairs() {
                if matches!(k.to_ascii_lowercase().as_str(), "pass" | "password") {
                    needles.push(SecretString::from(v.into_owned()));
                }
            }
        }
    }

    /// `text` with every secret replaced by `[REDACTED]`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for needle in &self.needles {
            out = out.replace(needle.expose_secret(), "[REDACTED]");
        }
        out
    }
}

/// The URL with its password (user-info password, or `pass`/`password`
/// query parameter) replaced by `[REDACTED]`; unparsable URLs are hidden
/// entirely.
pub(crate) fn redact_url(raw: &str) -> String {
    let Ok(mut url) = auth_core::url::Url::parse(raw) else {
        return "[unparsable URL]".to_owned();
    };
    if url.password().is_some() && url.set_password(Some("REDACTED")).is_err() {
        return "[URL]".to_owned();
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let secret = matches!(k.to_ascii_lowercase().as_str(), "pass" | "password");
                let v = if secret {
                    "REDACTED".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_every_form_of_the_password() {
        let s = Secrets::of_url("redis://user:p%40ss-hunter2@h:1/0");
        let msg = s.scrub(
            "auth failed for redis://user:p%40ss-hunter2@h:1/0 with p@ss-hunter2 / p%40ss-hunter2",
        );
        assert!(!msg.contains("hunter2"), "{msg}");
        let q = Secrets::of_url("redis+unix:///tmp/s?pass=qhunter2");
        assert!(!q.scrub("x qhunter2 y").contains("qhunter2"));
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("redis://user:hunter2@example.com:6380/2"),
            "redis://user:REDACTED@example.com:6380/2"
        );
        assert_eq!(
            redact_url("redis://:hunter2@127.0.0.1"),
            "redis://:REDACTED@127.0.0.1"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        let unix = redact_url("redis+unix:///tmp/r.sock?db=1&pass=hunter2");
        assert!(!unix.contains("hunter2") && unix.contains("db=1"), "{unix}");
        assert!(!redact_url("hunter2 not a url").contains("hunter2"));
    }
}
