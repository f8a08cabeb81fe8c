// Reference token counts from an independent tokenizer (npm `gpt-tokenizer`, which ships the
// o200k_base / cl100k_base ranks offline). Regenerate with:
//   npm install --prefix /tmp/tokfix gpt-tokenizer@3.4.0
//   NODE_PATH=/tmp/tokfix/node_modules node tools/gen-token-fixtures.mjs > crates/tollgate-tokenizer/tests/fixtures/counts.json
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const o200k = require("gpt-tokenizer/cjs/encoding/o200k_base");
const cl100k = require("gpt-tokenizer/cjs/encoding/cl100k_base");

const texts = [
  "",
  "hi",
  "Hello, world!",
  "Summarize the key trends in Q3 earnings.",
  "The quick brown fox jumps over the lazy dog. It's 3:45pm and I've got 1234567 reasons.",
  "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * 2).collect();\n    println!(\"{:?}\", v);\n}\n",
  "def f(x):\n\treturn {'a': [1, 2, 3], \"b\": None}  # comment\n",
  "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}",
  "你好，世界！这是一个测试句子，用于检查中文分词。",
  "日本語のテキストとカタカナ、ひらがなを含む文章です。",
  "한국어 문장도 포함합니다.",
  "Emoji: 🎉🚀👍🏽 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 and ❤️",
  "Ünïcödé àccénts — “quotes” and ‘apostrophes’ … ellipsis",
  "    leading spaces\n\n\n\ttabs\t\tand   multiple    spaces   \n  ",
  "\n\n\n\n",
  "   ",
  "a\r\nb\r\n\r\nc",
  "CAPITALS and MiXeD CaSe WORDS, I'LL WE'RE they'd",
  "https://example.com/path?query=1&b=2#frag user@example.org 192.168.0.1",
  "0123456789 3.14159265358979 -42 1e10 1,000,000",
  "Привет, как дела? Ελληνικά κείμενα. مرحبا بالعالم. שלום עולם.",
  "<|endoftext|> is just text here",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "The Finance Forecasting Agent asked: what are the top 3 risks in the current market?",
];
const out = texts.map((text) => ({
  text,
  o200k_base: o200k.encode(text, { disallowedSpecial: new Set() }).length,
  cl100k_base: cl100k.encode(text, { disallowedSpecial: new Set() }).length,
}));
console.log(JSON.stringify({ generator: "gpt-tokenizer@3.4.0", cases: out }, null, 1));
