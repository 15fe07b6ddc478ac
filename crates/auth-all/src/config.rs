//! [`ProviderConfig`]: choose and configure providers at run time, from a
//! configuration file or environment variables.

use std::collections::BTreeMap;
use std::fmt;

use auth_core::{AuthError, DynAuthenticated};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::Value;

use auth_core::settings::{
    COMMON_FIELDS, CommonSettings, EnvValue, FieldError, Fields, Naming, ProviderSettings,
};

use crate::error::ConfigError;
use crate::settings::ConnectOptions;

/// One provider account, chosen at run time: the `provider` field names the
/// provider (`"ctc"`, `"plaspy"`, `"wialon"`, `"cielo24"`, `"electa"`; any
/// case), the other fields are that provider's settings (see
/// [`CtcSettings`](crate::CtcSettings), [`PlaspySettings`](crate::PlaspySettings),
/// [`WialonSettings`](crate::WialonSettings),
/// [`Cielo24Settings`](crate::Cielo24Settings),
/// [`ElectaSettings`](crate::ElectaSettings)) plus the
/// [`CommonSettings`] (`timeout_secs`, `connect_timeout_secs`,
/// `max_body_bytes`, `user_agent`, `proxy`, `tls_backend`,
/// `root_certificate_file`), all in one flat table or object:
///
/// ```toml
/// [[providers]]
/// provider = "wialon"
/// token = "…72 characters…"
/// timeout_secs = 20
/// ```
///
/// It deserializes from any self-describing serde format (JSON, TOML, YAML
/// ...). Unknown fields are errors that list the valid ones; errors name the
/// field and never show a secret value (a secret of the wrong type is
/// reported as "a number", not quoted). Secrets are
/// [`SecretString`](secrecy::SecretString)s, redacted in `Debug`.
///
/// A variant exists only when its provider's feature is enabled; naming a
/// provider whose feature is off is an error saying which feature to enable.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ProviderConfig {
    /// CalAmp Telematics Cloud (`provider = "ctc"`).
    #[cfg(feature = "ctc")]
    Ctc(ctc_auth::CtcSettings),
    /// Plaspy / ALTAGAMA GPS (`provider = "plaspy"`).
    #[cfg(feature = "plaspy")]
    Plaspy(plaspy_auth::PlaspySettings),
    /// Wialon (`provider = "wialon"`).
    #[cfg(feature = "wialon")]
    Wialon(wialon_token::WialonSettings),
    /// cielo24 (`provider = "cielo24"`).
    #[cfg(feature = "cielo24")]
    Cielo24(cielo24_auth::Cielo24Settings),
    /// Electa Live (`provider = "electa"`).
    #[cfg(feature = "electa")]
    Electa(electa_auth::ElectaSettings),
}

