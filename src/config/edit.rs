//! Dotted config paths (`gateway.auth.token`, `agents.list[0].id`) and the
//! get, set and unset operations on a JSON value.
//!
//! Pure functions on values; reading and writing the file is the caller's.

use std::fmt;

use serde_json::{Map, Value};

/// One step of a path: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    BadPath(String),
    NotFound(String),
    NotAContainer(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadPath(p) => write!(f, "invalid config path \"{p}\": use dotted keys with [n] for list items, e.g. agents.list[0].id"),
            Error::NotFound(p) => write!(f, "Config path not found: {p}"),
            Error::NotAContainer(p) => write!(f, "cannot set below {p}: it holds a value that is not an object or list"),
        }
    }
}

impl std::error::Error for Error {}

/// Parses `a.b[0].c` into segments.
pub fn parse_path(path: &str) -> Result<Vec<Seg>, Error> {
    let bad = || Error::BadPath(path.to_string());
    let mut segs = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() && (segs.is_empty() || rest.is_empty()) {
            return Err(bad());
        }
        if !key.is_empty() {
            segs.push(Seg::Key(key.to_string()));
        }
        while !rest.is_empty() {
            let end = rest.find(']').ok_or_else(bad)?;
            let n: usize = rest[1..end].parse().map_err(|_| bad())?;
            segs.push(Seg::Index(n));
            rest = &rest[end + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(bad());
            }
        }
    }
    if segs.is_empty() {
        return Err(bad());
    }
    Ok(segs)
}

pub fn get<'v>(root: &'v Value, path: &str) -> Result<&'v Value, Error> {
    let mut cur = root;
    for seg in parse_path(path)? {
        cur = match (&seg, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get(k),
            (Seg::Index(i), Value::Array(a)) => a.get(*i),
            _ => None,
        }
        .ok_or_else(|| Error::NotFound(path.to_string()))?;
    }
    Ok(cur)
}

/// Sets `path` to `value`, creating objects on the way. A list index may
/// name an existing item or the position just past the end (append).
pub fn set(root: &mut Value, path: &str, value: Value) -> Result<(), Error> {
    let segs = parse_path(path)?;
    let mut cur = root;
    let mut walked = String::new();
    for (n, seg) in segs.iter().enumerate() {
        let last = n + 1 == segs.len();
        let next = segs.get(n + 1);
        let fresh = || match next {
            Some(Seg::Index(_)) => Value::Array(Vec::new()),
            _ => Value::Object(Map::new()),
        };
        cur = match (seg, cur) {
            (Seg::Key(k), Value::Object(m)) => {
                if last {
                    m.insert(k.clone(), value);
                    return Ok(());
                }
                let slot = m.entry(k.clone()).or_insert_with(fresh);
                if slot.is_null() {
                    *slot = fresh();
                }
                slot
            }
            (Seg::Index(i), Value::Array(a)) => {
                if *i > a.len() {
                    return Err(Error::NotFound(format!("{walked}[{i}]")));
                }
                if *i == a.len() {
                    a.push(if last { Value::Null } else { fresh() });
                }
                if last {
                    a[*i] = value;
                    return Ok(());
                }
                &mut a[*i]
            }
            _ => return Err(Error::NotAContainer(if walked.is_empty() { "<root>".into() } else { walked })),
        };
        match seg {
            Seg::Key(k) if walked.is_empty() => walked.push_str(k),
            Seg::Key(k) => {
                walked.push('.');
                walked.push_str(k);
            }
            Seg::Index(i) => walked.push_str(&format!("[{i}]")),
        }
    }
    Ok(())
}

/// Removes `path`. Returns the removed value.
pub fn unset(root: &mut Value, path: &str) -> Result<Value, Error> {
    let mut segs = parse_path(path)?;
    let last = segs.pop().ok_or_else(|| Error::BadPath(path.to_string()))?;
    let mut cur = root;
    for seg in &segs {
        cur = match (seg, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get_mut(k),
            (Seg::Index(i), Value::Array(a)) => a.get_mut(*i),
            _ => None,
        }
        .ok_or_else(|| Error::NotFound(path.to_string()))?;
    }
    match (&last, cur) {
        (Seg::Key(k), Value::Object(m)) => m.remove(k),
        (Seg::Index(i), Value::Array(a)) if *i < a.len() => Some(a.remove(*i)),
        _ => None,
    }
    .ok_or_else(|| Error::NotFound(path.to_string()))
}

/// Parses a value given on the command line: JSON5 if it parses (numbers,
/// booleans, quoted strings, objects, lists), else the text as a string.
pub fn parse_cli_value(text: &str, strict_json: bool) -> Result<Value, String> {
    if strict_json {
        return serde_json::from_str(text).map_err(|e| format!("value is not valid JSON: {e}"));
    }
    Ok(json5::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("agents.list[0].id").unwrap(),
            vec![Seg::Key("agents".into()), Seg::Key("list".into()), Seg::Index(0), Seg::Key("id".into())]
        );
        for bad in ["", ".", "a..b", "a[x]", "a[0", "a[0]b", "[0]"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn get_set_unset() {
        let mut v = json!({});
        set(&mut v, "gateway.port", json!(19000)).unwrap();
        set(&mut v, "agents.list[0].id", json!("work")).unwrap();
        set(&mut v, "agents.list[1]", json!({"id": "x"})).unwrap();
        assert_eq!(v, json!({"gateway": {"port": 19000}, "agents": {"list": [{"id": "work"}, {"id": "x"}]}}));
        assert_eq!(get(&v, "agents.list[1].id").unwrap(), "x");
        assert_eq!(get(&v, "gateway.nope"), Err(Error::NotFound("gateway.nope".into())));
        assert!(matches!(set(&mut v, "gateway.port.x", json!(1)), Err(Error::NotAContainer(_))));
        assert!(set(&mut v, "agents.list[5].id", json!(1)).is_err());
        assert_eq!(unset(&mut v, "agents.list[0]").unwrap(), json!({"id": "work"}));
        assert_eq!(unset(&mut v, "gateway.port").unwrap(), json!(19000));
        assert!(unset(&mut v, "gateway.port").is_err());
    }

    #[test]
    fn cli_values() {
        assert_eq!(parse_cli_value("19000", false).unwrap(), json!(19000));
        assert_eq!(parse_cli_value("true", false).unwrap(), json!(true));
        assert_eq!(parse_cli_value("non-main", false).unwrap(), json!("non-main"));
        assert_eq!(parse_cli_value("{a: 1}", false).unwrap(), json!({"a": 1}));
        assert_eq!(parse_cli_value("\"42\"", false).unwrap(), json!("42"));
        assert!(parse_cli_value("{a: 1}", true).is_err());
    }
}
