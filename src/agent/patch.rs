//! The agent's `apply_patch` tool: the patch format of OpenAI Codex (and of
//! upstream OpenClaw's tool of that name), applied to files in a workspace.
//!
//! ```text
//! *** Begin Patch
//! *** Add File: path/new.txt
//! +line one
//! *** Update File: path/existing.rs
//! *** Move to: path/renamed.rs
//! @@ fn main() {
//!  context line
//! -removed line
//! +added line
//! *** End of File
//! *** Delete File: path/old.txt
//! *** End Patch
//! ```
//!
//! [`parse`] turns the text into a [`Patch`] and does no I/O. [`apply`] works
//! in two phases: it first reads every file the patch updates and computes
//! every new content, checking that added files do not exist and that
//! updated, moved and deleted ones do; only when the whole patch holds does
//! it write, one atomic file operation after another. A failure in that
//! second phase (an I/O error, or the sandbox changing files meanwhile) can
//! leave the patch partly applied; the error then lists what was done.
//!
//! Hunks are found as Codex finds them: the context and removed lines of each
//! hunk, in order, searching forward from the end of the previous hunk; an
//! `@@ header` first moves the search past the next line equal to the header;
//! `*** End of File` requires the lines to end the file. Each search compares
//! lines exactly, then ignoring trailing whitespace, then ignoring leading
//! and trailing whitespace, then also mapping typographic dashes, quotes and
//! spaces to ASCII. Where this module differs from Codex, on purpose: adding
//! a file that exists and moving onto an existing file are errors rather
//! than overwrites; a hunk of only added lines under an `@@ header` goes
//! right after the header line (Codex appends it to the file); CRLF files
//! stay CRLF; a unified-diff header (`@@ -3,7 +3,8 @@ fn x`) is read as its
//! trailing text; blank lines between file operations are skipped.
//!
//! Every file access goes through [`Root`], so paths are confined to the
//! workspace (no `..`, outside absolute paths or symlinks) and a read-only
//! workspace refuses the patch. Memory is bounded: the patch text by
//! [`MAX_PATCH_BYTES`], each file by [`MAX_EDIT_BYTES`], and all the new
//! content one patch computes by [`MAX_PATCH_OUTPUT_BYTES`].
//!
//! Not here: tool policy (whether the tool is offered), and files outside a
//! workspace.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::agent::ToolOutput;
use crate::agent::provider::ToolSpec;
use crate::workspace::{self, Access, MAX_EDIT_BYTES, Root};

/// The longest patch text accepted.
pub const MAX_PATCH_BYTES: usize = 4 * 1024 * 1024;
/// The most bytes of new file content one patch may compute before writing.
pub const MAX_PATCH_OUTPUT_BYTES: usize = 4 * MAX_EDIT_BYTES;

/// A parsed patch: file operations in the order they are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub ops: Vec<Op>,
}

/// One file operation of a patch. Paths are as written in the patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `*** Add File:` — a new file; every `+` line becomes a line of it.
    Add { path: String, content: String },
    /// `*** Delete File:`.
    Delete { path: String },
    /// `*** Update File:`, optionally `*** Move to:`, then hunks.
    Update { path: String, move_to: Option<String>, hunks: Vec<Hunk> },
}

/// One change inside an updated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// The text after `@@ `: the hunk is looked for after the next line equal to it.
    pub context: Option<String>,
    /// Context and removed lines: what the file holds now.
    pub old: Vec<String>,
    /// Context and added lines: what it holds afterwards.
    pub new: Vec<String>,
    /// `*** End of File`: `old` must end the file.
    pub end_of_file: bool,
}

/// What an applied patch changed, paths as written in the patch (a moved
/// file is listed under its new path). Displays as Codex's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub deleted: Vec<String>,
}

/// Why a patch was refused or failed. Each message starts with
/// `apply_patch:`, names the problem and how to fix it; paths are shortened
/// and control characters escaped.
#[derive(Debug)]
#[non_exhaustive]
pub enum PatchError {
    /// The patch text is larger than [`MAX_PATCH_BYTES`].
    TooLarge { bytes: usize },
    /// The patch text is empty or blank.
    Empty,
    /// The first line is not `*** Begin Patch`.
    NoBegin { first: String },
    /// The last line is not `*** End Patch`.
    NoEnd { last: String },
    /// Nothing between the markers.
    NoOperations,
    /// A malformed line; `line` counts from 1 in the patch text.
    Syntax { line: usize, message: String },
    /// `*** Add File:` of a path that exists.
    AddExisting { path: String },
    /// `op` ("update", "delete") of a file that does not exist.
    Missing { op: &'static str, path: String },
    /// `*** Move to:` a path that exists.
    MoveOntoExisting { from: String, to: String },
    /// A file would be created below `parent`, which is a file.
    ParentNotFolder { path: String, parent: String },
    /// No line equal to a hunk's `@@` header after the previous hunk.
    ContextNotFound { path: String, context: String },
    /// A hunk's context and removed lines are not in the file.
    LinesNotFound { path: String, expected: Vec<String>, end_of_file: bool },
    /// The file is, or would become, larger than [`MAX_EDIT_BYTES`].
    FileTooLarge { path: String },
    /// An updated file is not UTF-8 text.
    NotUtf8 { path: String },
    /// The new contents add up to more than [`MAX_PATCH_OUTPUT_BYTES`].
    OutputTooLarge,
    /// The workspace refused or failed an operation before anything was written.
    Workspace(workspace::Error),
    /// Writing failed after the changes in `done` were made.
    Partial { done: Vec<String>, err: workspace::Error },
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "apply_patch: ")?;
        match self {
            PatchError::TooLarge { bytes } => write!(
                f,
                "the patch is {bytes} bytes, over the limit of {MAX_PATCH_BYTES}; split it into several smaller patches"
            ),
            PatchError::Empty => write!(
                f,
                "the patch is empty; pass the whole patch, from \"*** Begin Patch\" to \"*** End Patch\", in \"input\""
            ),
            PatchError::NoBegin { first } => write!(
                f,
                "the patch must start with \"*** Begin Patch\" (its first line is \"{first}\"); \
                 pass the whole patch, from \"*** Begin Patch\" to \"*** End Patch\", in \"input\""
            ),
            PatchError::NoEnd { last } => write!(
                f,
                "the patch must end with a line \"*** End Patch\" (its last line is \"{last}\"); \
                 add it after the last change, with nothing after it"
            ),
            PatchError::NoOperations => write!(
                f,
                "the patch has no file operations, so no files were modified; put \"*** Add File: <path>\", \
                 \"*** Update File: <path>\" or \"*** Delete File: <path>\" sections between the markers"
            ),
            PatchError::Syntax { line, message } => write!(f, "invalid patch at line {line}: {message}"),
            PatchError::AddExisting { path } => write!(
                f,
                "cannot add {path}: it already exists; use \"*** Update File: {path}\" to change it, \
                 or delete it first in the same patch"
            ),
            PatchError::Missing { op, path } => write!(
                f,
                "cannot {op} {path}: the file does not exist; check the path (relative to the workspace root), \
                 or use \"*** Add File: {path}\" to create it"
            ),
            PatchError::MoveOntoExisting { from, to } => write!(
                f,
                "cannot move {from} to {to}: {to} already exists; delete it first in the same patch, or choose another name"
            ),
            PatchError::ParentNotFolder { path, parent } => {
                write!(f, "cannot create {path}: {parent} is a file, not a folder; choose another path")
            }
            PatchError::ContextNotFound { path, context } => write!(
                f,
                "could not find the line \"{context}\" (from \"@@ {context}\") in {path} after the previous hunk; \
                 re-read the file and use a line that is in it, or a bare \"@@\""
            ),
            PatchError::LinesNotFound { path, expected, end_of_file } => {
                let at_end = if *end_of_file { " at the end of the file" } else { "" };
                writeln!(f, "could not find the expected lines in {path}{at_end}:")?;
                write_excerpt(f, expected)?;
                write!(
                    f,
                    "\nNo files were modified. Re-read {path} and copy the context (' ') and removed ('-') lines \
                     exactly, in file order."
                )
            }
            PatchError::FileTooLarge { path } => write!(
                f,
                "{path} is, or would become, larger than {MAX_EDIT_BYTES} bytes, the most apply_patch handles; \
                 change it with another tool"
            ),
            PatchError::NotUtf8 { path } => {
                write!(f, "{path} is not UTF-8 text and cannot be patched; replace it with the write tool")
            }
            PatchError::OutputTooLarge => write!(
                f,
                "the patch would write more than {MAX_PATCH_OUTPUT_BYTES} bytes of files; split it into smaller patches"
            ),
            PatchError::Workspace(err) => write!(f, "{err}"),
            PatchError::Partial { done, err } => write!(
                f,
                "{err}. The patch was only partly applied; done before the failure: {}. \
                 Re-read these files before patching them again",
                done.join(", ")
            ),
        }
    }
}

