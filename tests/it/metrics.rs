//! `GET /metrics` of `mrsm serve`: a real Prometheus (Debian's) scrapes it with a
//! `metrics:read` token and answers queries with the values the jobs' runs made;
//! `promtool check metrics` accepts the text; the scope is enforced; a scrape reads
//! no log file; `--metrics-bind` serves it on loopback without a token. Where
//! Prometheus is missing the tests that need it are skipped;
//! `MRSM_REQUIRE_PROMETHEUS=1` (CI) makes that a failure.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::server::{agent, call, Server};
use crate::support::{free_port, wait_for};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";

/// Whether `program` is here; if not, the test is skipped (or fails in CI).
fn have(program: &str) -> bool {
    if Path::new(program).exists() {
        return true;
    }
    if std::env::var("MRSM_REQUIRE_PROMETHEUS").is_ok_and(|v| v == "1") {
        panic!("{program} is required here (MRSM_REQUIRE_PROMETHEUS=1) but missing");
    }
    eprintln!("skipped: {program} is missing; install Debian's prometheus");
    false
}

/// A Prometheus of the test's own, in its own process group, killed by its
/// recorded id when the test ends.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Scrapes `target` (`127.0.0.1:PORT`) every second with `token`.
    fn start(target: &str, token: &str) -> Prometheus {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().expect("dir");
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, token).expect("token written");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: mrsm\n    authorization:\n      type: Bearer\n      \
                 credentials_file: {}\n    static_configs:\n      - targets: ['{target}']\n",
                token_file.display()
            ),
        )
        .expect("config written");
        let port = free_port();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("prometheus starts");
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    /// The value of `query`'s only series, once Prometheus has one.
    fn value(&self, query: &str) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let mut answer = agent().get(&url).query("query", query).call().ok()?;
        let body: Value = serde_json::from_str(&answer.body_mut().read_to_string().ok()?).ok()?;
        let result = body["data"]["result"].as_array()?;
        (result.len() == 1).then(|| result[0]["value"][1].as_str().map(str::to_string))?
    }

    /// Waits until `query` gives `expected`.
    fn wait_value(&self, query: &str, expected: &str) {
        let mut last = None;
        let found = crate::support::poll(Duration::from_secs(30), || {
            last = self.value(query);
            (last.as_deref() == Some(expected)).then_some(())
        });
        assert!(
            found.is_some(),
            "Prometheus: {query} = {last:?}, expected {expected}"
        );
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(-(self.child.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// The runs the server's root has recorded for `job`.
fn wait_runs(server: &Server, job: &str, count: usize) {
    wait_for(
        Duration::from_secs(30),
        &format!("{job}'s {count} runs"),
        || (server.env.runs(job).len() >= count).then_some(()),
    );
}

fn scrape(server: &Server, token: Option<&str>) -> (u16, String) {
    call("GET", &format!("{}/metrics", server.url()), token, "")
}

#[test]
fn prometheus_scrapes_the_runs_the_jobs_made_with_a_metrics_token() {
    if !have(PROMETHEUS) {
        return;
    }
    let server = Server::start();
    server.env.run_d("fine", &["--", "true"]);
    wait_runs(&server, "fine", 1);
    for _ in 0..2 {
        let runs = server.env.runs("fine").len();
        server.env.ok(&["start", "jobs", "fine"]);
        wait_runs(&server, "fine", runs + 1);
    }
    server.env.run_d("bad", &["--", "sh", "-c", "exit 3"]);
    wait_runs(&server, "bad", 1);
    let scraper = server.env.token("prometheus", &["metrics:read"]);
    let prometheus = Prometheus::start(&format!("127.0.0.1:{}", server.port), &scraper);
    prometheus.wait_value("up{job=\"mrsm\"}", "1");
    prometheus.wait_value("mrsm_runs_total{job_name=\"fine\",result=\"success\"}", "3");
    prometheus.wait_value("mrsm_runs_total{job_name=\"bad\",result=\"failure\"}", "1");
    prometheus.wait_value("mrsm_runs_total{job_name=\"bad\",result=\"success\"}", "0");
    prometheus.wait_value("mrsm_run_duration_seconds_count{job_name=\"fine\"}", "3");
    prometheus.wait_value("mrsm_jobs{executor=\"local\",status=\"failed\"}", "1");
    prometheus.wait_value(
        "sum(mrsm_http_requests_total{route=\"/metrics\",code=\"200\"}) > bool 0",
        "1",
    );
    // One more run is seen at the next scrape.
    server.env.ok(&["start", "jobs", "fine"]);
    prometheus.wait_value("mrsm_runs_total{job_name=\"fine\",result=\"success\"}", "4");
}

#[test]
fn promtool_accepts_the_text_and_the_scope_is_enforced() {
    if !have(PROMTOOL) {
        return;
    }
    let server = Server::start();
    server
        .env
        .run_d("every", &["-s", "every 1 second", "--", "echo", "hi"]);
    let spec = server.env.spec_file(
        "jobs:\n  probed:\n    command: sleep 600\n    healthcheck:\n      test: \"true\"\n      interval: 1s\n",
    );
    server
        .env
        .ok(&["up", "-d", "-f", spec.to_str().expect("UTF-8")]);
    wait_runs(&server, "every", 2);
    let scraper = server.env.token("prometheus", &["metrics:read"]);
    // The second scrape counts the first.
    assert_eq!(scrape(&server, Some(&scraper)).0, 200);
    wait_for(Duration::from_secs(20), "probed to be healthy", || {
        (server.env.info("probed")["health"]["status"] == "healthy").then_some(())
    });
    let (status, text) = scrape(&server, Some(&scraper));
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("mrsm_http_requests_total{route=\"/metrics\",method=\"GET\",code=\"200\"} 1"),
        "{text}"
    );
    for family in [
        "mrsm_jobs{",
        "mrsm_runs_total{",
        "mrsm_run_duration_seconds_bucket{",
        "mrsm_job_health{job_name=\"probed\",status=\"healthy\"} 1",
        "mrsm_job_restarts_total{",
        "mrsm_log_bytes{",
        "mrsm_log_dropped_lines{",
        "mrsm_schedule_lag_seconds{job_name=\"every\"}",
        "mrsm_supervisor_resident_bytes{",
        "mrsm_http_requests_total{",
        "mrsm_http_request_duration_seconds_bucket{",
    ] {
        assert!(text.contains(family), "no {family} in:\n{text}");
    }
    let mut check = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    check
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())
        .expect("written");
    let out = check.wait_with_output().expect("promtool ends");
    assert!(out.status.success(), "promtool check metrics: {out:?}");
    // Without a token, with a token lacking the scope, and with one that has only it.
    assert_eq!(scrape(&server, None).0, 401);
    let reader = server.env.token("reader", &["jobs:read", "logs:read"]);
    let (status, said) = scrape(&server, Some(&reader));
    assert_eq!(status, 403);
    assert!(said.contains("metrics:read"), "{said}");
    let (status, _) = call(
        "GET",
        &format!("{}/v1/jobs", server.url()),
        Some(&scraper),
        "",
    );
    assert_eq!(status, 403, "a metrics token reads no job");
}

/// The server's bytes read so far (`rchar` of `/proc/PID/io`): whatever it read,
/// from any file.
fn bytes_read(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("/proc/PID/io");
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("rchar")
}

#[test]
fn a_scrape_reads_no_log_file() {
    let server = Server::start();
    // 16 MiB of output, then the job ends.
    server.env.run_d(
        "loud",
        &[
            "--",
            "sh",
            "-c",
            "head -c 16777216 /dev/zero | tr '\\0' x | fold -w 1000",
        ],
    );
    wait_runs(&server, "loud", 1);
    let scraper = server.env.token("prometheus", &["metrics:read"]);
    let (status, text) = scrape(&server, Some(&scraper));
    assert_eq!(status, 200);
    let logged: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("mrsm_log_bytes{job_name=\"loud\"} "))
        .and_then(|v| v.parse().ok())
        .expect("the log's bytes");
    assert!(logged > 16e6, "{logged}");
    let before = bytes_read(server.pid());
    for _ in 0..5 {
        assert_eq!(scrape(&server, Some(&scraper)).0, 200);
    }
    let read = bytes_read(server.pid()) - before;
    assert!(
        read < 1 << 20,
        "five scrapes read {read} bytes, against a {logged}-byte log"
    );
}

