//! Every route of `mrsm serve` in one table: how it is called, its path, who may
//! call it and its handler. The router is built from the table and the guard
//! (`auth.rs`) looks each request up in it, so a route cannot be served without
//! its scopes; a test keeps docs/api.md's table of scopes equal to it.
//!
//! The scopes follow Meerschaum 4.1.7's jobs routes and go further where mrsm has
//! more: whatever chooses the command a job runs needs `jobs:execute` and
//! `jobs:write`; whatever may end a running job's processes (stop, delete,
//! replace) needs `jobs:execute` and `jobs:stop`; logs need `jobs:read` and
//! `logs:read`; a job's whole definition (what it runs, its `env` values) needs
//! what creating one does, on top of `jobs:read`.

use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use super::{dashboard, leases, meerschaum as ms, metrics, socket, v1, AppState};
use crate::store::scopes::{and_list, Grant, Scope, Scope::*};

/// How a route is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
    /// A `GET` that becomes a WebSocket; it may send its token in its first frame.
    WebSocket,
}

impl Verb {
    /// As the docs and refusals write it.
    pub const fn name(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
            Verb::WebSocket => "WS",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get | Verb::WebSocket => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Delete => MethodFilter::DELETE,
        }
    }

    /// Whether a request's method calls a route of this verb (`HEAD` is a `GET`
    /// without the body, as the router serves it).
    fn admits(self, method: &Method) -> bool {
        match self {
            Verb::Get | Verb::WebSocket => method == Method::GET || method == Method::HEAD,
            Verb::Post => method == Method::POST,
            Verb::Put => method == Method::PUT,
            Verb::Delete => method == Method::DELETE,
        }
    }
}

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// Any live token, whatever its scopes.
    AnyToken,
    /// A live token that holds every one of these.
    Scopes(&'static [Scope]),
}

/// One route.
#[derive(Clone, Copy)]
pub struct Route {
    pub verb: Verb,
    /// In the router's syntax: `{name}` stands for one segment.
    pub path: &'static str,
    pub access: Access,
    handler: fn(MethodFilter) -> MethodRouter<AppState>,
}

impl Route {
    /// The scopes of the route that `grant` does not hold.
    pub fn lacking(&self, grant: &Grant) -> Vec<Scope> {
        match self.access {
            Access::Scopes(needed) => grant.lacking(needed),
            Access::Public | Access::AnyToken => Vec::new(),
        }
    }

    /// Why token `token` may not call it: what it needs, and what it lacks.
    pub fn refusal(&self, token: &str, lacking: &[Scope]) -> String {
        let needed = match self.access {
            Access::Scopes(needed) => needed,
            Access::Public | Access::AnyToken => &[],
        };
        refusal(
            &format!("{} {}", self.verb.name(), self.path),
            needed,
            token,
            lacking,
        )
    }
}

/// `WHAT needs A and B; token "t" lacks B`: the detail of every 403.
pub fn refusal(what: &str, needed: &[Scope], token: &str, lacking: &[Scope]) -> String {
    format!(
        "{what} needs the scopes {}; token {token:?} lacks {}",
        and_list(needed),
        and_list(lacking)
    )
}

const fn route(
    verb: Verb,
    path: &'static str,
    access: Access,
    handler: fn(MethodFilter) -> MethodRouter<AppState>,
) -> Route {
    Route {
        verb,
        path,
        access,
        handler,
    }
}

/// Listing jobs and reading their state (commands as written) and history.
const READ: Access = Access::Scopes(&[JobsRead]);
/// A whole definition: the command as it runs and the `env` values, where a
/// `${VAR}`'s value (a secret) is. Only for a token that could create a job, which
/// could have that job read the server's files anyway.
const DEFINITION: Access = Access::Scopes(&[JobsRead, JobsExecute, JobsWrite]);
/// Reading or following a log.
pub const FOLLOW: &[Scope] = &[JobsRead, LogsRead];
const LOGS: Access = Access::Scopes(FOLLOW);
/// Choosing the command a job runs, and starting it.
const CREATE: Access = Access::Scopes(&[JobsExecute, JobsWrite]);
/// Choosing the command again: the job is stopped first.
const REPLACE: Access = Access::Scopes(&[JobsExecute, JobsWrite, JobsStop]);
const START: Access = Access::Scopes(&[JobsExecute]);
const STOP: Access = Access::Scopes(&[JobsExecute, JobsStop]);
const PAUSE: Access = Access::Scopes(&[JobsExecute, JobsPause]);
/// Deleting a job stops it first, when it runs.
const DELETE: Access = Access::Scopes(&[JobsExecute, JobsStop, JobsDelete]);
/// Writing to a job's standard input (the route, and frames over the logs socket).
pub const INPUT: &[Scope] = &[JobsExecute];
const STDIN: Access = Access::Scopes(INPUT);
/// Keeping a job created with a lease alive (a foreground run's client).
const LEASE: Access = Access::Scopes(&[JobsExecute]);
/// Prometheus' scrapes.
const METRICS: Access = Access::Scopes(&[MetricsRead]);

