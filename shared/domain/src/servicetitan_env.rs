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

    /// The other environment: where credentials pasted under the wrong one usually belong.
    pub fn other(self) -> Self {
        match self {
            Self::Integration => Self::Production,
            Self::Production => Self::Integration,
        }
    }

    /// `INTEGRATION` or `PRODUCTION`, as in the host override variables.
    fn env_prefix(self) -> &'static str {
        match self {
            Self::Integration => "SERVICETITAN_INTEGRATION",
            Self::Production => "SERVICETITAN_PRODUCTION",
        }
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

/// The hosts of both environments, as the functions use them: ServiceTitan's own unless
/// `SERVICETITAN_{INTEGRATION,PRODUCTION}_{AUTH,API}_URL` say otherwise (the local stack points them at its two
/// sandboxes). Both are needed even by a function serving one tenant: a connect that fails in the chosen
/// environment tries the other to tell the user their credentials belong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsByEnvironment {
    pub integration: Hosts,
    pub production: Hosts,
}

impl HostsByEnvironment {
    pub fn from_env(env: &impl crate::EnvSource) -> Self {
        let hosts = |e: ServiceTitanEnvironment| {
            let mut hosts = e.hosts();
            let var = |suffix: &str| {
                env.var(&format!("{}_{suffix}", e.env_prefix()))
                    .filter(|u| !u.trim().is_empty())
            };
            if let Some(url) = var("AUTH_URL") {
                hosts.auth_url = url;
            }
            if let Some(url) = var("API_URL") {
                hosts.api_url = url;
            }
            hosts.auth_url = hosts.auth_url.trim_end_matches('/').to_owned();
            hosts.api_url = hosts.api_url.trim_end_matches('/').to_owned();
            hosts
        };
        Self {
            integration: hosts(ServiceTitanEnvironment::Integration),
            production: hosts(ServiceTitanEnvironment::Production),
        }
    }

    pub fn get(&self, environment: ServiceTitanEnvironment) -> &Hosts {
        match environment {
            ServiceTitanEnvironment::Integration => &self.integration,
            ServiceTitanEnvironment::Production => &self.production,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn overrides_win_and_lose_trailing_slashes() {
        let env: HashMap<String, String> = [(
            "SERVICETITAN_PRODUCTION_API_URL".to_owned(),
            "http://127.0.0.1:9/".to_owned(),
        )]
        .into_iter()
        .collect();
        let hosts = HostsByEnvironment::from_env(&env);
        assert_eq!(hosts.production.api_url, "http://127.0.0.1:9");
        assert_eq!(hosts.production.auth_url, "https://auth.servicetitan.io");
        assert_eq!(hosts.integration, ServiceTitanEnvironment::Integration.hosts());
        assert_eq!(
            ServiceTitanEnvironment::Integration.other(),
            ServiceTitanEnvironment::Production
        );
    }
}
