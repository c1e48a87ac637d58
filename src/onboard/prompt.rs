//! Questions on a plain terminal: a line of text per answer, no raw mode and
//! no cursor tricks, so it works in any terminal, under `docker compose run`
//! with or without a TTY, and with answers piped in.
//!
//! One thread reads standard input line by line into a channel for the whole
//! run, so a question can also wait for something else at the same time
//! ([`Prompter::race`]: the OAuth sign-in waits for the browser's callback or
//! a pasted URL, whichever comes first). When input ends, every question fails
//! with [`PromptError::Eof`] and a message saying how to run without prompts.
//! An answer that is not valid is asked again, at most [`MAX_TRIES`] times.

use std::fmt;
use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

/// How often a question is asked again after answers that are not valid.
pub const MAX_TRIES: usize = 5;
/// The longest line read (a pasted redirect URL is well under this).
const MAX_LINE: usize = 64 << 10;

#[derive(Debug, Clone, PartialEq)]
pub enum PromptError {
    /// Standard input ended before the question was answered.
    Eof { question: String },
    /// Only answers that were not valid.
    Invalid { question: String, reason: String },
}

impl fmt::Display for PromptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromptError::Eof { question } => write!(
                f,
                "No answer to \"{question}\": standard input ended.\n\
                 Run onboarding in a terminal (with Docker: `docker compose run --rm openclaw-cli onboard`, \
                 which attaches one), or without questions: \
                 openclaw onboard --non-interactive --accept-risk [options] (see openclaw onboard --help)."
            ),
            PromptError::Invalid { question, reason } => {
                write!(f, "No valid answer to \"{question}\" after {MAX_TRIES} tries: {reason}")
            }
        }
    }
}

impl std::error::Error for PromptError {}

/// What [`Prompter::race`] got first.
#[derive(Debug, PartialEq)]
pub enum Raced<T> {
    Line(String),
    Other(T),
    /// Input ended; the other source may still answer.
    Eof,
    Timeout,
}

/// Asks questions on `out` and reads the answers from standard input (or any reader).
pub struct Prompter {
    lines: Receiver<String>,
    /// Set once input has ended.
    ended: bool,
    out: Box<dyn Write + Send>,
    tty: bool,
}

impl Prompter {
    /// Reads standard input; questions go to `out`.
    pub fn stdin(out: Box<dyn Write + Send>) -> Prompter {
        let tty = io::stdin().is_terminal();
        Prompter::spawn(io::BufReader::new(io::stdin()), out, tty)
    }

    /// Reads `input` (tests, piped answers).
    pub fn from_reader(input: impl BufRead + Send + 'static, out: Box<dyn Write + Send>) -> Prompter {
        Prompter::spawn(input, out, false)
    }

    fn spawn(mut input: impl BufRead + Send + 'static, out: Box<dyn Write + Send>, tty: bool) -> Prompter {
        let (tx, rx) = mpsc::channel();
        let reader = move || {
            loop {
                let mut line = Vec::new();
                match io::Read::take(&mut input, MAX_LINE as u64).read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']).to_string();
                if tx.send(text).is_err() {
                    return;
                }
            }
        };
        // Without the thread there is no input at all: every question then reports EOF.
        let _ = std::thread::Builder::new().name("onboard-stdin".into()).spawn(reader);
        Prompter { lines: rx, ended: false, out, tty }
    }

    /// Whether answers come from a terminal (a person is typing).
    pub fn is_tty(&self) -> bool {
        self.tty
    }

    /// Prints text (a note, a heading) as it is.
    pub fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    /// A titled block of text.
    pub fn note(&mut self, title: &str, body: &str) {
        let mut text = format!("\n◇ {title}\n");
        for line in body.lines() {
            text.push_str(&format!("│ {line}\n"));
        }
        let _ = write!(self.out, "{text}");
        let _ = self.out.flush();
    }

    fn ask(&mut self, prompt: &str) {
        let _ = write!(self.out, "{prompt}");
        let _ = self.out.flush();
    }