/// The logs WebSocket's path: its handler holds a token sent in the socket's
/// first frame to the route's scopes, [`FOLLOW`].
pub const LOG_SOCKET: &str = "/logs/{name}/ws";

/// Every route: the one place that says what each needs.
pub static ROUTES: &[Route] = &[
    // Shaped like Meerschaum 4.1.7's (`meerschaum.rs`, `socket.rs`).
    route(Verb::Get, "/healthcheck", Access::Public, |m| {
        on(m, ms::healthcheck)
    }),
    route(Verb::Post, "/tokens/validate", Access::AnyToken, |m| {
        on(m, ms::validate)
    }),
    route(Verb::Get, "/version", Access::AnyToken, |m| {
        on(m, ms::version)
    }),
    route(Verb::Get, "/version/mrsm", Access::AnyToken, |m| {
        on(m, ms::version)
    }),
    route(Verb::Get, "/jobs", READ, |m| on(m, ms::list)),
    route(Verb::Get, "/jobs/{name}", READ, |m| on(m, ms::metadata)),
    route(Verb::Post, "/jobs/{name}", CREATE, |m| on(m, ms::create)),
    route(Verb::Delete, "/jobs/{name}", DELETE, |m| on(m, ms::delete)),
    route(Verb::Get, "/jobs/{name}/exists", READ, |m| {
        on(m, ms::exists)
    }),
    route(Verb::Post, "/jobs/{name}/start", START, |m| {
        on(m, ms::start)
    }),
    route(Verb::Post, "/jobs/{name}/stop", STOP, |m| on(m, ms::stop)),
    route(Verb::Post, "/jobs/{name}/pause", PAUSE, |m| {
        on(m, ms::pause)
    }),
    route(Verb::Get, "/jobs/{name}/stop_time", READ, |m| {
        on(m, ms::stop_time)
    }),
    route(Verb::Get, "/jobs/{name}/is_blocking_on_stdin", READ, |m| {
        on(m, ms::is_blocking_on_stdin)
    }),
    route(Verb::Get, "/jobs/{name}/prompt_kwargs", READ, |m| {
        on(m, ms::prompt_kwargs)
    }),
    route(Verb::Get, "/logs/{name}", LOGS, |m| on(m, ms::log_text)),
    route(Verb::WebSocket, LOG_SOCKET, LOGS, |m| {
        on(m, socket::log_socket)
    }),
    // The dashboard (`dashboard.rs`): the page holds no data, and calls the
    // routes below with the token its user gives.
    route(Verb::Get, "/", Access::Public, |m| on(m, dashboard::page)),
    route(Verb::Get, "/ui/app.js", Access::Public, |m| {
        on(m, dashboard::script)
    }),
    route(Verb::Get, "/ui/app.css", Access::Public, |m| {
        on(m, dashboard::style)
    }),
    route(Verb::Get, "/favicon.ico", Access::Public, |m| {
        on(m, dashboard::no_icon)
    }),
    route(Verb::Get, "/metrics", METRICS, |m| on(m, metrics::scrape)),
    // mrsm's own (`v1.rs`).
    route(Verb::Get, "/v1/info", Access::AnyToken, |m| on(m, v1::info)),
    route(Verb::Get, "/v1/whoami", Access::AnyToken, |m| {
        on(m, dashboard::whoami)
    }),
    route(Verb::Get, "/v1/jobs", READ, |m| on(m, v1::list)),
    route(Verb::Get, "/v1/kept", READ, |m| on(m, v1::kept)),
    route(Verb::Get, "/v1/jobs/{name}", READ, |m| on(m, v1::job)),
    route(Verb::Post, "/v1/jobs/{name}", CREATE, |m| on(m, v1::create)),
    route(Verb::Post, "/v1/jobs/{name}/lease", LEASE, |m| {
        on(m, leases::renew)
    }),
    route(Verb::Put, "/v1/jobs/{name}", REPLACE, |m| {
        on(m, v1::replace)
    }),
    route(Verb::Delete, "/v1/jobs/{name}", DELETE, |m| {
        on(m, v1::delete)
    }),
    route(Verb::Get, "/v1/jobs/{name}/spec", DEFINITION, |m| {
        on(m, v1::spec)
    }),
    route(Verb::Post, "/v1/jobs/{name}/start", START, |m| {
        on(m, v1::start)
    }),
    route(Verb::Post, "/v1/jobs/{name}/pause", PAUSE, |m| {
        on(m, v1::pause)
    }),
    route(Verb::Post, "/v1/jobs/{name}/stop", STOP, |m| {
        on(m, v1::stop)
    }),
    route(Verb::Get, "/v1/jobs/{name}/runs", READ, |m| on(m, v1::runs)),
    route(Verb::Get, "/v1/jobs/{name}/fires", READ, |m| {
        on(m, dashboard::fires)
    }),
    route(Verb::Get, "/v1/jobs/{name}/logs", LOGS, |m| on(m, v1::logs)),
    route(Verb::Get, "/v1/jobs/{name}/logs/page", LOGS, |m| {
        on(m, v1::page)
    }),
    route(Verb::Post, "/v1/jobs/{name}/stdin", STDIN, |m| {
        on(m, v1::stdin)
    }),
];

