//! Receiver configuration: errors name the key, `check-config` prints the receivers.

use std::process::Command;

use super::{SECRET, monitor, webhook};
use crate::daemon::binary;

#[test]
fn receiver_config_errors_name_the_key_and_check_config_prints_receivers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.toml");
    let check = |body: &str| {
        std::fs::write(&path, body).unwrap();
        let output = Command::new(binary())
            .arg("check-config")
            .arg(&path)
            .env("HOOK_SECRET", SECRET)
            .env_remove("UNSET_SECRET")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let ok = webhook(
        "hook",
        "https://deploy.example.com/rollback",
        "rollback = true",
    );
    for (body, needle) in [
        (
            format!("{ok}{}", webhook("second", "ftp://example.com", "")),
            "receiver[1].url: must be an http:// or https:// URL",
        ),
        (
            ok.replace("HOOK_SECRET", "UNSET_SECRET"),
            "receiver[0].secret_env: environment variable UNSET_SECRET is not set",
        ),
        (
            format!("{ok}{}", monitor("m", &["hook", "pager"])),
            "monitor[0].receivers: no [[receiver]] is named \"pager\"",
        ),
        (
            format!(
                "{ok}\n[[receiver]]\nname = \"mail\"\nkind = \"email\"\nto = [\"a@example.com\"]\n"
            ),
            "smtp: required by email receivers",
        ),
        (
            format!("{ok}\n[[receiver]]\nname = \"x\"\nkind = \"pager\"\n"),
            "receiver[1].kind",
        ),
        (
            "[alerting]\ngroup_interval = \"0s\"\n".to_owned(),
            "alerting.group_interval: must be greater than 0",
        ),
    ] {
        let (code, stderr, _) = check(&body);
        assert_eq!(code, Some(2), "{body}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{body}: {stderr:?} should contain {needle:?}"
        );
    }
    let (code, stderr, stdout) = check(&format!(
        "{ok}{}\n[[receiver]]\nname = \"oncall\"\nkind = \"email\"\nto = [\"oncall@example.com\"]\n\
         [smtp]\nhost = \"smtp.example.com\"\nfrom = \"vigil@example.com\"\n",
        monitor("m", &["hook", "oncall"])
    ));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("receivers: 2"), "{stdout}");
    assert!(
        stdout
            .contains("hook: webhook https://deploy.example.com/rollback (rollback hook), signed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("oncall: email to oncall@example.com via smtp.example.com:587"),
        "{stdout}"
    );
}
