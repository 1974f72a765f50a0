//! `mrsm serve`'s guard: every route but `/healthcheck` needs a live token (401;
//! the scopes of each route are `serve_scopes.rs`'s), names are checked before
//! any path is built (400), bodies are capped (413), bad tokens cost good clients
//! nothing, the secrets' file and the root are private, plain HTTP stays on
//! loopback, TLS works, and SIGTERM stops the server but not its jobs.

use crate::support;
use crate::support::server;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use server::{agent, Server};
use support::Env;

/// `METHOD url` with an optional bearer token (and `[]` for a body): status and body.
fn call(method: &str, url: &str, token: Option<&str>) -> (u16, String) {
    server::call(method, url, token, "[]")
}

/// Every route the server has, with a job name in it.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/jobs"),
    ("GET", "/jobs/x"),
    ("POST", "/jobs/x"),
    ("DELETE", "/jobs/x"),
    ("POST", "/jobs/x/start"),
    ("POST", "/jobs/x/stop"),
    ("POST", "/jobs/x/pause"),
    ("GET", "/jobs/x/exists"),
    ("GET", "/jobs/x/stop_time"),
    ("GET", "/jobs/x/is_blocking_on_stdin"),
    ("GET", "/jobs/x/prompt_kwargs"),
    ("GET", "/logs/x"),
    ("GET", "/logs/ws"),
    ("GET", "/logs/x/ws"),
    ("POST", "/tokens/validate"),
    ("GET", "/version"),
    ("GET", "/version/mrsm"),
    ("GET", "/v1/info"),
    ("GET", "/v1/jobs"),
    ("GET", "/v1/kept"),
    ("GET", "/v1/jobs/x"),
    ("POST", "/v1/jobs/x"),
    ("PUT", "/v1/jobs/x"),
    ("DELETE", "/v1/jobs/x"),
    ("GET", "/v1/jobs/x/spec"),
    ("POST", "/v1/jobs/x/start"),
    ("POST", "/v1/jobs/x/pause"),
    ("POST", "/v1/jobs/x/stop"),
    ("GET", "/v1/jobs/x/runs"),
    ("GET", "/v1/jobs/x/logs"),
    ("GET", "/v1/jobs/x/logs/page"),
    ("POST", "/v1/jobs/x/stdin"),
    ("GET", "/no/such/route"),
];

#[test]
fn every_route_but_the_healthcheck_needs_a_live_token() {
    let server = Server::start();
    let url = server.url();
    let revoked = server.env.token("gone", &[]);
    let expiring = server.env.token("brief", &[]);
    // Both work until the file says otherwise: changes count from the next request.
    for token in [&revoked, &expiring] {
        assert_eq!(call("GET", &format!("{url}/v1/jobs"), Some(token)).0, 200);
    }
    server.env.ok(&["token", "revoke", "gone"]);
    // Written with an expiry in the past: expired from the start.
    let file = server.env.root().join("tokens.json");
    let mut tokens: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("tokens")).expect("JSON");
    for t in tokens.as_array_mut().expect("a list") {
        if t["name"] == "brief" {
            t["expires"] = "2020-01-01T00:00:00Z".into();
        }
    }
    std::fs::write(&file, tokens.to_string()).expect("written");
    let wrong = format!("mrsm_{}", "ab".repeat(32));
    for (method, path) in ROUTES {
        for token in [
            None,
            Some(wrong.as_str()),
            Some(revoked.as_str()),
            Some(expiring.as_str()),
        ] {
            let (status, body) = call(method, &format!("{url}{path}"), token);
            assert_eq!(status, 401, "{method} {path} with {token:?}: {body}");
            if let Some(token) = token {
                assert!(!body.contains(token), "the secret is not echoed: {body}");
            }
        }
    }
    let (status, _) = call("GET", &format!("{url}/healthcheck"), None);
    assert_eq!(status, 200);
    // The same routes with the live token are not refused for want of one.
    for (method, path) in ROUTES {
        let (status, body) = call(method, &format!("{url}{path}"), Some(&server.token));
        assert!(
            status != 401 && status != 403,
            "{method} {path}: {status} {body}"
        );
    }
}

#[test]
fn a_job_s_log_is_never_shown_without_a_token_whatever_its_name() {
    let server = Server::start();
    let url = server.url();
    let made = agent()
        .post(&format!("{url}/jobs/ws"))
        .header("Authorization", &format!("Bearer {}", server.token))
        .send_json(serde_json::json!(["echo", "the secret"]))
        .expect("answered");
    assert_eq!(made.status().as_u16(), 200);
    let (status, body) = call("GET", &format!("{url}/logs/ws"), None);
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("the secret"));
}

/// A raw request line, for paths an HTTP library would tidy up: the status.
fn raw_status(port: u16, request: &str) -> u16 {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("sent");
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !reply.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&reply);
    line.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {line:?}"))
}

