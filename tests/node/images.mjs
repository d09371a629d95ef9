// The official openai Node SDK, used as its README shows, against imagegen (IMAGEGEN_URL, IMAGEGEN_API_KEY).
// Prints one JSON object of what each call got; tests/integration/test_node_sdk.py asserts on it.
import fs from "node:fs";
import OpenAI, { toFile } from "openai";

const client = new OpenAI({ baseURL: `${process.env.IMAGEGEN_URL}/v1`, apiKey: process.env.IMAGEGEN_API_KEY, maxRetries: 0 });
const photo = process.env.PHOTO;
const mask = process.env.MASK;
const out = {};

async function record(name, call) {
  try {
    out[name] = await call();
  } catch (err) {
    out[name] = { error: err.constructor.name, status: err.status, code: err.code, param: err.param };
  }
}

const urls = (r) => r.data.map((d) => d.url ?? null);
await record("generate", async () => urls(await client.images.generate({ prompt: "a lighthouse", n: 2, size: "1024x1024" })));
// streamed uploads: fs.createReadStream (what the SDK's README shows) goes out chunked, no content-length
await record("edit_stream", async () => urls(await client.images.edit({ image: fs.createReadStream(photo), prompt: "make it blue" })));
await record("edit_two", async () =>
  urls(await client.images.edit({ image: [await toFile(fs.createReadStream(photo), "a.png"), await toFile(fs.readFileSync(photo), "b.png")], prompt: "watercolour" })),
);
await record("edit_mask", async () =>
  urls(await client.images.edit({ image: fs.createReadStream(photo), mask: fs.createReadStream(mask), prompt: "a green sofa" })),
);
await record("variation", async () => urls(await client.images.createVariation({ image: fs.createReadStream(photo) })));
await record("gpt_image_b64", async () => {
  const r = await client.images.generate({ model: "gpt-image-1.5", prompt: "a heron" });
  return { url: r.data[0].url ?? null, b64_bytes: Buffer.from(r.data[0].b64_json, "base64").length };
});
await record("bad_size", async () => client.images.generate({ prompt: "x", size: "1000x700" }));
await record("unknown_model", async () => client.images.generate({ prompt: "x", model: "midjourney-v7" }));
await record("bad_mask", async () => client.images.edit({ image: fs.createReadStream(photo), mask: fs.createReadStream(photo), prompt: "x" }));
console.log(JSON.stringify(out));
