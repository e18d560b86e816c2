// Opens GraphiQL in headless Chromium as a person would, with every request to another
// origin blocked, and prints a JSON report: what was requested, what the console said,
// and the answers read from the result pane.
// Usage: node graphiql.mjs '{"url": ..., "chromium": ..., "userDataDir": ..., "steps": [...]}'
// A step is {"query": "...", "headers": "..." (optional)}: typed into the editors, then run.
import puppeteer from 'puppeteer-core';

const config = JSON.parse(process.argv[2]);
const origin = new URL(config.url).origin;
const report = {
  requests: [],
  foreign: [],
  failed: [],
  console: [],
  pageErrors: [],
  answers: [],
  explorer: null,
  dialog: null,
  csp: null,
};

const browser = await puppeteer.launch({
  executablePath: config.chromium,
  headless: true,
  userDataDir: config.userDataDir,
  // Puppeteer's own defaults, less its extensions switch, plus what a root container needs.
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

async function editor(page, selector) {
  // GraphiQL's editors are CodeMirror 5 instances: click into one and replace its text
  // with the keyboard.
  await page.waitForSelector(`${selector} .CodeMirror`, { visible: true });
  await page.click(`${selector} .CodeMirror`);
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyA');
  await page.keyboard.up('Control');
  await page.keyboard.press('Backspace');
}

async function value(page, selector) {
  return page.$eval(`${selector} .CodeMirror`, (element) => element.CodeMirror.getValue());
}

try {
  const page = await browser.newPage();
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    const url = request.url();
    if (url.startsWith('data:')) {
      request.continue();
      return;
    }
    report.requests.push({ method: request.method(), url });
    if (new URL(url).origin !== origin) {
      report.foreign.push(url);
      request.abort('blockedbyclient');
    } else {
      request.continue();
    }
  });
  page.on('requestfailed', (request) => {
    report.failed.push({ url: request.url(), error: request.failure()?.errorText });
  });
  page.on('console', (message) => {
    report.console.push({ type: message.type(), text: message.text() });
  });
  page.on('pageerror', (error) => report.pageErrors.push(String(error)));

  const response = await page.goto(config.url, { waitUntil: 'networkidle0', timeout: 30000 });
  report.csp = response.headers()['content-security-policy'] ?? null;

  for (const step of config.steps) {
    if (step.headers !== undefined) {
      // The headers editor sits behind its tab in the editor tools.
      const [tab] = await page.$$('xpath/.//button[normalize-space()="Headers"]');
      await tab.click();
      await editor(page, '.graphiql-editor-tool .graphiql-editor:not(.hidden)');
      await page.keyboard.type(step.headers);
      await page.keyboard.press('Escape');
    }
    await editor(page, '.graphiql-query-editor');
    await page.keyboard.type(step.query);
    // Close the completion list the typing opened, then run with Ctrl-Enter.
    await page.keyboard.press('Escape');
    const before = await value(page, '.graphiql-response');
    await page.keyboard.down('Control');
    await page.keyboard.press('Enter');
    await page.keyboard.up('Control');
    await page.waitForFunction(
      (previous) => {
        const pane = document.querySelector('.graphiql-response .CodeMirror');
        const text = pane?.CodeMirror.getValue() ?? '';
        return text !== previous && text.trim().startsWith('{');
      },
      { timeout: 15000 },
      before,
    );
    report.answers.push({
      query: await value(page, '.graphiql-query-editor'),
      headers: step.headers === undefined ? null : await value(page, '.graphiql-editor-tool .graphiql-editor:not(.hidden)'),
      result: JSON.parse(await value(page, '.graphiql-response')),
    });
  }

  // The explorer plugin lists the schema's root fields once opened from the sidebar.
  await page.click('button[aria-label="Show GraphiQL Explorer"]');
  await page.waitForSelector('.graphiql-explorer-root', { visible: true, timeout: 10000 });
  report.explorer = await page.$eval('.graphiql-explorer-root', (element) => element.innerText);

  // A dialog adds the one inline style the page's policy allows (by its hash).
  await page.click('button[aria-label="Open settings dialog"]');
  await page.waitForSelector('.graphiql-dialog', { visible: true, timeout: 10000 });
  report.dialog = await page.$eval('.graphiql-dialog', (element) => element.innerText);
  await page.keyboard.press('Escape');
} catch (error) {
  report.error = String(error?.stack ?? error);
} finally {
  await browser.close();
}
console.log(JSON.stringify(report, null, 2));
process.exit(report.error === undefined ? 0 : 1);
