//! One config file's text: reading it, parsing it as JSON5, and finding where
//! each key sits in it.
//!
//! Parsing is done by the `json5` crate. It reports syntax errors with a
//! position but knows nothing of positions once a value is built, so this
//! module also has a small scanner that walks the same text and records the
//! line and column of every object key and array element by its dotted path
//! (`agents.list[0].sandbox`). The scanner trusts that `json5` accepted the
//! text; on text it cannot follow it stops and keeps what it found.
//! This module does no I/O besides [`read`].

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde_json::Value;

/// A one-based line and column in a file's text, counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A JSON5 syntax error with where it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Parses config text. A byte-order mark is refused rather than skipped, so a
/// file saved by an editor that adds one gets a clear message.
pub fn parse(text: &str) -> Result<Value, SyntaxError> {
    if text.starts_with('\u{feff}') {
        return Err(SyntaxError {
            pos: Pos { line: 1, column: 1 },
            message: "the file starts with a UTF-8 byte order mark (BOM); save it as UTF-8 without a BOM".into(),
        });
    }
    json5::from_str::<Value>(text).map_err(|e| {
        let message = e.to_string();
        // json5 appends " at line L column C"; we print the position ourselves.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        let is_eof = matches!(e.code(), Some(code) if format!("{code:?}").starts_with("Eof"));
        let pos = if is_eof {
            // json5 reports end-of-file errors at the start of the text; the
            // scanner knows where the unfinished construct began.
            match scan(text).unterminated {
                Some(start) => {
                    return SyntaxError {
                        pos: start,
                        message: format!("{message}: this is never closed before the end of the file"),
                    };
                }
                None => end_pos(text),
            }
        } else {
            e.position().map(|p| Pos { line: p.line + 1, column: p.column + 1 }).unwrap_or(Pos { line: 1, column: 1 })
        };
        SyntaxError { pos, message }
    })
}

