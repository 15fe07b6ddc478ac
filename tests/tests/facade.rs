//! The `auth-all` facade with every feature, against the five simulators:
//! clients of different providers built at run time from JSON, TOML and
//! environment variables, held as `Box<dyn DynAuthenticated>`; and
//! `ProviderConfig` parsing (clear errors naming the field, secrets never
//! echoed).

use std::sync::Arc;
use std::time::Duration;

use auth_all::sim::{Fault, cielo24, ctc, electa, plaspy, wialon};
use auth_all::{
    AuthError, ConfigError, ConnectOptions, DynAuthenticated, MemoryStore, ProviderConfig,
};
use serde_json::{Value, json};

/// The five simulators with their default demo accounts.
struct Sims {
    ctc: ctc::CtcSim,
    plaspy: plaspy::PlaspySim,
    wialon: wialon::WialonSim,
    cielo24: cielo24::Cielo24Sim,
    electa: electa::ElectaSim,
}

impl Sims {
    async fn start() -> Sims {
        Sims {
            ctc: ctc::CtcSim::start(Default::default()).await.unwrap(),
            plaspy: plaspy::PlaspySim::start(Default::default()).await.unwrap(),
            wialon: wialon::WialonSim::start(Default::default()).await.unwrap(),
            cielo24: cielo24::Cielo24Sim::start(Default::default())
                .await
                .unwrap(),
            electa: electa::ElectaSim::start(Default::default()).await.unwrap(),
        }
    }

    /// A JSON list of provider objects pointing at the simulators.
    fn json_configs(&self) -> Value {
        json!([
            {
                "provider": "ctc",
                "username": ctc::DEMO_USERNAME,
                "password": ctc::DEMO_PASSWORD,
                "app_key": ctc::DEMO_APP_KEY,
                "instance": self.ctc.base_url().as_str(),
                "token_placement": "bearer",
                "timeout_secs": 10
            },
            {
                "provider": "plaspy",
                "user_name": plaspy::DEMO_USERNAME,
                "api_key": plaspy::DEMO_API_KEY,
                "base_url": self.plaspy.base_url().as_str(),
                "connect_timeout_secs": 5
            },
            {
                "provider": "wialon",
                "token": wialon::DEMO_TOKEN,
                "host": self.wialon.base_url().as_str(),
                "flags": 7
            },
            {
                "provider": "cielo24",
                "username": cielo24::DEMO_USERNAME,
                "password": cielo24::DEMO_PASSWORD,
                "base_url": self.cielo24.base_url().as_str(),
                "password_header": "x-auth-key"
            },
            {
                "provider": "electa",
                "api_url": self.electa.base_url().as_str(),
                "cid": electa::DEMO_CID,
                "app_key": electa::DEMO_APP_KEY,
                "method": "get"
            }
        ])
    }

    /// The same accounts as `[[providers]]` TOML tables.
    fn toml_configs(&self) -> String {
        format!(
            r#"
# Five vendors, one file.
[[providers]]
provider = "ctc"
username = "{ctc_user}"
password = "{ctc_pass}"
app_key = "{ctc_key}"
instance = "{ctc_url}"

[[providers]]
provider = "plaspy"
user_name = "{plaspy_user}"
api_key = "{plaspy_key}"
base_url = "{plaspy_url}"

[[providers]]
provider = "wialon"
token = "{wialon_token}"
host = "{wialon_url}"
idle_timeout_secs = 300

[[providers]]
provider = "cielo24"
username = "{c24_user}"
password = "{c24_pass}"
base_url = "{c24_url}"
credential_placement = "query"

[[providers]]
provider = "electa"
api_url = "{electa_url}"
cid = {electa_cid}
app_key = "{electa_key}"
user_agent = "facade-test/1"
"#,
            ctc_user = ctc::DEMO_USERNAME,
            ctc_pass = ctc::DEMO_PASSWORD,
            ctc_key = ctc::DEMO_APP_KEY,
            ctc_url = self.ctc.base_url(),
            plaspy_user = plaspy::DEMO_USERNAME,
            plaspy_key = plaspy::DEMO_API_KEY,
            plaspy_url = self.plaspy.base_url(),
            wialon_token = wialon::DEMO_TOKEN,
            wialon_url = self.wialon.base_url(),
            c24_user = cielo24::DEMO_USERNAME,
            c24_pass = cielo24::DEMO_PASSWORD,
            c24_url = self.cielo24.base_url(),
            electa_url = self.electa.base_url(),
            electa_cid = electa::DEMO_CID,
            electa_key = electa::DEMO_APP_KEY,
        )
    }

    /// Logins the simulator of `provider` counted for its demo account.
    fn logins(&self, provider: &str) -> u64 {
        match provider {
            "ctc" => self.ctc.counters().logins(ctc::DEMO_USERNAME),
            "plaspy" => self.plaspy.counters().logins(plaspy::DEMO_USERNAME),
            "wialon" => self.wialon.counters().logins(wialon::DEMO_USER),
            "cielo24" => self.cielo24.counters().logins(cielo24::DEMO_USERNAME),
            "electa" => self.electa.counters().logins(&electa::DEMO_CID.to_string()),
            other => panic!("unknown provider {other}"),
        }
    }