    fn read(&mut self, question: &str) -> Result<String, PromptError> {
        if !self.ended
            && let Ok(line) = self.lines.recv()
        {
            if !self.tty {
                // Nothing echoed the answer: end the question's line.
                let _ = writeln!(self.out);
            }
            return Ok(line);
        }
        self.ended = true;
        let _ = writeln!(self.out);
        Err(PromptError::Eof { question: question.to_string() })
    }

    /// Asks until `parse` accepts an answer (an empty answer is passed as "").
    fn until<T>(&mut self, question: &str, prompt: &str, mut parse: impl FnMut(&str) -> Result<T, String>) -> Result<T, PromptError> {
        let mut reason = String::new();
        for _ in 0..MAX_TRIES {
            self.ask(prompt);
            let line = self.read(question)?;
            match parse(line.trim()) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let _ = writeln!(self.out, "  ✗ {e}");
                    reason = e;
                }
            }
        }
        Err(PromptError::Invalid { question: question.to_string(), reason })
    }

    /// Yes or no; an empty answer is `default`.
    pub fn confirm(&mut self, question: &str, default: bool) -> Result<bool, PromptError> {
        let prompt = format!("\n◆ {question} {} ", if default { "(Y/n)" } else { "(y/N)" });
        self.until(question, &prompt, |a| match a.to_ascii_lowercase().as_str() {
            "" => Ok(default),
            "y" | "yes" => Ok(true),
            "n" | "no" => Ok(false),
            _ => Err("answer y or n".into()),
        })
    }

    /// One of `choices` (`(key, label, hint)`), by number, key or label; an
    /// empty answer is `default` (a key). Returns the key.
    pub fn select<'k>(&mut self, question: &str, choices: &[(&'k str, &str, &str)], default: &str) -> Result<&'k str, PromptError> {
        let mut prompt = format!("\n◆ {question}\n");
        let mut default_no = 1;
        for (i, (key, label, hint)) in choices.iter().enumerate() {
            if *key == default {
                default_no = i + 1;
            }
            let hint = if hint.is_empty() { String::new() } else { format!(" — {hint}") };
            prompt.push_str(&format!("  {}) {label}{hint}\n", i + 1));
        }
        prompt.push_str(&format!("Choose 1-{} [{default_no}]: ", choices.len()));
        self.until(question, &prompt, |a| {
            if a.is_empty() {
                return Ok(choices[default_no - 1].0);
            }
            if let Ok(n) = a.parse::<usize>()
                && (1..=choices.len()).contains(&n)
            {
                return Ok(choices[n - 1].0);
            }
            choices
                .iter()
                .find(|(key, label, _)| key.eq_ignore_ascii_case(a) || label.eq_ignore_ascii_case(a))
                .map(|(key, ..)| *key)
                .ok_or_else(|| format!("answer a number from 1 to {}", choices.len()))
        })
    }

    /// Free text; an empty answer is `default` when there is one. `check`
    /// turns the answer into the value (or says what is wrong with it).
    pub fn text(&mut self, question: &str, default: Option<&str>, check: impl Fn(&str) -> Result<String, String>) -> Result<String, PromptError> {
        let prompt = match default {
            Some(d) if !d.is_empty() => format!("\n◆ {question} [{d}]: "),
            _ => format!("\n◆ {question}: "),
        };
        self.until(question, &prompt, |a| match (a, default) {
            ("", Some(d)) => check(d),
            (a, _) => check(a),
        })
    }

    /// A secret: not echoed when typed into a terminal. `optional` allows an
    /// empty answer (returned as "").
    pub fn secret(&mut self, question: &str, optional: bool, check: impl Fn(&str) -> Result<(), String>) -> Result<String, PromptError> {
        let prompt = format!("\n◆ {question}{}: ", if self.tty { " (input hidden)" } else { "" });
        let hidden = self.tty && set_echo(false);
        let result = self.until(question, &prompt, |a| {
            if hidden {
                println!();
            }
            match a {
                "" if optional => Ok(String::new()),
                "" => Err("an answer is required".into()),
                a => check(a).map(|()| a.to_string()),
            }
        });
        if hidden {
            set_echo(true);
        }
        result
    }

    /// Waits until `deadline` for whichever comes first: a line of input or a
    /// message on `other`.
    pub fn race<T>(&mut self, other: &Receiver<T>, deadline: Instant) -> Raced<T> {
        loop {
            match other.try_recv() {
                Ok(v) => return Raced::Other(v),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => {}
            }
            if !self.ended {
                match self.lines.recv_timeout(Duration::from_millis(50)) {
                    Ok(line) => return Raced::Line(line),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        self.ended = true;
                        return Raced::Eof;
                    }
                }
            } else {
                std::thread::sleep(Duration::from_millis(50));
            }
            if Instant::now() >= deadline {
                return Raced::Timeout;
            }
        }
    }
}

