//! The agent runtime (issue 5): model providers, sessions and transcripts,
//! tools with policy, and the loop that ties them together.

pub mod bootstrap;
pub mod exec;
pub mod models;
pub mod patch;
pub mod policy;
pub mod process;
pub mod provider;
pub mod runtime;
pub mod sessions;
pub mod tools;

/// What a tool call hands back to the model: the text it sees, and whether
/// the call failed (sent as an error tool result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    pub text: String,
    pub is_error: bool,
}

impl ToolOutput {
    pub fn ok(text: impl Into<String>) -> ToolOutput {
        ToolOutput { text: text.into(), is_error: false }
    }

    pub fn error(text: impl Into<String>) -> ToolOutput {
        ToolOutput { text: text.into(), is_error: true }
    }
}