/// Another `mrsm serve` on the server's root with `--metrics-bind BIND`, expected
/// to refuse it: how it ended.
fn serve_with_metrics_bind(server: &Server, bind: &str) -> std::process::Output {
    server
        .env
        .mrsm()
        .args(["serve", "--bind", "127.0.0.1:0", "--metrics-bind", bind])
        .timeout(Duration::from_secs(10))
        .output()
        .expect("runs")
}

#[test]
fn metrics_bind_serves_metrics_on_loopback_without_a_token() {
    let port = free_port();
    let server = Server::start_args(&["--metrics-bind", &format!("127.0.0.1:{port}")]);
    server.env.run_d("fine", &["--", "true"]);
    wait_runs(&server, "fine", 1);
    let (status, text) = call("GET", &format!("http://127.0.0.1:{port}/metrics"), None, "");
    assert_eq!(status, 200);
    assert!(text.contains("mrsm_runs_total{job_name=\"fine\",result=\"success\"} 1"));
    let (status, _) = call("GET", &format!("http://127.0.0.1:{port}/v1/jobs"), None, "");
    assert_eq!(status, 404, "only /metrics is there");
    // Asked under another host's name (a page that rebound its name): refused.
    let answer = agent()
        .get(&format!("http://127.0.0.1:{port}/metrics"))
        .header("Host", "attacker.example")
        .call()
        .expect("an answer");
    assert_eq!(answer.status().as_u16(), 403);
    let (_, counted) = call("GET", &format!("http://127.0.0.1:{port}/metrics"), None, "");
    assert!(
        counted
            .contains("mrsm_http_requests_total{route=\"/metrics\",method=\"GET\",code=\"403\"} 1"),
        "its requests are counted too:\n{counted}"
    );
    // A port that is taken: no address announced, and an error.
    let taken = serve_with_metrics_bind(&server, &format!("127.0.0.1:{port}"));
    assert_eq!(taken.status.code(), Some(1));
    assert!(taken.stdout.is_empty(), "{taken:?}");
    assert!(String::from_utf8_lossy(&taken.stderr).contains("--metrics-bind"));
    // Off loopback it is refused: it asks for no token.
    let out = serve_with_metrics_bind(&server, "0.0.0.0:0");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("only a loopback address"), "{said}");
}
