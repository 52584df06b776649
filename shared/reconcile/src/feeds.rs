//! ServiceTitan's export feeds the engine reads, and which of them a tenant needs.

use std::collections::BTreeSet;

use domain::event::EntityKind;
use serde::{Deserialize, Serialize};

/// One export feed (`GET /<module>/v2/tenant/{t}/export/<feed>`, followed by `continueFrom`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Feed {
    Estimates,
    Jobs,
    Appointments,
    Invoices,
    Payments,
    Calls,
}

impl Feed {
    pub const ALL: [Feed; 6] = [
        Feed::Estimates,
        Feed::Jobs,
        Feed::Appointments,
        Feed::Invoices,
        Feed::Payments,
        Feed::Calls,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Estimates => "estimates",
            Self::Jobs => "jobs",
            Self::Appointments => "appointments",
            Self::Invoices => "invoices",
            Self::Payments => "payments",
            Self::Calls => "calls",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// The feeds that can change what recipes about `subjects` do. A tenant with no recipe about invoices never reads
/// the invoice and payment feeds: an idle reconcile costs one request per feed it needs.
pub fn needed(subjects: impl IntoIterator<Item = EntityKind>) -> BTreeSet<Feed> {
    let mut feeds = BTreeSet::new();
    for kind in subjects {
        match kind {
            EntityKind::Estimate => {
                feeds.insert(Feed::Estimates);
            }
            // A job's status stops its appointments' recipes (completed, canceled); the appointment feed moves them.
            EntityKind::Appointment => {
                feeds.extend([Feed::Appointments, Feed::Jobs]);
            }
            EntityKind::Job => {
                feeds.insert(Feed::Jobs);
            }
            // Payments stop dunning at once; the invoice feed starts the overdue watch and sees the balance.
            EntityKind::Invoice | EntityKind::Payment => {
                feeds.extend([Feed::Invoices, Feed::Payments]);
            }
            EntityKind::Call => {
                feeds.insert(Feed::Calls);
            }
            EntityKind::Customer => {}
        }
    }
    feeds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_follow_the_recipes_subjects() {
        assert_eq!(needed([EntityKind::Estimate]), BTreeSet::from([Feed::Estimates]));
        assert_eq!(
            needed([EntityKind::Invoice, EntityKind::Call]),
            BTreeSet::from([Feed::Invoices, Feed::Payments, Feed::Calls])
        );
        assert_eq!(
            needed([EntityKind::Appointment]),
            BTreeSet::from([Feed::Jobs, Feed::Appointments])
        );
        assert!(needed([]).is_empty());
        for f in Feed::ALL {
            assert_eq!(Feed::parse(f.as_str()), Some(f));
        }
    }
}
