//! Executors by label: the built-in `local`, the named ones of the settings file and
//! the spec (`api:NAME`), and any a library user registers. Every verb and the
//! reconciler find their executor here, so adding one touches nothing else.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::api::{ApiExecutor, ClientOptions};
use super::unavailable::Unavailable;
use super::{Executor, ExecutorError, LocalExecutor};
use crate::job::SlurmOptions;
use crate::store::{ExecutorSettings, Root, Settings};

/// A remote executor as a spec declares it: its label is `api:NAME`.
#[derive(Clone, PartialEq, Eq)]
pub struct Remote {
    pub name: String,
    pub url: String,
    pub token: Option<String>,
    /// Deadlines and trusted certificates; what the spec leaves out comes from the
    /// settings file's entry for the same server, if any.
    pub options: ClientOptions,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Remote")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish()
    }
}

/// Whether two URLs name the same server (case of the scheme and host, and a
/// trailing slash, aside).
fn same_url(a: &str, b: &str) -> bool {
    let norm = |u: &str| u.trim().trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}

/// Each executor's jobs (the project's, or all), in the order given, every
/// executor asked at once: one that is slow to answer holds the listing up by its
/// own timeout, not by the sum of everyone's. Executors that read one directory
/// themselves (`local` and `slurm` on this machine's root) are listed with one read
/// of it, each job given to the executor that holds it; should that read fail,
/// each of them is asked on its own.
pub fn list_each(
    executors: &[(String, Arc<dyn Executor>)],
    project: Option<&str>,
) -> Vec<Result<Vec<crate::job::JobInfo>, ExecutorError>> {
    let groups = home_groups(executors);
    let answers = crate::parallel::each(&groups, |group| match group.as_slice() {
        [one] => vec![executors[*one].1.list(project)],
        many => share_out(executors, many, executors[many[0]].1.list_home(project))
            .unwrap_or_else(|| many.iter().map(|i| executors[*i].1.list(project)).collect()),
    });
    let mut by_index: Vec<Option<Result<Vec<crate::job::JobInfo>, ExecutorError>>> =
        executors.iter().map(|_| None).collect();
    for (group, answers) in groups.iter().zip(answers) {
        for (i, answer) in group.iter().zip(answers) {
            by_index[*i] = Some(answer);
        }
    }
    by_index
        .into_iter()
        .map(|answer| answer.unwrap_or_else(|| Ok(Vec::new())))
        .collect()
}

