"""The unmodified Anthropic Python SDK against Tollgate: only base_url changes, and api_key is the
client's Tollgate secret (sent as x-api-key, which the gateway authenticates and never forwards).

Usage: python client.py [base_url] [model] [api_key]   (default http://localhost:8081, claude-sonnet-4-5,
       make run's demo client "finance-forecasting-agent")
Prints one JSON object with what each call returned; the end-to-end tests assert on it.
"""
import json
import sys

from anthropic import Anthropic

base_url = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8081"
model = sys.argv[2] if len(sys.argv) > 2 else "claude-sonnet-4-5"
api_key = sys.argv[3] if len(sys.argv) > 3 else "sk-tollgate-demo-finance-forecasting"
client = Anthropic(base_url=base_url, api_key=api_key)
out = {}

m = client.messages.create(model=model, max_tokens=100,
                           messages=[{"role": "user", "content": "What are the key benefits of API governance?"}])
out["message"] = {"content": m.content[0].text, "input_tokens": m.usage.input_tokens,
                  "output_tokens": m.usage.output_tokens}

text = ""
with client.messages.stream(model=model, max_tokens=100,
                            messages=[{"role": "user", "content": "Stream this back, please."}]) as stream:
    for delta in stream.text_stream:
        text += delta
    final = stream.get_final_message()
out["stream"] = {"content": text, "output_tokens": final.usage.output_tokens}
print(json.dumps(out))
