//! `[auth]` and `[[auth.token]]`: named tokens with scopes, their secrets from the
//! environment (never from the file).

use std::collections::HashSet;
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use schemas::config::ConfigError;

/// Shortest secret accepted: 16 bytes, so that a token cannot be guessed online
/// (`openssl rand -hex 32` makes a good one).
pub const MIN_SECRET_LEN: usize = 16;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// OTLP (HTTP and gRPC) and `POST /api/v1/scores`.
    Ingest,
    /// SQL over HTTP and PostgreSQL, every GET API, reports, `/metrics`.
    Read,
    /// Silences, the rollback switch, anything that changes state; implies `read`.
    Admin,
}

impl Scope {
    /// The name used in config, logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `[[auth.token]]`: with none, nothing asks for credentials (loopback only, unless
    /// `--insecure-no-auth`).
    #[serde(rename = "token")]
    pub tokens: Vec<TokenConfig>,
    /// Serve `/metrics` without a token (for a Prometheus that scrapes without one).
    pub public_metrics: bool,
    /// Host names (without port) the HTTP listeners answer besides `localhost`, loopback
    /// addresses and the bound addresses: the names clients and browsers use to reach
    /// Vigil. Anything else is answered 421 (DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// Origins (`https://grafana.example.com`) allowed to send requests besides Vigil's
    /// own; a request whose `Origin` is neither is answered 403.
    pub allowed_origins: Vec<String>,
}

/// One `[[auth.token]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The actor name in logs and the `audit` table; the PostgreSQL user name.
    pub name: String,
    /// `ingest`, `read`, `admin` (admin implies read).
    pub scopes: Vec<Scope>,
    /// The environment variable holding the secret.
    pub secret_env: String,
}

/// A resolved token: its name, scopes and the SHA-256 of its secret.
pub struct Token {
    name: Arc<str>,
    scopes: Vec<Scope>,
    secret: String,
    digest: [u8; 32],
}

impl Token {
    /// Builds a token; `scopes` as configured (admin implies read).
    pub fn new(name: &str, scopes: &[Scope], secret: &str) -> Self {
        Self {
            name: name.into(),
            scopes: scopes.to_vec(),
            secret: secret.to_owned(),
            digest: Sha256::digest(secret.as_bytes()).into(),
        }
    }

    /// The token's name (the actor).
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The secret, for the PostgreSQL SCRAM verifier (derived once at start).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The scopes as configured.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// Whether the token grants `scope` (`admin` grants `read` too).
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
            || (scope == Scope::Read && self.scopes.contains(&Scope::Admin))
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Every configured token, and the `[auth]` switches. Empty means authentication is off.
#[derive(Debug, Default)]
pub struct Tokens {
    tokens: Vec<Token>,
    /// `[auth] public_metrics`.
    pub public_metrics: bool,
}

/// Looks an environment variable up (injected, so tests need no process environment).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Tokens {
    /// Resolves `[auth]`: each token's secret from its `secret_env`.
    ///
    /// # Errors
    /// Naming the key: `auth.token[1].secret_env` when the variable is unset, empty or
    /// shorter than [`MIN_SECRET_LEN`]; `auth.token[0].name` when empty or repeated;
    /// `auth.token[0].scopes` when empty; two tokens with one secret.
    pub fn resolve(config: &AuthConfig, env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        let mut names = HashSet::new();
        let mut tokens: Vec<Token> = Vec::with_capacity(config.tokens.len());
        for (i, t) in config.tokens.iter().enumerate() {
            let key = |field: &str| format!("auth.token[{i}].{field}");
            if t.name.is_empty() || t.name.len() > 63 {
                return Err(ConfigError::new(key("name"), "must be 1 to 63 characters"));
            }
            if t.name == "anonymous" {
                return Err(ConfigError::new(
                    key("name"),
                    "\"anonymous\" is the actor of requests without a token",
                ));
            }
            if !names.insert(t.name.as_str()) {
                return Err(ConfigError::new(
                    key("name"),
                    format!("{:?} is the name of an earlier token", t.name),
                ));
            }
            if t.scopes.is_empty() {
                return Err(ConfigError::new(
                    key("scopes"),
                    "is empty; give one or more of \"ingest\", \"read\", \"admin\"",
                ));
            }
            if t.secret_env.is_empty() {
                return Err(ConfigError::new(key("secret_env"), "is empty"));
            }
            let secret = match env(&t.secret_env) {
                Some(s) if !s.is_empty() => s,
                _ => {
                    return Err(ConfigError::new(
                        key("secret_env"),
                        format!(
                            "the environment variable {} is not set; export it with the token's secret (e.g. `export {}=$(openssl rand -hex 32)`)",
                            t.secret_env, t.secret_env
                        ),
                    ));
                }
            };
            if secret.len() < MIN_SECRET_LEN {
                return Err(ConfigError::new(
                    key("secret_env"),
                    format!(
                        "the secret in {} is {} bytes; at least {MIN_SECRET_LEN} are required",
                        t.secret_env,
                        secret.len()
                    ),
                ));
            }
            let token = Token::new(&t.name, &t.scopes, &secret);
            if let Some(earlier) = tokens.iter().find(|o| o.digest == token.digest) {
                return Err(ConfigError::new(
                    key("secret_env"),
                    format!(
                        "holds the same secret as token {:?}; each token needs its own",
                        earlier.name
                    ),
                ));
            }
            tokens.push(token);
        }
        Ok(Self {
            tokens,
            public_metrics: config.public_metrics,
        })
    }

