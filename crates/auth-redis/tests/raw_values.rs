//! What Redis holds for each provider's session when the store does not
//! encrypt: the session token (the store must hold it; use the `encryption`
//! feature for untrusted storage) and provider data, but no other secret:
//! no password, application or API key, and not the Wialon token that the
//! login reply echoes as `user.th`.

mod common;

use std::sync::Arc;

use auth_core::secrecy::{ExposeSecret, SecretString};
use auth_core::{Authenticated, Provider};
use auth_redis::RedisStore;
use common::{RedisServer, raw_connection};

macro_rules! redis_or_skip {
    () => {
        match RedisServer::start() {
            Some(server) => server,
            None => return,
        }
    };
}

/// Logs in with `provider` through a plain store; returns the raw value
/// Redis holds and the session token.
async fn raw_value_after_login<P: Provider>(redis: &RedisServer, provider: P) -> (String, String) {
    let store = Arc::new(
        RedisStore::builder(redis.url())
            .prefix("raw")
            .build()
            .await
            .unwrap(),
    );
    assert!(!store.is_encrypted());
    let client = Authenticated::builder(provider)
        .store(Arc::clone(&store) as Arc<dyn auth_core::TokenStore>)
        .build()
        .unwrap();
    let session = client.session().await.unwrap();
    let mut raw = raw_connection(&redis.url()).await;
    let value: Vec<u8> = redis::cmd("HGET")
        .arg(store.session_key(client.cache_key()))
        .arg("value")
        .query_async(&mut raw)
        .await
        .unwrap();
    (
        String::from_utf8(value).unwrap(),
        session.token().expose_secret().to_owned(),
    )
}

fn assert_absent(provider: &str, raw: &str, secrets: &[(&str, &str)]) {
    for (label, secret) in secrets {
        assert!(
            !raw.contains(secret),
            "{provider}: the {label} is in the raw Redis value: {raw}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_provider_secret_but_the_session_token_is_stored_in_clear() {
    let redis = redis_or_skip!();

    {
        use auth_sim::ctc::*;
        let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
        let provider = ctc_auth::CtcProvider::builder()
            .username(DEMO_USERNAME)
            .password(SecretString::from(DEMO_PASSWORD))
            .app_key(SecretString::from(DEMO_APP_KEY))
            .instance(ctc_auth::Instance::Custom(sim.base_url().clone()))
            .build()
            .unwrap();
        let (raw, token) = raw_value_after_login(&redis, provider).await;
        assert!(raw.contains(&token), "the store holds the session token");
        assert_absent(
            "ctc",
            &raw,
            &[("password", DEMO_PASSWORD), ("app key", DEMO_APP_KEY)],
        );
    }
    {
        use auth_sim::plaspy::*;
        let sim = PlaspySim::start(PlaspySimConfig::default()).await.unwrap();
        let provider = plaspy_auth::PlaspyProvider::builder()
            .user_name(DEMO_USERNAME)
            .api_key(SecretString::from(DEMO_API_KEY))
            .base_url(sim.base_url().clone())
            .build()
            .unwrap();
        let (raw, token) = raw_value_after_login(&redis, provider).await;
        assert!(raw.contains(&token));
        assert_absent("plaspy", &raw, &[("API key", DEMO_API_KEY)]);
    }
    {
        use auth_sim::wialon::*;
        let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
        let provider = wialon_token::WialonProvider::builder()
            .token(DEMO_TOKEN)
            .flags(wialon_token::LoginFlags::all())
            .host(sim.base_url().as_str())
            .build()
            .unwrap();
        let (raw, eid) = raw_value_after_login(&redis, provider).await;
        assert!(raw.contains(&eid), "the store holds the session id");
        // The simulator echoes the token as user.th, as Wialon does.
        assert_absent("wialon", &raw, &[("72-character token", DEMO_TOKEN)]);
        let stored: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let user = &stored["data"]["user"];
        assert!(user.is_object(), "{raw}");
        assert!(user.get("th").is_none(), "user.th is stored: {raw}");
        assert!(
            stored["data"]["token"].is_string(),
            "the token settings are kept: {raw}"
        );
    }
    {
        use auth_sim::cielo24::*;
        let sim = Cielo24Sim::start(Cielo24SimConfig::default())
            .await
            .unwrap();
        let provider = cielo24_auth::Cielo24Provider::builder()
            .username(DEMO_USERNAME)
            .password(SecretString::from(DEMO_PASSWORD))
            .base_url(sim.base_url().clone())
            .build()
            .unwrap();
        let (raw, token) = raw_value_after_login(&redis, provider).await;
        assert!(raw.contains(&token));
        assert_absent(
            "cielo24",
            &raw,
            &[("password", DEMO_PASSWORD), ("secure key", DEMO_SECURE_KEY)],
        );
    }
    {
        use auth_sim::electa::*;
        let sim = ElectaSim::start(ElectaSimConfig::default()).await.unwrap();
        let provider = electa_auth::ElectaProvider::builder()
            .api_url(sim.base_url().clone())
            .cid(DEMO_CID)
            .app_key(SecretString::from(DEMO_APP_KEY))
            .build()
            .unwrap();
        let (raw, token) = raw_value_after_login(&redis, provider).await;
        assert!(raw.contains(&token));
        assert_absent("electa", &raw, &[("app key", DEMO_APP_KEY)]);
    }
}
