//! Provider settings from configuration files and environment variables:
//! the secret-safe field readers every provider crate's `serde` settings use
//! ([`secret`], [`opt_secret`], [`url()`], [`opt_url`]), the HTTP settings
//! every provider accepts ([`CommonSettings`]), and the plumbing that reads
//! one provider's settings from `(name, value)` pairs with field-named errors
//! ([`Fields`], [`Naming`], [`EnvValue`]), shared by `auth-all`.
//!
//! Every error produced here names the setting it is about (the field of a
//! file, or the environment variable) and never quotes the value of a secret:
//! secret fields are read with [`secret`] / [`opt_secret`], whose visitor
//! reports only the *kind* of a wrongly typed value ("a number"), and URL
//! fields with [`opt_url`] / [`url()`], whose errors never quote the URL (it
//! may embed credentials).

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, Unexpected, Visitor,
};
use url::Url;

use crate::{AuthError, HttpSettings, Provider};

/// An error while reading one provider's settings, before it is given its
/// context (file position, entry index).
#[derive(Debug)]
pub enum FieldError {
    /// A complete message.
    Custom(String),
    /// A required setting is absent (formatted with the [`Naming`]).
    Missing(&'static str),
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::Custom(m) => f.write_str(m),
            FieldError::Missing(field) => write!(f, "missing field `{field}`"),
        }
    }
}

impl std::error::Error for FieldError {}

impl de::Error for FieldError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        FieldError::Custom(msg.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        FieldError::Missing(field)
    }
}

/// How settings are named in messages: fields of a file, or environment
/// variables `{prefix}{FIELD}`.
#[derive(Debug, Clone)]
pub enum Naming {
    /// `field `name``.
    File,
    /// `AUTH_WIALON_TOKEN`: the prefix includes the provider and the `_`.
    Env {
        /// E.g. `AUTH_WIALON_`.
        prefix: String,
    },
}

impl Naming {
    /// How the setting `field` is called in a message.
    pub fn name(&self, field: &str) -> String {
        match self {
            Naming::File => format!("field `{field}`"),
            Naming::Env { prefix } => format!("{prefix}{}", field.to_ascii_uppercase()),
        }
    }

    /// The message for a required setting that is absent.
    pub fn missing(&self, field: &str) -> String {
        match self {
            Naming::File => format!("missing field `{field}`"),
            Naming::Env { .. } => format!("{} is not set", self.name(field)),
        }
    }

    fn list(&self, fields: &[&str]) -> String {
        fields
            .iter()
            .map(|f| match self {
                Naming::File => format!("`{f}`"),
                Naming::Env { .. } => self.name(f),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The message for a setting the provider does not have.
    pub fn unknown(&self, field: &str, provider: &str, expected: &[&str]) -> String {
        match self {
            Naming::File => format!(
                "unknown field `{field}` for provider `{provider}`; expected one of {}",
                self.list(expected)
            ),
            Naming::Env { .. } => format!(
                "{} is not a setting of provider `{provider}`; expected one of {}",
                self.name(field),
                self.list(expected)
            ),
        }
    }

    /// Formats a [`FieldError`] with this naming.
    pub fn describe(&self, err: FieldError) -> String {
        match err {
            FieldError::Custom(m) => m,
            FieldError::Missing(field) => self.missing(field),
        }
    }
}

/// A set of `(setting, value)` pairs deserialized as a struct, with unknown
/// settings rejected by name and value errors prefixed with the setting's
/// name.
pub struct Fields<'n, V> {
    /// The provider, for "unknown field ... for provider" messages.
    pub provider: &'static str,
    /// The `(setting, value)` pairs.
    pub entries: Vec<(String, V)>,
    /// How settings are named in messages.
    pub naming: &'n Naming,
    /// Settings accepted besides the struct's own (listed in "expected one
    /// of" messages): the common HTTP settings.
    pub also_expected: &'static [&'static str],
}

impl<'de, T> Deserializer<'de> for Fields<'_, T>
where
    T: Deserializer<'de>,
{
    type Error = FieldError;

    fn deserialize_any<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, FieldError> {
        visitor.visit_map(Tracked {
            entries: self.entries.into_iter(),
            pending: None,
            naming: self.naming,
        })
    }

    fn deserialize_struct<W: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: W,
    ) -> Result<W::Value, FieldError> {
        if let Some((key, _)) = self.entries.iter().find(|(k, _)| !fields.contains(&&**k)) {
            let mut expected: Vec<&str> = fields.to_vec();
            expected.extend_from_slice(self.also_expected);
            return Err(FieldError::Custom(self.naming.unknown(
                key,
                self.provider,
                &expected,
            )));
        }
        self.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// The `MapAccess` behind [`Fields`]: remembers which setting it is reading.
struct Tracked<'n, I, V> {
    entries: I,
    pending: Option<(String, V)>,
    naming: &'n Naming,
}

impl<'de, I, T> MapAccess<'de> for Tracked<'_, I, T>
where
    I: Iterator<Item = (String, T)>,
    T: Deserializer<'de>,
{
    type Error = FieldError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, FieldError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let k = seed.deserialize(de::value::StrDeserializer::<FieldError>::new(&key))?;
        self.pending = Some((key, value));
        Ok(Some(k))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, FieldError> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| FieldError::Custom("a value was read before its key".to_owned()))?;
        seed.deserialize(value)
            .map_err(|e| FieldError::Custom(format!("{}: {e}", self.naming.name(&key))))
    }
}

