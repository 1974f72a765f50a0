//! The dashboard of `mrsm serve`, in a real headless Chromium: logging in with a
//! token, the jobs of a spec in the table, buttons that start and stop them, a job's
//! page with its live log, buttons only for the token's scopes (the server refusing
//! the rest anyway), markup shown as text, a revoked or expired token logging the
//! page out, and a server restart the live log survives without losing or
//! repeating a line. Screenshots are saved under `target/dashboard/` and their
//! pixels checked.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::browser::{self, Browser};
use crate::support::server::{call, Server};

/// Where the screenshots go.
fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/dashboard")
}

/// A server whose root runs `spec`, brought up with `up -d`.
fn server_with(spec: &str) -> Server {
    let server = Server::start();
    let file = server.env.spec_file(spec);
    server
        .env
        .ok(&["up", "-d", "-f", file.to_str().expect("UTF-8")]);
    server
}

/// Opens the dashboard and logs in with `token`.
fn log_in(browser: &Browser, server: &Server, token: &str) {
    browser.goto(&format!("{}/", server.url()));
    browser.type_on("#token", token);
    browser.click_on("#login-form button[type=submit]");
}

/// The status shown in a job's row, once the table has it.
fn row_status(browser: &Browser, job: &str) -> String {
    browser.text_of(&format!("#jobs-table tr[data-job=\"{job}\"] .status"))
}

fn wait_row_status(browser: &Browser, job: &str, status: &str) {
    browser.wait(&format!("{job}'s row to say {status}"), || {
        (row_status(browser, job) == status).then_some(())
    });
}

/// How many pixels of `png` have colour `rgb` (to within a little).
fn pixels_of(png: &[u8], rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buffer = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buffer).expect("a frame");
    let channels = frame.color_type.samples();
    buffer[..frame.buffer_size()]
        .chunks(channels)
        .filter(|p| p[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 6))
        .count()
}

const SPEC: &str = r#"
jobs:
  ticker:
    command: "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.5; done"
  broken:
    command: "echo giving up; exit 3"
    restart: never
  echoer:
    command: "while true; do if [ -f \"$MARK\" ]; then cat \"$MARK\"; rm -f \"$MARK\"; fi; sleep 0.1; done"
    environment:
      MARK: MARK_PATH
"#;

fn spec_with_mark(server_work: &std::path::Path) -> (String, PathBuf) {
    let mark = server_work.join("mark.txt");
    (
        SPEC.replace("MARK_PATH", mark.to_str().expect("UTF-8")),
        mark,
    )
}