/// The operations every provider shares, generated once from the list of
/// providers below: a provider is registered by its line there and its
/// variant above; everything else comes from its settings type's
/// [`ProviderSettings`] implementation.
macro_rules! registry {
    ($($feature:literal => $variant:ident,)*) => {
        /// Every provider this crate knows, enabled in this build or not.
        pub const PROVIDERS: &[&str] = &[$($feature),*];

        /// The providers enabled in this build (by the crate's features).
        pub fn enabled_providers() -> Vec<&'static str> {
            let mut enabled = Vec::new();
            $(if cfg!(feature = $feature) {
                enabled.push($feature);
            })*
            enabled
        }

        impl ProviderConfig {
            /// The provider's short name (`"wialon"` ...), as
            /// [`DynAuthenticated::provider_name`] reports it.
            pub fn provider_name(&self) -> &'static str {
                match *self {
                    $(#[cfg(feature = $feature)]
                    ProviderConfig::$variant(_) => $feature,)*
                }
            }

            /// The common HTTP settings.
            pub fn common(&self) -> &CommonSettings {
                match *self {
                    $(#[cfg(feature = $feature)]
                    ProviderConfig::$variant(ref s) => s.common(),)*
                }
            }

            /// Gives `client`, connected from an earlier configuration of
            /// the same account, the secrets of this updated one (a new
            /// password, key or token) without a restart: see
            /// `Authenticated::rotate_to`. Only secrets change: a
            /// configuration of another provider or account is
            /// [`AuthError::Config`], and other changed settings
            /// (timeouts ...) need a new client. Nothing is sent; the next
            /// login uses the new secret.
            #[allow(unused_variables)]
            pub async fn rotate_credentials(
                self,
                client: &dyn DynAuthenticated,
            ) -> Result<(), AuthError> {
                match self {
                    $(#[cfg(feature = $feature)]
                    ProviderConfig::$variant(s) => rotate(s, client).await,)*
                }
            }

            /// [`connect`](Self::connect) with a shared token store or HTTP
            /// client.
            #[allow(unused_variables)]
            pub fn connect_with(
                self,
                options: &ConnectOptions,
            ) -> Result<Box<dyn DynAuthenticated>, AuthError> {
                match self {
                    $(#[cfg(feature = $feature)]
                    ProviderConfig::$variant(s) => options.connect(s),)*
                }
            }
        }

        /// Reads the settings of `provider` (one of [`PROVIDERS`]).
        #[allow(unused_variables)]
        fn read_settings<'de, V: Deserializer<'de>>(
            provider: &'static str,
            own: Fields<'_, V>,
            common: CommonSettings,
            context: impl Fn(FieldError) -> String,
        ) -> Result<ProviderConfig, String> {
            match provider {
                $(#[cfg(feature = $feature)]
                $feature => read(own, common, context).map(ProviderConfig::$variant),)*
                other => Err(format!(
                    "provider `{other}` is not enabled in this build; enable the `{other}` feature of auth-all (enabled: {})",
                    match enabled_providers() {
                        v if v.is_empty() => "none".to_owned(),
                        v => v.join(", "),
                    }
                )),
            }
        }
    };
}

registry! {
    "ctc" => Ctc,
    "plaspy" => Plaspy,
    "wialon" => Wialon,
    "cielo24" => Cielo24,
    "electa" => Electa,
}

/// The rotation of [`ProviderConfig::rotate_credentials`] for one
/// provider's settings.
#[allow(dead_code)]
async fn rotate<S>(settings: S, client: &dyn DynAuthenticated) -> Result<(), AuthError>
where
    S: ProviderSettings,
    S::Provider: auth_core::RotateCredentials,
{
    let Some(typed) = client
        .as_any()
        .downcast_ref::<auth_core::Authenticated<S::Provider>>()
    else {
        return Err(AuthError::config(format!(
            "a {} configuration cannot rotate the credentials of a {} client: give the \
             updated configuration of the client's own account",
            S::NAME,
            client.provider_name()
        )));
    };
    typed.rotate_to(&settings.into_provider()?).await
}

/// One provider's settings from `own`, with the common settings beside.
#[allow(dead_code)]
fn read<'de, S: ProviderSettings, V: Deserializer<'de>>(
    own: Fields<'_, V>,
    common: CommonSettings,
    context: impl Fn(FieldError) -> String,
) -> Result<S, String> {
    let mut settings = S::deserialize(own).map_err(context)?;
    settings.set_common(common);
    Ok(settings)
}

impl ProviderConfig {
    /// Validates the settings with the provider crate's builder and returns
    /// an authenticated client behind the object-safe [`DynAuthenticated`].
    /// Nothing is sent yet: the first call logs in.
    pub fn connect(self) -> Result<Box<dyn DynAuthenticated>, AuthError> {
        self.connect_with(&ConnectOptions::default())
    }

    /// One provider from a JSON object.
    ///
    /// ```
    /// # #[cfg(feature = "plaspy")] {
    /// let config = auth_all::ProviderConfig::from_json_str(
    ///     r#"{"provider": "plaspy", "user_name": "demo", "api_key": "k3y"}"#,
    /// )?;
    /// assert_eq!(config.provider_name(), "plaspy");
    /// assert!(!format!("{config:?}").contains("k3y"));
    /// # }
    /// # Ok::<(), auth_all::ConfigError>(())
    /// ```
    pub fn from_json_str(json: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(json).map_err(|e| ConfigError::from_json(&e))
    }

