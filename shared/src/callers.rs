//! Machine callers bound to tenants.
//!
//! API Gateway's `AWS_IAM` authorizer proves who signed a request, not which tenants that principal may act for.
//! The deployment says so in `MACHINE_CALLERS` (the template's `MachineCallers` parameter), a JSON object from an
//! IAM principal ARN to the tenant ids it may act for, or `"*"` for every tenant:
//!
//! ```json
//! {"arn:aws:iam::111122223333:role/ai-platform": "*",
//!  "arn:aws:iam::111122223333:role/widget-backend-acme": ["1001"]}
//! ```
//!
//! Roles are matched by account and name: a request signed with a role session
//! (`arn:aws:sts::111122223333:assumed-role/ai-platform/session`) is that role's, whatever its path. A principal
//! the map does not name acts for no tenant, so an empty map (the default) refuses every tenant route: a deployment
//! states its callers, or nothing acts. Deployment-wide routes (`/operator/*`) take no tenant and are guarded by IAM
//! policy alone.

use std::collections::{BTreeSet, HashMap};

use http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::api_error::ApiError;
use crate::config::{ConfigError, EnvSource};

pub const MACHINE_CALLERS_ENV: &str = "MACHINE_CALLERS";

/// The tenants one principal may act for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tenants {
    All,
    Only(BTreeSet<String>),
}

/// Which principal may act for which tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineCallers {
    bound: HashMap<String, Tenants>,
}

impl MachineCallers {
    /// The map as the parameter writes it; empty text is the empty map. Every entry is checked, and the error names
    /// the first bad one.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Ok(Self::default());
        }
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| format!("is not JSON ({e}); expected {{\"<principal ARN>\": \"*\" | [\"<tenantId>\", …]}}"))?;
        let object = value
            .as_object()
            .ok_or("must be a JSON object from principal ARN to \"*\" or a list of tenant ids")?;
        let mut bound = HashMap::new();
        for (arn, tenants) in object {
            let principal =
                principal_key(arn).ok_or_else(|| format!("{arn:?} is not an IAM user, role or role-session ARN"))?;
            let tenants = match tenants {
                serde_json::Value::String(s) if s == "*" => Tenants::All,
                serde_json::Value::Array(ids) => Tenants::Only(
                    ids.iter()
                        .map(|id| match id.as_str() {
                            Some(t) if crate::tenants::is_tenant_id(t) => Ok(t.to_owned()),
                            _ => Err(format!(
                                "{arn}: {id} is not a tenant id (a positive integer, as a string)"
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                other => return Err(format!("{arn}: {other} is neither \"*\" nor a list of tenant ids")),
            };
            bound.insert(principal, tenants);
        }
        Ok(Self { bound })
    }

    pub fn from_env(env: &impl EnvSource) -> Result<Self, ConfigError> {
        Self::parse(&env.var(MACHINE_CALLERS_ENV).unwrap_or_default()).map_err(|reason| ConfigError::Invalid {
            key: MACHINE_CALLERS_ENV.into(),
            reason,
        })
    }

    /// Whether `principal` (as [`principal`] read it from the request) may act for `tenant_id`; a 403 naming the
    /// principal otherwise. The answer says nothing about whether the tenant exists.
    pub fn check(&self, principal: Option<&str>, tenant_id: &str) -> Result<(), ApiError> {
        let Some(principal) = principal else {
            return Err(forbidden(
                "no IAM principal on this request: tenant routes are called with SigV4 (AWS_IAM)",
            ));
        };
        let key = principal_key(principal);
        match key.as_deref().and_then(|k| self.bound.get(k)) {
            Some(Tenants::All) => Ok(()),
            Some(Tenants::Only(ids)) if ids.contains(tenant_id) => Ok(()),
            _ => Err(forbidden(format!(
                "{principal} may not act for tenant {tenant_id}: the deployment's MachineCallers parameter binds each \
                 caller to its tenants"
            ))),
        }
    }
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "caller_not_bound", message)
}

/// The IAM principal that signed the request, as API Gateway's `AWS_IAM` authorizer put it in the request context.
pub fn principal(req: &Request) -> Option<&str> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.authorizer.as_ref()?.iam.as_ref()?.user_arn.as_deref(),
        _ => None,
    }
}

