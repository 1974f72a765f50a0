//! The integration tests, in one binary (each test binary links the whole crate, so
//! forty of them cost gigabytes of disk and minutes of linking): a module per area,
//! named so that a feature's tests are found by their file name (`jobs_*`, `compose_*`,
//! `serve_*`, `log_*`, `schedule_*`, `spec_*` …), with `support` shared by all.
//! Run one area with `cargo test --test it AREA::`.

mod support;

mod after;
mod architecture;
mod cli_show_schedule;
mod completions;
mod compose;
mod compose_exits;
mod compose_foreground;
mod compose_watch;
mod custom_executor;
mod dashboard;
mod depends;
mod executor_specs;
mod executors;
mod health;
mod hooks;
mod job_api;
mod jobs_damage;
mod jobs_errors;
mod jobs_io;
mod jobs_lifecycle;
mod jobs_nested;
mod jobs_policies;
mod jobs_processes;
mod jobs_races;
mod jobs_runs;
mod jobs_security;
mod jobs_special_files;
mod log_full_disk;
mod log_gaps;
mod log_limits;
mod log_props;
mod log_reads;
mod log_stamps;
mod logs;
mod logs_cli;
mod meerschaum_cli;
mod metrics;
mod moves;
mod python;
mod remote_timeouts;
mod remote_tls;
mod replicas;
mod resurrect;
mod root_owner;
mod schedule_corpus;
mod schedule_errors;
mod schedule_props;
mod schedule_tzdata;
mod schedule_updates;
mod schedule_zones;
mod serve_input;
mod serve_leases;
mod serve_log_cursor;
mod serve_meerschaum;
mod serve_remote;
mod serve_scopes;
mod serve_scopes_clients;
mod serve_security;
mod serve_special_files;
mod settings;
mod slurm;
mod spec_checks;
mod spec_files;
mod spec_secrets;
mod systemd;
mod systemd_jobs;
mod systemd_seams;
mod tokens;
mod top;