    /// Several providers from JSON: an array of provider objects, or an
    /// object `{"providers": [...]}`. Errors name the entry
    /// (`providers[1]`).
    pub fn list_from_json_str(json: &str) -> Result<Vec<Self>, ConfigError> {
        if json.trim_start().starts_with('[') {
            let mut de = serde_json::Deserializer::from_str(json);
            let list = deserialize_providers(&mut de)
                .and_then(|list| de.end().map(|()| list))
                .map_err(|e| ConfigError::from_json(&e))?;
            Ok(list)
        } else {
            serde_json::from_str::<ProviderList>(json)
                .map(|l| l.providers)
                .map_err(|e| ConfigError::from_json(&e))
        }
    }

    /// One provider from a TOML table (the top level of the text).
    ///
    /// The error never quotes a line of the text (the `toml` crate's own
    /// messages do, and the line may hold a secret).
    #[cfg(feature = "toml")]
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::from_toml(&e, text))
    }

    /// Several providers from TOML `[[providers]]` tables. Errors name the
    /// entry (`providers[1]`) and the line, without quoting it.
    ///
    /// ```
    /// # #[cfg(all(feature = "ctc", feature = "wialon"))] {
    /// let configs = auth_all::ProviderConfig::list_from_toml_str(r#"
    ///     [[providers]]
    ///     provider = "ctc"
    ///     username = "api.user@example.com"
    ///     password = "p4ss"
    ///     app_key = "app-key"
    ///     instance = "eu"
    ///
    ///     [[providers]]
    ///     provider = "wialon"
    ///     token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567"
    ///     timeout_secs = 20
    /// "#)?;
    /// let names: Vec<_> = configs.iter().map(|c| c.provider_name()).collect();
    /// assert_eq!(names, ["ctc", "wialon"]);
    /// # }
    /// # Ok::<(), auth_all::ConfigError>(())
    /// ```
    #[cfg(feature = "toml")]
    pub fn list_from_toml_str(text: &str) -> Result<Vec<Self>, ConfigError> {
        toml::from_str::<ProviderList>(text)
            .map(|l| l.providers)
            .map_err(|e| ConfigError::from_toml(&e, text))
    }

    /// One provider from the process environment, under `prefix` (see
    /// [`from_vars`](Self::from_vars) for the variable names).
    ///
    /// A variable under the prefix whose value is not UTF-8 is an error.
    pub fn from_env(prefix: &str) -> Result<Self, ConfigError> {
        let base = env_base(prefix);
        let mut vars = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with(&base) {
                continue;
            }
            let value = value
                .into_string()
                .map_err(|_| ConfigError::new(format!("{name} is not valid UTF-8")))?;
            vars.push((name.to_owned(), value));
        }
        Self::from_vars(prefix, vars)
    }

    /// One provider from `(name, value)` pairs of environment variables
    /// (what [`from_env`](Self::from_env) reads; handy in tests).
    ///
    /// With the prefix `AUTH`:
    ///
    /// * `AUTH_PROVIDER` names the provider (`ctc`, `plaspy`, `wialon`,
    ///   `cielo24`, `electa`; any case);
    /// * each setting is `AUTH_<PROVIDER>_<FIELD>`, the field name of the
    ///   provider's settings in upper case: `AUTH_WIALON_TOKEN`,
    ///   `AUTH_WIALON_HOST`, `AUTH_CTC_APP_KEY`, `AUTH_ELECTA_CID`,
    ///   `AUTH_CIELO24_SECURE_KEY`, `AUTH_PLASPY_TIMEOUT_SECS` ...;
    /// * numbers and booleans are parsed (`true`/`false`, `1`/`0`,
    ///   `yes`/`no`, `on`/`off`); an empty variable counts as unset;
    /// * variables of other providers under the prefix are ignored (so one
    ///   environment can describe several accounts under different
    ///   prefixes), but an unknown `AUTH_<PROVIDER>_*` variable of the chosen
    ///   provider is an error listing the valid names.
    ///
    /// An empty prefix gives `PROVIDER`, `WIALON_TOKEN` ... Errors name the
    /// variable and never contain a value.
    ///
    /// ```
    /// # #[cfg(feature = "electa")] {
    /// use auth_all::ProviderConfig;
    /// let config = ProviderConfig::from_vars("AUTH", [
    ///     ("AUTH_PROVIDER", "electa"),
    ///     ("AUTH_ELECTA_API_URL", "https://live.example.com/apps/api"),
    ///     ("AUTH_ELECTA_CID", "123456"),
    ///     ("AUTH_ELECTA_APP_KEY", "UO86CN11XY73SF72TT40PG18ZE76VV71"),
    ///     ("AUTH_ELECTA_TIMEOUT_SECS", "15"),
    /// ])?;
    /// assert_eq!(config.provider_name(), "electa");
    /// assert_eq!(config.common().timeout_secs, Some(15.0));
    ///
    /// let err = ProviderConfig::from_vars("AUTH", [
    ///     ("AUTH_PROVIDER", "electa"),
    ///     ("AUTH_ELECTA_API_URL", "https://live.example.com/apps/api"),
    ///     ("AUTH_ELECTA_CID", "123456"),
    /// ]).unwrap_err();
    /// assert!(err.message().contains("AUTH_ELECTA_APP_KEY is not set"));
    /// # }
    /// # Ok::<(), auth_all::ConfigError>(())
    /// ```
    pub fn from_vars<I, K, V>(prefix: &str, vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let base = env_base(prefix);
        let vars: BTreeMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(k, v)| k.starts_with(&base) && !v.trim().is_empty())
            .collect();
        let provider_var = format!("{base}PROVIDER");
        let Some(name) = vars.get(&provider_var) else {
            return Err(ConfigError::new(format!(
                "{provider_var} is not set; set it to one of {}",
                PROVIDERS.join(", ")
            )));
        };
        let provider = known_provider(name).map_err(ConfigError::new)?;
        let field_prefix = format!("{base}{}_", provider.to_ascii_uppercase());
        let entries: Vec<(String, EnvValue)> = vars
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(&field_prefix)
                    .map(|field| (field.to_ascii_lowercase(), EnvValue(v.clone())))
            })
            .collect();
        let naming = Naming::Env {
            prefix: field_prefix,
        };
        build(provider, entries, &naming).map_err(ConfigError::new)
    }
}

