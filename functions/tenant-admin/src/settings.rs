//! A tenant's settings, checked against its real ServiceTitan data, and the choices a dashboard offers.

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::{Value, json};
use tracing::info;

use servicetitan::models::jpm::JobType;
use servicetitan::models::settings::{BusinessUnit, Campaign};
use servicetitan::{Client, ConnectionError, CredentialStoreError};
use shared::api_error::{ApiError, FieldError};
use shared::clock::iso_millis;
use shared::tenant_settings::{self, TenantSettings};

use crate::connect::unknown_tenant;
use crate::{Admin, Handled, ok, storage_error};

/// What the tenant can choose from in ServiceTitan: active records only.
struct Choices {
    business_units: Vec<BusinessUnit>,
    job_types: Vec<JobType>,
    campaigns: Vec<Campaign>,
}

impl Choices {
    async fn fetch(client: &Client) -> Result<Self, servicetitan::Error> {
        let (business_units, job_types, campaigns) =
            tokio::try_join!(client.business_units(), client.job_types(), client.campaigns())?;
        Ok(Self {
            business_units: business_units.into_iter().filter(|b| b.active).collect(),
            job_types: job_types.into_iter().filter(|j| j.active).collect(),
            campaigns: campaigns.into_iter().filter(|c| c.active).collect(),
        })
    }

    /// A job type applies to a business unit when it lists it, or lists none (allowed everywhere).
    fn job_types_for(&self, business_unit_id: i64) -> impl Iterator<Item = &JobType> {
        self.job_types
            .iter()
            .filter(move |j| j.business_unit_ids.is_empty() || j.business_unit_ids.contains(&business_unit_id))
    }

    fn check(&self, s: &TenantSettings) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let named = |id: i64, name: &str| json!({"id": id, "name": name});
        if !self.business_units.iter().any(|b| b.id == s.business_unit_id) {
            let mut e = FieldError::new(
                "/businessUnitId",
                format!("{} is not an active business unit of this tenant", s.business_unit_id),
            );
            e.choices = self.business_units.iter().map(|b| named(b.id, &b.name)).collect();
            errors.push(e);
        }
        errors.extend(self.check_job_type("/jobTypeId", s.job_type_id, s.business_unit_id));
        // The lead table's job types go on jobs of the same business unit.
        for (phrase, id) in &s.leads.job_types {
            errors.extend(self.check_job_type(&format!("/leads/jobTypes/{phrase}"), *id, s.business_unit_id));
        }
        if !self.campaigns.iter().any(|c| c.id == s.campaign_id) {
            let mut e = FieldError::new(
                "/campaignId",
                format!("{} is not an active campaign of this tenant", s.campaign_id),
            );
            e.choices = self.campaigns.iter().map(|c| named(c.id, &c.name)).collect();
            errors.push(e);
        }
        errors
    }

    /// `id` is an active job type allowed for the business unit; else the error at `field`, with the choices.
    fn check_job_type(&self, field: &str, id: i64, business_unit_id: i64) -> Option<FieldError> {
        let reason = match self.job_types.iter().find(|j| j.id == id) {
            None => format!("{id} is not an active job type of this tenant"),
            Some(j) if !(j.business_unit_ids.is_empty() || j.business_unit_ids.contains(&business_unit_id)) => {
                format!(
                    "job type {} ({}) is not allowed for business unit {business_unit_id}",
                    j.id, j.name
                )
            }
            Some(_) => return None,
        };
        let mut e = FieldError::new(field, reason);
        e.choices = self
            .job_types_for(business_unit_id)
            .map(|j| json!({"id": j.id, "name": j.name}))
            .collect();
        Some(e)
    }
}

impl Admin {
    /// A client for a connected tenant, or the admin API's answer for why there is none.
    pub(crate) async fn tenant_client(&self, tenant_id: &str) -> Result<std::sync::Arc<Client>, ApiError> {
        self.connections
            .client(tenant_id)
            .await
            .map_err(|e| connection_error(tenant_id, e))
    }