/// What a principal ARN is matched by: `arn:aws:iam::<account>:user/<name>` or `…:role/<name>` (without a path), a
/// role session counting as its role. `None` for anything else.
fn principal_key(arn: &str) -> Option<String> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    if partition.is_empty() || account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (kind, name) = match (service, resource.split('/').collect::<Vec<_>>().as_slice()) {
        ("iam", ["user", .., name]) => ("user", *name),
        ("iam", ["role", .., name]) => ("role", *name),
        ("sts", ["assumed-role", role, _session]) => ("role", *role),
        _ => return None,
    };
    (!name.is_empty()).then(|| format!("arn:{partition}:iam::{account}:{kind}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLATFORM: &str = "arn:aws:iam::111122223333:role/ai-platform";
    const WIDGET: &str = "arn:aws:iam::111122223333:role/integrations/widget-acme";

    fn callers() -> MachineCallers {
        MachineCallers::parse(&format!(r#"{{"{PLATFORM}": "*", "{WIDGET}": ["1001", "1002"]}}"#)).unwrap()
    }

    #[test]
    fn a_bound_caller_acts_for_its_tenants_only() {
        let c = callers();
        assert!(c.check(Some(PLATFORM), "99999").is_ok());
        let widget = "arn:aws:iam::111122223333:role/integrations/widget-acme";
        assert!(c.check(Some(widget), "1001").is_ok());
        let e = c.check(Some(widget), "2002").unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(
            e.message.contains(widget) && e.message.contains("2002"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_role_session_is_its_role_and_the_path_does_not_matter() {
        let c = callers();
        assert!(
            c.check(Some("arn:aws:sts::111122223333:assumed-role/ai-platform/run-42"), "1")
                .is_ok()
        );
        assert!(
            c.check(Some("arn:aws:sts::111122223333:assumed-role/widget-acme/x"), "1002")
                .is_ok()
        );
        // Same name, another account or kind: not the same principal.
        assert!(
            c.check(Some("arn:aws:sts::444455556666:assumed-role/ai-platform/x"), "1")
                .is_err()
        );
        assert!(
            c.check(Some("arn:aws:iam::111122223333:user/ai-platform"), "1")
                .is_err()
        );
    }

    #[test]
    fn unknown_missing_and_malformed_principals_are_refused() {
        let c = callers();
        assert!(c.check(None, "1001").is_err());
        assert!(
            c.check(Some("arn:aws:iam::111122223333:role/someone-else"), "1001")
                .is_err()
        );
        assert!(c.check(Some("not an arn"), "1001").is_err());
        assert!(
            MachineCallers::default().check(Some(PLATFORM), "1001").is_err(),
            "empty map: nothing acts"
        );
    }

    #[test]
    fn the_parameter_is_checked_entry_by_entry() {
        assert_eq!(MachineCallers::parse("  ").unwrap(), MachineCallers::default());
        assert_eq!(MachineCallers::parse("{}").unwrap(), MachineCallers::default());
        for (raw, says) in [
            ("[1]", "JSON object"),
            ("{nope", "is not JSON"),
            (r#"{"ai-platform": "*"}"#, "ai-platform"),
            (r#"{"arn:aws:iam::111122223333:role/a": "all"}"#, "neither"),
            (r#"{"arn:aws:iam::111122223333:role/a": [1001]}"#, "1001"),
            (r#"{"arn:aws:iam::111122223333:role/a": ["01"]}"#, "\"01\""),
            (r#"{"arn:aws:iam::1:role/a": "*"}"#, "arn:aws:iam::1:role/a"),
            (r#"{"arn:aws:s3:::bucket": "*"}"#, "bucket"),
        ] {
            let e = MachineCallers::parse(raw).unwrap_err();
            assert!(e.contains(says), "{raw}: {e}");
        }
    }
}
