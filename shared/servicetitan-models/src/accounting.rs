//! Invoices and payments. Money is a decimal string here, unlike the other modules.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{NamedRef, datetime};

/// `Accounting.V2.InvoiceResponse` (subset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    pub id: i64,
    #[serde(default)]
    pub reference_number: Option<String>,
    /// A date-time; ServiceTitan sets the time to midnight.
    #[serde(default)]
    pub due_date: Option<String>,
    #[serde(default)]
    pub total: Option<String>,
    #[serde(default)]
    pub balance: Option<String>,
    #[serde(default)]
    pub customer: Option<NamedRef>,
    #[serde(default)]
    pub customer_address: Option<InvoiceAddress>,
    #[serde(default)]
    pub location: Option<NamedRef>,
    /// The service location's address (the recipient's time zone comes from it).
    #[serde(default)]
    pub location_address: Option<InvoiceAddress>,
    #[serde(default)]
    pub business_unit: Option<NamedRef>,
    #[serde(default)]
    pub job: Option<InvoiceJob>,
    pub active: bool,
    #[serde(with = "datetime")]
    pub created_on: Timestamp,
    /// Optional in the schema.
    #[serde(default, with = "datetime::option")]
    pub modified_on: Option<Timestamp>,
}

/// `Accounting.V2.AddressResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceAddress {
    #[serde(default)]
    pub street: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub zip: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
}

impl Invoice {
    /// The balance in cents, if it parses.
    pub fn balance_cents(&self) -> Option<i64> {
        self.balance.as_deref().and_then(cents)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceJob {
    pub id: i64,
    #[serde(default)]
    pub number: Option<String>,
}

/// `Accounting.V2.DetailedPaymentResponse` (subset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: i64,
    #[serde(default)]
    pub total: Option<String>,
    #[serde(default)]
    pub customer: Option<NamedRef>,
    #[serde(default)]
    pub applied_to: Option<Vec<PaymentApplication>>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default, with = "datetime::option")]
    pub created_on: Option<Timestamp>,
    #[serde(default, with = "datetime::option")]
    pub modified_on: Option<Timestamp>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentApplication {
    #[serde(default)]
    pub applied_to: Option<i64>,
    #[serde(default)]
    pub applied_amount: Option<String>,
}

/// "1249.50" → 124950. Exact, unlike a float.
pub fn cents(amount: &str) -> Option<i64> {
    let amount = amount.trim();
    let (negative, digits) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.len() > 2 && fraction[2..].bytes().any(|b| b != b'0') {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut fraction = fraction.get(..2.min(fraction.len()))?.to_owned();
    while fraction.len() < 2 {
        fraction.push('0');
    }
    let value = whole.checked_mul(100)?.checked_add(fraction.parse::<i64>().ok()?)?;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_strings_to_cents() {
        assert_eq!(cents("1249.00"), Some(124_900));
        assert_eq!(cents("0.5"), Some(50));
        assert_eq!(cents("-12.34"), Some(-1234));
        assert_eq!(cents("12"), Some(1200));
        assert_eq!(cents("12.340"), Some(1234));
        assert_eq!(cents("12.345"), None);
        assert_eq!(cents("abc"), None);
        assert_eq!(cents(""), None);
    }
}
