//! The handlers over the in-memory executor: the real router, authorization and
//! error replies on 127.0.0.1, with jobs that are records, so that what reaches
//! the executor (and what does not) is seen directly.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::executor::MemoryExecutor;
use crate::store::scopes::{Grant, Scope};
use crate::store::tokens;

/// A server on a free port over a memory executor, stopped when dropped.
struct Served {
    _dir: tempfile::TempDir,
    memory: Arc<MemoryExecutor>,
    base: String,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
    root: Root,
}

impl Served {
    fn new() -> Served {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path());
        let memory = Arc::new(MemoryExecutor::new("local"));
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let state = app_state(
            memory.clone(),
            root.clone(),
            &Options::default(),
            shutdown.clone(),
        )
        .expect("state");
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let base = format!("http://{}", std_listener.local_addr().expect("addr"));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
                listen::serve(listener, None, app(state), shutdown).await;
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        });
        Served {
            _dir: dir,
            memory,
            base,
            stop,
            thread: Some(thread),
            root,
        }
    }

    fn token(&self, scopes: &[Scope]) -> String {
        let grant = match scopes {
            [] => Grant::All,
            some => Grant::Only(some.iter().copied().collect()),
        };
        let name = format!("t{}", fastrand::u32(..));
        tokens::create(&self.root, &name, &grant, None).expect("a token")
    }

    /// The status and JSON body of a request with `token`.
    fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {token}");
        let response = match (method, body) {
            ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => agent.delete(&url).header("Authorization", &auth).call(),
            ("POST", Some(b)) => agent.post(&url).header("Authorization", &auth).send_json(b),
            ("POST", None) => agent.post(&url).header("Authorization", &auth).send_empty(),
            ("PUT", Some(b)) => agent.put(&url).header("Authorization", &auth).send_json(b),
            other => panic!("no such call {other:?}"),
        };
        let mut response = response.expect("an answer");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn spec(name: &str) -> Value {
    json!({"spec": {"name": name, "command": ["sleep 300"]}, "project": "p"})
}

#[test]
fn a_create_reaches_the_executor_with_its_options() {
    let served = Served::new();
    let token = served.token(&[]);
    let (status, body) = served.call("POST", "/v1/jobs/web", &token, Some(spec("web")));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "web");
    assert_eq!(served.memory.names(), ["web"]);
    let file = served.memory.file("web").expect("held");
    assert_eq!(file.project.as_deref(), Some("p"));
    let (status, body) = served.call("GET", "/v1/jobs", &token, None);
    assert_eq!(status, 200);
    assert_eq!(body[0]["name"], "web", "{body}");
}

#[test]
fn a_token_without_the_scope_never_reaches_the_executor() {
    let served = Served::new();
    let reader = served.token(&[Scope::JobsRead]);
    let (status, body) = served.call("POST", "/v1/jobs/web", &reader, Some(spec("web")));
    assert_eq!(status, 403, "{body}");
    assert_eq!(served.memory.count("create"), 0);
    let (status, _) = served.call("DELETE", "/v1/jobs/web", &reader, None);
    assert_eq!(status, 403);
    assert_eq!(served.memory.count("delete"), 0);
}

#[test]
fn the_executor_s_errors_become_their_statuses() {
    let served = Served::new();
    let token = served.token(&[]);
    assert_eq!(served.call("GET", "/v1/jobs/none", &token, None).0, 404);
    served.call("POST", "/v1/jobs/web", &token, Some(spec("web")));
    let (status, body) = served.call("POST", "/v1/jobs/web", &token, Some(spec("web")));
    assert_eq!(status, 409, "{body}");
    served.memory.down.store(true, Ordering::SeqCst);
    let (status, body) = served.call("GET", "/v1/jobs/web", &token, None);
    assert_eq!(status, 503, "{body}");
    served.memory.down.store(false, Ordering::SeqCst);
    let (status, body) = served.call(
        "POST",
        "/v1/jobs/web/stdin",
        &token,
        Some(json!({"data": "x"})),
    );
    assert_eq!(status, 501, "the executor takes no input: {body}");
}

#[test]
fn verbs_reach_the_executor_once_each() {
    let served = Served::new();
    let token = served.token(&[]);
    served.call("POST", "/v1/jobs/web", &token, Some(spec("web")));
    for verb in ["pause", "start", "stop"] {
        let (status, body) = served.call("POST", &format!("/v1/jobs/web/{verb}"), &token, None);
        assert_eq!(status, 200, "{verb}: {body}");
        assert_eq!(served.memory.count(verb), 1, "{verb}");
    }
    let (status, _) = served.call("DELETE", "/v1/jobs/web", &token, None);
    assert_eq!(status, 200);
    assert!(served.memory.names().is_empty());
}
