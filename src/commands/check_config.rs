//! `vigil check-config FILE`: validate a config file as `vigil serve` would and print
//! what it would run; exit 2 naming the key of the first problem.

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
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vigil: config error: {e}");
            ExitCode::from(2)
        }
    }
}