impl std::error::Error for PatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: the workspace error's text is already in ours.
            PatchError::Workspace(err) | PatchError::Partial { err, .. } => std::error::Error::source(err),
            _ => None,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Success. Updated the following files:")?;
        for (mark, paths) in [("A", &self.added), ("M", &self.modified), ("D", &self.deleted)] {
            for path in paths {
                write!(f, "\n{mark} {path}")?;
            }
        }
        Ok(())
    }
}

/// The tool's name, description and JSON Schema.
pub fn spec() -> ToolSpec {
    ToolSpec {
        name: "apply_patch".to_string(),
        description: "Apply a patch that adds, updates, moves or deletes files in the workspace. \
            `input` holds the whole patch, for example:\n\
            *** Begin Patch\n\
            *** Add File: path/new.txt\n\
            +first line of the new file\n\
            *** Update File: path/file.py\n\
            *** Move to: path/renamed.py   (optional)\n\
            @@ def main():   (optional: a line above the change)\n \
            unchanged line (starts with a space)\n\
            -removed line\n\
            +added line\n\
            *** Delete File: path/old.txt\n\
            *** End Patch\n\
            Paths are relative to the workspace root. Give about three unchanged lines around each change; \
            several @@ hunks per file go in file order. The whole patch is checked before any file is written."
            .to_string(),
        parameters: json!({
            "type": "object",
            "properties": {
                "input": {
                    "type": "string",
                    "description": "The patch text, from \"*** Begin Patch\" to \"*** End Patch\"."
                }
            },
            "required": ["input"]
        }),
    }
}

/// Runs the tool: the patch in `args["input"]` (or `args["patch"]`, or
/// `args` itself when it is a string) applied under `root`.
pub fn tool(root: &Root, args: &Value) -> ToolOutput {
    let text = match args {
        Value::String(s) => Some(s.as_str()),
        _ => args.get("input").or_else(|| args.get("patch")).and_then(Value::as_str),
    };
    let Some(text) = text else {
        return ToolOutput::error(
            "apply_patch: missing \"input\"; pass the whole patch text, from \"*** Begin Patch\" to \
             \"*** End Patch\", as the string parameter \"input\"",
        );
    };
    if root.access() == Access::ReadOnly {
        // Said before any parse error, so the model does not fix a patch that cannot apply.
        let first = parse(text).ok().and_then(|p| p.ops.first().map(|op| shown(op.path())));
        let err = workspace::Error::ReadOnly { path: first.unwrap_or_else(|| "the workspace".to_string()) };
        return ToolOutput::error(PatchError::Workspace(err).to_string());
    }
    match parse(text).and_then(|patch| apply(root, &patch)) {
        Ok(summary) => ToolOutput::ok(summary.to_string()),
        Err(err) => ToolOutput::error(err.to_string()),
    }
}

/// Parses patch text. A heredoc wrapper (`<<'EOF'` … `EOF`, as in a shell
/// call of Codex's `apply_patch`) around the markers is accepted, and CRLF
/// line ends are.
pub fn parse(text: &str) -> Result<Patch, PatchError> {
    if text.len() > MAX_PATCH_BYTES {
        return Err(PatchError::TooLarge { bytes: text.len() });
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(PatchError::Empty);
    }
    let leading_lines = text[..text.len() - text.trim_start().len()].matches('\n').count();
    let lines: Vec<&str> = trimmed.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let (body, skip) = match check_markers(&lines) {
        Ok(()) => (&lines[1..lines.len() - 1], 1),
        Err(err) => {
            let last = lines[lines.len() - 1].trim_end();
            if lines.len() < 4 || !is_heredoc_start(lines[0]) || !last.ends_with("EOF") {
                return Err(err);
            }
            let inner = &lines[1..lines.len() - 1];
            check_markers(inner)?;
            (&inner[1..inner.len() - 1], 2)
        }
    };
    let mut parser = Parser { lines: body, pos: 0, first_line: leading_lines + skip + 1 };
    let mut ops = Vec::new();
    while let Some(op) = parser.op()? {
        ops.push(op);
    }
    if ops.is_empty() {
        return Err(PatchError::NoOperations);
    }
    Ok(Patch { ops })
}

/// Applies `patch` under `root`: every change is computed and checked
/// first, then written (see the module doc).
pub fn apply(root: &Root, patch: &Patch) -> Result<Summary, PatchError> {
    if root.access() == Access::ReadOnly {
        let path = patch.ops.first().map_or_else(|| "the workspace".to_string(), |op| shown(op.path()));
        return Err(PatchError::Workspace(workspace::Error::ReadOnly { path }));
    }
    let plan = plan(root, patch)?;
    let mut done = Vec::new();
    for step in &plan.steps {
        let result = match step {
            Step::Write { path, content } => root.write(path, content).map(|_| ()),
            Step::Remove { path } => root.remove(path),
            Step::Rename { from, to } => root.rename(from, to),
        };
        if let Err(err) = result {
            return Err(if done.is_empty() { PatchError::Workspace(err) } else { PatchError::Partial { done, err } });
        }
        done.push(step.to_string());
    }
    Ok(plan.summary)
}

impl Op {
    /// The path the operation names first (the source of a move).
    pub fn path(&self) -> &str {
        match self {
            Op::Add { path, .. } | Op::Delete { path } | Op::Update { path, .. } => path,
        }
    }
}

const BEGIN: &str = "*** Begin Patch";
const END: &str = "*** End Patch";
const ADD: &str = "*** Add File:";
const DELETE: &str = "*** Delete File:";
const UPDATE: &str = "*** Update File:";
const MOVE: &str = "*** Move to:";
const END_OF_FILE: &str = "*** End of File";

