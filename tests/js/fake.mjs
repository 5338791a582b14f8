// The fake Ollama the tests run against, and its request journal (GET /_portway/journal).
// tests/test_clients_js.py starts the fake and passes its address in PORTWAY_FAKE_URL.
import assert from 'node:assert/strict';

export const FAKE = process.env.PORTWAY_FAKE_URL ?? '';
assert.ok(FAKE.startsWith('http://127.0.0.1:'), 'PORTWAY_FAKE_URL: the fake on loopback');
export const V1 = `${FAKE}/v1`;

/** The journal's entries, oldest first (method, path, body, status, prompt_tokens ...). */
export async function journal() {
  const answer = await fetch(`${FAKE}/_portway/journal`);
  assert.equal(answer.status, 200);
  const listing = await answer.json();
  return listing.entries ?? listing;
}

/** The journal's last entry for a path. */
export async function last(path) {
  const entries = (await journal()).filter((entry) => entry.path === path);
  assert.ok(entries.length > 0, `the journal has a request to ${path}`);
  return entries.at(-1);
}

export async function clearJournal() {
  const answer = await fetch(`${FAKE}/_portway/journal`, { method: 'DELETE' });
  assert.equal(answer.status, 204);
}

/** The same chat body, sent to Ollama's native /api/chat: its counts, as Ollama reports them. */
export async function nativeCounts(body) {
  const answer = await fetch(`${FAKE}/api/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: false }),
  });
  assert.equal(answer.status, 200);
  const reply = await answer.json();
  return { prompt: reply.prompt_eval_count, completion: reply.eval_count, reply };
}

/** A little-endian float32 base64 string as numbers (the OpenAI embeddings encoding). */
export function float32s(base64) {
  const bytes = Buffer.from(base64, 'base64');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
}
