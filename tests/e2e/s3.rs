//! A local S3 server for tests that put Vigil's tables in object storage: moto
//! (`moto[server]` from PyPI, `tests/python/requirements.txt`) run by
//! `tests/python/moto_server.py` on 127.0.0.1, port 0, one request at a time (so a
//! put-if-absent is atomic, as on S3), with a bucket created before it answers.
//!
//! ```ignore
//! let s3 = S3Server::start();                 // waits for moto's readiness line
//! let config = s3.storage_config("run-1", "flush_interval = \"200ms\"\n");
//! let daemon = Daemon::start(dir.path(), Some(&config));
//! let options = s3.storage_options();          // the same options, for other readers
//! ```
//!
//! Every test gets its own server (and so its own empty bucket); the server is killed
//! when the value drops. Several daemons or stores may share one server: that is how
//! several nodes share the tables. The options are the ones a user sets for MinIO or
//! another S3-compatible store (endpoint, static keys, region, `allow_http`); delta-rs
//! commits with `If-None-Match: *` by default, which moto honours, so no locking
//! option is needed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The bucket every server starts with.
pub const BUCKET: &str = "vigil";

/// A running moto server. Killed on drop.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl S3Server {
    /// Starts moto with the bucket [`BUCKET`] and returns once it listens.
    ///
    /// # Panics
    /// When `python3` or moto is missing, or the server does not print its port within
    /// 60 s.
    pub fn start() -> S3Server {
        let script = format!("{}/tests/python/moto_server.py", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--bucket", BUCKET])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs tests/python/moto_server.py (pip install 'moto[server]')");
        let stdout = child.stdout.take().unwrap();
        let (port_tx, port_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = port_tx.send(line);
            }
            // Keep reading so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let Ok(port) = port_rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!("moto did not start (exit: {:?})", child.wait());
        };
        let port: u16 = port.trim().parse().expect("moto_server.py prints its port");
        S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The table location `s3://vigil/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// The storage options for this server, as `(key, value)` pairs: endpoint, dummy
    /// static credentials, region, plain HTTP.
    pub fn storage_options(&self) -> Vec<(&'static str, String)> {
        vec![
            ("aws_endpoint_url", self.endpoint.clone()),
            ("aws_access_key_id", "test".into()),
            ("aws_secret_access_key", "test".into()),
            ("aws_region", "us-east-1".into()),
            ("aws_allow_http", "true".into()),
        ]
    }

    /// A `[storage]` section that puts the tables under `s3://vigil/<prefix>` on this
    /// server, with `keys` (more `[storage]` lines, e.g. `flush_interval = "200ms"\n`)
    /// and then `[storage.options]`; other sections may follow it.
    pub fn storage_config(&self, prefix: &str, keys: &str) -> String {
        let mut config = format!(
            "[storage]\ntables = \"{}\"\n{keys}[storage.options]\n",
            self.url(prefix)
        );
        for (key, value) in self.storage_options() {
            config.push_str(&format!("{key} = \"{value}\"\n"));
        }
        config
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
