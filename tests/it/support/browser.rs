//! A real headless Chromium (Debian's `chromium`), driven over W3C WebDriver by
//! Debian's `chromedriver` on a free loopback port: a few commands of the protocol
//! over plain HTTP, no client library. Where either program is missing the tests
//! that need it say so and are skipped; `MRSM_REQUIRE_BROWSER=1` (CI) makes that a
//! failure. The driver runs in a process group of its own with a fresh profile;
//! when the test ends, passed or failed, the session is closed (Chromium quits)
//! and the group is killed by its recorded id.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

/// A browser, or `None` (said on stderr) where this machine has none.
pub fn start() -> Option<Browser> {
    let missing: Vec<&str> = [CHROMEDRIVER, CHROMIUM]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        let why = format!("no browser here ({} missing)", missing.join(", "));
        if std::env::var("MRSM_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("a browser is required here (MRSM_REQUIRE_BROWSER=1) but: {why}");
        }
        eprintln!("skipped: {why}; install Debian's chromium and chromium-driver");
        return None;
    }
    Some(Browser::launch())
}

impl Browser {
    fn launch() -> Browser {
        use std::os::unix::process::CommandExt;
        let profile = tempfile::Builder::new()
            .prefix("mrsm-chromium")
            .tempdir()
            .expect("profile dir");
        let port = super::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .env_remove("DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            _profile: profile,
        };
        super::wait_for(Duration::from_secs(20), "chromedriver to answer", || {
            let mut answer = super::server::agent()
                .get(&format!("{}/status", browser.base))
                .call()
                .ok()?;
            let body = answer.body_mut().read_to_string().ok()?;
            body.contains("\"ready\":true").then_some(())
        });
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--window-size=1280,1000",
            &format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let answer = browser.command("POST", "/session", &capabilities);
        browser.session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        browser
    }

    /// One WebDriver command: its `value`, or the driver's error code (such as
    /// `stale element reference`) and message.
    fn try_command(
        &self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Result<Value, (String, String)> {
        let url = format!("{}{path}", self.base);
        let (status, text) = super::server::call(method, &url, None, &body.to_string());
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match status {
            200 => Ok(answer["value"].clone()),
            _ => Err((
                answer["value"]["error"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                format!("WebDriver {method} {path}: {status} {text}"),
            )),
        }
    }

    /// [`Browser::try_command`], which must succeed.
    fn command(&self, method: &str, path: &str, body: &Value) -> Value {
        self.try_command(method, path, body)
            .unwrap_or_else(|(_, said)| panic!("{said}"))
    }

    fn session_command(&self, method: &str, path: &str, body: &Value) -> Value {
        self.command(method, &format!("/session/{}{path}", self.session), body)
    }

    /// A command on an element, `None` when the page replaced the element
    /// meanwhile (its tables are drawn anew at each refresh).
    fn on_element(&self, method: &str, element: &Value, what: &str, body: &Value) -> Option<Value> {
        let id = element[ELEMENT].as_str().expect("an element");
        let path = format!("/session/{}/element/{id}/{what}", self.session);
        match self.try_command(method, &path, body) {
            Ok(value) => Some(value),
            Err((code, _)) if code == "stale element reference" => None,
            Err((_, said)) => panic!("{said}"),
        }
    }

    /// Opens `url` (and waits for its load).
    pub fn goto(&self, url: &str) {
        self.session_command("POST", "/url", &json!({ "url": url }));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub fn script(&self, script: &str, args: Value) -> Value {
        self.session_command(
            "POST",
            "/execute/sync",
            &json!({"script": script, "args": args}),
        )
    }

    /// Runs `script`, which calls its last argument with the result (a promise's).
    pub fn script_async(&self, script: &str) -> Value {
        self.session_command(
            "POST",
            "/execute/async",
            &json!({"script": script, "args": []}),
        )
    }

    /// The elements `css` selects now.
    pub fn find_all(&self, css: &str) -> Vec<Value> {
        let found = self.session_command(
            "POST",
            "/elements",
            &json!({"using": "css selector", "value": css}),
        );
        found.as_array().cloned().unwrap_or_default()
    }

    /// Waits until `css` selects an element that is displayed, and gives it.
    pub fn wait_visible(&self, css: &str) -> Value {
        super::wait_for(Duration::from_secs(20), &format!("{css} to show"), || {
            self.find_all(css).into_iter().find(|e| {
                self.on_element("GET", e, "displayed", &json!({})) == Some(Value::Bool(true))
            })
        })
    }

    /// Clicks what `css` selects once it shows (found again if the page redrew it
    /// in between).
    pub fn click_on(&self, css: &str) {
        super::wait_for(
            Duration::from_secs(20),
            &format!("a click on {css}"),
            || {
                let element = self.wait_visible(css);
                self.on_element("POST", &element, "click", &json!({}))
            },
        );
    }

    /// Types `text` into what `css` selects once it shows.
    pub fn type_on(&self, css: &str, text: &str) {
        super::wait_for(
            Duration::from_secs(20),
            &format!("typing into {css}"),
            || {
                let element = self.wait_visible(css);
                self.on_element("POST", &element, "value", &json!({ "text": text }))
            },
        );
    }

    /// The text of what `css` selects, or "" when nothing.
    pub fn text_of(&self, css: &str) -> String {
        self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Waits until `probe` gives something, asking the page every 100 ms.
    pub fn wait<T>(&self, what: &str, probe: impl FnMut() -> Option<T>) -> T {
        super::wait_for(Duration::from_secs(20), what, probe)
    }

    /// A PNG of the window, written to `path` too.
    pub fn screenshot(&self, path: &Path) -> Vec<u8> {
        use base64_png::decode;
        let encoded = self.session_command("GET", "/screenshot", &json!({}));
        let png = decode(encoded.as_str().expect("base64"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, &png).expect("screenshot written");
        png
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = std::panic::catch_unwind(|| super::server::call("DELETE", &url, None, ""));
        }
        let group = nix::unistd::Pid::from_raw(-(self.driver.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.driver.wait();
    }
}

/// Base64 (the screenshot's encoding), decoded without a crate for it.
mod base64_png {
    pub fn decode(text: &str) -> Vec<u8> {
        let value = |c: u8| -> Option<u32> {
            Some(match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            } as u32)
        };
        let digits: Vec<u32> = text.bytes().filter_map(value).collect();
        let mut out = Vec::with_capacity(digits.len() * 3 / 4);
        for chunk in digits.chunks(4) {
            let mut n = 0u32;
            for (i, d) in chunk.iter().enumerate() {
                n |= d << (18 - 6 * i);
            }
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
        }
        out
    }
}
