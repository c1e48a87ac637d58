//! The agent workspace's bootstrap files (reference §3.2) and the system prompt
//! built from them.
//!
//! A workspace is seeded once: each missing file of [`FILES`] is written with a
//! short default (never overwriting what the user has), `BOOTSTRAP.md` only
//! into a brand-new workspace, nothing at all under
//! `agents.defaults.skipBootstrap`. Every turn reads the files again (they are
//! small and the user edits them), each cut at [`MAX_FILE_CHARS`], into the
//! "Project Context" part of the system prompt, as upstream does.

use std::fs;
use std::io;
use std::path::Path;

use crate::fsutil;

/// Upstream's bootstrap files, in the order they appear in the prompt.
pub const FILES: &[&str] = &["AGENTS.md", "SOUL.md", "TOOLS.md", "IDENTITY.md", "USER.md", "HEARTBEAT.md", "BOOTSTRAP.md"];
/// Upstream's `bootstrapMaxChars` default: longer files are cut with a note.
pub const MAX_FILE_CHARS: usize = 20_000;

const AGENTS_MD: &str = "# AGENTS.md — how you work\n\n\
This folder is your workspace. Read SOUL.md (who you are), USER.md (who you help) and \
TOOLS.md (notes about your tools) at the start of a session; they are already included in \
your context.\n\n\
- Keep notes you need later in files here; you forget everything else between sessions.\n\
- Ask before doing anything destructive or anything that leaves this machine.\n\
- Prefer small, verifiable steps; say what you did and what you could not do.\n";
const SOUL_MD: &str = "# SOUL.md — who you are\n\n\
You are a helpful, direct personal assistant. Be concise, be honest about uncertainty, and \
have opinions when asked. Private things stay private.\n";
const TOOLS_MD: &str = "# TOOLS.md — notes about your tools\n\n\
Write down what you learn about this machine and its tools here (paths, hosts, quirks).\n";
const IDENTITY_MD: &str = "# IDENTITY.md\n\n- Name: (pick one with your human)\n- Emoji: (optional)\n";
const USER_MD: &str = "# USER.md — about your human\n\n- Name:\n- Timezone:\n- Preferences:\n";
const HEARTBEAT_MD: &str = "# HEARTBEAT.md\n\n\
Keep this file empty (or only comments) to skip heartbeat work.\n";
const BOOTSTRAP_MD: &str = "# BOOTSTRAP.md — first run\n\n\
This is a new workspace. Get to know your human: ask for their name and how they want you \
to work, then fill in IDENTITY.md and USER.md. Delete this file when you are done.\n";

fn default_text(name: &str) -> &'static str {
    match name {
        "AGENTS.md" => AGENTS_MD,
        "SOUL.md" => SOUL_MD,
        "TOOLS.md" => TOOLS_MD,
        "IDENTITY.md" => IDENTITY_MD,
        "USER.md" => USER_MD,
        "HEARTBEAT.md" => HEARTBEAT_MD,
        _ => BOOTSTRAP_MD,
    }
}

/// Creates the workspace folder and its missing bootstrap files (see the
/// module doc). Returns the files written.
pub fn seed(dir: &Path, skip: bool) -> io::Result<Vec<&'static str>> {
    let fresh = !dir.exists() || fs::read_dir(dir)?.next().is_none();
    fs::create_dir_all(dir)?;
    if skip {
        return Ok(Vec::new());
    }
    let mut written = Vec::new();
    for name in FILES {
        let path = dir.join(name);
        if (*name == "BOOTSTRAP.md" && !fresh) || fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        fsutil::write_atomic(&path, default_text(name).as_bytes())?;
        written.push(*name);
    }
    Ok(written)
}

/// What the system prompt says about where tools run.
pub struct PromptFacts<'a> {
    pub agent_id: &'a str,
    pub session_key: &'a str,
    /// The workspace as the tools see it (`/workspace` in a sandbox).
    pub workspace_shown: &'a str,
    pub sandboxed: bool,
    pub read_only: bool,
    pub tools: &'a [&'a str],
    pub now_iso: &'a str,
}

