"""The unmodified OpenAI Python SDK against Tollgate: only base_url changes.

Usage: python client.py [base_url]   (default http://localhost:8081/v1)
Prints one JSON object with what each call returned; the end-to-end tests assert on it.
"""
import json
import sys

from openai import OpenAI

base_url = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8081/v1"
model = sys.argv[2] if len(sys.argv) > 2 else "echo"
# The client's own secret (envoy/clients.yaml; this is make run's demo client "finance-forecasting-agent").
api_key = sys.argv[3] if len(sys.argv) > 3 else "sk-tollgate-demo-finance-forecasting"
client = OpenAI(base_url=base_url, api_key=api_key)
out = {}

r = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "What are the key benefits of API governance?"}])
out["chat"] = {"content": r.choices[0].message.content, "total_tokens": r.usage.total_tokens}

text, usage_chunks = "", 0
for chunk in client.chat.completions.create(
        model=model, stream=True, messages=[{"role": "user", "content": "Stream without usage, please."}]):
    if chunk.usage is not None:
        usage_chunks += 1
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
out["stream"] = {"content": text, "usage_chunks": usage_chunks}

text, usage = "", None
for chunk in client.chat.completions.create(
        model=model, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Stream with usage, please."}]):
    if chunk.usage is not None:
        usage = chunk.usage.total_tokens
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
out["stream_usage"] = {"content": text, "total_tokens": usage}

r = client.responses.create(model=model, instructions="You are a concise financial analyst.",
                            input="What are the top 3 risks in the current market?")
out["responses"] = {"content": r.output[0].content[0].text, "total_tokens": r.usage.total_tokens}

text, usage = "", None
with client.responses.stream(model=model, input="Stream a response, please.") as stream:
    for event in stream:
        if event.type == "response.output_text.delta":
            text += event.delta
    usage = stream.get_final_response().usage.total_tokens
out["responses_stream"] = {"content": text, "total_tokens": usage}

print(json.dumps(out))
