//! Wialon Remote API with a token: log in once, call, survive a killed
//! session, keep the session alive, list tokens, log out.
//!
//! Environment:
//! * `WIALON_TOKEN`: a real 72-character Wialon token. When unset, the
//!   example starts the local simulator (`auth-sim`) and uses its demo token.
//! * `WIALON_HOST` (optional, with `WIALON_TOKEN`): the API host, default
//!   `https://hst-api.wialon.com` (also `.us`, `.eu`, `.org`, or a Wialon
//!   Local URL).
//!
//! Against a real account the example only reads (search, token list) and
//! logs out; creating and deleting a token is shown against the simulator.
//! Secrets (the token, the session id) are never printed.
//!
//! Run: `cargo run -p examples --example wialon`

use std::time::Duration;

use auth_sim::wialon::{DEMO_TOKEN, WialonSim, WialonSimConfig};
use serde_json::{Value, json};
use wialon_token::{
    LoginFlags, TokenParams, WialonClientExt, WialonError, WialonProvider, token_access,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();

    let real_token = std::env::var("WIALON_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    let (sim, token, host) = match real_token {
        Some(token) => {
            let host = std::env::var("WIALON_HOST")
                .unwrap_or_else(|_| wialon_token::WIALON_HOSTING.to_owned());
            println!("using the real Wialon API at {host}");
            (None, token.trim().to_owned(), host)
        }
        None => {
            let sim = WialonSim::start(WialonSimConfig::default()).await?;
            let host = sim.base_url().to_string();
            println!("WIALON_TOKEN not set: using the local simulator at {host}");
            (Some(sim), DEMO_TOKEN.to_owned(), host)
        }
    };

    let provider = WialonProvider::builder()
        .token(token)
        .flags(LoginFlags::default() | LoginFlags::TOKEN)
        .host(&host)
        .build()?;
    let client = WialonProvider::into_client(provider)?;

    let session = client.session().await?;
    let info = session.data();
    println!(
        "logged in as {:?} (user id {:?}), server time {:?}",
        info.user_name,
        info.user.as_ref().map(|u| u.id),
        info.server_time
    );
    if let Some(token) = &info.token {
        println!(
            "token app {:?}, created {:?}, valid {}",
            token.app,
            token.created,
            token
                .expires_at()
                .map_or_else(|| "without limit".to_owned(), |t| format!("until {t}"))
        );
    }

    let search = json!({
        "spec": {"itemsType": "avl_unit", "propName": "sys_name", "propValueMask": "*", "sortType": "sys_name"},
        "force": 1, "flags": 1, "from": 0, "to": 0
    });
    let units: Value = client.call("core/search_items", &search).await?;
    let names: Vec<&str> = units["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["nm"].as_str()).collect())
        .unwrap_or_default();
    println!("{} units: {names:?}", units["totalItemsCount"]);

    // Keep the session alive while idle (Wialon kills it after 5 minutes).
    client.spawn_keep_alive(Duration::from_secs(60))?;

    match client.token_list(None).await {
        Ok(tokens) => {
            let apps: Vec<&str> = tokens.iter().map(|t| t.info.app.as_str()).collect();
            println!("{} tokens on the account, apps: {apps:?}", tokens.len());
        }
        Err(err) => match err.provider_error::<WialonError>() {
            Some(typed) => println!("token/list refused: {typed}"),
            None => return Err(err.into()),
        },
    }

    if let Some(sim) = &sim {
        // The server kills the session; the next call logs in again by itself.
        sim.expire_all_sessions();
        let units: Value = client.call("core/search_items", &search).await?;
        println!(
            "after the server killed the session: {} units, re-logins so far: {}",
            units["totalItemsCount"],
            client.stats().relogins
        );

        let created = client
            .token_create(
                &TokenParams::new(token_access::ONLINE_TRACKING | token_access::VIEW)
                    .app("example")
                    .duration(Duration::from_secs(3600)),
            )
            .await?;
        println!(
            "created a token for app {:?} valid {:?} ({:?})",
            created.info.app, created.info.duration, created
        );
        client.token_delete(&created.token).await?;
        println!("deleted it again");
    }

    client.logout().await?;
    let stats = client.stats();
    println!(
        "logged out; logins: {}, re-logins: {}, requests: {}",
        stats.logins, stats.relogins, stats.requests
    );
    if let Some(sim) = sim {
        println!(
            "simulator saw {} logins and {} calls; {} sessions remain",
            sim.counters().logins(auth_sim::wialon::DEMO_USER),
            sim.counters().calls(auth_sim::wialon::DEMO_USER),
            sim.active_sessions()
        );
    }
    Ok(())
}
