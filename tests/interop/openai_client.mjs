// The official OpenAI Node.js library (openai on npm) as a client of `fedai devnet`: a new user
// points any OpenAI client at a router and gets answers. The library always sends an API key (it
// refuses to start without one); the devnet serves clients without credentials, so any key must
// do. Checks plain and streamed chat completions (with the usage chunk), the model list with the
// market's prices, the sampling parameters the router carries to the node, and a parameter it
// refuses by name.
//
//   node openai_client.mjs --fedai PATH
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

let OpenAI
try {
  OpenAI = (await import('openai')).default
} catch (e) {
  console.error(`FAIL: cannot load the openai package (${e.message}). Run scripts/setup.`)
  process.exit(1)
}

const argv = process.argv.slice(2)
const fedai = argv[0] === '--fedai' ? argv[1] : undefined
if (!fedai || argv.length !== 2) {
  console.error('usage: node openai_client.mjs --fedai PATH')
  process.exit(2)
}

const data = mkdtempSync(join(tmpdir(), 'fedai-openai-'))
const devnet = spawn(
  fedai,
  ['devnet', '--data', data, '--relay-listen', '127.0.0.1:0', '--router-listen', '127.0.0.1:0', '--quiet'],
  { stdio: ['ignore', 'pipe', 'pipe'] },
)
const output = []
let stopping = false
function stop(code) {
  if (!stopping) {
    stopping = true
    devnet.kill('SIGTERM')
  }
  const done = () => {
    rmSync(data, { recursive: true, force: true })
    process.exit(code)
  }
  if (devnet.exitCode !== null || devnet.signalCode !== null) done()
  else devnet.once('exit', done)
}
function fail(message) {
  console.error(`FAIL openai_client: ${message}`)
  console.error('devnet output (last lines):\n  ' + output.slice(-30).join('\n  '))
  stop(1)
}
function check(condition, message) {
  if (!condition) throw new Error(message)
}

// The devnet prints "router: URL" once the router and the nodes are ready.
const router = await new Promise((resolve) => {
  devnet.on('exit', (code, signal) => {
    if (!stopping) fail(`the devnet exited early (${code ?? signal})`)
  })
  createInterface({ input: devnet.stderr }).on('line', (line) => output.push(line))
  createInterface({ input: devnet.stdout }).on('line', (line) => {
    output.push(line)
    const m = /^router: (http:\S+)/.exec(line)
    if (m) resolve(m[1])
  })
})

const client = new OpenAI({ apiKey: 'sk-any-key-the-devnet-does-not-know', baseURL: `${router}/v1`, maxRetries: 0, timeout: 60_000 })
const messages = [{ role: 'user', content: 'Say something.' }]

try {
  // Plain.
  const plain = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 8 })
  check(typeof plain.choices?.[0]?.message?.content === 'string' && plain.choices[0].message.content.length > 0,
    `a plain completion has no content: ${JSON.stringify(plain)}`)
  check(plain.usage?.completion_tokens > 0 && plain.usage.completion_tokens <= 8,
    `a plain completion's usage is wrong: ${JSON.stringify(plain.usage)}`)
  console.log(`plain: ${plain.usage.completion_tokens} tokens from node ${plain.fedai?.node?.slice(0, 16)}`)

  // Streamed, with the usage chunk the client asks for.
  const stream = await client.chat.completions.create({
    model: 'tiny', messages, max_tokens: 8, stream: true, stream_options: { include_usage: true },
  })
  let text = ''
  let usage
  let finish
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage
    for (const c of chunk.choices) {
      text += c.delta?.content ?? ''
      finish = c.finish_reason ?? finish
    }
  }
  check(text.length > 0, 'a streamed completion carried no text')
  check(finish === 'stop' || finish === 'length', `a streamed completion ended with ${finish}`)
  check(usage?.completion_tokens > 0, `stream_options.include_usage gave no usage chunk: ${JSON.stringify(usage)}`)
  console.log(`streamed: ${text.length} characters, ${usage.completion_tokens} tokens, finish ${finish}`)

  // The sampling parameters reach the node and its model server: the same seed at temperature 1
  // gives the same answer twice, and a stop string that the first answer contains cuts the second.
  const sampled = { model: 'tiny', messages, max_tokens: 12, temperature: 1, top_p: 0.9, seed: 7,
    presence_penalty: 0.5, frequency_penalty: 0.5, max_completion_tokens: 12 }
  const a = await client.chat.completions.create(sampled)
  const b = await client.chat.completions.create(sampled)
  check(a.choices[0].message.content === b.choices[0].message.content,
    `the same seed gave different answers: ${JSON.stringify([a.choices[0].message.content, b.choices[0].message.content])}`)
  const words = a.choices[0].message.content.trim().split(/\s+/)
  if (words.length >= 3) {
    const stopAt = words[2]
    const cut = await client.chat.completions.create({ ...sampled, stop: [stopAt] })
    const content = cut.choices[0].message.content
    check(!content.includes(stopAt) && cut.choices[0].finish_reason === 'stop',
      `stop ${JSON.stringify(stopAt)} did not cut ${JSON.stringify(a.choices[0].message.content)}: ${JSON.stringify(cut.choices[0])}`)
    console.log(`seed and stop: same answer twice; stop ${JSON.stringify(stopAt)} cut it to ${JSON.stringify(content)}`)
  }

  // A parameter fedai can't honour is refused by name, never ignored.
  let refused
  try {
    await client.chat.completions.create({ model: 'tiny', messages, n: 2 })
  } catch (e) {
    refused = e
  }
  check(refused instanceof OpenAI.APIError && refused.status === 400 && /\bn\b/.test(refused.message),
    `n: 2 was not refused by name: ${refused ? `${refused.status} ${refused.message}` : 'it was answered'}`)
  console.log(`n: 2 refused: ${refused.status} ${refused.message}`)

  // The model list: OpenAI's shape, with the market's prices in fedai's own field.
  const models = []
  for await (const m of client.models.list()) models.push(m)
  const tiny = models.find((m) => m.id === 'tiny')
  check(tiny && tiny.object === 'model', `the model list has no tiny model: ${JSON.stringify(models)}`)
  check(tiny.fedai_pricing?.nodes >= 1 && tiny.fedai_pricing.out_per_1k_msat?.min > 0,
    `the tiny model carries no market prices: ${JSON.stringify(tiny)}`)
  console.log(`models: tiny on ${tiny.fedai_pricing.nodes} nodes, ${JSON.stringify(tiny.fedai_pricing.out_per_1k_msat)} msat per 1k out`)
} catch (e) {
  fail(e.message)
}
console.log('ok: the official openai client works against fedai devnet')
stop(0)