/// Checks that `lines` start with `*** Begin Patch` and end with `*** End Patch`.
fn check_markers(lines: &[&str]) -> Result<(), PatchError> {
    let first = lines.first().map_or("", |l| l.trim());
    if first != BEGIN {
        return Err(PatchError::NoBegin { first: excerpt(first) });
    }
    let last = lines.last().map_or("", |l| l.trim());
    if lines.len() < 2 || last != END {
        return Err(PatchError::NoEnd { last: excerpt(last) });
    }
    Ok(())
}

/// `<<EOF`, `<<'EOF'` or `<<"EOF"`, optionally after `apply_patch`.
fn is_heredoc_start(line: &str) -> bool {
    let t = line.trim();
    let t = t.strip_prefix("apply_patch").map_or(t, str::trim_start);
    matches!(t, "<<EOF" | "<<'EOF'" | "<<\"EOF\"")
}

/// Reads file operations from the lines between the markers.
struct Parser<'a> {
    lines: &'a [&'a str],
    pos: usize,
    /// The line number (from 1) of `lines[0]` in the patch text.
    first_line: usize,
}

impl<'a> Parser<'a> {
    /// The next operation, or `None` at the end.
    fn op(&mut self) -> Result<Option<Op>, PatchError> {
        while self.peek().is_some_and(|l| l.trim().is_empty()) {
            self.pos += 1;
        }
        let Some(line) = self.peek() else { return Ok(None) };
        let header = line.trim();
        let line_no = self.line_no();
        self.pos += 1;
        if let Some(rest) = header.strip_prefix(ADD) {
            let path = op_path(rest, line_no, ADD)?;
            let mut content = String::new();
            while let Some(added) = self.peek().and_then(|l| l.strip_prefix('+')) {
                content.push_str(added);
                content.push('\n');
                self.pos += 1;
            }
            return Ok(Some(Op::Add { path, content }));
        }
        if let Some(rest) = header.strip_prefix(DELETE) {
            return Ok(Some(Op::Delete { path: op_path(rest, line_no, DELETE)? }));
        }
        if let Some(rest) = header.strip_prefix(UPDATE) {
            let path = op_path(rest, line_no, UPDATE)?;
            let mut move_to = None;
            if let Some(rest) = self.peek().and_then(|l| l.trim().strip_prefix(MOVE)) {
                move_to = Some(op_path(rest, self.line_no(), MOVE)?);
                self.pos += 1;
            }
            let mut hunks = Vec::new();
            loop {
                while self.peek().is_some_and(|l| l.trim().is_empty()) {
                    self.pos += 1;
                }
                match self.peek() {
                    Some(l) if !l.trim_start().starts_with("***") => hunks.push(self.hunk(&path, hunks.is_empty())?),
                    _ => break,
                }
            }
            if hunks.is_empty() {
                return Err(PatchError::Syntax {
                    line: line_no,
                    message: format!(
                        "\"{UPDATE} {}\" has no changes; follow it with a hunk of ' ', '-' and '+' lines, or drop it",
                        shown(&path)
                    ),
                });
            }
            return Ok(Some(Op::Update { path, move_to, hunks }));
        }
        Err(PatchError::Syntax {
            line: line_no,
            message: format!(
                "\"{}\" is not a file operation; expected \"{ADD} <path>\", \"{UPDATE} <path>\" or \"{DELETE} <path>\"",
                excerpt(line)
            ),
        })
    }

    /// One hunk of an update; without an `@@` line only as the file's first hunk.
    fn hunk(&mut self, path: &str, first: bool) -> Result<Hunk, PatchError> {
        let start_no = self.line_no();
        let line = self.peek().unwrap_or_default();
        let mut hunk = Hunk { context: None, old: Vec::new(), new: Vec::new(), end_of_file: false };
        if let Some(context) = hunk_header(line) {
            hunk.context = context.map(str::to_string);
            self.pos += 1;
        } else if !first {
            return Err(PatchError::Syntax {
                line: start_no,
                message: format!(
                    "unexpected line \"{}\" in the changes to {}: a hunk's lines start with ' ' (unchanged), \
                     '-' (removed) or '+' (added), and a new hunk starts with \"@@\"",
                    excerpt(line),
                    shown(path)
                ),
            });
        }
        let mut count = 0;
        while let Some(line) = self.peek() {
            if line.trim() == END_OF_FILE {
                if count == 0 {
                    break;
                }
                hunk.end_of_file = true;
                self.pos += 1;
                break;
            }
            match line.chars().next() {
                None => {
                    hunk.old.push(String::new());
                    hunk.new.push(String::new());
                }
                Some(' ') => {
                    hunk.old.push(line[1..].to_string());
                    hunk.new.push(line[1..].to_string());
                }
                Some('-') => hunk.old.push(line[1..].to_string()),
                Some('+') => hunk.new.push(line[1..].to_string()),
                Some(_) if count == 0 => {
                    return Err(PatchError::Syntax {
                        line: self.line_no(),
                        message: format!(
                            "unexpected line \"{}\" in the changes to {}: every line of a hunk starts with \
                             ' ' (unchanged), '-' (removed) or '+' (added)",
                            excerpt(line),
                            shown(path)
                        ),
                    });
                }
                // The start of the next hunk or file operation.
                Some(_) => break,
            }
            count += 1;
            self.pos += 1;
        }
        if count == 0 {
            return Err(PatchError::Syntax {
                line: start_no,
                message: format!(
                    "a hunk of the changes to {} has no lines; add ' ', '-' and '+' lines after \"@@\"",
                    shown(path)
                ),
            });
        }
        Ok(hunk)
    }

    fn peek(&self) -> Option<&'a str> {
        self.lines.get(self.pos).copied()
    }

    fn line_no(&self) -> usize {
        self.first_line + self.pos
    }
}

/// The path after an operation marker.
fn op_path(rest: &str, line: usize, marker: &str) -> Result<String, PatchError> {
    let path = rest.trim();
    if path.is_empty() {
        return Err(PatchError::Syntax { line, message: format!("\"{marker}\" needs a path after it") });
    }
    Ok(path.to_string())
}

/// `Some(context)` when `line` starts a hunk: `@@`, `@@ text` or a unified
/// diff header `@@ -1,3 +1,4 @@ text`; the context is `None` when there is no text.
fn hunk_header(line: &str) -> Option<Option<&str>> {
    let line = line.trim_end();
    if line == "@@" {
        return Some(None);
    }
    let rest = line.strip_prefix("@@ ")?;
    let rest = strip_unified_range(rest).unwrap_or(rest);
    Some(Some(rest).filter(|r| !r.trim().is_empty()))
}

/// The text after `-a[,b] +c[,d] @@` at the start of `s`, if it starts so.
fn strip_unified_range(s: &str) -> Option<&str> {
    fn range(s: &str, sign: char) -> Option<&str> {
        let s = s.strip_prefix(sign)?;
        let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let n = digits(s);
        if n == 0 {
            return None;
        }
        let s = &s[n..];
        match s.strip_prefix(',') {
            Some(t) if digits(t) > 0 => Some(&t[digits(t)..]),
            Some(_) => None,
            None => Some(s),
        }
    }
    let s = range(s, '-')?.strip_prefix(' ')?;
    let s = range(s, '+')?.strip_prefix(" @@")?;
    Some(s.strip_prefix(' ').unwrap_or(s))
}