/// Reads a file as UTF-8 text.
pub fn read(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    String::from_utf8(bytes).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not valid UTF-8 (first bad byte at offset {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// Where each key and element of a file is, by dotted path.
#[derive(Debug, Default)]
pub struct Locations {
    map: HashMap<String, Pos>,
    /// The start of a comment, string, object or array that the text never closes.
    pub unterminated: Option<Pos>,
}

impl Locations {
    /// The position of `path`, or of its nearest ancestor that is in the file.
    pub fn find(&self, path: &str) -> Option<(Pos, bool)> {
        let mut p = path;
        let mut exact = true;
        loop {
            if let Some(pos) = self.map.get(p) {
                return Some((*pos, exact));
            }
            exact = false;
            p = parent_path(p)?;
        }
    }
}

/// The parent of a dotted path: `a.b[2]` → `a.b`, `a.b` → `a`, `a` → none.
pub fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

/// Scans text for key positions. Never fails; stops where it cannot follow.
pub fn scan(text: &str) -> Locations {
    let mut s = Scanner { chars: text.chars().collect(), i: 0, line: 1, col: 1, out: Locations::default() };
    s.skip_ws();
    let _ = s.value(String::new());
    s.out
}

fn end_pos(text: &str) -> Pos {
    let line = text.matches('\n').count() + 1;
    let column = text.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    Pos { line, column }
}

struct Scanner {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
    out: Locations,
}

/// The scanner gives up by returning `Err(())`; what it recorded so far stays.
type Step = Result<(), ()>;

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, column: self.col }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn skip_ws(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() || c == '\u{feff}' => {
                    self.bump();
                }
                Some('/') if self.chars.get(self.i + 1) == Some(&'/') => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                Some('/') if self.chars.get(self.i + 1) == Some(&'*') => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => {
                                self.out.unterminated.get_or_insert(start);
                                return;
                            }
                            Some('*') if self.peek() == Some('/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                }
                _ => return,
            }
        }
    }

    fn value(&mut self, path: String) -> Step {
        match self.peek().ok_or(())? {
            '{' => self.object(path),
            '[' => self.array(path),
            '"' | '\'' => self.string().map(|_| ()),
            _ => {
                while let Some(c) = self.peek() {
                    if matches!(c, ',' | ']' | '}' | '/') || c.is_whitespace() {
                        break;
                    }
                    self.bump();
                }
                Ok(())
            }
        }
    }

    fn object(&mut self, path: String) -> Step {
        let start = self.pos();
        self.bump();
        loop {
            self.skip_ws();
            match self.peek() {
                None => {
                    self.out.unterminated.get_or_insert(start);
                    return Err(());
                }
                Some('}') => {
                    self.bump();
                    return Ok(());
                }
                Some(_) => {}
            }
            let key_pos = self.pos();
            let key = match self.peek() {
                Some('"' | '\'') => self.string()?,
                _ => self.identifier()?,
            };
            let child = if path.is_empty() { key } else { format!("{path}.{key}") };
            self.out.map.entry(child.clone()).or_insert(key_pos);
            self.skip_ws();
            if self.bump() != Some(':') {
                return Err(());
            }
            self.skip_ws();
            self.value(child)?;
            self.skip_ws();
            if self.peek() == Some(',') {
                self.bump();
            }
        }
    }

    fn array(&mut self, path: String) -> Step {
        let start = self.pos();
        self.bump();
        let mut index = 0;
        loop {
            self.skip_ws();
            match self.peek() {
                None => {
                    self.out.unterminated.get_or_insert(start);
                    return Err(());
                }
                Some(']') => {
                    self.bump();
                    return Ok(());
                }
                Some(_) => {}
            }
            let child = format!("{path}[{index}]");
            let here = self.pos();
            self.out.map.entry(child.clone()).or_insert(here);
            self.value(child)?;
            index += 1;
            self.skip_ws();
            if self.peek() == Some(',') {
                self.bump();
            }
        }
    }

    /// Reads a quoted string and returns its text with simple escapes undone.
    fn string(&mut self) -> Result<String, ()> {
        let start = self.pos();
        let quote = self.bump().ok_or(())?;
        let mut out = String::new();
        loop {
            match self.bump() {
                None => {
                    self.out.unterminated.get_or_insert(start);
                    return Err(());
                }
                Some(c) if c == quote => return Ok(out),
                Some('\\') => match self.bump().ok_or(())? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| self.bump()).collect();
                        let c = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).ok_or(())?;
                        out.push(c);
                    }
                    '\n' => {}
                    c => out.push(c),
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn identifier(&mut self) -> Result<String, ()> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c == ':' || c.is_whitespace() || c == '/' {
                break;
            }
            out.push(c);
            self.bump();
        }
        if out.is_empty() { Err(()) } else { Ok(out) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_elements() {
        let text = "// c\n{\n  agents: {\n    defaults: { 'sandbox': { docker: { privilged: true } } },\n    list: [ { id: \"a\" }, /* x */ { id: 'b' } ],\n  },\n}\n";
        let loc = scan(text);
        assert_eq!(loc.find("agents").unwrap().0, Pos { line: 3, column: 3 });
        assert_eq!(loc.find("agents.defaults.sandbox.docker.privilged").unwrap().0, Pos { line: 4, column: 40 });
        assert_eq!(loc.find("agents.list[1].id").unwrap().0, Pos { line: 5, column: 36 });
        let (pos, exact) = loc.find("agents.list[1].missing").unwrap();
        assert_eq!((pos, exact), (Pos { line: 5, column: 34 }, false));
        assert!(loc.unterminated.is_none());
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse("{\n  a: 1,\n} trailing").unwrap_err();
        assert_eq!(e.pos, Pos { line: 3, column: 3 });
        let e = parse("Found and updated: False\n{ a: 1 }").unwrap_err();
        assert_eq!(e.pos.line, 1);
        let e = parse("{\n  a: 1,\n  /* never closed\n  b: 2\n}").unwrap_err();
        assert_eq!(e.pos, Pos { line: 3, column: 3 });
        assert!(e.message.contains("never closed"), "{}", e.message);
        let e = parse("\u{feff}{}").unwrap_err();
        assert!(e.message.contains("byte order mark"));
        let e = parse("{ a: 'x }").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, column: 6 });
    }

    #[test]
    fn parses_json5() {
        let v = parse("{ a: 0x10, 'b': [1, 2,], c: \"x\", // c\n }").unwrap();
        assert_eq!(v, serde_json::json!({"a": 16, "b": [1, 2], "c": "x"}));
    }

    #[test]
    fn parent_paths() {
        assert_eq!(parent_path("a.b[2]"), Some("a.b"));
        assert_eq!(parent_path("a.b"), Some("a"));
        assert_eq!(parent_path("a"), Some(""));
        assert_eq!(parent_path(""), None);
    }
}