/// The router of every route in the table.
pub fn router() -> Router<AppState> {
    ROUTES.iter().fold(Router::new(), |router, r| {
        router.route(r.path, (r.handler)(r.verb.filter()))
    })
}

/// Whether `path` is one of `pattern`'s: the same segments, a `{…}` standing for
/// any one that is not empty (as the router matches, on the path as sent).
fn matches(pattern: &str, path: &str) -> bool {
    let mut pattern = pattern.split('/');
    let mut path = path.split('/');
    loop {
        match (pattern.next(), path.next()) {
            (None, None) => return true,
            (Some(p), Some(s)) if p.starts_with('{') => {
                if s.is_empty() {
                    return false;
                }
            }
            (Some(p), Some(s)) if p == s => {}
            _ => return false,
        }
    }
}

/// The route a request calls, by its method and the shape of its path (never by
/// what a job is called: a job may be named `stdin` or `ws`).
pub fn find(method: &Method, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.verb.admits(method) && matches(r.path, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(method: Method, path: &str) -> Option<Access> {
        find(&method, path).map(|r| r.access)
    }

    #[test]
    fn scopes_follow_the_route_not_the_job_s_name() {
        assert_eq!(needs(Method::POST, "/jobs/stdin"), Some(CREATE));
        assert_eq!(needs(Method::PUT, "/v1/jobs/stdin"), Some(REPLACE));
        assert_eq!(needs(Method::POST, "/v1/jobs/stdin/stdin"), Some(STDIN));
        assert_eq!(needs(Method::GET, "/logs/ws"), Some(LOGS));
        assert_eq!(needs(Method::HEAD, "/logs/ws"), Some(LOGS));
        assert_eq!(needs(Method::DELETE, "/jobs/validate"), Some(DELETE));
        assert_eq!(
            needs(Method::POST, "/tokens/validate"),
            Some(Access::AnyToken)
        );
        assert_eq!(needs(Method::GET, "/healthcheck"), Some(Access::Public));
        // Not routes: a live token is asked for, then the router says 404 or 405.
        assert_eq!(needs(Method::GET, "/jobs/"), None);
        assert_eq!(needs(Method::GET, "//jobs"), None);
        assert_eq!(needs(Method::POST, "/jobs"), None);
        assert_eq!(needs(Method::GET, "/healthcheck/x"), None);
    }

    #[test]
    fn the_socket_checks_what_its_route_needs() {
        let route = find(&Method::GET, "/logs/x/ws").expect("a route");
        assert_eq!(
            (route.verb, route.path, route.access),
            (Verb::WebSocket, LOG_SOCKET, LOGS)
        );
    }

    /// Whether two patterns have a path in common.
    fn overlap(a: &str, b: &str) -> bool {
        let (a, b): (Vec<_>, Vec<_>) = (a.split('/').collect(), b.split('/').collect());
        a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|(x, y)| x == y || x.starts_with('{') || y.starts_with('{'))
    }

    #[test]
    fn a_request_calls_one_route_at_most() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                let same_method = a.verb.filter() == b.verb.filter();
                assert!(
                    !(same_method && overlap(a.path, b.path)),
                    "{} {} and {} {} overlap",
                    a.verb.name(),
                    a.path,
                    b.verb.name(),
                    b.path
                );
            }
        }
    }

    /// docs/api.md's table of routes, as it must read.
    fn routes_table() -> String {
        let mut table = String::from("| method | path | scopes (all of them) |\n|---|---|---|\n");
        for r in ROUTES {
            let access = match r.access {
                Access::Public => "none: no token needed".to_string(),
                Access::AnyToken => "any live token".to_string(),
                Access::Scopes(needed) => needed
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(" + "),
            };
            table.push_str(&format!(
                "| `{}` | `{}` | {access} |\n",
                r.verb.name(),
                r.path
            ));
        }
        table
    }

    /// docs/api.md's table of scopes, as it must read.
    fn scopes_table() -> String {
        let mut table = String::from("| scope | allows |\n|---|---|\n");
        for s in Scope::ALL {
            table.push_str(&format!("| `{s}` | {} |\n", s.meaning()));
        }
        table
    }

    #[test]
    fn docs_list_every_route_with_its_scopes() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/api.md");
        let docs = std::fs::read_to_string(&file).expect("docs/api.md");
        for expected in [routes_table(), scopes_table()] {
            assert!(
                docs.contains(&expected),
                "docs/api.md must hold this table, as the code has it:\n\n{expected}"
            );
        }
    }
}
