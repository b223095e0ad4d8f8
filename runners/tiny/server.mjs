// A small OpenAI-compatible HTTP server over real llama.cpp (node-llama-cpp 3.21.1), for fedai's
// tests, devnet and demo. With the tiny random-weight model from make_gguf.mjs the text is
// gibberish, but the requests, streaming and token counts are real llama.cpp.
//
//   node server.mjs [--host 127.0.0.1] [--port 0] [--model PATH] [--model-name tiny]
//                   [--seed 1] [--max-body BYTES] [--max-queue N]
//
// --port 0 picks a free port. When the model is loaded and the socket listens, it prints
// `runner: http://HOST:PORT` on a line of its own. --model PATH loads that GGUF, generating the
// tiny model there first if the file does not exist.
//
// Endpoints:
//   GET  /health               {"status":"ok"}
//   GET  /v1/models            the one model, as {"object":"list","data":[{"id":NAME,...}]}
//   POST /v1/chat/completions  {model?, messages, max_tokens?, max_completion_tokens?,
//                               temperature?, top_p?, seed?, stop?, stream?, stream_options?}
//     plain: a chat.completion with usage; stream: chat.completion.chunk SSE events, a final
//     chunk carrying finish_reason, then (stream_options.include_usage) a chunk with `usage` and
//     no choices, then `data: [DONE]`.
//
// Chat template (the tiny model has none of its own): each message becomes `ROLE: CONTENT\n`,
// then `assistant:` is appended for the model to continue; generation also stops at
// `\nuser:` or `\nsystem:`. Requests are serialised onto one llama.cpp context (the model is
// loaded with gpu:false and evaluated with one thread: on small machines more threads are far
// slower); at most --max-queue requests wait, beyond that the answer is 503. A client that goes
// away stops its generation. Prompts and outputs are never logged.
import http from "node:http";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { writeTinyGguf } from "./make_gguf.mjs";

function parseArgs(argv) {
  const opts = {
    host: "127.0.0.1",
    port: 0,
    model: join(tmpdir(), "fedai-tiny.gguf"),
    modelName: "tiny",
    seed: 1,
    maxBody: 1 << 20,
    maxQueue: 64,
  };
  const need = (i) => {
    if (i + 1 >= argv.length) usage(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  const int = (s, name, min, max) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min || n > max) usage(`bad ${name}: ${s}`);
    return n;
  };
  for (let i = 0; i < argv.length; i += 2) {
    const v = need(i);
    switch (argv[i]) {
      case "--host": opts.host = v; break;
      case "--port": opts.port = int(v, "--port", 0, 65535); break;
      case "--model": opts.model = v; break;
      case "--model-name": opts.modelName = v; break;
      case "--seed": opts.seed = int(v, "--seed", 0, 2 ** 31); break;
      case "--max-body": opts.maxBody = int(v, "--max-body", 1024, 1 << 30); break;
      case "--max-queue": opts.maxQueue = int(v, "--max-queue", 1, 1 << 16); break;
      default: usage(`unknown option ${argv[i]}`);
    }
  }
  return opts;
}

function usage(message) {
  console.error(`server.mjs: ${message}`);
  console.error("usage: node server.mjs [--host H] [--port P] [--model PATH] [--model-name NAME] " +
                "[--seed N] [--max-body BYTES] [--max-queue N]");
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));

if (!existsSync(opts.model)) {
  try {
    writeTinyGguf(opts.model, { seed: opts.seed });
  } catch (err) {
    console.error(`server.mjs: cannot write ${opts.model}: ${err.message}`);
    process.exit(1);
  }
}

// node-llama-cpp needs Node.js 20 or newer; on an older one its import fails with a syntax error
// that names neither, so say what is wrong first.
const nodeMajor = Number(process.versions.node.split(".")[0]);
if (nodeMajor < 20) {
  console.error(`server.mjs: node-llama-cpp needs Node.js 20 or newer, and this is ${process.version} ` +
                `(${process.execPath}); run scripts/setup, which installs Node.js 20 where it is missing`);
  process.exit(1);
}

// Imported here rather than at the top so that argument errors answer without loading llama.cpp.
const { getLlama, LlamaCompletion } = await import("node-llama-cpp").catch((err) => {
  console.error(`server.mjs: node-llama-cpp is not installed (run scripts/setup): ${err.message}`);
  process.exit(1);
});

