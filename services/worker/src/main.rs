//! The example background worker: processes jobs and answers `GET /health` with its count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn main() -> std::io::Result<()> {
    let identity = common::Identity::from_env("worker");
    let processed = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&processed);
    std::thread::spawn(move || {
        let mut job = jobs::Job { id: 0, attempts: 0 };
        loop {
            job.id += 1;
            counter.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(jobs::backoff(
                job.attempts,
                Duration::from_millis(200),
                Duration::from_secs(2),
            ));
        }
    });
    common::serve(&common::listen_addr(8081), move |method, path| {
        match (method, path) {
            ("GET", "/health") => Some(common::Reply {
                status: 200,
                body: common::health_body(
                    &identity,
                    serde_json::json!({ "processed": processed.load(Ordering::Relaxed) }),
                ),
            }),
            _ => None,
        }
    })
}
