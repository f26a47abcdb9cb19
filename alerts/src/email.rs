//! The email shell: the notification rendered as plain text and HTML, sent over SMTP.
//!
//! The subject names the status, the monitor and the series (SPEC §6); both bodies list
//! every alert with its figures and dashboard link. The message id is derived from the
//! notification id, so a retried email is recognisably the same message. SMTP 4xx
//! replies and connection failures are retried; 5xx replies fail for good (RFC 5321
//! §4.2.1).

use std::fmt::Write as _;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::error::{Error, Result};
use crate::notification::{DeliveryOutcome, Notification};
use crate::notifier::Notifier;
use crate::payload::{Status, VigilAlert, WebhookPayload, num};
use crate::receiver::{SmtpSettings, SmtpTls};

/// Sends notifications as email to fixed recipients.
#[derive(Clone)]
pub struct EmailNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl std::fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl EmailNotifier {
    /// A notifier through `smtp` to `to`. Connects lazily, on the first send.
    ///
    /// # Errors
    /// [`Error::Config`] if TLS parameters cannot be built for the host.
    pub fn new(smtp: &SmtpSettings, to: Vec<Mailbox>) -> Result<Self> {
        let tls = match smtp.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls | SmtpTls::Tls => {
                let params = TlsParameters::new(smtp.host.clone())
                    .map_err(|e| Error::config("smtp.host", e.to_string()))?;
                if smtp.tls == SmtpTls::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
                .port(smtp.port)
                .tls(tls)
                .timeout(Some(smtp.timeout));
        if let Some((user, password)) = &smtp.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.0.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from: smtp.from.clone(),
            to,
        })
    }
}

#[async_trait]
impl Notifier for EmailNotifier {
    async fn deliver(&self, n: &Notification, _now: DateTime<Utc>) -> DeliveryOutcome {
        let payload: WebhookPayload = match serde_json::from_str(&n.body) {
            Ok(p) => p,
            Err(e) => {
                return DeliveryOutcome::Failed {
                    code: None,
                    error: format!("stored body does not decode: {e}"),
                };
            }
        };
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject(&payload))
            .message_id(Some(format!("<{}@vigil>", n.id)));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let message = match builder.multipart(MultiPart::alternative_plain_html(
            text_body(&payload),
            html_body(&payload),
        )) {
            Ok(m) => m,
            Err(e) => {
                return DeliveryOutcome::Failed {
                    code: None,
                    error: format!("message: {e}"),
                };
            }
        };
        match self.transport.send(message).await {
            Ok(response) => DeliveryOutcome::Delivered {
                code: response.code().to_string().parse().ok(),
            },
            Err(e) => {
                let code = e.status().and_then(|c| c.to_string().parse().ok());
                if e.is_permanent() {
                    DeliveryOutcome::Failed {
                        code,
                        error: e.to_string(),
                    }
                } else {
                    DeliveryOutcome::Retry {
                        code,
                        error: e.to_string(),
                        retry_after: None,
                    }
                }
            }
        }
    }
}

/// `[FIRING:2] support-accuracy: support, billing` — status, count when several, the
/// monitor(s) and the series.
pub fn subject(p: &WebhookPayload) -> String {
    let status = match p.status {
        Status::Firing => "FIRING",
        Status::Resolved => "RESOLVED",
    };
    let count = p.alerts.len() + p.truncated_alerts;
    let mut monitors: Vec<&str> = p.vigil.alerts.iter().map(|a| a.monitor.as_str()).collect();
    monitors.dedup();
    let series: Vec<&str> = p.vigil.alerts.iter().map(|a| a.series.as_str()).collect();
    let tag = if count > 1 {
        format!("[{status}:{count}]")
    } else {
        format!("[{status}]")
    };
    format!("{tag} {}: {}", monitors.join(", "), series.join(", "))
}

fn figures_lines(a: &VigilAlert) -> Vec<(String, String)> {
    let mut rows = vec![("status".to_owned(), a.status.name().to_owned())];
    if let Some(d) = &a.detector {
        rows.push(("detector".to_owned(), d.clone()));
    }
    if let Some(w) = &a.window {
        rows.push((
            "window".to_owned(),
            format!("{} – {}", w.start.to_rfc3339(), w.end.to_rfc3339()),
        ));
    }
    if let Some(f) = &a.figures {
        let opt = |x: Option<f64>| x.map_or_else(|| "–".to_owned(), num);
        rows.push(("value".to_owned(), opt(f.value)));
        rows.push(("statistic".to_owned(), opt(f.statistic)));
        rows.push((
            "limits".to_owned(),
            format!("{} … {}", opt(f.lower), opt(f.upper)),
        ));
        rows.push((
            "baseline".to_owned(),
            format!("mean {}, sd {}", opt(f.baseline_mean), opt(f.baseline_sd)),
        ));
        rows.push(("observations".to_owned(), f.n.to_string()));
    }
    rows.push(("dashboard".to_owned(), a.dashboard_url.clone()));
    rows
}

/// The plain-text body.
pub fn text_body(p: &WebhookPayload) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Vigil alert {} for receiver {}.",
        p.status.name(),
        p.receiver
    );
    for a in &p.vigil.alerts {
        let _ = writeln!(out, "\nMonitor {} — series {}", a.monitor, a.series);
        for (k, v) in figures_lines(a) {
            let _ = writeln!(out, "  {k}: {v}");
        }
    }
    if p.truncated_alerts > 0 {
        let _ = writeln!(out, "\n…and {} more alerts.", p.truncated_alerts);
    }
    let _ = writeln!(out, "\nNotification {}", p.vigil.notification_id);
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTML body.
pub fn html_body(p: &WebhookPayload) -> String {
    let mut out = String::from("<!DOCTYPE html><html><body>");
    let _ = write!(
        out,
        "<p>Vigil alert <b>{}</b> for receiver {}.</p>",
        p.status.name(),
        escape(&p.receiver)
    );
    for a in &p.vigil.alerts {
        let _ = write!(
            out,
            "<h3>Monitor {} — series {}</h3><table>",
            escape(&a.monitor),
            escape(&a.series)
        );
        for (k, v) in figures_lines(a) {
            let cell = if k == "dashboard" {
                format!("<a href=\"{0}\">{0}</a>", escape(&v))
            } else {
                escape(&v)
            };
            let _ = write!(out, "<tr><th align=\"left\">{k}</th><td>{cell}</td></tr>");
        }
        out.push_str("</table>");
    }
    if p.truncated_alerts > 0 {
        let _ = write!(out, "<p>…and {} more alerts.</p>", p.truncated_alerts);
    }
    let _ = write!(
        out,
        "<p><small>Notification {}</small></p></body></html>",
        escape(&p.vigil.notification_id)
    );
    out
}
