//! Connecting a tenant to ServiceTitan, and disconnecting it.
//!
//! A connect checks the pasted credentials against ServiceTitan before keeping anything: a token from the chosen
//! environment, then a cheap read (business units) with the app key under the tenant id. Each way that can fail
//! gets its own answer, including credentials pasted under the wrong environment (the other environment's token
//! endpoint accepts them). Only then is the secret written, and then the registry, so a failed connect leaves the
//! previous connection as it was.

use std::sync::Arc;

use http::StatusCode;
use serde_json::{Value, json};
use tracing::{info, warn};

use servicetitan::auth::{request_token, token_url};
use servicetitan::{
    Client, ClientOptions, Credentials, Error as StError, MemoryTokenStore, RetryPolicy, TenantCredentials,
    TokenProvider, TokenStore,
};
use shared::api_error::{ApiError, FieldError};
use shared::clock::iso_millis;
use shared::servicetitan_env::ServiceTitanEnvironment;

use crate::{Admin, Handled, ok, storage_error};

const CONNECT_FIELDS: &[&str] = &["environment", "clientId", "clientSecret", "appKey", "tenantId"];
const MAX_CREDENTIAL_LEN: usize = 512;

/// A connect request, validated.
struct ConnectRequest {
    environment: ServiceTitanEnvironment,
    credentials: Credentials,
}

fn parse_connect(tenant_id: &str, body: &Value) -> Result<ConnectRequest, ApiError> {
    let obj = body.as_object().expect("bodies are objects");
    let mut fields = Vec::new();
    for key in obj.keys().filter(|k| !CONNECT_FIELDS.contains(&k.as_str())) {
        fields.push(FieldError::new(
            format!("/{key}"),
            "unknown field; expected environment, clientId, clientSecret, appKey",
        ));
    }
    let environment = match obj.get("environment").and_then(Value::as_str) {
        Some(e) => e.parse::<ServiceTitanEnvironment>().ok(),
        None => None,
    };
    if environment.is_none() {
        fields.push(FieldError::new(
            "/environment",
            "is required: \"integration\" or \"production\"",
        ));
    }
    // Values are never quoted back: they may be secrets.
    let mut text = |name: &str| -> String {
        match obj.get(name) {
            None | Some(Value::Null) => fields.push(FieldError::new(format!("/{name}"), "is required")),
            Some(Value::String(s)) if s.trim().is_empty() => {
                fields.push(FieldError::new(format!("/{name}"), "must not be empty"))
            }
            Some(Value::String(s)) if s.trim().chars().count() > MAX_CREDENTIAL_LEN => fields.push(FieldError::new(
                format!("/{name}"),
                format!("is longer than {MAX_CREDENTIAL_LEN} characters; paste the value alone"),
            )),
            Some(Value::String(s)) => return s.trim().to_owned(),
            Some(_) => fields.push(FieldError::new(format!("/{name}"), "must be a string")),
        }
        String::new()
    };
    let client_id = text("clientId");
    let client_secret = text("clientSecret");
    let app_key = text("appKey");
    // The tenant id may be pasted along with the rest; it must then be the one in the path (a rule the document's
    // schema cannot state, so 422 when it is the only thing wrong).
    match obj.get("tenantId") {
        None | Some(Value::Null) => {}
        Some(v) => match shared::api_error::whole_number(v)
            .filter(|n| *n > 0)
            .map(|n| n.to_string())
            .or_else(|| {
                v.as_str()
                    .map(str::trim)
                    .filter(|s| shared::tenants::is_tenant_id(s))
                    .map(str::to_owned)
            }) {
            Some(id) if id == tenant_id => {}
            Some(_) => fields.push(FieldError::rule(
                "/tenantId",
                format!("does not match the tenant id {tenant_id} in the path"),
            )),
            None => fields.push(FieldError::new("/tenantId", "must be a ServiceTitan tenant id")),
        },
    }
    if let Some(e) = ApiError::invalid_body(
        "invalid_request",
        "the connect request is incomplete or malformed",
        fields,
    ) {
        return Err(e);
    }
    Ok(ConnectRequest {
        environment: environment.expect("checked above"),
        credentials: Credentials {
            tenant_id: tenant_id.parse().expect("validated tenant id"),
            client_id,
            client_secret,
            app_key,
        },
    })
}

fn unavailable(environment: ServiceTitanEnvironment, e: &StError) -> ApiError {
    warn!(error = %e, environment = environment.as_str(), "ServiceTitan unavailable during connect");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "servicetitan_unavailable",
        format!(
            "ServiceTitan's {} environment did not answer ({e}); nothing was changed. Try again shortly.",
            environment.as_str()
        ),
    )
    .with_header(http::header::RETRY_AFTER, "30")
}

