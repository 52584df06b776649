//! Estimates.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::datetime;

/// In requests and filters an estimate's status is a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EstimateStatus {
    Open,
    Sold,
    Dismissed,
}

impl EstimateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::Sold => "Sold",
            Self::Dismissed => "Dismissed",
        }
    }
}

/// In responses it is an object, `Estimates.V2.EstimateStatusModel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstimateStatusModel {
    pub value: i32,
    pub name: String,
}

/// `Estimates.V2.EstimateResponse` (subset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    pub id: i64,
    #[serde(default)]
    pub job_id: Option<i64>,
    #[serde(default)]
    pub customer_id: Option<i64>,
    #[serde(default)]
    pub location_id: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub job_number: Option<String>,
    #[serde(default)]
    pub business_unit_id: Option<i64>,
    #[serde(default)]
    pub business_unit_name: Option<String>,
    #[serde(default)]
    pub status: Option<EstimateStatusModel>,
    #[serde(default, with = "datetime::option")]
    pub sold_on: Option<Timestamp>,
    #[serde(default)]
    pub sold_by: Option<i64>,
    pub active: bool,
    pub subtotal: f64,
    #[serde(default, with = "datetime::option")]
    pub created_on: Option<Timestamp>,
    #[serde(with = "datetime")]
    pub modified_on: Timestamp,
}

impl Estimate {
    pub fn status_name(&self) -> Option<&str> {
        self.status.as_ref().map(|s| s.name.as_str())
    }
}

/// `Estimates.V2.CreateEstimateRequest` (subset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateEstimate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<EstimateItem>,
}

/// `Estimates.V2.EstimateItemCreateUpdateRequest` (subset): a line of a new estimate, by SKU or as free text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EstimateItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<f64>,
}

/// `Estimates.V2.SellRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SellEstimate {
    pub sold_by: i64,
}
