//! The cached `session()` read allocates nothing and never waits.

mod common;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use auth_core::{Authenticated, Expiry};
use common::Fake;

#[test]
fn cached_session_read_does_not_allocate_or_wait() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _enter = rt.enter();
    let client = Authenticated::new(Fake::new(
        Expiry::AfterIssue(Duration::from_secs(3600)),
        Duration::ZERO,
    ))
    .unwrap();
    rt.block_on(client.session()).unwrap();

    let info = allocation_counter::measure(|| {
        for _ in 0..1000 {
            let mut cx = Context::from_waker(Waker::noop());
            let mut fut = pin!(client.session());
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(s)) => assert_eq!(s.generation(), 1),
                other => panic!("cached read did not complete at once: {other:?}"),
            }
        }
    });
    assert_eq!(info.count_total, 0, "cached reads allocated");
}
