//! `vigil check-config FILE`: validate a config file as `vigil serve` would and print
//! what it would run; exit 2 naming the key of the first problem. When the data directory
//! exists, its Delta logs are read (never written) to show what retention would delete.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config;

/// Validates `file` and prints its summary.
pub fn main(file: PathBuf) -> ExitCode {
    let args = config::ServeArgs {
        config: Some(file),
        ..config::ServeArgs::default()
    };
    match config::resolve(&args) {
        Ok(settings) => {
            print!("{}", config::describe(&settings));
            print!("{}", retention(&settings));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vigil: config error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The `[retention]` lines, with what a run now would delete when the data directory can
/// be read.
fn retention(settings: &config::Settings) -> String {
    let retention = &settings.collector.retention;
    let tables = &settings.collector.tables;
    if tables.local_dir().is_some_and(|dir| !dir.is_dir()) {
        let status = format!("no data in {tables} yet");
        return config::describe_retention(retention, None, Some(&status));
    }
    let read = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| {
            runtime
                .block_on(collector::retention::plan_offline(
                    tables,
                    retention,
                    chrono::Utc::now(),
                ))
                .map_err(|e| e.to_string())
        });
    match read {
        Ok(plans) => {
            let status = format!("as of now, from {tables}");
            config::describe_retention(retention, Some(&plans), Some(&status))
        }
        Err(e) => {
            let status = format!("{tables} not read: {e}");
            config::describe_retention(retention, None, Some(&status))
        }
    }
}
