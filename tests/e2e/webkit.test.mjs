// The smoke subset (smoke.mjs) in WebKitGTK (the engine behind Safari): Debian's
// webkit2gtk-driver (WebKitWebDriver) and its MiniBrowser under a private Xvfb, driven with plain
// W3C WebDriver HTTP calls. Classic WebDriver has no console log and no init scripts, so the
// page is served from a copy of www/ (symlinks) whose index.html first loads smoke-hook.js,
// which records console errors, page errors, unhandled rejections and CSP violations.
import { after } from 'node:test';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './helpers.mjs';
import { smokeSuite, freePort, sleep } from './smoke.mjs';

const DRIVER = '/usr/bin/WebKitWebDriver';
const MINIBROWSER = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
const XVFB = '/usr/bin/Xvfb';
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf'; // the W3C element reference key

// Runs before the page's own (module) scripts: a classic script in <head> runs first.
const HOOK = `(() => {
  const seen = window.__smokeErrors = [];
  const text = (x) => (x && x.stack ? String(x.stack).split('\\n')[0] : String(x));
  const error = console.error;
  console.error = function (...a) { seen.push('console: ' + a.map(text).join(' ')); return error.apply(this, a); };
  addEventListener('error', (e) => {
    // an ErrorEvent is a script error; another event here is a resource that failed to load
    seen.push(e instanceof ErrorEvent ? 'page error: ' + e.message : 'load error: ' + (e.target && (e.target.src || e.target.href || e.target.tagName)));
  }, true);
  addEventListener('unhandledrejection', (e) => seen.push('unhandled rejection: ' + text(e.reason)));
  document.addEventListener('securitypolicyviolation', (e) => seen.push('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));
})();
`;

let tree = null;
function hookedTree() {
  const www = path.join(ROOT, 'www');
  tree = mkdtempSync(path.join(os.tmpdir(), 'tinygpt-webkit-'));
  for (const f of readdirSync(www)) if (f !== 'index.html') symlinkSync(path.join(www, f), path.join(tree, f));
  const html = readFileSync(path.join(www, 'index.html'), 'utf8');
  const at = html.indexOf('<script');
  if (at < 0) throw new Error('www/index.html has no <script>: where does the console hook go?');
  writeFileSync(path.join(tree, 'index.html'), `${html.slice(0, at)}<script src="smoke-hook.js"></script>\n  ${html.slice(at)}`);
  writeFileSync(path.join(tree, 'smoke-hook.js'), HOOK);
  return tree;
}
after(() => { if (tree) rmSync(tree, { recursive: true, force: true }); });

// Each helper process leads its own process group (detached), so one signal ends it and what
// it started (the driver's MiniBrowser and WebKit's web and network processes).
const groups = new Set();
function startGroup(cmd, args, opts = {}) {
  const p = spawn(cmd, args, { detached: true, ...opts });
  groups.add(p);
  p.on('exit', () => groups.delete(p));
  return p;
}
async function endGroup(p) {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  try { process.kill(-p.pid, 'SIGTERM'); } catch { /* already gone */ }
  if (await Promise.race([gone.then(() => true), sleep(3000).then(() => false)])) return;
  try { process.kill(-p.pid, 'SIGKILL'); } catch { /* already gone */ }
  await gone;
}
// Even if the test process dies on an exception, nothing it started lives on.
process.on('exit', () => { for (const p of groups) try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } });

// A private X display: Xvfb picks a free display number and writes it to fd 3.
async function startXvfb() {
  const x = startGroup(XVFB, ['-displayfd', '3', '-nolisten', 'tcp', '-screen', '0', '1280x1024x24'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let err = '';
  x.stderr.on('data', (d) => { err += d; });
  const display = await new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`Xvfb did not report a display in 15 s: ${err}`)), 15_000);
    x.stdio[3].on('data', (d) => {
      out += d;
      if (out.includes('\n')) { clearTimeout(t); resolve(`:${out.trim()}`); }
    });
    x.on('exit', (c) => { clearTimeout(t); reject(new Error(`Xvfb exited (${c}): ${err}`)); });
  });
  return { x, display };
}