/// What a checked patch will do: its writes in order, and the summary.
struct Plan {
    steps: Vec<Step>,
    summary: Summary,
}

/// One atomic file operation; paths are relative to the root.
enum Step {
    Write { path: String, content: String },
    Remove { path: String },
    Rename { from: String, to: String },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Write { path, .. } => write!(f, "wrote {}", shown(path)),
            Step::Remove { path } => write!(f, "deleted {}", shown(path)),
            Step::Rename { from, to } => write!(f, "moved {} to {}", shown(from), shown(to)),
        }
    }
}

/// Checks `patch` against the files and computes every new content, writing nothing.
fn plan(root: &Root, patch: &Patch) -> Result<Plan, PatchError> {
    let mut steps: Vec<Step> = Vec::new();
    let mut summary = Summary::default();
    // Files the patch has already changed, by host path: the step that
    // writes their content, or `None` once deleted or moved away.
    let mut state: HashMap<PathBuf, Option<usize>> = HashMap::new();
    let mut total = 0usize;
    let resolve = |path: &str| root.resolve(path).map_err(PatchError::Workspace);
    for op in &patch.ops {
        match op {
            Op::Add { path, content } => {
                let host = resolve(path)?;
                if exists(&state, &host, path)? {
                    return Err(PatchError::AddExisting { path: shown(path) });
                }
                check_parents(root, &state, &host, path)?;
                total = add_output(total, content.len())?;
                state.insert(host, Some(steps.len()));
                steps.push(Step::Write { path: path.clone(), content: content.clone() });
                note(&mut summary.added, path);
            }
            Op::Delete { path } => {
                let host = resolve(path)?;
                if !exists(&state, &host, path)? {
                    return Err(PatchError::Missing { op: "delete", path: shown(path) });
                }
                state.insert(host, None);
                steps.push(Step::Remove { path: path.clone() });
                note(&mut summary.deleted, path);
            }
            Op::Update { path, move_to, hunks } => {
                let host = resolve(path)?;
                let missing = || PatchError::Missing { op: "update", path: shown(path) };
                let read;
                let old = match state.get(&host) {
                    Some(Some(step)) => match &steps[*step] {
                        Step::Write { content, .. } => content.as_str(),
                        _ => unreachable!("state points at writes only"),
                    },
                    Some(None) => return Err(missing()),
                    None => {
                        read = root.read_text(path).map_err(|err| match err {
                            workspace::Error::NotFound { .. } => missing(),
                            workspace::Error::FileTooLarge { .. } => PatchError::FileTooLarge { path: shown(path) },
                            workspace::Error::NotUtf8 { .. } => PatchError::NotUtf8 { path: shown(path) },
                            err => PatchError::Workspace(err),
                        })?;
                        read.as_str()
                    }
                };
                let content = apply_hunks(old, hunks, path)?;
                if content.len() > MAX_EDIT_BYTES {
                    return Err(PatchError::FileTooLarge { path: shown(path) });
                }
                total = add_output(total, content.len())?;
                let dest = match move_to {
                    Some(to) => {
                        let to_host = resolve(to)?;
                        (to_host != host).then_some((to, to_host))
                    }
                    None => None,
                };
                let write = steps.len();
                steps.push(Step::Write { path: path.clone(), content });
                match dest {
                    Some((to, to_host)) => {
                        if exists(&state, &to_host, to)? {
                            return Err(PatchError::MoveOntoExisting { from: shown(path), to: shown(to) });
                        }
                        check_parents(root, &state, &to_host, to)?;
                        // Move the file the write went to, not a symlink naming it.
                        let from = host.strip_prefix(root.path()).ok().and_then(Path::to_str).filter(|s| !s.is_empty());
                        steps.push(Step::Rename { from: from.unwrap_or(path).to_string(), to: to.clone() });
                        state.insert(host, None);
                        state.insert(to_host, Some(write));
                        note(&mut summary.modified, to);
                    }
                    None => {
                        state.insert(host, Some(write));
                        note(&mut summary.modified, move_to.as_ref().unwrap_or(path));
                    }
                }
            }
        }
    }
    Ok(Plan { steps, summary })
}

/// Whether there is a file at `host`: as the patch left it so far, else on disk.
fn exists(state: &HashMap<PathBuf, Option<usize>>, host: &Path, path: &str) -> Result<bool, PatchError> {
    if let Some(entry) = state.get(host) {
        return Ok(entry.is_some());
    }
    match fs::symlink_metadata(host) {
        Ok(meta) if meta.is_dir() => Err(PatchError::Workspace(workspace::Error::IsDirectory { path: shown(path) })),
        Ok(_) => Ok(true),
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => Ok(false),
        Err(err) => Err(PatchError::Workspace(workspace::Error::Io { op: "look up", path: shown(path), err })),
    }
}

/// Refuses to create a file at `host` when one of its would-be parent
/// folders is a file (on disk, or written by the patch).
fn check_parents(root: &Root, state: &HashMap<PathBuf, Option<usize>>, host: &Path, path: &str) -> Result<(), PatchError> {
    let not_folder = |dir: &Path| PatchError::ParentNotFolder {
        path: shown(path),
        parent: shown(&dir.strip_prefix(root.path()).unwrap_or(dir).to_string_lossy()),
    };
    let mut dir = host.parent();
    while let Some(d) = dir.filter(|d| d.starts_with(root.path()) && *d != root.path()) {
        match state.get(d) {
            Some(Some(_)) => return Err(not_folder(d)),
            Some(None) => {}
            None => match fs::symlink_metadata(d) {
                Ok(meta) if meta.is_dir() => return Ok(()),
                Ok(_) => return Err(not_folder(d)),
                Err(_) => {}
            },
        }
        dir = d.parent();
    }
    Ok(())
}

fn add_output(total: usize, len: usize) -> Result<usize, PatchError> {
    let total = total + len;
    if total > MAX_PATCH_OUTPUT_BYTES {
        return Err(PatchError::OutputTooLarge);
    }
    Ok(total)
}

/// Adds `path` to a summary list once.
fn note(list: &mut Vec<String>, path: &str) {
    let path = shown(path);
    if !list.contains(&path) {
        list.push(path);
    }
}

