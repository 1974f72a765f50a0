//! Input through `mrsm serve` to a step that does not read it: held back up to the
//! supervisor's limit, then refused with 429 `busy` (try again later), never a 500.

use crate::support::server;

use std::time::Duration;

use server::Server;

#[test]
fn input_a_step_does_not_read_is_answered_429_busy() {
    let server = Server::start();
    server.env.run_d("deaf", &["--", "sleep", "300"]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let url = format!("{}/v1/jobs/deaf/stdin", server.url());
    let chunk = vec![b'x'; 256 * 1024];
    let mut sent = 0usize;
    let (status, body) = loop {
        let mut response = agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", server.token))
            .header("Content-Type", "application/octet-stream")
            .send(&chunk[..])
            .expect("answered");
        let status = response.status().as_u16();
        if status != 204 {
            break (
                status,
                response.body_mut().read_to_string().unwrap_or_default(),
            );
        }
        sent += chunk.len();
        assert!(sent <= 8 << 20, "8 MiB taken by a step that reads nothing");
    };
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("\"error\":\"busy\""), "{body}");
    assert!(body.contains("has not read its input"), "{body}");
}
