"""Every API a client may speak, through Tollgate, to one model: the unmodified OpenAI SDK (chat,
streamed chat, tool calls, a tool-result turn, Responses, streamed Responses, Responses tool calls)
and the unmodified Anthropic SDK (Messages, streamed, tool use). Only base_url changes.

Usage: python matrix.py BASE_URL MODEL [API_KEY] [EXTRA_HEADERS_JSON]
Prints one JSON object: each call's result, or {"error": "..."}; the end-to-end tests assert on it.
The `x-fake-tool-calls` header asks the fake providers (tests/src/fake.rs) to answer with a tool
call; a real provider ignores it and decides by itself.
"""
import json
import sys

from anthropic import Anthropic
from openai import OpenAI

base = sys.argv[1]
model = sys.argv[2]
key = sys.argv[3] if len(sys.argv) > 3 else "sk-tollgate-demo-finance-forecasting"
extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
oa = OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, default_headers=extra)
an = Anthropic(base_url=base, api_key=key, max_retries=0, default_headers=extra)

CALL = [{"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}]
TOOL_HDR = {"x-fake-tool-calls": json.dumps(CALL)}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CHAT_TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                                  "parameters": SCHEMA}}]
RESP_TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather in a city", "parameters": SCHEMA}]
ANTH_TOOLS = [{"name": "get_weather", "description": "Weather in a city", "input_schema": SCHEMA}]
out = {}


def run(name, f):
    try:
        out[name] = f()
    except Exception as e:  # the test prints which call failed and why
        out[name] = {"error": f"{type(e).__name__}: {e}"}


def chat():
    r = oa.chat.completions.create(model=model, messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello, chat"}])
    return {"content": r.choices[0].message.content, "finish_reason": r.choices[0].finish_reason,
            "prompt_tokens": r.usage.prompt_tokens, "completion_tokens": r.usage.completion_tokens}


def chat_stream():
    text, finish, usage = "", None, None
    for c in oa.chat.completions.create(model=model, stream=True, stream_options={"include_usage": True},
                                        messages=[{"role": "user", "content": "Stream hello, chat"}]):
        if c.usage:
            usage = {"prompt_tokens": c.usage.prompt_tokens, "completion_tokens": c.usage.completion_tokens}
        for ch in c.choices:
            text += ch.delta.content or ""
            finish = ch.finish_reason or finish
    return {"content": text, "finish_reason": finish, "usage": usage}


def chat_tools():
    r = oa.chat.completions.create(model=model, tools=CHAT_TOOLS, extra_headers=TOOL_HDR,
                                   messages=[{"role": "user", "content": "Weather in Paris?"}])
    m = r.choices[0].message
    return {"finish_reason": r.choices[0].finish_reason,
            "calls": [{"name": t.function.name, "arguments": json.loads(t.function.arguments)}
                      for t in m.tool_calls or []]}


def chat_tools_stream():
    calls, finish = {}, None
    for c in oa.chat.completions.create(model=model, tools=CHAT_TOOLS, extra_headers=TOOL_HDR, stream=True,
                                        messages=[{"role": "user", "content": "Weather in Paris?"}]):
        for ch in c.choices:
            finish = ch.finish_reason or finish
            for t in ch.delta.tool_calls or []:
                cur = calls.setdefault(t.index, {"name": "", "arguments": ""})
                if t.function and t.function.name:
                    cur["name"] += t.function.name
                if t.function and t.function.arguments:
                    cur["arguments"] += t.function.arguments
    return {"finish_reason": finish,
            "calls": [{"name": v["name"], "arguments": json.loads(v["arguments"])} for _, v in sorted(calls.items())]}


def chat_tool_result():
    r = oa.chat.completions.create(model=model, tools=CHAT_TOOLS, messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\": 21}"},
        {"role": "user", "content": "Thanks, summarise"}])
    return {"content": r.choices[0].message.content}


def responses():
    r = oa.responses.create(model=model, instructions="Be brief.", input="Say hello, responses")
    return {"text": r.output_text, "status": r.status,
            "input_tokens": r.usage.input_tokens, "output_tokens": r.usage.output_tokens}


def responses_stream():
    text, kinds, final = "", [], None
    for e in oa.responses.create(model=model, input="Stream hello, responses", stream=True):
        kinds.append(e.type)
        if e.type == "response.output_text.delta":
            text += e.delta
        if e.type == "response.completed":
            final = e.response
    return {"text": text, "first": kinds[:1], "last": kinds[-1:],
            "output_tokens": final.usage.output_tokens if final else None}


def responses_tools():
    r = oa.responses.create(model=model, tools=RESP_TOOLS, extra_headers=TOOL_HDR, input="Weather in Paris?")
    return {"calls": [{"name": i.name, "arguments": json.loads(i.arguments)} for i in r.output
                      if i.type == "function_call"]}


def responses_tools_stream():
    args, names = {}, {}
    for e in oa.responses.create(model=model, tools=RESP_TOOLS, extra_headers=TOOL_HDR, stream=True,
                                 input="Weather in Paris?"):
        if e.type == "response.output_item.added" and e.item.type == "function_call":
            names[e.output_index] = e.item.name
        if e.type == "response.function_call_arguments.delta":
            args[e.output_index] = args.get(e.output_index, "") + e.delta
    return {"calls": [{"name": names.get(i), "arguments": json.loads(a)} for i, a in sorted(args.items())]}


def anthropic():
    m = an.messages.create(model=model, max_tokens=100, system="Be brief.",
                           messages=[{"role": "user", "content": "Say hello, claude"}])
    return {"text": m.content[0].text, "stop_reason": m.stop_reason,
            "input_tokens": m.usage.input_tokens, "output_tokens": m.usage.output_tokens}


def anthropic_stream():
    text = ""
    with an.messages.stream(model=model, max_tokens=100,
                            messages=[{"role": "user", "content": "Stream hello, claude"}]) as s:
        for d in s.text_stream:
            text += d
        final = s.get_final_message()
    return {"text": text, "stop_reason": final.stop_reason, "output_tokens": final.usage.output_tokens}


def anthropic_tools():
    m = an.messages.create(model=model, max_tokens=100, tools=ANTH_TOOLS, extra_headers=TOOL_HDR,
                           messages=[{"role": "user", "content": "Weather in Paris?"}])
    return {"stop_reason": m.stop_reason,
            "calls": [{"name": b.name, "arguments": b.input} for b in m.content if b.type == "tool_use"]}


def anthropic_tools_stream():
    with an.messages.stream(model=model, max_tokens=100, tools=ANTH_TOOLS, extra_headers=TOOL_HDR,
                            messages=[{"role": "user", "content": "Weather in Paris?"}]) as s:
        final = s.get_final_message()
    return {"stop_reason": final.stop_reason,
            "calls": [{"name": b.name, "arguments": b.input} for b in final.content if b.type == "tool_use"]}


for name, f in [("chat", chat), ("chat_stream", chat_stream), ("chat_tools", chat_tools),
                ("chat_tools_stream", chat_tools_stream), ("chat_tool_result", chat_tool_result),
                ("responses", responses), ("responses_stream", responses_stream),
                ("responses_tools", responses_tools), ("responses_tools_stream", responses_tools_stream),
                ("anthropic", anthropic), ("anthropic_stream", anthropic_stream),
                ("anthropic_tools", anthropic_tools), ("anthropic_tools_stream", anthropic_tools_stream)]:
    run(name, f)
print(json.dumps(out))