/// The new text of a file: `hunks` applied to `text`. Lines keep the file's
/// line ends (`\r\n` when every line ends so); the result ends with a line end.
fn apply_hunks(text: &str, hunks: &[Hunk], path: &str) -> Result<String, PatchError> {
    let crlf = text.contains("\r\n") && text.matches('\n').count() == text.matches("\r\n").count();
    let mut lines: Vec<&str> = text.split('\n').map(|l| if crlf { l.strip_suffix('\r').unwrap_or(l) } else { l }).collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    // (start, old line count, new lines), found in patch order.
    let mut replacements: Vec<(usize, usize, &[String])> = Vec::new();
    let mut at = 0;
    for hunk in hunks {
        if let Some(context) = &hunk.context {
            let Some(i) = seek(&lines, std::slice::from_ref(context), at, false) else {
                return Err(PatchError::ContextNotFound { path: shown(path), context: excerpt(context) });
            };
            at = i + 1;
        }
        if hunk.old.is_empty() {
            // Only added lines: right after the header, else at the end
            // (before a last blank line, as Codex does).
            let pos = match hunk.context {
                Some(_) => at,
                None if lines.last() == Some(&"") => lines.len() - 1,
                None => lines.len(),
            };
            replacements.push((pos.max(at), 0, &hunk.new[..]));
            continue;
        }
        let (mut old, mut new) = (&hunk.old[..], &hunk.new[..]);
        let mut found = seek(&lines, old, at, hunk.end_of_file);
        if found.is_none() && old.last().is_some_and(String::is_empty) {
            // A trailing blank context line that the file lacks (often the
            // patch's own last line): try without it.
            old = &old[..old.len() - 1];
            if new.last().is_some_and(String::is_empty) {
                new = &new[..new.len() - 1];
            }
            found = seek(&lines, old, at, hunk.end_of_file);
        }
        let Some(start) = found else {
            return Err(PatchError::LinesNotFound { path: shown(path), expected: hunk.old.clone(), end_of_file: hunk.end_of_file });
        };
        replacements.push((start, old.len(), new));
        at = start + old.len();
    }
    // Stable: an insertion stays before a replacement at the same line.
    replacements.sort_by_key(|r| r.0);
    let eol = if crlf { "\r\n" } else { "\n" };
    let added: usize = replacements.iter().flat_map(|r| r.2).map(|l| l.len() + eol.len()).sum();
    let mut out = String::with_capacity(text.len() + added);
    let mut push = |line: &str| {
        out.push_str(line);
        out.push_str(eol);
    };
    let mut pos = 0;
    for (start, len, new) in replacements {
        lines[pos..start].iter().for_each(|l| push(l));
        new.iter().for_each(|l| push(l));
        pos = start + len;
    }
    lines[pos..].iter().for_each(|l| push(l));
    Ok(out)
}

/// How loosely [`seek`] compares a line of the file with a line of the patch.
#[derive(Clone, Copy)]
enum Fuzz {
    Exact,
    TrimEnd,
    Trim,
    /// Trimmed, with typographic dashes, quotes and spaces taken as ASCII.
    Punctuation,
}

impl Fuzz {
    fn same(self, file: &str, patch: &str) -> bool {
        match self {
            Fuzz::Exact => file == patch,
            Fuzz::TrimEnd => file.trim_end() == patch.trim_end(),
            Fuzz::Trim => file.trim() == patch.trim(),
            Fuzz::Punctuation => file.trim().chars().map(ascii_punctuation).eq(patch.trim().chars().map(ascii_punctuation)),
        }
    }
}

fn ascii_punctuation(c: char) -> char {
    match c {
        '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
        '\u{2018}'..='\u{201B}' => '\'',
        '\u{201C}'..='\u{201F}' => '"',
        '\u{00A0}' | '\u{2002}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => ' ',
        c => c,
    }
}

/// Where `pattern` occurs in `lines` at or after `start`, trying each
/// [`Fuzz`] level over the whole range before the next. With `eof` it must
/// end the file.
fn seek(lines: &[&str], pattern: &[String], start: usize, eof: bool) -> Option<usize> {
    if pattern.is_empty() {
        return Some(start);
    }
    let last = lines.len().checked_sub(pattern.len())?;
    let first = if eof { start.max(last) } else { start };
    if first > last {
        return None;
    }
    [Fuzz::Exact, Fuzz::TrimEnd, Fuzz::Trim, Fuzz::Punctuation].into_iter().find_map(|fuzz| {
        (first..=last).find(|&i| pattern.iter().zip(&lines[i..]).all(|(p, l)| fuzz.same(l, p)))
    })
}

/// Writes the expected lines of a failed hunk, at most 40 lines of 200 characters.
fn write_excerpt(f: &mut fmt::Formatter<'_>, lines: &[String]) -> fmt::Result {
    const MAX_LINES: usize = 40;
    for (i, line) in lines.iter().take(MAX_LINES).enumerate() {
        if i > 0 {
            writeln!(f)?;
        }
        write!(f, "{}", excerpt(line))?;
    }
    if lines.len() > MAX_LINES {
        write!(f, "\n[... {} more lines]", lines.len() - MAX_LINES)?;
    }
    Ok(())
}

