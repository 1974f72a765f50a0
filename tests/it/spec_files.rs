//! The schema is generated from the spec types and kept in the repository; the
//! example spec files validate and point editors at it.

use assert_cmd::Command;

fn repo(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn the_schema_file_is_up_to_date() {
    let committed =
        std::fs::read_to_string(repo("schemas/mrsm-jobs.schema.json")).expect("committed");
    assert!(
        committed == mrsm::spec::schema_json(),
        "schemas/mrsm-jobs.schema.json is stale: run `cargo run -- schema > schemas/mrsm-jobs.schema.json`"
    );
}

#[test]
fn example_specs_validate_and_name_the_schema() {
    let mut files = vec![repo("mrsm-jobs.yaml")];
    for entry in std::fs::read_dir(repo("examples")).expect("examples") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            files.push(path);
        }
    }
    assert!(files.len() >= 4);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        assert!(
            text.starts_with("# yaml-language-server: $schema="),
            "{} must start with the schema comment",
            file.display()
        );
        Command::cargo_bin("mrsm")
            .expect("built")
            .args(["validate", "-f"])
            .arg(&file)
            .assert()
            .success()
            .stdout("")
            .stderr("");
    }
}

#[test]
fn the_examples_design_md_promises_exist() {
    let chain = mrsm::spec::load(&[repo("examples/chain.yaml")], None).expect("loads");
    assert!(
        chain.jobs.iter().any(|j| j.spec.command.len() > 1),
        "examples/chain.yaml declares a chain"
    );
    let steps: Vec<usize> = chain.jobs.iter().map(|j| j.spec.command.len()).collect();
    assert_eq!(steps, [3, 3, 3], "`a + b + c` and lists alike");
    let remote = std::fs::read_to_string(repo("examples/remote.yaml")).expect("readable");
    assert!(remote.contains("\nexecutors:\n  prod:\n    url: http://"));
    mrsm::spec::load(&[repo("examples/remote.yaml")], None).expect("loads");
}
