// ollama-js (the `ollama` package) against the fake: Ollama's native /api, as apps use it.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { Ollama } from 'ollama';
import { z } from 'zod';

import { FAKE, clearJournal, last } from './fake.mjs';

const ollama = new Ollama({ host: FAKE });

beforeEach(clearJournal);

const Person = z.object({
  name: z.string(),
  age: z.number().int().min(0).max(130),
  city: z.string(),
  email: z.email(),
  languages: z.array(z.string()).min(1),
});

test('chat with format: a JSON schema (from zod) gets an object that validates', async () => {
  for (const model of ['llama3.2:3b', 'qwen2.5:7b', 'gpt-oss:20b']) {
    const response = await ollama.chat({
      model,
      messages: [{ role: 'user', content: 'Ada is 36 years old and lives in London. Describe her as JSON.' }],
      format: z.toJSONSchema(Person),
    });
    const person = Person.parse(JSON.parse(response.message.content));
    assert.equal(person.age, 36, model);
    assert.equal(person.city, 'London', model);
    const entry = await last('/api/chat');
    assert.equal(response.prompt_eval_count, entry.prompt_tokens, model);
    assert.equal(response.eval_count, entry.completion_tokens, model);
    assert.equal(response.done_reason, 'stop', model);
  }
});

test('chat with format "json": valid JSON', async () => {
  const response = await ollama.chat({
    model: 'qwen2.5:7b',
    messages: [{ role: 'user', content: 'Give me a JSON object with a city and its country.' }],
    format: 'json',
  });
  assert.equal(typeof JSON.parse(response.message.content), 'object');
});

const getWeather = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the current weather in a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', description: 'the city' } },
      required: ['city'],
    },
  },
};
const weatherIn = (city) => ({ city, temperature: 19, condition: 'cloudy' });

test('a tools loop: the call, the result re-sent, an answer that uses it', async () => {
  for (const model of ['llama3.1:8b', 'qwen2.5:7b', 'mistral:7b', 'gpt-oss:20b']) {
    const messages = [{ role: 'user', content: 'How is the weather in Lisbon?' }];
    let response = await ollama.chat({ model, messages, tools: [getWeather] });
    const called = [];
    let turns = 0;
    while (response.message.tool_calls?.length && turns < 4) {
      turns += 1;
      messages.push(response.message);
      for (const call of response.message.tool_calls) {
        assert.equal(call.function.name, 'get_weather', model);
        called.push(call.function.arguments.city);
        messages.push({
          role: 'tool',
          tool_name: call.function.name,
          content: JSON.stringify(weatherIn(call.function.arguments.city)),
        });
      }
      response = await ollama.chat({ model, messages, tools: [getWeather] });
    }
    assert.deepEqual(called, ['Lisbon'], model);
    assert.match(response.message.content, /get_weather says: city Lisbon, temperature 19/, model);
    const entry = await last('/api/chat');
    assert.equal(entry.body.messages.length, 3, `${model}: the history was re-sent`);
    assert.equal(response.prompt_eval_count, entry.prompt_tokens, model);
  }
});

test('streaming chat: the pieces join into the answer, the last chunk has the counts', async () => {
  const request = { model: 'llama3.2:3b', messages: [{ role: 'user', content: 'Name three Canadian cities.' }] };
  const whole = await ollama.chat(request);
  const stream = await ollama.chat({ ...request, stream: true });
  let text = '';
  let pieces = 0;
  let final = null;
  for await (const part of stream) {
    text += part.message.content;
    if (part.message.content) pieces += 1;
    if (part.done) final = part;
  }
  assert.ok(pieces > 1);
  assert.equal(text, whole.message.content);
  assert.equal(final.prompt_eval_count, whole.prompt_eval_count);
  assert.equal(final.eval_count, whole.eval_count);
  assert.equal(final.eval_count, (await last('/api/chat')).completion_tokens);
});

test('streaming with think: gpt-oss streams its thinking, then its answer', async () => {
  const stream = await ollama.chat({
    model: 'gpt-oss:20b',
    messages: [{ role: 'user', content: 'Why is the sky blue? One line.' }],
    think: 'low',
    stream: true,
  });
  let thinking = '';
  let content = '';
  let final = null;
  for await (const part of stream) {
    thinking += part.message.thinking ?? '';
    content += part.message.content;
    if (part.done) final = part;
  }
  assert.ok(thinking.length > 0 && content.length > 0);
  assert.equal(final.eval_count, (await last('/api/chat')).completion_tokens);
});

test('embed: one vector per input, L2-normalised, counted; the legacy embeddings too', async () => {
  const input = ['The cat sat on the mat.', 'A cat on a mat.', 'Quarterly tax filing deadlines.'];
  const response = await ollama.embed({ model: 'all-minilm', input });
  assert.equal(response.embeddings.length, 3);
  for (const vector of response.embeddings) {
    assert.equal(vector.length, 384);
    assert.ok(Math.abs(Math.hypot(...vector) - 1) < 1e-6);
  }
  const one = await ollama.embed({ model: 'all-minilm', input: input[0] });
  assert.deepEqual(one.embeddings[0], response.embeddings[0]);
  assert.ok(one.prompt_eval_count > 0 && one.prompt_eval_count < response.prompt_eval_count);
  const legacy = await ollama.embeddings({ model: 'all-minilm', prompt: input[0] });
  assert.equal(legacy.embedding.length, 384);
  const cosine = (a, b) => a.reduce((sum, x, k) => sum + x * b[k], 0);
  const [cat, mat, tax] = response.embeddings;
  assert.ok(cosine(cat, mat) > cosine(cat, tax));
});

test('the model list and a model pull, as the client reads them', async () => {
  const { models } = await ollama.list();
  assert.ok(models.some((m) => m.name === 'llama3.2:3b'));
  const progress = [];
  for await (const part of await ollama.pull({ model: 'gemma3:270m', stream: true })) {
    progress.push(part.status);
  }
  assert.equal(progress.at(-1), 'success');
  const shown = await ollama.show({ model: 'gemma3:270m' });
  assert.equal(shown.details.family, 'gemma3');
});

test('parallel tool calls (mistral): streamed one per chunk, index 0 and 1', async () => {
  const stream = await ollama.chat({
    model: 'mistral:7b',
    messages: [{ role: 'user', content: "What's the weather in Paris and in Tokyo?" }],
    tools: [getWeather],
    stream: true,
  });
  const calls = [];
  for await (const part of stream) {
    if (part.message.tool_calls) {
      assert.equal(part.message.tool_calls.length, 1);
      calls.push(part.message.tool_calls[0]);
    }
  }
  assert.deepEqual(calls.map((c) => [c.function.index, c.function.arguments.city]), [[0, 'Paris'], [1, 'Tokyo']]);
  assert.notEqual(calls[0].id, calls[1].id);
});
