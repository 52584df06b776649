//! A tenant's recipe overrides, one item per recipe in the follow-ups table (`override#<recipe id>`). Each is at
//! most one admin request body (64 KB), so a tenant overriding every recipe stays far from DynamoDB's 400 KB item
//! limit, which all of them in the tenant's registry item could pass.
//!
//! Versions before this kept them in the registry item's `recipe_overrides`; those are read beneath the items and
//! moved into items by the tenant's next override change ([`Store::move_legacy_overrides`]).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;
use shared::clock::iso_millis;
use shared::dynamo_item::{s, text};
use shared::tenants::TenantRecord;

use crate::store::{Store, StoreError};

const PREFIX: &str = "override#";

impl Store {
    /// The tenant's overrides by recipe id: its items, over any still in the registry record.
    pub async fn recipe_overrides(&self, record: &TenantRecord) -> Result<BTreeMap<String, Value>, StoreError> {
        let mut all = record.legacy_recipe_overrides.clone();
        all.extend(self.override_items(&record.tenant.tenant_id).await?);
        Ok(all)
    }

    async fn override_items(&self, tenant_id: &str) -> Result<BTreeMap<String, Value>, StoreError> {
        self.query_prefix(tenant_id, PREFIX)
            .await?
            .iter()
            .map(|item| {
                let key = text(item, "sk").unwrap_or_default();
                let doc = text(item, "document")
                    .and_then(|d| serde_json::from_str(d).ok())
                    .ok_or_else(|| StoreError::Malformed {
                        key: key.to_owned(),
                        reason: "no override document".into(),
                    })?;
                Ok((key.trim_start_matches(PREFIX).to_owned(), doc))
            })
            .collect()
    }

    /// Stores (`Some`) or removes (`None`) the tenant's override of one recipe. A repeat changes nothing more, and
    /// two admins editing different recipes cannot lose each other's change.
    pub async fn put_recipe_override(
        &self,
        tenant_id: &str,
        recipe_id: &str,
        document: Option<&Value>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let key = Self::key(tenant_id, &format!("{PREFIX}{recipe_id}"));
        match document {
            Some(doc) => {
                let mut item = key;
                item.insert("document".into(), s(doc.to_string()));
                item.insert("updated_at".into(), s(iso_millis(now)));
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(crate::store::unavailable)
            }
            None => self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .send()
                .await
                .map(|_| ())
                .map_err(crate::store::unavailable),
        }
    }

    /// Copies the overrides an earlier version kept in the registry record into items (those not already there), so
    /// the record's copy can be dropped. Before any change, so a removed override cannot come back from the record.
    pub async fn move_legacy_overrides(&self, record: &TenantRecord, now: Timestamp) -> Result<(), StoreError> {
        let tenant_id = &record.tenant.tenant_id;
        let items = self.override_items(tenant_id).await?;
        for (recipe_id, doc) in &record.legacy_recipe_overrides {
            if !items.contains_key(recipe_id) {
                self.put_recipe_override(tenant_id, recipe_id, Some(doc), now).await?;
            }
        }
        Ok(())
    }
}
