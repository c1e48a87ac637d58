//! The file tools (`read`, `write`, `edit`) over a rooted workspace, the
//! JSON Schemas of every tool we offer, and small argument readers shared by
//! the tools. `exec`/`process` live in `exec.rs`/`process.rs`, `apply_patch`
//! in `patch.rs`; the session tools need the runtime and live there.

use serde_json::{Value, json};

use crate::agent::ToolOutput;
use crate::agent::provider::ToolSpec;
use crate::workspace::{self, Root};

/// The schema of every tool by name (`None` for names we do not implement).
pub fn spec(name: &str) -> Option<ToolSpec> {
    let s = |name: &str, description: &str, parameters: Value| ToolSpec {
        name: name.to_string(),
        description: description.to_string(),
        parameters,
    };
    Some(match name {
        "exec" => crate::agent::exec::spec(),
        "process" => crate::agent::process::spec(),
        "apply_patch" => crate::agent::patch::spec(),
        "read" => s(
            "read",
            "Read a text file in the workspace. Paths are relative to the workspace. Use offset (1-based line) and limit (lines) for long files.",
            json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "File path, relative to the workspace"},
                "offset": {"type": "integer", "description": "First line to read (1-based)"},
                "limit": {"type": "integer", "description": "How many lines to read"}},
                "required": ["path"]}),
        ),
        "write" => s(
            "write",
            "Create or replace a file in the workspace with the given content (parent folders are created).",
            json!({"type": "object", "properties": {
                "path": {"type": "string"}, "content": {"type": "string"}}, "required": ["path", "content"]}),
        ),
        "edit" => s(
            "edit",
            "Replace one exact, unique occurrence of oldText with newText in a workspace file.",
            json!({"type": "object", "properties": {
                "path": {"type": "string"}, "oldText": {"type": "string"}, "newText": {"type": "string"}},
                "required": ["path", "oldText", "newText"]}),
        ),
        "sessions_list" => s(
            "sessions_list",
            "List this agent's sessions (most recent first).",
            json!({"type": "object", "properties": {
                "kinds": {"type": "array", "items": {"type": "string", "enum": ["main", "group", "cron", "hook", "node", "other"]}},
                "activeMinutes": {"type": "integer"}, "limit": {"type": "integer"}}}),
        ),
        "sessions_history" => s(
            "sessions_history",
            "Read the recent messages of another session of this agent.",
            json!({"type": "object", "properties": {
                "sessionKey": {"type": "string"}, "limit": {"type": "integer"}, "includeTools": {"type": "boolean"}},
                "required": ["sessionKey"]}),
        ),
        "sessions_send" => s(
            "sessions_send",
            "Send a message to another session and wait for its reply (timeoutSeconds 0: do not wait).",
            json!({"type": "object", "properties": {
                "sessionKey": {"type": "string"}, "message": {"type": "string"}, "timeoutSeconds": {"type": "integer"}},
                "required": ["sessionKey", "message"]}),
        ),
        "sessions_spawn" => s(
            "sessions_spawn",
            "Start a sub-agent on a task in a new session; returns at once with its runId and childSessionKey.",
            json!({"type": "object", "properties": {
                "task": {"type": "string"}, "label": {"type": "string"}, "agentId": {"type": "string"}},
                "required": ["task"]}),
        ),
        "session_status" => s(
            "session_status",
            "Show the status of this session (or another one of this agent): model, tokens, sandbox.",
            json!({"type": "object", "properties": {"sessionKey": {"type": "string"}}}),
        ),
        _ => return None,
    })
}

/// `read`, `write` or `edit` on `root` (upstream's parameter names and the
/// Claude-style aliases `file_path`, `old_string`, `new_string`).
pub fn file_tool(name: &str, root: &Root, args: &Value) -> ToolOutput {
    let path = match str_arg(args, &["path", "file_path"]) {
        Some(p) => p,
        None => return ToolOutput::error(format!("{name}: \"path\" is required (a string)")),
    };
    let result = match name {
        "read" => {
            let offset = uint_arg(args, "offset").map(|n| n as usize);
            let limit = uint_arg(args, "limit").map(|n| n as usize);
            root.read(path, offset, limit, workspace::DEFAULT_READ_MAX_BYTES)
        }
        "write" => match str_arg(args, &["content"]) {
            Some(content) => root.write(path, content).map(|n| format!("Successfully wrote {n} bytes to {path}")),
            None => return ToolOutput::error("write: \"content\" is required (a string)"),
        },
        "edit" => {
            let (Some(old), Some(new)) =
                (str_arg(args, &["oldText", "old_string"]), str_arg(args, &["newText", "new_string"]))
            else {
                return ToolOutput::error("edit: \"oldText\" and \"newText\" are required (strings)");
            };
            root.edit(path, old, new).map(|()| format!("Successfully replaced text in {path}."))
        }
        _ => return ToolOutput::error(format!("{name} is not a file tool")),
    };
    match result {
        Ok(text) => ToolOutput::ok(text),
        Err(e) => ToolOutput::error(e.to_string()),
    }
}

/// The first of `keys` that is a string.
pub fn str_arg<'a>(args: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| args.get(*k).and_then(Value::as_str))
}

/// A non-negative integer (also given as a numeric string or a float).
pub fn uint_arg(args: &Value, key: &str) -> Option<u64> {
    match args.get(key)? {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_has_a_schema() {
        for t in crate::agent::policy::BUILTIN_TOOLS {
            let s = spec(t).unwrap();
            assert_eq!(&s.name, t);
            assert_eq!(s.parameters["type"], "object");
        }
        assert!(spec("browser").is_none());
    }

    #[test]
    fn file_tools_with_aliases_and_errors() {
        let d = std::env::temp_dir().join(format!("openclaw-tools-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let root = Root::open(&d, workspace::Access::ReadWrite, None).unwrap();
        let w = file_tool("write", &root, &json!({"path": "a/b.txt", "content": "one\ntwo\n"}));
        assert!(!w.is_error, "{w:?}");
        let e = file_tool("edit", &root, &json!({"file_path": "a/b.txt", "old_string": "two", "new_string": "2"}));
        assert!(!e.is_error, "{e:?}");
        let r = file_tool("read", &root, &json!({"path": "a/b.txt"}));
        assert!(r.text.contains("one\n2"), "{r:?}");
        assert!(file_tool("read", &root, &json!({"path": "../../etc/passwd"})).is_error);
        assert!(file_tool("read", &root, &json!({})).text.contains("\"path\" is required"));
        assert!(file_tool("edit", &root, &json!({"path": "a/b.txt", "oldText": "zzz", "newText": "y"})).is_error);
        let ro = Root::open(&d, workspace::Access::ReadOnly, None).unwrap();
        assert!(file_tool("write", &ro, &json!({"path": "x", "content": ""})).is_error);
        let _ = std::fs::remove_dir_all(&d);
    }
}
