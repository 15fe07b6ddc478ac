//! A logout whose (undocumented) path answers 404 says so in a `debug`
//! event. In a test binary of its own: tracing caches callsite interest per
//! process, so a subscriber set by one test while others run could miss it.

use std::io::Write;
use std::sync::{Arc, Mutex};

use auth_sim::ctc::{
    CtcSim, CtcSimConfig, DEMO_APP_KEY, DEMO_PASSWORD, DEMO_USERNAME, LogoutRoute,
};
use ctc_auth::{CtcProvider, Instance};
use secrecy::SecretString;

/// A `MakeWriter` capturing everything the subscriber writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logout_404_is_ok_and_says_so_in_a_debug_event() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = CtcSim::start(CtcSimConfig {
        logout_route: LogoutRoute::NotFound,
        ..CtcSimConfig::default()
    })
    .await
    .unwrap();
    let config = CtcProvider::builder()
        .username(DEMO_USERNAME)
        .password(SecretString::from(DEMO_PASSWORD))
        .app_key(SecretString::from(DEMO_APP_KEY))
        .instance(Instance::Custom(sim.base_url().clone()))
        .build()
        .unwrap();
    let client = config.into_client().unwrap();
    client.session().await.unwrap();
    client.logout().await.unwrap();
    assert!(client.cached().is_none());
    // The server was not told: the token it issued is still valid there.
    assert_eq!(sim.active_sessions(), 1);
    assert_eq!(sim.logouts(), 0);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("logout path is not served"))
        .unwrap_or_else(|| panic!("no debug event about the logout path: {logs}"));
    assert!(line.contains("DEBUG"), "{line}");
    assert!(line.contains("status=404"), "{line}");
    assert!(!logs.contains(DEMO_PASSWORD), "{logs}");
}
