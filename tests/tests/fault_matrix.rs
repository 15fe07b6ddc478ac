//! Fault matrix: every provider client against its simulator, with every
//! injectable fault on the login and, separately, on a protected call.
//!
//! For each case the test asserts a typed [`AuthError`] of the expected kind
//! (or the documented pass-through / re-login-and-retry), bounded attempts
//! (counted by the simulator: a faulted request never reaches the simulated
//! endpoint, so any hidden retry would show up in the counters), that nothing
//! hangs (every await is under `tokio::time::timeout`, and a delayed answer
//! is cut off by the client's configured timeout), that the client recovers
//! on the next call, and that nothing panics (each case runs in its own task
//! and a panic is reported as a failure). Each case gets a fresh simulator
//! and client with `BackoffPolicy::none()`, so cases cannot influence each
//! other. The table of outcomes is printed (`--nocapture`).

use std::fmt;
use std::time::{Duration, Instant};

use auth_core::{AuthError, Authenticated, BackoffPolicy, HttpSettings};
use auth_sim::{Fault, Faults};
use cielo24_auth::{Cielo24Client, Cielo24ClientExt, Cielo24Provider};
use ctc_auth::{CtcClient, CtcProvider, Instance};
use electa_auth::{ElectaClient, ElectaClientExt, ElectaProvider};
use plaspy_auth::{PlaspyClient, PlaspyProvider};
use secrecy::SecretString;
use serde_json::json;
use wialon_token::WialonClientExt;
use wialon_token::{WialonClient, WialonProvider};

/// The client's whole-request timeout in this test.
const TIMEOUT: Duration = Duration::from_millis(500);
/// How long a `Delay` fault holds the answer (well past `TIMEOUT`).
const DELAY: Duration = Duration::from_secs(3);
/// The body cap for authentication answers and API answers alike.
const CAP: usize = 1024 * 1024;
/// The longest any single operation may take before the case fails as stuck.
const STUCK: Duration = Duration::from_secs(5);
const RETRY_AFTER_SECS: u64 = 5;
/// Concurrent callers of a hung login.
const CALLERS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ctc,
    Plaspy,
    Wialon,
    Cielo24,
    Electa,
}

const KINDS: [Kind; 5] = [
    Kind::Ctc,
    Kind::Plaspy,
    Kind::Wialon,
    Kind::Cielo24,
    Kind::Electa,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Login,
    Call,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    S500,
    S502,
    S503,
    S401,
    Throttle,
    Delay,
    Drop,
    Truncated,
    Huge,
    Html,
    Malformed,
}

const FAULTS: [F; 11] = [
    F::S500,
    F::S502,
    F::S503,
    F::S401,
    F::Throttle,
    F::Delay,
    F::Drop,
    F::Truncated,
    F::Huge,
    F::Html,
    F::Malformed,
];

impl F {
    fn fault(self) -> Fault {
        match self {
            F::S500 => Fault::Status(500),
            F::S502 => Fault::Status(502),
            F::S503 => Fault::Status(503),
            F::S401 => Fault::Status(401),
            F::Throttle => Fault::TooManyRequests {
                retry_after_secs: RETRY_AFTER_SECS,
            },
            F::Delay => Fault::Delay(DELAY),
            F::Drop => Fault::Drop,
            F::Truncated => Fault::Truncated,
            F::Huge => Fault::Huge(CAP + 1024 * 1024),
            F::Html => Fault::Html,
            F::Malformed => Fault::Malformed,
        }
    }
}

enum Sim {
    Ctc(auth_sim::ctc::CtcSim),
    Plaspy(auth_sim::plaspy::PlaspySim),
    Wialon(auth_sim::wialon::WialonSim),
    Cielo24(auth_sim::cielo24::Cielo24Sim),
    Electa(auth_sim::electa::ElectaSim),
}

enum Client {
    Ctc(CtcClient),
    Plaspy(PlaspyClient),
    Wialon(WialonClient),
    Cielo24(Cielo24Client),
    Electa(ElectaClient),
}

fn settings() -> HttpSettings {
    HttpSettings::default()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .max_body(CAP)
        .max_api_body(CAP)
}

fn build<P: auth_core::Provider>(provider: P) -> Authenticated<P> {
    Authenticated::builder(provider)
        .http_settings(settings())
        .backoff(BackoffPolicy::none())
        .build()
        .unwrap()
}

