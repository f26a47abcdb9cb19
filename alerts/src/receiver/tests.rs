use std::time::Duration;

use serde::Deserialize;

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    #[serde(default)]
    alerting: AlertingConfig,
    #[serde(default)]
    receiver: Vec<ReceiverConfig>,
    smtp: Option<SmtpConfig>,
}

fn env(var: &str) -> Option<String> {
    match var {
        "HOOK_SECRET" => Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
        "SMTP_USER" => Some("vigil".into()),
        "SMTP_PASS" => Some("pw".into()),
        _ => None,
    }
}

fn validate(toml_text: &str) -> Result<Vec<Receiver>> {
    let doc: Doc = toml::from_str(toml_text).map_err(|e| Error::config("toml", e.to_string()))?;
    validate_receivers(&doc.alerting, &doc.receiver, doc.smtp.as_ref(), &env)
}

const GOOD: &str = r#"
[alerting]
group_wait = "10s"
repeat_interval = "1h"

[[receiver]]
name = "rollback-support"
kind = "webhook"
url = "https://deploy.example.com/hooks/rollback"
secret_env = "HOOK_SECRET"
rollback = true
group_wait = "0s"
group_by = ["..."]

[[receiver]]
name = "oncall"
kind = "email"
to = ["oncall@example.com", "Team <team@example.com>"]

[smtp]
host = "smtp.example.com"
from = "Vigil <vigil@example.com>"
tls = "tls"
username_env = "SMTP_USER"
password_env = "SMTP_PASS"
"#;

#[test]
fn a_good_config_validates_with_defaults_and_overrides() {
    let receivers = validate(GOOD).unwrap();
    assert_eq!(receivers.len(), 2);
    let hook = &receivers[0];
    assert_eq!(hook.name(), "rollback-support");
    assert!(hook.rollback);
    assert_eq!(hook.route.group_wait, Duration::ZERO);
    assert_eq!(hook.route.group_by, GroupBy::All);
    assert_eq!(hook.route.repeat_interval, Duration::from_secs(3600));
    assert!(
        hook.route.send_resolved,
        "webhooks send resolved by default"
    );
    let mail = &receivers[1];
    assert_eq!(mail.route.group_wait, Duration::from_secs(10));
    assert!(!mail.route.send_resolved, "email does not by default");
    match &mail.target {
        Target::Email { to, smtp } => {
            assert_eq!(to.len(), 2);
            assert_eq!((smtp.port, smtp.tls), (465, SmtpTls::Tls));
            let (user, pass) = smtp.credentials.clone().unwrap();
            assert_eq!((user.as_str(), pass.0.as_str()), ("vigil", "pw"));
            assert!(!format!("{smtp:?}").contains("pw\""), "password redacted");
        }
        Target::Webhook { .. } => panic!("expected email"),
    }
}

#[test]
fn errors_name_the_key() {
    let hook = |extra: &str| {
        format!(
            "[[receiver]]\nname = \"h\"\nkind = \"webhook\"\nurl = \"https://x.example/\"\nsecret_env = \"HOOK_SECRET\"\n{extra}"
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (hook("bogus = 1"), "unknown field `bogus`"),
        (hook("to = [\"a@b.c\"]"), "receiver.h.to"),
        (hook("group_interval = \"0s\""), "receiver.h.group_interval"),
        (hook("group_by = [\"a-b\"]"), "receiver.h.group_by"),
        (hook("timeout = \"0s\""), "receiver.h.timeout"),
        (
            "[[receiver]]\nname = \"h\"\nkind = \"webhook\"\nsecret_env = \"HOOK_SECRET\"".into(),
            "receiver.h.url",
        ),
        (
            "[[receiver]]\nname = \"h\"\nkind = \"webhook\"\nurl = \"ftp://x/\"\nsecret_env = \"HOOK_SECRET\"".into(),
            "receiver.h.url",
        ),
        (
            "[[receiver]]\nname = \"h\"\nkind = \"webhook\"\nurl = \"https://x.example/\"".into(),
            "receiver.h.secret_env",
        ),
        (
            "[[receiver]]\nname = \"h\"\nkind = \"webhook\"\nurl = \"https://x.example/\"\nsecret_env = \"UNSET\"".into(),
            "UNSET is not set",
        ),
        (
            "[[receiver]]\nname = \"h\"\nkind = \"pager\"".into(),
            "unknown variant `pager`",
        ),
        (format!("{}\n{}", hook(""), hook("")), "receiver[1].name"),
        (
            "[[receiver]]\nname = \"m\"\nkind = \"email\"\nto = [\"x@example.com\"]".into(),
            "smtp: required",
        ),
        (
            "[[receiver]]\nname = \"m\"\nkind = \"email\"\nto = []".into(),
            "receiver.m.to",
        ),
        (
            "[[receiver]]\nname = \"m\"\nkind = \"email\"\nto = [\"x@example.com\"]\nrollback = true".into(),
            "receiver.m.rollback",
        ),
        (
            "[[receiver]]\nname = \"m\"\nkind = \"email\"\nto = [\"not an address\"]\n[smtp]\nhost = \"h\"\nfrom = \"v@example.com\"".into(),
            "receiver.m.to",
        ),
        (
            "[[receiver]]\nname = \"m\"\nkind = \"email\"\nto = [\"x@example.com\"]\n[smtp]\nhost = \"h\"\nfrom = \"v@example.com\"\nusername_env = \"SMTP_USER\"".into(),
            "smtp.password_env",
        ),
        ("[alerting]\ngroup_interval = \"0s\"".into(), "alerting.group_interval"),
        ("[alerting]\nexternal_url = \"nope\"".into(), "alerting.external_url"),
        ("[alerting]\nconcurrency = 0".into(), "alerting.concurrency"),
    ];
    for (text, needle) in cases {
        let err = validate(&text).unwrap_err().to_string();
        assert!(
            err.contains(needle),
            "expected {needle:?} in {err:?}\n{text}"
        );
    }
}

#[test]
fn debug_output_shows_no_secret() {
    let text = GOOD.replace(
        "https://deploy.example.com/hooks/rollback",
        "https://deployer:hunter2@deploy.example.com/hooks/rollback?token=t0k3n",
    );
    let doc: Doc = toml::from_str(&text).unwrap();
    let receivers =
        validate_receivers(&doc.alerting, &doc.receiver, doc.smtp.as_ref(), &env).unwrap();
    let shown = format!("{receivers:?} {:?}", doc.receiver);
    assert!(
        shown.contains("https://***@deploy.example.com/hooks/rollback?token=***"),
        "{shown}"
    );
    for secret in ["deployer", "hunter2", "t0k3n", "MfKQ9r8", "\"pw\""] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}
