//! A real `mrsm serve` on 127.0.0.1 (a free port), with its own root, over HTTP or
//! HTTPS, and clients with roots of their own that reach it as executor
//! `api:test`. The server is killed by its recorded pid when the test ends, and
//! its jobs with its root.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::support::Env;

/// A running server and what reaches it.
pub struct Server {
    /// The server's root: its jobs and tokens.
    pub env: Env,
    child: Option<Child>,
    pub port: u16,
    /// A token with every scope.
    pub token: String,
    vars: Vec<(String, String)>,
    /// More arguments of `mrsm serve` (its certificate and key).
    args: Vec<String>,
}

impl Server {
    /// Makes an all-scopes token and starts the server on a free port.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// [`Server::start`] with more environment for the server.
    pub fn start_with(vars: &[(&str, &str)]) -> Server {
        Server::start_serving(vars, Vec::new())
    }

    /// [`Server::start`] with more arguments of `mrsm serve`.
    pub fn start_args(args: &[&str]) -> Server {
        Server::start_serving(&[], args.iter().map(|a| a.to_string()).collect())
    }

    /// [`Server::start`] over HTTPS with the PEM certificate chain `cert` and its
    /// key `key`.
    pub fn start_tls(cert: &Path, key: &Path) -> Server {
        let args = ["--tls-cert", "--tls-key"]
            .iter()
            .zip([cert, key])
            .flat_map(|(option, file)| [option.to_string(), file.display().to_string()])
            .collect();
        Server::start_serving(&[], args)
    }

    fn start_serving(vars: &[(&str, &str)], args: Vec<String>) -> Server {
        let env = Env::new();
        let token = env.token("admin", &[]);
        let mut server = Server {
            env,
            child: None,
            port: 0,
            token,
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            args,
        };
        server.launch(0);
        server
    }

    fn launch(&mut self, port: u16) {
        let mut child = crate::support::mrsm_process()
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(&self.args)
            .env("MRSM_ROOT_DIR", self.env.root())
            .env_remove("MRSM_CONFIG")
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mrsm serve starts");
        let stdout = child.stdout.take().expect("piped");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("the server says where it listens");
        let port = first
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {first:?}"));
        self.port = port;
        self.child = Some(child);
    }

    /// `http://127.0.0.1:PORT`, or `https://…` when it serves over TLS.
    pub fn url(&self) -> String {
        let scheme = match self.args.iter().any(|a| a == "--tls-cert") {
            false => "http",
            true => "https",
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// `kill -9` of the server (its jobs run on), then the same server again on
    /// the same port.
    pub fn kill_and_restart(&mut self) {
        self.kill();
        self.start_again();
    }

    /// The same server again on the same port, after [`Server::kill`].
    pub fn start_again(&mut self) {
        let port = self.port;
        self.launch(port);
    }

    /// `kill -9` of the server only.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and how the server exited.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        crate::support::wait_for(Duration::from_secs(10), "the server to exit", || {
            child.try_wait().ok().flatten()
        })
    }

    /// A client machine: its own root, and a settings file naming this server as
    /// executor `test` with the all-scopes token.
    pub fn client(&self) -> Client {
        self.client_with(&self.token)
    }

    /// [`Server::client`] with another token.
    pub fn client_with(&self, token: &str) -> Client {
        let env = Env::new();
        let config = env.work().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[executors.test]\nurl = \"{}\"\ntoken = \"{}\"\n",
                self.url(),
                token
            ),
        )
        .expect("settings written");
        Client { env, config }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A client machine of a [`Server`].
pub struct Client {
    pub env: Env,
    pub config: PathBuf,
}

impl Client {
    /// `mrsm` on the client, with the settings that name the server.
    pub fn mrsm(&self) -> assert_cmd::Command {
        let mut cmd = self.env.mrsm();
        cmd.env("MRSM_CONFIG", &self.config);
        cmd
    }
}

/// An HTTP client that reads error statuses as answers.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// `METHOD url` with an optional bearer token, and `body` as JSON for a `POST` or
/// `PUT`: the status and the answer.
pub fn call(method: &str, url: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let agent = agent();
    let auth = token.map(|t| format!("Bearer {t}"));
    let result = match method {
        "GET" | "DELETE" => {
            let mut request = if method == "GET" {
                agent.get(url)
            } else {
                agent.delete(url)
            };
            if let Some(auth) = &auth {
                request = request.header("Authorization", auth);
            }
            request.call()
        }
        _ => {
            let mut request = if method == "PUT" {
                agent.put(url)
            } else {
                agent.post(url)
            };
            if let Some(auth) = &auth {
                request = request.header("Authorization", auth);
            }
            request
                .header("Content-Type", "application/json")
                .send(body)
        }
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

impl Env {
    /// `mrsm token create NAME [--scopes …]`: the secret.
    pub fn token(&self, name: &str, scopes: &[&str]) -> String {
        let mut cmd = self.mrsm();
        cmd.args(["token", "create", name]);
        if !scopes.is_empty() {
            cmd.args(["--scopes", &scopes.join(",")]);
        }
        Env::secret(cmd)
    }

    /// `mrsm token create NAME --expires IN` (every scope): the secret.
    pub fn token_expiring(&self, name: &str, expires_in: &str) -> String {
        let mut cmd = self.mrsm();
        cmd.args(["token", "create", name, "--expires", expires_in]);
        Env::secret(cmd)
    }

    fn secret(mut cmd: assert_cmd::Command) -> String {
        let out = cmd.output().expect("runs");
        assert!(out.status.success(), "token create: {out:?}");
        String::from_utf8(out.stdout)
            .expect("UTF-8")
            .trim()
            .to_string()
    }
}