/// The indexes of `executors` grouped by the directory they read their jobs from;
/// each executor without one is a group of its own.
fn home_groups(executors: &[(String, Arc<dyn Executor>)]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(Option<&std::path::Path>, Vec<usize>)> = Vec::new();
    for (i, (_, executor)) in executors.iter().enumerate() {
        let home = executor.local_home();
        match groups
            .iter_mut()
            .find(|(h, _)| home.is_some() && *h == home)
        {
            Some((_, group)) => group.push(i),
            None => groups.push((home, vec![i])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// A home's jobs (`listed`) shared out among the executors of `group` that hold
/// them: the one of the job's label, else the built-in `slurm` for a named Slurm
/// executor's job it is listed with today. `None` when the home could not be read.
fn share_out(
    executors: &[(String, Arc<dyn Executor>)],
    group: &[usize],
    listed: Result<Vec<crate::job::JobInfo>, ExecutorError>,
) -> Option<Vec<Result<Vec<crate::job::JobInfo>, ExecutorError>>> {
    let listed = listed.ok()?;
    let label_of = |i: &usize| executors[*i].0.as_str();
    let mut shares: Vec<Vec<crate::job::JobInfo>> = group.iter().map(|_| Vec::new()).collect();
    for info in listed {
        let holder = group
            .iter()
            .position(|i| label_of(i) == info.executor)
            .or_else(|| {
                info.executor
                    .starts_with(&format!("{SLURM_LABEL}:"))
                    .then(|| group.iter().position(|i| label_of(i) == SLURM_LABEL))
                    .flatten()
            });
        if let Some(holder) = holder {
            shares[holder].push(info);
        }
    }
    Some(shares.into_iter().map(Ok).collect())
}

/// How the settings file says to reach a remote executor.
fn client_options(settings: &ExecutorSettings) -> ClientOptions {
    ClientOptions {
        connect_timeout: settings.connect_timeout,
        timeout: settings.timeout,
        ca_file: settings.ca_file.clone(),
    }
}

/// The label of the executor used when none is named.
pub const DEFAULT_LABEL: &str = "local";

/// The built-in Slurm executor (the cluster's defaults); `slurm:NAME` are named ones
/// with options of their own.
pub const SLURM_LABEL: &str = "slurm";

/// The built-in systemd executor: each job's supervisor a unit of the user's
/// systemd manager, its files in the same root as `local`'s.
pub const SYSTEMD_LABEL: &str = "systemd";

/// Label → executor.
#[derive(Clone, Default)]
pub struct Registry {
    executors: BTreeMap<String, Arc<dyn Executor>>,
    /// The root of the `local` executor, when it is the built-in one: where the
    /// command line keeps its own locks and the project watcher.
    local_root: Option<Root>,
    /// The settings file's remote executors, whose tokens a spec may leave out.
    remote_settings: BTreeMap<String, ExecutorSettings>,
    /// The URL of each remote executor, by label.
    remote_urls: BTreeMap<String, String>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.executors.keys()).finish()
    }
}

impl Registry {
    /// An empty registry (a library user builds theirs from scratch).
    pub fn new() -> Registry {
        Registry::default()
    }

    /// What the command line uses: `local` on `root`, plus every executor the
    /// settings file names.
    pub fn standard(root: Root, settings: &Settings) -> Registry {
        let mut registry = Registry::with_local(root);
        for (name, remote) in &settings.executors {
            registry.declare_remote(
                name,
                remote.url.as_deref(),
                remote.token.clone(),
                remote.allow_plain_http,
                client_options(remote),
            );
        }
        registry.remote_settings = settings.executors.clone();
        registry
    }

    /// Just the built-in `local` executor on `root`; add more with
    /// [`Registry::register`].
    pub fn with_local(root: Root) -> Registry {
        let mut registry = Registry::new();
        registry.register(DEFAULT_LABEL, Arc::new(LocalExecutor::new(root.clone())));
        registry.register(
            SLURM_LABEL,
            Arc::new(LocalExecutor::slurm(
                root.clone(),
                SLURM_LABEL,
                SlurmOptions::default(),
            )),
        );
        registry.register(
            SYSTEMD_LABEL,
            Arc::new(LocalExecutor::systemd(root.clone())),
        );
        registry.local_root = Some(root);
        registry
    }

    /// The built-in local executor's root, if `local` is that executor.
    pub fn local_root(&self) -> Option<&Root> {
        self.local_root.as_ref()
    }

    /// Adds (or replaces) an executor under `label`.
    pub fn register(&mut self, label: impl Into<String>, executor: Arc<dyn Executor>) {
        let label = label.into();
        if label == DEFAULT_LABEL {
            self.local_root = None;
        }
        self.executors.insert(label, executor);
    }

    /// Declares the remote executor `api:NAME` at `url` (from the settings or a
    /// spec): a client of the `mrsm serve` there. Without a URL it answers every
    /// verb with `Unavailable`, so its jobs are reported and nothing elsewhere is
    /// touched.
    pub fn declare_remote(
        &mut self,
        name: &str,
        url: Option<&str>,
        token: Option<String>,
        allow_plain_http: bool,
        options: ClientOptions,
    ) {
        let label = format!("api:{name}");
        let executor: Arc<dyn Executor> = match url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => {
                match super::api::plain_http_problem(url, token.is_some(), allow_plain_http) {
                    Some(problem) => Arc::new(Unavailable::new(&label, &problem)),
                    None => Arc::new(ApiExecutor::with_options(&label, url, token, options)),
                }
            }
            None => Arc::new(Unavailable::new(&label, "it has no url")),
        };
        if let Some(url) = url {
            self.remote_urls
                .insert(label.clone(), url.trim().to_string());
        }
        self.executors.insert(label, executor);
        self.remote_settings.entry(name.to_string()).or_default();
    }

    /// Declares the Slurm executor `slurm:NAME` with `options` for its jobs, on the
    /// built-in local executor's root (nothing without one).
    pub fn declare_slurm(&mut self, name: &str, options: SlurmOptions) {
        if let Some(root) = self.local_root.clone() {
            let label = format!("{SLURM_LABEL}:{name}");
            let executor = LocalExecutor::slurm(root, &label, options);
            self.executors.insert(label, Arc::new(executor));
        }
    }

    /// This registry with the remote executors a spec declares added: the spec's
    /// `url`, `token`, deadlines and `ca_file`; the settings file's token (and its
    /// `allow_plain_http`, deadlines and `ca_file`) only where the spec gives none
    /// and names the same URL, so that a spec file can never send the machine's
    /// token somewhere else.
    pub fn with_remotes(&self, declared: &[Remote]) -> Registry {
        let mut registry = self.clone();
        for remote in declared {
            let same_server = self.settings_for(&remote.name, &remote.url);
            let token = remote
                .token
                .clone()
                .or_else(|| same_server.and_then(|s| s.token.clone()));
            let allow = same_server.is_some_and(|s| s.allow_plain_http);
            let options = match same_server {
                Some(settings) => remote.options.clone().or(&client_options(settings)),
                None => remote.options.clone(),
            };
            registry.declare_remote(&remote.name, Some(&remote.url), token, allow, options);
            // One server under two names would show its jobs twice, and a plan
            // would delete them under one name to create them under the other:
            // the spec's name is the one.
            let label = format!("api:{}", remote.name);
            let twins: Vec<String> = registry
                .remote_urls
                .iter()
                .filter(|(l, u)| **l != label && same_url(u, &remote.url))
                .map(|(l, _)| l.clone())
                .collect();
            for twin in twins {
                registry.executors.remove(&twin);
                registry.remote_urls.remove(&twin);
            }
        }
        registry
    }

    /// The settings file's entry for executor `name`, if it names the server at `url`.
    fn settings_for(&self, name: &str, url: &str) -> Option<&ExecutorSettings> {
        self.remote_settings
            .get(name)
            .filter(|s| s.url.as_deref().is_some_and(|u| same_url(u, url)))
    }

    #[cfg(test)]
    fn remote_token_for_tests(&self, name: &str, url: &str) -> Option<String> {
        self.settings_for(name, url).and_then(|s| s.token.clone())
    }

    /// Whether a job that `label` listed is another executor's of this registry,
    /// one that keeps its jobs in the same place (the built-in `slurm` also lists
    /// the jobs of `slurm:NAME`): each job is then shown and acted on once, by its
    /// own executor.
    pub fn listed_for_another(&self, label: &str, info: &crate::job::JobInfo) -> bool {
        let home = |l: &str| self.executors.get(l).and_then(|e| e.home());
        info.executor != label
            && self.executors.contains_key(&info.executor)
            && home(label).is_some()
            && home(label) == home(&info.executor)
    }

    /// Whether a job `name` listed by `label` was seen already (`seen`) through
    /// another executor that keeps its jobs in the same place (one server under two
    /// names); notes it as seen. Executors that cannot say where they keep their
    /// jobs are never taken for one another.
    pub fn seen_before(
        &self,
        label: &str,
        name: &str,
        seen: &mut std::collections::HashSet<(String, String)>,
    ) -> bool {
        let Some(home) = self.executors.get(label).and_then(|e| e.home()) else {
            return false;
        };
        !seen.insert((home, name.to_string()))
    }

    /// Every label, sorted.
    pub fn labels(&self) -> Vec<String> {
        self.executors.keys().cloned().collect()
    }

    /// The label `written` stands for: itself, or `api:NAME` for a bare `NAME`
    /// declared as a remote executor.
    pub fn resolve(&self, written: &str) -> Option<String> {
        if self.executors.contains_key(written) {
            return Some(written.to_string());
        }
        let remote = format!("api:{written}");
        self.executors.contains_key(&remote).then_some(remote)
    }

    /// The executor under `label` (or what it stands for); an unknown label is an
    /// error that lists the known ones.
    pub fn get(&self, label: &str) -> Result<Arc<dyn Executor>, ExecutorError> {
        self.resolve(label)
            .and_then(|l| self.executors.get(&l).cloned())
            .ok_or_else(|| ExecutorError::UnknownExecutor {
                label: label.to_string(),
                known: self.labels(),
            })
    }

    /// Every executor with its label, sorted by label.
    pub fn all(&self) -> Vec<(String, Arc<dyn Executor>)> {
        self.executors
            .iter()
            .map(|(l, e)| (l.clone(), e.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_resolve_to_registered_executors() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::default();
        settings
            .executors
            .insert("prod".into(), crate::store::ExecutorSettings::default());
        let registry = Registry::standard(Root::at(dir.path()), &settings);
        assert_eq!(
            registry.labels(),
            vec!["api:prod", "local", "slurm", "systemd"]
        );
        assert_eq!(registry.resolve("prod").as_deref(), Some("api:prod"));
        assert_eq!(registry.resolve("api:prod").as_deref(), Some("api:prod"));
        assert!(registry.get("local").is_ok());
        let unknown = registry.get("lcoal").err().expect("unknown").to_string();
        assert!(unknown.contains("did you mean `local`"), "{unknown}");
        let remote = registry.get("prod").expect("declared");
        assert!(matches!(
            remote.list(None),
            Err(ExecutorError::Unavailable { .. })
        ));
    }

    #[test]
    fn a_spec_gets_the_settings_token_only_for_the_same_server() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::default();
        settings.executors.insert(
            "prod".into(),
            ExecutorSettings {
                url: Some("http://127.0.0.1:8000/".into()),
                token: Some("mrsm_secret".into()),
                ..ExecutorSettings::default()
            },
        );
        let registry = Registry::standard(Root::at(dir.path()), &settings);
        let declared = |url: &str| {
            registry.with_remotes(&[Remote {
                name: "prod".into(),
                url: url.into(),
                token: None,
                options: ClientOptions::default(),
            }])
        };
        assert!(declared("http://127.0.0.1:45999").get("api:prod").is_ok());
        // The same server under another name in the spec: one executor, the spec's.
        let twin = registry.with_remotes(&[Remote {
            name: "same".into(),
            url: "http://127.0.0.1:8000".into(),
            token: None,
            options: ClientOptions::default(),
        }]);
        assert_eq!(twin.labels(), vec!["api:same", "local", "slurm", "systemd"]);
        assert_eq!(
            registry.remote_token_for_tests("prod", "HTTP://127.0.0.1:8000"),
            Some("mrsm_secret".into())
        );
        assert_eq!(
            registry.remote_token_for_tests("prod", "http://127.0.0.1:45999"),
            None
        );
    }

    #[test]
    fn tokens_cross_plain_http_only_to_this_machine() {
        use super::super::api::plain_http_problem;
        assert!(plain_http_problem("http://127.0.0.1:8000", true, false).is_none());
        assert!(plain_http_problem("http://localhost:8000/x", true, false).is_none());
        assert!(plain_http_problem("http://[::1]:8000", true, false).is_none());
        assert!(plain_http_problem("https://jobs.example.com", true, false).is_none());
        assert!(plain_http_problem("http://jobs.example.com:8000", true, false).is_some());
        assert!(plain_http_problem("http://10.0.0.2:8000", true, false).is_some());
        assert!(plain_http_problem("http://10.0.0.2:8000", true, true).is_none());
        assert!(plain_http_problem("http://10.0.0.2:8000", false, false).is_none());
        assert!(plain_http_problem("HTTP://127.1", true, false).is_some());
        assert!(plain_http_problem("http://localhost:1@127.1/", true, false).is_some());
        assert!(plain_http_problem("http://127.0.0.2@localhost:8000/", true, false).is_none());
    }

    /// `local` and `slurm` read one root: listed together, each job goes to the
    /// executor that holds it (a named Slurm executor's to the built-in one when
    /// that name is not declared), the broken one to `local`, each once.
    #[test]
    fn executors_of_one_root_share_out_one_read_of_it() {
        use crate::job::{JobFile, JobSpec};
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path());
        let place = |name: &str, executor: Option<&str>| {
            let file = JobFile {
                spec: JobSpec::new(name, vec!["true".into()]),
                desired: crate::job::DesiredState::Stopped,
                created: jiff::Timestamp::now(),
                project: None,
                spec_hash: None,
                resume: None,
                executor: executor.map(str::to_string),
                lease_ms: None,
            };
            crate::store::write_json(&root.job_file(name), &file).expect("written");
        };
        place("here", None);
        place("there", Some("slurm"));
        place("named", Some("slurm:hpc"));
        place("unit", Some("systemd"));
        place("broken", None);
        std::fs::write(root.job_file("broken"), "{").expect("damaged");
        let registry = Registry::with_local(root.clone());
        let executors = registry.all();
        let names = |i: usize| -> Vec<String> {
            let listed = list_each(&executors, None);
            let mut names: Vec<String> = listed[i]
                .as_ref()
                .expect("listed")
                .iter()
                .map(|j| format!("{}@{}", j.name, j.executor))
                .collect();
            names.sort();
            names
        };
        assert_eq!(executors[0].0, "local");
        assert_eq!(names(0), ["broken@local", "here@local"]);
        assert_eq!(names(1), ["named@slurm:hpc", "there@slurm"]);
        assert_eq!(names(2), ["unit@systemd"]);
        // Each on its own says the same.
        for (label, executor) in &executors {
            let alone: Vec<String> = executor
                .list(None)
                .expect("listed")
                .iter()
                .map(|j| j.name.clone())
                .collect();
            let shared = names(executors.iter().position(|(l, _)| l == label).expect("one"));
            let shared: Vec<String> = shared
                .iter()
                .map(|n| n.split('@').next().unwrap_or_default().to_string())
                .collect();
            assert_eq!(alone, shared, "{label}");
        }
    }

    #[test]
    fn the_executors_of_this_machine_s_root_are_the_ones_after_may_link() {
        use crate::job::keeps_runs_here;
        for label in [DEFAULT_LABEL, SYSTEMD_LABEL, SLURM_LABEL, "slurm:hpc"] {
            assert!(keeps_runs_here(label), "{label}");
        }
        assert!(!keeps_runs_here("api:prod"));
    }
}