    /// Adds a token (the legacy `[pg] password_env`, as a read token).
    ///
    /// # Errors
    /// A token of that name exists already: it would be one PostgreSQL user with two
    /// passwords.
    pub fn push(&mut self, token: Token) -> Result<(), String> {
        if self.tokens.iter().any(|t| t.name == token.name) {
            return Err(format!(
                "{:?} is also the name of an [[auth.token]]; give [pg] user another name",
                &*token.name
            ));
        }
        self.tokens.push(token);
        Ok(())
    }

    /// Whether any token is configured: then every guarded request needs one.
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Every token.
    pub fn iter(&self) -> impl Iterator<Item = &Token> {
        self.tokens.iter()
    }

    /// The token whose secret is `secret`. Compares the SHA-256 of `secret` with every
    /// token's in constant time and without stopping at a match, so the answer's timing
    /// tells nothing about how much of a secret was right, nor which token matched.
    pub fn authenticate(&self, secret: &[u8]) -> Option<&Token> {
        let digest: [u8; 32] = Sha256::digest(secret).into();
        let mut found = None;
        for token in &self.tokens {
            if bool::from(token.digest.ct_eq(&digest)) {
                found = Some(token);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> AuthConfig {
        toml::from_str(text).unwrap()
    }

    fn env(var: &str) -> Option<String> {
        match var {
            "A" => Some("a-secret-of-enough-length".into()),
            "B" => Some("b-secret-of-enough-length".into()),
            "SHORT" => Some("short".into()),
            _ => None,
        }
    }

    #[test]
    fn resolves_tokens_and_checks_scopes() {
        let tokens = Tokens::resolve(
            &config(
                r#"
                [[token]]
                name = "agents"
                scopes = ["ingest"]
                secret_env = "A"
                [[token]]
                name = "oncall"
                scopes = ["admin"]
                secret_env = "B"
                "#,
            ),
            &env,
        )
        .unwrap();
        assert!(tokens.enabled());
        let agents = tokens.authenticate(b"a-secret-of-enough-length").unwrap();
        assert_eq!(&**agents.name(), "agents");
        assert!(agents.allows(Scope::Ingest));
        assert!(!agents.allows(Scope::Read));
        let oncall = tokens.authenticate(b"b-secret-of-enough-length").unwrap();
        assert!(oncall.allows(Scope::Admin) && oncall.allows(Scope::Read));
        assert!(!oncall.allows(Scope::Ingest));
        assert!(tokens.authenticate(b"a-secret-of-enough-lengtH").is_none());
        assert!(tokens.authenticate(b"").is_none());
        let mut tokens = tokens;
        assert!(
            tokens
                .push(Token::new(
                    "oncall",
                    &[Scope::Read],
                    "pg-password-0123456789"
                ))
                .is_err()
        );
        assert!(
            tokens
                .push(Token::new(
                    "vigil",
                    &[Scope::Read],
                    "pg-password-0123456789"
                ))
                .is_ok()
        );
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                "[[token]]\nname = \"x\"\nscopes = [\"read\"]\nsecret_env = \"UNSET\"",
                "auth.token[0].secret_env",
                "UNSET is not set",
            ),
            (
                "[[token]]\nname = \"x\"\nscopes = [\"read\"]\nsecret_env = \"SHORT\"",
                "auth.token[0].secret_env",
                "at least 16",
            ),
            (
                "[[token]]\nname = \"x\"\nscopes = []\nsecret_env = \"A\"",
                "auth.token[0].scopes",
                "is empty",
            ),
            (
                "[[token]]\nname = \"x\"\nscopes = [\"read\"]\nsecret_env = \"A\"\n[[token]]\nname = \"x\"\nscopes = [\"read\"]\nsecret_env = \"B\"",
                "auth.token[1].name",
                "earlier token",
            ),
            (
                "[[token]]\nname = \"x\"\nscopes = [\"read\"]\nsecret_env = \"A\"\n[[token]]\nname = \"y\"\nscopes = [\"read\"]\nsecret_env = \"A\"",
                "auth.token[1].secret_env",
                "same secret",
            ),
        ];
        for (text, key, problem) in cases {
            let e = Tokens::resolve(&config(text), &env).unwrap_err();
            assert_eq!(e.key, key, "{text}");
            assert!(e.to_string().contains(problem), "{e}");
        }
        assert!(
            toml::from_str::<AuthConfig>(
                "[[token]]\nname = \"x\"\nscopes = [\"write\"]\nsecret_env = \"A\""
            )
            .is_err()
        );
    }
}
