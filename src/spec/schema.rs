//! The JSON schema of `mrsm-jobs.yaml`, for editors (yaml-language-server). Generated
//! from these types; `mrsm schema` prints it and a test keeps
//! `schemas/mrsm-jobs.schema.json` in step with it.

use std::collections::BTreeMap;

use schemars::JsonSchema;

/// A command: one string (steps split on a lone `+`), or a list of steps run in order
/// until one fails.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum Command {
    One(String),
    Steps(Vec<String>),
}

/// One path or a list of paths.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum Paths {
    One(String),
    Many(Vec<String>),
}

/// Environment variables: `NAME: value` pairs, or compose's list of `NAME=value`.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum Env {
    Map(BTreeMap<String, String>),
    List(Vec<String>),
}

/// How a job is stopped.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct Stop {
    /// Signal sent first to every process of the job (default SIGTERM).
    signal: Option<String>,
    /// Grace period before SIGKILL, e.g. 10s or 500ms (default 10s).
    timeout: Option<String>,
}

/// Log file limits.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct Logs {
    /// Rotate when the current file would grow past this size, e.g. 10MiB (default).
    max_size: Option<String>,
    /// Files kept, the current one included (default 5).
    #[schemars(range(min = 1))]
    keep: Option<u32>,
    /// Longer output lines are split into records marked as continued, e.g. 1MiB
    /// (default 64KiB).
    max_line: Option<String>,
}

/// When a finished run starts again (jobs without a schedule).
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum Restart {
    Never,
    OnFailure,
    Always,
}

/// What a schedule fire does when the previous run is still going.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum Overlap {
    Skip,
    Queue,
    Replace,
    Allow,
}

/// The state the job should be in.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum State {
    Running,
    Paused,
    Stopped,
}

/// A job (in `defaults`, every key but `command` is meaningful).
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct Job {
    /// What to run: a string (steps split on a lone `+`) or a list of steps.
    command: Option<Command>,
    /// When to run, e.g. `every 30 minutes starting 00:00`, `0 9 * * mon-fri`, `daily & jun-aug`.
    schedule: Option<String>,
    /// IANA time zone the schedule is evaluated in (default UTC).
    timezone: Option<String>,
    overlap: Option<Overlap>,
    restart: Option<Restart>,
    /// `local` (default), `systemd` (a user service), `slurm`, or a name from `executors`.
    executor: Option<String>,
    /// Environment variables of the job.
    env: Option<Env>,
    /// Compose's name for `env` (a job gives one or the other).
    environment: Option<Env>,
    /// Files of KEY=value lines added to the job's environment (relative to the spec file).
    env_file: Option<Paths>,
    /// Working directory, relative to the spec file (default: its directory).
    cwd: Option<String>,
    /// Compose's name for `cwd` (a job gives one or the other).
    working_dir: Option<String>,
    state: Option<State>,
    stop: Option<Stop>,
    logs: Option<Logs>,
    /// Run steps with `sh -c` (default true).
    shell: Option<bool>,
    /// Allow a schedule that fires more often than once a second (default false).
    allow_fast: Option<bool>,
    /// Slurm options for a job on a Slurm executor, over the executor's own.
    slurm: Option<Slurm>,
    /// Probed by the job's supervisor while a run goes: `starting`, `healthy` or
    /// `unhealthy` in `ps`, `show jobs` and the log.
    healthcheck: Option<HealthCheck>,
    /// Jobs started before this one (and stopped after it), with what to wait of
    /// each: compose's list of names, or its mapping of names to conditions.
    depends_on: Option<DependsOn>,
    /// Shell command run as each run starts (the run's record on stdin, as JSON).
    on_start: Option<String>,
    /// Shell command run after each run that succeeded (its record as JSON on stdin
    /// and in MRSM_RUN_* variables; its output in the log as `hook` lines).
    on_success: Option<String>,
    /// Shell command run after each run that failed, as `on_success`.
    on_failure: Option<String>,
    /// A hook still going after this is killed, e.g. 30s (the default).
    hook_timeout: Option<String>,
    /// Copies of the job, `NAME.1` … `NAME.N`, each with its own supervisor,
    /// logs and runs, and `MRSM_REPLICA` (its number) in its environment.
    replicas: Option<u32>,
    /// Run once after each successful run of these jobs (a pipeline), instead of
    /// at once or on a schedule: a job name, a list, or `{ jobs, when, on }`.
    after: Option<AfterSpec>,
}

/// `after:`.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum AfterSpec {
    One(String),
    Many(Vec<String>),
    Full(AfterFull),
}

/// `after:` in full.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct AfterFull {
    jobs: Paths,
    /// `any` (default): a run after each run of any of them; `all`: after a new
    /// run of each of them.
    when: Option<String>,
    /// `success` (default): only their successful runs count; `end`: any end but
    /// a stop.
    on: Option<String>,
}