/// `AUTH` -> `AUTH_`; `` -> ``.
fn env_base(prefix: &str) -> String {
    let p = prefix.trim_end_matches('_');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}_")
    }
}

/// The canonical name of a provider this crate knows (enabled or not).
fn known_provider(name: &str) -> Result<&'static str, String> {
    let name = name.trim();
    PROVIDERS
        .iter()
        .copied()
        .find(|p| p.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            let shown: String = name.chars().take(32).collect();
            format!(
                "unknown provider `{shown}`; expected one of {}",
                PROVIDERS
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// Reads a provider's settings and the common settings from `entries`.
#[cfg_attr(
    not(any(
        feature = "ctc",
        feature = "plaspy",
        feature = "wialon",
        feature = "cielo24",
        feature = "electa"
    )),
    allow(unused_variables, unused_mut)
)]
fn build<'de, V>(
    provider: &'static str,
    entries: Vec<(String, V)>,
    naming: &Naming,
) -> Result<ProviderConfig, String>
where
    V: Deserializer<'de>,
{
    let context = |e: FieldError| format!("{provider} settings: {}", naming.describe(e));
    let (common_entries, own): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|(k, _)| COMMON_FIELDS.contains(&k.as_str()));
    let common = CommonSettings::deserialize(Fields {
        provider,
        entries: common_entries,
        naming,
        also_expected: &[],
    })
    .map_err(context)?;
    let own = Fields {
        provider,
        entries: own,
        naming,
        also_expected: COMMON_FIELDS,
    };
    read_settings(provider, own, common, context)
}

