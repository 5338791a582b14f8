// The Vercel AI SDK (`ai`) against the fake, through both providers people use for Ollama:
// `@ai-sdk/openai-compatible` on /v1 and `ollama-ai-provider-v2` on the native /api.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { embed, embedMany, generateObject, generateText, stepCountIs, streamText, tool } from 'ai';
import { createOllama } from 'ollama-ai-provider-v2';
import { z } from 'zod';

import { FAKE, V1, clearJournal, journal, last } from './fake.mjs';

const compatible = createOpenAICompatible({
  name: 'ollama',
  baseURL: V1,
  supportsStructuredOutputs: true,
  includeUsage: true,
});
const native = createOllama({ baseURL: `${FAKE}/api` });

const PROVIDERS = [
  { name: 'openai-compatible', chat: (m) => compatible.chatModel(m), path: '/v1/chat/completions' },
  { name: 'ollama-ai-provider-v2', chat: (m) => native(m), path: '/api/chat' },
];
const counts = (entry) => ({ inputTokens: entry.prompt_tokens, outputTokens: entry.completion_tokens });

beforeEach(clearJournal);

const Forecast = z.object({
  city: z.string(),
  temperature: z.number().int(),
  summary: z.string(),
  sky: z.enum(['clear', 'cloudy', 'rain']),
});

for (const provider of PROVIDERS) {
  test(`${provider.name}: generateObject with a zod schema`, async () => {
    for (const model of ['qwen2.5:7b', 'llama3.1:8b']) {
      const { object, usage } = await generateObject({
        model: provider.chat(model),
        schema: Forecast,
        prompt: 'Forecast for Oslo: 7 degrees, light rain.',
      });
      assert.deepEqual(Forecast.parse(object), object, model);
      assert.equal(object.city, 'Oslo', model);
      assert.equal(object.temperature, 7, model);
      const entry = await last(provider.path);
      const asked = entry.body.response_format?.json_schema?.schema ?? entry.body.format;
      assert.equal(asked.type, 'object', `${model}: the schema went to the server`);
      assert.deepEqual({ inputTokens: usage.inputTokens, outputTokens: usage.outputTokens }, counts(entry));
    }
  });

  test(`${provider.name}: generateText with a tool runs the loop to an answer (stopWhen)`, async () => {
    for (const model of ['llama3.1:8b', 'qwen2.5:7b', 'gpt-oss:20b']) {
      await clearJournal();
      const called = [];
      const result = await generateText({
        model: provider.chat(model),
        prompt: 'How is the weather in Lisbon today?',
        tools: {
          get_weather: tool({
            description: 'Get the current weather in a city',
            inputSchema: z.object({ city: z.string() }),
            execute: async ({ city }) => {
              called.push(city);
              return { city, temperature: 19, condition: 'cloudy' };
            },
          }),
        },
        stopWhen: stepCountIs(4),
      });
      assert.deepEqual(called, ['Lisbon'], model);
      assert.equal(result.steps.length, 2, model);
      assert.equal(result.steps[0].finishReason, 'tool-calls', model);
      assert.equal(result.finishReason, 'stop', model);
      assert.match(result.text, /temperature 19, condition cloudy/, model);
      const entries = (await journal()).filter((e) => e.path === provider.path);
      assert.equal(entries.length, 2, model);
      assert.equal(result.totalUsage.inputTokens, entries[0].prompt_tokens + entries[1].prompt_tokens);
      assert.equal(
        result.totalUsage.outputTokens,
        entries[0].completion_tokens + entries[1].completion_tokens,
      );
    }
  });

  test(`${provider.name}: parallel calls (qwen2.5) run in one step`, async () => {
    const called = [];
    const result = await generateText({
      model: provider.chat('qwen2.5:7b'),
      prompt: "What's the weather in Paris and the local time in Tokyo?",
      tools: Object.fromEntries(
        [['get_weather', 'Get the current weather in a city'], ['get_local_time', 'Get the local time in a city']].map(
          ([name, description]) => [
            name,
            tool({
              description,
              inputSchema: z.object({ city: z.string() }),
              execute: async ({ city }) => {
                called.push(`${name}(${city})`);
                return { city, value: 19 };
              },
            }),
          ],
        ),
      ),
      stopWhen: stepCountIs(3),
    });
    assert.deepEqual(called, ['get_weather(Paris)', 'get_local_time(Tokyo)']);
    assert.equal(result.steps[0].toolCalls.length, 2);
    assert.equal(result.steps.length, 2);
    assert.match(result.text, /get_weather says: city Paris, value 19; get_local_time says: city Tokyo, value 19/);
  });

  test(`${provider.name}: streamText streams the answer and its usage`, async () => {
    const result = streamText({
      model: provider.chat('llama3.2:3b'),
      prompt: 'Name three Canadian cities.',
    });
    let pieces = 0;
    let text = '';
    for await (const piece of result.textStream) {
      text += piece;
      pieces += 1;
    }
    assert.ok(pieces > 1);
    assert.equal(text, await result.text);
    const usage = await result.usage;
    const entry = await last(provider.path);
    assert.equal(entry.stream, true);
    assert.deepEqual({ inputTokens: usage.inputTokens, outputTokens: usage.outputTokens }, counts(entry));
  });
}

test('embed and embedMany (openai-compatible and ollama providers): the same vectors', async () => {
  const values = ['The cat sat on the mat.', 'A cat on a mat.', 'Quarterly tax filing deadlines.'];
  const fromV1 = await embedMany({ model: compatible.textEmbeddingModel('nomic-embed-text'), values });
  const fromApi = await embedMany({ model: native.embedding('nomic-embed-text'), values });
  assert.equal(fromV1.embeddings.length, 3);
  for (const [i, vector] of fromV1.embeddings.entries()) {
    assert.equal(vector.length, 768);
    for (const [k, x] of vector.entries()) assert.ok(Math.abs(x - fromApi.embeddings[i][k]) < 1e-6);
  }
  const one = await embed({ model: compatible.textEmbeddingModel('nomic-embed-text'), value: values[0] });
  assert.deepEqual(one.embedding, fromV1.embeddings[0]);
  const cosine = (a, b) => a.reduce((sum, x, k) => sum + x * b[k], 0);
  const [cat, mat, tax] = fromV1.embeddings;
  assert.ok(cosine(cat, mat) > cosine(cat, tax));
  const counted = await fetch(`${FAKE}/api/embed`, {
    method: 'POST',
    body: JSON.stringify({ model: 'nomic-embed-text', input: values }),
  }).then((answer) => answer.json());
  assert.equal(fromV1.usage.tokens, counted.prompt_eval_count);
});
