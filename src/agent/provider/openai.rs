//! `openai-completions`: the Chat Completions request body and stream decoder.
//!
//! Chunks are `data: {"choices":[{"delta":{content, tool_calls}, finish_reason}], usage}`
//! and the stream ends with `data: [DONE]`. A tool call arrives in pieces keyed by
//! `index`: id and name first, then the arguments text in fragments.

use serde_json::{Value, json};

use super::{Endpoint, Error, Event, Message, Reply, Request, Role, ToolCall, sse, stream_error};

pub(super) fn body(ep: &Endpoint, req: &Request) -> Value {
    let mut messages = Vec::new();
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    messages.extend(req.messages.iter().map(message));
    let mut body = json!({
        "model": ep.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if req.max_tokens > 0 {
        // OpenAI's own API deprecated `max_tokens` (reasoning models refuse it); the
        // compatible servers mostly know only `max_tokens`.
        let field = if ep.base_url.contains("api.openai.com") { "max_completion_tokens" } else { "max_tokens" };
        body[field] = json!(req.max_tokens);
    }
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters,
                }})
            })
            .collect();
    }
    body
}

fn message(m: &Message) -> Value {
    match m.role {
        Role::System => json!({"role": "system", "content": m.text}),
        Role::User => json!({"role": "user", "content": m.text}),
        Role::Assistant => {
            let mut v = json!({"role": "assistant", "content": m.text});
            if !m.tool_calls.is_empty() {
                if m.text.is_empty() {
                    v["content"] = Value::Null;
                }
                v["tool_calls"] = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        json!({"id": c.id, "type": "function", "function": {
                            "name": c.name, "arguments": c.arguments.to_string(),
                        }})
                    })
                    .collect();
            }
            v
        }
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.as_deref().unwrap_or_default(),
            "content": m.text,
        }),
    }
}

/// A tool call being assembled.
#[derive(Debug, Default)]
struct Partial {
    index: u64,
    id: String,
    name: String,
    args: String,
    started: bool,
}

#[derive(Debug, Default)]
pub(super) struct Decoder {
    text: String,
    calls: Vec<Partial>,
    finish_reason: Option<String>,
    usage: (u64, u64),
    done: bool,
}

impl Decoder {
    pub fn event(&mut self, ep: &Endpoint, ev: &sse::Event, emit: &mut dyn FnMut(&Event)) -> Result<bool, Error> {
        if ev.data.trim() == "[DONE]" {
            self.done = true;
            return Ok(true);
        }
        let v: Value = serde_json::from_str(&ev.data)
            .map_err(|e| Error::MalformedStream(format!("a stream chunk is not valid JSON: {e}")))?;
        if v["error"].is_object() {
            return Err(stream_error(ep, &v));
        }
        if let Some(u) = v["usage"].as_object() {
            let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
            self.usage = (n("prompt_tokens"), n("completion_tokens"));
            emit(&Event::Usage { input_tokens: self.usage.0, output_tokens: self.usage.1 });
        }
        for choice in v["choices"].as_array().into_iter().flatten() {
            let delta = &choice["delta"];
            if let Some(t) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                self.text.push_str(t);
                emit(&Event::TextDelta(t.to_string()));
            }
            for tc in delta["tool_calls"].as_array().into_iter().flatten() {
                self.tool_call_piece(tc, emit);
            }
            if let Some(r) = choice["finish_reason"].as_str() {
                self.finish_reason = Some(r.to_string());
            }
        }
        Ok(false)
    }

    fn tool_call_piece(&mut self, tc: &Value, emit: &mut dyn FnMut(&Event)) {
        let id = tc["id"].as_str().unwrap_or_default();
        // Without an `index` (some compatible servers), a new id starts a new call.
        let index = tc["index"].as_u64().unwrap_or_else(|| match self.calls.last() {
            Some(last) if id.is_empty() || last.id == id => last.index,
            Some(last) => last.index + 1,
            None => 0,
        });
        let pos = match self.calls.iter().position(|c| c.index == index) {
            Some(pos) => pos,
            None => {
                self.calls.push(Partial { index, ..Partial::default() });
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[pos];
        if call.id.is_empty() && !id.is_empty() {
            call.id = id.to_string();
        }
        let f = &tc["function"];
        if let Some(name) = f["name"].as_str().filter(|n| call.name.is_empty() && !n.is_empty()) {
            call.name = name.to_string();
        }
        let args = f["arguments"].as_str().unwrap_or_default();
        call.args.push_str(args);
        if !call.started && !call.name.is_empty() {
            call.started = true;
            if call.id.is_empty() {
                call.id = format!("call_{index}");
            }
            emit(&Event::ToolCallStarted { id: call.id.clone(), name: call.name.clone() });
            if !call.args.is_empty() {
                emit(&Event::ToolCallArgsDelta { id: call.id.clone(), delta: call.args.clone() });
            }
        } else if call.started && !args.is_empty() {
            emit(&Event::ToolCallArgsDelta { id: call.id.clone(), delta: args.to_string() });
        }
    }

    /// The reply; the stream ended (`[DONE]`, or the end of the body).
    pub fn finish(self) -> Result<Reply, Error> {
        if !self.done && self.finish_reason.is_none() {
            return Err(Error::MalformedStream("the stream ended before the model finished".into()));
        }
        let tool_calls = self
            .calls
            .into_iter()
            .map(|c| {
                if c.name.is_empty() {
                    return Err(Error::MalformedStream("a tool call without a name".into()));
                }
                let arguments = super::parse_arguments(&c.name, &c.args)?;
                Ok(ToolCall { id: c.id, name: c.name, arguments })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Reply {
            text: self.text,
            tool_calls,
            stop_reason: self.finish_reason.unwrap_or_else(|| "stop".into()),
            input_tokens: self.usage.0,
            output_tokens: self.usage.1,
        })
    }
}