    /// Protected calls the simulator of `provider` accepted.
    fn calls(&self, provider: &str) -> u64 {
        match provider {
            "ctc" => self.ctc.counters().calls(ctc::DEMO_USERNAME),
            "plaspy" => self.plaspy.counters().calls(plaspy::DEMO_USERNAME),
            "wialon" => self.wialon.counters().calls(wialon::DEMO_USER),
            "cielo24" => self.cielo24.counters().calls(cielo24::DEMO_USERNAME),
            "electa" => self.electa.counters().calls(&electa::DEMO_CID.to_string()),
            other => panic!("unknown provider {other}"),
        }
    }

    fn expire_all_sessions(&self) {
        self.ctc.expire_all_sessions();
        self.plaspy.expire_all_sessions();
        self.wialon.expire_all_sessions();
        self.cielo24.expire_all_sessions();
        self.electa.expire_all_sessions();
    }

    /// A protected call of `client`'s provider (without the token: the
    /// client adds it).
    fn protected(&self, client: &dyn DynAuthenticated) -> reqwest::RequestBuilder {
        let http = client.http_client();
        match client.provider_name() {
            "ctc" => http.get(join(
                self.ctc.base_url(),
                &ctc::avl_latest_path(ctc::DEMO_DEVICE_ID),
            )),
            "plaspy" => http.get(join(self.plaspy.base_url(), plaspy::DEVICES_PATH)),
            "wialon" => http.post(self.wialon.ajax_url()).form(&[
                ("svc", "core/search_items"),
                (
                    "params",
                    r#"{"spec":{"itemsType":"avl_unit","propName":"sys_name","propValueMask":"*","sortType":"sys_name"},"force":1,"flags":1,"from":0,"to":0}"#,
                ),
            ]),
            "cielo24" => http.get(join(self.cielo24.base_url(), "api/job/list")),
            "electa" => http.get(join(self.electa.base_url(), "users/list/")),
            other => panic!("unknown provider {other}"),
        }
    }
}

fn join(base: &url::Url, path: &str) -> url::Url {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let p = format!("{}/", base.path());
        base.set_path(&p);
    }
    base.join(path.trim_start_matches('/')).unwrap()
}

