// openai-node (the official `openai` package) against the fake, as an app written for Ollama
// uses it: nothing set for the fake but the base URL.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import OpenAI from 'openai';
import { zodFunction, zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';

import { FAKE, V1, clearJournal, float32s, last, nativeCounts } from './fake.mjs';

const client = new OpenAI({ baseURL: V1, apiKey: 'ollama', maxRetries: 0 });

const Forecast = z.object({
  city: z.string(),
  temperature: z.number().int(),
  summary: z.string(),
  days: z.array(z.object({ day: z.string(), high: z.number() })).min(2).max(3),
  sky: z.enum(['clear', 'cloudy', 'rain']),
});

beforeEach(clearJournal);

test('chat.completions.parse with zodResponseFormat: the parsed object validates', async () => {
  for (const model of ['llama3.2:3b', 'qwen2.5:7b', 'mistral:7b']) {
    const completion = await client.chat.completions.parse({
      model,
      messages: [{ role: 'user', content: 'Forecast for Oslo: 7 degrees, light rain.' }],
      response_format: zodResponseFormat(Forecast, 'forecast'),
    });
    const { parsed, content } = completion.choices[0].message;
    assert.deepEqual(Forecast.parse(JSON.parse(content)), parsed, model);
    assert.equal(parsed.city, 'Oslo', model);
    assert.equal(parsed.temperature, 7, model);
    const entry = await last('/v1/chat/completions');
    assert.equal(entry.body.response_format.type, 'json_schema');
    assert.equal(completion.usage.prompt_tokens, entry.prompt_tokens, model);
    assert.equal(completion.usage.completion_tokens, entry.completion_tokens, model);
  }
});

const weatherIn = (city) => ({ city, temperature: 19, condition: 'cloudy' });

test('runTools: the loop calls the tool and ends with an answer that uses its result', async () => {
  for (const model of ['llama3.1:8b', 'qwen2.5:7b', 'gpt-oss:20b']) {
    const called = [];
    const runner = client.chat.completions.runTools({
      model,
      messages: [{ role: 'user', content: 'How is the weather in Lisbon today?' }],
      tools: [
        zodFunction({
          name: 'get_weather',
          description: 'Get the current weather in a city',
          parameters: z.object({ city: z.string() }),
          function: ({ city }) => {
            called.push(city);
            return weatherIn(city);
          },
        }),
      ],
    });
    const answer = await runner.finalContent();
    assert.deepEqual(called, ['Lisbon'], model);
    assert.match(answer, /get_weather says: city Lisbon, temperature 19, condition cloudy/, model);
    const messages = runner.messages.map((m) => m.role);
    assert.deepEqual(messages, ['user', 'assistant', 'tool', 'assistant'], model);
    // The second request re-sent the call and its result: the server keeps nothing.
    const second = await last('/v1/chat/completions');
    assert.deepEqual(second.body.messages.map((m) => m.role), ['user', 'assistant', 'tool']);
    const usage = await runner.totalUsage();
    assert.ok(usage.prompt_tokens > second.prompt_tokens, model);
  }
});

test('a hand-written tool loop, counted: each turn costs what /api/chat counts', async () => {
  const tools = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Get the current weather in a city',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string' } },
          required: ['city'],
        },
      },
    },
  ];
  const messages = [{ role: 'user', content: "What's the weather in Paris?" }];
  const model = 'llama3.2:3b';
  const first = await client.chat.completions.create({ model, messages, tools });
  assert.equal(first.choices[0].finish_reason, 'tool_calls');
  const [call] = first.choices[0].message.tool_calls;
  assert.match(call.id, /^call_[a-z0-9]{8}$/);
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
  const native = await nativeCounts({ model, messages, tools });
  assert.equal(first.usage.prompt_tokens, native.prompt);
  assert.equal(first.usage.completion_tokens, native.completion);

  messages.push(first.choices[0].message, {
    role: 'tool',
    tool_call_id: call.id,
    content: JSON.stringify(weatherIn('Paris')),
  });
  const second = await client.chat.completions.create({ model, messages, tools });
  assert.equal(second.choices[0].finish_reason, 'stop');
  assert.match(second.choices[0].message.content, /temperature 19, condition cloudy/);
  const entry = await last('/v1/chat/completions');
  assert.equal(second.usage.prompt_tokens, entry.prompt_tokens);
  // The template renders the call as the model wrote it, and the result as an ipython turn...
  assert.ok(entry.prompt.includes('{"name": "get_weather", "parameters": {"city":"Paris"}}'));
  assert.ok(entry.prompt.includes('ipython<|end_header_id|>\n\n{"city":"Paris",'));
  // ...and llama3.2's template lists the tools only in a last *user* turn: the second request,
  // re-sending the whole history, still costs fewer prompt tokens than the first.
  assert.ok(!entry.prompt.includes('Given the following functions'));
  assert.ok(second.usage.prompt_tokens < first.usage.prompt_tokens);
});

