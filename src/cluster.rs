//! `[cluster]`: this node's id and roles when several `vigil serve` processes share one
//! set of tables. All static config, no coordination service: the tables' own
//! put-if-absent commits keep writers apart, and the jobs lease
//! ([`collector::lease`]) keeps a second `jobs` node from starting.
//!
//! - `ingest`: the OTLP listeners and `POST /api/v1/scores`, this node's WAL, flushes to
//!   the tables (commits under `vigil-wal/<node_id>`).
//! - `query`: SQL over HTTP, PostgreSQL, the pages.
//! - `jobs`: compaction, vacuum, retention, monitors, SQL rules and the alert outbox;
//!   exactly one node of a deployment, held by the lease.
//!
//! The default, every role and the host name as id, is one node exactly as before.

use std::time::Duration;

use serde::Deserialize;

use schemas::config::ConfigError;

/// One role a node plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// OTLP intake, the WAL, flushes.
    Ingest,
    /// SQL, PostgreSQL, pages.
    Query,
    /// Compaction, retention, monitors, rules, alerts.
    Jobs,
}

impl Role {
    /// Every role, as `roles` names them.
    pub const ALL: [Role; 3] = [Role::Ingest, Role::Query, Role::Jobs];

    /// The name in `roles`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Query => "query",
            Role::Jobs => "jobs",
        }
    }
}

/// The set of roles a node plays; never empty once validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roles([bool; 3]);

impl Roles {
    /// Every role: a single node.
    pub const ALL: Roles = Roles([true; 3]);

    /// Whether `role` is among them.
    pub fn has(self, role: Role) -> bool {
        self.0[role as usize]
    }

    /// Parses role names (`ingest`, `query`, `jobs`), each at most once.
    ///
    /// # Errors
    /// `key` naming an unknown role, a repeated one, or an empty list.
    pub fn parse<'a>(
        names: impl IntoIterator<Item = &'a str>,
        key: &str,
    ) -> Result<Roles, ConfigError> {
        let mut roles = [false; 3];
        for name in names {
            let name = name.trim();
            let Some(role) = Role::ALL.into_iter().find(|r| r.name() == name) else {
                return Err(ConfigError::new(
                    key,
                    format!(
                        "unknown role {name:?}; the roles are \"ingest\", \"query\" and \"jobs\""
                    ),
                ));
            };
            if std::mem::replace(&mut roles[role as usize], true) {
                return Err(ConfigError::new(key, format!("{name:?} is listed twice")));
            }
        }
        if roles == [false; 3] {
            return Err(ConfigError::new(
                key,
                "is empty; a node plays at least one of \"ingest\", \"query\" and \"jobs\"",
            ));
        }
        Ok(Roles(roles))
    }

    /// The role names, comma-separated, in `ingest,query,jobs` order.
    pub fn names(self) -> String {
        Role::ALL
            .into_iter()
            .filter(|r| self.has(*r))
            .map(Role::name)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `[cluster]` as written, every key optional.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's id (`--node-id`, `VIGIL_NODE_ID`); default the host name.
    pub node_id: Option<String>,
    /// The roles (`--roles`, `VIGIL_ROLES`); default all three.
    pub roles: Option<Vec<String>>,
    /// How long the jobs lease lasts without renewal; renewed every third of it.
    #[serde(default, with = "humantime_serde")]
    pub lease_ttl: Option<Duration>,
    /// Added to `[storage] flush_interval` before a window closes on a deployment of
    /// several nodes.
    #[serde(default, with = "humantime_serde")]
    pub commit_grace: Option<Duration>,
}

/// `[cluster] lease_ttl` by default.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);
/// `[cluster] commit_grace` by default.
pub const DEFAULT_COMMIT_GRACE: Duration = Duration::from_secs(5);

/// `[cluster]` resolved.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// This node's id: commits, the lease and logs name it.
    pub node_id: String,
    /// The roles it plays.
    pub roles: Roles,
    /// The jobs lease's time to live.
    pub lease_ttl: Duration,
    /// The commit grace of the window rule.
    pub commit_grace: Duration,
    /// Whether other nodes may write the same tables: `[cluster]` is in the file, a node
    /// id or roles came from a flag or the environment, or `[storage] tables` is outside
    /// the data directory (set by the config's assembly). Windows then close later
    /// ([`Cluster::window_delay`]), and the node follows the others' commits.
    pub shared: bool,
}

