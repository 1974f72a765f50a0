//! The logs WebSocket's JSON form (the dashboard's): each line with the log's
//! cursor after it, a reconnect from a cursor that gets every later line once,
//! and the end as a JSON frame; Meerschaum's text form is unchanged beside it.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::server::Server;
use crate::support::ws::{self, Frame};

/// Every frame of a JSON-form socket from `cursor` until its end frame.
fn frames_from(server: &Server, cursor: u64) -> Vec<Value> {
    frames_from_hello(server, json!({"token": server.token, "cursor": cursor}))
}

/// Every frame of a JSON-form socket opened with `hello`, until its end frame.
fn frames_from_hello(server: &Server, hello: Value) -> Vec<Value> {
    let mut socket = ws::connect(server.port, "/logs/counted/ws", None).expect("upgraded");
    socket.send(&hello.to_string());
    let mut frames = Vec::new();
    loop {
        match socket.recv() {
            Frame::Text(text) => {
                let frame: Value = serde_json::from_str(&text).expect("a JSON frame");
                let end = frame["end"] == json!(true);
                frames.push(frame);
                if end {
                    return frames;
                }
            }
            other => panic!("the socket ended without an end frame: {other:?}"),
        }
    }
}

#[test]
fn a_json_socket_gives_each_line_its_cursor_and_resumes_from_one() {
    let server = Server::start();
    server.env.run_d(
        "counted",
        &[
            "--",
            "sh",
            "-c",
            "for i in $(seq 1 30); do echo line $i; done",
        ],
    );
    crate::support::wait_for(Duration::from_secs(20), "the job to end", || {
        (server.env.status("counted") == "stopped").then_some(())
    });
    let all = frames_from(&server, 0);
    let end = all.last().expect("an end frame");
    assert_eq!(
        (&end["ok"], end["message"].is_string()),
        (&json!(true), true)
    );
    let lines = &all[..all.len() - 1];
    let cursors: Vec<u64> = lines
        .iter()
        .map(|f| f["cursor"].as_u64().expect("a cursor"))
        .collect();
    assert!(
        cursors.windows(2).all(|w| w[0] < w[1]),
        "cursors grow: {cursors:?}"
    );
    let outs: Vec<&str> = lines
        .iter()
        .filter(|f| f["stream"] == "out")
        .map(|f| f["text"].as_str().expect("text"))
        .collect();
    let expected: Vec<String> = (1..=30).map(|i| format!("line {i}")).collect();
    assert_eq!(outs, expected);
    // From the cursor after "line 10": "line 11" first, and nothing seen again.
    let tenth = lines
        .iter()
        .find(|f| f["text"] == "line 10")
        .expect("line 10");
    let rest = frames_from(&server, tenth["cursor"].as_u64().expect("cursor"));
    let after: Vec<&Value> = lines
        .iter()
        .skip_while(|f| f["text"] != "line 10")
        .skip(1)
        .collect();
    assert_eq!(rest[..rest.len() - 1].iter().collect::<Vec<_>>(), after);
    // Without a cursor, a tail: the last 5 records, then the end.
    let tail = frames_from_hello(&server, json!({"token": server.token, "tail": 5}));
    let texts: Vec<&Value> = tail[..tail.len() - 1].iter().collect();
    assert_eq!(texts, lines[lines.len() - 5..].iter().collect::<Vec<_>>());
    // A cursor past the end (another, shorter log): reset, then the tail.
    let reset = frames_from(&server, 10_000);
    assert_eq!(reset[0], json!({"reset": true}));
    assert_eq!(reset.len(), all.len() + 1, "{reset:?}");
    // A JSON first frame that is no hello: why, and a close.
    for bad in [
        json!({"token": server.token, "cursor": -1}),
        json!({"token": server.token, "tail": "3"}),
    ] {
        let mut socket = ws::connect(server.port, "/logs/counted/ws", None).expect("upgraded");
        socket.send(&bad.to_string());
        let said = match socket.recv() {
            Frame::Text(text) => text,
            other => panic!("{other:?}"),
        };
        assert!(said.contains("the first frame: expected"), "{said}");
        assert_eq!(socket.recv(), Frame::Close(1008, "bad first frame".into()));
    }
    // Meerschaum's form, beside it: text lines, then MRSM_STOP and the result.
    let mut socket = ws::connect(server.port, "/logs/counted/ws", None).expect("upgraded");
    socket.send(&server.token);
    let mut seen = Vec::new();
    socket
        .until(&mut seen, |t| t == "MRSM_STOP")
        .expect("MRSM_STOP");
    assert!(seen.contains(&"line 30".to_string()), "{seen:?}");
    assert!(matches!(socket.recv(), Frame::Text(t) if t.starts_with("[true")));
}