function fatal(what, err) {
  process.stderr.write(`server.mjs: ${what}: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
}

const t0 = performance.now();
const llama = await getLlama({
  gpu: false,
  build: "never", // the prebuilt binary from @node-llama-cpp/linux-x64; never compile or download
  logLevel: "error",
  // llama.cpp's own messages are about loading, never about prompts; keep only errors, on stderr.
  logger: (level, message) => {
    if (level === "error" || level === "fatal") process.stderr.write(`llama.cpp: ${message}\n`);
  },
}).catch((err) => fatal("cannot load llama.cpp (run scripts/setup)", err));
const t1 = performance.now();
const model = await llama
  .loadModel({ modelPath: opts.model, gpuLayers: 0 })
  .catch((err) => fatal(`cannot load ${opts.model}`, err));
const t2 = performance.now();
const context = await model
  .createContext({ contextSize: 256, threads: 1, sequences: 1 })
  .catch((err) => fatal("cannot create a context", err));
const sequence = context.getSequence();
const completion = new LlamaCompletion({ contextSequence: sequence });
const t3 = performance.now();
const loadTimes = `llama.cpp ${(t1 - t0).toFixed(0)} ms, model ${(t2 - t1).toFixed(0)} ms, ` +
                  `context ${(t3 - t2).toFixed(0)} ms`;
const contextSize = context.contextSize;
const created = Math.floor(Date.now() / 1000);

const ROLES = new Set(["system", "user", "assistant", "developer", "tool"]);
const TEMPLATE_STOPS = ["\nuser:", "\nsystem:"];

class HttpError extends Error {
  constructor(status, type, message, code = null) {
    super(message);
    this.status = status;
    this.type = type;
    this.code = code;
  }
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function sendError(res, err) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.status, { error: { message: err.message, type: err.type, code: err.code } });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > opts.maxBody) {
      reject(new HttpError(413, "invalid_request_error",
                           `request body larger than ${opts.maxBody} bytes`));
      return;
    }
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > opts.maxBody) {
        reject(new HttpError(413, "invalid_request_error",
                             `request body larger than ${opts.maxBody} bytes`));
        req.pause();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const invalid = (message, code = null) =>
  new HttpError(400, "invalid_request_error", message, code);

// Validates a chat request into what generate() needs.
function parseChat(text) {
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalid("request body is not JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw invalid("request body must be a JSON object");
  if (body.model !== undefined && body.model !== opts.modelName)
    throw new HttpError(404, "invalid_request_error",
                        `model '${String(body.model).slice(0, 100)}' not found`, "model_not_found");
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    throw invalid("messages must be a non-empty array");
  let prompt = "";
  for (const m of body.messages) {
    if (typeof m !== "object" || m === null || !ROLES.has(m.role))
      throw invalid("each message needs a role: system, user, assistant, developer or tool");
    let content = m.content;
    if (Array.isArray(content)) {
      // The array form: text parts only.
      content = content.map((p) => (p && p.type === "text" && typeof p.text === "string" ? p.text : null));
      if (content.includes(null)) throw invalid("only text content parts are supported");
      content = content.join("");
    }
    if (typeof content !== "string") throw invalid("message content must be a string");
    prompt += `${m.role}: ${content}\n`;
  }
  prompt += "assistant:";
  const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? 64;
  if (!Number.isInteger(maxTokens) || maxTokens < 1)
    throw invalid("max_tokens must be a positive integer");
  const temperature = body.temperature ?? 0.8;
  if (typeof temperature !== "number" || temperature < 0 || temperature > 2)
    throw invalid("temperature must be a number from 0 to 2");
  const topP = body.top_p ?? 1;
  if (typeof topP !== "number" || topP <= 0 || topP > 1)
    throw invalid("top_p must be a number in (0, 1]");
  const seed = body.seed ?? opts.seed;
  if (!Number.isInteger(seed) || seed < 0) throw invalid("seed must be a non-negative integer");
  let stop = body.stop ?? [];
  if (typeof stop === "string") stop = [stop];
  if (!Array.isArray(stop) || stop.length > 4 || stop.some((s) => typeof s !== "string" || !s))
    throw invalid("stop must be a string or up to 4 non-empty strings");
  if (body.stream !== undefined && typeof body.stream !== "boolean")
    throw invalid("stream must be a boolean");
  const includeUsage = Boolean(body.stream_options && body.stream_options.include_usage);

  const promptTokens = model.tokenize(prompt).length + (model.shouldPrependBosToken ? 1 : 0);
  if (promptTokens >= contextSize)
    throw invalid(`the prompt is ${promptTokens} tokens; the context holds ${contextSize}`,
                  "context_length_exceeded");
  return {
    prompt,
    promptTokens,
    maxTokens: Math.min(maxTokens, contextSize - promptTokens),
    temperature,
    topP,
    seed,
    stop: [...TEMPLATE_STOPS, ...stop],
    stream: body.stream === true,
    includeUsage,
  };
}

// One generation at a time on the one context; `waiting` bounds the queue.
let tail = Promise.resolve();
let waiting = 0;

function enqueue(job) {
  if (waiting >= opts.maxQueue)
    throw new HttpError(503, "server_error", "too many requests queued", "overloaded");
  waiting++;
  const run = tail.then(async () => {
    waiting--;
    return job();
  });
  tail = run.catch(() => {});
  return run;
}

async function generate(chat, signal, onText) {
  await sequence.clearHistory();
  let completionTokens = 0;
  const result = await completion.generateCompletionWithMeta(chat.prompt, {
    maxTokens: chat.maxTokens,
    temperature: chat.temperature,
    topP: chat.topP,
    seed: chat.seed,
    customStopTriggers: chat.stop,
    signal,
    stopOnAbortSignal: true,
    disableContextShift: true,
    onToken: (tokens) => {
      completionTokens += tokens.length;
    },
    onTextChunk: onText,
  });
  const reason = result.metadata.stopReason;
  return {
    text: result.response,
    finishReason: reason === "maxTokens" ? "length" : "stop",
    usage: {
      prompt_tokens: chat.promptTokens,
      completion_tokens: completionTokens,
      total_tokens: chat.promptTokens + completionTokens,
    },
  };
}

const completionId = () => `chatcmpl-${randomBytes(12).toString("hex")}`;

async function chatCompletions(req, res) {
  const chat = parseChat(await readBody(req));
  const abort = new AbortController();
  // The client went away (or the response ended): stop generating.
  res.on("close", () => abort.abort());
  const id = completionId();
  const now = Math.floor(Date.now() / 1000);
  if (!chat.stream) {
    const out = await enqueue(() => generate(chat, abort.signal, undefined));
    if (abort.signal.aborted) return;
    sendJson(res, 200, {
      id,
      object: "chat.completion",
      created: now,
      model: opts.modelName,
      choices: [{
        index: 0,
        message: { role: "assistant", content: out.text },
        finish_reason: out.finishReason,
      }],
      usage: out.usage,
    });
    return;
  }
  const chunk = (choices, extra = {}) =>
    `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: now,
                              model: opts.modelName, choices, ...extra })}\n\n`;
  const out = await enqueue(async () => {
    if (abort.signal.aborted) return null;
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
    });
    res.write(chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]));
    return generate(chat, abort.signal, (text) => {
      if (text && !res.writableEnded)
        res.write(chunk([{ index: 0, delta: { content: text }, finish_reason: null }]));
    });
  });
  if (out === null || abort.signal.aborted) return;
  res.write(chunk([{ index: 0, delta: {}, finish_reason: out.finishReason }]));
  if (chat.includeUsage) res.write(chunk([], { usage: out.usage }));
  res.end("data: [DONE]\n\n");
}

const server = http.createServer(async (req, res) => {
  try {
    const path = req.url.split("?")[0];
    if (path === "/health") {
      if (req.method !== "GET") throw new HttpError(405, "invalid_request_error", "use GET");
      sendJson(res, 200, { status: "ok" });
    } else if (path === "/v1/models") {
      if (req.method !== "GET") throw new HttpError(405, "invalid_request_error", "use GET");
      sendJson(res, 200, {
        object: "list",
        data: [{ id: opts.modelName, object: "model", created, owned_by: "fedai",
                 meta: { n_ctx: contextSize } }],
      });
    } else if (path === "/v1/chat/completions") {
      if (req.method !== "POST") throw new HttpError(405, "invalid_request_error", "use POST");
      await chatCompletions(req, res);
    } else {
      throw new HttpError(404, "invalid_request_error", `no route for ${req.method} ${path}`);
    }
  } catch (err) {
    if (err instanceof HttpError) {
      sendError(res, err);
    } else {
      // Never echo the prompt: only the error's own message, which llama.cpp keeps generic.
      process.stderr.write(`server.mjs: ${err && err.message ? err.message : err}\n`);
      sendError(res, new HttpError(500, "server_error", "generation failed"));
    }
  }
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 30_000;
server.requestTimeout = 0; // streams may run long; each client sets its own deadline

const stop = async () => {
  server.close();
  server.closeAllConnections();
  await llama.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

server.listen(opts.port, opts.host, () => {
  const { port } = server.address();
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  process.stderr.write(`server.mjs: ${opts.modelName} ready (${loadTimes})\n`);
  process.stdout.write(`runner: http://${host}:${port}\n`);
});