fn unprocessable(code: &'static str, message: String, field: &str, reason: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_field(field, reason)
}

impl Admin {
    pub(crate) async fn connect(&self, tenant_id: &str, body: &Value) -> Handled {
        let request = parse_connect(tenant_id, body)?;
        let environment = request.environment;
        let creds = &request.credentials;
        let hosts = self.config.hosts.get(environment).clone();
        let now = self.clock.now();

        // 1. A token from the chosen environment; if refused there, ask the other one whose they are.
        let token = match request_token(&self.http, &token_url(&hosts.auth_url), creds, now).await {
            Ok(token) => token,
            Err(StError::Auth { .. }) => {
                let other = environment.other();
                let other_url = token_url(&self.config.hosts.get(other).auth_url);
                return Err(match request_token(&self.http, &other_url, creds, now).await {
                    Ok(_) => {
                        info!(
                            chosen = environment.as_str(),
                            actual = other.as_str(),
                            "credentials belong to the other environment"
                        );
                        unprocessable(
                            "wrong_environment",
                            format!(
                                "These credentials belong to ServiceTitan's {other} environment, not {environment}. \
                                 Choose \"{other}\", or paste the {environment} client ID and secret \
                                 (each environment has its own).",
                                other = other.as_str(),
                                environment = environment.as_str()
                            ),
                            "/environment",
                            &format!("the credentials are valid in {}", other.as_str()),
                        )
                    }
                    other_answer => ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_client_credentials",
                        format!(
                            "ServiceTitan's {} environment refused the client ID and secret ({}). Copy both again \
                             from the ServiceTitan app connection for this tenant.",
                            environment.as_str(),
                            match other_answer {
                                Err(StError::Auth { .. }) => format!("and so did {}", other.as_str()),
                                _ => format!("{} could not be asked whether they are its", other.as_str()),
                            }
                        ),
                    )
                    .with_field("/clientId", "refused by ServiceTitan together with the secret")
                    .with_field("/clientSecret", "refused by ServiceTitan together with the id"),
                });
            }
            Err(e) => return Err(unavailable(environment, &e)),
        };

