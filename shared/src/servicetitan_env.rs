//! ServiceTitan's two environments and their hosts. Tenants are stored with one; the API client connects to it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceTitanEnvironment {
    Integration,
    Production,
}

impl ServiceTitanEnvironment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Integration => "integration",
            Self::Production => "production",
        }
    }

    /// ServiceTitan's own hosts for this environment.
    pub fn hosts(self) -> Hosts {
        match self {
            Self::Integration => Hosts {
                auth_url: "https://auth-integration.servicetitan.io".into(),
                api_url: "https://api-integration.servicetitan.io".into(),
            },
            Self::Production => Hosts {
                auth_url: "https://auth.servicetitan.io".into(),
                api_url: "https://api.servicetitan.io".into(),
            },
        }
    }

    /// The hosts, with `SERVICETITAN_AUTH_URL` / `SERVICETITAN_API_URL` taking precedence (the local stack points
    /// them at the sandbox).
    pub fn hosts_with_overrides(self, env: &impl crate::EnvSource) -> Hosts {
        let mut hosts = self.hosts();
        if let Some(url) = env.var("SERVICETITAN_AUTH_URL").filter(|u| !u.trim().is_empty()) {
            hosts.auth_url = url;
        }
        if let Some(url) = env.var("SERVICETITAN_API_URL").filter(|u| !u.trim().is_empty()) {
            hosts.api_url = url;
        }
        hosts.auth_url = hosts.auth_url.trim_end_matches('/').to_owned();
        hosts.api_url = hosts.api_url.trim_end_matches('/').to_owned();
        hosts
    }
}

impl std::str::FromStr for ServiceTitanEnvironment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "integration" => Ok(Self::Integration),
            "production" => Ok(Self::Production),
            other => Err(format!("expected integration or production, got {other:?}")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts {
    /// Base of `POST /connect/token`.
    pub auth_url: String,
    /// Base of `/{module}/v2/tenant/{tenant}/...`.
    pub api_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn overrides_win_and_lose_trailing_slashes() {
        let env: HashMap<String, String> = [("SERVICETITAN_API_URL".to_owned(), "http://127.0.0.1:9/".to_owned())]
            .into_iter()
            .collect();
        let hosts = ServiceTitanEnvironment::Integration.hosts_with_overrides(&env);
        assert_eq!(hosts.api_url, "http://127.0.0.1:9");
        assert_eq!(hosts.auth_url, "https://auth-integration.servicetitan.io");
        assert_eq!(
            ServiceTitanEnvironment::Production.hosts().api_url,
            "https://api.servicetitan.io"
        );
    }
}
