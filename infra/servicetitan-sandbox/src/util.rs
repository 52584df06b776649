//! Cross-cutting pieces of the API host: the `ApiErrorResponse` error type, query/path extractors, list paging,
//! export feeds, and value formatting (dates with 7 fractional digits, money as 2-decimal strings).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::{FromRequestParts, Path};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::request::Parts;
use http::{HeaderName, HeaderValue, StatusCode};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// Records per export page (the real feeds return a few hundred to a few thousand; 50 keeps tests short).
pub const EXPORT_PAGE_SIZE: usize = 50;
pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 5000;
pub const MAX_IDS: usize = 50;

// ---------------------------------------------------------------------------------------------------------------
// Formatting

/// ServiceTitan's own form: UTC, 7 fractional digits, `Z`.
pub fn ts(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.7fZ").to_string()
}

pub fn ts_opt(t: Option<Timestamp>) -> Value {
    t.map(|t| Value::String(ts(t))).unwrap_or(Value::Null)
}

/// Cents → `"1249.00"` (accounting money is a decimal string).
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let a = cents.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// Cents → JSON number (CRM / JPM / Sales money is a JSON decimal).
pub fn money_num(cents: i64) -> Value {
    json!(cents as f64 / 100.0)
}

/// `"100.00"`, `"100"`, `100.5` → cents.
pub fn parse_money(v: &Value) -> Option<i64> {
    let f = match v {
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        Value::Number(n) => n.as_f64()?,
        _ => return None,
    };
    f.is_finite().then(|| (f * 100.0).round() as i64)
}

/// Midnight UTC of the day `t` falls on.
pub fn day_start(t: Timestamp) -> Timestamp {
    let s = t.as_second();
    Timestamp::from_second(s - s.rem_euclid(86_400)).unwrap_or(t)
}

/// A date-time or a bare date (`2020-01-01`), UTC when no offset is given.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    if let Some(t) = domain::clock::parse_flexible(s) {
        return Some(t);
    }
    let d: jiff::civil::Date = s.trim().parse().ok()?;
    jiff::tz::TimeZone::UTC
        .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
        .ok()
}

pub fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Phone match: digits only; equal, or one ends with the other when both have at least 7 digits.
pub fn phone_matches(query: &str, value: &str) -> bool {
    let (a, b) = (digits(query), digits(value));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    a == b || (a.len() >= 7 && b.len() >= 7 && (a.ends_with(&b) || b.ends_with(&a)))
}

pub fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

pub fn pascal(field: &str) -> String {
    let mut c = field.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Randomness: deterministic xorshift for the demo seed, a process-wide mixer for trace ids.

#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn hex(&mut self, bytes: usize) -> String {
        let v: Vec<u8> = (0..bytes).map(|_| self.next_u64() as u8).collect();
        hex::encode(v)
    }
    pub fn token(&mut self, bytes: usize) -> String {
        let v: Vec<u8> = (0..bytes).map(|_| self.next_u64() as u8).collect();
        URL_SAFE_NO_PAD.encode(v)
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// W3C-traceparent-like id, as ServiceTitan's gateway returns in `traceId`.
pub fn trace_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0x5EED);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let (a, b, c) = (splitmix(n), splitmix(n ^ 0xA5A5), splitmix(n.rotate_left(17)));
    format!("00-{a:016x}{b:016x}-{c:016x}-00")
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

/// An error answered as ServiceTitan's `ApiErrorResponse` (RFC 7807 style, six required properties).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub title: String,
    pub errors: BTreeMap<String, Vec<String>>,
    pub data: Map<String, Value>,
    pub headers: Vec<(HeaderName, String)>,
}

