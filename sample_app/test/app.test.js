'use strict';
// The Express app over real HTTP (in this process): the page, escaping, version, probes.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { once } = require('node:events');
const { createApp } = require('../app');

const packageVersion = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version;

async function serve(t, options) {
  const server = http.createServer(createApp(options));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return server.address().port;
}

function get(port, urlPath) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

// Heading tags in document order, e.g. ['<h1>', '</h1>', '<h2>', '</h2>'].
function headingTags(html) {
  return html.match(/<\/?h[1-6]\b[^>]*>/g) || [];
}

test('GET / shows both ConfigMap values as an HTML page', async (t) => {
  const port = await serve(t, { env: { MY_NON_SECRET: 'foo', MY_OTHER_NON_SECRET: 'bar' } });
  const page = await get(port, '/');
  assert.equal(page.status, 200);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.ok(page.body.includes('<li>MY_NON_SECRET: "foo"</li>'), page.body);
  assert.ok(page.body.includes('<li>MY_OTHER_NON_SECRET: "bar"</li>'), page.body);
});

test('GET / escapes markup in the values instead of running it', async (t) => {
  const port = await serve(t, {
    env: { MY_NON_SECRET: '<script>alert(1)</script>', MY_OTHER_NON_SECRET: `"&'` },
  });
  const page = await get(port, '/');
  assert.ok(!page.body.includes('<script>'), page.body);
  assert.ok(page.body.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), page.body);
  assert.ok(page.body.includes('"&quot;&amp;&#39;"'), page.body);
  assert.equal(page.headers['content-security-policy'], "default-src 'none'");
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
});

test('GET / has well-formed headings: one <h1> closed by </h1>, no <h1>...</h2>', async (t) => {
  const port = await serve(t, { env: {} });
  const { body } = await get(port, '/');
  assert.deepEqual(headingTags(body), ['<h1>', '</h1>', '<h2>', '</h2>']);
  assert.match(body, /<h1>Kubernetes Expressjs Example [^<]+<\/h1>/);
});

test('GET / shows the version from package.json', async (t) => {
  const port = await serve(t, { env: {} });
  const { body } = await get(port, '/');
  assert.ok(body.includes(`<span id="version">${packageVersion}</span>`), body);
  assert.ok(body.includes(`<h1>Kubernetes Expressjs Example ${packageVersion}</h1>`), body);
});

test('APP_VERSION overrides the version shown', async (t) => {
  const port = await serve(t, { env: { APP_VERSION: '0.0.2-abc1234' } });
  const { body } = await get(port, '/');
  assert.ok(body.includes('<span id="version">0.0.2-abc1234</span>'), body);
  assert.ok(!body.includes(`<span id="version">${packageVersion}</span>`), body);
});

test('GET /healthz answers 200 "ok", uncached', async (t) => {
  const port = await serve(t, { env: {} });
  const health = await get(port, '/healthz');
  assert.equal(health.status, 200);
  assert.equal(health.body, 'ok');
  assert.match(health.headers['content-type'], /^text\/plain/);
  assert.equal(health.headers['cache-control'], 'no-store');
});

test('GET /readyz answers 200 while ready and 503 once not ready; /healthz stays 200', async (t) => {
  let ready = true;
  const port = await serve(t, { env: {}, isReady: () => ready });
  const before = await get(port, '/readyz');
  assert.equal(before.status, 200);
  assert.equal(before.body, 'ok');

  ready = false;
  const after = await get(port, '/readyz');
  assert.equal(after.status, 503);
  assert.equal(after.body, 'shutting down');
  assert.equal(after.headers['cache-control'], 'no-store');
  assert.equal((await get(port, '/healthz')).status, 200);
});

test('unknown paths are 404 and responses do not advertise Express', async (t) => {
  const port = await serve(t, { env: {} });
  const missing = await get(port, '/nope');
  assert.equal(missing.status, 404);
  assert.equal(missing.headers['x-powered-by'], undefined);
});