smokeSuite('webkit', {
  serveDir: hookedTree,
  async launch() {
    for (const [f, pkg] of [[DRIVER, 'webkit2gtk-driver'], [MINIBROWSER, 'webkit2gtk-driver'], [XVFB, 'xvfb']]) {
      if (!existsSync(f)) throw new Error(`${f} is missing: apt-get install ${pkg} (./build.sh test does), or set TINYGPT_SKIP_BROWSERS=webkit`);
    }
    let xvfb = null, driverProc = null, base = null, session = null;
    const close = async () => {
      if (session) {
        // ends the MiniBrowser; the process groups are ended either way
        await fetch(`${base}/session/${session}`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) }).catch(() => {});
        session = null;
      }
      await endGroup(driverProc);
      await endGroup(xvfb);
    };
    try {
      const { x, display } = await startXvfb();
      xvfb = x;
      const port = await freePort();
      let log = '';
      driverProc = startGroup(DRIVER, [`--port=${port}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DISPLAY: display } });
      driverProc.stdout.on('data', (d) => { log += d; });
      driverProc.stderr.on('data', (d) => { log += d; });
      base = `http://127.0.0.1:${port}`;

      // One WebDriver command; its error names the command and what it was for.
      const wd = async (method, url, body, what, timeout = 90_000) => {
        let r;
        try {
          r = await fetch(base + url, {
            method, headers: { 'content-type': 'application/json; charset=utf-8' },
            body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(timeout),
          });
        } catch (e) {
          throw new Error(`WebKitWebDriver ${method} ${url} (${what}) failed: ${e.message}; driver log: ${log.slice(-2000)}`);
        }
        const j = await r.json().catch(() => ({ value: { error: `HTTP ${r.status}`, message: 'not JSON' } }));
        if (!r.ok || (j.value && j.value.error)) throw new Error(`WebKitWebDriver ${method} ${url} (${what}): ${j.value.error}: ${j.value.message}`);
        return j.value;
      };
      for (let i = 0; ; i++) {
        const st = await wd('GET', '/status', undefined, 'is the driver up', 2000).catch(() => null);
        if (st && st.ready) break;
        if (driverProc.exitCode !== null || i > 100) throw new Error(`WebKitWebDriver did not start on port ${port}: ${log}`);
        await sleep(100);
      }
      session = (await wd('POST', '/session', {
        capabilities: { alwaysMatch: {
          browserName: 'MiniBrowser',
          'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
        } },
      }, 'a new MiniBrowser session', 60_000)).sessionId;
      const S = `/session/${session}`;
      await wd('POST', `${S}/timeouts`, { script: 60_000, pageLoad: 60_000 }, 'timeouts');
      await wd('POST', `${S}/window/rect`, { width: 1280, height: 900 }, 'the window size');
      const find = async (sel) => (await wd('POST', `${S}/element`, { using: 'css selector', value: sel }, `find ${sel}`))[ELEMENT];

      const driver = {
        name: 'webkit',
        open: (url) => wd('POST', `${S}/url`, { url }, `open ${url}`),
        async evaluate(fn, ...args) {
          // execute/async so an async fn is awaited; a throw comes back as {err}
          const script = `const done = arguments[arguments.length - 1];
            Promise.resolve().then(() => (${fn}).apply(null, arguments[0]))
              .then((v) => done({ ok: v === undefined ? null : v }), (e) => done({ err: String((e && e.stack) || e) }));`;
          const r = await wd('POST', `${S}/execute/async`, { script, args: [args] }, 'a script in the page');
          if (r && r.err !== undefined) throw new Error(`in the page: ${r.err}`);
          return r.ok;
        },
        async click(sel) {
          await wd('POST', `${S}/element/${await find(sel)}/click`, {}, `click ${sel}`);
        },
        async upload(sel, file) {
          // Element Send Keys on <input type=file> picks that file, as the user's dialog would
          await wd('POST', `${S}/element/${await find(sel)}/value`, { text: file }, `upload ${file} into ${sel}`);
        },
        async screenshot(file) {
          writeFileSync(file, Buffer.from(await wd('GET', `${S}/screenshot`, undefined, 'a screenshot'), 'base64'));
        },
        problems: () => driver.evaluate(() => (window.__smokeErrors ? [...window.__smokeErrors] : ['the console hook (smoke-hook.js) did not run'])),
        close,
      };
      return driver;
    } catch (e) {
      await close();
      throw e;
    }
  },
});
