//! systemd, the service manager mrsm hands supervisors to: the units it writes
//! (`unit`), the `systemctl --user` calls that load, start, stop and look at them
//! (`manager`), and the readiness message a supervisor started by systemd sends
//! (`notify`). A leaf: it knows nothing of jobs beyond a name, a root and a few
//! settings, so the executor and the `startup` command share it.
//!
//! A job on the `systemd` executor is one user unit, `mrsm-HASH-NAME.service`, that
//! runs the job's usual supervisor (`mrsm supervise NAME`) in the foreground: the
//! schedule, chain, policies, logs and runs stay mrsm's, while systemd adds the
//! cgroup (every process of the job dies with it), the restart of a killed
//! supervisor, and the start at boot (enabled, `WantedBy=default.target`).

mod manager;
mod notify;
mod unit;

pub use manager::{
    answers, states, system_answers, systemctl, systemctl_in, unit_dir, Scope, UnitState,
};
pub use notify::{notify, take_notify_socket};
pub use unit::{
    canonical_root, inside_job_unit, job_unit_name, link_wants, quoted, resurrect_unit_name,
    unlink_wants, wants_link, JobUnit, UNIT_VARIABLE,
};
