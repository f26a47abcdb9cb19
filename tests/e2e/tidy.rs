//! The house rules (STYLE "One way through"), checked on the source tree:
//!
//! - the crate graph: `collector`, `analytics` and `alerts` never depend on each other,
//!   in any dependency section; they meet through `schemas` and the root's wiring.
//!   `schemas` depends on no workspace crate; `dashboards`, once it exists, reads through
//!   `analytics` and `schemas` only (never `alerts`, `collector` or a web framework).
//! - the root's rooms: only `commands` (and `main`) may reach every module; the front ends
//!   (`otlp`, `http`, `pg`) and the background loops (`jobs`) do not use each other;
//!   `render`, `config`, `auth` (the guards) and `tls` stand below all of them. `demo`
//!   (`vigil demo`'s fleet and hook) is used by `commands` only and uses none of the
//!   daemon's rooms but `config`: it talks to the daemon over the wire.
//! - `audit` (the hash chain) depends on `schemas` only; the root's `audit` (its writer)
//!   stands below the front ends, the jobs and the guards, which all may record in it.
//! - no source file over 800 lines.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn dependencies<'a>(packages: &'a [Value], name: &str) -> Option<Vec<&'a str>> {
    let package = packages.iter().find(|p| p["name"] == name)?;
    Some(
        package["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect(),
    )
}

#[test]
fn collector_analytics_and_alerts_do_not_depend_on_each_other() {
    let metadata = metadata();
    let packages = metadata["packages"].as_array().unwrap();
    let layers = ["vigil-collector", "vigil-analytics", "vigil-alerts"];
    for layer in layers {
        let deps = dependencies(packages, layer)
            .unwrap_or_else(|| panic!("{layer} is a workspace member"));
        for name in deps {
            assert!(
                !layers.contains(&name) || name == layer,
                "{layer} depends on {name}"
            );
        }
    }
    let schemas = dependencies(packages, "vigil-schemas").expect("vigil-schemas is a member");
    assert!(
        schemas.iter().all(|d| !d.starts_with("vigil")),
        "schemas depends on {schemas:?}"
    );
    let audit = dependencies(packages, "vigil-audit").expect("vigil-audit is a member");
    let workspace: Vec<&str> = audit
        .iter()
        .copied()
        .filter(|d| d.starts_with("vigil"))
        .collect();
    assert_eq!(workspace, ["vigil-schemas"], "audit depends on {audit:?}");
    if let Some(dashboards) = dependencies(packages, "vigil-dashboards") {
        for forbidden in ["vigil-alerts", "vigil-collector", "axum", "tonic"] {
            assert!(
                !dashboards.contains(&forbidden),
                "dashboards depends on {forbidden}"
            );
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n != "target" && n != ".git")
            {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The root module a file of `src/` belongs to: `src/otlp/grpc.rs` and `src/otlp.rs`
/// are both `otlp`.
fn room(file: &Path) -> String {
    let relative = file.strip_prefix(root().join("src")).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

#[test]
fn the_root_modules_use_each_other_one_way() {
    // room → the rooms it must not use.
    let forbidden: &[(&str, &[&str])] = &[
        ("otlp", &["commands", "http", "jobs", "pg"]),
        ("http", &["commands", "jobs", "pg"]),
        ("pg", &["commands", "http", "jobs", "otlp"]),
        ("jobs", &["commands", "http", "otlp", "pg", "render"]),
        (
            "render",
            &["commands", "config", "http", "jobs", "otlp", "pg"],
        ),
        ("config", &["commands", "http", "jobs", "otlp", "render"]),
        (
            "logging",
            &["commands", "http", "jobs", "otlp", "pg", "render"],
        ),
        (
            "audit",
            &[
                "auth", "commands", "config", "http", "jobs", "otlp", "pg", "render", "tls",
            ],
        ),
        // The guards sit below every front end; TLS below everything but config.
        (
            "auth",
            &[
                "commands", "config", "http", "jobs", "otlp", "pg", "render", "tls",
            ],
        ),
        (
            "tls",
            &["auth", "commands", "http", "jobs", "otlp", "pg", "render"],
        ),
        // Node id and roles: read by the front ends, the config and `serve`.
        (
            "cluster",
            &[
                "audit", "auth", "commands", "config", "http", "jobs", "otlp", "pg", "render",
                "tls",
            ],
        ),
        // `vigil demo`'s fleet and hook talk to the daemon over the wire, as any client.
        (
            "demo",
            &[
                "audit", "auth", "commands", "http", "jobs", "otlp", "pg", "render", "tls",
            ],
        ),
    ];
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut problems = Vec::new();
    for file in &files {
        let room = room(file);
        let Some((_, banned)) = forbidden.iter().find(|(r, _)| *r == room) else {
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for other in *banned {
            let needles = [
                format!("crate::{other}::"),
                format!("crate::{other};"),
                format!("crate::{{{other}"),
            ];
            if needles.iter().any(|n| text.contains(n.as_str())) {
                problems.push(format!("{} uses crate::{other}", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn only_commands_uses_the_demo() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let users: Vec<String> = files
        .iter()
        .filter(|f| !["commands", "demo", "main"].contains(&room(f).as_str()))
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            ["crate::demo::", "crate::demo;", "crate::{demo"]
                .iter()
                .any(|n| text.contains(n))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(users.is_empty(), "{users:#?}");
}

#[test]
fn no_source_file_is_over_800_lines() {
    let mut files = Vec::new();
    for dir in [
        "src",
        "schemas",
        "collector",
        "analytics",
        "alerts",
        "audit",
        "tests",
        "benches",
        "dashboards",
    ] {
        let dir = root().join(dir);
        if dir.exists() {
            rust_files(&dir, &mut files);
        }
    }
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > 800).then(|| format!("{}: {lines} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "{long:#?}");
}
