//! The `api` executor over HTTPS, against a real `mrsm serve --tls-cert …` on
//! 127.0.0.1 whose certificate a private CA signed (or that signed its own): it
//! is refused with what to do, trusted through the executor's `ca_file` (settings
//! or spec) or through SSL_CERT_FILE, and still refused with the wrong CA. Every
//! command sets or removes SSL_CERT_FILE and SSL_CERT_DIR itself: the machine
//! running the tests may set them.

use crate::support;
use crate::support::server;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use server::Server;
use support::{wait_for, Env};

/// A certificate authority of the test's own: its certificate (PEM) and what
/// signs with it.
struct Authority {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Authority {
    fn new(name: &str) -> Authority {
        let key = KeyPair::generate().expect("a key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = params
            .self_signed(&key)
            .expect("the CA's certificate")
            .pem();
        Authority {
            pem,
            issuer: Issuer::new(params, key),
        }
    }
}

/// A certificate for 127.0.0.1 signed by `by` (by itself without one): its PEM
/// and its key's.
fn server_certificate(by: Option<&Authority>) -> (String, String) {
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "mrsm test server");
    let certificate = match by {
        Some(ca) => params.signed_by(&key, &ca.issuer),
        None => params.self_signed(&key),
    };
    (certificate.expect("signed").pem(), key.serialize_pem())
}

/// Files of the test: certificates and keys.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Files {
        Files(tempfile::tempdir().expect("temp dir"))
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, text).expect("written");
        path
    }
}

/// An HTTPS server presenting `certificate` (PEM, and its key's PEM).
fn https_server(files: &Files, certificate: &(String, String)) -> Server {
    let cert = files.write("server.pem", &certificate.0);
    let key = files.write("server-key.pem", &certificate.1);
    Server::start_tls(&cert, &key)
}

/// A client machine whose settings (in a directory of their own) name `server`
/// as `test`, trusting a copy of `ca_file` beside them, named relative to them.
fn client(server: &Server, ca_file: Option<&Path>) -> (Env, PathBuf) {
    let env = Env::new();
    let dir = env.work().join("conf");
    std::fs::create_dir(&dir).expect("settings directory");
    let mut text = format!(
        "[executors.test]\nurl = \"{}\"\ntoken = \"{}\"\n",
        server.url(),
        server.token
    );
    if let Some(ca) = ca_file {
        let name = ca.file_name().expect("a file name");
        std::fs::copy(ca, dir.join(name)).expect("CA copied");
        text.push_str(&format!("ca_file = {:?}\n", name.to_string_lossy()));
    }
    let config = dir.join("config.toml");
    std::fs::write(&config, text).expect("settings written");
    (env, config)
}

/// `mrsm` on the client, with neither SSL_CERT_FILE nor SSL_CERT_DIR.
fn mrsm(env: &Env, config: &Path) -> assert_cmd::Command {
    let mut cmd = env.mrsm();
    cmd.env("MRSM_CONFIG", config)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .timeout(Duration::from_secs(30));
    cmd
}

