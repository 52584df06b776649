//! API host routes, one module per ServiceTitan API (spec file): settings-v2, jpm-v2, crm-v2, salestech-v2
//! (module path `sales`), accounting-v2, marketing-v2, telecom (paths `/telecom/v2/...`, `/telecom/v3/...`).

pub mod accounting;
pub mod crm;
pub mod jpm;
pub mod marketing;
pub mod sales;
pub mod settings;
pub mod telecom;

use axum::Router;
use axum::routing::{get, patch, put};

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        // settings-v2
        .route(
            "/settings/v2/tenant/{tenant}/business-units",
            get(settings::list_business_units),
        )
        .route(
            "/settings/v2/tenant/{tenant}/business-units/{id}",
            get(settings::get_business_unit),
        )
        .route(
            "/settings/v2/tenant/{tenant}/technicians",
            get(settings::list_technicians),
        )
        .route(
            "/settings/v2/tenant/{tenant}/technicians/{id}",
            get(settings::get_technician),
        )
        // jpm-v2
        .route("/jpm/v2/tenant/{tenant}/job-types", get(jpm::list_job_types))
        .route("/jpm/v2/tenant/{tenant}/job-types/{id}", get(jpm::get_job_type))
        .route(
            "/jpm/v2/tenant/{tenant}/jobs",
            get(jpm::list_jobs).post(jpm::create_job),
        )
        .route("/jpm/v2/tenant/{tenant}/jobs/{id}", get(jpm::get_job))
        .route("/jpm/v2/tenant/{tenant}/jobs/{id}/cancel", put(jpm::cancel_job))
        .route(
            "/jpm/v2/tenant/{tenant}/jobs/{id}/notes",
            get(jpm::list_job_notes).post(jpm::create_job_note),
        )
        .route(
            "/jpm/v2/tenant/{tenant}/appointments",
            get(jpm::list_appointments).post(jpm::add_appointment),
        )
        .route("/jpm/v2/tenant/{tenant}/appointments/{id}", get(jpm::get_appointment))
        .route(
            "/jpm/v2/tenant/{tenant}/appointments/{id}/reschedule",
            patch(jpm::reschedule_appointment),
        )
        .route("/jpm/v2/tenant/{tenant}/export/jobs", get(jpm::export_jobs))
        .route(
            "/jpm/v2/tenant/{tenant}/export/appointments",
            get(jpm::export_appointments),
        )
        // crm-v2
        .route(
            "/crm/v2/tenant/{tenant}/customers",
            get(crm::list_customers).post(crm::create_customer),
        )
        .route("/crm/v2/tenant/{tenant}/customers/{id}", get(crm::get_customer))
        .route(
            "/crm/v2/tenant/{tenant}/customers/{id}/notes",
            get(crm::list_customer_notes).post(crm::create_customer_note),
        )
        .route(
            "/crm/v2/tenant/{tenant}/customers/{id}/contacts",
            get(crm::list_customer_contacts).post(crm::create_customer_contact),
        )
        .route(
            "/crm/v2/tenant/{tenant}/locations",
            get(crm::list_locations).post(crm::create_location),
        )
        .route("/crm/v2/tenant/{tenant}/locations/{id}", get(crm::get_location))
        .route(
            "/crm/v2/tenant/{tenant}/locations/{id}/notes",
            get(crm::list_location_notes).post(crm::create_location_note),
        )
        .route("/crm/v2/tenant/{tenant}/export/customers", get(crm::export_customers))
        .route("/crm/v2/tenant/{tenant}/export/locations", get(crm::export_locations))
        .route(
            "/crm/v2/tenant/{tenant}/booking-provider/{booking_provider}/bookings",
            get(crm::list_bookings).post(crm::create_booking),
        )
        .route(
            "/crm/v2/tenant/{tenant}/booking-provider/{booking_provider}/bookings/{id}",
            get(crm::get_booking),
        )
        .route(
            "/crm/v2/tenant/{tenant}/leads",
            get(crm::list_leads).post(crm::create_lead),
        )
        .route("/crm/v2/tenant/{tenant}/leads/{id}", get(crm::get_lead))
        // telecom (no `/v2` in the server URL; each path carries its version)
        .route("/telecom/v3/tenant/{tenant}/calls", get(telecom::list_calls))
        .route("/telecom/v2/tenant/{tenant}/export/calls", get(telecom::export_calls))
        // salestech-v2
        .route(
            "/sales/v2/tenant/{tenant}/estimates",
            get(sales::list_estimates).post(sales::create_estimate),
        )
        .route("/sales/v2/tenant/{tenant}/estimates/{id}", get(sales::get_estimate))
        .route(
            "/sales/v2/tenant/{tenant}/estimates/{id}/sell",
            put(sales::sell_estimate),
        )
        .route(
            "/sales/v2/tenant/{tenant}/estimates/{id}/dismiss",
            put(sales::dismiss_estimate),
        )
        .route(
            "/sales/v2/tenant/{tenant}/export/estimates",
            get(sales::export_estimates),
        )
        // accounting-v2
        .route(
            "/accounting/v2/tenant/{tenant}/invoices",
            get(accounting::list_invoices),
        )
        .route(
            "/accounting/v2/tenant/{tenant}/payments",
            get(accounting::list_payments),
        )
        .route(
            "/accounting/v2/tenant/{tenant}/export/invoices",
            get(accounting::export_invoices),
        )
        .route(
            "/accounting/v2/tenant/{tenant}/export/payments",
            get(accounting::export_payments),
        )
        // marketing-v2
        .route(
            "/marketing/v2/tenant/{tenant}/campaigns",
            get(marketing::list_campaigns),
        )
        .route(
            "/marketing/v2/tenant/{tenant}/campaigns/{id}",
            get(marketing::get_campaign),
        )
}