pub type ApiResult<T = Response> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, title: impl Into<String>) -> Self {
        Self {
            status,
            title: title.into(),
            errors: BTreeMap::new(),
            data: Map::new(),
            headers: Vec::new(),
        }
    }
    pub fn validation(errors: BTreeMap<String, Vec<String>>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "One or more validation errors occurred.");
        e.errors = errors;
        e
    }
    pub fn field(field: impl Into<String>, msg: impl Into<String>) -> Self {
        Self::validation(BTreeMap::from([(field.into(), vec![msg.into()])]))
    }
    pub fn bad_request(title: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, title)
    }
    pub fn not_found(what: &str, id: i64) -> Self {
        let mut e = Self::new(StatusCode::NOT_FOUND, format!("{what} not found"));
        e.errors
            .insert("Id".into(), vec![format!("{what} with ID={id} was not found.")]);
        e
    }
    pub fn conflict(title: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, title)
    }
    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn body(&self) -> Value {
        json!({
            "type": type_uri(self.status),
            "title": self.title,
            "status": self.status.as_u16(),
            "traceId": trace_id(),
            "errors": self.errors,
            "data": self.data,
        })
    }
}

fn type_uri(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "https://tools.ietf.org/html/rfc7231#section-6.5.1",
        401 => "https://tools.ietf.org/html/rfc7235#section-3.1",
        403 => "https://tools.ietf.org/html/rfc7231#section-6.5.3",
        404 => "https://tools.ietf.org/html/rfc7231#section-6.5.4",
        409 => "https://tools.ietf.org/html/rfc7231#section-6.5.8",
        429 => "https://tools.ietf.org/html/rfc6585#section-4",
        503 => "https://tools.ietf.org/html/rfc7231#section-6.6.4",
        500 => "https://tools.ietf.org/html/rfc7231#section-6.6.1",
        _ => "about:blank",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body())).into_response();
        for (name, value) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                resp.headers_mut().insert(name.clone(), v);
            }
        }
        resp
    }
}

pub fn ok(v: Value) -> ApiResult {
    Ok(Json(v).into_response())
}

/// 200 with an empty body (PUT actions such as cancel / dismiss).
pub fn ok_empty() -> ApiResult {
    Ok(StatusCode::OK.into_response())
}

// ---------------------------------------------------------------------------------------------------------------
// Request bodies

/// Collects required-field errors keyed the way ServiceTitan (ASP.NET) keys them: `CampaignId`, `Locations[0].Name`.
#[derive(Default)]
pub struct Check(BTreeMap<String, Vec<String>>);

impl Check {
    /// `obj` must have a non-null `field`; the error key is `prefix` + PascalCase(field).
    pub fn require(&mut self, obj: &Value, prefix: &str, field: &str) -> bool {
        let present = obj.get(field).is_some_and(|v| !v.is_null());
        if !present {
            let key = format!("{prefix}{}", pascal(field));
            let msg = format!("The {} field is required.", pascal(field));
            self.0.entry(key).or_default().push(msg);
        }
        present
    }
    pub fn add(&mut self, key: impl Into<String>, msg: impl Into<String>) {
        self.0.entry(key.into()).or_default().push(msg.into());
    }
    pub fn finish(self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

/// Parses a JSON object body; `required` names top-level fields that must be present and non-null.
pub fn body_value(bytes: &[u8], required: &[&str]) -> ApiResult<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::field("", "A non-empty request body is required."));
    }
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::field("$", format!("The request body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::field(
            "$",
            "The JSON value could not be converted to a request object.",
        ));
    }
    let mut check = Check::default();
    for f in required {
        check.require(&v, "", f);
    }
    check.finish()?;
    Ok(v)
}