/// Turns terminal echo off or on with `stty` (on the terminal that is
/// standard input); false when that is not possible.
fn set_echo(on: bool) -> bool {
    std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Output the test can read afterwards.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn prompter(input: &str) -> (Prompter, Shared) {
        let out = Shared::default();
        (Prompter::from_reader(io::Cursor::new(input.to_string().into_bytes()), Box::new(out.clone())), out)
    }

    #[test]
    fn confirm_select_text_and_defaults() {
        let (mut p, out) = prompter("\ny\nmaybe\nno\n2\nmanual\n\nx\n\n7\n");
        assert!(!p.confirm("Continue?", false).unwrap());
        assert!(p.confirm("Continue?", false).unwrap());
        assert!(!p.confirm("Again?", true).unwrap(), "'maybe' is asked again, then 'no'");
        let choices = [("quickstart", "QuickStart", ""), ("manual", "Manual", "all options")];
        assert_eq!(p.select("Onboarding mode", &choices, "quickstart").unwrap(), "manual");
        assert_eq!(p.select("Onboarding mode", &choices, "quickstart").unwrap(), "manual");
        assert_eq!(p.select("Onboarding mode", &choices, "manual").unwrap(), "manual");
        let port = |a: &str| a.parse::<u16>().map(|p| p.to_string()).map_err(|_| "not a port".to_string());
        assert_eq!(p.text("Gateway port", Some("18789"), port).unwrap(), "18789", "'x' is refused, then the default");
        assert_eq!(p.text("Gateway port", Some("18789"), port).unwrap(), "7");
        let shown = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(shown.contains("◆ Continue? (y/N)") && shown.contains("2) Manual — all options"), "{shown}");
        assert!(shown.contains("✗ answer y or n") && shown.contains("✗ not a port"), "{shown}");
        let e = p.confirm("Continue?", false).unwrap_err();
        assert!(e.to_string().contains("standard input ended") && e.to_string().contains("--non-interactive"), "{e}");
    }

    #[test]
    fn secrets_and_too_many_bad_answers() {
        let (mut p, _) = prompter("\nhas space\nsk-1\n\n");
        let check = |a: &str| if a.contains(' ') { Err("no spaces".to_string()) } else { Ok(()) };
        assert_eq!(p.secret("API key", false, check).unwrap(), "sk-1");
        assert_eq!(p.secret("Token", true, check).unwrap(), "");
        let (mut p, _) = prompter(&"bad\n".repeat(MAX_TRIES));
        assert!(matches!(p.confirm("Continue?", false), Err(PromptError::Invalid { .. })));
    }

    #[test]
    fn race_takes_whichever_comes_first() {
        let (tx, rx) = mpsc::channel();
        let (mut p, _) = prompter("pasted\n");
        assert_eq!(p.race(&rx, Instant::now() + Duration::from_secs(5)), Raced::Line("pasted".into()));
        assert_eq!(p.race(&rx, Instant::now() + Duration::from_secs(5)), Raced::<u8>::Eof);
        tx.send(7u8).unwrap();
        assert_eq!(p.race(&rx, Instant::now() + Duration::from_secs(5)), Raced::Other(7));
        assert_eq!(p.race(&rx, Instant::now() + Duration::from_millis(100)), Raced::Timeout);
    }
}
