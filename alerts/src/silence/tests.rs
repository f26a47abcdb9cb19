use chrono::{DateTime, TimeZone, Utc};

use super::*;

fn t(min: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + min * 60, 0).unwrap()
}

fn m(name: &str, value: &str, is_regex: bool, is_equal: bool) -> Matcher {
    Matcher {
        name: name.into(),
        value: value.into(),
        is_regex,
        is_equal,
    }
}

fn spec(matchers: Vec<Matcher>) -> SilenceSpec {
    SilenceSpec {
        id: None,
        matchers,
        starts_at: t(0),
        ends_at: t(60),
        created_by: "sre@example.com".into(),
        comment: "deploy".into(),
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn matching_rules() {
    let alert = labels(&[
        ("alertname", "support-accuracy"),
        ("agent_name", "support-eu"),
        ("severity", "critical"),
    ]);
    let cases: Vec<(&str, Vec<Matcher>, bool)> = vec![
        (
            "equal",
            vec![m("alertname", "support-accuracy", false, true)],
            true,
        ),
        (
            "equal, other value",
            vec![m("alertname", "x", false, true)],
            false,
        ),
        (
            "not equal",
            vec![
                m("alertname", "support-accuracy", false, true),
                m("severity", "warning", false, false),
            ],
            true,
        ),
        (
            "regex is anchored",
            vec![m("agent_name", "support", true, true)],
            false,
        ),
        (
            "regex full match",
            vec![m("agent_name", "support-.*", true, true)],
            true,
        ),
        (
            "regex alternation anchored as a whole",
            vec![m("agent_name", "x|support-eu", true, true)],
            true,
        ),
        (
            "negative regex",
            vec![
                m("alertname", "support-accuracy", false, true),
                m("agent_name", "support-.*", true, false),
            ],
            false,
        ),
        (
            "all must match",
            vec![
                m("alertname", "support-accuracy", false, true),
                m("severity", "warning", false, true),
            ],
            false,
        ),
        (
            "missing label is empty: != matches",
            vec![
                m("alertname", "support-accuracy", false, true),
                m("region", "eu", false, false),
            ],
            true,
        ),
        (
            "missing label is empty: =~ '' matches",
            vec![
                m("alertname", "support-accuracy", false, true),
                m("region", "", true, true),
            ],
            true,
        ),
    ];
    for (name, matchers, expected) in cases {
        let mut s = Silences::default();
        s.put(spec(matchers), "id1".into(), "tok", t(1)).unwrap();
        assert_eq!(s.is_silenced(&alert, t(1)), expected, "{name}");
    }
}

#[test]
fn lifecycle_pending_active_expired() {
    let mut s = Silences::default();
    let mut body = spec(vec![m("alertname", "a", false, true)]);
    body.starts_at = t(10);
    let id = s.put(body, "id1".into(), "tok", t(0)).unwrap();
    let alert = labels(&[("alertname", "a")]);
    assert!(!s.is_silenced(&alert, t(5)), "pending does not mute");
    assert!(s.is_silenced(&alert, t(10)));
    assert_eq!(s.silenced_by(&alert, t(30)), vec![id.clone()]);
    assert!(!s.is_silenced(&alert, t(60)), "expired at endsAt");
    assert_eq!(s.get(&id).unwrap().state(t(60)), SilenceState::Expired);
    s.expire(&id, "tok", t(20)).unwrap();
    assert!(!s.is_silenced(&alert, t(20)));
    assert!(matches!(
        s.expire(&id, "tok", t(21)),
        Err(Error::UnknownSilence(_))
    ));
    s.prune(t(20));
    assert!(s.get(&id).is_some(), "kept while within retention");
    s.prune(t(21));
    assert!(s.get(&id).is_none());
}

#[test]
fn update_in_place_keeps_the_id() {
    let mut s = Silences::default();
    let id = s
        .put(
            spec(vec![m("alertname", "a", false, true)]),
            "id1".into(),
            "tok",
            t(0),
        )
        .unwrap();
    let mut body = spec(vec![m("alertname", "b", false, true)]);
    body.id = Some(id.clone());
    assert_eq!(
        s.put(body.clone(), "unused".into(), "tok", t(1)).unwrap(),
        id
    );
    assert_eq!(s.list().count(), 1);
    assert!(s.is_silenced(&labels(&[("alertname", "b")]), t(1)));
    body.id = Some("nope".into());
    assert!(matches!(
        s.put(body, "x".into(), "tok", t(1)),
        Err(Error::UnknownSilence(_))
    ));
}

#[test]
fn validation_names_the_field() {
    let cases: Vec<(&str, SilenceSpec, &str)> = vec![
        ("no matchers", spec(vec![]), "matchers"),
        (
            "bad name",
            spec(vec![m("a-b", "x", false, true)]),
            "matchers",
        ),
        (
            "bad regex",
            spec(vec![m("a", "(", true, true)]),
            "bad regex",
        ),
        (
            "matches everything",
            spec(vec![m("a", ".*", true, true)]),
            "empty string",
        ),
        (
            "end before start",
            SilenceSpec {
                ends_at: t(0),
                ..spec(vec![m("a", "x", false, true)])
            },
            "endsAt",
        ),
        (
            "end in the past",
            SilenceSpec {
                starts_at: t(-10),
                ends_at: t(-5),
                ..spec(vec![m("a", "x", false, true)])
            },
            "past",
        ),
        (
            "no creator",
            SilenceSpec {
                created_by: " ".into(),
                ..spec(vec![m("a", "x", false, true)])
            },
            "createdBy",
        ),
        (
            "no comment",
            SilenceSpec {
                comment: String::new(),
                ..spec(vec![m("a", "x", false, true)])
            },
            "comment",
        ),
    ];
    for (name, body, needle) in cases {
        let err = Silences::default()
            .put(body, "id".into(), "tok", t(1))
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{name}: {err}");
        assert_eq!(err.http_status(), 400, "{name}");
    }
}

#[test]
fn alertmanager_json_round_trips() {
    let body = r#"{
        "matchers": [{"name": "alertname", "value": "acc", "isRegex": false},
                     {"name": "agent_name", "value": "sup.*", "isRegex": true, "isEqual": false}],
        "startsAt": "2023-11-14T22:13:20Z",
        "endsAt": "2023-11-14T23:13:20Z",
        "createdBy": "me",
        "comment": "maintenance"
    }"#;
    let parsed: SilenceSpec = serde_json::from_str(body).unwrap();
    assert!(parsed.matchers[0].is_equal, "isEqual defaults to true");
    assert!(!parsed.matchers[1].is_equal);
    let mut s = Silences::default();
    s.put(parsed, "id1".into(), "tok", t(0)).unwrap();
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("\"isRegex\":true") && json.contains("\"updatedAt\""));
    let back: Silences = serde_json::from_str(&json).unwrap();
    assert!(back.is_silenced(
        &labels(&[("alertname", "acc"), ("agent_name", "billing")]),
        t(1)
    ));
    assert!(serde_json::from_str::<SilenceSpec>(r#"{"bogus": 1}"#).is_err());
}

fn invalid(result: Result<String>) -> String {
    match result {
        Err(e @ Error::InvalidSilence(_)) => {
            assert_eq!((e.http_status(), e.code()), (400, "invalid_silence"));
            e.to_string()
        }
        other => panic!("expected invalid_silence, got {other:?}"),
    }
}

#[test]
fn field_lengths_are_bounded_and_named() {
    let ok = || spec(vec![m("alertname", "a", false, true)]);
    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(SilenceSpec, &str)> = vec![
        (
            SilenceSpec {
                id: Some(long(65)),
                ..ok()
            },
            "id is 65 bytes; at most 64",
        ),
        (
            spec(vec![
                m("alertname", "a", false, true),
                m(&long(257), "a", false, true),
            ]),
            "matchers[1].name is 257 bytes; at most 256",
        ),
        (
            spec(vec![
                m("a", "x", false, true),
                m("b", "x", false, true),
                m("c", "x", false, true),
                m("d", &long(2000), false, true),
            ]),
            "matchers[3].value is 2000 bytes; at most 1024",
        ),
        (
            SilenceSpec {
                created_by: long(257),
                ..ok()
            },
            "createdBy is 257 bytes; at most 256",
        ),
        (
            SilenceSpec {
                comment: long(4097),
                ..ok()
            },
            "comment is 4097 bytes; at most 4096",
        ),
    ];
    for (body, expected) in cases {
        let message = invalid(Silences::default().put(body, "id".into(), "tok", t(1)));
        assert_eq!(message, format!("invalid silence: {expected}"));
    }
    // At the limits exactly: accepted (a regex value of 1024 bytes compiles too).
    let mut s = Silences::default();
    let at_limit = SilenceSpec {
        created_by: long(256),
        comment: long(4096),
        ..spec(vec![
            m(&long(256), &long(1024), false, true),
            m("r", &format!("a{}", ".?".repeat(511)), true, true),
        ])
    };
    s.put(at_limit, "id".into(), "tok", t(1)).unwrap();
    let mut update = ok();
    update.id = Some("id".into());
    update.id.as_mut().unwrap().push_str(&long(62));
    assert!(
        matches!(
            s.put(update, "x".into(), "tok", t(1)),
            Err(Error::UnknownSilence(_))
        ),
        "an id of 64 bytes passes the length check"
    );
}

#[test]
fn at_most_32_matchers() {
    let matchers = |n: usize| {
        (0..n)
            .map(|i| m(&format!("l{i}"), "x", false, true))
            .collect::<Vec<_>>()
    };
    Silences::default()
        .put(spec(matchers(32)), "id".into(), "tok", t(1))
        .unwrap();
    let message = invalid(Silences::default().put(spec(matchers(33)), "id".into(), "tok", t(1)));
    assert_eq!(message, "invalid silence: matchers: 33 given; at most 32");
}

#[test]
fn at_most_1000_live_silences_and_updates_do_not_count() {
    let mut s = Silences::default();
    let mut body = spec(vec![m("alertname", "a", false, true)]);
    for i in 0..MAX_LIVE_SILENCES {
        // Half pending, half active: both are live.
        body.starts_at = if i % 2 == 0 { t(0) } else { t(30) };
        s.put(body.clone(), format!("id{i}"), "tok", t(1)).unwrap();
    }
    assert_eq!(s.live(t(1)), 1000);
    let message = invalid(s.put(body.clone(), "one-more".into(), "tok", t(1)));
    assert_eq!(
        message,
        "invalid silence: 1000 silences are live; expire some before adding more"
    );
    // An update of a live silence is not a new one.
    let mut update = body.clone();
    update.id = Some("id7".into());
    update.comment = "longer".into();
    assert_eq!(s.put(update, "unused".into(), "tok", t(1)).unwrap(), "id7");
    // Expired ones do not count: expiring one makes room for one.
    s.expire("id0", "tok", t(2)).unwrap();
    s.put(body.clone(), "one-more".into(), "tok", t(2)).unwrap();
    assert!(s.put(body, "two-more".into(), "tok", t(2)).is_err());
}

#[test]
fn the_actor_of_the_last_change_is_recorded() {
    let mut s = Silences::default();
    let id = s
        .put(
            spec(vec![m("alertname", "a", false, true)]),
            "id1".into(),
            "ci-token",
            t(1),
        )
        .unwrap();
    assert_eq!(s.get(&id).unwrap().actor, "ci-token");
    assert_eq!(s.get(&id).unwrap().created_by, "sre@example.com");
    s.expire(&id, "oncall", t(2)).unwrap();
    assert_eq!(s.get(&id).unwrap().actor, "oncall");
    let json = serde_json::to_value(s.get(&id).unwrap()).unwrap();
    assert_eq!(json["actor"], "oncall");
    assert_eq!(json["createdBy"], "sre@example.com");
    // A client cannot claim an actor in the body.
    assert!(
        serde_json::from_str::<SilenceSpec>(
            r#"{"matchers": [], "startsAt": "2023-11-14T22:13:20Z", "endsAt": "2023-11-14T23:13:20Z", "createdBy": "me", "comment": "c", "actor": "admin"}"#
        )
        .is_err()
    );
}

#[test]
fn silences_stored_before_actors_read_as_anonymous() {
    // As stored by the previous version: no `actor`.
    let old = r#"[{"id": "old1", "matchers": [{"name": "alertname", "value": "acc", "isRegex": false, "isEqual": true}],
        "startsAt": "2023-11-14T22:13:20Z", "endsAt": "2023-11-14T23:13:20Z",
        "createdBy": "me", "comment": "maintenance", "updatedAt": "2023-11-14T22:13:20Z"}]"#;
    let s: Silences = serde_json::from_str(old).unwrap();
    assert_eq!(s.get("old1").unwrap().actor, "anonymous");
    assert!(s.is_silenced(&labels(&[("alertname", "acc")]), t(1)));
}
