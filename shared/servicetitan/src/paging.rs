//! Paginated lists (`page`, `pageSize`, `hasMore`) and export feeds (`from`, `continueFrom`, `hasMore`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::client::{Client, Module};
use crate::error::Error;

/// The `ids` filter takes at most this many ids per request.
pub const MAX_IDS_PER_REQUEST: usize = 50;
/// Page size used when listing everything; ServiceTitan allows up to 5000.
pub const LIST_PAGE_SIZE: u32 = 500;

/// `PaginatedResponse_Of_<T>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub page: i32,
    pub page_size: i32,
    pub has_more: bool,
    #[serde(default)]
    pub total_count: Option<i32>,
    pub data: Vec<T>,
}

/// `ExportResponse_Of_<T>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportPage<T> {
    pub has_more: bool,
    /// Pass back as `from` for the next page. Persist it to resume the feed later.
    #[serde(default)]
    pub continue_from: Option<String>,
    pub data: Vec<T>,
}

/// Comma-separated chunks of at most [`MAX_IDS_PER_REQUEST`] ids.
pub fn id_chunks(ids: &[i64]) -> Vec<String> {
    ids.chunks(MAX_IDS_PER_REQUEST)
        .map(|c| c.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
        .collect()
}

impl Client {
    /// One page of a list endpoint.
    pub async fn page<T: DeserializeOwned>(
        &self,
        module: Module,
        path: &str,
        query: &[(&str, String)],
        page: u32,
        page_size: u32,
    ) -> Result<Page<T>, Error> {
        let mut q = query.to_vec();
        q.push(("page", page.to_string()));
        q.push(("pageSize", page_size.to_string()));
        self.get(module, path, &q).await
    }

    /// Every record of a list endpoint, following `hasMore`.
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        module: Module,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        for page in 1.. {
            let p: Page<T> = self.page(module, path, query, page, LIST_PAGE_SIZE).await?;
            out.extend(p.data);
            if !p.has_more {
                break;
            }
        }
        Ok(out)
    }

    /// Records by id, in requests of at most 50 ids.
    pub async fn list_by_ids<T: DeserializeOwned>(
        &self,
        module: Module,
        path: &str,
        ids: &[i64],
        query: &[(&str, String)],
    ) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        for chunk in id_chunks(ids) {
            let mut q = query.to_vec();
            q.push(("ids", chunk));
            out.extend(self.list_all::<T>(module, path, &q).await?);
        }
        Ok(out)
    }

    /// One page of an export feed. `from` is a `continueFrom` token, a date (`2026-01-01`), or `None` for the start.
    pub async fn export_page<T: DeserializeOwned>(
        &self,
        module: Module,
        feed: &str,
        from: Option<&str>,
        include_recent_changes: bool,
    ) -> Result<ExportPage<T>, Error> {
        let mut q = Vec::new();
        if let Some(from) = from {
            q.push(("from", from.to_owned()));
        }
        if include_recent_changes {
            q.push(("includeRecentChanges", "true".to_owned()));
        }
        self.get(module, &format!("/export/{feed}"), &q).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_ids_by_fifty() {
        let ids: Vec<i64> = (1..=120).collect();
        let chunks = id_chunks(&ids);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].split(',').count(), 50);
        assert_eq!(
            chunks[2],
            (101..=120).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
        );
        assert!(id_chunks(&[]).is_empty());
    }

    #[test]
    fn pages_parse_with_and_without_total() {
        let p: Page<i64> =
            serde_json::from_str(r#"{"page":1,"pageSize":50,"hasMore":false,"totalCount":null,"data":[1]}"#).unwrap();
        assert_eq!((p.total_count, p.data), (None, vec![1]));
        let e: ExportPage<i64> = serde_json::from_str(r#"{"hasMore":true,"continueFrom":"abc","data":[]}"#).unwrap();
        assert_eq!(e.continue_from.as_deref(), Some("abc"));
    }
}
