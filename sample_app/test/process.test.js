'use strict';
// The real process: `node server.js` (and healthcheck.js) as child processes, driven with
// signals the way the kubelet and Docker drive them.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { once } = require('node:events');
const { spawn } = require('node:child_process');

const APP_DIR = path.join(__dirname, '..');
// A hung child would hang the run; the timeout turns that into a failure.
const IO = { timeout: 30000 };

// The server with one extra route, /slow, which writes "started" at once and "finished" only
// when the test writes a line to the child's stdin. The route exists only in this test.
const SLOW_SERVER = `
const readline = require('node:readline');
const { run } = require(${JSON.stringify(path.join(APP_DIR, 'lifecycle.js'))});
const waiting = [];
readline.createInterface({ input: process.stdin }).on('line', () => {
  for (const finish of waiting.splice(0)) finish();
});
run({
  configure(app) {
    app.get('/slow', (req, res) => {
      res.type('text/plain').write('started\\n');
      waiting.push(() => res.end('finished\\n'));
    });
  },
});
`;

function startProcess(t, args, env) {
  const child = spawn(process.execPath, args, {
    cwd: APP_DIR,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  const watchers = [];
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
    for (const watcher of watchers.slice()) watcher();
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  // Resolves with the match once stdout matches pattern; rejects if the process exits first.
  const waitForOutput = (pattern) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const match = stdout.match(pattern);
        if (match) {
          watchers.splice(watchers.indexOf(check), 1);
          resolve(match);
        }
      };
      watchers.push(check);
      check();
      exited.then(([code]) => reject(new Error(`exited ${code} before ${pattern}: ${stdout}${stderr}`)));
    });
  return {
    child,
    waitForOutput,
    output: () => ({ stdout, stderr }),
    exit: () => exited.then(([code, signal]) => ({ code, signal })),
  };
}

async function startServer(t, args, env) {
  const server = startProcess(t, args, env);
  const [, port] = await server.waitForOutput(/listening on port (\d+)\n/);
  return { ...server, port: Number(port) };
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

// GET /slow of SLOW_SERVER: firstChunk resolves with the first chunk of the body,
// response with the whole body once it ends (or rejects when the connection breaks).
function getSlow(port) {
  let body = '';
  let gotFirstChunk;
  const firstChunk = new Promise((resolve) => {
    gotFirstChunk = resolve;
  });
  const response = new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/slow', agent: false }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          body += chunk;
          gotFirstChunk(body);
        });
        res.on('end', () => resolve({ body, complete: res.complete }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
  return { firstChunk, response };
}

// Resolves 'connected' or the connect error's code (ECONNREFUSED when nothing listens).
function tryConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error) => resolve(error.code));
  });
}

test('node server.js serves the page from its environment and exits 0 on SIGINT', IO, async (t) => {
  const server = await startServer(t, ['server.js'], {
    MY_NON_SECRET: 'foo',
    MY_OTHER_NON_SECRET: '<script>alert(1)</script>',
    APP_VERSION: '9.9.9',
  });
  const page = await get(server.port, '/');
  assert.equal(page.status, 200);
  assert.ok(page.body.includes('MY_NON_SECRET: "foo"'), page.body);
  assert.ok(page.body.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), page.body);
  assert.ok(!page.body.includes('<script>'), page.body);
  assert.ok(page.body.includes('<span id="version">9.9.9</span>'), page.body);
  assert.equal((await get(server.port, '/readyz')).status, 200);

  server.child.kill('SIGINT');
  assert.deepEqual(await server.exit(), { code: 0, signal: null });
  const { stdout } = server.output();
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 3, stdout);
  assert.match(lines[0], /^hello-k8s 9\.9\.9 listening on port \d+$/);
  assert.match(lines[1], /^hello-k8s: SIGINT received, not ready; 0 request\(s\) in flight/);
  assert.match(lines[2], /^hello-k8s: stopped after \d+ ms$/);
});