/// The value of an environment variable: text that becomes whatever type
/// the setting has. Parse errors name the expected type, never the text.
pub struct EnvValue(pub String);

impl EnvValue {
    fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, FieldError> {
        self.0
            .trim()
            .parse()
            .map_err(|_| FieldError::Custom(format!("expected {what}")))
    }
}

impl<'de> Deserializer<'de> for EnvValue {
    type Error = FieldError;

    fn deserialize_any<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, FieldError> {
        visitor.visit_string(self.0)
    }

    fn deserialize_bool<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, FieldError> {
        match self.0.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => visitor.visit_bool(true),
            "false" | "0" | "no" | "off" => visitor.visit_bool(false),
            _ => Err(FieldError::Custom(
                "expected true or false (also 1/0, yes/no, on/off)".to_owned(),
            )),
        }
    }

    fn deserialize_u8<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, FieldError> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u16<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, FieldError> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u32<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, FieldError> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u64<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, FieldError> {
        visitor.visit_u64(self.parse("an unsigned integer")?)
    }

    fn deserialize_i8<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, FieldError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i16<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, FieldError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i32<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, FieldError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i64<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, FieldError> {
        visitor.visit_i64(self.parse("an integer")?)
    }

    fn deserialize_f32<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, FieldError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, FieldError> {
        visitor.visit_f64(self.parse("a number")?)
    }

    fn deserialize_option<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, FieldError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<W: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: W,
    ) -> Result<W::Value, FieldError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<W: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: W,
    ) -> Result<W::Value, FieldError> {
        visitor.visit_enum(de::value::StringDeserializer::<FieldError>::new(
            self.0.trim().to_owned(),
        ))
    }

    fn deserialize_seq<W: Visitor<'de>>(self, _visitor: W) -> Result<W::Value, FieldError> {
        Err(FieldError::Custom(
            "a list cannot be set from an environment variable".to_owned(),
        ))
    }

    fn deserialize_map<W: Visitor<'de>>(self, _visitor: W) -> Result<W::Value, FieldError> {
        Err(FieldError::Custom(
            "a table cannot be set from an environment variable".to_owned(),
        ))
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct tuple
        tuple_struct struct identifier ignored_any
    }
}

/// Reads a secret: a string. A value of another type is reported by its
/// kind only ("a number"), never quoted.
pub fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    // `deserialize_any`, not `deserialize_string`: some deserializers
    // (serde_json's `Value`) build the "invalid type" error themselves from
    // `deserialize_string`, quoting the value; with `deserialize_any` the
    // error comes from `SecretVisitor`.
    d.deserialize_any(SecretVisitor)
}

/// Reads an optional secret (see [`secret`]).
pub fn opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    d.deserialize_option(OptSecretVisitor)
}

struct SecretVisitor;

