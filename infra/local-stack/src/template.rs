//! Reading `template.yaml` and resolving the intrinsic functions the local stack needs.
//!
//! Short-form tags (`!Ref`, `!GetAtt`, `!Sub`, ...) are turned into their long forms, so either style works.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Map, Value};
use serde_yaml_ng::value::TaggedValue;

#[derive(Debug, Clone)]
pub struct Template {
    pub doc: Value,
}

/// What `Ref` and `Fn::GetAtt` give for each resource once it exists.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    pub reference: String,
    pub attributes: HashMap<String, String>,
}

#[derive(Debug, Default)]
pub struct Context {
    pub stack_name: String,
    pub region: String,
    pub account_id: String,
    pub parameters: HashMap<String, String>,
    pub physical: HashMap<String, Physical>,
}

impl Template {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)?;
        Ok(Self { doc: to_json(yaml)? })
    }

    pub fn resources(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.doc["Resources"].as_object().into_iter().flat_map(|m| m.iter())
    }

    pub fn resources_of_type<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        self.resources().filter(move |(_, r)| r["Type"] == ty)
    }

    /// Parameter defaults, overridden by `overrides`.
    pub fn parameters(&self, overrides: &HashMap<String, String>) -> HashMap<String, String> {
        let mut out = HashMap::new();
        if let Some(params) = self.doc["Parameters"].as_object() {
            for (name, p) in params {
                if let Some(d) = scalar(&p["Default"]) {
                    out.insert(name.clone(), d);
                }
            }
        }
        out.extend(overrides.clone());
        out
    }

    /// Resolves intrinsic functions in `value`. Fails on anything it cannot resolve, naming it.
    pub fn resolve(&self, value: &Value, ctx: &Context) -> anyhow::Result<Value> {
        Ok(match value {
            Value::Object(map) if map.len() == 1 => {
                let (k, v) = map.iter().next().expect("one entry");
                match k.as_str() {
                    "Ref" => {
                        Value::String(self.reference(v.as_str().ok_or_else(|| anyhow!("Ref takes a name"))?, ctx)?)
                    }
                    "Fn::GetAtt" => Value::String(self.get_att(v, ctx)?),
                    "Fn::Sub" => Value::String(self.sub(v, ctx)?),
                    "Fn::FindInMap" => self.find_in_map(v, ctx)?,
                    "Fn::Join" => {
                        let parts = v.as_array().ok_or_else(|| anyhow!("Fn::Join takes [sep, [..]]"))?;
                        let sep = parts.first().and_then(Value::as_str).unwrap_or("");
                        let items = self.resolve(parts.get(1).unwrap_or(&Value::Null), ctx)?;
                        let items: Vec<String> = items.as_array().into_iter().flatten().filter_map(scalar).collect();
                        Value::String(items.join(sep))
                    }
                    k if k.starts_with("Fn::") || k == "Condition" => {
                        bail!("the local stack does not support {k}")
                    }
                    _ => Value::Object(self.resolve_map(map, ctx)?),
                }
            }
            Value::Object(map) => Value::Object(self.resolve_map(map, ctx)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.resolve(v, ctx))
                    .collect::<anyhow::Result<_>>()?,
            ),
            other => other.clone(),
        })
    }

    fn resolve_map(&self, map: &Map<String, Value>, ctx: &Context) -> anyhow::Result<Map<String, Value>> {
        map.iter()
            .map(|(k, v)| Ok((k.clone(), self.resolve(v, ctx)?)))
            .collect()
    }

    fn reference(&self, name: &str, ctx: &Context) -> anyhow::Result<String> {
        match name {
            "AWS::Region" => return Ok(ctx.region.clone()),
            "AWS::AccountId" => return Ok(ctx.account_id.clone()),
            "AWS::StackName" => return Ok(ctx.stack_name.clone()),
            "AWS::Partition" => return Ok("aws".into()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
            "AWS::NoValue" => bail!("AWS::NoValue is not supported by the local stack"),
            _ => {}
        }
        if let Some(p) = ctx.parameters.get(name) {
            return Ok(p.clone());
        }
        ctx.physical
            .get(name)
            .map(|p| p.reference.clone())
            .ok_or_else(|| anyhow!("Ref {name}: no such parameter, or the resource does not exist yet"))
    }

    fn get_att(&self, v: &Value, ctx: &Context) -> anyhow::Result<String> {
        let (name, attr) = match v {
            Value::Array(a) if a.len() == 2 => (
                a[0].as_str().unwrap_or_default().to_owned(),
                scalar(&self.resolve(&a[1], ctx)?).unwrap_or_default(),
            ),
            Value::String(s) => {
                let (n, a) = s
                    .split_once('.')
                    .ok_or_else(|| anyhow!("Fn::GetAtt {s}: expected Name.Attribute"))?;
                (n.to_owned(), a.to_owned())
            }
            _ => bail!("Fn::GetAtt takes [Name, Attribute]"),
        };
        ctx.physical
            .get(&name)
            .and_then(|p| p.attributes.get(&attr))
            .cloned()
            .ok_or_else(|| anyhow!("Fn::GetAtt {name}.{attr}: not available (yet) in the local stack"))
    }

    fn sub(&self, v: &Value, ctx: &Context) -> anyhow::Result<String> {
        let (text, vars) = match v {
            Value::String(s) => (s.clone(), Map::new()),
            Value::Array(a) if a.len() == 2 => (
                a[0].as_str().unwrap_or_default().to_owned(),
                a[1].as_object().cloned().unwrap_or_default(),
            ),
            _ => bail!("Fn::Sub takes a string or [string, {{vars}}]"),
        };
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| anyhow!("Fn::Sub: unclosed ${{ in {text:?}"))?;
            let name = &after[..end];
            let value = if let Some(stripped) = name.strip_prefix('!') {
                format!("${{{stripped}}}")
            } else if let Some(v) = vars.get(name) {
                scalar(&self.resolve(v, ctx)?).unwrap_or_default()
            } else if let Some((res, attr)) = name.split_once('.') {
                self.get_att(&Value::Array(vec![res.into(), attr.into()]), ctx)?
            } else {
                self.reference(name, ctx)?
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn find_in_map(&self, v: &Value, ctx: &Context) -> anyhow::Result<Value> {
        let args = self.resolve(v, ctx)?;
        let keys: Vec<String> = args.as_array().into_iter().flatten().filter_map(scalar).collect();
        let [map, top, second] = keys.as_slice() else {
            bail!("Fn::FindInMap takes three names")
        };
        let found = &self.doc["Mappings"][map][top][second];
        if found.is_null() {
            bail!("Fn::FindInMap: {map}.{top}.{second} does not exist");
        }
        Ok(found.clone())
    }
}

pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn to_json(v: serde_yaml_ng::Value) -> anyhow::Result<Value> {
    use serde_yaml_ng::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n)?,
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect::<anyhow::Result<_>>()?),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    other => serde_yaml_ng::to_string(&other)?.trim().to_owned(),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => {
            let TaggedValue { tag, value } = *tagged;
            let tag = tag.to_string();
            let name = tag.trim_start_matches('!');
            let long = match name {
                "Ref" | "Condition" => name.to_owned(),
                _ => format!("Fn::{name}"),
            };
            let mut inner = to_json(value)?;
            if long == "Fn::GetAtt"
                && let Value::String(s) = &inner
                && let Some((a, b)) = s.split_once('.')
            {
                inner = Value::Array(vec![a.into(), b.into()]);
            }
            let mut m = Map::new();
            m.insert(long, inner);
            Value::Object(m)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_forms_resolve_alike() {
        let t = Template::parse(
            r#"
Parameters:
  Env: {Type: String, Default: integration}
Mappings:
  Hosts: {integration: {Api: "https://api-integration.example"}}
Resources:
  Q: {Type: AWS::SQS::Queue}
  F:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          A: !Ref Q
          B: {Ref: Q}
          C: !GetAtt Q.Arn
          D: {"Fn::GetAtt": [Q, Arn]}
          E: !Sub "${AWS::StackName}-${Env}-${Q.QueueName}"
          G: !FindInMap [Hosts, !Ref Env, Api]
"#,
        )
        .unwrap();
        let mut ctx = Context {
            stack_name: "local".into(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            parameters: t.parameters(&HashMap::new()),
            ..Context::default()
        };
        ctx.physical.insert(
            "Q".into(),
            Physical {
                reference: "http://q".into(),
                attributes: HashMap::from([("Arn".into(), "arn:q".into()), ("QueueName".into(), "qn".into())]),
            },
        );
        let vars = t
            .resolve(&t.doc["Resources"]["F"]["Properties"]["Environment"]["Variables"], &ctx)
            .unwrap();
        assert_eq!(vars["A"], "http://q");
        assert_eq!(vars["B"], "http://q");
        assert_eq!(vars["C"], "arn:q");
        assert_eq!(vars["D"], "arn:q");
        assert_eq!(vars["E"], "local-integration-qn");
        assert_eq!(vars["G"], "https://api-integration.example");
    }

    #[test]
    fn unresolvable_references_are_named() {
        let t = Template::parse("Resources: {}").unwrap();
        let err = t
            .resolve(&serde_json::json!({"Ref": "Missing"}), &Context::default())
            .unwrap_err();
        assert!(err.to_string().contains("Missing"), "{err}");
    }
}