impl Cluster {
    /// Whether this node plays `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.has(role)
    }

    /// What the jobs node adds to every monitor's lateness before a window counts as
    /// closed: nothing on a single node, where a span is visible as soon as it is
    /// acknowledged; on shared tables, `flush_interval + commit_grace`, since another
    /// ingest node may hold a window's spans unflushed for up to one flush interval and
    /// then need a few commit attempts (conflict retries) to land them.
    pub fn window_delay(&self, flush_interval: Duration) -> Duration {
        if self.shared {
            flush_interval + self.commit_grace
        } else {
            Duration::ZERO
        }
    }

    /// Resolves `[cluster]` under flags and environment (`flag_node_id`, `flag_roles`,
    /// already merged by clap: flag over `VIGIL_*`).
    ///
    /// # Errors
    /// `cluster.node_id` (empty, or characters beyond `A-Za-z0-9._-`, or longer than 64),
    /// `cluster.roles` (unknown, repeated, empty), `cluster.lease_ttl` (under 3 s).
    pub fn resolve(
        file: Option<&ClusterConfig>,
        flag_node_id: Option<&str>,
        flag_roles: Option<&str>,
    ) -> Result<Cluster, ConfigError> {
        let shared = file.is_some() || flag_node_id.is_some() || flag_roles.is_some();
        let file = file.cloned().unwrap_or_default();
        let node_id = match flag_node_id.map(str::to_owned).or(file.node_id) {
            Some(id) => {
                valid_node_id(&id)?;
                id
            }
            None => collector::default_node_id(),
        };
        let roles = match (flag_roles, &file.roles) {
            (Some(list), _) => Roles::parse(list.split(','), "cluster.roles")?,
            (None, Some(list)) => Roles::parse(list.iter().map(String::as_str), "cluster.roles")?,
            (None, None) => Roles::ALL,
        };
        let lease_ttl = file.lease_ttl.unwrap_or(DEFAULT_LEASE_TTL);
        if lease_ttl < Duration::from_secs(3) {
            return Err(ConfigError::new(
                "cluster.lease_ttl",
                "must be at least 3s (the lease is renewed every third of it)",
            ));
        }
        Ok(Cluster {
            node_id,
            roles,
            lease_ttl,
            commit_grace: file.commit_grace.unwrap_or(DEFAULT_COMMIT_GRACE),
            shared,
        })
    }
}

/// A node id goes into Delta `txn` application ids and log lines: short and plain.
fn valid_node_id(id: &str) -> Result<(), ConfigError> {
    let key = "cluster.node_id";
    if id.is_empty() {
        return Err(ConfigError::new(key, "is empty"));
    }
    if id.len() > 64 {
        return Err(ConfigError::new(
            key,
            format!("{id:?} is longer than 64 bytes"),
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(ConfigError::new(
            key,
            format!("{id:?} holds {c:?}; use letters, digits, '.', '_' and '-'"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_one_node_with_every_role() {
        let c = Cluster::resolve(None, None, None).unwrap();
        assert_eq!(c.roles, Roles::ALL);
        assert!(!c.shared);
        assert_eq!(c.node_id, collector::default_node_id());
        assert_eq!(c.window_delay(Duration::from_secs(10)), Duration::ZERO);
    }

    #[test]
    fn flags_win_over_the_file() {
        let file = ClusterConfig {
            node_id: Some("from-file".into()),
            roles: Some(vec!["jobs".into()]),
            ..ClusterConfig::default()
        };
        let c = Cluster::resolve(Some(&file), Some("ingest-1"), Some("ingest,query")).unwrap();
        assert_eq!(c.node_id, "ingest-1");
        assert_eq!(c.roles.names(), "ingest,query");
        assert!(c.shared);
        assert_eq!(
            c.window_delay(Duration::from_secs(10)),
            Duration::from_secs(15)
        );
        let c = Cluster::resolve(Some(&file), None, None).unwrap();
        assert_eq!(
            (c.node_id.as_str(), c.roles.names()),
            ("from-file", "jobs".into())
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = Cluster::resolve(None, None, Some("ingest,querry")).unwrap_err();
        assert!(e.to_string().contains("cluster.roles"), "{e}");
        assert!(e.to_string().contains("querry"), "{e}");
        let empty = ClusterConfig {
            roles: Some(vec![]),
            ..ClusterConfig::default()
        };
        let e = Cluster::resolve(Some(&empty), None, None).unwrap_err();
        assert!(e.to_string().contains("cluster.roles") && e.to_string().contains("empty"));
        let e = Cluster::resolve(None, None, Some("jobs,jobs")).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        let e = Cluster::resolve(None, Some("a/b"), None).unwrap_err();
        assert!(e.to_string().contains("cluster.node_id"), "{e}");
        let short = ClusterConfig {
            lease_ttl: Some(Duration::from_secs(1)),
            ..ClusterConfig::default()
        };
        let e = Cluster::resolve(Some(&short), None, None).unwrap_err();
        assert!(e.to_string().contains("cluster.lease_ttl"), "{e}");
    }
}