async fn start(kind: Kind) -> (Sim, Client) {
    match kind {
        Kind::Ctc => {
            use auth_sim::ctc::*;
            let sim = CtcSim::start(CtcSimConfig::default()).await.unwrap();
            let config = CtcProvider::builder()
                .username(DEMO_USERNAME)
                .password(SecretString::from(DEMO_PASSWORD))
                .app_key(SecretString::from(DEMO_APP_KEY))
                .instance(Instance::Custom(sim.base_url().clone()))
                .build()
                .unwrap();
            let client = build(config);
            (Sim::Ctc(sim), Client::Ctc(client))
        }
        Kind::Plaspy => {
            use auth_sim::plaspy::*;
            let sim = PlaspySim::start(PlaspySimConfig::default()).await.unwrap();
            let config = PlaspyProvider::builder()
                .user_name(DEMO_USERNAME)
                .api_key(SecretString::from(DEMO_API_KEY))
                .base_url(sim.base_url().clone())
                .build()
                .unwrap();
            let client = build(config);
            (Sim::Plaspy(sim), Client::Plaspy(client))
        }
        Kind::Wialon => {
            use auth_sim::wialon::*;
            let sim = WialonSim::start(WialonSimConfig::default()).await.unwrap();
            let provider = WialonProvider::builder()
                .token(DEMO_TOKEN)
                .host(sim.base_url().as_str())
                .build()
                .unwrap();
            let client = WialonClient::from(build(provider));
            (Sim::Wialon(sim), Client::Wialon(client))
        }
        Kind::Cielo24 => {
            use auth_sim::cielo24::*;
            let sim = Cielo24Sim::start(Cielo24SimConfig::default())
                .await
                .unwrap();
            let provider = Cielo24Provider::builder()
                .username(DEMO_USERNAME)
                .password(SecretString::from(DEMO_PASSWORD))
                .base_url(sim.base_url().clone())
                .build()
                .unwrap();
            (Sim::Cielo24(sim), Client::Cielo24(build(provider)))
        }
        Kind::Electa => {
            use auth_sim::electa::*;
            let sim = ElectaSim::start(ElectaSimConfig::default()).await.unwrap();
            let provider = ElectaProvider::builder()
                .api_url(sim.base_url().clone())
                .cid(DEMO_CID)
                .app_key(SecretString::from(DEMO_APP_KEY))
                .build()
                .unwrap();
            let client = Authenticated::builder(provider)
                .http_settings(settings())
                .backoff(BackoffPolicy::none())
                .build()
                .unwrap();
            (Sim::Electa(sim), Client::Electa(client))
        }
    }
}

impl Sim {
    fn faults(&self) -> &Faults {
        match self {
            Sim::Ctc(s) => s.faults(),
            Sim::Plaspy(s) => s.faults(),
            Sim::Wialon(s) => s.faults(),
            Sim::Cielo24(s) => s.faults(),
            Sim::Electa(s) => s.faults(),
        }
    }

    /// (login attempts, accepted calls) of the demo account.
    fn counts(&self) -> (u64, u64) {
        let (counters, account) = match self {
            Sim::Ctc(s) => (s.counters(), auth_sim::ctc::DEMO_USERNAME.to_owned()),
            Sim::Plaspy(s) => (s.counters(), auth_sim::plaspy::DEMO_USERNAME.to_owned()),
            Sim::Wialon(s) => (s.counters(), auth_sim::wialon::DEMO_USER.to_owned()),
            Sim::Cielo24(s) => (s.counters(), auth_sim::cielo24::DEMO_USERNAME.to_owned()),
            Sim::Electa(s) => (s.counters(), auth_sim::electa::DEMO_CID.to_string()),
        };
        (counters.login_attempts(&account), counters.calls(&account))
    }
}

/// What a protected call gave: the HTTP status the caller sees (the auth
/// layer passes non-auth statuses through for CTC and Plaspy), or an error.
type CallOutcome = Result<u16, AuthError>;

impl Client {
    async fn login(&self) -> Result<(), AuthError> {
        match self {
            Client::Ctc(c) => c.session().await.map(drop),
            Client::Plaspy(c) => c.session().await.map(drop),
            Client::Wialon(c) => c.session().await.map(drop),
            Client::Cielo24(c) => c.session().await.map(drop),
            Client::Electa(c) => c.session().await.map(drop),
        }
    }

