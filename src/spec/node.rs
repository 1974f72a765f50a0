//! A spec file as YAML nodes, each with its place. A file is parsed whole into
//! these (only a YAML syntax error, or a duplicate key, stops it there); the keys
//! are then read one by one (`read.rs`), so that every wrong key of every job is
//! reported, not just the first one the parser meets.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// What a node holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `~`, `null`, or nothing after the key.
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A value and where it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// What it holds.
    pub value: Value,
    /// 1-based.
    pub line: usize,
    pub column: usize,
    /// The byte range of the node in the file, when known: a number or a boolean is
    /// read as a string as written (`1.10`, not `1.1`).
    span: Option<(usize, usize)>,
}

impl Node {
    /// A scalar as text: a string as it reads, a number or a boolean as written;
    /// `None` for null, a list or a mapping.
    pub fn text(&self, source: &str) -> Option<String> {
        let written = || {
            let (at, len) = self.span?;
            source.get(at..at + len).map(str::to_string)
        };
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Bool(b) => Some(written().unwrap_or_else(|| b.to_string())),
            Value::Int(n) => Some(written().unwrap_or_else(|| n.to_string())),
            Value::Float(x) => Some(written().unwrap_or_else(|| x.to_string())),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// The entries of a mapping.
    pub fn entries(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items of a list.
    pub fn items(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// Whether the node is null (`key:` with nothing, `~`, `null`).
    pub fn is_null(&self) -> bool {
        self.value == Value::Null
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(d)?;
        let place = spanned.referenced;
        let span = place.span();
        Ok(Node {
            value: spanned.value,
            line: place.line() as usize,
            column: place.column() as usize,
            span: span
                .byte_offset()
                .zip(span.byte_len())
                .and_then(|(at, len)| {
                    Some((usize::try_from(at).ok()?, usize::try_from(len).ok()?))
                }),
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Value, E> {
        i128::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom("number too large"))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            entries.push((key, map.next_value::<Node>()?));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Node {
        let options = serde_saphyr::options! { strict_booleans: true };
        serde_saphyr::from_str_with_options::<Node>(text, options).expect("parses")
    }

    #[test]
    fn nodes_keep_their_places_and_scalars_as_written() {
        let text = "jobs:\n  a:\n    cwd: 1.10\n    keep: 5\n    shell: yes\n    on: true\n    env: {A: }\n";
        let root = parse(text);
        let (key, jobs) = &root.entries().expect("a mapping")[0];
        assert_eq!((key.line, key.column), (1, 1));
        let (name, job) = &jobs.entries().expect("jobs")[0];
        assert_eq!(name.text(text).as_deref(), Some("a"));
        let keys = job.entries().expect("a job");
        let value = |i: usize| keys[i].1.clone();
        assert_eq!(value(0).text(text).as_deref(), Some("1.10"));
        assert_eq!((value(0).line, value(0).column), (3, 10));
        assert_eq!(value(1).value, Value::Int(5));
        assert_eq!(value(2).value, Value::Str("yes".into()));
        assert_eq!(value(3).value, Value::Bool(true));
        let env = value(4);
        assert!(env.entries().expect("a mapping")[0].1.is_null());
    }

    #[test]
    fn anchors_and_merges_are_resolved() {
        let text = "x-base: &base {restart: always}\njobs:\n  a:\n    <<: *base\n    command: x\n";
        let root = parse(text);
        let jobs = &root.entries().expect("a mapping")[1].1;
        let job = &jobs.entries().expect("jobs")[0].1;
        let keys: Vec<String> = job
            .entries()
            .expect("a job")
            .iter()
            .filter_map(|(k, _)| k.text(text))
            .collect();
        assert!(keys.contains(&"restart".to_string()), "{keys:?}");
    }
}
