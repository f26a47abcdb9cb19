//! The jobs lease: which one node of a deployment compacts, vacuums, applies retention,
//! runs monitors and SQL rules and owns the alert outbox, kept in the table store itself,
//! so that no coordination service is needed.
//!
//! The lease is a log of small JSON objects under `<tables root>/_vigil/jobs-lease/`, one
//! per term, named by a zero-padded term number (`00000000000000000007.json`), each
//! written with put-if-absent ([`PutMode::Create`]: S3 `If-None-Match: *`, a hard link on
//! a local disk). That is the primitive Delta commits already rely on, so the lease works
//! wherever the tables do. A conditional update of one object (`PutMode::Update`,
//! `If-Match` on an ETag) would need less listing, but object_store's local file system
//! does not implement it, and several processes sharing one local tables directory is a
//! valid deployment.
//!
//! - **Take:** read the newest term; when it is held by another node and not expired,
//!   refuse ([`LeaseError::Held`] names the holder and the expiry); otherwise create the
//!   next term. Two contenders race for the same term number and exactly one create
//!   succeeds.
//! - **Renew** (every ttl/3, [`Lease::keep`]): create the next term with a new expiry.
//!   Nobody else may create it before the current term expires, so a failed create means
//!   another node took the lease over after an expiry: [`LeaseError::Lost`]. When the
//!   store cannot be reached, the holder gives its jobs up one renewal interval before
//!   the expiry, so that it has stopped when a successor may start.
//!
//! There is no fencing token: a holder paused past its expiry (a stopped process, a VM
//! migration) runs at most the job step it was in before it learns it lost the lease.
//! Delta commits stay atomic either way; what such an overlap can cost is a monitor window
//! or an alert notification done twice.
//! - **Release** (graceful shutdown): create the next term marked released, so a
//!   successor starts at once instead of after the ttl.
//!
//! A node restarting under the same `node_id` takes its own unexpired lease back (a
//! crashed jobs node comes back without waiting out the ttl); two live processes with one
//! `node_id` are a misconfiguration this cannot detect. Expiries compare wall clocks of
//! different machines, so their clocks must agree to well within the ttl.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deltalake::logstore::object_store::{
    self, ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload, path::Path,
};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// The lease's folder under the tables root.
pub const LEASE_DIR: &str = "_vigil/jobs-lease";

/// One term of the lease, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    /// The term number (also the object's name).
    pub term: u64,
    /// The holder's `node_id`.
    pub holder: String,
    /// Until when the holder may act without renewing, RFC 3339 UTC.
    pub expires: DateTime<Utc>,
    /// Given up on a graceful shutdown: anyone may take the next term at once.
    #[serde(default)]
    pub released: bool,
}

impl Term {
    fn held_by_other(&self, node_id: &str, now: DateTime<Utc>) -> bool {
        !self.released && self.holder != node_id && self.expires > now
    }
}

/// Why the lease could not be taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another node holds the lease.
    #[error(
        "another jobs node holds the jobs lease: node_id {holder:?}, until {expires} (renewed every ttl/3 while it runs; start this node without the `jobs` role, or stop {holder:?} first)"
    )]
    Held {
        /// The holder's `node_id`.
        holder: String,
        /// When its term expires.
        expires: DateTime<Utc>,
    },
    /// Another node took a later term: this node's term expired before it could renew.
    #[error("the jobs lease was taken over by node_id {holder:?} (term {term})")]
    Lost {
        /// The new holder.
        holder: String,
        /// Its term.
        term: u64,
    },
    /// The store could not be read or written.
    #[error("jobs lease in the table store: {0}")]
    Store(#[from] object_store::Error),
    /// A stored term is not valid JSON.
    #[error("jobs lease term {path}: {source}")]
    Corrupt {
        /// The object.
        path: String,
        /// The cause.
        source: serde_json::Error,
    },
}

/// The jobs lease as held by this node.
pub struct Lease {
    store: Arc<dyn ObjectStore>,
    node_id: String,
    ttl: Duration,
    current: Term,
}

fn term_path(term: u64) -> Path {
    Path::from(format!("{LEASE_DIR}/{term:020}.json"))
}

