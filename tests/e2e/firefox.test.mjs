// The smoke subset (smoke.mjs) in Debian's Firefox ESR (/usr/bin/firefox-esr, never a downloaded
// browser), driven by puppeteer-core over WebDriver BiDi; console errors from BiDi's log entries.
import { existsSync } from 'node:fs';
import puppeteer from 'puppeteer-core';
import { smokeSuite } from './smoke.mjs';

const FIREFOX = process.env.TINYGPT_FIREFOX || '/usr/bin/firefox-esr';

smokeSuite('firefox', {
  async launch() {
    if (!existsSync(FIREFOX)) {
      throw new Error(`${FIREFOX} is missing: apt-get install firefox-esr (./build.sh test does), or set TINYGPT_SKIP_BROWSERS=firefox`);
    }
    const browser = await puppeteer.launch({
      browser: 'firefox', protocol: 'webDriverBiDi', executablePath: FIREFOX, headless: true,
      defaultViewport: { width: 1280, height: 900 }, timeout: 60_000, protocolTimeout: 60_000,
    });
    const proc = browser.process();
    try {
      const page = await browser.newPage();
      const problems = [];
      page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      return {
        name: 'firefox',
        open: (url) => page.goto(url, { waitUntil: 'load', timeout: 60_000 }),
        evaluate: (fn, ...args) => page.evaluate(fn, ...args),
        click: (sel) => page.click(sel),
        async upload(sel, file) {
          const input = await page.$(sel);
          if (!input) throw new Error(`no element ${sel}`);
          await input.uploadFile(file);
        },
        screenshot: (file) => page.screenshot({ path: file }),
        problems: async () => [...problems],
        async close() {
          // a browser that will not close is killed: nothing may outlive the test
          await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 10_000))]).catch(() => {});
          if (proc && proc.exitCode === null) proc.kill('SIGKILL');
        },
      };
    } catch (e) {
      await browser.close().catch(() => proc?.kill('SIGKILL'));
      throw e;
    }
  },
});
