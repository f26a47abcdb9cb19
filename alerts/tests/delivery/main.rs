//! Integration tests of the alerting crate with its real parts: the redb outbox, a real
//! HTTP receiver (axum on 127.0.0.1:0), a real SMTP server (Python's aiosmtpd), and the
//! recording fake where the far end does not matter.

mod common;
mod dispatcher;
mod email;
mod rollback_switch;
mod webhook;
