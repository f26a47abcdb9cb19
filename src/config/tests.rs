use super::*;

fn parse_err(text: &str) -> ConfigError {
    match parse(text, "vigil.toml") {
        Ok(_) => panic!("{text:?} should not parse"),
        Err(e) => e,
    }
}

#[test]
fn an_unknown_key_is_named_by_its_path() {
    let e = parse_err("[[rule]]\nname = \"r\"\nquery = \"SELECT 1\"\nevry = \"1s\"\n");
    assert_eq!(e.key, "rule[0].evry", "{e}");
    assert!(e.problem.contains("unknown field `evry`"), "{e}");
    assert!(e.problem.contains("line 4, column 1 of vigil.toml"), "{e}");
    let e = parse_err("[storage]\nflush_intervall = \"1s\"\n");
    assert_eq!(e.key, "storage.flush_intervall", "{e}");
}

#[test]
fn a_bad_value_inside_an_inline_table_is_named_by_its_path() {
    // The line rescan this replaced named `monitor[0].baseline` at best.
    let e = parse_err(
        "[[monitor]]\nname = \"acc\"\nsignal = \"score:accuracy\"\nwindow = \"1m\"\n\
         detector = \"shewhart\"\nbaseline = { mean = \"high\", sd = 0.01 }\n",
    );
    assert_eq!(e.key, "monitor[0].baseline.mean", "{e}");
    assert!(e.problem.contains("line 6"), "{e}");
}

#[test]
fn a_bad_value_after_a_multi_line_string_is_named_by_its_path() {
    // A multi-line query has lines that look like `key = value`; the path comes from the
    // deserializer, not from the text.
    let e = parse_err(
        "[[rule]]\nname = \"r\"\nquery = \"\"\"\nSELECT agent_name,\n  every = 1\nFROM spans\"\"\"\n\
         every = 5\n",
    );
    assert_eq!(e.key, "rule[0].every", "{e}");
    assert!(e.problem.contains("line 7"), "{e}");
}

#[test]
fn invalid_toml_names_the_file_and_the_place() {
    let e = parse_err("[storage\nhot_budget_mib = 1\n");
    assert_eq!(e.key, "vigil.toml", "{e}");
    assert!(e.problem.contains("line 1"), "{e}");
}

#[test]
fn section_errors_keep_their_keys() {
    for (text, key) in [
        ("[storage]\nhot_budget_mib = 0\n", "storage.hot_budget_mib"),
        (
            "[storage]\nflush_interval = \"0s\"\n",
            "storage.flush_interval",
        ),
        ("[query]\ntimeout = \"0s\"\n", "query.timeout"),
        ("[pg]\nuser = \"\"\n", "pg.user"),
        ("[limits]\nmax_body_bytes = 0\n", "limits.max_body_bytes"),
        (
            "[cluster]\nroles = [\"ingest\", \"jobz\"]\n",
            "cluster.roles",
        ),
        ("[cluster]\nroles = []\n", "cluster.roles"),
        ("[cluster]\nnode_id = \"a b\"\n", "cluster.node_id"),
        ("[cluster]\nlease_ttl = \"1s\"\n", "cluster.lease_ttl"),
        (
            "[[rule]]\nname = \"r\"\nquery = \"SELECT 1\"\nreceivers = [\"pager\"]\n",
            "rule[0].receivers",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vigil.toml");
        std::fs::write(&path, text).unwrap();
        let args = ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        };
        let e = match resolve(&args) {
            Ok(_) => panic!("{text:?} should be refused"),
            Err(e) => e,
        };
        assert_eq!(e.key, key, "{text:?}: {e}");
    }
}

#[test]
fn an_unknown_rule_receiver_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.toml");
    std::fs::write(
        &path,
        "[[rule]]\nname = \"r\"\nquery = \"SELECT 1\"\nreceivers = [\"pager\"]\n",
    )
    .unwrap();
    let args = ServeArgs {
        config: Some(path),
        ..ServeArgs::default()
    };
    let e = resolve(&args).err().unwrap();
    assert_eq!(e.key, "rule[0].receivers");
    assert!(e.problem.contains("\"pager\""), "{e}");
}

#[test]
fn retention_limits_are_read_per_table_and_a_bad_one_is_named() {
    let e = parse_err("[retention]\nspans = \"thirty days\"\n");
    assert_eq!(e.key, "retention.spans", "{e}");
    assert!(e.problem.contains("nor \"forever\""), "{e}");
    let file = parse(
        "[retention]\nspans = \"7d\"\ndrift = \"forever\"\n",
        "vigil.toml",
    )
    .unwrap();
    let args = ServeArgs::default();
    let settings = resolve_with(&args, file, &|_| None).unwrap();
    let retention = &settings.collector.retention;
    use collector::retention::Keep;
    use schemas::tables::Table;
    let day = std::time::Duration::from_secs(86_400);
    assert_eq!(retention.keep(Table::Spans), Keep::For(day * 7));
    assert_eq!(
        retention.keep(Table::Scores),
        Keep::For(day * 30),
        "a default"
    );
    assert_eq!(retention.keep(Table::Drift), Keep::Forever);
    let file = parse("[retention]\nmetrics = \"12h\"\n", "vigil.toml").unwrap();
    let e = resolve_with(&args, file, &|_| None).err().unwrap();
    assert_eq!(e.key, "retention.metrics", "{e}");
}

#[test]
fn a_cluster_node_gets_its_id_and_roles_and_monitors_wait_for_other_nodes_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.toml");
    std::fs::write(
        &path,
        "[storage]\nflush_interval = \"2s\"\n[cluster]\nroles = [\"query\", \"jobs\"]\ncommit_grace = \"3s\"\n\
         [[monitor]]\nname = \"acc\"\nsignal = \"score:accuracy\"\nwindow = \"1m\"\nlateness = \"10s\"\n\
         detector = \"shewhart\"\nbaseline = { mean = 0.9, sd = 0.01 }\n",
    )
    .unwrap();
    let args = ServeArgs {
        config: Some(path),
        node_id: Some("jobs-1".into()),
        ..ServeArgs::default()
    };
    let settings = resolve(&args).unwrap();
    assert_eq!(settings.cluster.node_id, "jobs-1");
    assert_eq!(settings.collector.node_id, "jobs-1");
    assert_eq!(settings.cluster.roles.names(), "query,jobs");
    assert!(settings.collector.maintenance);
    assert!(!settings.collector.direct, "the jobs node keeps a WAL");
    // lateness 10 s + flush interval 2 s + commit grace 3 s.
    assert_eq!(settings.monitors[0].lateness_ns, 15_000_000_000);
    let args = ServeArgs {
        roles: Some("ingest".into()),
        ..ServeArgs::default()
    };
    let settings = resolve(&args).unwrap();
    assert!(!settings.collector.maintenance);
    assert!(!settings.collector.direct, "an ingest node keeps its WAL");
    let args = ServeArgs {
        roles: Some("query".into()),
        ..ServeArgs::default()
    };
    let settings = resolve(&args).unwrap();
    assert!(
        settings.collector.direct,
        "a query-only node commits its audit rows directly, without a WAL"
    );
}