/// Reads one provider entry; `index` is its position in a list.
fn deserialize_entry<'de, D: Deserializer<'de>>(
    d: D,
    index: Option<usize>,
) -> Result<ProviderConfig, D::Error> {
    let at = |msg: String| match index {
        Some(i) => de::Error::custom(format!("providers[{i}]: {msg}")),
        None => de::Error::custom(msg),
    };
    // Buffered first: the `provider` tag may come after the settings.
    let value = Value::deserialize(d)?;
    let Value::Object(map) = value else {
        let kind = match value {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "an object",
        };
        return Err(at(format!(
            "expected a table/object with a `provider` field, got {kind}"
        )));
    };
    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
    let Some(pos) = entries.iter().position(|(k, _)| k == "provider") else {
        return Err(at(format!(
            "missing field `provider` (one of {})",
            PROVIDERS.join(", ")
        )));
    };
    let (_, tag) = entries.remove(pos);
    let Value::String(name) = tag else {
        return Err(at(format!(
            "field `provider` must be a string: one of {}",
            PROVIDERS.join(", ")
        )));
    };
    let provider = known_provider(&name).map_err(at)?;
    build(provider, entries, &Naming::File).map_err(at)
}

impl<'de> Deserialize<'de> for ProviderConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_entry(d, None)
    }
}

/// Deserializes a list of [`ProviderConfig`]s whose errors name the entry
/// (`providers[1]: ...`). Use it in your own configuration type:
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct AppConfig {
///     listen: String,
///     #[serde(deserialize_with = "auth_all::deserialize_providers")]
///     providers: Vec<auth_all::ProviderConfig>,
/// }
/// let app: AppConfig = serde_json::from_str(r#"{"listen": ":8080", "providers": []}"#)?;
/// assert!(app.providers.is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn deserialize_providers<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<ProviderConfig>, D::Error> {
    d.deserialize_seq(ListVisitor)
}

struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = Vec<ProviderConfig>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of provider tables/objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(config) = seq.next_element_seed(Indexed(list.len()))? {
            list.push(config);
        }
        Ok(list)
    }
}

struct Indexed(usize);

impl<'de> DeserializeSeed<'de> for Indexed {
    type Value = ProviderConfig;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ProviderConfig, D::Error> {
        deserialize_entry(d, Some(self.0))
    }
}

/// `{"providers": [...]}` / `[[providers]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderList {
    #[serde(deserialize_with = "deserialize_providers")]
    providers: Vec<ProviderConfig>,
}

/// Connects every configuration (see [`ProviderConfig::connect_with`]).
/// A failure names the entry: `providers[2] (electa): ...`.
pub fn connect_all(
    configs: impl IntoIterator<Item = ProviderConfig>,
    options: &ConnectOptions,
) -> Result<Vec<Box<dyn DynAuthenticated>>, AuthError> {
    configs
        .into_iter()
        .enumerate()
        .map(|(i, config)| {
            let name = config.provider_name();
            config.connect_with(options).map_err(|e| match e {
                AuthError::Config(msg) => {
                    AuthError::Config(format!("providers[{i}] ({name}): {msg}"))
                }
                other => other,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs in builds without the `wialon` feature, e.g.
    /// `cargo test -p auth-all --no-default-features --features plaspy`.
    #[cfg(not(feature = "wialon"))]
    #[test]
    fn a_disabled_provider_names_its_feature() {
        let err =
            ProviderConfig::from_json_str(r#"{"provider": "wialon", "token": "t"}"#).unwrap_err();
        assert!(
            err.message().starts_with(
                "provider `wialon` is not enabled in this build; enable the `wialon` feature of auth-all"
            ),
            "{err}"
        );
        let err = ProviderConfig::from_vars("A", [("A_PROVIDER", "wialon")]).unwrap_err();
        assert!(
            err.message().contains("enable the `wialon` feature"),
            "{err}"
        );
    }

    #[test]
    fn env_prefixes_are_normalized() {
        assert_eq!(env_base("AUTH"), "AUTH_");
        assert_eq!(env_base("AUTH_"), "AUTH_");
        assert_eq!(env_base(""), "");
    }

    #[test]
    fn enabled_providers_follow_the_features() {
        let enabled = enabled_providers();
        assert_eq!(enabled.contains(&"ctc"), cfg!(feature = "ctc"));
        assert_eq!(enabled.contains(&"wialon"), cfg!(feature = "wialon"));
        assert_eq!(enabled.contains(&"electa"), cfg!(feature = "electa"));
    }
}