impl Lease {
    /// Takes the lease for `node_id` in `store` (rooted at the tables root) for `ttl`.
    ///
    /// # Errors
    /// [`LeaseError::Held`] while another node's unexpired, unreleased term is the
    /// newest; [`LeaseError::Store`] when the store fails.
    pub async fn acquire(
        store: Arc<dyn ObjectStore>,
        node_id: &str,
        ttl: Duration,
    ) -> Result<Lease, LeaseError> {
        // A lost race for a term number means another contender just took it: read again
        // (the next read names the winner).
        for _ in 0..3 {
            let newest = newest(store.as_ref()).await?;
            let now = Utc::now();
            if let Some(t) = &newest
                && t.held_by_other(node_id, now)
            {
                return Err(LeaseError::Held {
                    holder: t.holder.clone(),
                    expires: t.expires,
                });
            }
            let next = Term {
                term: newest.as_ref().map_or(0, |t| t.term + 1),
                holder: node_id.to_owned(),
                expires: now + ttl,
                released: false,
            };
            match create(store.as_ref(), &next).await {
                Ok(()) => {
                    tracing::info!(node_id, term = next.term, expires = %next.expires, "jobs lease taken");
                    let lease = Lease {
                        store,
                        node_id: node_id.to_owned(),
                        ttl,
                        current: next,
                    };
                    lease.forget_old().await;
                    return Ok(lease);
                }
                Err(object_store::Error::AlreadyExists { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let t = newest(store.as_ref()).await?;
        Err(match t {
            Some(t) => LeaseError::Held {
                holder: t.holder,
                expires: t.expires,
            },
            None => LeaseError::Store(object_store::Error::Generic {
                store: "lease",
                source: "contended and empty".into(),
            }),
        })
    }

    /// The term this node holds.
    pub fn term(&self) -> &Term {
        &self.current
    }

    /// Extends the lease by the ttl from now with a new term.
    ///
    /// # Errors
    /// [`LeaseError::Lost`] when another node took the next term; [`LeaseError::Store`]
    /// when the store fails (the caller retries while the current term lasts).
    pub async fn renew(&mut self) -> Result<(), LeaseError> {
        self.advance(false).await
    }

    /// Gives the lease up (graceful shutdown): the next term is marked released.
    ///
    /// # Errors
    /// As [`Lease::renew`]; the lease then simply expires.
    pub async fn release(mut self) -> Result<(), LeaseError> {
        self.advance(true).await
    }

    async fn advance(&mut self, released: bool) -> Result<(), LeaseError> {
        let next = Term {
            term: self.current.term + 1,
            holder: self.node_id.clone(),
            expires: Utc::now() + self.ttl,
            released,
        };
        match create(self.store.as_ref(), &next).await {
            Ok(()) => {
                self.current = next;
                self.forget_old().await;
                Ok(())
            }
            Err(object_store::Error::AlreadyExists { .. }) => {
                let taken = read(self.store.as_ref(), &term_path(next.term)).await?;
                Err(LeaseError::Lost {
                    holder: taken.holder,
                    term: taken.term,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes terms older than the previous one, best effort (a reader listing at the
    /// same time still finds the newest).
    async fn forget_old(&self) {
        let Ok(terms) = list(self.store.as_ref()).await else {
            return;
        };
        for (term, path) in terms {
            if term + 1 < self.current.term
                && let Err(e) = self.store.delete(&path).await
            {
                tracing::debug!(error = %e, %path, "old jobs lease term not deleted");
            }
        }
    }

    /// Renews every ttl/3 until `stop` turns true, then releases. When renewal keeps
    /// failing until the next attempt would come after the term's expiry (so at the
    /// latest ttl/3 before it), or another node took the lease, sets `lost` to true, logs
    /// at error level and returns: the caller must stop its jobs at once.
    pub async fn keep(mut self, mut stop: watch::Receiver<bool>, lost: watch::Sender<bool>) {
        let every = self.ttl / 3;
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            match self.renew().await {
                Ok(()) => metrics::counter!("vigil_jobs_lease_renewals_total").increment(1),
                Err(e @ LeaseError::Lost { .. }) => {
                    tracing::error!(error = %e, "JOBS LEASE LOST: this node stops compaction, retention, monitors and rules now");
                    let _ = lost.send(true);
                    return;
                }
                Err(e) => {
                    metrics::counter!("vigil_jobs_lease_renewal_failures_total").increment(1);
                    // Give up while the term still holds if the next attempt would come
                    // after its expiry: another node may take the lease at the expiry,
                    // and this one must have stopped by then.
                    if Utc::now() + every >= self.current.expires {
                        tracing::error!(error = %e, expires = %self.current.expires, "JOBS LEASE EXPIRING: renewal failed and the next attempt would come after the expiry; this node stops compaction, retention, monitors and rules now");
                        let _ = lost.send(true);
                        return;
                    }
                    tracing::warn!(error = %e, expires = %self.current.expires, "jobs lease renewal failed; retrying");
                }
            }
        }
        let term = self.current.term;
        match self.release().await {
            Ok(()) => tracing::info!(term = term + 1, "jobs lease released"),
            Err(e) => tracing::warn!(error = %e, "jobs lease not released; it expires by itself"),
        }
    }
}

/// The object store rooted at the tables root `url` (a directory URL: `file:///…/tables/`,
/// `s3://bucket/prefix/`) with delta-rs' storage `options`, where the lease lives.
///
/// # Errors
/// When no object store handles the URL's scheme or the options are invalid.
pub fn root_store(
    url: &url::Url,
    options: &std::collections::HashMap<String, String>,
) -> Result<Arc<dyn ObjectStore>, LeaseError> {
    crate::store::register_object_stores();
    deltalake::logstore::store_for(url, options.iter()).map_err(|e| {
        LeaseError::Store(object_store::Error::Generic {
            store: "tables",
            source: Box::new(e),
        })
    })
}

/// The newest term in `store`, `None` when the lease was never taken.
///
/// # Errors
/// When the store cannot be listed or the term read.
pub async fn newest(store: &dyn ObjectStore) -> Result<Option<Term>, LeaseError> {
    match list(store).await?.pop() {
        Some((_, path)) => Ok(Some(read(store, &path).await?)),
        None => Ok(None),
    }
}

/// Every term's number and object, oldest first.
async fn list(store: &dyn ObjectStore) -> Result<Vec<(u64, Path)>, LeaseError> {
    let prefix = Path::from(LEASE_DIR);
    let mut terms: Vec<(u64, Path)> = store
        .list(Some(&prefix))
        .try_filter_map(|meta| async move {
            let term = meta
                .location
                .filename()
                .and_then(|f| f.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok());
            Ok(term.map(|t| (t, meta.location)))
        })
        .try_collect()
        .await?;
    terms.sort_unstable_by_key(|(t, _)| *t);
    Ok(terms)
}

async fn read(store: &dyn ObjectStore, path: &Path) -> Result<Term, LeaseError> {
    let bytes = store.get(path).await?.bytes().await?;
    serde_json::from_slice(&bytes).map_err(|source| LeaseError::Corrupt {
        path: path.to_string(),
        source,
    })
}

async fn create(store: &dyn ObjectStore, term: &Term) -> Result<(), object_store::Error> {
    let body = serde_json::to_vec_pretty(term).expect("a term serializes");
    store
        .put_opts(
            &term_path(term.term),
            PutPayload::from(body),
            PutOptions::from(PutMode::Create),
        )
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(dir: &std::path::Path) -> Arc<dyn ObjectStore> {
        Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir).unwrap())
    }

    #[tokio::test]
    async fn a_second_node_is_refused_until_release_then_takes_over() {
        let dir = tempfile::tempdir().unwrap();
        let ttl = Duration::from_secs(30);
        let mut first = Lease::acquire(local(dir.path()), "jobs-a", ttl)
            .await
            .unwrap();
        assert_eq!(first.term().term, 0);
        let refused = Lease::acquire(local(dir.path()), "jobs-b", ttl).await;
        match refused {
            Err(LeaseError::Held { holder, expires }) => {
                assert_eq!(holder, "jobs-a");
                assert_eq!(expires, first.term().expires);
            }
            other => panic!("expected Held, got {:?}", other.map(|l| l.current)),
        }
        first.renew().await.unwrap();
        first.renew().await.unwrap();
        assert_eq!(first.term().term, 2);
        // Old terms are forgotten: at most the previous and the current one remain.
        assert_eq!(list(local(dir.path()).as_ref()).await.unwrap().len(), 2);
        first.release().await.unwrap();
        let second = Lease::acquire(local(dir.path()), "jobs-b", ttl)
            .await
            .unwrap();
        assert_eq!(second.term().term, 4);
        assert_eq!(second.term().holder, "jobs-b");
    }

    #[tokio::test]
    async fn an_expired_term_is_taken_over_and_its_holder_learns_it_lost() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Lease::acquire(local(dir.path()), "jobs-a", Duration::from_millis(50))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        let second = Lease::acquire(local(dir.path()), "jobs-b", Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(second.term().term, 1);
        match first.renew().await {
            Err(LeaseError::Lost { holder, term }) => {
                assert_eq!((holder.as_str(), term), ("jobs-b", 1));
            }
            other => panic!("expected Lost, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_restarted_node_takes_its_own_lease_back() {
        let dir = tempfile::tempdir().unwrap();
        let ttl = Duration::from_secs(30);
        let crashed = Lease::acquire(local(dir.path()), "jobs-a", ttl)
            .await
            .unwrap();
        drop(crashed);
        let again = Lease::acquire(local(dir.path()), "jobs-a", ttl)
            .await
            .unwrap();
        assert_eq!(again.term().term, 1);
    }
}