    /// Lifts a back-off in force (an operator's reset).
    fn reset(&self) {
        match self {
            Client::Ctc(c) => c.reset(),
            Client::Plaspy(c) => c.reset(),
            Client::Wialon(c) => c.reset(),
            Client::Cielo24(c) => c.reset(),
            Client::Electa(c) => c.reset(),
        }
    }

    /// The provider's protected call, the way an application makes it.
    async fn call(&self) -> CallOutcome {
        match self {
            Client::Ctc(c) => {
                let path = auth_sim::ctc::avl_latest_path(auth_sim::ctc::DEMO_DEVICE_ID);
                let url = c.provider().endpoint(&path)?;
                read(c.send(c.http().client().get(url)).await?).await
            }
            Client::Plaspy(c) => {
                let url = c.provider().endpoint("api/devices")?;
                read(c.send(c.http().client().get(url)).await?).await
            }
            Client::Wialon(c) => {
                let params = json!({
                    "spec": {"itemsType": "avl_unit", "propName": "sys_name",
                             "propValueMask": "*", "sortType": "sys_name"},
                    "force": 1, "flags": 1, "from": 0, "to": 0
                });
                c.call::<serde_json::Value>("core/search_items", &params)
                    .await
                    .map(|_| 200)
            }
            Client::Cielo24(c) => c.get_json("api/job/list", &[]).await.map(|_| 200),
            Client::Electa(c) => c.call("users/list/", &[]).await.map(|_| 200),
        }
    }
}

/// Reads a passed-through response's body under the cap, as an
/// application using `send` does.
async fn read(response: reqwest::Response) -> CallOutcome {
    let (status, _) = auth_core::http::read_body_capped("test", response, CAP).await?;
    Ok(status.as_u16())
}

/// A short label of an outcome for the table.
fn label(outcome: &Result<u16, AuthError>) -> String {
    match outcome {
        Ok(200) => "ok".to_owned(),
        Ok(status) => format!("HTTP {status} passed through"),
        Err(e) => match e {
            AuthError::UnexpectedResponse { status, .. } => match status {
                Some(s) => format!("UnexpectedResponse({s})"),
                None => "UnexpectedResponse".to_owned(),
            },
            AuthError::Throttled { retry_after, .. } => {
                format!("Throttled({}s)", retry_after.map_or(0, |d| d.as_secs()))
            }
            AuthError::Transport { source, .. } if source.is_timeout() => {
                "Transport(timeout)".to_owned()
            }
            AuthError::Transport { .. } => "Transport".to_owned(),
            AuthError::BodyTooLarge { .. } => "BodyTooLarge".to_owned(),
            AuthError::InvalidCredentials { .. } => "InvalidCredentials".to_owned(),
            AuthError::Api { code, .. } => format!("Api({code})"),
            AuthError::Timeout { .. } => "Timeout".to_owned(),
            other => format!("{other:?}").chars().take(40).collect(),
        },
    }
}

