//! Reading a few scalars out of a JSON document in one pass, without building it.
//!
//! The intake needs a handful of fields (tenant, event id, name, entity id, time) from bodies that can be large.
//! Building a `serde_json::Value` allocates every string and map in the body. Here the pointers are merged into a
//! trie and the body is parsed once: values on a pointer's path are descended into, every other value is skipped
//! (still validated), and only the wanted scalars are copied out.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Default)]
struct Trie {
    children: Vec<(String, Trie)>,
    /// Indexes of the pointers that end at this node.
    slots: Vec<usize>,
}

impl Trie {
    fn child(&self, key: &str) -> Option<&Trie> {
        self.children.iter().find(|(k, _)| k == key).map(|(_, t)| t)
    }

    fn child_mut(&mut self, key: String) -> &mut Trie {
        let at = match self.children.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.children.push((key, Trie::default()));
                self.children.len() - 1
            }
        };
        &mut self.children[at].1
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON, with serde_json's message (which names line and column).
    Syntax(String),
    NotAnObject,
}

/// A set of JSON pointers, merged into a trie once and then applied to many documents.
#[derive(Debug)]
pub struct Extractor {
    root: Trie,
    len: usize,
}

impl Extractor {
    pub fn new(pointers: &[&str]) -> Self {
        let mut root = Trie::default();
        for (slot, pointer) in pointers.iter().enumerate() {
            let Some(path) = pointer.strip_prefix('/') else {
                continue;
            };
            let mut node = &mut root;
            for token in path.split('/') {
                node = node.child_mut(token.replace("~1", "/").replace("~0", "~"));
            }
            node.slots.push(slot);
        }
        Self {
            root,
            len: pointers.len(),
        }
    }

    /// The scalar found at each pointer: non-empty strings (trimmed) and numbers, as text. Validates the whole
    /// document.
    pub fn extract(&self, json: &str) -> Result<Vec<Option<String>>, ParseError> {
        let mut found = vec![None; self.len];
        let mut de = serde_json::Deserializer::from_str(json);
        let is_object = Seed {
            trie: &self.root,
            found: &mut found,
        }
        .deserialize(&mut de)
        .and_then(|is_object| de.end().map(|()| is_object))
        .map_err(|e| ParseError::Syntax(e.to_string()))?;
        if !is_object {
            return Err(ParseError::NotAnObject);
        }
        Ok(found)
    }
}

/// One-off form of [`Extractor::extract`].
pub fn extract(json: &str, pointers: &[&str]) -> Result<Vec<Option<String>>, ParseError> {
    Extractor::new(pointers).extract(json)
}

/// Deserializes one value at `trie`; yields whether the value was an object.
struct Seed<'t, 'f> {
    trie: &'t Trie,
    found: &'f mut Vec<Option<String>>,
}

impl Seed<'_, '_> {
    fn record(self, text: String) -> bool {
        for &slot in &self.trie.slots {
            if self.found[slot].is_none() {
                self.found[slot] = Some(text.clone());
            }
        }
        false
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_, '_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_, '_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match self.trie.child(key.as_str()) {
                Some(child) => {
                    map.next_value_seed(Seed {
                        trie: child,
                        found: &mut *self.found,
                    })?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(true)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut index = 0usize;
        loop {
            let more = match self.trie.child(&index.to_string()) {
                Some(child) => seq
                    .next_element_seed(Seed {
                        trie: child,
                        found: &mut *self.found,
                    })?
                    .is_some(),
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                return Ok(false);
            }
            index += 1;
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        let v = v.trim();
        if v.is_empty() || self.trie.slots.is_empty() {
            return Ok(false);
        }
        Ok(self.record(v.to_owned()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        Ok(if self.trie.slots.is_empty() {
            false
        } else {
            self.record(v.to_string())
        })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        Ok(if self.trie.slots.is_empty() {
            false
        } else {
            self.record(v.to_string())
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        let text = serde_json::Number::from_f64(v)
            .map(|n| n.to_string())
            .unwrap_or_default();
        Ok(if self.trie.slots.is_empty() {
            false
        } else {
            self.record(text)
        })
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// An object key, borrowed from the input unless it contains escapes.
enum Key<'a> {
    Borrowed(&'a str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_owned()))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_serde_json_pointers() {
        let body = r#"{"a":{"b":[10,{"c":"x"}],"s":"  padded  ","e":""},"n":-15,"f":2.5,"t":true,"z":null,"esc~/k":{"q\"u":7},"big":[1,2,{"deep":[3]}]}"#;
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        let pointers = [
            "/a/b/0",
            "/a/b/1/c",
            "/a/s",
            "/a/e",
            "/n",
            "/f",
            "/t",
            "/z",
            "/a",
            "/missing",
            "/a/b/9",
            "/big/2/deep/0",
            "/esc~0~1k/q\"u",
        ];
        let found = extract(body, &pointers).unwrap();
        for (pointer, got) in pointers.iter().zip(found) {
            let expected = match value.pointer(pointer) {
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            assert_eq!(got, expected, "{pointer}");
        }
    }

    #[test]
    fn the_same_pointer_twice_and_shared_prefixes() {
        let found = extract(
            r#"{"data":{"id":5,"when":"t"}}"#,
            &["/data/id", "/data/when", "/data/id"],
        )
        .unwrap();
        assert_eq!(found, vec![Some("5".into()), Some("t".into()), Some("5".into())]);
    }

    #[test]
    fn rejects_invalid_json_anywhere_and_non_objects() {
        for bad in [
            r#"{"a":{"b":[1,2,}]}}"#,
            r#"{"skipped":"\q"}"#,
            r#"{"a":1} trailing"#,
            r#"{"a":"#,
        ] {
            assert!(matches!(extract(bad, &["/a"]), Err(ParseError::Syntax(_))), "{bad}");
        }
        assert_eq!(extract("[1]", &["/0"]), Err(ParseError::NotAnObject));
        assert_eq!(extract("\"s\"", &[]), Err(ParseError::NotAnObject));
    }
}
