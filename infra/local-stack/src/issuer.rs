//! The local stand-in for the host platform's identity provider, and for API Gateway's JWT authorizer in front of
//! the dashboard routes.
//!
//! At start the stack makes an RSA key (RS256: HTTP APIs verify RSA signatures), publishes it as a JWKS under
//! `/_local/issuer`, and signs tokens for `POST /_local/login`. Requests to routes whose template event names the
//! `DashboardJwt` authorizer must carry one of its tokens, checked as API Gateway would (signature, `iss`, `aud`,
//! `exp`, `nbf`), and reach the function with the token's claims in the request context. The key lives only in
//! the stack's memory: nothing outside this process can mint a token it accepts.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

/// How long a local token is good for.
pub const TOKEN_LIFETIME: SignedDuration = SignedDuration::from_hours(12);

pub struct Issuer {
    key: KeyPair,
    kid: String,
    issuer: String,
    audience: String,
}

/// Why a token was refused (API Gateway answers 401 for all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Missing,
    Malformed,
    Signature,
    Issuer,
    Audience,
    Expired,
    NotYetValid,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Issuer {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> anyhow::Result<Self> {
        let key = KeyPair::generate(KeySize::Rsa2048).map_err(|_| anyhow::anyhow!("generating the issuer's key"))?;
        let n = key.public_key().modulus().big_endian_without_leading_zero().to_vec();
        // A key id from the key itself, as identity providers do.
        let kid = b64(&aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &n).as_ref()[..12]);
        Ok(Self {
            key,
            kid,
            issuer: issuer.into(),
            audience: audience.into(),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The public key, as `/.well-known/jwks.json` serves it.
    pub fn jwks(&self) -> Value {
        let public = self.key.public_key();
        json!({"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
        }]})
    }

    /// The OpenID discovery document (what API Gateway reads to find the JWKS).
    pub fn discovery(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/.well-known/jwks.json", self.issuer),
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    }

    /// A signed token with the standard claims (`iss`, `aud`, `iat`, `nbf`, `exp`) and `claims`.
    pub fn token(&self, claims: &Map<String, Value>, now: Timestamp) -> anyhow::Result<String> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let mut body = claims.clone();
        body.insert("iss".into(), json!(self.issuer));
        body.insert("aud".into(), json!(self.audience));
        body.insert("iat".into(), json!(now.as_second()));
        body.insert("nbf".into(), json!(now.as_second()));
        body.insert("exp".into(), json!((now + TOKEN_LIFETIME).as_second()));
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(Value::Object(body).to_string().as_bytes())
        );
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| anyhow::anyhow!("signing a token"))?;
        Ok(format!("{signing_input}.{}", b64(&signature)))
    }

    /// The claims of a valid token (`Authorization: Bearer <token>` or the bare token), checked as API Gateway's
    /// JWT authorizer checks them.
    pub fn verify(&self, authorization: Option<&str>, now: Timestamp) -> Result<Map<String, Value>, Refused> {
        let token = authorization
            .map(|a| a.strip_prefix("Bearer ").unwrap_or(a).trim())
            .filter(|t| !t.is_empty())
            .ok_or(Refused::Missing)?;
        let mut parts = token.split('.');
        let (Some(header), Some(body), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refused::Malformed);
        };
        let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).map_err(|_| Refused::Malformed);
        let header: Value = serde_json::from_slice(&decode(header)?).map_err(|_| Refused::Malformed)?;
        if header["alg"] != "RS256" || header["kid"] != self.kid.as_str() {
            return Err(Refused::Signature);
        }
        let public = self.key.public_key();
        let components = PublicKeyComponents {
            n: public.modulus().big_endian_without_leading_zero(),
            e: public.exponent().big_endian_without_leading_zero(),
        };
        let signing_input = &token[..token.len() - sig.len() - 1];
        components
            .verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                signing_input.as_bytes(),
                &decode(sig)?,
            )
            .map_err(|_| Refused::Signature)?;
        let claims: Map<String, Value> = serde_json::from_slice(&decode(body)?).map_err(|_| Refused::Malformed)?;
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(Refused::Issuer);
        }
        let audience_matches = match claims.get("aud") {
            Some(Value::String(a)) => *a == self.audience,
            Some(Value::Array(list)) => list.iter().any(|a| a == self.audience.as_str()),
            _ => false,
        };
        if !audience_matches {
            return Err(Refused::Audience);
        }
        let second = |k: &str| claims.get(k).and_then(Value::as_i64);
        if second("exp").is_none_or(|exp| exp <= now.as_second()) {
            return Err(Refused::Expired);
        }
        if second("nbf").is_some_and(|nbf| nbf > now.as_second()) {
            return Err(Refused::NotYetValid);
        }
        Ok(claims)
    }
}

/// API Gateway's request context carries string claims (numbers and booleans as their text).
pub fn claim_strings(claims: &Map<String, Value>) -> std::collections::HashMap<String, String> {
    claims
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn tokens_verify_only_as_issued() {
        let issuer = Issuer::new("http://127.0.0.1:1/_local/issuer", "integration-page").unwrap();
        let now = t("2026-12-02T12:00:00Z");
        let mut claims = Map::new();
        claims.insert("tenant_id".into(), json!("1001"));
        claims.insert("role".into(), json!("owner"));
        let token = issuer.token(&claims, now).unwrap();
        let got = issuer.verify(Some(&format!("Bearer {token}")), now).unwrap();
        assert_eq!(
            (got["tenant_id"].as_str(), got["role"].as_str()),
            (Some("1001"), Some("owner"))
        );
        assert_eq!(issuer.verify(None, now), Err(Refused::Missing));
        assert_eq!(issuer.verify(Some("Bearer x.y"), now), Err(Refused::Malformed));
        assert_eq!(issuer.verify(Some(&token), now + TOKEN_LIFETIME), Err(Refused::Expired));
        // Another issuer's key, or a changed claim, fails the signature.
        let other = Issuer::new("http://127.0.0.1:1/_local/issuer", "integration-page").unwrap();
        assert_eq!(other.verify(Some(&token), now), Err(Refused::Signature));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut body: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        body["tenant_id"] = json!("2002");
        parts[1] = b64(body.to_string().as_bytes());
        assert_eq!(issuer.verify(Some(&parts.join(".")), now), Err(Refused::Signature));
        assert_eq!(issuer.jwks()["keys"][0]["kty"], "RSA");
    }
}