    pub(crate) async fn options(&self, tenant_id: &str) -> Handled {
        let client = self.tenant_client(tenant_id).await?;
        let choices = Choices::fetch(&client).await.map_err(servicetitan_error)?;
        let by_unit: BTreeMap<String, Vec<i64>> = choices
            .business_units
            .iter()
            .map(|b| (b.id.to_string(), choices.job_types_for(b.id).map(|j| j.id).collect()))
            .collect();
        ok(&json!({
            "tenantId": tenant_id,
            "businessUnits": choices.business_units.iter().map(|b| json!({"id": b.id, "name": b.name})).collect::<Vec<_>>(),
            "jobTypes": choices.job_types.iter().map(|j| json!({
                "id": j.id, "name": j.name, "businessUnitIds": j.business_unit_ids, "priority": j.priority,
            })).collect::<Vec<_>>(),
            "jobTypesByBusinessUnit": by_unit,
            "campaigns": choices.campaigns.iter().map(|c| json!({"id": c.id, "name": c.name})).collect::<Vec<_>>(),
            "priorities": tenant_settings::PRIORITIES,
            "recipes": self.catalogue.all().iter().map(|r| json!({"id": r.id, "description": r.description})).collect::<Vec<_>>(),
        }))
    }

    pub(crate) async fn get_settings(&self, tenant_id: &str) -> Handled {
        let record = self.record(tenant_id).await?;
        let Some(settings) = record.settings else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "settings_not_set",
                format!("tenant {tenant_id} has no settings yet; PUT /admin/tenants/{tenant_id}/settings"),
            ));
        };
        ok(&json!({
            "tenantId": tenant_id,
            "settings": settings,
            "updatedAt": record.settings_updated_at.map(iso_millis),
        }))
    }

    pub(crate) async fn put_settings(&self, tenant_id: &str, body: &Value) -> Handled {
        let mut settings = tenant_settings::parse(body, &self.catalogue.ids()).map_err(|fields| {
            ApiError::invalid_body("invalid_settings", "the settings are invalid", fields)
                .expect("parse lists why it refused")
        })?;
        let record = self.record(tenant_id).await?;
        let client = self.tenant_client(tenant_id).await?;
        let choices = Choices::fetch(&client).await.map_err(servicetitan_error)?;
        let mut errors = choices.check(&settings);
        let now = self.clock.now();
        let previous: Option<TenantSettings> = record
            .settings
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let overrides = self.overrides(&record).await?;
        errors.extend(self.who_is_speaking(&mut settings, &overrides, &choices));
        errors.extend(egress_errors(&self.config.egress, &settings).await);
        keep_server_fields(&mut settings, previous.as_ref(), now);
        if !errors.is_empty() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_settings",
                "some settings cannot be used (each field says why: ServiceTitan's choices, or where a URL may point)",
            )
            .with_fields(errors));
        }
        let document = serde_json::to_value(&settings).expect("settings serialise");
        let stored = self
            .registry
            .put_settings(tenant_id, &document, now)
            .await
            .map_err(|e| storage_error("storing the settings", e))?;
        if !stored {
            // Disconnected between the check and the write.
            return Err(not_connected(tenant_id));
        }
        info!("settings updated");
        // Recipes may have been switched on: their feeds' lookback is read now, not at the next tick.
        self.reconcile_soon(tenant_id).await;
        ok(&json!({"tenantId": tenant_id, "settings": document, "updatedAt": iso_millis(now)}))
    }
}

/// The settings' URLs against the deployment's egress rules, their names resolved: a sink URL must be on the
/// allowlist, and neither it nor the booking link may reach a non-public address.
async fn egress_errors(policy: &shared::egress::EgressPolicy, settings: &TenantSettings) -> Vec<FieldError> {
    let urls = [
        ("/followupSinkUrl", settings.followup_sink_url.as_deref(), true),
        ("/bookingUrl", settings.booking_url.as_deref(), false),
    ];
    let mut errors = Vec::new();
    for (field, url, sink) in urls {
        let Some(url) = url else { continue };
        let checked = if sink {
            policy.check_sink(url)
        } else {
            policy.check_link(url)
        };
        let result = match checked {
            Ok(target) => shared::egress::resolve(policy, &target).await.map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            errors.push(FieldError::new(field, e.to_string()));
        }
    }
    errors
}

