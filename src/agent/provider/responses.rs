//! `openai-responses`: the Responses API request body and stream decoder, for
//! OpenAI's `POST {base}/responses` and for the ChatGPT Codex backend
//! (`POST {base}/codex/responses`, signed in with OpenAI Codex OAuth).
//!
//! The conversation goes in `input` as items: `message` (user text as
//! `input_text`, earlier assistant text as `output_text`), `function_call` and
//! `function_call_output`; the system prompt is `instructions`. Requests are
//! stateless (`store: false`). The Codex backend needs `instructions` and
//! refuses `max_output_tokens`, so those differ by API.
//!
//! Events (`data: {"type": …}`): `response.output_text.delta` (and
//! `response.refusal.delta`) carry text; a tool call starts with
//! `response.output_item.added` (a `function_call` item with its `call_id` and
//! name), continues with `response.function_call_arguments.delta` keyed by
//! the item id, and `response.output_item.done` has the whole arguments text;
//! `response.completed` (usage) or `response.incomplete` ends the stream;
//! `response.failed` and `error` are errors. Reasoning items and other
//! events are skipped.

use serde_json::{Value, json};

use super::{Api, Endpoint, Error, Event, Message, Reply, Request, Role, ToolCall, parse_arguments, sse, stream_error};

pub(super) fn body(ep: &Endpoint, req: &Request) -> Value {
    let codex = ep.api == Api::OpenAiCodexResponses;
    let mut instructions = req.system.to_string();
    let mut input = Vec::new();
    for m in req.messages {
        match m.role {
            Role::System if codex => {
                if !instructions.is_empty() {
                    instructions.push_str("\n\n");
                }
                instructions.push_str(&m.text);
            }
            Role::System => input.push(message_item("developer", "input_text", &m.text)),
            Role::User => input.push(message_item("user", "input_text", &m.text)),
            Role::Assistant => assistant_items(m, &mut input),
            Role::Tool => input.push(json!({
                "type": "function_call_output",
                "call_id": m.tool_call_id.as_deref().unwrap_or_default(),
                "output": m.text,
            })),
        }
    }
    let mut body = json!({"model": ep.model, "input": input, "stream": true, "store": false});
    if codex || !instructions.is_empty() {
        body["instructions"] = json!(instructions);
    }
    if req.max_tokens > 0 && !codex {
        body["max_output_tokens"] = json!(req.max_tokens);
    }
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| json!({"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters, "strict": false}))
            .collect();
        body["tool_choice"] = json!("auto");
        body["parallel_tool_calls"] = json!(true);
    }
    body
}

fn message_item(role: &str, kind: &str, text: &str) -> Value {
    json!({"type": "message", "role": role, "content": [{"type": kind, "text": text}]})
}

fn assistant_items(m: &Message, input: &mut Vec<Value>) {
    if !m.text.is_empty() {
        input.push(json!({
            "type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": m.text, "annotations": []}],
        }));
    }
    for c in &m.tool_calls {
        input.push(json!({"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments.to_string()}));
    }
}

/// A tool call being assembled, keyed by its item id.
#[derive(Debug, Default)]
struct Partial {
    item_id: String,
    call_id: String,
    name: String,
    args: String,
}

#[derive(Debug, Default)]
pub(super) struct Decoder {
    text: String,
    /// Whether the current message item has streamed any text.
    message_text: bool,
    calls: Vec<Partial>,
    status: Option<String>,
    usage: (u64, u64),
}

impl Decoder {
    /// True once the response is complete.
    pub fn event(&mut self, ep: &Endpoint, ev: &sse::Event, emit: &mut dyn FnMut(&Event)) -> Result<bool, Error> {
        if ev.data.trim() == "[DONE]" {
            return Ok(self.status.is_some());
        }
        let v: Value = serde_json::from_str(&ev.data)
            .map_err(|e| Error::MalformedStream(format!("a stream event is not valid JSON: {e}")))?;
        let kind = v["type"].as_str().unwrap_or(ev.name.as_str());
        match kind {
            "response.output_text.delta" | "response.refusal.delta" => {
                if let Some(d) = v["delta"].as_str().filter(|d| !d.is_empty()) {
                    self.text.push_str(d);
                    self.message_text = true;
                    emit(&Event::TextDelta(d.to_string()));
                }
            }
            "response.output_item.added" => {
                let item = &v["item"];
                match item["type"].as_str() {
                    Some("function_call") => self.start_call(item, emit),
                    Some("message") => self.message_text = false,
                    _ => {}
                }
            }
            "response.function_call_arguments.delta" => {
                let id = v["item_id"].as_str().unwrap_or_default();
                let delta = v["delta"].as_str().unwrap_or_default();
                let at = match self.calls.iter().position(|c| c.item_id == id) {
                    Some(i) => Some(i),
                    None if id.is_empty() => self.calls.len().checked_sub(1),
                    None => None,
                };
                match at.map(|i| &mut self.calls[i]) {
                    Some(c) if !delta.is_empty() => {
                        c.args.push_str(delta);
                        emit(&Event::ToolCallArgsDelta { id: c.call_id.clone(), delta: delta.to_string() });
                    }
                    Some(_) => {}
                    None => return Err(Error::MalformedStream(format!("arguments for an unknown tool call item {id:?}"))),
                }
            }
            "response.output_item.done" => self.finish_item(&v["item"], emit),
            "response.completed" | "response.done" | "response.incomplete" => {
                let r = &v["response"];
                if let Some(u) = r["usage"].as_object() {
                    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
                    self.usage = (n("input_tokens"), n("output_tokens"));
                    emit(&Event::Usage { input_tokens: self.usage.0, output_tokens: self.usage.1 });
                }
                let reason = r["incomplete_details"]["reason"].as_str();
                self.status = Some(reason.or(r["status"].as_str()).unwrap_or("completed").to_string());
                return Ok(true);
            }
            "response.failed" => {
                let e = &v["response"]["error"];
                return Err(error(ep, e["code"].as_str(), e["message"].as_str()));
            }
            "error" => {
                let e = if v["error"].is_object() { &v["error"] } else { &v };
                return Err(error(ep, e["code"].as_str().or(e["type"].as_str()), e["message"].as_str()));
            }
            _ => {}
        }
        Ok(false)
    }

    fn start_call(&mut self, item: &Value, emit: &mut dyn FnMut(&Event)) {
        let item_id = item["id"].as_str().unwrap_or_default().to_string();
        let call_id = item["call_id"].as_str().filter(|c| !c.is_empty()).map(str::to_string);
        let call_id = call_id.unwrap_or_else(|| if item_id.is_empty() { format!("call_{}", self.calls.len()) } else { item_id.clone() });
        let name = item["name"].as_str().unwrap_or_default().to_string();
        let args = item["arguments"].as_str().unwrap_or_default().to_string();
        emit(&Event::ToolCallStarted { id: call_id.clone(), name: name.clone() });
        if !args.is_empty() {
            emit(&Event::ToolCallArgsDelta { id: call_id.clone(), delta: args.clone() });
        }
        self.calls.push(Partial { item_id, call_id, name, args });
    }

    fn finish_item(&mut self, item: &Value, emit: &mut dyn FnMut(&Event)) {
        match item["type"].as_str() {
            Some("function_call") => {
                let id = item["id"].as_str().unwrap_or_default();
                if !self.calls.iter().any(|c| c.item_id == id) {
                    self.start_call(item, emit);
                    return;
                }
                let call = self.calls.iter_mut().find(|c| c.item_id == id).expect("checked above");
                if let Some(args) = item["arguments"].as_str().filter(|a| !a.is_empty()) {
                    call.args = args.to_string();
                }
                if call.name.is_empty() {
                    call.name = item["name"].as_str().unwrap_or_default().to_string();
                }
            }
            // A server that sends the message whole, without deltas.
            Some("message") if !self.message_text => {
                let text: String = item["content"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["text"].as_str().or(p["refusal"].as_str()))
                    .collect();
                if !text.is_empty() {
                    self.text.push_str(&text);
                    emit(&Event::TextDelta(text));
                }
            }
            _ => {}
        }
    }

    /// The reply, once the stream ended.
    pub fn finish(self) -> Result<Reply, Error> {
        let Some(status) = self.status else {
            return Err(Error::MalformedStream("the stream ended before the model finished".into()));
        };
        let tool_calls = self
            .calls
            .into_iter()
            .map(|c| {
                if c.name.is_empty() {
                    return Err(Error::MalformedStream("a tool call without a name".into()));
                }
                let arguments = parse_arguments(&c.name, &c.args)?;
                Ok(ToolCall { id: c.call_id, name: c.name, arguments })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stop_reason = if tool_calls.is_empty() { status } else { "tool_calls".to_string() };
        Ok(Reply { text: self.text, tool_calls, stop_reason, input_tokens: self.usage.0, output_tokens: self.usage.1 })
    }
}

/// An error event as the client's error, classified by its code.
fn error(ep: &Endpoint, code: Option<&str>, message: Option<&str>) -> Error {
    let code = code.unwrap_or("server_error");
    let kind = match code {
        "rate_limit_exceeded" | "rate_limit_error" => "rate_limit_error",
        "insufficient_quota" | "usage_limit_reached" | "usage_not_included" => "insufficient_quota",
        "invalid_api_key" | "token_expired" | "invalid_token" => "authentication_error",
        "invalid_request_error" | "context_length_exceeded" | "invalid_prompt" | "unsupported_parameter" => {
            "invalid_request_error"
        }
        _ => "api_error",
    };
    let message = message.filter(|m| !m.is_empty()).unwrap_or(code);
    stream_error(ep, &json!({"error": {"message": message, "type": kind, "code": code}}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::provider::ToolSpec;

    fn ep(api: Api) -> Endpoint {
        Endpoint { provider: "p".into(), api, base_url: "http://x".into(), api_key: Some("k".into()), model: "m".into(), headers: vec![] }
    }

    fn decode(api: Api, events: &[Value]) -> (Result<Reply, Error>, Vec<Event>) {
        let mut d = Decoder::default();
        let mut seen = Vec::new();
        for v in events {
            let ev = sse::Event { name: v["type"].as_str().unwrap_or_default().into(), data: v.to_string() };
            match d.event(&ep(api), &ev, &mut |e| seen.push(e.clone())) {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => return (Err(e), seen),
            }
        }
        (d.finish(), seen)
    }

    #[test]
    fn bodies_for_the_api_and_the_codex_backend() {
        let messages = [
            Message::system("extra"),
            Message::user("hi"),
            Message::assistant("calling", vec![ToolCall { id: "c1".into(), name: "exec".into(), arguments: json!({"command": "ls"}) }]),
            Message::tool_result("c1", "a b", false),
        ];
        let tools = [ToolSpec { name: "exec".into(), description: "run".into(), parameters: json!({"type": "object"}) }];
        let req = Request { system: "sys", messages: &messages, tools: &tools, max_tokens: 100 };
        let b = body(&ep(Api::OpenAiResponses), &req);
        assert_eq!(b["instructions"], "sys");
        assert_eq!(b["max_output_tokens"], 100);
        assert_eq!(b["store"], false);
        let kinds: Vec<&str> = b["input"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["message", "message", "message", "function_call", "function_call_output"]);
        assert_eq!(b["input"][0]["role"], "developer");
        assert_eq!(b["input"][3]["arguments"], r#"{"command":"ls"}"#);
        assert_eq!(b["input"][4]["call_id"], "c1");
        assert_eq!(b["tools"][0]["name"], "exec");
        let c = body(&ep(Api::OpenAiCodexResponses), &req);
        assert_eq!(c["instructions"], "sys\n\nextra");
        assert!(c.get("max_output_tokens").is_none());
        let none = Request { system: "", messages: &messages[1..2], tools: &[], max_tokens: 0 };
        assert_eq!(body(&ep(Api::OpenAiCodexResponses), &none)["instructions"], "");
        assert!(body(&ep(Api::OpenAiResponses), &none).get("instructions").is_none());
    }

    #[test]
    fn text_and_a_tool_call_with_usage() {
        let events = [
            json!({"type": "response.created", "response": {"status": "in_progress"}}),
            json!({"type": "response.output_item.added", "item": {"type": "reasoning", "id": "rs_1"}}),
            json!({"type": "response.output_item.added", "item": {"type": "message", "id": "msg_1"}}),
            json!({"type": "response.output_text.delta", "item_id": "msg_1", "delta": "Hel"}),
            json!({"type": "response.output_text.delta", "item_id": "msg_1", "delta": "lo"}),
            json!({"type": "response.output_item.done", "item": {"type": "message", "id": "msg_1", "content": [{"type": "output_text", "text": "Hello"}]}}),
            json!({"type": "response.output_item.added", "item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "exec", "arguments": ""}}),
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": "{\"command\""}),
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": ":\"ls\"}"}),
            json!({"type": "response.output_item.done", "item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "exec", "arguments": "{\"command\":\"ls\"}"}}),
            json!({"type": "response.completed", "response": {"status": "completed", "usage": {"input_tokens": 7, "output_tokens": 3}}}),
        ];
        let (reply, seen) = decode(Api::OpenAiResponses, &events);
        let reply = reply.unwrap();
        assert_eq!(reply.text, "Hello");
        assert_eq!(reply.tool_calls, vec![ToolCall { id: "call_1".into(), name: "exec".into(), arguments: json!({"command": "ls"}) }]);
        assert_eq!((reply.stop_reason.as_str(), reply.input_tokens, reply.output_tokens), ("tool_calls", 7, 3));
        assert_eq!(seen[0], Event::TextDelta("Hel".into()));
        assert!(seen.contains(&Event::ToolCallStarted { id: "call_1".into(), name: "exec".into() }));
        assert!(seen.contains(&Event::ToolCallArgsDelta { id: "call_1".into(), delta: ":\"ls\"}".into() }));
    }

    #[test]
    fn whole_messages_incomplete_failures_and_cut_streams() {
        let whole = [
            json!({"type": "response.output_item.done", "item": {"type": "message", "content": [{"type": "output_text", "text": "all at once"}]}}),
            json!({"type": "response.incomplete", "response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}}),
        ];
        let r = decode(Api::OpenAiResponses, &whole).0.unwrap();
        assert_eq!((r.text.as_str(), r.stop_reason.as_str()), ("all at once", "max_output_tokens"));
        let failed = [json!({"type": "response.failed", "response": {"status": "failed", "error": {"code": "rate_limit_exceeded", "message": "slow down"}}})];
        assert!(matches!(decode(Api::OpenAiResponses, &failed).0, Err(Error::RateLimited { .. })));
        let quota = [json!({"type": "error", "code": "usage_limit_reached", "message": "You've hit your usage limit"})];
        assert!(matches!(decode(Api::OpenAiCodexResponses, &quota).0, Err(Error::Quota { .. })));
        let server = [json!({"type": "error", "error": {"type": "server_error", "message": "oops"}})];
        assert!(matches!(decode(Api::OpenAiResponses, &server).0, Err(Error::Server { .. })));
        let cut = [json!({"type": "response.output_text.delta", "delta": "par"})];
        assert!(matches!(decode(Api::OpenAiResponses, &cut).0, Err(Error::MalformedStream(_))));
        let stray = [json!({"type": "response.function_call_arguments.delta", "item_id": "nope", "delta": "{}"})];
        assert!(matches!(decode(Api::OpenAiResponses, &stray).0, Err(Error::MalformedStream(_))));
    }
}