/// A line of the patch for messages: at most 200 characters, control characters escaped.
fn excerpt(line: &str) -> String {
    let mut out = String::new();
    for (i, c) in line.chars().enumerate() {
        if i == 200 {
            out.push_str(&format!("… ({} bytes)", line.len()));
            break;
        }
        if c.is_control() && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A path for messages and the summary (shortened and escaped as lines are).
fn shown(path: &str) -> String {
    excerpt(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    use crate::fsutil::ensure_private_dir;

    use crate::fsutil::TestDir as TempDir;

    /// A workspace folder and a sibling "outside" folder, both temporary.
    fn setup(tag: &str) -> (TempDir, Root, PathBuf) {
        let t = TempDir::new(tag);
        let ws = t.0.join("ws");
        let outside = t.0.join("outside");
        ensure_private_dir(&ws).unwrap();
        ensure_private_dir(&outside).unwrap();
        let root = Root::open(&ws, Access::ReadWrite, Some("/workspace")).unwrap();
        (t, root, outside)
    }

    fn put(root: &Root, path: &str, text: &str) {
        let p = root.path().join(path);
        ensure_private_dir(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn get(root: &Root, path: &str) -> String {
        fs::read_to_string(root.path().join(path)).unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    /// Wraps operation text in the markers.
    fn patch(body: &str) -> String {
        format!("*** Begin Patch\n{body}*** End Patch")
    }

    fn run(root: &Root, body: &str) -> Result<Summary, PatchError> {
        apply(root, &parse(&patch(body))?)
    }

    fn strings(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_every_operation() {
        let text = patch(
            "*** Add File: dir/new.txt\n+one\n+two\n\
             *** Update File: src/main.rs\n*** Move to: src/app.rs\n@@ fn main() {\n ctx\n-old\n+new\n@@\n-tail\n+TAIL\n*** End of File\n\
             *** Delete File: old.txt\n",
        );
        let parsed = parse(&text).unwrap();
        assert_eq!(
            parsed.ops,
            [
                Op::Add { path: "dir/new.txt".into(), content: "one\ntwo\n".into() },
                Op::Update {
                    path: "src/main.rs".into(),
                    move_to: Some("src/app.rs".into()),
                    hunks: vec![
                        Hunk { context: Some("fn main() {".into()), old: strings(&["ctx", "old"]), new: strings(&["ctx", "new"]), end_of_file: false },
                        Hunk { context: None, old: strings(&["tail"]), new: strings(&["TAIL"]), end_of_file: true },
                    ],
                },
                Op::Delete { path: "old.txt".into() },
            ]
        );
        // An empty line inside a hunk is an empty unchanged line; an Add File without lines is an empty file.
        let parsed = parse(&patch("*** Update File: a\n a\n\n b\n*** Add File: empty\n")).unwrap();
        let blank = Hunk { context: None, old: strings(&["a", "", "b"]), new: strings(&["a", "", "b"]), end_of_file: false };
        assert_eq!(parsed.ops[0], Op::Update { path: "a".into(), move_to: None, hunks: vec![blank] });
        assert_eq!(parsed.ops[1], Op::Add { path: "empty".into(), content: String::new() });
    }

    #[test]
    fn parse_accepts_heredoc_crlf_and_unified_headers() {
        let body = "*** Delete File: x\n";
        let want = Patch { ops: vec![Op::Delete { path: "x".into() }] };
        for text in [
            format!("<<'EOF'\n{}\nEOF", patch(body)),
            format!("<<EOF\n{}\nEOF\n", patch(body)),
            format!("apply_patch <<\"EOF\"\n{}\nEOF", patch(body)),
            format!("\n\n  {}  \n\n", patch(body)),
            patch(body).replace('\n', "\r\n"),
            patch(&format!("\n{body}\n")),
        ] {
            assert_eq!(parse(&text).unwrap(), want, "{text:?}");
        }
        let parsed = parse(&patch("*** Update File: a\n@@ -3,7 +3,8 @@ fn x() {\n-a\n+b\n@@ -10 +11 @@\n-c\n+d\n")).unwrap();
        let Op::Update { hunks, .. } = &parsed.ops[0] else { panic!() };
        assert_eq!(hunks[0].context.as_deref(), Some("fn x() {"));
        assert_eq!(hunks[1].context, None);
    }

    #[test]
    fn parse_errors_name_the_problem_and_the_fix() {
        let cases: &[(&str, &str)] = &[
            ("", "apply_patch: the patch is empty"),
            ("   \n ", "apply_patch: the patch is empty"),
            ("*** Update File: a\n-x\n+y\n*** End Patch",
             "apply_patch: the patch must start with \"*** Begin Patch\" (its first line is \"*** Update File: a\")"),
            ("*** Begin Patch\n*** Delete File: a\n",
             "apply_patch: the patch must end with a line \"*** End Patch\" (its last line is \"*** Delete File: a\")"),
            ("*** Begin Patch", "apply_patch: the patch must end with a line \"*** End Patch\""),
            ("*** Begin Patch\n*** End Patch", "apply_patch: the patch has no file operations"),
            ("<<'EOF'\n*** Begin Patch\n*** Delete File: a\nEOF", "apply_patch: the patch must end with a line \"*** End Patch\""),
            ("*** Begin Patch\n*** Frobnicate File: a\n*** End Patch",
             "apply_patch: invalid patch at line 2: \"*** Frobnicate File: a\" is not a file operation; expected \"*** Add File: <path>\""),
            ("*** Begin Patch\n*** Add File:\n*** End Patch", "apply_patch: invalid patch at line 2: \"*** Add File:\" needs a path"),
            ("*** Begin Patch\n*** Update File: a\n*** End Patch", "apply_patch: invalid patch at line 2: \"*** Update File: a\" has no changes"),
            ("*** Begin Patch\n*** Update File: a\nfoo\n*** End Patch",
             "apply_patch: invalid patch at line 3: unexpected line \"foo\" in the changes to a: every line"),
            ("*** Begin Patch\n*** Update File: a\n-x\nfoo\n*** End Patch",
             "apply_patch: invalid patch at line 4: unexpected line \"foo\" in the changes to a: a hunk's lines start with"),
            ("*** Begin Patch\n*** Update File: a\n@@\n*** End of File\n*** End Patch",
             "apply_patch: invalid patch at line 3: a hunk of the changes to a has no lines"),
            ("*** Begin Patch\n*** Add File: a\n+x\n x\n*** End Patch", "apply_patch: invalid patch at line 4: \" x\" is not a file operation"),
            ("\n\n*** Begin Patch\n*** Bogus\n*** End Patch", "apply_patch: invalid patch at line 4:"),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.starts_with(want), "{text:?}:\n got {err}\nwant {want}");
        }
        let huge = format!("*** Begin Patch\n*** Add File: a\n+{}\n*** End Patch", "x".repeat(MAX_PATCH_BYTES));
        assert!(matches!(parse(&huge), Err(PatchError::TooLarge { .. })));
        // A long junk line is shortened in the message.
        let junk = format!("*** Begin Patch\n{}\n*** End Patch", "j".repeat(10_000));
        assert!(parse(&junk).unwrap_err().to_string().len() < 600);
    }

    #[test]
    fn applies_add_update_delete_with_a_codex_summary() {
        let (_t, root, _) = setup("all");
        put(&root, "src/main.rs", "fn main() {\n    println!(\"hi\");\n}\n");
        put(&root, "old.txt", "bye\n");
        let summary = run(
            &root,
            "*** Add File: docs/new.txt\n+line one\n+line two\n\
             *** Update File: src/main.rs\n@@ fn main() {\n-    println!(\"hi\");\n+    println!(\"hello\");\n }\n\
             *** Delete File: old.txt\n",
        )
        .unwrap();
        assert_eq!(summary.to_string(), "Success. Updated the following files:\nA docs/new.txt\nM src/main.rs\nD old.txt");
        assert_eq!(get(&root, "docs/new.txt"), "line one\nline two\n");
        assert_eq!(get(&root, "src/main.rs"), "fn main() {\n    println!(\"hello\");\n}\n");
        assert_eq!(names(root.path()), ["docs", "src"]);
    }

    #[test]
    fn multi_hunk_update_searches_forward() {
        let (_t, root, _) = setup("multi");
        put(&root, "f", "a\nb\nc\nd\ne\nf\ng\nb\nh\n");
        run(&root, "*** Update File: f\n a\n-b\n+B\n c\n@@\n g\n-b\n+BB\n h\n").unwrap();
        assert_eq!(get(&root, "f"), "a\nB\nc\nd\ne\nf\ng\nBB\nh\n");
        // The second hunk is looked for after the first: out of order fails.
        let err = run(&root, "*** Update File: f\n-g\n+G\n@@\n-c\n+C\n").unwrap_err().to_string();
        assert!(err.contains("could not find the expected lines in f:\nc\n"), "{err}");
        assert_eq!(get(&root, "f"), "a\nB\nc\nd\ne\nf\ng\nBB\nh\n");
        // Pure additions: after the header line, or at the end without one.
        run(&root, "*** Update File: f\n@@ e\n+E2\n").unwrap();
        run(&root, "*** Update File: f\n+end\n").unwrap();
        assert_eq!(get(&root, "f"), "a\nB\nc\nd\ne\nE2\nf\ng\nBB\nh\nend\n");
    }

    #[test]
    fn header_anchors_the_hunk() {
        let (_t, root, _) = setup("anchor");
        let text = "def one():\n    return 1\n\ndef two():\n    return 1\n";
        put(&root, "m.py", text);
        run(&root, "*** Update File: m.py\n@@ def two():\n-    return 1\n+    return 2\n").unwrap();
        assert_eq!(get(&root, "m.py"), "def one():\n    return 1\n\ndef two():\n    return 2\n");
        let err = run(&root, "*** Update File: m.py\n@@ def three():\n-    return 1\n+    return 3\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "apply_patch: could not find the line \"def three():\" (from \"@@ def three():\") in m.py after the previous hunk; \
             re-read the file and use a line that is in it, or a bare \"@@\""
        );
    }

    #[test]
    fn whitespace_and_punctuation_fuzz() {
        let (_t, root, _) = setup("fuzz");
        put(&root, "t", "keep  \n\tindented\t\nsay “hi” – now\nlast\n");
        // Trailing whitespace ignored; the replacement is the patch's text.
        run(&root, "*** Update File: t\n-keep\n+kept\n").unwrap();
        assert_eq!(get(&root, "t"), "kept\n\tindented\t\nsay “hi” – now\nlast\n");
        // Leading and trailing whitespace ignored.
        run(&root, "*** Update File: t\n indented\n-say \"hi\" - now\n+said\n").unwrap();
        assert_eq!(get(&root, "t"), "kept\nindented\nsaid\nlast\n");
        // An exact match wins over an earlier fuzzy one.
        put(&root, "u", "  x\nx\n");
        run(&root, "*** Update File: u\n-x\n+y\n").unwrap();
        assert_eq!(get(&root, "u"), "  x\ny\n");
    }

    #[test]
    fn end_of_file_anchors_at_the_end() {
        let (_t, root, _) = setup("eof");
        put(&root, "f", "}\nmid\n}\n");
        run(&root, "*** Update File: f\n-}\n+};\n*** End of File\n").unwrap();
        assert_eq!(get(&root, "f"), "}\nmid\n};\n");
        let err = run(&root, "*** Update File: f\n-mid\n+MID\n*** End of File\n").unwrap_err().to_string();
        assert!(err.starts_with("apply_patch: could not find the expected lines in f at the end of the file:\nmid\n"), "{err}");
        // A file without a final newline gets one; a trailing blank patch line is forgiven.
        put(&root, "g", "a\nb");
        run(&root, "*** Update File: g\n a\n-b\n+c\n\n").unwrap();
        assert_eq!(get(&root, "g"), "a\nc\n");
    }

    #[test]
    fn crlf_files_stay_crlf() {
        let (_t, root, _) = setup("crlf");
        put(&root, "w.txt", "one\r\ntwo\r\nthree\r\n");
        run(&root, "*** Update File: w.txt\n one\n-two\n+TWO\n").unwrap();
        assert_eq!(get(&root, "w.txt"), "one\r\nTWO\r\nthree\r\n");
    }

    #[test]
    fn move_keeps_mode_and_removes_the_source() {
        let (_t, root, _) = setup("move");
        put(&root, "run.sh", "#!/bin/sh\necho a\n");
        fs::set_permissions(root.path().join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        let summary = run(&root, "*** Update File: run.sh\n*** Move to: bin/run.sh\n #!/bin/sh\n-echo a\n+echo b\n").unwrap();
        assert_eq!(summary.to_string(), "Success. Updated the following files:\nM bin/run.sh");
        assert_eq!(get(&root, "bin/run.sh"), "#!/bin/sh\necho b\n");
        assert_eq!(fs::metadata(root.path().join("bin/run.sh")).unwrap().permissions().mode() & 0o777, 0o755);
        assert_eq!(names(root.path()), ["bin"]);
        // Onto an existing file: refused, nothing changed.
        put(&root, "other", "x\n");
        let err = run(&root, "*** Update File: bin/run.sh\n*** Move to: other\n-echo b\n+echo c\n").unwrap_err();
        assert!(matches!(err, PatchError::MoveOntoExisting { .. }), "{err}");
        assert_eq!(get(&root, "bin/run.sh"), "#!/bin/sh\necho b\n");
        // Unless the patch deletes it first; a move to the same file is an update.
        run(&root, "*** Delete File: other\n*** Update File: bin/run.sh\n*** Move to: other\n-echo b\n+echo c\n").unwrap();
        assert_eq!(get(&root, "other"), "#!/bin/sh\necho c\n");
        run(&root, "*** Update File: other\n*** Move to: ./other\n-echo c\n+echo d\n").unwrap();
        assert_eq!(get(&root, "other"), "#!/bin/sh\necho d\n");
        assert_eq!(names(root.path()), ["bin", "other"]);
    }

    #[test]
    fn operations_see_earlier_ones_in_the_same_patch() {
        let (_t, root, _) = setup("seq");
        put(&root, "a", "old\n");
        run(&root, "*** Delete File: a\n*** Add File: a\n+new\n*** Update File: a\n-new\n+newer\n").unwrap();
        assert_eq!(get(&root, "a"), "newer\n");
        let err = run(&root, "*** Delete File: a\n*** Update File: a\n-newer\n+x\n").unwrap_err();
        assert!(matches!(err, PatchError::Missing { op: "update", .. }), "{err}");
        let err = run(&root, "*** Add File: b\n+1\n*** Add File: b\n+2\n").unwrap_err();
        assert!(matches!(err, PatchError::AddExisting { .. }), "{err}");
        assert_eq!(names(root.path()), ["a"]);
    }

    #[test]
    fn add_existing_and_missing_files_are_errors() {
        let (_t, root, _) = setup("exist");
        put(&root, "here.txt", "x\n");
        let err = run(&root, "*** Add File: here.txt\n+y\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "apply_patch: cannot add here.txt: it already exists; use \"*** Update File: here.txt\" to change it, or delete it first in the same patch"
        );
        let err = run(&root, "*** Update File: gone.txt\n-a\n+b\n").unwrap_err().to_string();
        assert!(err.starts_with("apply_patch: cannot update gone.txt: the file does not exist"), "{err}");
        let err = run(&root, "*** Delete File: gone.txt\n").unwrap_err().to_string();
        assert!(err.starts_with("apply_patch: cannot delete gone.txt: the file does not exist"), "{err}");
        ensure_private_dir(&root.path().join("d")).unwrap();
        for body in ["*** Delete File: d\n", "*** Add File: d\n+x\n", "*** Update File: d\n-a\n+b\n"] {
            let err = run(&root, body).unwrap_err();
            assert!(matches!(err, PatchError::Workspace(workspace::Error::IsDirectory { .. })), "{body}: {err}");
        }
        let err = run(&root, "*** Add File: here.txt/sub/f\n+x\n").unwrap_err().to_string();
        assert_eq!(err, "apply_patch: cannot create here.txt/sub/f: here.txt is a file, not a folder; choose another path");
        assert_eq!(get(&root, "here.txt"), "x\n");
        assert_eq!(names(root.path()), ["d", "here.txt"]);
    }

    #[test]
    fn a_failing_hunk_leaves_every_file_unchanged() {
        let (_t, root, _) = setup("atomic");
        put(&root, "a.txt", "alpha\n");
        put(&root, "b.txt", "beta\n");
        put(&root, "c.txt", "gamma\n");
        let err = run(
            &root,
            "*** Add File: new.txt\n+fresh\n\
             *** Update File: a.txt\n-alpha\n+ALPHA\n\
             *** Delete File: c.txt\n\
             *** Update File: b.txt\n-not there\n-either\n+x\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "apply_patch: could not find the expected lines in b.txt:\nnot there\neither\n\
             No files were modified. Re-read b.txt and copy the context (' ') and removed ('-') lines exactly, in file order."
        );
        assert_eq!(names(root.path()), ["a.txt", "b.txt", "c.txt"]);
        assert_eq!((get(&root, "a.txt"), get(&root, "b.txt"), get(&root, "c.txt")), ("alpha\n".into(), "beta\n".into(), "gamma\n".into()));
    }

    #[test]
    fn paths_cannot_leave_the_workspace() {
        let (_t, root, outside) = setup("escape");
        fs::write(outside.join("secret"), "secret\n").unwrap();
        symlink(outside.join("secret"), root.path().join("link")).unwrap();
        symlink(&outside, root.path().join("out")).unwrap();
        put(&root, "ok.txt", "ok\n");
        let abs = outside.join("secret").display().to_string();
        for path in ["../outside/secret", abs.as_str(), "link", "out/secret", "/workspace/../outside/secret"] {
            for body in [
                format!("*** Update File: {path}\n-secret\n+pwned\n"),
                format!("*** Delete File: {path}\n"),
                format!("*** Add File: {path}\n+pwned\n"),
                format!("*** Update File: ok.txt\n*** Move to: {path}\n-ok\n+pwned\n"),
            ] {
                let err = run(&root, &body).unwrap_err();
                assert!(matches!(err, PatchError::Workspace(workspace::Error::Escapes { .. })), "{body}: {err}");
                assert!(err.to_string().starts_with("apply_patch: Path escapes sandbox root"), "{err}");
            }
        }
        for body in ["*** Add File: out/new\n+x\n", "*** Add File: ../new\n+x\n", "*** Add File: ~/x\n+x\n"] {
            assert!(run(&root, body).is_err(), "{body}");
        }
        assert_eq!(names(&outside), ["secret"]);
        assert_eq!(fs::read_to_string(outside.join("secret")).unwrap(), "secret\n");
        assert_eq!(get(&root, "ok.txt"), "ok\n");
        // Absolute paths under the root or the container workdir are fine.
        run(&root, "*** Update File: /workspace/ok.txt\n-ok\n+fine\n").unwrap();
        assert_eq!(get(&root, "ok.txt"), "fine\n");
    }

    #[test]
    fn nul_in_a_path_is_refused() {
        let (_t, root, _) = setup("nul");
        let err = run(&root, "*** Add File: a\0b\n+x\n").unwrap_err();
        assert!(matches!(err, PatchError::Workspace(workspace::Error::InvalidPath { .. })), "{err}");
        assert!(err.to_string().contains("NUL"), "{err}");
        assert!(names(root.path()).is_empty());
    }

    #[test]
    fn read_only_workspace_refuses_patches() {
        let (_t, rw, _) = setup("ro");
        put(&rw, "f.txt", "a\n");
        let ro = Root::open(rw.path(), Access::ReadOnly, Some("/workspace")).unwrap();
        let out = tool(&ro, &json!({ "input": patch("*** Update File: f.txt\n-a\n+b\n") }));
        assert!(out.is_error);
        assert!(out.text.starts_with("apply_patch: Cannot modify f.txt: the workspace is mounted read-only (workspaceAccess: \"ro\")"), "{}", out.text);
        // Also when the patch is malformed, and through apply().
        let out = tool(&ro, &json!({ "input": "garbage" }));
        assert!(out.is_error && out.text.contains("read-only"), "{}", out.text);
        let err = apply(&ro, &parse(&patch("*** Add File: g\n+x\n")).unwrap()).unwrap_err();
        assert!(matches!(err, PatchError::Workspace(workspace::Error::ReadOnly { .. })));
        assert_eq!(names(rw.path()), ["f.txt"]);
        assert_eq!(get(&rw, "f.txt"), "a\n");
    }

    #[test]
    fn oversized_patches_and_files_are_refused() {
        let (_t, root, _) = setup("big");
        let big = format!("*** Add File: a\n+{}\n", "x".repeat(MAX_PATCH_BYTES));
        let out = tool(&root, &json!({ "input": patch(&big) }));
        assert!(out.is_error && out.text.starts_with("apply_patch: the patch is "), "{}", out.text);
        // A file over the limit is refused from its size (sparse, never read).
        let f = fs::File::create(root.path().join("huge")).unwrap();
        f.set_len(MAX_EDIT_BYTES as u64 + 1).unwrap();
        let err = run(&root, "*** Update File: huge\n-a\n+b\n").unwrap_err();
        assert!(matches!(err, PatchError::FileTooLarge { .. }), "{err}");
        // A file the patch would grow over the limit.
        put(&root, "grow", &"y".repeat(MAX_EDIT_BYTES - 10));
        let err = run(&root, &format!("*** Update File: grow\n+{}\n", "z".repeat(100))).unwrap_err();
        assert!(matches!(err, PatchError::FileTooLarge { .. }), "{err}");
        fs::write(root.path().join("bin"), b"a\xff\n").unwrap();
        assert!(matches!(run(&root, "*** Update File: bin\n-a\n+b\n"), Err(PatchError::NotUtf8 { .. })));
        assert_eq!(names(root.path()), ["bin", "grow", "huge"]);
    }

    #[test]
    fn tool_reads_input_or_its_aliases() {
        let (_t, root, _) = setup("tool");
        let out = tool(&root, &json!({ "input": patch("*** Add File: a.txt\n+a\n") }));
        assert_eq!(out, ToolOutput::ok("Success. Updated the following files:\nA a.txt"));
        let out = tool(&root, &json!({ "patch": patch("*** Add File: b.txt\n+b\n") }));
        assert!(!out.is_error, "{}", out.text);
        let out = tool(&root, &json!(patch("*** Add File: c.txt\n+c\n")));
        assert!(!out.is_error, "{}", out.text);
        let out = tool(&root, &json!({ "diff": "x" }));
        assert!(out.is_error && out.text.starts_with("apply_patch: missing \"input\""), "{}", out.text);
        let out = tool(&root, &json!({ "input": "*** Add File: d\n+x\n" }));
        assert!(out.is_error && out.text.starts_with("apply_patch: the patch must start with \"*** Begin Patch\""), "{}", out.text);
        assert_eq!(names(root.path()), ["a.txt", "b.txt", "c.txt"]);
        let spec = spec();
        assert_eq!(spec.name, "apply_patch");
        assert_eq!(spec.parameters["required"], json!(["input"]));
        assert_eq!(spec.parameters["properties"]["input"]["type"], "string");
    }

    #[test]
    fn a_partly_applied_patch_says_what_was_done() {
        let err = PatchError::Partial {
            done: vec![Step::Write { path: "a".into(), content: String::new() }.to_string(), Step::Remove { path: "b".into() }.to_string()],
            err: workspace::Error::NotFound { path: "c".into() },
        };
        let text = err.to_string();
        assert!(text.starts_with("apply_patch: File not found: c; "), "{text}");
        assert!(text.contains("The patch was only partly applied; done before the failure: wrote a, deleted b. Re-read"), "{text}");
    }

    #[test]
    fn seek_tries_each_fuzz_level_over_the_whole_range() {
        let lines = ["  a", "b ", "a"];
        assert_eq!(seek(&lines, &strings(&["a"]), 0, false), Some(2));
        assert_eq!(seek(&lines, &strings(&["b"]), 0, false), Some(1));
        assert_eq!(seek(&lines, &strings(&["a", "b"]), 0, false), Some(0));
        assert_eq!(seek(&lines, &strings(&["a"]), 0, true), Some(2));
        assert_eq!(seek(&lines, &strings(&["b"]), 0, true), None);
        assert_eq!(seek(&lines, &strings(&["x", "y", "z", "w"]), 0, false), None);
        assert_eq!(seek(&lines, &strings(&["a"]), 3, false), None);
        assert_eq!(seek(&[], &strings(&["a"]), 0, true), None);
    }
}