#[test]
fn a_token_s_user_sees_the_spec_s_jobs_starts_and_stops_them_and_follows_a_log() {
    let Some(browser) = browser::start() else {
        return;
    };
    let work = tempfile::tempdir().expect("dir");
    let (spec, mark) = spec_with_mark(work.path());
    let server = server_with(&spec);
    crate::support::wait_for(Duration::from_secs(20), "broken to fail", || {
        (server.env.status("broken") == "failed").then_some(())
    });
    log_in(&browser, &server, &server.token);
    for job in ["ticker", "broken", "echoer"] {
        browser.wait_visible(&format!("#jobs-table tr[data-job=\"{job}\"]"));
    }
    wait_row_status(&browser, "ticker", "running");
    wait_row_status(&browser, "broken", "failed");
    let shot = browser.screenshot(&shots().join("jobs.png"));
    assert!(
        pixels_of(&shot, [0x1a, 0x7f, 0x37]) > 200,
        "the running jobs' green badges are in the table's screenshot"
    );
    assert!(
        pixels_of(&shot, [0xcf, 0x22, 0x2e]) > 100,
        "the failed job's red badge is in the table's screenshot"
    );

    // Filtered and sorted in place.
    browser.type_on("#filter", "tick");
    browser.wait("the filter to leave one row", || {
        (browser.find_all("#jobs-table tbody tr").len() == 1).then_some(())
    });
    browser.script("const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input'));", json!([]));
    let names = |b: &Browser| {
        b.script(
            "return [...document.querySelectorAll('#jobs-table tbody tr')].map(r => r.dataset.job);",
            json!([]),
        )
    };
    assert_eq!(names(&browser), json!(["broken", "echoer", "ticker"]));
    browser.click_on("th[data-key=name]");
    assert_eq!(names(&browser), json!(["ticker", "echoer", "broken"]));

    // Stop and start by clicking: the table changes, and so does the job.
    browser.click_on("tr[data-job=ticker] button[data-action=stop]");
    wait_row_status(&browser, "ticker", "stopped");
    assert_eq!(server.env.status("ticker"), "stopped");
    browser.click_on("tr[data-job=ticker] button[data-action=start]");
    wait_row_status(&browser, "ticker", "running");
    assert_eq!(server.env.status("ticker"), "running");

    // A job's page: a line printed after the page opened reaches its live log.
    browser.click_on("tr[data-job=echoer] td.name a");
    browser.wait_visible("#job-facts");
    browser.wait("the log to be followed", || {
        (browser.text_of("#log-state") == "following").then_some(())
    });
    std::fs::write(&mark, "printed after the page opened\n").expect("mark");
    browser.wait("the new line in the page's log", || {
        browser
            .text_of("#log")
            .contains("printed after the page opened")
            .then_some(())
    });
    assert!(browser.text_of("#job-facts").contains("while true"));
    // The ticker's page has a run to chart (the one the stop ended).
    browser.goto(&format!("{}/#/job/ticker", server.url()));
    browser.wait("the ticker's lines", || {
        browser.text_of("#log").contains("tick 2").then_some(())
    });
    browser.wait("the stopped run's bar", || {
        (!browser.find_all("#chart rect.bar-stopped").is_empty()).then_some(())
    });
    let shot = browser.screenshot(&shots().join("job.png"));
    assert!(
        pixels_of(&shot, [0x0d, 0x11, 0x17]) > 20_000,
        "the log's dark pane is in the job page's screenshot"
    );
    assert!(
        pixels_of(&shot, [0x8c, 0x95, 0x9f]) > 50,
        "the stopped run's grey bar is in the job page's screenshot"
    );

    // Delete asks again, and the page's refreshes do not forget that it asked.
    browser.goto(&format!("{}/#/job/broken", server.url()));
    browser.click_on("#job-actions button[data-action=delete]");
    browser.script(
        "document.getElementById('job-facts').dataset.seen = '1';",
        json!([]),
    );
    browser.wait("a refresh of the page", || {
        (browser.script(
            "return document.getElementById('job-facts').dataset.seen === undefined;",
            json!([]),
        ) == json!(true))
        .then_some(())
    });
    assert_eq!(
        browser.text_of("#job-actions button[data-action=delete]"),
        "Really delete?"
    );
    browser.click_on("#job-actions button[data-action=delete]");
    browser.wait("the table again, saying so", || {
        browser
            .text_of("#message")
            .contains("Deleted broken")
            .then_some(())
    });
    browser.wait_visible("#jobs-table");
    assert!(server.env.try_info("broken").is_none(), "the job is gone");
}

#[test]
fn a_read_only_token_sees_no_button_and_a_crafted_request_with_it_is_refused() {
    let Some(browser) = browser::start() else {
        return;
    };
    let work = tempfile::tempdir().expect("dir");
    let (spec, _) = spec_with_mark(work.path());
    let server = server_with(&spec);
    let reader = server.env.token("reader", &["jobs:read", "logs:read"]);
    log_in(&browser, &server, &reader);
    browser.wait_visible("#jobs-table tr[data-job=ticker]");
    wait_row_status(&browser, "ticker", "running");
    assert!(browser.find_all("#jobs-table button").is_empty());
    browser.goto(&format!("{}/#/job/ticker", server.url()));
    browser.wait_visible("#job-facts");
    browser.wait("the ticker's lines", || {
        browser.text_of("#log").contains("tick").then_some(())
    });
    assert!(browser.find_all("#job-actions button").is_empty());
    // The page's own token, sent by hand where no button is: refused.
    let status = browser.script_async(
        "const done = arguments[arguments.length - 1];
         fetch('/v1/jobs/ticker/stop', {method: 'POST', headers: {Authorization: 'Bearer ' + sessionStorage.getItem('mrsm-token')}})
           .then(r => done(r.status), e => done(String(e)));",
    );
    assert_eq!(status, json!(403));
    assert_eq!(server.env.status("ticker"), "running");
}