/// The outcome the design promises for `fault` in `phase` (the first
/// request after injection), as a check.
fn expected(kind: Kind, phase: Phase, fault: F, outcome: &CallOutcome) -> Result<(), String> {
    // CTC and Plaspy calls go through `Authenticated::send`, which hands
    // every non-rejecting response to the caller; the other three crates'
    // call helpers read and interpret the reply.
    let passthrough = phase == Phase::Call && matches!(kind, Kind::Ctc | Kind::Plaspy);
    let ok = match (fault, outcome) {
        (F::S500 | F::S502 | F::S503, Ok(s)) => passthrough && Some(*s) == status_of(fault),
        (F::S500 | F::S502 | F::S503, Err(e @ AuthError::UnexpectedResponse { status, .. })) => {
            !passthrough && *status == status_of(fault) && e.is_retryable()
        }
        // 401 on a call is a rejection: one re-login and one retry succeed.
        (F::S401, Ok(200)) => phase == Phase::Call,
        // 401 on the login: a typed, non-retryable error of the provider's
        // choice (no loop).
        (F::S401, Err(e)) => phase == Phase::Login && !e.is_retryable(),
        (F::Throttle, Ok(429)) => passthrough,
        (F::Throttle, Err(AuthError::Throttled { retry_after, .. })) => {
            !passthrough && *retry_after == Some(Duration::from_secs(RETRY_AFTER_SECS))
        }
        (F::Delay, Err(AuthError::Transport { source, .. })) => source.is_timeout(),
        (F::Delay, Err(AuthError::Timeout { .. })) => true,
        (F::Drop | F::Truncated, Err(AuthError::Transport { .. })) => true,
        (F::Drop | F::Truncated, Err(AuthError::UnexpectedResponse { .. })) => true,
        (F::Huge, Err(AuthError::BodyTooLarge { limit, .. })) => *limit == CAP,
        (F::Html, Ok(502)) => passthrough,
        (F::Html, Err(AuthError::UnexpectedResponse { status, detail, .. })) => {
            !passthrough && *status == Some(502) && detail.contains("HTML")
        }
        (F::Malformed, Ok(200)) => passthrough,
        (F::Malformed, Err(AuthError::UnexpectedResponse { status, .. })) => {
            !passthrough && *status == Some(200)
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("unexpected outcome {outcome:?}"))
    }
}

fn status_of(fault: F) -> Option<u16> {
    match fault {
        F::S500 => Some(500),
        F::S502 => Some(502),
        F::S503 => Some(503),
        _ => None,
    }
}

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(STUCK, f)
        .await
        .map_err(|_| format!("{what} did not finish within {STUCK:?}"))
}

struct Row {
    kind: Kind,
    phase: Phase,
    fault: F,
    outcome: String,
    elapsed: Duration,
    counts: (u64, u64),
    verdict: Result<(), String>,
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "| {:?} | {:?} | {:?} | {} | {} ms | {} / {} | {} |",
            self.kind,
            self.phase,
            self.fault,
            self.outcome,
            self.elapsed.as_millis(),
            self.counts.0,
            self.counts.1,
            match &self.verdict {
                Ok(()) => "pass".to_owned(),
                Err(e) => format!("FAIL: {e}"),
            }
        )
    }
}

