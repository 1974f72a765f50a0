//! What a job waits for before it starts (compose's `depends_on`), and the order
//! that follows: dependencies first when starting, dependents first when stopping,
//! and a cycle said as its path.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What must hold of a dependency before its dependent starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "condition", rename_all = "snake_case")]
pub enum Condition {
    /// Its supervisor runs (compose's default).
    ServiceStarted,
    /// Its health check passed.
    ServiceHealthy,
    /// It ran to the end and succeeded.
    ServiceCompletedSuccessfully,
    /// A line of its log matches this regular expression (process-compose).
    LogReady { ready_log_line: String },
}

impl Condition {
    /// The condition's name as written.
    pub fn word(&self) -> &'static str {
        match self {
            Condition::ServiceStarted => "service_started",
            Condition::ServiceHealthy => "service_healthy",
            Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
            Condition::LogReady { .. } => "log_ready",
        }
    }

    /// Every condition's name, for errors and suggestions.
    pub const WORDS: [&'static str; 4] = [
        "service_started",
        "service_healthy",
        "service_completed_successfully",
        "log_ready",
    ];
}

/// One dependency of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    pub name: String,
    #[serde(flatten)]
    pub condition: Condition,
    /// A restart of the dependency (an update, a start) restarts this job too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restart: bool,
    /// When false, a dependency that is not declared, or does not come up, is a
    /// warning: the job starts anyway.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub required: bool,
    /// The longest wait for the condition.
    #[serde(
        default = "default_wait",
        with = "super::spec::humantime_serde_ms",
        skip_serializing_if = "is_default_wait"
    )]
    pub timeout: Duration,
}

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

/// How long `up` waits for a dependency's condition unless told otherwise.
pub const DEFAULT_DEPENDENCY_WAIT: Duration = Duration::from_secs(60);

fn default_wait() -> Duration {
    DEFAULT_DEPENDENCY_WAIT
}

fn is_default_wait(d: &Duration) -> bool {
    *d == DEFAULT_DEPENDENCY_WAIT
}

impl Dependency {
    /// Compose's short form: started, required, no restart.
    pub fn started(name: impl Into<String>) -> Dependency {
        Dependency {
            name: name.into(),
            condition: Condition::ServiceStarted,
            restart: false,
            required: true,
            timeout: DEFAULT_DEPENDENCY_WAIT,
        }
    }
}

/// The jobs of `graph` (each name with the names it depends on) in an order where
/// every job comes after what it depends on (names outside `graph` are ignored);
/// a cycle is an error, said as its path (`a -> b -> a`).
pub fn start_order(graph: &BTreeMap<String, Vec<String>>) -> Result<Vec<String>, String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        name: &str,
        graph: &BTreeMap<String, Vec<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
        order: &mut Vec<String>,
    ) -> Result<(), String> {
        match marks.get(name) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                let from = path.iter().position(|p| p == name).unwrap_or(0);
                let mut cycle: Vec<&str> = path[from..].iter().map(String::as_str).collect();
                cycle.push(name);
                return Err(cycle.join(" -> "));
            }
            None => {}
        }
        marks.insert(name.to_string(), Mark::Visiting);
        path.push(name.to_string());
        let mut deps: Vec<&String> = graph.get(name).into_iter().flatten().collect();
        deps.sort();
        let unique: BTreeSet<&String> = deps.into_iter().collect();
        for dep in unique.into_iter().filter(|d| graph.contains_key(*d)) {
            visit(dep, graph, marks, path, order)?;
        }
        path.pop();
        marks.insert(name.to_string(), Mark::Done);
        order.push(name.to_string());
        Ok(())
    }
    let mut marks = BTreeMap::new();
    let mut order = Vec::with_capacity(graph.len());
    for name in graph.keys() {
        visit(name, graph, &mut marks, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(n, d)| (n.to_string(), d.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn dependencies_come_first() {
        let g = graph(&[("web", &["db", "cache"]), ("db", &[]), ("cache", &["db"])]);
        assert_eq!(start_order(&g).expect("no cycle"), ["db", "cache", "web"]);
    }

    #[test]
    fn a_cycle_is_said_as_its_path() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        assert_eq!(start_order(&g).expect_err("cycle"), "a -> b -> c -> a");
        let g = graph(&[("a", &["a"])]);
        assert_eq!(start_order(&g).expect_err("cycle"), "a -> a");
    }

    #[test]
    fn dependencies_round_trip_in_json() {
        let d = Dependency {
            condition: Condition::LogReady {
                ready_log_line: "ready on \\d+".into(),
            },
            ..Dependency::started("db")
        };
        let json = serde_json::to_string(&d).expect("json");
        assert_eq!(
            json,
            r#"{"name":"db","condition":"log_ready","ready_log_line":"ready on \\d+"}"#
        );
        assert_eq!(serde_json::from_str::<Dependency>(&json).expect("back"), d);
    }
}
