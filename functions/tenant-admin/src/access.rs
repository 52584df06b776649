//! Who is calling, and what they may do.
//!
//! - IAM principals call `/admin/tenants/{tenantId}/*` and `/operator/*`, which the template guards with `AWS_IAM`.
//!   On `/admin` the principal must be bound to the path's tenant (`MachineCallers`, [`shared::callers`]);
//!   `/operator` (the deployment's signing keys, every tenant's dead letters) takes no tenant, and only the
//!   operators' policy reaches it.
//! - Contractors call `/dashboard/tenants/{tenantId}/*` with a token of the host platform's identity provider,
//!   which API Gateway's JWT authorizer verifies (signature, issuer, audience, expiry) before the function runs. The
//!   function then binds the caller to the tenant its token names: the tenant claim (`DASHBOARD_TENANT_CLAIM`,
//!   `tenant_id` by default) must equal the path's tenant, and the role claim (`DASHBOARD_ROLE_CLAIM`, `role`)
//!   decides what it may do: an `owner` everything the dashboard offers, a `viewer` only reads.
//!
//! The webhook signing keys are the deployment's, not a tenant's: they have no dashboard route at all.

use std::collections::HashMap;

use http::{Method, StatusCode};
use shared::api_error::ApiError;
use shared::callers::MachineCallers;

/// A contractor's role on its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Viewer,
}

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An IAM principal (`None` when the request carries none), on `/admin` or `/operator`.
    Principal(Option<String>),
    /// A contractor signed in for one tenant.
    Contractor { tenant_id: String, role: Role },
}

/// The claim names a deployment's identity provider uses.
#[derive(Debug, Clone)]
pub struct Claims {
    pub tenant: String,
    pub role: String,
}

impl Default for Claims {
    fn default() -> Self {
        Self {
            tenant: "tenant_id".into(),
            role: "role".into(),
        }
    }
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

impl Claims {
    /// The contractor a JWT authorizer's claims describe. `None` claims (no authorizer ran) are refused: the
    /// dashboard routes are never reached without one in a deployment, and never trusted without one here.
    pub fn contractor(&self, claims: Option<&HashMap<String, String>>) -> Result<Caller, ApiError> {
        let claims = claims.ok_or_else(|| forbidden("the dashboard takes a signed-in contractor's token"))?;
        let tenant_id = claims
            .get(&self.tenant)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| forbidden(format!("the token names no tenant (claim {})", self.tenant)))?;
        let role = match claims.get(&self.role).map(|r| r.trim().to_ascii_lowercase()).as_deref() {
            Some("owner") => Role::Owner,
            Some("viewer") => Role::Viewer,
            _ => {
                return Err(forbidden(format!(
                    "the token's {} claim is neither owner nor viewer",
                    self.role
                )));
            }
        };
        Ok(Caller::Contractor { tenant_id, role })
    }
}

impl Caller {
    /// Whether the caller may make this request on `tenant_id` (the path's): a principal on a tenant it is bound
    /// to, or on an `/operator` route (no tenant); a contractor on its own tenant only, and as a viewer only to read.
    pub fn may(&self, tenant_id: Option<&str>, method: &Method, callers: &MachineCallers) -> Result<(), ApiError> {
        let (own, role) = match self {
            Self::Principal(principal) => {
                return match tenant_id {
                    Some(t) => callers.check(principal.as_deref(), t),
                    None => Ok(()),
                };
            }
            Self::Contractor { tenant_id, role } => (tenant_id, role),
        };
        match tenant_id {
            Some(t) if t == own => {}
            Some(_) => return Err(forbidden("this token is for another tenant")),
            None => return Err(forbidden("the dashboard reaches a tenant's own routes only")),
        }
        if *role == Role::Viewer && !matches!(*method, Method::GET | Method::HEAD) {
            return Err(forbidden(
                "a viewer may look, not change: sign in as the tenant's owner",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_contractor_acts_for_its_own_tenant_and_a_viewer_only_reads() {
        let c = Claims::default();
        let owner = c
            .contractor(Some(&claims(&[("tenant_id", "1001"), ("role", "owner")])))
            .unwrap();
        let none = MachineCallers::default();
        assert!(owner.may(Some("1001"), &Method::PUT, &none).is_ok());
        assert_eq!(
            owner.may(Some("2002"), &Method::GET, &none).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        assert!(
            owner.may(None, &Method::GET, &none).is_err(),
            "no deployment-wide route"
        );
        let viewer = c
            .contractor(Some(&claims(&[("tenant_id", "1001"), ("role", "Viewer")])))
            .unwrap();
        assert!(viewer.may(Some("1001"), &Method::GET, &none).is_ok());
        assert!(viewer.may(Some("1001"), &Method::POST, &none).is_err());
    }

    #[test]
    fn a_principal_acts_for_the_tenants_it_is_bound_to_and_on_operator_routes() {
        let callers = MachineCallers::parse(r#"{"arn:aws:iam::111122223333:role/widget": ["1001"]}"#).unwrap();
        let widget = Caller::Principal(Some("arn:aws:sts::111122223333:assumed-role/widget/s".into()));
        assert!(widget.may(Some("1001"), &Method::DELETE, &callers).is_ok());
        assert_eq!(
            widget.may(Some("2002"), &Method::GET, &callers).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        assert!(
            widget.may(None, &Method::POST, &callers).is_ok(),
            "/operator: IAM policy decides"
        );
        assert!(
            Caller::Principal(None)
                .may(Some("1001"), &Method::GET, &callers)
                .is_err()
        );
    }

    #[test]
    fn tokens_without_a_tenant_or_a_known_role_are_refused() {
        let c = Claims {
            tenant: "https://platform.example/tenant".into(),
            role: "role".into(),
        };
        assert!(c.contractor(None).is_err());
        assert!(
            c.contractor(Some(&claims(&[("tenant_id", "1001"), ("role", "owner")])))
                .is_err()
        );
        assert!(
            c.contractor(Some(&claims(&[
                ("https://platform.example/tenant", "1001"),
                ("role", "admin")
            ])))
            .is_err()
        );
        assert!(
            c.contractor(Some(&claims(&[
                ("https://platform.example/tenant", "1001"),
                ("role", "owner")
            ])))
            .is_ok()
        );
    }
}
