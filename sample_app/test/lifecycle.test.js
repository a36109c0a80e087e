'use strict';
// Settings and graceful shutdown of createServer, in this process, over real sockets.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const { once } = require('node:events');
const { createServer, readSettings } = require('../lifecycle');

// A broken drain would hang rather than fail; the timeout turns that into a failure.
const IO = { timeout: 20000 };

// A server with a /hold route that answers only when the test calls release().
async function startHolding(t, options) {
  const hold = {};
  hold.arrived = new Promise((resolve) => {
    hold.markArrived = resolve;
  });
  hold.released = new Promise((resolve) => {
    hold.release = resolve;
  });
  const lifecycle = createServer({
    env: {},
    ...options,
    configure(app) {
      app.get('/hold', (req, res) => {
        hold.markArrived();
        hold.released.then(() => res.type('text/plain').send('held'));
      });
    },
  });
  lifecycle.server.listen(0, '127.0.0.1');
  await once(lifecycle.server, 'listening');
  t.after(() => {
    hold.release();
    lifecycle.server.close();
  });
  return { lifecycle, hold, port: lifecycle.server.address().port };
}

function request(port, urlPath, agent) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body, complete: res.complete }));
      })
      .on('error', reject);
  });
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

test('readSettings: defaults when nothing is set', () => {
  assert.deepEqual(readSettings({}), { port: 3000, shutdownDelayMs: 0, shutdownTimeoutMs: 10000 });
});

test('readSettings: reads PORT, SHUTDOWN_DELAY_MS and SHUTDOWN_TIMEOUT_MS', () => {
  const env = { PORT: '8080', SHUTDOWN_DELAY_MS: '5000', SHUTDOWN_TIMEOUT_MS: '25000' };
  assert.deepEqual(readSettings(env), { port: 8080, shutdownDelayMs: 5000, shutdownTimeoutMs: 25000 });
});

test('readSettings: rejects malformed numbers, naming the variable', () => {
  for (const port of ['abc', '-1', '1.5', '70000', ' 80']) {
    assert.throws(() => readSettings({ PORT: port }), /^Error: PORT must be an integer from 0 to 65535/);
  }
  assert.throws(() => readSettings({ SHUTDOWN_TIMEOUT_MS: '0' }), /SHUTDOWN_TIMEOUT_MS must be an integer from 1/);
  assert.throws(() => readSettings({ SHUTDOWN_DELAY_MS: 'soon' }), /SHUTDOWN_DELAY_MS must be an integer/);
});

test('readSettings: the delay must leave time to drain before the timeout', () => {
  assert.throws(
    () => readSettings({ SHUTDOWN_DELAY_MS: '10000', SHUTDOWN_TIMEOUT_MS: '10000' }),
    /SHUTDOWN_DELAY_MS must be less than SHUTDOWN_TIMEOUT_MS/,
  );
});

test('shutdown lets an in-flight request finish, refuses new connections, then resolves true', IO, async (t) => {
  const { lifecycle, hold, port } = await startHolding(t, { shutdownTimeoutMs: 60000 });
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const held = request(port, '/hold', agent);
  await hold.arrived;
  assert.equal(lifecycle.inFlightRequests(), 1);

  const stopped = lifecycle.shutdown();
  assert.equal(lifecycle.isStopping(), true);
  assert.equal(await tryConnect(port), 'ECONNREFUSED');

  hold.release();
  const response = await held;
  assert.equal(response.status, 200);
  assert.equal(response.body, 'held');
  assert.equal(response.complete, true);
  // Its headers were still unsent when shutdown began, so the client is told not to reuse it.
  assert.equal(response.headers.connection, 'close');
  assert.equal(await stopped, true);
});

test('shutdown closes idle keep-alive connections instead of waiting for them', IO, async (t) => {
  const { lifecycle, port } = await startHolding(t, { shutdownTimeoutMs: 60000 });
  // No keep-alive timeout: only the shutdown itself can close this idle connection.
  // (Node 19+ server.close() does it too; Node 18, the bookworm runtime, does not.)
  lifecycle.server.keepAliveTimeout = 0;
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  const closed = once(socket, 'close');
  socket.setEncoding('utf8');
  let received = '';
  const answered = new Promise((resolve) => {
    socket.on('data', (chunk) => {
      received += chunk;
      if (received.endsWith('\r\n\r\nok')) resolve();
    });
  });
  socket.write('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n');
  await answered;
  assert.match(received, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(received, /\r\nConnection: keep-alive\r\n/i);

  assert.equal(await lifecycle.shutdown(), true);
  await closed;
});

test('shutdown gives up after shutdownTimeoutMs, drops the stuck request and resolves false', IO, async (t) => {
  const { lifecycle, hold, port } = await startHolding(t, { shutdownTimeoutMs: 100 });
  const held = request(port, '/hold', false);
  await hold.arrived;
  assert.equal(await lifecycle.shutdown(), false);
  await assert.rejects(held, { code: 'ECONNRESET' });
  assert.equal(lifecycle.server.listening, false);
});

test('a second shutdown call returns the same promise', IO, async (t) => {
  const { lifecycle } = await startHolding(t, {});
  const first = lifecycle.shutdown();
  assert.equal(lifecycle.shutdown(), first);
  assert.equal(await first, true);
});
