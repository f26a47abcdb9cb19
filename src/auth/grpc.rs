//! The OTLP/gRPC services' interceptor: `authorization: Bearer <secret>` metadata (what
//! `OTEL_EXPORTER_OTLP_HEADERS` and the Collector's `bearertokenauth` send) with the
//! `ingest` scope; `UNAUTHENTICATED` or `PERMISSION_DENIED` otherwise.

use std::sync::Arc;

use tonic::{Request, Status};

use super::http::{Denied, Guard, Principal};
use super::tokens::Scope;

/// A tonic interceptor requiring `scope`.
#[derive(Clone)]
pub struct Interceptor {
    guard: Arc<Guard>,
    scope: Scope,
}

impl Interceptor {
    /// Requires `scope` of every call.
    pub fn new(guard: Arc<Guard>, scope: Scope) -> Self {
        Self { guard, scope }
    }
}

impl tonic::service::Interceptor for Interceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let peer = request.remote_addr();
        let authorization = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes());
        match self.guard.authorize(authorization, self.scope, peer) {
            Ok(actor) => {
                request.extensions_mut().insert(Principal { actor, peer });
                Ok(request)
            }
            Err(denied @ Denied::Unauthenticated(_)) => {
                Err(Status::unauthenticated(denied.to_string()))
            }
            Err(denied @ Denied::Forbidden { .. }) => {
                Err(Status::permission_denied(denied.to_string()))
            }
        }
    }
}