/// Why there is no client for a tenant: only an outage of our own storage is worth retrying; the rest says what to do.
pub(crate) fn connection_error(tenant_id: &str, e: ConnectionError) -> ApiError {
    match e {
        ConnectionError::UnknownTenant(_) => unknown_tenant(tenant_id),
        ConnectionError::NotConnected(_) | ConnectionError::Credentials(CredentialStoreError::NotFound(_)) => {
            not_connected(tenant_id)
        }
        ConnectionError::Credentials(c) if !c.is_retryable() => {
            tracing::warn!(error = %c, "the tenant's stored credentials cannot be used");
            ApiError::new(
                StatusCode::CONFLICT,
                "credentials_unreadable",
                format!(
                    "the stored ServiceTitan credentials of tenant {tenant_id} cannot be used ({c}); connect the \
                     tenant again with PUT /admin/tenants/{tenant_id}/servicetitan"
                ),
            )
        }
        other => storage_error("loading the tenant's connection", other),
    }
}

impl Admin {
    /// Every SMS names the company, and every step has the settings it needs: a recipe whose texts say
    /// `{{company.name}}` needs `companyName` (the business unit's name from ServiceTitan when none is given), and
    /// the missed-call text back needs the booking link.
    fn who_is_speaking(
        &self,
        settings: &mut TenantSettings,
        overrides: &std::collections::BTreeMap<String, serde_json::Value>,
        choices: &Choices,
    ) -> Vec<FieldError> {
        let recipes = self.catalogue.for_tenant(&settings.recipes, overrides).enabled;
        let mut errors = Vec::new();
        let needing = |setting: &str| -> Vec<&str> {
            recipes
                .iter()
                .filter(|r| r.required_settings().contains(&setting))
                .map(|r| r.id.as_str())
                .collect()
        };
        let named = needing("companyName");
        let unit = choices
            .business_units
            .iter()
            .find(|b| b.id == settings.business_unit_id);
        // (An unknown business unit is reported on its own field.)
        if !named.is_empty()
            && settings.company_name.is_none()
            && let Some(unit) = unit
        {
            match Some(unit.name.trim().to_owned()).filter(|n| !n.is_empty()) {
                Some(name) => settings.company_name = Some(name),
                None => errors.push(FieldError::new(
                    "/companyName",
                    format!(
                        "is required by {}: every text names the company (the business unit has no name to use)",
                        named.join(", ")
                    ),
                )),
            }
        }
        let booking = needing("bookingUrl");
        if !booking.is_empty() && settings.booking_url.is_none() {
            errors.push(FieldError::new(
                "/bookingUrl",
                format!("is required by {}: its text sends the booking link", booking.join(", ")),
            ));
        }
        errors
    }
}

/// The server's own parts of the settings: when each recipe was switched on, and when the AI-call consent
/// attestation was made (a new attester makes a new attestation).
fn keep_server_fields(settings: &mut TenantSettings, previous: Option<&TenantSettings>, now: jiff::Timestamp) {
    settings.recipes_enabled_at = settings
        .recipes
        .iter()
        .map(|r| {
            let since = previous
                .filter(|p| p.recipes.contains(r))
                .and_then(|p| p.recipes_enabled_at.get(r).copied())
                .unwrap_or(now);
            (r.clone(), since)
        })
        .collect();
    if let tenant_settings::AiCallConsent::Attested {
        attested_by,
        attested_at,
    } = &mut settings.ai_call_consent
    {
        let before = previous.and_then(|p| match &p.ai_call_consent {
            tenant_settings::AiCallConsent::Attested {
                attested_by: by,
                attested_at: at,
            } if by == attested_by => *at,
            _ => None,
        });
        *attested_at = Some(before.unwrap_or(now));
    }
}

pub(crate) fn not_connected(tenant_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "tenant_not_connected",
        format!(
            "tenant {tenant_id} is not connected to ServiceTitan; connect it with PUT /admin/tenants/{tenant_id}/servicetitan"
        ),
    )
}

/// ServiceTitan failed while reading the tenant's data with stored credentials.
fn servicetitan_error(e: servicetitan::Error) -> ApiError {
    match e {
        servicetitan::Error::Auth { .. } | servicetitan::Error::Unauthorized { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "credentials_rejected",
            format!("ServiceTitan no longer accepts this tenant's stored credentials ({e}); reconnect the tenant"),
        ),
        other => {
            tracing::warn!(error = %other, "ServiceTitan read failed");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "servicetitan_unavailable",
                format!("ServiceTitan did not answer ({other}); nothing was changed. Try again shortly."),
            )
            .with_header(http::header::RETRY_AFTER, "30")
        }
    }
}