test('SIGTERM lets an in-flight request finish, refuses new connections, exits 0', IO, async (t) => {
  const server = await startServer(t, ['-e', SLOW_SERVER], {});
  const slow = getSlow(server.port);
  assert.equal(await slow.firstChunk, 'started\n');

  server.child.kill('SIGTERM');
  await server.waitForOutput(/SIGTERM received, not ready; 1 request\(s\) in flight, closing the listener in 0 ms\n/);
  assert.equal(await tryConnect(server.port), 'ECONNREFUSED');
  assert.equal(server.child.exitCode, null, 'still draining the in-flight request');

  server.child.stdin.write('finish\n');
  assert.deepEqual(await slow.response, { body: 'started\nfinished\n', complete: true });
  assert.deepEqual(await server.exit(), { code: 0, signal: null });
  assert.match(server.output().stdout, /hello-k8s: stopped after \d+ ms\n$/);
});

test('during SHUTDOWN_DELAY_MS /readyz says 503 while the page and /healthz still answer', IO, async (t) => {
  const server = await startServer(t, ['server.js'], { SHUTDOWN_DELAY_MS: '600000', SHUTDOWN_TIMEOUT_MS: '900000' });
  server.child.kill('SIGTERM');
  await server.waitForOutput(/SIGTERM received, not ready; 0 request\(s\) in flight, closing the listener in 600000 ms\n/);

  const ready = await get(server.port, '/readyz');
  assert.equal(ready.status, 503);
  assert.equal(ready.body, 'shutting down');
  assert.equal(ready.headers.connection, 'close');
  assert.equal((await get(server.port, '/healthz')).status, 200);
  assert.equal((await get(server.port, '/')).status, 200);
});

test('after SHUTDOWN_DELAY_MS the server drains and exits 0', IO, async (t) => {
  const server = await startServer(t, ['server.js'], { SHUTDOWN_DELAY_MS: '100' });
  server.child.kill('SIGTERM');
  assert.deepEqual(await server.exit(), { code: 0, signal: null });
  assert.match(server.output().stdout, /closing the listener in 100 ms\nhello-k8s: stopped after \d+ ms\n$/);
});

test('SHUTDOWN_TIMEOUT_MS ends a shutdown stuck on a request with exit code 1', IO, async (t) => {
  const server = await startServer(t, ['-e', SLOW_SERVER], { SHUTDOWN_TIMEOUT_MS: '100' });
  const slow = getSlow(server.port);
  const dropped = assert.rejects(slow.response, { code: 'ECONNRESET' });
  await slow.firstChunk;
  server.child.kill('SIGTERM');
  assert.deepEqual(await server.exit(), { code: 1, signal: null });
  assert.match(server.output().stdout, /SHUTDOWN_TIMEOUT_MS \(100\) reached, dropped open connections\n$/);
  await dropped;
});

test('an invalid PORT stops the process at once with exit code 1 and says why', IO, async (t) => {
  const server = startProcess(t, ['server.js'], { PORT: 'http' });
  assert.deepEqual(await server.exit(), { code: 1, signal: null });
  assert.equal(server.output().stderr, 'hello-k8s: PORT must be an integer from 0 to 65535, got "http"\n');
  assert.equal(server.output().stdout, '');
});

test('healthcheck.js exits 0 while /healthz answers and 1 when nothing listens', IO, async (t) => {
  const server = await startServer(t, ['server.js'], {});
  const healthy = startProcess(t, ['healthcheck.js'], { PORT: String(server.port) });
  assert.deepEqual(await healthy.exit(), { code: 0, signal: null });

  server.child.kill('SIGTERM');
  await server.exit();
  const unhealthy = startProcess(t, ['healthcheck.js'], { PORT: String(server.port) });
  assert.deepEqual(await unhealthy.exit(), { code: 1, signal: null });
});
