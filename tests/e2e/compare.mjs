// Before and after: the page's `baby` training step (ms/step from the step counter over wall
// time) of two built page trees, served side by side and timed in turns, a fresh headless
// Chromium page each time, with two workers and with ?workers=1. A record for
// docs/benchmarks.md, not a test. The other tree is any checkout built the same way, e.g.
//   git worktree add /tmp/before REV && (cd /tmp/before && ./build.sh web)
//   node tests/e2e/compare.mjs /tmp/before/www www [--rounds 3] [--seconds 15]
import path from 'node:path';
import { startServer, launch, openPage, ready, babyRecipe } from './helpers.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const [a, b] = process.argv.slice(2, 4).map((d) => path.resolve(d ?? ''));
if (!process.argv[3]) throw new Error('usage: node tests/e2e/compare.mjs WWW_BEFORE WWW_AFTER [--rounds N] [--seconds S]');
const ROUNDS = arg('--rounds', 3);
const SECONDS = arg('--seconds', 15);

async function msPerStep(url) {
  const browser = await launch({ webgpu: false });
  try {
    const { page } = await openPage(browser, url);
    await ready(page);
    await babyRecipe(page);
    await page.click('[data-testid=train-start]');
    const step = () => page.$eval('[data-testid=train-step]', (e) => Number(e.textContent) || 0);
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=train-step]').textContent) >= 3, null, { timeout: 300_000, polling: 10 });
    const [k1, w1] = [await step(), Date.now()];
    await page.waitForTimeout(SECONDS * 1000);
    const [k2, w2] = [await step(), Date.now()];
    return Math.round((w2 - w1) / (k2 - k1));
  } finally {
    await browser.close();
  }
}

const servers = [await startServer(a), await startServer(b)];
try {
  const out = { before: a, after: b, date: new Date().toISOString(), two_workers: { before: [], after: [] }, one_worker: { before: [], after: [] } };
  for (let i = 0; i < ROUNDS; i++) {
    for (const [name, s] of [['before', servers[0]], ['after', servers[1]]]) {
      out.two_workers[name].push(await msPerStep(s.url));
      out.one_worker[name].push(await msPerStep(`${s.url}?workers=1`));
    }
  }
  console.log(JSON.stringify(out, null, 1));
} finally {
  servers.forEach((s) => s.stop());
}