        // 2. A cheap read with the app key, under the tenant id. The token goes into a store of the probe's own:
        //    nothing is shared before the checks pass.
        let token_key = TokenProvider::key(&hosts.auth_url, creds);
        let store = Arc::new(MemoryTokenStore::default());
        store
            .save(&token_key, &token)
            .await
            .map_err(|e| storage_error("caching the token", e))?;
        let mut options = ClientOptions::new(hosts.clone());
        options.retry = RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        };
        let probe = Client::new(options, creds.clone(), store, self.clock.clone());
        let business_units = match probe.business_units().await {
            Ok(units) => units,
            Err(StError::Unauthorized { status: 401, .. }) => {
                return Err(unprocessable(
                    "app_key_rejected",
                    "ServiceTitan accepted the client ID and secret but rejected the app key. Copy the app key \
                     from the app's page in ServiceTitan's developer portal."
                        .into(),
                    "/appKey",
                    "rejected by ServiceTitan",
                ));
            }
            // A token that works, used under another tenant's id: forbidden, or no such tenant.
            Err(StError::Unauthorized { status: 403, .. } | StError::Api { status: 403 | 404, .. }) => {
                return Err(unprocessable(
                    "tenant_mismatch",
                    format!(
                        "These credentials are valid but not for tenant {tenant_id}. Check the tenant ID (ServiceTitan \
                         shows it under Settings > Integrations > API Application Access) or use this tenant's \
                         client ID and secret."
                    ),
                    "/tenantId",
                    "the credentials were issued for another tenant",
                ));
            }
            Err(e) => return Err(unavailable(environment, &e)),
        };

        // 3. Keep them: the secret first, then the registry names its version.
        let stored = TenantCredentials {
            environment,
            credentials: creds.clone(),
        };
        let version = self
            .credentials
            .save(&stored)
            .await
            .map_err(|e| storage_error("storing the credentials", e))?;
        self.registry
            .connect(tenant_id, environment, &version, now)
            .await
            .map_err(|e| storage_error("recording the connection", e))?;
        // The validated token is good for 15 minutes: share it rather than asking again. (`connect` above already
        // marked the token healthy.)
        if let Err(e) = self.tokens.save(&token_key, &token).await {
            warn!(error = %e, "could not share the first token; the next caller will fetch one");
        }
        self.connections.forget(tenant_id);
        info!(
            environment = environment.as_str(),
            business_units = business_units.len(),
            "tenant connected"
        );
        ok(&json!({
            "tenantId": tenant_id,
            "status": "connected",
            "environment": environment.as_str(),
            "connectedAt": iso_millis(now),
            "businessUnits": business_units.iter().filter(|b| b.active).count(),
            "next": format!(
                "Choose the business unit, job type and campaign for new jobs: GET /admin/tenants/{tenant_id}/servicetitan/options, then PUT /admin/tenants/{tenant_id}/settings"
            ),
        }))
    }

    /// Stops all processing for the tenant. The registry flips first, so webhooks are refused from that moment;
    /// then schedules, tokens and the secret are cleaned up. Every step is safe to repeat, so a failure part-way
    /// is finished by calling DELETE again.
    pub(crate) async fn disconnect(&self, tenant_id: &str) -> Handled {
        let now = self.clock.now();
        let known = self
            .registry
            .disconnect(tenant_id, now)
            .await
            .map_err(|e| storage_error("marking the tenant disconnected", e))?;
        if !known {
            return Err(unknown_tenant(tenant_id));
        }
        self.connections.forget(tenant_id);
        let cancelled =
            shared::schedules::cancel_tenant_schedules(&self.scheduler, &self.config.schedule_group, tenant_id)
                .await
                .map_err(|e| storage_error("cancelling the tenant's schedules", e))?;
        // Their schedules are gone: the active runs end here, so the timeline says why nothing more was sent.
        let mut runs_halted = 0;
        for run in self
            .followups
            .runs(tenant_id)
            .await
            .map_err(|e| storage_error("reading the tenant's runs", e))?
            .iter()
            .filter(|r| r.status == followup_runtime::store::RunStatus::Active)
        {
            if self
                .followups
                .end_run(
                    tenant_id,
                    run,
                    followup_runtime::store::RunStatus::Halted,
                    followups::HaltReason::TenantDisconnected,
                    None,
                    now,
                )
                .await
                .map_err(|e| storage_error("halting the tenant's runs", e))?
            {
                runs_halted += 1;
            }
        }
        let numeric: i64 = tenant_id.parse().expect("validated tenant id");
        let tokens = self
            .tokens
            .delete_tenant(numeric)
            .await
            .map_err(|e| storage_error("deleting the tenant's tokens", e))?;
        let deletion = self
            .credentials
            .schedule_deletion(numeric, self.config.secret_recovery_days)
            .await
            .map_err(|e| storage_error("scheduling the credentials for deletion", e))?;
        // A reconnect reads its lookback again, as a new connection would.
        self.reconcile
            .delete_tenant(tenant_id)
            .await
            .map_err(|e| storage_error("forgetting the tenant's reconcile state", e))?;
        let record = self
            .registry
            .get_record(tenant_id)
            .await
            .map_err(|e| storage_error("reading the tenant", e))?;
        info!(
            schedules_cancelled = cancelled,
            runs_halted,
            tokens_deleted = tokens,
            "tenant disconnected"
        );
        ok(&json!({
            "tenantId": tenant_id,
            "status": "disconnected",
            "disconnectedAt": record.and_then(|r| r.disconnected_at).map(iso_millis),
            "schedulesCancelled": cancelled,
            "runsHalted": runs_halted,
            "credentialsDeletionDate": deletion.map(iso_millis),
        }))
    }
}

pub(crate) fn unknown_tenant(tenant_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_tenant",
        format!(
            "tenant {tenant_id} has never been connected; connect it with PUT /admin/tenants/{tenant_id}/servicetitan"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_requests_report_every_field_without_quoting_values() {
        let e = parse_connect(
            "1001",
            &json!({"environment": "prod", "clientId": "", "clientSecret": 5, "appKey": "  ", "tenantId": 7, "secret": "x"}),
        )
        .err()
        .unwrap();
        let fields: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "/secret",
                "/environment",
                "/clientId",
                "/clientSecret",
                "/appKey",
                "/tenantId"
            ]
        );
        let ok = parse_connect(
            "1001",
            &json!({"environment": "production", "clientId": " cid ", "clientSecret": "cs", "appKey": "ak", "tenantId": "1001"}),
        )
        .ok()
        .unwrap();
        assert_eq!(ok.credentials.client_id, "cid");
        assert_eq!(ok.environment, ServiceTitanEnvironment::Production);
    }
}
