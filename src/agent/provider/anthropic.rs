//! `anthropic-messages`: the Messages request body and stream decoder.
//!
//! Events: `message_start` (input usage), `content_block_start` (text or `tool_use`),
//! `content_block_delta` (`text_delta`, `input_json_delta`), `content_block_stop`,
//! `message_delta` (stop_reason, output usage), `message_stop`, `ping`, `error`.
//! Thinking blocks and unknown events are skipped.

use serde_json::{Value, json};

use super::{Endpoint, Error, Event, Message, Reply, Request, Role, ToolCall, parse_arguments, sse, stream_error};

/// Anthropic requires `max_tokens`; this is sent when the request leaves it 0.
const DEFAULT_MAX_TOKENS: u32 = 4096;

pub(super) fn body(ep: &Endpoint, req: &Request) -> Value {
    let mut system = req.system.to_string();
    let mut messages: Vec<Value> = Vec::new();
    let mut last_was_tool = false;
    for m in req.messages {
        match m.role {
            Role::System => {
                if !system.is_empty() {
                    system.push_str("\n\n");
                }
                system.push_str(&m.text);
            }
            Role::User => messages.push(json!({"role": "user", "content": m.text})),
            Role::Assistant => {
                let mut blocks = Vec::new();
                if !m.text.is_empty() {
                    blocks.push(json!({"type": "text", "text": m.text}));
                }
                for c in &m.tool_calls {
                    let input = if c.arguments.is_object() { c.arguments.clone() } else { json!({}) };
                    blocks.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}));
                }
                // An empty assistant turn is refused by the API: leave it out.
                if !blocks.is_empty() {
                    messages.push(json!({"role": "assistant", "content": blocks}));
                }
            }
            Role::Tool => {
                let block = tool_result(m);
                // Results of one assistant turn go together in the next user turn.
                match messages.last_mut().filter(|_| last_was_tool).and_then(|l| l["content"].as_array_mut()) {
                    Some(blocks) => blocks.push(block),
                    None => messages.push(json!({"role": "user", "content": [block]})),
                }
            }
        }
        last_was_tool = m.role == Role::Tool;
    }
    let max_tokens = if req.max_tokens > 0 { req.max_tokens } else { DEFAULT_MAX_TOKENS };
    let mut body = json!({"model": ep.model, "max_tokens": max_tokens, "messages": messages, "stream": true});
    if !system.is_empty() {
        body["system"] = json!(system);
    }
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
    }
    body
}

fn tool_result(m: &Message) -> Value {
    let mut block = json!({
        "type": "tool_result",
        "tool_use_id": m.tool_call_id.as_deref().unwrap_or_default(),
        "content": m.text,
    });
    if m.is_error {
        block["is_error"] = json!(true);
    }
    block
}

#[derive(Debug)]
enum Block {
    Text,
    Tool { id: String, name: String, json: String, initial: Value },
    Other,
}

#[derive(Debug, Default)]
pub(super) struct Decoder {
    text: String,
    /// Content blocks by their `index`.
    blocks: Vec<(u64, Block)>,
    stop_reason: Option<String>,
    usage: (u64, u64),
    done: bool,
}

impl Decoder {
    pub fn event(&mut self, ep: &Endpoint, ev: &sse::Event, emit: &mut dyn FnMut(&Event)) -> Result<bool, Error> {
        let v: Value = serde_json::from_str(&ev.data)
            .map_err(|e| Error::MalformedStream(format!("an event is not valid JSON: {e}")))?;
        let kind = v["type"].as_str().unwrap_or(&ev.name);
        match kind {
            "message_start" => {
                self.usage(&v["message"]["usage"], emit);
            }
            "content_block_start" => {
                let index = v["index"].as_u64().unwrap_or(0);
                let b = &v["content_block"];
                let block = match b["type"].as_str() {
                    Some("text") => {
                        self.text(b["text"].as_str().unwrap_or_default(), emit);
                        Block::Text
                    }
                    Some("tool_use") => {
                        let id = b["id"].as_str().unwrap_or_default().to_string();
                        let name = b["name"].as_str().unwrap_or_default().to_string();
                        if name.is_empty() {
                            return Err(Error::MalformedStream("a tool_use block without a name".into()));
                        }
                        emit(&Event::ToolCallStarted { id: id.clone(), name: name.clone() });
                        Block::Tool { id, name, json: String::new(), initial: b["input"].clone() }
                    }
                    _ => Block::Other,
                };
                self.blocks.push((index, block));
            }
            "content_block_delta" => {
                let index = v["index"].as_u64().unwrap_or(0);
                let d = &v["delta"];
                match d["type"].as_str() {
                    Some("text_delta") => self.text(d["text"].as_str().unwrap_or_default(), emit),
                    Some("input_json_delta") => {
                        let piece = d["partial_json"].as_str().unwrap_or_default();
                        match self.blocks.iter_mut().find(|(i, _)| *i == index) {
                            Some((_, Block::Tool { id, json, .. })) => {
                                json.push_str(piece);
                                if !piece.is_empty() {
                                    emit(&Event::ToolCallArgsDelta { id: id.clone(), delta: piece.to_string() });
                                }
                            }
                            _ => return Err(Error::MalformedStream(format!("input_json_delta for block {index}, not a tool_use"))),
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(r) = v["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(r.to_string());
                }
                self.usage(&v["usage"], emit);
            }
            "message_stop" => {
                self.done = true;
                return Ok(true);
            }
            "error" => return Err(stream_error(ep, &v)),
            _ => {} // ping, content_block_stop, future events
        }
        Ok(false)
    }

    fn text(&mut self, t: &str, emit: &mut dyn FnMut(&Event)) {
        if !t.is_empty() {
            self.text.push_str(t);
            emit(&Event::TextDelta(t.to_string()));
        }
    }

    /// Takes the counts present in `u`: input (with cache reads and writes) and output.
    fn usage(&mut self, u: &Value, emit: &mut dyn FnMut(&Event)) {
        let Some(u) = u.as_object() else { return };
        let n = |k: &str| u.get(k).and_then(Value::as_u64);
        if let Some(input) = n("input_tokens") {
            self.usage.0 = input
                + n("cache_creation_input_tokens").unwrap_or(0)
                + n("cache_read_input_tokens").unwrap_or(0);
        }
        if let Some(output) = n("output_tokens") {
            self.usage.1 = output;
        }
        emit(&Event::Usage { input_tokens: self.usage.0, output_tokens: self.usage.1 });
    }

    pub fn finish(self) -> Result<Reply, Error> {
        if !self.done && self.stop_reason.is_none() {
            return Err(Error::MalformedStream("the stream ended before the model finished".into()));
        }
        let mut tool_calls = Vec::new();
        for (_, block) in self.blocks {
            if let Block::Tool { id, name, json, initial } = block {
                let arguments = if json.trim().is_empty() && initial.is_object() {
                    initial
                } else {
                    parse_arguments(&name, &json)?
                };
                tool_calls.push(ToolCall { id, name, arguments });
            }
        }
        Ok(Reply {
            text: self.text,
            tool_calls,
            stop_reason: self.stop_reason.unwrap_or_else(|| "end_turn".into()),
            input_tokens: self.usage.0,
            output_tokens: self.usage.1,
        })
    }
}
