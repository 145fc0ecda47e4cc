// Every shaders/*.wgsl file through the browser's own WGSL compiler (Chromium's Tint, on
// SwiftShader here), which is stricter than naga, the compiler the Rust tests use: a module
// with an error makes every pipeline of its file invalid, and the page's GPU path then fails
// (a float literal Tint found out of f32's range did that to crossentropy.wgsl). Each compute
// entry point is also made into a pipeline, which checks it against WebGPU's default limits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, launch } from './helpers.mjs';

const dir = path.join(path.dirname(new URL(import.meta.url).pathname), '../../shaders');
let srv, browser;
before(async () => {
  srv = await startServer();
  browser = await launch({ webgpu: true });
});
after(async () => {
  await browser?.close();
  srv?.stop();
});

test("every shader compiles on the browser's WebGPU, and each entry point makes a pipeline", async () => {
  // a blank page of the page's origin: WebGPU needs a secure context, the app is not wanted
  const page = await browser.newPage();
  const blank = new URL('/blank-for-shaders', srv.url).href;
  await page.route(blank, (r) => r.fulfill({ body: '<!doctype html><title>shaders</title>', contentType: 'text/html' }));
  await page.goto(blank);
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.wgsl')).sort();
  assert.ok(files.length >= 10, files.join(', '));
  for (const f of files) {
    const code = fs.readFileSync(path.join(dir, f), 'utf8');
    const entries = [...code.matchAll(/@compute[^]*?fn\s+(\w+)/g)].map((m) => m[1]);
    assert.ok(entries.length > 0, `${f}: no entry points found`);
    const problems = await page.evaluate(async ({ code, entries }) => {
      const adapter = await navigator.gpu.requestAdapter();
      const device = await adapter.requestDevice();
      const out = [];
      const module = device.createShaderModule({ code });
      for (const m of (await module.getCompilationInfo()).messages) {
        if (m.type === 'error') out.push(`line ${m.lineNum}:${m.linePos}: ${m.message}`);
      }
      if (out.length) return out;
      for (const entryPoint of entries) {
        // `B_IN_A` and the like are overrides with defaults: the pipeline needs none set
        await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint } }).catch((e) => out.push(`${entryPoint}: ${e.message}`));
      }
      device.destroy();
      return out;
    }, { code, entries });
    assert.deepEqual(problems, [], `${f}: ${problems.join('; ')}`);
  }
  await page.close();
});