/// Converts an already-checked body into a typed request; unknown fields are ignored, wrong types give a 400 naming
/// the field.
pub fn typed<T: DeserializeOwned>(v: &Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(v.clone()).map_err(|e| {
        let path = e.path().to_string();
        ApiError::field(
            format!("$.{path}"),
            format!("The JSON value could not be converted. Path: $.{path} | {}", e.inner()),
        )
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Extractors

/// Query string with case-insensitive keys (ASP.NET binds query parameters case-insensitively).
#[derive(Debug, Default)]
pub struct Q(HashMap<String, Vec<String>>);

impl Q {
    pub fn parse(query: Option<&str>) -> ApiResult<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("Malformed query string: {e}")))?;
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            m.entry(k.to_ascii_lowercase()).or_default().push(v);
        }
        Ok(Self(m))
    }
    pub fn str(&self, k: &str) -> Option<&str> {
        self.0
            .get(&k.to_ascii_lowercase())
            .and_then(|v| v.first())
            .map(String::as_str)
            .filter(|s| !s.trim().is_empty())
    }
    pub fn i64(&self, k: &str) -> ApiResult<Option<i64>> {
        self.str(k)
            .map(|s| {
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| ApiError::field(k, format!("The value '{s}' is not valid for {}.", pascal(k))))
            })
            .transpose()
    }
    pub fn f64(&self, k: &str) -> ApiResult<Option<f64>> {
        self.str(k)
            .map(|s| {
                s.trim()
                    .parse::<f64>()
                    .map_err(|_| ApiError::field(k, format!("The value '{s}' is not valid for {}.", pascal(k))))
            })
            .transpose()
    }
    pub fn bool(&self, k: &str) -> ApiResult<Option<bool>> {
        self.str(k)
            .map(|s| match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(ApiError::field(
                    k,
                    format!("The value '{s}' is not valid for {}.", pascal(k)),
                )),
            })
            .transpose()
    }
    pub fn time(&self, k: &str) -> ApiResult<Option<Timestamp>> {
        self.str(k)
            .map(|s| parse_time(s).ok_or_else(|| ApiError::field(k, format!("The value '{s}' is not valid for {k}."))))
            .transpose()
    }
    /// A comma-separated id list, at most 50.
    pub fn ids(&self, k: &str) -> ApiResult<Option<Vec<i64>>> {
        let Some(s) = self.str(k) else { return Ok(None) };
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(
                part.parse::<i64>()
                    .map_err(|_| ApiError::field(k, format!("The value '{part}' is not a valid ID.")))?,
            );
        }
        if out.len() > MAX_IDS {
            return Err(ApiError::field(k, format!("The maximum number of IDs is {MAX_IDS}.")));
        }
        Ok(Some(out))
    }
    /// One of the given enum values (case-insensitive), returned in its canonical spelling.
    pub fn enumerated(&self, k: &str, values: &[&'static str]) -> ApiResult<Option<&'static str>> {
        self.str(k)
            .map(|s| {
                values
                    .iter()
                    .copied()
                    .find(|v| v.eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| {
                        ApiError::field(
                            k,
                            format!("The value '{s}' is not valid. Values: [{}]", values.join(", ")),
                        )
                    })
            })
            .transpose()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Q {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Q::parse(parts.uri.query())
    }
}

/// `{tenant}` and, when the route has them, `{id}` and `{booking_provider}` — all int64 (0 when absent).
#[derive(Debug, Clone, Copy)]
pub struct P {
    pub tenant: i64,
    pub id: i64,
    pub provider: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for P {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(m) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let get = |k: &str| -> ApiResult<i64> {
            match m.get(k) {
                None => Ok(0),
                Some(s) => s
                    .parse()
                    .map_err(|_| ApiError::field(k, format!("The value '{s}' is not valid for {}.", pascal(k)))),
            }
        };
        Ok(P {
            tenant: get("tenant")?,
            id: get("id")?,
            provider: get("booking_provider")?,
        })
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Lists and exports

/// What every listable record exposes to the shared filters.
pub trait Rec {
    fn id(&self) -> i64;
    fn created(&self) -> Timestamp;
    fn modified(&self) -> Timestamp;
    fn active(&self) -> bool {
        true
    }
}

pub struct ListOpts {
    /// The endpoint has the `active` (True|Any|False) parameter.
    pub active: bool,
}

/// ids, active, created/modified ranges, sort, then paging into `{page, pageSize, hasMore, totalCount, data}`.
pub fn list<'a, T: Rec + 'a>(
    q: &Q,
    items: impl IntoIterator<Item = &'a T>,
    opts: ListOpts,
    keep: impl Fn(&T) -> bool,
    render: impl Fn(&T) -> Value,
) -> ApiResult {
    let page = q.i64("page")?.unwrap_or(1).max(1) as usize;
    let page_size = match q.i64("pageSize")? {
        None => DEFAULT_PAGE_SIZE,
        Some(n) if (1..=MAX_PAGE_SIZE as i64).contains(&n) => n as usize,
        Some(_) => {
            return Err(ApiError::field(
                "pageSize",
                format!("The field PageSize must be between 1 and {MAX_PAGE_SIZE}."),
            ));
        }
    };
    let include_total = q.bool("includeTotal")?.unwrap_or(false);
    let ids = q.ids("ids")?;
    let active = if opts.active {
        q.enumerated("active", &["True", "Any", "False"])?.unwrap_or("True")
    } else {
        "Any"
    };
    let created_from = q.time("createdOnOrAfter")?;
    let created_before = q.time("createdBefore")?;
    let modified_from = q.time("modifiedOnOrAfter")?;
    let modified_before = q.time("modifiedBefore")?;
    let sort = sort_key(q)?;

    let mut rows: Vec<&T> = items
        .into_iter()
        .filter(|r| ids.as_ref().is_none_or(|ids| ids.contains(&r.id())))
        .filter(|r| match active {
            "True" => r.active(),
            "False" => !r.active(),
            _ => true,
        })
        .filter(|r| created_from.is_none_or(|t| r.created() >= t))
        .filter(|r| created_before.is_none_or(|t| r.created() < t))
        .filter(|r| modified_from.is_none_or(|t| r.modified() >= t))
        .filter(|r| modified_before.is_none_or(|t| r.modified() < t))
        .filter(|r| keep(r))
        .collect();
    if let Some((field, desc)) = sort {
        rows.sort_by(|a, b| {
            let o = match field {
                SortField::Id => a.id().cmp(&b.id()),
                SortField::Created => a.created().cmp(&b.created()).then(a.id().cmp(&b.id())),
                SortField::Modified => a.modified().cmp(&b.modified()).then(a.id().cmp(&b.id())),
            };
            if desc { o.reverse() } else { o }
        });
    }
    let total = rows.len();
    let start = (page - 1).saturating_mul(page_size).min(total);
    let end = start.saturating_add(page_size).min(total);
    let data: Vec<Value> = rows[start..end].iter().map(|r| render(r)).collect();
    ok(json!({
        "page": page,
        "pageSize": page_size,
        "hasMore": end < total,
        "totalCount": if include_total { json!(total) } else { Value::Null },
        "data": data,
    }))
}

/// Paging over an already-filtered list that has no shared filters (notes, contacts).
pub fn list_plain<T>(q: &Q, rows: &[T], render: impl Fn(&T) -> Value) -> ApiResult {
    struct W<'a, T>(usize, &'a T);
    impl<T> Rec for W<'_, T> {
        fn id(&self) -> i64 {
            self.0 as i64
        }
        fn created(&self) -> Timestamp {
            Timestamp::UNIX_EPOCH
        }
        fn modified(&self) -> Timestamp {
            Timestamp::UNIX_EPOCH
        }
    }
    let wrapped: Vec<W<'_, T>> = rows.iter().enumerate().map(|(i, r)| W(i, r)).collect();
    let mut q2 = Q::default();
    for k in ["page", "pageSize", "includeTotal"] {
        if let Some(v) = q.str(k) {
            q2.0.insert(k.to_ascii_lowercase(), vec![v.to_string()]);
        }
    }
    list(&q2, &wrapped, ListOpts { active: false }, |_| true, |w| render(w.1))
}

#[derive(Clone, Copy)]
enum SortField {
    Id,
    Created,
    Modified,
}

fn sort_key(q: &Q) -> ApiResult<Option<(SortField, bool)>> {
    let field_of = |name: &str| match name.to_ascii_lowercase().as_str() {
        "id" => Some(SortField::Id),
        "createdon" | "created" => Some(SortField::Created),
        "modifiedon" | "modified" => Some(SortField::Modified),
        _ => None,
    };
    if let Some(s) = q.str("sort") {
        // A literal `+` arrives as a space when the client did not percent-encode it.
        let s = s.trim_start_matches(' ');
        let (desc, name) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let f = field_of(name.trim()).ok_or_else(|| {
            ApiError::field(
                "sort",
                format!("Sorting by '{name}' is not supported. Supported: Id, CreatedOn, ModifiedOn."),
            )
        })?;
        return Ok(Some((f, desc)));
    }
    if let Some(name) = q.str("orderBy") {
        let f = field_of(name.trim())
            .ok_or_else(|| ApiError::field("orderBy", format!("Ordering by '{name}' is not supported.")))?;
        let desc = q
            .str("orderByDirection")
            .is_some_and(|d| d.to_ascii_lowercase().starts_with("desc"));
        return Ok(Some((f, desc)));
    }
    Ok(None)
}

fn encode_cursor(nanos: i128, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{nanos}|{id}"))
}

fn decode_cursor(s: &str) -> Option<(i128, i64)> {
    let raw = URL_SAFE_NO_PAD.decode(s.trim().trim_end_matches('=')).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (a, b) = text.split_once('|')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// An export feed page: every record (active or not) ordered by (modifiedOn, id), continuing after `from`.
pub fn export<'a, T: Rec + 'a>(
    q: &Q,
    items: impl IntoIterator<Item = &'a T>,
    render: impl Fn(&T) -> Value,
) -> ApiResult {
    let _include_recent_changes = q.bool("includeRecentChanges")?;
    let cursor: (i128, i64) = match q.str("from") {
        None => (i128::MIN, i64::MIN),
        Some(s) => match decode_cursor(s) {
            Some(c) => c,
            None => match parse_time(s) {
                Some(t) => (t.as_nanosecond(), i64::MIN),
                None => {
                    return Err(ApiError::field(
                        "from",
                        format!("The value '{s}' is not a valid continuation token or date."),
                    ));
                }
            },
        },
    };
    let mut rows: Vec<&T> = items
        .into_iter()
        .filter(|r| (r.modified().as_nanosecond(), r.id()) > cursor)
        .collect();
    rows.sort_by_key(|r| (r.modified(), r.id()));
    let has_more = rows.len() > EXPORT_PAGE_SIZE;
    rows.truncate(EXPORT_PAGE_SIZE);
    let continue_from = match rows.last() {
        Some(r) => encode_cursor(r.modified().as_nanosecond(), r.id()),
        None => encode_cursor(cursor.0, cursor.1),
    };
    let data: Vec<Value> = rows.iter().map(|r| render(r)).collect();
    ok(json!({ "hasMore": has_more, "continueFrom": continue_from, "data": data }))
}

/// Adds `"active": <bool>` to a rendered record (export records are the GET shape plus `active`).
pub fn with_active(mut v: Value, active: bool) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.insert("active".into(), Value::Bool(active));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t: Timestamp = "2021-07-19T20:35:38.2876004Z".parse().unwrap();
        assert_eq!(ts(t), "2021-07-19T20:35:38.2876004Z");
        assert_eq!(
            ts("2021-07-19T00:00:00Z".parse().unwrap()),
            "2021-07-19T00:00:00.0000000Z"
        );
        assert_eq!(money(124_900), "1249.00");
        assert_eq!(money(-5), "-0.05");
        assert_eq!(parse_money(&json!("100.00")), Some(10_000));
        assert_eq!(parse_money(&json!(12.5)), Some(1250));
        assert_eq!(parse_time("2020-01-01"), Some("2020-01-01T00:00:00Z".parse().unwrap()));
        assert_eq!(
            day_start("2021-07-19T20:35:38Z".parse().unwrap()),
            "2021-07-19T00:00:00Z".parse().unwrap()
        );
    }

    #[test]
    fn phones() {
        assert!(phone_matches("(512) 555-0142", "5125550142"));
        assert!(phone_matches("+1 512-555-0142", "5125550142"));
        assert!(phone_matches("555-0142", "5125550142"));
        assert!(!phone_matches("0142", "5125550142"));
        assert!(!phone_matches("5125550143", "5125550142"));
    }

    #[test]
    fn cursor_roundtrip() {
        let c = encode_cursor(1_700_000_000_123_456_789, 10_042);
        assert_eq!(decode_cursor(&c), Some((1_700_000_000_123_456_789, 10_042)));
        assert_eq!(decode_cursor("2020-01-01"), None);
    }
}