#[test]
fn bad_names_and_large_bodies_are_refused() {
    let server = Server::start();
    let auth = format!("Authorization: Bearer {}\r\n", server.token);
    let get = |path: &str| {
        raw_status(
            server.port,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
        )
    };
    for path in [
        "/jobs/..",
        "/jobs/%2E%2E",
        "/v1/jobs/a%2Fb",
        "/v1/jobs/..%2F..%2Fetc",
        "/logs/.hidden",
        &format!("/v1/jobs/{}", "n".repeat(65)),
    ] {
        assert_eq!(get(path), 400, "{path}");
    }
    // 10 MB announced: refused before it is read.
    let status = raw_status(
        server.port,
        &format!(
            "POST /jobs/big HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 10485760\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 413);
    // 10 MB sent in chunks, without a length: refused once the cap is passed.
    let body = vec![b' '; 10 * 1024 * 1024];
    let result = agent()
        .post(&format!("{}/v1/jobs/big", server.url()))
        .header("Authorization", &format!("Bearer {}", server.token))
        .header("Content-Type", "application/json")
        .send(ureq::SendBody::from_reader(&mut &body[..]));
    match result {
        Ok(response) => assert_eq!(response.status().as_u16(), 413),
        // The server may close the connection once it has answered.
        Err(e) => assert!(
            e.to_string().contains("reset")
                || e.to_string().contains("pipe")
                || e.to_string().contains("closed"),
            "{e}"
        ),
    }
    assert!(server.env.supervisor("big").is_none());
}

#[test]
fn bad_tokens_cost_good_clients_nothing() {
    let server = Server::start();
    let url = server.url();
    let start = Instant::now();
    let bad = std::thread::scope(|scope| {
        let attackers: Vec<_> = (0..4)
            .map(|i| {
                let url = url.clone();
                scope.spawn(move || {
                    (0..125)
                        .map(|n| {
                            call(
                                "GET",
                                &format!("{url}/v1/jobs"),
                                Some(&format!("mrsm_{i}{n}")),
                            )
                            .0
                        })
                        .filter(|s| *s == 401)
                        .count()
                })
            })
            .collect();
        // A good client meanwhile: every request answered, none held up.
        for _ in 0..50 {
            let asked = Instant::now();
            assert_eq!(
                call("GET", &format!("{url}/v1/jobs"), Some(&server.token)).0,
                200
            );
            assert!(
                asked.elapsed() < Duration::from_secs(2),
                "{:?}",
                asked.elapsed()
            );
        }
        attackers
            .into_iter()
            .map(|a| a.join().expect("attacker"))
            .sum::<usize>()
    });
    assert_eq!(bad, 500);
    eprintln!("500 bad and 50 good requests in {:?}", start.elapsed());
    // Afterwards too: no lockout of anyone.
    assert_eq!(
        call("GET", &format!("{url}/v1/jobs"), Some(&server.token)).0,
        200
    );
}

#[test]
fn the_secrets_and_the_root_are_private() {
    let server = Server::start();
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(&server.env.root().join("tokens.json")), 0o600);
    assert_eq!(mode(server.env.root()), 0o700);
}

#[test]
fn plain_http_is_refused_beyond_loopback() {
    let env = Env::new();
    let out = env
        .mrsm()
        .args(["serve", "--bind", "0.0.0.0:0"])
        .timeout(Duration::from_secs(20))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--tls-cert") && err.contains("--allow-plain-http"),
        "{err}"
    );
}

#[test]
fn sigterm_stops_the_server_and_not_its_jobs() {
    let mut server = Server::start();
    let client = server.client();
    client
        .mrsm()
        .args([
            "run", "-d", "-e", "api:test", "--name", "keeps", "--", "sleep", "300",
        ])
        .assert()
        .success();
    let supervisor = server.env.supervisor("keeps").expect("supervised");
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(supervisor.is_alive(), "the job runs on");
    assert_eq!(server.env.status("keeps"), "running");
}

#[test]
fn https_with_a_certificate_and_its_key() {
    let env = Env::new();
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("params");
    let cert = params.self_signed(&key).expect("certificate");
    let cert_file = env.work().join("cert.pem");
    let key_file = env.work().join("key.pem");
    std::fs::write(&cert_file, cert.pem()).expect("written");
    std::fs::write(&key_file, key.serialize_pem()).expect("written");
    let token = env.token("tls", &[]);
    let mut child = support::mrsm_process()
        .args(["serve", "--bind", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert_file)
        .arg("--tls-key")
        .arg(&key_file)
        .env("MRSM_ROOT_DIR", env.root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("piped")),
        &mut first,
    )
    .expect("a line");
    assert!(first.contains("https://127.0.0.1:"), "{first}");
    let port: u16 = first
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let roots = ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![
        ureq::tls::Certificate::from_der(cert.der()).to_owned(),
    ]));
    let tls_agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
        .build()
        .into();
    let status = |path: &str, token: Option<&str>| {
        let mut request = tls_agent.get(&format!("https://127.0.0.1:{port}{path}"));
        if let Some(t) = token {
            request = request.header("Authorization", &format!("Bearer {t}"));
        }
        request.call().expect("answered over TLS").status().as_u16()
    };
    assert_eq!(status("/healthcheck", None), 200);
    assert_eq!(status("/v1/jobs", None), 401);
    assert_eq!(status("/v1/jobs", Some(&token)), 200);
    // Plain HTTP to the TLS port gets nothing.
    assert!(agent()
        .get(&format!("http://127.0.0.1:{port}/healthcheck"))
        .call()
        .is_err());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn half_sent_requests_neither_block_good_clients_nor_stay_open() {
    let server = Server::start_with(&[("MRSM_HEAD_TIMEOUT_MS", "500")]);
    let idle: Vec<std::net::TcpStream> = (0..300)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connects");
            s.write_all(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\n")
                .expect("half a request");
            s
        })
        .collect();
    let asked = Instant::now();
    assert_eq!(
        call(
            "GET",
            &format!("{}/v1/jobs", server.url()),
            Some(&server.token)
        )
        .0,
        200
    );
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    // Each half request is dropped once its head is late.
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut buf = [0u8; 256];
        let closed = loop {
            match s.read(&mut buf) {
                Ok(0) => break true,
                // A last word (408) before closing is fine.
                Ok(_) => continue,
                Err(e) => break e.kind() == std::io::ErrorKind::ConnectionReset,
            }
        };
        assert!(closed, "a half-sent request was kept open");
    }
}
