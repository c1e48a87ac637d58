//! Reading a JSON value into typed config while recording every problem with
//! its full dotted path.
//!
//! The config schema is the code that reads it: each section is a function
//! that asks an [`Obj`] for its keys by name and type. Asking for a key marks
//! it known, so [`Obj::finish`] can report every key nobody asked for as
//! unrecognized (with a "did you mean" when one is close). Wrong types and bad
//! values are recorded in [`Cx`] and reading goes on, so one run reports every
//! problem. serde's derive cannot do this: it names neither the path nor the
//! position of a bad key.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Problems and warnings collected while reading, each with its path.
#[derive(Debug, Default)]
pub struct Cx {
    pub issues: Vec<(String, String)>,
    pub warnings: Vec<(String, String)>,
}

impl Cx {
    pub fn err(&mut self, path: &str, message: impl Into<String>) {
        self.issues.push((path.to_string(), message.into()));
    }

    pub fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.warnings.push((path.to_string(), message.into()));
    }
}

/// Joins a path and a key.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// A short description of a JSON value's type, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() > 40 => format!("{:?}…", s.chars().take(40).collect::<String>()),
        Value::Array(_) | Value::Object(_) => String::new(),
        other => other.to_string(),
    }
}

/// Reports that `v` at `path` has the wrong type.
pub fn wrong_type(cx: &mut Cx, path: &str, expected: &str, v: &Value) {
    let s = shown(v);
    if s.is_empty() {
        cx.err(path, format!("expected {expected}, got {}", kind(v)));
    } else {
        cx.err(path, format!("expected {expected}, got {} ({s})", kind(v)));
    }
}

/// An object being read. Keys that are asked for become known; the rest are
/// reported by [`Obj::finish`].
pub struct Obj<'v> {
    pub path: String,
    map: Option<&'v Map<String, Value>>,
    known: Vec<&'static str>,
    /// Set by [`Obj::rest`]: every key has been handed out.
    open: bool,
}

impl<'v> Obj<'v> {
    /// Wraps `v`, which may be absent; a value that is not an object is an error.
    pub fn new(cx: &mut Cx, v: Option<&'v Value>, path: &str) -> Obj<'v> {
        let map = match v {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                wrong_type(cx, path, "an object", other);
                None
            }
        };
        Obj { path: path.to_string(), map, known: Vec::new(), open: false }
    }

    /// Whether the object was present in the file.
    pub fn present(&self) -> bool {
        self.map.is_some()
    }

