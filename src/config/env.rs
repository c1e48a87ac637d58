//! The environment a config sees: `.env` files and `${VAR}` substitution.
//!
//! Nothing here reads or changes the process environment; callers pass the
//! environment in as a map and get the effective one back, so the rules can
//! be tested on plain data.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::paths::Env;

/// Parses a `.env` file: `KEY=value` lines, optional `export `, `#` comments,
/// single or double quotes (double quotes understand `\n`, `\t`, `\"`, `\\`).
/// Lines that are not assignments are returned as errors with their numbers.
pub fn parse_dotenv(text: &str) -> (BTreeMap<String, String>, Vec<usize>) {
    let mut vars = BTreeMap::new();
    let mut bad = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            bad.push(n + 1);
            continue;
        };
        let key = key.trim();
        if !is_env_name(key, false) {
            bad.push(n + 1);
            continue;
        }
        vars.insert(key.to_string(), unquote(value.trim()));
    }
    (vars, bad)
}

fn unquote(v: &str) -> String {
    let mut chars = v.chars();
    match chars.next() {
        Some(q @ ('"' | '\'')) => {
            let mut out = String::new();
            let mut escaped = false;
            for c in chars {
                if escaped {
                    out.push(match c {
                        'n' => '\n',
                        't' => '\t',
                        c => c,
                    });
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    return out;
                } else {
                    out.push(c);
                }
            }
            // No closing quote: keep the text as written.
            v.to_string()
        }
        _ => match v.find(" #") {
            Some(i) => v[..i].trim_end().to_string(),
            None => v.to_string(),
        },
    }
}

/// Whether `name` is an environment variable name. Substitution accepts only
/// upper-case names (`strict`); `.env` files accept any case.
pub fn is_env_name(name: &str, strict: bool) -> bool {
    let mut chars = name.chars();
    let first_ok = |c: char| c == '_' || if strict { c.is_ascii_uppercase() } else { c.is_ascii_alphabetic() };
    let rest_ok = |c: char| c == '_' || c.is_ascii_digit() || if strict { c.is_ascii_uppercase() } else { c.is_ascii_alphabetic() };
    matches!(chars.next(), Some(c) if first_ok(c)) && chars.all(rest_ok)
}

/// Adds `vars` to `env` where `env` has no value yet.
pub fn add_missing(env: &mut Env, vars: impl IntoIterator<Item = (String, String)>) {
    for (k, v) in vars {
        env.entry(k).or_insert(v);
    }
}

/// A `${VAR}` that could not be substituted.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingVar {
    pub name: String,
    pub path: String,
}

/// Replaces `${VAR}` in every string value (not in keys) of `value`.
/// `$${VAR}` stands for a literal `${VAR}`; names that are not upper-case
/// identifiers are left as written. Missing or empty variables are reported
/// with the config path of the string that names them.
pub fn substitute(value: &mut Value, env: &Env, path: &str, missing: &mut Vec<MissingVar>) {
    match value {
        Value::String(s)
            if s.contains("${") => {
                *s = substitute_str(s, env, path, missing);
            }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute(item, env, &format!("{path}[{i}]"), missing);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let child = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                substitute(v, env, &child, missing);
            }
        }
        _ => {}
    }
}

fn substitute_str(s: &str, env: &Env, path: &str, missing: &mut Vec<MissingVar>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            if let Some(end) = tail.find('}')
                && is_env_name(&tail[..end], true) {
                    out.push_str("${");
                    out.push_str(&tail[..=end]);
                    rest = &tail[end + 1..];
                    continue;
                }
        } else if let Some(tail) = after.strip_prefix("${")
            && let Some(end) = tail.find('}') {
                let name = &tail[..end];
                if is_env_name(name, true) {
                    match env.get(name).filter(|v| !v.is_empty()) {
                        Some(v) => out.push_str(v),
                        None => missing.push(MissingVar { name: name.to_string(), path: path.to_string() }),
                    }
                    rest = &tail[end + 1..];
                    continue;
                }
            }
        out.push('$');
        rest = &after[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn substitutes_inline_and_escapes() {
        let e = env(&[("BASE", "http://x"), ("EMPTY", "")]);
        let mut missing = Vec::new();
        let mut v = json!({"a": "${BASE}/v1", "b": "$${BASE}", "c": "${lower}", "d": ["$5", "${NOPE}"], "e": "${EMPTY}"});
        substitute(&mut v, &e, "", &mut missing);
        assert_eq!(v["a"], "http://x/v1");
        assert_eq!(v["b"], "${BASE}");
        assert_eq!(v["c"], "${lower}");
        assert_eq!(v["d"][0], "$5");
        assert_eq!(
            missing,
            vec![
                MissingVar { name: "NOPE".into(), path: "d[1]".into() },
                MissingVar { name: "EMPTY".into(), path: "e".into() }
            ]
        );
    }

    #[test]
    fn dotenv_lines() {
        let (vars, bad) = parse_dotenv("# c\nA=1\nexport B = \"x\\ny\" \nC='q # r'\nD=v # comment\nnot a line\n");
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "x\ny");
        assert_eq!(vars["C"], "q # r");
        assert_eq!(vars["D"], "v");
        assert_eq!(bad, vec![6]);
    }

    #[test]
    fn process_env_wins() {
        let mut e = env(&[("A", "process")]);
        add_missing(&mut e, [("A".to_string(), "file".to_string()), ("B".to_string(), "file".to_string())]);
        assert_eq!(e["A"], "process");
        assert_eq!(e["B"], "file");
    }
}