/// compose's `healthcheck`, plus `http_get` and `liveness`.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct HealthCheck {
    /// A shell command, or `["CMD", prog, args…]`, or `["CMD-SHELL", "command"]`:
    /// healthy when it exits 0.
    test: Option<Command>,
    /// An HTTP GET instead of a command.
    http_get: Option<HttpGet>,
    /// Between probes, e.g. 30s (the default).
    interval: Option<String>,
    /// A probe taking longer fails and is killed, e.g. 30s (the default).
    timeout: Option<String>,
    /// Failures in a row that make the job unhealthy (default 3).
    #[schemars(range(min = 1))]
    retries: Option<u32>,
    /// Failures after a run starts that do not count yet, e.g. 10s (default 0s).
    start_period: Option<String>,
    /// Between probes during the start period, e.g. 5s (the default).
    start_interval: Option<String>,
    /// No health check (overrides one from `defaults`).
    disable: Option<bool>,
    /// A run that turns unhealthy is stopped and restarted under the job's
    /// restart policy (default false).
    liveness: Option<bool>,
}

/// An HTTP health probe.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct HttpGet {
    /// `http` (default) or `https`.
    scheme: Option<String>,
    /// Default 127.0.0.1.
    host: Option<String>,
    #[schemars(range(min = 1, max = 65535))]
    port: u32,
    /// Default `/`.
    path: Option<String>,
    /// The status a healthy answer has (default: any of 200–399).
    status: Option<u32>,
}

/// compose's `depends_on`.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(untagged)]
enum DependsOn {
    Names(Vec<String>),
    Conditions(BTreeMap<String, Dependency>),
}

/// What to wait of a dependency.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct Dependency {
    condition: Option<ConditionWord>,
    /// For `log_ready`: a regular expression a line of the dependency's log matches.
    ready_log_line: Option<String>,
    /// A restart of the dependency restarts this job too.
    restart: Option<bool>,
    /// When false, a dependency that is missing or does not come up is a warning.
    required: Option<bool>,
    /// The longest wait for the condition, e.g. 60s (the default).
    timeout: Option<String>,
}

/// When a dependency is ready.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
enum ConditionWord {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
    LogReady,
}

/// Resources and placement of each step on a Slurm cluster (the cluster's
/// defaults for anything left out).
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct Slurm {
    partition: Option<String>,
    account: Option<String>,
    qos: Option<String>,
    /// Time limit of each step, e.g. 30 (minutes) or 01:00:00.
    time: Option<String>,
    /// CPUs per step.
    #[schemars(range(min = 1))]
    cpus: Option<u32>,
    /// Memory, e.g. 512M or 1G.
    mem: Option<String>,
    /// Generic resources, e.g. gpu:1.
    gres: Option<String>,
    /// More srun options, e.g. --constraint=avx2.
    extra: Option<Vec<String>>,
}

/// What a named executor is.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    /// A remote `mrsm serve` (the default): `url`, `token`, `ca_file` and timeouts.
    Api,
    /// A Slurm cluster: each step runs there with these options.
    Slurm,
}

/// A named executor: a remote `mrsm serve` (its label is `api:NAME`) or a Slurm
/// cluster (`kind: slurm`, label `slurm:NAME`).
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct Executor {
    kind: Option<Kind>,
    /// Base URL of a `mrsm serve`, e.g. http://127.0.0.1:8000.
    url: Option<String>,
    /// Bearer token (use `${VAR}` to keep it out of the file).
    token: Option<String>,
    /// PEM certificates trusted for this server instead of the system's: the
    /// private CA that signed its certificate, or a self-signed server's own
    /// (relative to this file).
    ca_file: Option<String>,
    /// Longest wait for an ordinary answer, e.g. 5s (the default); requests that
    /// wait on purpose (a stop's grace period, following logs) get that on top.
    timeout: Option<String>,
    /// Longest wait for a connection, e.g. 3s (the default).
    connect_timeout: Option<String>,
    partition: Option<String>,
    account: Option<String>,
    qos: Option<String>,
    /// Time limit of each step, e.g. 01:00:00.
    time: Option<String>,
    #[schemars(range(min = 1))]
    cpus: Option<u32>,
    mem: Option<String>,
    gres: Option<String>,
    extra: Option<Vec<String>>,
}

/// Jobs declared for mrsm: `mrsm up -f mrsm-jobs.yaml` converges the machine to this file.
/// Top-level keys starting with `x-` are ignored (homes for YAML anchors).
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "mrsm-jobs.yaml")]
#[schemars(extend("patternProperties" = { "^x-": {} }))]
struct SpecFile {
    /// Project label (default: the spec file's directory name).
    project: Option<String>,
    /// Named executors beyond the built-in `local`.
    executors: Option<BTreeMap<String, Executor>>,
    /// Settings every job gets unless it sets its own.
    defaults: Option<Job>,
    /// The jobs, by name (letters, digits, `_`, `.`, `-`); `jobs: {}` declares none.
    /// At least one of the files must have it (a file without it, or with nothing
    /// under it, is one still being written).
    #[schemars(extend("propertyNames" = { "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$" }))]
    #[serde(default)]
    jobs: BTreeMap<String, Job>,
}

/// The schema as pretty JSON, ending in a newline.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(SpecFile);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_keys_match_the_loader() {
        let schema: serde_json::Value = serde_json::from_str(&schema_json()).expect("JSON");
        let job = &schema["$defs"]["Job"]["properties"];
        let mut keys: Vec<&str> = job
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut loader: Vec<&str> = super::super::raw::JOB_KEYS.to_vec();
        loader.extend(
            super::super::raw::JOB_ALIASES
                .iter()
                .map(|(compose, _)| *compose),
        );
        loader.sort_unstable();
        assert_eq!(keys, loader);
    }
}
