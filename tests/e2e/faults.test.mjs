// Faults in the page, injected through the test hooks (?testhooks): a NaN step stops training
// and keeps the weights, then the page's offer (halve the lr) continues; a GPU device lost
// mid-training keeps the last save and training goes on on the CPU; a tab that dies mid-autosave
// leaves the previous autosave to restore; and the CSP holds for a whole session.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, ready, shot, generate, errorText } from './helpers.mjs';

const srv = await startServer();
const browsers = [];
after(async () => {
  for (const b of browsers) await b.close();
  srv.stop();
});

async function open(query, { webgpu = true } = {}) {
  const browser = await launch({ webgpu });
  browsers.push(browser);
  const o = await openPage(browser, `${srv.url}?${query}`);
  await o.page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  await o.page.reload();
  await ready(o.page);
  return o;
}

const step = (page) => page.textContent('[data-testid=train-step]').then(Number);
const idle = (page) => page.waitForFunction(() => document.body.dataset.training === '0', null, { timeout: 180_000 });
const atStep = (page, n) => page.waitForFunction((k) => Number(document.querySelector('[data-testid=train-step]').textContent) >= k, n, { timeout: 180_000 });

async function toy(page, steps) {
  await page.check('input[name=corpus][value=toy]');
  await page.selectOption('#toytask', 'reverse');
  await page.selectOption('#sizepreset', 'tiny');
  await page.fill('#batch', '16');
  await page.fill('#lr', '0.004');
  await page.fill('#steps', String(steps));
}

test('a NaN step stops training with the weights kept; halving the lr continues', async () => {
  const { page, problems } = await open('cpu&testhooks', { webgpu: false });
  await toy(page, 400);
  await page.click('[data-testid=train-start]');
  await atStep(page, 20);
  await page.click('[data-testid=train-pause]');
  await idle(page);
  const paused = await step(page);
  const before = await generate(page, 'abcd=', { maxTokens: 10, temperature: 0, seed: 1 });

  await page.evaluate(() => window.tinygptTest.fault('nan'));
  await page.click('[data-testid=train-start]');
  await page.waitForSelector('[data-testid=recover-lr]', { state: 'visible', timeout: 60_000 });
  await idle(page);
  const err = await errorText(page);
  assert.match(err, /^The update became NaN .* at step \d+; learning rate NaN may be too high\. The weights are those of the last good step\. Training stopped\.$/s);
  assert.equal(await step(page), paused, 'the failed step is not counted');
  assert.ok(await page.isVisible('[data-testid=recover-lr]'));
  assert.ok(!(await page.isVisible('[data-testid=recover-gpu]')));
  await shot(page, 'fault-nan');
  // generating hides the message and its offer (Resume still continues); the weights are
  // those before the NaN step
  assert.equal(await generate(page, 'abcd=', { maxTokens: 10, temperature: 0, seed: 1 }), before, 'weights as before the NaN step');
  assert.ok(await page.isHidden('[data-testid=recover]'));
  await page.evaluate(() => window.tinygptTest.fault('nan'));
  await page.click('[data-testid=train-start]');
  await page.waitForSelector('[data-testid=recover-lr]', { state: 'visible', timeout: 60_000 });
  await idle(page);

  const lr = Number(await page.inputValue('#lr'));
  await page.click('[data-testid=recover-lr]');
  await atStep(page, paused + 10);
  assert.equal(Number(await page.inputValue('#lr')), lr / 2);
  await page.click('[data-testid=train-pause]');
  await idle(page);
  assert.equal(await errorText(page), '');
  assert.ok(await page.isHidden('[data-testid=recover]'));
  assert.deepEqual(problems, []);
});

test('a GPU device lost mid-training: the last save is kept and training goes on on the CPU', async () => {
  const { page, problems } = await open('gpu&testhooks');
  assert.equal(await page.getAttribute('[data-testid=backend-badge]', 'data-backend'), 'webgpu');
  await toy(page, 400);
  await page.click('[data-testid=train-start]');
  await atStep(page, 3);
  await page.evaluate(() => window.tinygptTest.fault('device-lost'));
  await page.waitForSelector('[data-testid=recover-cpu]', { state: 'visible', timeout: 120_000 });
  await idle(page);
  const err = await errorText(page);
  assert.match(err, /device was lost.*did not complete.*step 0, its last save, is kept/s);
  assert.ok(await page.isVisible('[data-testid=recover-gpu]'));
  assert.ok(await page.isVisible('[data-testid=recover-cpu]'));
  await shot(page, 'fault-device-lost');
  await shot(page, 'fault-device-lost-full', { fullPage: true });

  await page.click('[data-testid=recover-cpu]');
  await page.waitForFunction(() => document.querySelector('[data-testid=backend-badge]').dataset.backend === 'cpu');
  await atStep(page, 15);
  await page.click('[data-testid=train-pause]');
  await idle(page);
  assert.equal(await errorText(page), '');
  assert.match(await page.textContent('#modelinfo'), /2 layers × 2 heads/);
  assert.ok((await generate(page, 'abc=', { maxTokens: 6, temperature: 0, seed: 1 })).startsWith('abc='));
  // only the loss itself may be reported by the browser; nothing else went wrong
  assert.deepEqual(problems.filter((p) => !/lost|destroyed|Device/i.test(p)), []);
});

test('a tab killed mid-autosave leaves the previous autosave to restore', async () => {
  const { page } = await open('cpu&testhooks', { webgpu: false });
  await toy(page, 400);
  await page.click('[data-testid=train-start]');
  await page.waitForFunction(() => /Autosaved at step 50/.test(document.querySelector('#savestate').textContent), null, { timeout: 180_000 });
  await page.evaluate(() => window.tinygptTest.stallSaves());
  await atStep(page, 110); // the save at step 100 writes its data but never switches to it
  await page.click('[data-testid=train-pause]');
  await idle(page);
  assert.match(await errorText(page), /Autosave failed/);
  await page.reload();
  await ready(page);
  assert.match(await page.textContent('#status'), /Restored your autosaved model \(step 50/);
  assert.match(await page.textContent('#modelinfo'), /50 steps trained/);
});

test('the Content-Security-Policy is sent and nothing violates it during a session', async () => {
  const r = await fetch(srv.url);
  assert.match(r.headers.get('content-security-policy') || '', /script-src 'self' 'wasm-unsafe-eval'/);
  assert.match(r.headers.get('content-security-policy') || '', /connect-src 'self'/);
  const { page, problems } = await open('');
  assert.match(await page.getAttribute('meta[http-equiv=Content-Security-Policy]', 'content'), /default-src 'self'/);
  await generate(page, 'ROMEO:', { maxTokens: 30 });
  await toy(page, 5);
  await page.click('[data-testid=train-start]');
  await atStep(page, 5);
  await idle(page);
  await page.waitForTimeout(500);
  assert.deepEqual(await page.evaluate(() => window.__csp), []);
  assert.deepEqual(problems, []);
});
