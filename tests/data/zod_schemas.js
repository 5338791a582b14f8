// How tests/data/zod_schemas.json was made: zod@3 + zod-to-json-schema@3 (npm), node gen.js
const { z } = require("zod");
const { zodToJsonSchema } = require("zod-to-json-schema");
const Address = z.object({ street: z.string(), city: z.string(), postcode: z.string().regex(/^[A-Z]\d[A-Z] \d[A-Z]\d$/) });
const schemas = {
  user: z.object({ name: z.string().min(1), email: z.string().email(), age: z.number().int().min(0).max(130), website: z.string().url().optional(), id: z.string().uuid(), signedUp: z.string().datetime(), birthday: z.string().date() }),
  trip: z.object({ destination: z.string(), days: z.number().int().positive().max(30), budget: z.number().nonnegative(), travellers: z.array(z.object({ name: z.string(), age: z.number().int() })).min(1).max(4), mode: z.enum(["car", "train", "plane"]) }),
  event: z.discriminatedUnion("kind", [ z.object({ kind: z.literal("meeting"), room: z.string() }), z.object({ kind: z.literal("call"), phone: z.string() }) ]),
  order: z.object({ items: z.array(z.object({ sku: z.string().length(8), quantity: z.number().int().min(1), price: z.number().multipleOf(0.01) })).nonempty(), shipTo: Address, billTo: Address.nullable(), notes: z.string().max(40).nullish(), tags: z.array(z.string()).max(3).default([]) }),
  tuple: z.object({ point: z.tuple([z.number(), z.number()]), label: z.union([z.string(), z.number()]) }),
  record: z.object({ scores: z.record(z.string(), z.number().min(0).max(10)), flags: z.set(z.string()) }),
};
const out = {};
for (const [name, schema] of Object.entries(schemas)) out[name] = zodToJsonSchema(schema, name);
console.log(JSON.stringify(out, null, 1));