/// One case: fresh simulator and client, fault, checks, recovery.
async fn run_case(kind: Kind, phase: Phase, fault: F) -> Row {
    let (sim, client) = start(kind).await;
    let client = std::sync::Arc::new(client);
    let mut row = Row {
        kind,
        phase,
        fault,
        outcome: String::new(),
        elapsed: Duration::ZERO,
        counts: (0, 0),
        verdict: Ok(()),
    };
    row.verdict = async {
        if phase == Phase::Call {
            bounded("the first login", client.login())
                .await?
                .map_err(|e| format!("the first login failed: {e}"))?;
        }
        let before = sim.counts();
        sim.faults().inject(fault.fault(), 1);
        let started = Instant::now();
        let outcome: CallOutcome = match phase {
            Phase::Login => {
                // On a hung login, several callers at once: they share the
                // one login (single flight), and none is held past the
                // timeout. (Other faults fail within milliseconds, so late
                // callers could start a second, unfaulted login: one caller.)
                let n = if fault == F::Delay { CALLERS } else { 1 };
                let callers: Vec<_> = (0..n)
                    .map(|_| {
                        let client = std::sync::Arc::clone(&client);
                        tokio::spawn(async move { client.login().await })
                    })
                    .collect();
                let mut outcomes = Vec::new();
                for caller in callers {
                    outcomes.push(
                        bounded("a faulted login", caller)
                            .await?
                            .map_err(|e| format!("a login caller panicked: {e}"))?,
                    );
                }
                let labels: Vec<String> = outcomes
                    .iter()
                    .map(|o| label(&o.clone().map(|()| 200)))
                    .collect();
                if labels.iter().any(|l| *l != labels[0]) {
                    return Err(format!("callers saw different outcomes: {labels:?}"));
                }
                outcomes.swap_remove(0).map(|()| 200)
            }
            Phase::Call => bounded("the faulted call", client.call()).await?,
        };
        row.elapsed = started.elapsed();
        row.outcome = label(&outcome);
        expected(kind, phase, fault, &outcome)?;
        if let Err(e) = &outcome {
            // Errors are secret-free and printable.
            let _ = format!("{e} {e:?}");
        }
        // A delayed answer is cut off by the configured timeout.
        if fault == F::Delay && row.elapsed > TIMEOUT + Duration::from_millis(1500) {
            return Err(format!("the delayed request took {:?}", row.elapsed));
        }
        // Bounded attempts: the faulted request never reached the endpoint
        // (except Delay, which forwards it late); nothing else was sent,
        // except the single re-login + retry after a 401 on a call.
        let after = sim.counts();
        let (logins, calls) = (after.0 - before.0, after.1 - before.1);
        let allowed = match (phase, fault) {
            (Phase::Call, F::S401) => (1, 1),
            (_, F::Delay) => (u64::from(phase == Phase::Login), u64::from(phase == Phase::Call)),
            _ => (0, 0),
        };
        if logins > allowed.0 || calls > allowed.1 {
            return Err(format!(
                "{logins} login(s) and {calls} call(s) reached the simulator after the fault (allowed {allowed:?})"
            ));
        }
        if (phase, fault) == (Phase::Call, F::S401) && (logins, calls) != (1, 1) {
            return Err(format!("401 on a call: expected 1 re-login and 1 retry, saw {logins} and {calls}"));
        }
        // Recovery: the next call works without waiting, and a fault on a
        // call did not cost a login.
        let logins_before_recovery = sim.counts().0;
        if (phase, fault) == (Phase::Login, F::Throttle) {
            // A 429 on login is honoured: the next login waits for
            // Retry-After, without a request.
            match bounded("the call after a 429", client.call()).await? {
                Err(AuthError::BackingOff { retry_after, .. })
                    if retry_after > Duration::from_secs(4) => {}
                other => {
                    return Err(format!(
                        "Retry-After was not honoured after a 429 on login: {}",
                        label(&other)
                    ));
                }
            }
            if sim.counts().0 != logins_before_recovery {
                return Err("a login went out during Retry-After".to_owned());
            }
            client.reset();
        }
        let recovered = bounded("the recovery call", client.call()).await?;
        if !matches!(recovered, Ok(200)) {
            return Err(format!("no recovery after the fault: {}", label(&recovered)));
        }
        let relogins = sim.counts().0 - logins_before_recovery;
        let expected_relogins = u64::from(phase == Phase::Login);
        if relogins > expected_relogins {
            return Err(format!("the recovery call logged in {relogins} time(s)"));
        }
        row.counts = sim.counts();
        Ok(())
    }
    .await;
    drop(client);
    drop(sim);
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let started = Instant::now();
    let mut cases = Vec::new();
    for kind in KINDS {
        for phase in [Phase::Login, Phase::Call] {
            for fault in FAULTS {
                cases.push((kind, phase, fault));
            }
        }
    }
    // Providers run concurrently (each on its own simulators); the cases of
    // one provider run one after the other.
    let mut tasks = Vec::new();
    for kind in KINDS {
        let mine: Vec<_> = cases.iter().copied().filter(|c| c.0 == kind).collect();
        tasks.push(tokio::spawn(async move {
            let mut rows = Vec::new();
            for (kind, phase, fault) in mine {
                let handle = tokio::spawn(run_case(kind, phase, fault));
                let row = match handle.await {
                    Ok(row) => row,
                    Err(e) => Row {
                        kind,
                        phase,
                        fault,
                        outcome: "panic".to_owned(),
                        elapsed: Duration::ZERO,
                        counts: (0, 0),
                        verdict: Err(format!("the case panicked: {e}")),
                    },
                };
                rows.push(row);
            }
            rows
        }));
    }
    let mut rows = Vec::new();
    for task in tasks {
        rows.extend(
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("a provider's cases did not finish within 60 s")
                .expect("the case runner panicked"),
        );
    }
    println!("| provider | phase | fault | outcome | time | sim logins / calls (end) | verdict |");
    println!("|---|---|---|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    println!("{} cases in {:?}", rows.len(), started.elapsed());
    assert_eq!(rows.len(), KINDS.len() * 2 * FAULTS.len());
    let failures: Vec<String> = rows
        .iter()
        .filter(|r| r.verdict.is_err())
        .map(ToString::to_string)
        .collect();
    assert!(
        failures.is_empty(),
        "failed cases:\n{}",
        failures.join("\n")
    );
}