impl SecretVisitor {
    fn wrong<E: de::Error>(&self, kind: &str) -> E {
        E::invalid_type(Unexpected::Other(kind), self)
    }
}

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = SecretString;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string (quote it; secret values are never shown in errors)")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretString, E> {
        Ok(SecretString::from(v))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<SecretString, E> {
        Ok(SecretString::from(v))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretString, E> {
        Err(self.wrong("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretString, E> {
        Err(self.wrong("a number"))
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<SecretString, E> {
        Err(self.wrong("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretString, E> {
        Err(self.wrong("a number"))
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<SecretString, E> {
        Err(self.wrong("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretString, E> {
        Err(self.wrong("a number"))
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<SecretString, E> {
        Err(self.wrong("bytes"))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<SecretString, A::Error> {
        Err(self.wrong("a list"))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<SecretString, A::Error> {
        Err(self.wrong("a table or object"))
    }
}

struct OptSecretVisitor;

impl<'de> Visitor<'de> for OptSecretVisitor {
    type Value = Option<SecretString>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SecretVisitor.expecting(f)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        secret(d).map(Some)
    }
}

/// Reads an absolute URL. Errors never quote it (a URL may embed
/// credentials), and a URL with a user name or password is refused.
pub fn url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    let text: String = d.deserialize_any(UrlTextVisitor)?;
    parse_url(&text).map_err(de::Error::custom)
}

/// Reads an optional absolute URL (see [`url()`]).
pub fn opt_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    struct Opt;
    impl<'de> Visitor<'de> for Opt {
        type Value = Option<Url>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            UrlTextVisitor.expecting(f)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            url(d).map(Some)
        }
    }
    d.deserialize_option(Opt)
}

/// Parses an absolute URL without quoting it in errors.
pub fn parse_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("not a valid absolute URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "the URL must not embed credentials; use the provider's credential settings".to_owned(),
        );
    }
    Ok(url)
}

/// Accepts only a string, reporting other values by kind.
struct UrlTextVisitor;

impl<'de> Visitor<'de> for UrlTextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an absolute URL as a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<String, E> {
        Err(E::invalid_type(Unexpected::Other("a boolean"), &self))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<String, E> {
        Err(E::invalid_type(Unexpected::Other("a number"), &self))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<String, E> {
        Err(E::invalid_type(Unexpected::Other("a number"), &self))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<String, E> {
        Err(E::invalid_type(Unexpected::Other("a number"), &self))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(de::Error::invalid_type(Unexpected::Other("a list"), &self))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(de::Error::invalid_type(
            Unexpected::Other("a table or object"),
            &self,
        ))
    }
}

/// The names of the [`CommonSettings`] fields, accepted next to every
/// provider's own settings.
pub const COMMON_FIELDS: &[&str] = &[
    "timeout_secs",
    "connect_timeout_secs",
    "max_body_bytes",
    "user_agent",
    "proxy",
    "tls_backend",
    "root_certificate_file",
];

/// HTTP settings every provider accepts, next to its own settings (in the
/// same table / object, or as `{PREFIX}_{PROVIDER}_TIMEOUT_SECS` ...).
/// Unset fields keep [`HttpSettings`]' defaults.
///
/// `auth-all`'s `ProviderConfig` reads them and stores them in the
/// settings' `common` field; a settings struct deserialized on its own
/// (e.g. `CtcSettings`) does not accept them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommonSettings {
    /// Time allowed for a whole request, in seconds (default 30).
    #[serde(default)]
    pub timeout_secs: Option<f64>,
    /// Time allowed to connect, in seconds (default 10).
    #[serde(default)]
    pub connect_timeout_secs: Option<f64>,
    /// Largest authentication response body read, in bytes (default 1 MiB).
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// `User-Agent` sent with every request.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// A proxy for every request (`http://`, `https://` or `socks5://`,
    /// maybe with a user and password: read as a secret, never quoted).
    #[serde(default, deserialize_with = "opt_secret")]
    pub proxy: Option<SecretString>,
    /// The TLS backend by its feature name (`rustls`, `rustls-ring`,
    /// `native-tls`), one compiled in (see
    /// [`HttpSettings::tls_backend`]). Default: the first of
    /// [`TlsBackend::ENABLED`](crate::TlsBackend::ENABLED).
    #[serde(default)]
    pub tls_backend: Option<String>,
    /// A PEM file of CA certificates trusted besides the system's roots
    /// (see [`HttpSettings::add_root_certificate`]), read when the settings
    /// become [`HttpSettings`].
    #[serde(default)]
    pub root_certificate_file: Option<std::path::PathBuf>,
}

impl CommonSettings {
    /// The [`HttpSettings`] these settings describe.
    pub fn http_settings(&self, allow_insecure_http: bool) -> Result<HttpSettings, AuthError> {
        let mut http = HttpSettings::default().allow_insecure_http(allow_insecure_http);
        if let Some(proxy) = &self.proxy {
            use secrecy::ExposeSecret;
            let url = Url::parse(proxy.expose_secret().trim()).map_err(|_| {
                AuthError::config("proxy is not a valid absolute URL (http, https or socks5)")
            })?;
            http = http.proxy(url);
        }
        if let Some(t) = secs("timeout_secs", self.timeout_secs)? {
            http.timeout = t;
        }
        if let Some(t) = secs("connect_timeout_secs", self.connect_timeout_secs)? {
            http.connect_timeout = t;
        }
        if let Some(max) = self.max_body_bytes {
            if max == 0 {
                return Err(AuthError::config("max_body_bytes must be positive"));
            }
            http.max_body = max;
        }
        if let Some(agent) = &self.user_agent {
            if agent.trim().is_empty() || agent.chars().any(char::is_control) {
                return Err(AuthError::config(
                    "user_agent must be non-empty text without control characters",
                ));
            }
            http.user_agent = agent.clone();
        }
        if let Some(name) = &self.tls_backend {
            let name = name.trim();
            let enabled = crate::TlsBackend::ENABLED;
            let backend = enabled
                .iter()
                .copied()
                .find(|b| b.feature() == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = enabled.iter().map(|b| b.feature()).collect();
                    AuthError::config(format!(
                        "tls_backend {name:?} is not compiled in (compiled in: {}); choose one of \
                         those, or enable the crate feature of that name",
                        if names.is_empty() {
                            "none".to_owned()
                        } else {
                            names.join(", ")
                        }
                    ))
                })?;
            http = http.tls_backend(backend);
        }
        if let Some(path) = &self.root_certificate_file {
            let pem = std::fs::read(path).map_err(|e| {
                AuthError::config(format!(
                    "root_certificate_file {} could not be read ({e}); give the path of a PEM \
                     file of CA certificates",
                    path.display()
                ))
            })?;
            http = http.add_root_certificate(pem);
        }
        Ok(http)
    }
}

/// A positive, finite number of seconds as a [`Duration`].
pub fn secs(name: &str, value: Option<f64>) -> Result<Option<Duration>, AuthError> {
    match value {
        None => Ok(None),
        Some(v) if v > 0.0 => Duration::try_from_secs_f64(v)
            .map(Some)
            .map_err(|_| AuthError::config(format!("{name} is out of range"))),
        Some(_) => Err(AuthError::config(format!(
            "{name} must be a positive number of seconds"
        ))),
    }
}

/// One provider's settings (a provider crate's `XSettings`, feature
/// `serde`): what `auth-all` needs to read them from configuration and build
/// a client, the same way for every provider.
pub trait ProviderSettings: DeserializeOwned + fmt::Debug + Clone + Send + 'static {
    /// The provider the settings describe.
    type Provider: Provider;

    /// The provider's name in configuration (`provider = "ctc"`).
    const NAME: &'static str;

    /// The provider, validated by its builder.
    fn into_provider(self) -> Result<Self::Provider, AuthError>;

    /// The common HTTP settings read next to the provider's own.
    fn common(&self) -> &CommonSettings;

    /// Stores the common HTTP settings read next to the provider's own.
    fn set_common(&mut self, common: CommonSettings);

    /// Whether plain `http` to a remote host is allowed (the settings'
    /// `allow_insecure_http`, where the provider has one).
    fn allow_insecure_http(&self) -> bool {
        false
    }

    /// The HTTP settings of the client: the common ones and
    /// [`allow_insecure_http`](Self::allow_insecure_http).
    fn http_settings(&self) -> Result<HttpSettings, AuthError> {
        self.common().http_settings(self.allow_insecure_http())
    }
}

/// Implements [`ProviderSettings`] for a provider crate's settings type that
/// has a `common: CommonSettings` field and an inherent `into_provider`, and
/// optionally a `bool` field allowing plain `http`:
///
/// ```ignore
/// auth_core::provider_settings!(CtcSettings => CtcProvider, name = NAME, allow_insecure_http);
/// ```
#[macro_export]
macro_rules! provider_settings {
    ($settings:ty => $provider:ty, name = $name:expr $(, $insecure:ident)?) => {
        impl $crate::settings::ProviderSettings for $settings {
            type Provider = $provider;
            const NAME: &'static str = $name;

            fn into_provider(self) -> ::core::result::Result<$provider, $crate::AuthError> {
                <$settings>::into_provider(self)
            }

            fn common(&self) -> &$crate::settings::CommonSettings {
                &self.common
            }

            fn set_common(&mut self, common: $crate::settings::CommonSettings) {
                self.common = common;
            }

            $(
                fn $insecure(&self) -> bool {
                    self.$insecure
                }
            )?
        }
    };
}