/// `show jobs -e test`: (exit status, stdout, stderr).
fn show(cmd: &mut assert_cmd::Command) -> (Option<i32>, String, String) {
    let out = cmd
        .args(["show", "jobs", "-e", "test"])
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_private_ca_is_refused_with_what_to_do_and_trusted_through_ca_file() {
    let files = Files::new();
    let ca = Authority::new("mrsm test CA");
    let server = https_server(&files, &server_certificate(Some(&ca)));
    let ca_file = files.write("ca.pem", &ca.pem);

    // Without ca_file: the system's store does not know the CA.
    let (env, config) = client(&server, None);
    let (code, _, err) = show(&mut mrsm(&env, &config));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("UnknownIssuer") && err.contains("set `ca_file`"),
        "{err}"
    );

    // With it, every verb works.
    let (env, config) = client(&server, Some(&ca_file));
    let (code, out, err) = show(&mut mrsm(&env, &config));
    assert_eq!(code, Some(0), "{out}{err}");
    mrsm(&env, &config)
        .args(["run", "-d", "-e", "test", "--name", "hello", "--"])
        .args(["sh", "-c", "echo hello over tls; sleep 300"])
        .assert()
        .success();
    let (_, out, _) = show(&mut mrsm(&env, &config));
    assert!(out.contains("hello") && out.contains("running"), "{out}");
    wait_for(Duration::from_secs(10), "the remote job's line", || {
        let out = mrsm(&env, &config)
            .args(["show", "logs", "-e", "test", "hello"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .contains("hello over tls")
            .then_some(())
    });
    mrsm(&env, &config)
        .args(["delete", "jobs", "-y", "-e", "test", "hello"])
        .assert()
        .success();
}

#[test]
fn a_spec_names_its_ca_file_relative_to_itself() {
    let files = Files::new();
    let ca = Authority::new("mrsm spec CA");
    let server = https_server(&files, &server_certificate(Some(&ca)));
    // The spec is in a directory of its own, not where mrsm runs.
    let env = Env::new();
    let project = env.work().join("project");
    std::fs::create_dir_all(project.join("certs")).expect("dirs");
    std::fs::write(project.join("certs/ca.pem"), &ca.pem).expect("CA written");
    let spec = format!(
        "project: tls\nexecutors:\n  test:\n    url: {}\n    token: {}\n    ca_file: certs/ca.pem\n\
         jobs:\n  there:\n    executor: test\n    command: sleep 300\n",
        server.url(),
        server.token
    );
    let file = project.join("mrsm-jobs.yaml");
    std::fs::write(&file, spec).expect("spec written");
    let config = env.work().join("config.toml");
    std::fs::write(&config, "").expect("no settings");
    mrsm(&env, &config)
        .args(["up", "-d", "-f"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicates::str::contains("created there on api:test"));
    assert_eq!(server.env.status("there"), "running");
    mrsm(&env, &config)
        .args(["down", "-f"])
        .arg(&file)
        .assert()
        .success();
    assert!(server.env.supervisor("there").is_none());
}

#[test]
fn a_self_signed_server_is_its_own_ca_file() {
    let files = Files::new();
    let certificate = server_certificate(None);
    let server = https_server(&files, &certificate);
    let own = files.write("own.pem", &certificate.0);
    let (env, config) = client(&server, None);
    let (code, _, err) = show(&mut mrsm(&env, &config));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("set `ca_file`"), "{err}");
    let (env, config) = client(&server, Some(&own));
    let (code, out, err) = show(&mut mrsm(&env, &config));
    assert_eq!(code, Some(0), "{out}{err}");
}

#[test]
fn ssl_cert_file_is_trusted_without_ca_file() {
    let files = Files::new();
    let ca = Authority::new("mrsm env CA");
    let server = https_server(&files, &server_certificate(Some(&ca)));
    let ca_file = files.write("ca.pem", &ca.pem);
    let (env, config) = client(&server, None);
    let (code, out, err) = show(mrsm(&env, &config).env("SSL_CERT_FILE", &ca_file));
    assert_eq!(code, Some(0), "{out}{err}");
}

#[test]
fn the_wrong_ca_is_still_refused() {
    let files = Files::new();
    let (right, wrong) = (
        Authority::new("mrsm right CA"),
        Authority::new("mrsm wrong CA"),
    );
    let server = https_server(&files, &server_certificate(Some(&right)));
    let wrong_file = files.write("wrong.pem", &wrong.pem);
    let (env, config) = client(&server, Some(&wrong_file));
    let (code, _, err) = show(&mut mrsm(&env, &config));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("not signed by the authority in ca_file") && err.contains("wrong.pem"),
        "{err}"
    );
    // Nor does SSL_CERT_FILE with the wrong CA let it through.
    let (env, config) = client(&server, None);
    let (code, _, err) = show(mrsm(&env, &config).env("SSL_CERT_FILE", &wrong_file));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[test]
fn a_self_signed_ca_certificate_as_a_server_s_is_explained() {
    let files = Files::new();
    // What `openssl req -x509` makes by default: self-signed, and a CA's.
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let certificate = (
        params.self_signed(&key).expect("signed").pem(),
        key.serialize_pem(),
    );
    let server = https_server(&files, &certificate);
    let own = files.write("own.pem", &certificate.0);
    let (env, config) = client(&server, Some(&own));
    let (code, _, err) = show(&mut mrsm(&env, &config));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("its certificate is a CA's") && err.contains("CA:FALSE"),
        "{err}"
    );
}
