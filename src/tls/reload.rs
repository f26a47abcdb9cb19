//! Certificates replaced without a restart: [`Tls::watch`] looks at the files' size,
//! modification time and inode every [`POLL_INTERVAL`] and, when one changed, builds new
//! configurations. A failed reload (a half-written file, a key that does not match yet)
//! logs an error and keeps the certificates in use; it is tried again when the files
//! change again. `vigil_tls_reloads_total{result="ok"|"error"}` counts both.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use schemas::config::ConfigError;
use tokio::sync::watch;

use super::{Tls, TlsConfig};

/// How often the files are looked at.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// What identifies a version of one file without reading it.
type Stamp = Option<(SystemTime, u64, u64)>;

/// The stamps of `[tls]`'s files (certificate, key, client CA), `None` for a missing one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fingerprint([Stamp; 3]);

impl Fingerprint {
    /// The files of `config` as they are now.
    pub(super) fn of(config: &TlsConfig) -> Self {
        let stamp = |path: &Option<std::path::PathBuf>| path.as_deref().and_then(stamp);
        Self([
            stamp(&config.cert_file),
            stamp(&config.key_file),
            stamp(&config.client_ca_file),
        ])
    }
}

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

impl Tls {
    /// Reloads the certificates whenever the files change, until `stop` turns true.
    pub async fn watch(self: Arc<Self>, interval: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            self.poll();
        }
    }

    /// One look at the files: when they changed since the last reading, a reload, logged
    /// and counted. `None` when nothing changed.
    pub fn poll(&self) -> Option<Result<(), ConfigError>> {
        // Stamped before reading: a write after the stamp is seen by the next poll.
        let now = Fingerprint::of(&self.config);
        {
            let mut seen = self.seen.lock();
            if *seen == now {
                return None;
            }
            *seen = now;
        }
        let result = self.reload();
        match &result {
            Ok(()) => {
                metrics::counter!("vigil_tls_reloads_total", "result" => "ok").increment(1);
                tracing::info!(
                    cert_file = %self.config.cert_file.as_deref().map(Path::display).map(|d| d.to_string()).unwrap_or_default(),
                    "TLS certificates reloaded; new connections use them"
                );
            }
            Err(e) => {
                metrics::counter!("vigil_tls_reloads_total", "result" => "error").increment(1);
                tracing::error!(error = %e, "TLS reload failed; the previous certificates stay in use until the files change again");
            }
        }
        Some(result)
    }
}
