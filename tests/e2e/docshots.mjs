// docs/lab.md's screenshots of the default model, retaken (run by hand after the default model
// changes: `node tests/e2e/docshots.mjs`; the tiny-preset scrubber shots are not retaken here).
// The page on the CPU path; the lens of a line of Romeo, then two heads ablated.
// With --tasks, the toy tasks' shots instead: `induction`'s phase change (the loss chart, the
// circuit chart and the named heads) and `modadd`'s grokking (exact match over the steps).
import path from 'node:path';
import { startServer, launch, openPage, ready, trainTask, ROOT } from './helpers.mjs';

const OUT = path.join(ROOT, 'docs/img');
const srv = await startServer();
const browser = await launch({ webgpu: false });
const done = () => document.body.dataset.training === '0' && /Exact match/.test(document.querySelector('#toyscore').textContent);
if (process.argv.includes('--tasks')) {
  try {
    for (const task of ['induction', 'modadd']) {
      const { page } = await openPage(browser, `${srv.url}?cpu`, { width: 1280, height: 1000 });
      await ready(page);
      await trainTask(page, task, done);
      await page.locator('#losschart').screenshot({ path: path.join(OUT, `task-${task}-chart.png`) });
      if (task === 'induction') {
        await page.locator('#scrub').screenshot({ path: path.join(OUT, 'task-induction-circuits.png') });
        await page.locator('#heads').screenshot({ path: path.join(OUT, 'task-induction-heads.png') });
      }
      await page.close();
    }
    console.log('wrote docs/img/task-{induction-chart,induction-circuits,induction-heads,modadd-chart}.png');
  } finally {
    await browser.close();
    srv.stop();
  }
  process.exit(0);
}
try {
  const { page } = await openPage(browser, `${srv.url}?cpu`, { width: 1280, height: 1000 });
  await ready(page);
  const live = (heads) => page.waitForFunction((h) => {
    const lens = document.querySelector('[data-testid=lens]');
    const e = document.querySelector('[data-testid=ablation-effect]');
    const s = document.querySelector('[data-testid=surprisal]');
    return lens.dataset.step === 'live' && lens.dataset.heads === h && s.dataset.heads === h && e.dataset.heads === h &&
      (h === '' || (e.dataset.dloss !== '' && e.dataset.next !== ''));
  }, heads, { timeout: 60_000 });
  // the page rectangle around some elements (a popup may hang outside its box)
  const around = (ids) => page.evaluate((ids) => {
    const r = ids.map((id) => document.getElementById(id).getBoundingClientRect());
    const x = Math.min(...r.map((b) => b.left)) - 4, y = Math.min(...r.map((b) => b.top)) - 4;
    return { x, y: y + window.scrollY, width: Math.max(...r.map((b) => b.right)) + 4 - x, height: Math.max(...r.map((b) => b.bottom)) + 4 - y };
  }, ids);
  const text = 'ROMEO:\nBut soft, what light through yonder window';
  await page.fill('[data-testid=prompt]', text);
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid=lens]').dataset.chars) === n, [...text].length, { timeout: 60_000 });
  await live('');
  // one cell focused: its five most likely tokens show
  await page.focus('[data-testid=lens] .lc[data-stream="3"][data-pos="20"]');
  await page.keyboard.press('ArrowRight');
  await page.waitForSelector('#lenspop:not([hidden])');
  await page.screenshot({ path: path.join(OUT, 'lab-lens.png'), clip: await around(['lensbox', 'lenspop']), fullPage: true });
  await page.locator('#heads').screenshot({ path: path.join(OUT, 'lab-heads.png') });
  // the previous-token head and one more, by keyboard as a user would
  for (const h of ['head-0-4', 'head-2-0']) {
    await page.focus(`[data-testid=${h}]`);
    await page.keyboard.press('Enter');
  }
  await live('0.4,2.0');
  await page.locator('#attgrid').screenshot({ path: path.join(OUT, 'lab-ablated-heads.png') });
  await page.screenshot({ path: path.join(OUT, 'lab-ablation.png'), clip: await around(['ablate', 'surp']), fullPage: true });
  console.log('wrote docs/img/lab-{lens,heads,ablated-heads,ablation}.png');
} finally {
  await browser.close();
  srv.stop();
}
