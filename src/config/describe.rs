//! `vigil check-config`'s summary of resolved settings.

use super::Settings;

/// A human-readable summary of `settings`, printed by `vigil check-config`.
pub fn describe(settings: &Settings) -> String {
    let s = settings;
    format!(
        "data_dir = {}\notlp_grpc_addr = {}\notlp_http_addr = {}\nhttp_addr = {}\npg_addr = {} ({})\n\
         limits.max_body_bytes = {}\nstorage: tables at {}{}, hot budget {} MiB, flush every {:?}, compact every {:?}\n\
         query: timeout {:?}, memory pool {} MiB (a quarter for the jobs), {} at once, queue {:?}, answers up to {} bytes\ningest: confidence keys {:?}, {} escalation attribute rule(s), \
         escalation tool prefixes {:?}\nprices: {} row(s), {} override(s)\nmonitors: {}\n{}rules: {}\n{}{}{}",
        s.data_dir.display(),
        s.otlp_grpc_addr,
        s.otlp_http_addr,
        s.http_addr,
        s.pg_addr,
        match &s.pg_auth.password {
            Some(_) => format!("user {}, SCRAM-SHA-256 password", s.pg_auth.user),
            None => "no password".to_owned(),
        },
        s.limits.max_body_bytes,
        s.collector.tables,
        match s.collector.tables.options().len() {
            0 => String::new(),
            // The keys only: the values may be credentials.
            _ => format!(
                " (options: {})",
                s.collector.tables.options().keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        },
        s.collector.hot_budget_bytes >> 20,
        s.collector.flush_interval,
        s.collector.compact_interval,
        s.query.timeout,
        s.query.memory_limit_bytes >> 20,
        s.query.max_concurrent,
        s.query.queue_timeout,
        s.query.max_result_bytes,
        s.ingest.confidence_keys,
        s.ingest.escalation_attributes.len(),
        s.ingest.escalation_tool_prefixes,
        s.prices.rows().len(),
        s.prices.rows().iter().filter(|r| r.is_override).count(),
        s.monitors.len(),
        s.monitors
            .iter()
            .map(|m| format!(
                "  {}: {} every {}s{}, {} ({:?}), baseline {:?}, direction {:?}, receivers {:?}\n",
                m.name,
                m.signal,
                m.window_ns / 1_000_000_000,
                if m.group_by.is_empty() { String::new() } else { format!(" per {}", m.group_by.join(",")) },
                m.spec.name(),
                m.spec,
                m.baseline,
                m.direction,
                m.receivers,
            ))
            .collect::<String>(),
        s.rules.len(),
        s.rules
            .iter()
            .map(|r| format!(
                "  {}: every {:?}, for {:?}, keep_firing_for {:?}, severity {}, receivers {:?}: {}\n",
                r.name,
                r.every,
                r.for_,
                r.keep_firing_for,
                r.severity,
                r.receivers,
                r.query.split_whitespace().collect::<Vec<_>>().join(" "),
            ))
            .collect::<String>(),
        describe_alerting(s),
        describe_tls(&s.tls),
    )
}

/// `[tls]`: on or off, and mutual TLS on the OTLP listeners.
fn describe_tls(tls: &crate::tls::TlsConfig) -> String {
    let path = |p: &Option<std::path::PathBuf>| {
        p.as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    match (&tls.cert_file, &tls.client_ca_file) {
        (None, _) => "tls: off (plain TCP on every listener)\n".to_owned(),
        (Some(_), None) => format!(
            "tls: on, every listener (cert {}, key {}), reloaded when the files change; mTLS on ingest: off\n",
            path(&tls.cert_file),
            path(&tls.key_file),
        ),
        (Some(_), Some(_)) => format!(
            "tls: on, every listener (cert {}, key {}), reloaded when the files change; mTLS on ingest: on (OTLP clients need a certificate from {})\n",
            path(&tls.cert_file),
            path(&tls.key_file),
            path(&tls.client_ca_file),
        ),
    }
}

/// The `[alerting]` switches and one line per receiver.
fn describe_alerting(s: &Settings) -> String {
    use alerts::receiver::Target;
    let a = &s.alerting;
    let mut out = format!(
        "alerting: group_wait {:?}, group_interval {:?}, repeat_interval {:?}, rollback hooks {}, {}\nreceivers: {}\n",
        a.group_wait,
        a.group_interval,
        a.repeat_interval,
        if a.rollback_hooks { "on" } else { "off" },
        if a.dry_run {
            "DRY RUN (nothing is sent)"
        } else {
            "sending"
        },
        s.receivers.len(),
    );
    for r in &s.receivers {
        let target = match &r.target {
            Target::Webhook { url, .. } => format!(
                "webhook {}{}, signed",
                alerts::redact::redact_url(url),
                if r.rollback { " (rollback hook)" } else { "" }
            ),
            Target::Email { to, smtp } => format!(
                "email to {} via {}:{} ({:?})",
                to.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                smtp.host,
                smtp.port,
                smtp.tls,
            ),
        };
        out.push_str(&format!(
            "  {}: {target}, group_by {:?}, send_resolved {}\n",
            r.name(),
            r.route.group_by,
            r.route.send_resolved,
        ));
    }
    out
}

/// `[retention]` per table: its limit and, when the data directory could be read
/// (`plans`), what a run now would delete and when the oldest kept day goes. `status`
/// says why `plans` is missing (no data directory yet, or an unreadable table).
pub fn describe_retention(
    retention: &collector::retention::Retention,
    plans: Option<&[collector::retention::TablePlan]>,
    status: Option<&str>,
) -> String {
    use collector::retention::Keep;
    let mut out = format!(
        "retention: checked every {}; a day is deleted once its end (the next midnight, UTC) is the limit ago{}\n",
        humantime::format_duration(retention.interval),
        status.map(|s| format!(" ({s})")).unwrap_or_default(),
    );
    for table in schemas::tables::Table::ALL {
        let keep = retention.keep(table);
        let mut line = format!("  {}: {keep}", table.name());
        if let Some(plan) = plans.and_then(|p| p.iter().find(|p| p.table == table)) {
            if let (Some(first), Some(last)) = (plan.expired.first(), plan.expired.last()) {
                line.push_str(&format!(
                    "; deleted at the next run: {}..{} ({} day(s), {} file(s), {} bytes)",
                    first.date,
                    last.date,
                    plan.expired.len(),
                    plan.expired.iter().map(|p| p.files).sum::<u64>(),
                    plan.expired.iter().map(|p| p.bytes).sum::<u64>(),
                ));
            }
            match (&plan.next, keep) {
                (None, _) if plan.expired.is_empty() => line.push_str("; no stored data"),
                (None, _) => {}
                (Some((oldest, Some(at))), Keep::For(_)) => line.push_str(&format!(
                    "; next: {} ({} bytes) at {}",
                    oldest.date,
                    oldest.bytes,
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                )),
                (Some((oldest, _)), _) => {
                    line.push_str(&format!("; oldest day {}, never deleted", oldest.date))
                }
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}