/// The system prompt: who and where the agent is, its tools, then the
/// workspace's bootstrap files read from `dir`.
pub fn system_prompt(dir: &Path, facts: &PromptFacts<'_>) -> String {
    let mut p = String::with_capacity(4096);
    p.push_str("You are a personal assistant running inside OpenClaw.\n\n");
    p.push_str("## Tooling\n");
    if facts.tools.is_empty() {
        p.push_str("No tools are available in this session.\n");
    } else {
        p.push_str("Tools available (call them by exact name): ");
        p.push_str(&facts.tools.join(", "));
        p.push_str(".\nUse `process` to follow up on commands `exec` moved to the background.\n");
    }
    p.push_str("\n## Workspace\n");
    p.push_str(&format!("Your working directory is {}.\n", facts.workspace_shown));
    if facts.sandboxed {
        p.push_str("You run in a sandboxed container: commands and file tools work inside it, with no network unless configured.\n");
    }
    if facts.read_only {
        p.push_str("The workspace is mounted read-only: write, edit and apply_patch are refused.\n");
    }
    p.push_str(&format!(
        "\n## Session\nAgent: {}. Session: {}. Current time: {}.\n",
        facts.agent_id, facts.session_key, facts.now_iso
    ));
    let mut context = String::new();
    for name in FILES {
        let Ok(text) = read_capped(&dir.join(name)) else { continue };
        if text.trim().is_empty() {
            continue;
        }
        context.push_str(&format!("\n## {name}\n\n{text}\n"));
    }
    if !context.is_empty() {
        p.push_str("\n# Project Context\n\nThe following workspace files are loaded:\n");
        p.push_str(&context);
    }
    p
}

/// A file's text cut at [`MAX_FILE_CHARS`] with a note; not a symlink, not huge.
fn read_capped(path: &Path) -> io::Result<String> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    use io::Read;
    fs::File::open(path)?.take((MAX_FILE_CHARS * 4) as u64).read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    match text.char_indices().nth(MAX_FILE_CHARS) {
        Some((at, _)) => Ok(format!(
            "{}\n…(truncated: {} is longer than {MAX_FILE_CHARS} characters)",
            &text[..at],
            path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
        )),
        None => Ok(text.into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("openclaw-boot-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn seeds_once_and_keeps_user_files() {
        let d = temp("seed");
        let written = seed(&d, false).unwrap();
        assert_eq!(written.len(), FILES.len());
        fs::write(d.join("SOUL.md"), "mine").unwrap();
        fs::remove_file(d.join("BOOTSTRAP.md")).unwrap();
        assert!(seed(&d, false).unwrap().is_empty(), "BOOTSTRAP.md is only for new workspaces");
        assert_eq!(fs::read_to_string(d.join("SOUL.md")).unwrap(), "mine");
        let e = temp("skip");
        assert!(seed(&e, true).unwrap().is_empty());
        assert!(e.is_dir());
        let _ = fs::remove_dir_all(&d);
        let _ = fs::remove_dir_all(&e);
    }

    #[test]
    fn prompt_includes_files_and_caps_them() {
        let d = temp("prompt");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("USER.md"), "Name: Ada").unwrap();
        fs::write(d.join("TOOLS.md"), "x".repeat(MAX_FILE_CHARS + 10)).unwrap();
        let facts = PromptFacts {
            agent_id: "main",
            session_key: "agent:main:main",
            workspace_shown: "/w",
            sandboxed: true,
            read_only: false,
            tools: &["exec", "read"],
            now_iso: "2026-01-01T00:00:00Z",
        };
        let p = system_prompt(&d, &facts);
        assert!(p.contains("## USER.md\n\nName: Ada"));
        assert!(p.contains("truncated: TOOLS.md"));
        assert!(p.contains("exec, read") && p.contains("sandboxed"));
        let _ = fs::remove_dir_all(&d);
    }
}
