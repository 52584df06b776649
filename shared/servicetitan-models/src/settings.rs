//! Settings and Marketing: business units, technicians, campaigns.

use serde::{Deserialize, Serialize};

/// `TenantSettings.V2.BusinessUnitResponse` (subset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BusinessUnit {
    pub id: i64,
    pub name: String,
    pub active: bool,
    #[serde(default)]
    pub official_name: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub trade: Option<super::NamedRef>,
}

/// `TenantSettings.V2.TechnicianResponse` (subset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Technician {
    pub id: i64,
    pub name: String,
    pub active: bool,
    #[serde(default)]
    pub business_unit_id: Option<i64>,
}

/// `Marketing.V2.CampaignResponse` (subset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    pub active: bool,
    #[serde(default)]
    pub category: Option<super::NamedRef>,
}