#[test]
fn markup_in_a_page_address_a_command_and_log_lines_shows_as_text() {
    let Some(browser) = browser::start() else {
        return;
    };
    let script = "<script>window.pwned = 1</script>";
    let image = "\"><img src=x onerror=\"window.pwned = 2\">";
    let server = Server::start();
    // Names cannot carry markup at all.
    let (status, _) = call(
        "POST",
        &format!("{}/v1/jobs/%3Cscript%3E/start", server.url()),
        Some(&server.token),
        "",
    );
    assert_eq!(status, 400);
    let printed = format!(
        "printf '%s\\n%s\\n' '{script}' '{}'; sleep 600",
        image.replace('\'', "'\\''")
    );
    server.env.run_d("xss", &["--", "sh", "-c", &printed]);
    log_in(&browser, &server, &server.token);
    browser.wait_visible("#jobs-table tr[data-job=xss]");
    browser.goto(&format!("{}/#/job/xss", server.url()));
    browser.wait("both strings in the log, as text", || {
        let log = browser.text_of("#log");
        (log.contains(script) && log.contains(image)).then_some(())
    });
    browser.wait("the command, as text", || {
        browser.text_of("#job-facts").contains(script).then_some(())
    });
    // A name in the page's address, as written there.
    for name in [script, image] {
        let hash = urlencoding(name);
        browser.goto(&format!("{}/#/job/{hash}", server.url()));
        browser.wait("the name as the heading's text", || {
            (browser.text_of("#job-name") == name).then_some(())
        });
        browser.wait("the server's refusal shown", || {
            browser
                .text_of("#message")
                .contains("invalid job name")
                .then_some(())
        });
    }
    let injected = browser.script(
        "return {pwned: window.pwned === undefined ? null : window.pwned,
                 images: document.querySelectorAll('img').length,
                 scripts: document.querySelectorAll('script').length};",
        json!([]),
    );
    assert_eq!(injected, json!({"pwned": null, "images": 0, "scripts": 1}));
    // The page, its script and an error answer carry the headers that keep a
    // browser to them.
    for (path, csp) in [("/", true), ("/ui/app.js", true), ("/v1/jobs", false)] {
        let answer = crate::support::server::agent()
            .get(&format!("{}{path}", server.url()))
            .call()
            .expect("an answer");
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        if csp {
            assert_eq!(answer.status().as_u16(), 200, "{path}");
            let policy = header("content-security-policy");
            for directive in [
                "default-src 'none'",
                "script-src 'self'",
                "form-action 'none'",
                "frame-ancestors 'none'",
            ] {
                assert!(policy.contains(directive), "{path}: {policy}");
            }
            assert_eq!(header("x-frame-options"), "DENY", "{path}");
            assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        } else {
            assert_eq!(answer.status().as_u16(), 401, "{path}");
        }
    }
}

/// `text` percent-encoded for a URL's fragment.
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn a_revoked_or_expired_token_logs_the_page_out_with_a_message() {
    let Some(browser) = browser::start() else {
        return;
    };
    let server = Server::start();
    server.env.run_d("sleeper", &["--", "sleep", "600"]);
    // Revoked while a job's page (and its live log) is open.
    let revoked = server
        .env
        .token("soon-revoked", &["jobs:read", "logs:read"]);
    log_in(&browser, &server, &revoked);
    browser.wait_visible("#jobs-table tr[data-job=sleeper]");
    browser.goto(&format!("{}/#/job/sleeper", server.url()));
    browser.wait_visible("#job-facts");
    server.env.ok(&["token", "revoke", "soon-revoked"]);
    browser.wait_visible("#login");
    browser.wait("the reason", || {
        let said = browser.text_of("#message");
        said.contains("no longer accepts this token")
            .then_some(said)
    });
    assert_eq!(
        browser.script("return sessionStorage.getItem('mrsm-token');", json!([])),
        Value::Null,
        "the token is forgotten"
    );
    // Expired while the table is open.
    let expiring = server.env.token_expiring("short", "4s");
    log_in(&browser, &server, &expiring);
    browser.wait_visible("#jobs-table tr[data-job=sleeper]");
    browser.wait_visible("#login");
    let said = browser.text_of("#message");
    assert!(said.contains("revoked or expired"), "{said}");
}