test('streaming with stream_options.include_usage: the last chunk carries the exact usage', async () => {
  for (const model of ['llama3.2:3b', 'gpt-oss:20b']) {
    const body = { model, messages: [{ role: 'user', content: 'Name three Canadian cities.' }] };
    const stream = await client.chat.completions.create({
      ...body,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let pieces = 0;
    let usage = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const piece = chunk.choices[0]?.delta?.content;
      if (piece) {
        text += piece;
        pieces += 1;
      }
    }
    const entry = await last('/v1/chat/completions');
    assert.deepEqual(entry.body.stream_options, { include_usage: true });
    const native = await nativeCounts(body);
    assert.equal(text, native.reply.message.content, model);
    assert.ok(pieces > 1, `${model}: streamed in pieces`);
    assert.equal(usage.prompt_tokens, native.prompt, model);
    assert.equal(usage.completion_tokens, native.completion, model);
    assert.equal(usage.total_tokens, native.prompt + native.completion, model);
    assert.equal(usage.prompt_tokens, entry.prompt_tokens, model);
  }
});

test('a stream without include_usage has no usage at all', async () => {
  const stream = await client.chat.completions.create({
    model: 'llama3.2:3b',
    messages: [{ role: 'user', content: 'Hi' }],
    stream: true,
  });
  for await (const chunk of stream) assert.equal(chunk.usage ?? null, null);
});

test('embeddings.create: base64 decodes to the same float32 numbers as float', async () => {
  const input = ['The cat sat on the mat.', 'A cat on a mat.', 'Quarterly tax filing deadlines.'];
  const floats = await client.embeddings.create({
    model: 'nomic-embed-text',
    input,
    encoding_format: 'float',
  });
  const native = await fetch(`${FAKE}/api/embed`, {
    method: 'POST',
    body: JSON.stringify({ model: 'nomic-embed-text', input }),
  }).then((answer) => answer.json());
  assert.equal(floats.usage.prompt_tokens, native.prompt_eval_count);
  assert.equal(floats.data.length, 3);
  // The SDK asks for base64 by default and decodes it itself.
  const decoded = await client.embeddings.create({ model: 'nomic-embed-text', input });
  assert.equal((await last('/v1/embeddings')).body.encoding_format, 'base64');
  const raw = await client.embeddings.create({
    model: 'nomic-embed-text',
    input,
    encoding_format: 'base64',
  });
  for (const [i, item] of floats.data.entries()) {
    assert.equal(item.embedding.length, 768);
    const norm = Math.hypot(...item.embedding);
    assert.ok(Math.abs(norm - 1) < 1e-6, 'L2-normalised');
    const fromBase64 = float32s(raw.data[i].embedding);
    assert.deepEqual(fromBase64, item.embedding.map(Math.fround));
    assert.deepEqual(decoded.data[i].embedding, fromBase64);
  }
  const cosine = (a, b) => a.reduce((sum, x, k) => sum + x * b[k], 0);
  const [cat, mat, tax] = floats.data.map((d) => d.embedding);
  assert.ok(cosine(cat, mat) > cosine(cat, tax), 'texts sharing words are nearer');
});

test('completions.create: the text and usage as /api/generate counts them', async () => {
  const completion = await client.completions.create({
    model: 'llama3.2:3b',
    prompt: 'Write one line about the sea.',
    max_tokens: 8,
  });
  const entry = await last('/v1/completions');
  assert.equal(completion.object, 'text_completion');
  assert.equal(completion.choices[0].finish_reason, 'length');
  assert.equal(completion.usage.completion_tokens, 8);
  assert.equal(completion.usage.prompt_tokens, entry.prompt_tokens);
  assert.ok(completion.choices[0].text.length > 0);

  const stream = await client.completions.create({
    model: 'llama3.2:3b',
    prompt: 'Write one line about the sea.',
    max_tokens: 8,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, completion.choices[0].text);
  assert.deepEqual(usage, completion.usage);
});

test('responses.create: output_text and usage; a function call and its output', async () => {
  const model = 'qwen2.5:7b';
  const response = await client.responses.create({
    model,
    instructions: 'Answer briefly.',
    input: 'Name three Canadian cities.',
  });
  const entry = await last('/v1/responses');
  assert.equal(response.status, 'completed');
  assert.ok(response.output_text.length > 0);
  assert.equal(response.usage.input_tokens, entry.prompt_tokens);
  assert.equal(response.usage.output_tokens, entry.completion_tokens);

  const tools = [
    {
      type: 'function',
      name: 'get_weather',
      description: 'Get the current weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  ];
  const input = [{ role: 'user', content: 'How is the weather in Lisbon?' }];
  const asked = await client.responses.create({ model, input, tools });
  const call = asked.output.find((item) => item.type === 'function_call');
  assert.equal(call.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.arguments), { city: 'Lisbon' });
  const answered = await client.responses.create({
    model,
    tools,
    input: [
      ...input,
      call,
      { type: 'function_call_output', call_id: call.call_id, output: JSON.stringify(weatherIn('Lisbon')) },
    ],
  });
  assert.match(answered.output_text, /temperature 19, condition cloudy/);

  const events = [];
  const stream = await client.responses.create({ model, input: 'Name three Canadian cities.', stream: true });
  for await (const event of stream) events.push(event);
  assert.equal(events[0].type, 'response.created');
  const done = events.at(-1);
  assert.equal(done.type, 'response.completed');
  const deltas = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta);
  assert.equal(deltas.join(''), done.response.output_text ?? done.response.output[0].content[0].text);
  assert.equal(done.response.usage.output_tokens, (await last('/v1/responses')).completion_tokens);
});

test('parallel tool calls (qwen2.5): a streamed runTools gets both calls, in order', async () => {
  const called = [];
  const tool = (name, description) =>
    zodFunction({
      name,
      description,
      parameters: z.object({ city: z.string() }),
      function: ({ city }) => {
        called.push(`${name}(${city})`);
        return { city, [name === 'get_weather' ? 'temperature' : 'hour']: 19 };
      },
    });
  const runner = client.chat.completions.runTools({
    model: 'qwen2.5:7b',
    messages: [{ role: 'user', content: "What's the weather in Paris and the local time in Tokyo?" }],
    tools: [tool('get_weather', 'Get the current weather in a city'), tool('get_local_time', 'Get the local time in a city')],
    stream: true,
  });
  const answer = await runner.finalContent();
  assert.deepEqual(called, ['get_weather(Paris)', 'get_local_time(Tokyo)']);
  const [, asked] = runner.messages;
  assert.deepEqual(asked.tool_calls.map((c) => c.function.name), ['get_weather', 'get_local_time']);
  assert.match(answer, /get_weather says: city Paris, temperature 19; get_local_time says: city Tokyo, hour 19/);
});