/// Sends the protected call and checks the provider accepted it (HTTP 200
/// and, for the providers that answer errors with 200, no error in the body).
async fn call_ok(sims: &Sims, client: &dyn DynAuthenticated) {
    let name = client.provider_name();
    let response = client
        .send(sims.protected(client))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "{name}: {body}");
    match name {
        "wialon" => {
            let v: Value = serde_json::from_str(&body).unwrap();
            assert!(v.get("error").is_none(), "wialon: {body}");
            assert!(v.get("items").is_some(), "wialon: {body}");
        }
        "electa" => {
            assert!(
                body.contains("<ResponseCode>0</ResponseCode>"),
                "electa: {body}"
            );
        }
        "plaspy" | "cielo24" | "ctc" => {
            serde_json::from_str::<Value>(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        _ => unreachable!(),
    }
}

const ALL: [&str; 5] = ["ctc", "plaspy", "wialon", "cielo24", "electa"];

/// The whole life of five clients of five providers held in one `Vec`.
async fn exercise(sims: &Sims, clients: &[Box<dyn DynAuthenticated>]) {
    let names: Vec<_> = clients.iter().map(|c| c.provider_name()).collect();
    assert_eq!(names, ALL);

    // First call: one login each.
    for client in clients {
        call_ok(sims, client.as_ref()).await;
    }
    // Second call reuses the session.
    for client in clients {
        call_ok(sims, client.as_ref()).await;
        let name = client.provider_name();
        assert_eq!(sims.logins(name), 1, "{name}");
        assert_eq!(sims.calls(name), 2, "{name}");
        assert_eq!(client.stats().logins, 1, "{name}");
    }

    // Invalidate: the next call logs in again.
    for client in clients {
        client.invalidate().await;
        call_ok(sims, client.as_ref()).await;
        let name = client.provider_name();
        assert_eq!(sims.logins(name), 2, "{name} after invalidate");
    }

    // The server forgets every session: each client notices the provider's
    // own rejection signal (401, {"error":1}, BAD_API_TOKEN, code 4 ...),
    // logs in once and retries transparently.
    sims.expire_all_sessions();
    for client in clients {
        call_ok(sims, client.as_ref()).await;
        let name = client.provider_name();
        assert_eq!(sims.logins(name), 3, "{name} after server-side expiry");
        assert_eq!(sims.calls(name), 4, "{name}");
        assert_eq!(client.stats().logins, 3, "{name}");
    }

    // The token is available for APIs the client does not wrap, still a
    // secret (redacted in Debug).
    for client in clients {
        let token = client.token().await.unwrap();
        assert!(format!("{token:?}").contains("REDACTED"));
        assert!(!client.cache_key().is_empty());
    }

    // Logout everywhere.
    for client in clients {
        let name = client.provider_name();
        client
            .logout()
            .await
            .unwrap_or_else(|e| panic!("{name} logout: {e}"));
    }
    assert_eq!(sims.ctc.logouts(), 1);
    assert_eq!(sims.ctc.active_sessions(), 0);
    assert_eq!(sims.wialon.active_sessions(), 0);
    assert_eq!(sims.cielo24.active_sessions(), 0);

    // After logout the next call logs in again.
    for client in clients {
        call_ok(sims, client.as_ref()).await;
        let name = client.provider_name();
        assert_eq!(sims.logins(name), 4, "{name} after logout");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_providers_from_json_in_one_vec() {
    let sims = Sims::start().await;
    let configs = ProviderConfig::list_from_json_str(&sims.json_configs().to_string()).unwrap();
    let clients = auth_all::connect_all(configs, &ConnectOptions::new()).unwrap();
    exercise(&sims, &clients).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_providers_from_toml_in_one_vec() {
    let sims = Sims::start().await;
    let configs = ProviderConfig::list_from_toml_str(&sims.toml_configs()).unwrap();
    let clients: Vec<Box<dyn DynAuthenticated>> =
        configs.into_iter().map(|c| c.connect().unwrap()).collect();
    exercise(&sims, &clients).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_providers_from_environment_variables() {
    let sims = Sims::start().await;
    let ctc_url = sims.ctc.base_url().to_string();
    let plaspy_url = sims.plaspy.base_url().to_string();
    let wialon_url = sims.wialon.base_url().to_string();
    let c24_url = sims.cielo24.base_url().to_string();
    let electa_url = sims.electa.base_url().to_string();
    let cid = electa::DEMO_CID.to_string();
    // One environment, five prefixes; each prefix sees only its provider.
    let env: Vec<(&str, &str)> = vec![
        ("CTC1_PROVIDER", "ctc"),
        ("CTC1_CTC_USERNAME", ctc::DEMO_USERNAME),
        ("CTC1_CTC_PASSWORD", ctc::DEMO_PASSWORD),
        ("CTC1_CTC_APP_KEY", ctc::DEMO_APP_KEY),
        ("CTC1_CTC_INSTANCE", &ctc_url),
        ("CTC1_CTC_TOKEN_PLACEMENT", "header"),
        ("PL_PROVIDER", "PLASPY"),
        ("PL_PLASPY_USER_NAME", plaspy::DEMO_USERNAME),
        ("PL_PLASPY_API_KEY", plaspy::DEMO_API_KEY),
        ("PL_PLASPY_BASE_URL", &plaspy_url),
        ("PL_PLASPY_TIMEOUT_SECS", "7.5"),
        ("WL_PROVIDER", "wialon"),
        ("WL_WIALON_TOKEN", wialon::DEMO_TOKEN),
        ("WL_WIALON_HOST", &wialon_url),
        ("WL_WIALON_OPERATE_AS", ""), // empty counts as unset
        ("WL_WIALON_ALLOW_INSECURE_HTTP", "no"),
        ("C24_PROVIDER", "cielo24"),
        ("C24_CIELO24_USERNAME", cielo24::DEMO_USERNAME),
        ("C24_CIELO24_SECURE_KEY", cielo24::DEMO_SECURE_KEY),
        ("C24_CIELO24_BASE_URL", &c24_url),
        ("C24_CIELO24_API_VERSION", "1"),
        ("EL_PROVIDER", "electa"),
        ("EL_ELECTA_API_URL", &electa_url),
        ("EL_ELECTA_CID", &cid),
        ("EL_ELECTA_APP_KEY", electa::DEMO_APP_KEY),
        ("EL_ELECTA_METHOD", "post"),
    ];
    let mut clients = Vec::new();
    for prefix in ["CTC1", "PL", "WL_", "C24", "EL"] {
        let config = ProviderConfig::from_vars(prefix, env.iter().copied())
            .unwrap_or_else(|e| panic!("{prefix}: {e}"));
        clients.push(config.connect().unwrap());
    }
    exercise(&sims, &clients).await;
}

#[test]
fn from_env_reads_the_process_environment() {
    // No variable under this prefix exists: the error names the one to set.
    let err = ProviderConfig::from_env("AUTH_ALL_FACADE_TEST_UNSET").unwrap_err();
    assert_eq!(
        err.message(),
        "AUTH_ALL_FACADE_TEST_UNSET_PROVIDER is not set; set it to one of ctc, plaspy, wialon, cielo24, electa"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_store_shares_sessions_between_clients() {
    let sims = Sims::start().await;
    let config = json!({
        "provider": "plaspy",
        "user_name": plaspy::DEMO_USERNAME,
        "api_key": plaspy::DEMO_API_KEY,
        "base_url": sims.plaspy.base_url().as_str(),
    })
    .to_string();
    let options = ConnectOptions::new().store(Arc::new(MemoryStore::new()));
    let a = ProviderConfig::from_json_str(&config)
        .unwrap()
        .connect_with(&options)
        .unwrap();
    let b = ProviderConfig::from_json_str(&config)
        .unwrap()
        .connect_with(&options)
        .unwrap();
    call_ok(&sims, a.as_ref()).await;
    call_ok(&sims, b.as_ref()).await;
    assert_eq!(
        sims.logins("plaspy"),
        1,
        "the second client reused the stored session"
    );

    // Without the shared store each client logs in.
    let c = ProviderConfig::from_json_str(&config)
        .unwrap()
        .connect()
        .unwrap();
    call_ok(&sims, c.as_ref()).await;
    assert_eq!(sims.logins("plaspy"), 2);
}

/// A platform that reloads its customers' configurations gives the
/// connected clients their new secrets, provider by provider, without a
/// restart; a configuration of another provider or account is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updated_configurations_rotate_the_secrets_of_connected_clients() {
    const NEW_WIALON_TOKEN: &str =
        "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0aabbccdd";
    const NEW_ELECTA_KEY: &str = "NEW0KEY0FOR0ELECTA0ROTATION00042";
    let sims = Sims::start().await;
    let configs = sims.json_configs();
    let connect = |config: &Value| ProviderConfig::from_json_str(&config.to_string()).unwrap();
    let clients: Vec<Box<dyn DynAuthenticated>> = (0..ALL.len())
        .map(|i| connect(&configs[i]).connect().unwrap())
        .collect();
    for client in &clients {
        call_ok(&sims, client.as_ref()).await;
    }

    // Another provider's configuration, another account's: refused.
    let err = connect(&configs[1])
        .rotate_credentials(clients[0].as_ref())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuthError::Config(m) if m.contains("plaspy") && m.contains("ctc")),
        "{err}"
    );
    let mut other_account = configs[0].clone();
    other_account["username"] = json!("someone.else@example.com");
    let err = connect(&other_account)
        .rotate_credentials(clients[0].as_ref())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuthError::Config(m) if m.contains("another account")),
        "{err}"
    );
    assert!(!err.to_string().contains(ctc::DEMO_PASSWORD));

    // Each customer changes their secret at the service, then in the
    // platform's configuration; the old ones stop working (but Wialon's
    // old token, which its owner has not deleted).
    sims.ctc.set_password(ctc::DEMO_USERNAME, "N3w-Passw0rd!");
    sims.plaspy
        .set_api_key(plaspy::DEMO_USERNAME, "0123456789abcdef0123456789abcdef");
    sims.wialon
        .add_token(wialon::DEMO_USER, wialon::SimToken::new(NEW_WIALON_TOKEN))
        .unwrap();
    sims.cielo24
        .set_password(cielo24::DEMO_USERNAME, "n3w-cielo24-password");
    sims.electa.set_app_key(electa::DEMO_CID, NEW_ELECTA_KEY);
    let mut updated = configs.clone();
    updated[0]["password"] = json!("N3w-Passw0rd!");
    updated[1]["api_key"] = json!("0123456789abcdef0123456789abcdef");
    updated[2]["token"] = json!(NEW_WIALON_TOKEN);
    updated[3]["password"] = json!("n3w-cielo24-password");
    updated[4]["app_key"] = json!(NEW_ELECTA_KEY);
    for (i, client) in clients.iter().enumerate() {
        connect(&updated[i])
            .rotate_credentials(client.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", ALL[i]));
    }

    // The sessions end: every client logs in again, with the new secret.
    sims.ctc.expire_all_sessions();
    sims.plaspy.expire_all_sessions();
    sims.wialon.expire_all_sessions();
    sims.cielo24.expire_all_sessions();
    sims.electa.expire_all_sessions();
    for client in &clients {
        call_ok(&sims, client.as_ref()).await;
        let stats = client.stats();
        assert_eq!(
            (stats.rotations, stats.failed_logins, stats.logins),
            (1, 0, 2),
            "{}",
            client.provider_name()
        );
    }
}

/// Clients connected from configuration one by one share one connection
/// pool per host (counted as the connections each simulator accepts), as
/// a platform connecting its customers' accounts needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_connected_separately_share_one_pool_per_host() {
    const CLIENTS: usize = 20;
    let sims = Sims::start().await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let configs = ProviderConfig::list_from_json_str(&sims.json_configs().to_string()).unwrap();
        for config in configs {
            clients.push(config.connect().unwrap());
        }
    }
    for client in &clients {
        call_ok(&sims, client.as_ref()).await;
    }
    let accepted = [
        ("ctc", sims.ctc.connections_accepted()),
        ("plaspy", sims.plaspy.connections_accepted()),
        ("wialon", sims.wialon.connections_accepted()),
        ("cielo24", sims.cielo24.connections_accepted()),
        ("electa", sims.electa.connections_accepted()),
    ];
    for (name, connections) in accepted {
        // About one: a connection goes back to the pool just after its
        // answer is read, so the next call may occasionally open another.
        assert!(
            connections <= 5,
            "{CLIENTS} {name} clients opened {connections} connections"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_timeout_is_applied() {
    let sims = Sims::start().await;
    let config = json!({
        "provider": "electa",
        "api_url": sims.electa.base_url().as_str(),
        "cid": electa::DEMO_CID,
        "app_key": electa::DEMO_APP_KEY,
        "timeout_secs": 0.3,
    })
    .to_string();
    let client = ProviderConfig::from_json_str(&config)
        .unwrap()
        .connect()
        .unwrap();
    sims.electa
        .faults()
        .inject(Fault::Delay(Duration::from_secs(3)), 1);
    let started = std::time::Instant::now();
    let err = client
        .send(sims.protected(client.as_ref()))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the 0.3 s timeout applied: {:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, AuthError::Transport { .. } | AuthError::Timeout { .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    // The next attempt, without the delay, works (after the back-off).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut ok = false;
    for _ in 0..20 {
        match client.send(sims.protected(client.as_ref())).await {
            Ok(r) if r.status() == 200 => {
                ok = true;
                break;
            }
            Ok(r) => panic!("HTTP {}", r.status()),
            Err(AuthError::BackingOff { retry_after, .. }) => {
                tokio::time::sleep(retry_after.min(Duration::from_secs(2))).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_at_first_call_without_echoing_them() {
    let sims = Sims::start().await;
    let secret = "Wrong-Passw0rd-Never-Shown";
    let config = json!({
        "provider": "ctc",
        "username": ctc::DEMO_USERNAME,
        "password": secret,
        "app_key": ctc::DEMO_APP_KEY,
        "instance": sims.ctc.base_url().as_str(),
    })
    .to_string();
    let parsed = ProviderConfig::from_json_str(&config).unwrap();
    assert!(!format!("{parsed:?}").contains(secret));
    let client = parsed.connect().unwrap();
    assert!(!format!("{client:?}").contains(secret));
    let err = client
        .send(sims.protected(client.as_ref()))
        .await
        .unwrap_err();
    assert!(err.is_invalid_credentials(), "{err:?}");
    assert!(!err.to_string().contains(secret));
    assert!(!format!("{err:?}").contains(secret));
    assert_eq!(sims.ctc.counters().failed_logins(ctc::DEMO_USERNAME), 1);
}

// ------------------------------------------------------------------ parsing

const SECRET: &str = "Sup3r-Secret-Value-42";
const SECRET_NUMBER: &str = "987654321987";

fn assert_no_secret(err: &ConfigError) {
    for shown in [
        err.to_string(),
        format!("{err:?}"),
        err.message().to_owned(),
    ] {
        assert!(!shown.contains(SECRET), "secret echoed: {shown}");
        assert!(!shown.contains(SECRET_NUMBER), "secret echoed: {shown}");
    }
    let as_auth: AuthError = err.clone().into();
    assert!(matches!(as_auth, AuthError::Config(_)));
    assert!(!as_auth.to_string().contains(SECRET));
    assert!(!as_auth.to_string().contains(SECRET_NUMBER));
}

#[test]
fn parses_every_provider_from_json_and_redacts_secrets() {
    let json = format!(
        r#"{{"providers": [
            {{"provider": "ctc", "username": "u", "password": "{SECRET}", "app_key": "{SECRET}k", "instance": "EU", "token_placement": "cookie", "user_agent": "fleet/2"}},
            {{"provider": "plaspy", "user_name": "demo", "api_key": "{SECRET}", "default_lifetime_secs": 600}},
            {{"provider": "wialon", "token": "{SECRET}", "operate_as": "dispatcher", "timeout_secs": 12.5, "max_body_bytes": 4096}},
            {{"provider": "cielo24", "username": "u", "secure_key": "{SECRET}", "sandbox": true}},
            {{"app_key": "{SECRET}", "cid": 42, "api_url": "https://live.example.com/apps/api", "provider": "electa"}}
        ]}}"#
    );
    let configs = ProviderConfig::list_from_json_str(&json).unwrap();
    let names: Vec<_> = configs.iter().map(|c| c.provider_name()).collect();
    assert_eq!(names, ALL);
    for c in &configs {
        assert!(!format!("{c:?}").contains(SECRET), "{c:?}");
    }
    match &configs[0] {
        ProviderConfig::Ctc(s) => {
            assert_eq!(s.instance, auth_all::ctc::Instance::Eu);
            assert_eq!(s.token_placement, auth_all::CtcTokenPlacement::Cookie);
            assert_eq!(s.common.user_agent.as_deref(), Some("fleet/2"));
        }
        other => panic!("{other:?}"),
    }
    match &configs[2] {
        ProviderConfig::Wialon(s) => {
            assert_eq!(s.operate_as.as_deref(), Some("dispatcher"));
            assert_eq!(s.common.timeout_secs, Some(12.5));
            assert_eq!(s.common.max_body_bytes, Some(4096));
        }
        other => panic!("{other:?}"),
    }
    match &configs[4] {
        ProviderConfig::Electa(s) => {
            assert_eq!(s.cid, 42);
            assert_eq!(s.method, auth_all::ElectaMethod::Post);
        }
        other => panic!("{other:?}"),
    }
    // A bare array is accepted too.
    let array = ProviderConfig::list_from_json_str(
        r#"[{"provider": "plaspy", "user_name": "demo", "api_key": "k"}]"#,
    )
    .unwrap();
    assert_eq!(array.len(), 1);
}

#[test]
fn a_list_inside_an_application_config() {
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AppConfig {
        listen: String,
        #[serde(deserialize_with = "auth_all::deserialize_providers")]
        providers: Vec<ProviderConfig>,
    }
    let app: AppConfig = serde_json::from_str(
        r#"{"listen": "0.0.0.0:8080", "providers": [
            {"provider": "plaspy", "user_name": "demo", "api_key": "k"},
            {"provider": "wialon", "token": "t"}
        ]}"#,
    )
    .unwrap();
    assert_eq!(app.listen, "0.0.0.0:8080");
    assert_eq!(app.providers.len(), 2);

    let err = serde_json::from_str::<AppConfig>(&format!(
        r#"{{"listen": "x", "providers": [
            {{"provider": "plaspy", "user_name": "demo", "api_key": "k"}},
            {{"provider": "wialon", "token": {SECRET_NUMBER}}}
        ]}}"#
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("providers[1]: wialon settings: field `token`"),
        "{err}"
    );
    assert!(!err.contains(SECRET_NUMBER), "{err}");
}

#[test]
fn a_secret_of_the_wrong_type_is_named_not_echoed() {
    // JSON: a number, a boolean, a list.
    for value in [SECRET_NUMBER, "true", &format!("[\"{SECRET}\"]")] {
        let json = format!(
            r#"[{{"provider": "plaspy", "user_name": "demo", "api_key": "k"}},
                {{"provider": "ctc", "username": "u", "password": {value}, "app_key": "k", "instance": "us"}}]"#
        );
        let err = ProviderConfig::list_from_json_str(&json).unwrap_err();
        assert!(
            err.message()
                .starts_with("providers[1]: ctc settings: field `password`: invalid type: "),
            "{err}"
        );
        assert!(err.message().contains("expected a string"), "{err}");
        assert!(err.line().is_some(), "{err}");
        assert_no_secret(&err);
    }

    // TOML: an unquoted number, in a single table.
    let text = format!("provider = \"cielo24\"\nusername = \"u\"\nsecure_key = {SECRET_NUMBER}\n");
    let err = ProviderConfig::from_toml_str(&text).unwrap_err();
    assert_eq!(
        err.message(),
        "cielo24 settings: field `secure_key`: invalid type: a number, expected a string (quote it; secret values are never shown in errors)"
    );
    assert_no_secret(&err);
}

#[test]
fn unknown_fields_are_named_with_the_valid_ones() {
    let json = format!(
        r#"{{"provider": "ctc", "username": "u", "pasword": "{SECRET}", "password": "p", "app_key": "k", "instance": "us"}}"#
    );
    let err = ProviderConfig::from_json_str(&json).unwrap_err();
    assert_eq!(
        err.message(),
        "ctc settings: unknown field `pasword` for provider `ctc`; expected one of `username`, `password`, `app_key`, `instance`, `token_placement`, `allow_insecure_http`, `timeout_secs`, `connect_timeout_secs`, `max_body_bytes`, `user_agent`, `proxy`, `tls_backend`, `root_certificate_file`"
    );
    assert_no_secret(&err);

    // A field of another provider.
    let text = format!(
        "[[providers]]\nprovider = \"wialon\"\ntoken = \"{SECRET}\"\napi_key = \"{SECRET}\"\n"
    );
    let err = ProviderConfig::list_from_toml_str(&text).unwrap_err();
    assert!(
        err.message().starts_with(
            "providers[0]: wialon settings: unknown field `api_key` for provider `wialon`"
        ),
        "{err}"
    );
    assert_eq!(err.line(), Some(1), "{err}");
    assert_no_secret(&err);

    // A typo at the top level of the file.
    let err = ProviderConfig::list_from_toml_str("[[provider]]\nprovider = \"ctc\"\n").unwrap_err();
    assert!(err.message().contains("unknown field `provider`"), "{err}");
}

#[test]
fn missing_and_mistyped_fields_are_named() {
    let err = ProviderConfig::from_json_str(
        r#"{"provider": "ctc", "username": "u", "password": "p", "instance": "us"}"#,
    )
    .unwrap_err();
    assert_eq!(err.message(), "ctc settings: missing field `app_key`");

    let err =
        ProviderConfig::from_toml_str("provider = \"electa\"\napi_url = \"https://e.example/api\"\ncid = \"abc\"\napp_key = \"k\"\n")
            .unwrap_err();
    assert!(
        err.message()
            .starts_with("electa settings: field `cid`: invalid type: string"),
        "{err}"
    );

    let err = ProviderConfig::from_json_str(
        r#"{"provider": "ctc", "username": "u", "password": "p", "app_key": "k", "instance": "us", "token_placement": "query"}"#,
    )
    .unwrap_err();
    assert!(
        err.message()
            .starts_with("ctc settings: field `token_placement`: unknown variant `query`, expected one of `cookie`, `header`, `bearer`"),
        "{err}"
    );

    let err = ProviderConfig::from_json_str(
        r#"{"provider": "plaspy", "user_name": "demo", "api_key": "k", "timeout_secs": "soon"}"#,
    )
    .unwrap_err();
    assert!(
        err.message()
            .starts_with("plaspy settings: field `timeout_secs`: invalid type"),
        "{err}"
    );

    let err = ProviderConfig::from_json_str(r#"{"username": "u"}"#).unwrap_err();
    assert_eq!(
        err.message(),
        "missing field `provider` (one of ctc, plaspy, wialon, cielo24, electa)"
    );
    let err = ProviderConfig::from_json_str(r#"{"provider": 3}"#).unwrap_err();
    assert!(
        err.message()
            .starts_with("field `provider` must be a string"),
        "{err}"
    );
    let err = ProviderConfig::from_json_str(r#"{"provider": "samsara"}"#).unwrap_err();
    assert_eq!(
        err.message(),
        "unknown provider `samsara`; expected one of `ctc`, `plaspy`, `wialon`, `cielo24`, `electa`"
    );
    let err = ProviderConfig::list_from_json_str(r#"["ctc"]"#).unwrap_err();
    assert_eq!(
        err.message(),
        "providers[0]: expected a table/object with a `provider` field, got a string"
    );
    // The provider name is case-insensitive.
    let c = ProviderConfig::from_json_str(
        r#"{"provider": "Plaspy", "user_name": "demo", "api_key": "k"}"#,
    )
    .unwrap();
    assert_eq!(c.provider_name(), "plaspy");
}

#[test]
fn syntax_errors_give_the_line_without_quoting_it() {
    // An unterminated string holding a secret.
    let text = format!(
        "[[providers]]\nprovider = \"ctc\"\nusername = \"u\"\npassword = \"{SECRET}\napp_key = \"k\"\n"
    );
    let err = ProviderConfig::list_from_toml_str(&text).unwrap_err();
    assert_eq!(err.line(), Some(4), "{err}");
    assert_no_secret(&err);
    // The toml crate's own message quotes the offending line, secret and
    // all: that is why the facade reports only the message and position.
    let raw = toml::from_str::<toml::Table>(&text).unwrap_err();
    assert!(raw.to_string().contains(SECRET), "{raw}");

    let json = format!(r#"[{{"provider": "ctc", "password": "{SECRET}" "username": "u"}}]"#);
    let err = ProviderConfig::list_from_json_str(&json).unwrap_err();
    assert_eq!(err.line(), Some(1), "{err}");
    assert!(err.to_string().contains("(line 1, column"), "{err}");
    assert_no_secret(&err);
}

#[test]
fn urls_with_credentials_are_refused_without_echo() {
    let json = format!(
        r#"{{"provider": "plaspy", "user_name": "demo", "api_key": "k", "base_url": "https://demo:{SECRET}@api.example.com"}}"#
    );
    let err = ProviderConfig::from_json_str(&json).unwrap_err();
    assert!(
        err.message()
            .starts_with("plaspy settings: field `base_url`: the URL must not embed credentials"),
        "{err}"
    );
    assert_no_secret(&err);

    let json = format!(
        r#"{{"provider": "ctc", "username": "u", "password": "p", "app_key": "k", "instance": "not a url {SECRET}"}}"#
    );
    let err = ProviderConfig::from_json_str(&json).unwrap_err();
    assert!(
        err.message()
            .starts_with("ctc settings: field `instance`: expected \"us\", \"eu\" or a URL"),
        "{err}"
    );
    assert_no_secret(&err);
}

#[test]
fn invalid_values_are_reported_at_connect_without_echo() {
    // A Wialon token has 72 characters: the builder refuses this one.
    let err =
        ProviderConfig::from_json_str(&format!(r#"{{"provider": "wialon", "token": "{SECRET}"}}"#))
            .unwrap()
            .connect()
            .unwrap_err();
    assert!(matches!(err, AuthError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("72 characters"), "{err}");
    assert!(!err.to_string().contains(SECRET));

    // Plain http to a remote host needs the opt-in.
    let json = r#"{"provider": "plaspy", "user_name": "demo", "api_key": "k", "base_url": "http://plaspy.example.com"}"#;
    let err = ProviderConfig::from_json_str(json)
        .unwrap()
        .connect()
        .unwrap_err();
    assert!(err.to_string().contains("refusing plain http"), "{err}");
    let allowed = json.replace('}', r#", "allow_insecure_http": true}"#);
    ProviderConfig::from_json_str(&allowed)
        .unwrap()
        .connect()
        .unwrap();

    // cielo24 wants exactly one of password and secure_key.
    let err = ProviderConfig::from_json_str(r#"{"provider": "cielo24", "username": "u"}"#)
        .unwrap()
        .connect()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("a password or a secure key is required"),
        "{err}"
    );

    // Common settings are checked too, and connect_all names the entry.
    let configs = ProviderConfig::list_from_json_str(
        r#"[{"provider": "plaspy", "user_name": "demo", "api_key": "k"},
            {"provider": "plaspy", "user_name": "demo", "api_key": "k", "timeout_secs": -1}]"#,
    )
    .unwrap();
    let err = auth_all::connect_all(configs, &ConnectOptions::new())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "invalid configuration: providers[1] (plaspy): timeout_secs must be a positive number of seconds"
    );

    // Unknown Wialon flag bits.
    let err = ProviderConfig::from_json_str(&format!(
        r#"{{"provider": "wialon", "token": "{}", "flags": 1024}}"#,
        wialon::DEMO_TOKEN
    ))
    .unwrap()
    .connect()
    .unwrap_err();
    assert!(err.to_string().contains("unknown bits"), "{err}");
}

#[test]
fn environment_errors_name_the_variable_never_the_value() {
    let base = [
        ("AUTH_PROVIDER", "ctc"),
        ("AUTH_CTC_USERNAME", "u"),
        ("AUTH_CTC_PASSWORD", SECRET),
        ("AUTH_CTC_INSTANCE", "us"),
    ];
    let err = ProviderConfig::from_vars("AUTH", base).unwrap_err();
    assert_eq!(err.message(), "ctc settings: AUTH_CTC_APP_KEY is not set");
    assert_no_secret(&err);

    let mut vars: Vec<(&str, &str)> = base.to_vec();
    vars.push(("AUTH_CTC_APP_KEY", "k"));
    vars.push(("AUTH_CTC_PASWORD", SECRET));
    let err = ProviderConfig::from_vars("AUTH", vars.clone()).unwrap_err();
    assert!(
        err.message().starts_with(
            "ctc settings: AUTH_CTC_PASWORD is not a setting of provider `ctc`; expected one of AUTH_CTC_USERNAME, AUTH_CTC_PASSWORD, AUTH_CTC_APP_KEY"
        ),
        "{err}"
    );
    assert_no_secret(&err);

    vars.pop();
    vars.push(("AUTH_CTC_TIMEOUT_SECS", SECRET));
    let err = ProviderConfig::from_vars("AUTH", vars.clone()).unwrap_err();
    assert_eq!(
        err.message(),
        "ctc settings: AUTH_CTC_TIMEOUT_SECS: expected a number"
    );
    assert_no_secret(&err);

    vars.pop();
    vars.push(("AUTH_CTC_ALLOW_INSECURE_HTTP", SECRET));
    let err = ProviderConfig::from_vars("AUTH", vars.clone()).unwrap_err();
    assert!(
        err.message()
            .starts_with("ctc settings: AUTH_CTC_ALLOW_INSECURE_HTTP: expected true or false"),
        "{err}"
    );

    vars.pop();
    // Variables of other providers under the prefix are ignored.
    vars.push(("AUTH_WIALON_TOKEN", SECRET));
    let config = ProviderConfig::from_vars("AUTH", vars).unwrap();
    assert_eq!(config.provider_name(), "ctc");
    assert!(!format!("{config:?}").contains(SECRET));

    let err = ProviderConfig::from_vars("AUTH", [("AUTH_PROVIDER", "nope")]).unwrap_err();
    assert!(
        err.message().starts_with("unknown provider `nope`"),
        "{err}"
    );

    let err = ProviderConfig::from_vars(
        "AUTH",
        [("AUTH_PROVIDER", "electa"), ("AUTH_ELECTA_CID", "12x")],
    )
    .unwrap_err();
    assert_eq!(
        err.message(),
        "electa settings: AUTH_ELECTA_CID: expected an unsigned integer"
    );
}

#[test]
fn features_and_names() {
    assert_eq!(auth_all::enabled_providers(), ALL);
    assert_eq!(auth_all::PROVIDERS, ALL);
    // The re-exported crates are the providers' own.
    // Each crate names itself with `NAME`, and every provider is built the
    // same way: `XProvider::builder() -> XBuilder`.
    assert_eq!(auth_all::wialon::NAME, "wialon");
    assert_eq!(auth_all::ctc::NAME, "ctc");
    assert_eq!(auth_all::plaspy::NAME, "plaspy");
    assert_eq!(auth_all::cielo24::NAME, "cielo24");
    assert_eq!(auth_all::electa::NAME, "electa");
    let _: fn() -> auth_all::ctc::CtcBuilder = auth_all::ctc::CtcProvider::builder;
    let _: fn() -> auth_all::plaspy::PlaspyBuilder = auth_all::plaspy::PlaspyProvider::builder;
    let _: fn() -> auth_all::wialon::WialonBuilder = auth_all::wialon::WialonProvider::builder;
    let _: fn() -> auth_all::cielo24::Cielo24Builder = auth_all::cielo24::Cielo24Provider::builder;
    let _: fn() -> auth_all::electa::ElectaBuilder = auth_all::electa::ElectaProvider::builder;
    let _ = auth_all::core::HttpSettings::default();
}