#[test]
fn a_server_restart_resumes_the_live_log_without_losing_or_repeating_a_line() {
    let Some(browser) = browser::start() else {
        return;
    };
    let mut server = Server::start();
    server.env.run_d(
        "counter",
        &[
            "--",
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.05; done",
        ],
    );
    log_in(&browser, &server, &server.token);
    browser.wait_visible("#jobs-table tr[data-job=counter]");
    browser.goto(&format!("{}/#/job/counter", server.url()));
    let numbers = |b: &Browser| -> Vec<u64> {
        let lines = b.script(
            "return [...document.querySelectorAll('#log .text')].map(d => d.textContent);",
            json!([]),
        );
        lines
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.as_str()?.strip_prefix("line ")?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    browser.wait("some lines", || {
        (numbers(&browser).len() > 20).then_some(())
    });
    for _ in 0..2 {
        let before = numbers(&browser).last().copied().unwrap_or(0);
        server.kill();
        // The page says the server is gone, and stops saying so once it is back.
        browser.wait("the page to notice", || {
            browser
                .text_of("#message")
                .contains("cannot be reached")
                .then_some(())
        });
        server.start_again();
        browser.wait("lines printed after the restart", || {
            (numbers(&browser).last().copied().unwrap_or(0) > before + 40).then_some(())
        });
        browser.wait("the message to go", || {
            (browser.script(
                "return document.getElementById('message').hidden;",
                json!([]),
            ) == json!(true))
            .then_some(())
        });
    }
    let seen = numbers(&browser);
    let expected: Vec<u64> = (1..=seen.len() as u64).collect();
    assert_eq!(seen, expected, "every line once, in order");
}

#[test]
fn a_long_log_opens_at_its_tail_at_once() {
    let Some(browser) = browser::start() else {
        return;
    };
    let server = Server::start();
    server.env.run_d(
        "long",
        &["--", "sh", "-c", "seq 1 50000 | sed 's/^/row /'; sleep 600"],
    );
    crate::support::wait_for(Duration::from_secs(30), "the whole log", || {
        server
            .env
            .log_text("long")
            .contains("row 50000")
            .then_some(())
    });
    log_in(&browser, &server, &server.token);
    browser.wait_visible("#jobs-table tr[data-job=long]");
    browser.goto(&format!("{}/#/job/long", server.url()));
    browser.wait("the last line", || {
        browser.text_of("#log").contains("row 50000").then_some(())
    });
    let rows = browser.script(
        "return [...document.querySelectorAll('#log .text')].map(d => d.textContent).filter(t => t.startsWith('row '));",
        json!([]),
    );
    let rows = rows.as_array().expect("lines");
    assert!(
        rows.len() <= 1000 && rows.len() > 900,
        "the page starts at the log's last 1000 records: {} rows",
        rows.len()
    );
    assert_eq!(rows.last(), Some(&json!("row 50000")));
}

#[test]
fn a_page_shows_only_the_job_it_names_even_one_made_again() {
    let Some(browser) = browser::start() else {
        return;
    };
    let server = Server::start();
    let many = "for i in $(seq 1 40); do echo old $i; done; sleep 600";
    server.env.run_d("reborn", &["--", "sh", "-c", many]);
    log_in(&browser, &server, &server.token);
    browser.wait_visible("#jobs-table tr[data-job=reborn]");
    browser.goto(&format!("{}/#/job/reborn", server.url()));
    browser.wait("the old lines", || {
        browser.text_of("#log").contains("old 40").then_some(())
    });
    // Another job's page: nothing of reborn's stays under its name.
    browser.goto(&format!("{}/#/job/nosuch", server.url()));
    browser.wait("no such job", || {
        browser
            .text_of("#message")
            .contains("does not exist")
            .then_some(())
    });
    assert_eq!(browser.text_of("#job-facts"), "");
    assert!(browser.find_all("#job-actions button").is_empty());
    assert!(browser.find_all("#chart rect").is_empty());
    // Deleted and made again with a shorter log: the page shows the new one.
    browser.goto(&format!("{}/#/job/reborn", server.url()));
    browser.wait("the old lines again", || {
        browser.text_of("#log").contains("old 40").then_some(())
    });
    server.env.ok(&["delete", "jobs", "reborn", "-y"]);
    server
        .env
        .run_d("reborn", &["--", "sh", "-c", "echo new 1; sleep 600"]);
    browser.wait("the new log alone", || {
        let log = browser.text_of("#log");
        (log.contains("new 1") && !log.contains("old ")).then_some(())
    });
}