    /// The raw value of `key`, marking it known. `null` counts as absent.
    pub fn field(&mut self, key: &'static str) -> Option<&'v Value> {
        self.known.push(key);
        self.map?.get(key).filter(|v| !v.is_null())
    }

    pub fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub fn child(&mut self, cx: &mut Cx, key: &'static str) -> Obj<'v> {
        let v = self.field(key);
        Obj::new(cx, v, &self.at(key))
    }

    pub fn string(&mut self, cx: &mut Cx, key: &'static str) -> Option<String> {
        match self.field(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                wrong_type(cx, &self.at(key), "a string", other);
                None
            }
        }
    }

    /// A string that must not be empty or only whitespace.
    pub fn nonempty(&mut self, cx: &mut Cx, key: &'static str) -> Option<String> {
        let s = self.string(cx, key)?;
        if s.trim().is_empty() {
            cx.err(&self.at(key), "must not be empty");
            return None;
        }
        Some(s)
    }

    pub fn bool(&mut self, cx: &mut Cx, key: &'static str) -> Option<bool> {
        match self.field(key)? {
            Value::Bool(b) => Some(*b),
            other => {
                wrong_type(cx, &self.at(key), "true or false", other);
                None
            }
        }
    }

    /// A whole number within `min..=max`.
    pub fn uint(&mut self, cx: &mut Cx, key: &'static str, min: u64, max: u64) -> Option<u64> {
        let v = self.field(key)?;
        let path = self.at(key);
        uint_value(cx, &path, v, min, max)
    }

    /// Any number within `min..=max`.
    pub fn number(&mut self, cx: &mut Cx, key: &'static str, min: f64, max: f64) -> Option<f64> {
        let v = self.field(key)?;
        let path = self.at(key);
        match v.as_f64() {
            Some(n) if v.is_number() && n >= min && n <= max => Some(n),
            Some(n) if v.is_number() => {
                cx.err(&path, format!("must be between {min} and {max}, got {n}"));
                None
            }
            _ => {
                wrong_type(cx, &path, "a number", v);
                None
            }
        }
    }

    /// One of a fixed set of strings.
    pub fn choice<T: Copy>(&mut self, cx: &mut Cx, key: &'static str, choices: &[(&str, T)]) -> Option<T> {
        let v = self.field(key)?;
        let path = self.at(key);
        choice_value(cx, &path, v, choices)
    }

    /// An array of strings.
    pub fn strings(&mut self, cx: &mut Cx, key: &'static str) -> Option<Vec<String>> {
        let v = self.field(key)?;
        let path = self.at(key);
        strings_value(cx, &path, v)
    }

    /// An object whose values are all strings.
    pub fn string_map(&mut self, cx: &mut Cx, key: &'static str) -> Option<BTreeMap<String, String>> {
        let v = self.field(key)?;
        let path = self.at(key);
        let Value::Object(m) = v else {
            wrong_type(cx, &path, "an object of strings", v);
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, v) in m {
            match v {
                Value::String(s) => {
                    out.insert(k.clone(), s.clone());
                }
                other => wrong_type(cx, &join(&path, k), "a string", other),
            }
        }
        Some(out)
    }

    /// An object whose values are each read by `f(cx, path, value)`.
    pub fn map_of<T>(
        &mut self,
        cx: &mut Cx,
        key: &'static str,
        mut f: impl FnMut(&mut Cx, &str, &str, &'v Value) -> Option<T>,
    ) -> Option<BTreeMap<String, T>> {
        let v = self.field(key)?;
        let path = self.at(key);
        let Value::Object(m) = v else {
            wrong_type(cx, &path, "an object", v);
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, v) in m {
            if let Some(t) = f(cx, &join(&path, k), k, v) {
                out.insert(k.clone(), t);
            }
        }
        Some(out)
    }

    /// An array whose items are each read by `f(cx, path, value)`.
    pub fn list_of<T>(
        &mut self,
        cx: &mut Cx,
        key: &'static str,
        mut f: impl FnMut(&mut Cx, &str, &'v Value) -> Option<T>,
    ) -> Option<Vec<T>> {
        let v = self.field(key)?;
        let path = self.at(key);
        let Value::Array(items) = v else {
            wrong_type(cx, &path, "an array", v);
            return None;
        };
        Some(items.iter().enumerate().filter_map(|(i, v)| f(cx, &format!("{path}[{i}]"), v)).collect())
    }

    /// Keys that upstream OpenClaw knows but this build does not act on: they
    /// are accepted with one warning each, so an upstream file still loads.
    pub fn ignored(&mut self, cx: &mut Cx, keys: &[&'static str]) {
        for key in keys {
            if self.field(key).is_some() {
                cx.warn(&self.at(key), "not supported by this build; ignored");
            }
        }
    }

    /// Hands out every key not asked for so far, for objects whose keys are
    /// free-form (such as variables in the `env` block).
    pub fn rest(&mut self) -> Vec<(String, &'v Value)> {
        self.open = true;
        let Some(map) = self.map else { return Vec::new() };
        map.iter().filter(|(k, _)| !self.known.iter().any(|n| n == k)).map(|(k, v)| (k.clone(), v)).collect()
    }

    /// Reports every key that was never asked for.
    pub fn finish(self, cx: &mut Cx) {
        let Some(map) = self.map else { return };
        if self.open {
            return;
        }
        for key in map.keys() {
            if !self.known.iter().any(|k| k == key) {
                let mut message = "Unrecognized key".to_string();
                if let Some(near) = nearest(key, &self.known) {
                    message.push_str(&format!(" (did you mean \"{near}\"?)"));
                }
                cx.err(&join(&self.path, key), message);
            }
        }
    }
}

pub fn uint_value(cx: &mut Cx, path: &str, v: &Value, min: u64, max: u64) -> Option<u64> {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(u) if u >= min && u <= max => Some(u),
            Some(u) => {
                cx.err(path, format!("must be between {min} and {max}, got {u}"));
                None
            }
            None if n.is_i64() => {
                cx.err(path, format!("must be between {min} and {max}, got {n}"));
                None
            }
            None => {
                wrong_type(cx, path, "a whole number", v);
                None
            }
        },
        other => {
            wrong_type(cx, path, "a whole number", other);
            None
        }
    }
}

pub fn choice_value<T: Copy>(cx: &mut Cx, path: &str, v: &Value, choices: &[(&str, T)]) -> Option<T> {
    let list = choices.iter().map(|(s, _)| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
    match v {
        Value::String(s) => match choices.iter().find(|(name, _)| name == s) {
            Some((_, t)) => Some(*t),
            None => {
                cx.err(path, format!("invalid value \"{s}\": expected one of {list}"));
                None
            }
        },
        other => {
            wrong_type(cx, path, &format!("one of {list}"), other);
            None
        }
    }
}

pub fn strings_value(cx: &mut Cx, path: &str, v: &Value) -> Option<Vec<String>> {
    let Value::Array(items) = v else {
        wrong_type(cx, path, "an array of strings", v);
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) => out.push(s.clone()),
            other => wrong_type(cx, &format!("{path}[{i}]"), "a string", other),
        }
    }
    Some(out)
}

/// The known key closest to `key`, if it is close enough to be a typo.
fn nearest(key: &str, known: &[&'static str]) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_paths_types_and_unknown_keys() {
        let v = json!({"port": "80", "mode": "sometimes", "privilged": true, "tags": ["a", 1]});
        let mut cx = Cx::default();
        let mut o = Obj::new(&mut cx, Some(&v), "x.y");
        assert_eq!(o.uint(&mut cx, "port", 1, 65535), None);
        assert_eq!(o.choice(&mut cx, "mode", &[("off", 0), ("all", 1)]), None);
        assert_eq!(o.strings(&mut cx, "tags"), Some(vec!["a".to_string()]));
        o.bool(&mut cx, "privileged");
        o.finish(&mut cx);
        let msgs: Vec<String> = cx.issues.iter().map(|(p, m)| format!("{p}: {m}")).collect();
        assert_eq!(
            msgs,
            vec![
                "x.y.port: expected a whole number, got a string (\"80\")",
                "x.y.mode: invalid value \"sometimes\": expected one of \"off\", \"all\"",
                "x.y.tags[1]: expected a string, got an integer (1)",
                "x.y.privilged: Unrecognized key (did you mean \"privileged\"?)",
            ]
        );
    }

    #[test]
    fn negative_and_fractional_numbers() {
        let v = json!({"a": -1, "b": 1.5});
        let mut cx = Cx::default();
        let mut o = Obj::new(&mut cx, Some(&v), "");
        assert_eq!(o.uint(&mut cx, "a", 0, 10), None);
        assert_eq!(o.uint(&mut cx, "b", 0, 10), None);
        assert_eq!(cx.issues[0].1, "must be between 0 and 10, got -1");
        assert_eq!(cx.issues[1].1, "expected a whole number, got a number (1.5)");
    }

    #[test]
    fn ignored_keys_warn() {
        let v = json!({"heartbeat": {}});
        let mut cx = Cx::default();
        let mut o = Obj::new(&mut cx, Some(&v), "agents.defaults");
        o.ignored(&mut cx, &["heartbeat"]);
        o.finish(&mut cx);
        assert!(cx.issues.is_empty());
        assert_eq!(cx.warnings, vec![("agents.defaults.heartbeat".to_string(), "not supported by this build; ignored".to_string())]);
    }
}
