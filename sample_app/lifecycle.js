'use strict';
// Serving and stopping. On SIGTERM/SIGINT the server turns /readyz off, optionally keeps serving
// for SHUTDOWN_DELAY_MS (so Kubernetes can take the pod out of its Services first), then stops
// accepting connections, lets in-flight requests finish, closes idle keep-alive connections and
// exits 0. SHUTDOWN_TIMEOUT_MS bounds all of it, so a stuck request never blocks a rollout.

const http = require('node:http');
const { appVersion, createApp } = require('./app');

const MAX_TIMER_MS = 2147483647; // setTimeout's upper limit

function integerSetting(env, name, fallback, min, max) {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

// Reads and checks the environment once, at start, so a typo fails the pod immediately.
function readSettings(env = process.env) {
  const settings = {
    port: integerSetting(env, 'PORT', 3000, 0, 65535),
    shutdownDelayMs: integerSetting(env, 'SHUTDOWN_DELAY_MS', 0, 0, MAX_TIMER_MS),
    shutdownTimeoutMs: integerSetting(env, 'SHUTDOWN_TIMEOUT_MS', 10000, 1, MAX_TIMER_MS),
  };
  if (settings.shutdownDelayMs >= settings.shutdownTimeoutMs) {
    throw new Error('SHUTDOWN_DELAY_MS must be less than SHUTDOWN_TIMEOUT_MS');
  }
  return settings;
}

// The only response on its connection: say Connection: close while its headers are unsent,
// so the client does not reuse a connection that is about to close. (With pipelined requests
// queued behind it, that header would make Node drop them, so leave those alone.)
function markLastResponse(responses) {
  if (responses.size === 1) {
    const [res] = responses;
    if (!res.headersSent) {
      res.setHeader('Connection', 'close');
    }
  }
}

function createServer({ env = process.env, shutdownDelayMs = 0, shutdownTimeoutMs = 10000, configure } = {}) {
  const version = appVersion(env);
  let stopping = false;
  let stopped = null;
  const app = createApp({ env, version, isReady: () => !stopping, configure });
  // Every open connection -> the responses on it that are not finished yet.
  const pending = new Map();

  const responsesOf = (socket) => {
    if (!pending.has(socket)) {
      pending.set(socket, new Set());
      socket.once('close', () => pending.delete(socket));
    }
    return pending.get(socket);
  };

  const server = http.createServer((req, res) => {
    const socket = req.socket;
    const responses = responsesOf(socket);
    responses.add(res);
    if (stopping) {
      res.setHeader('Connection', 'close');
    }
    const settle = () => {
      // Once stopping, a connection is closed as soon as it has nothing left to answer.
      if (responses.delete(res) && stopping && responses.size === 0) {
        socket.end();
      }
    };
    res.once('finish', settle);
    res.once('close', settle);
    app(req, res);
  });
  server.on('connection', responsesOf);

  const inFlightRequests = () => {
    let count = 0;
    for (const responses of pending.values()) {
      count += responses.size;
    }
    return count;
  };

  // Resolves true when every connection closed by itself, false when the timeout cut them.
  function shutdown() {
    if (stopped) {
      return stopped;
    }
    stopping = true;
    for (const responses of pending.values()) {
      markLastResponse(responses);
    }
    stopped = new Promise((resolve) => {
      let delay = null;
      const hardStop = setTimeout(() => {
        clearTimeout(delay);
        if (server.listening) {
          server.close();
        }
        for (const socket of pending.keys()) {
          socket.destroy();
        }
        resolve(false);
      }, shutdownTimeoutMs);
      const drain = () => {
        server.close(() => {
          clearTimeout(hardStop);
          resolve(true);
        });
        for (const [socket, responses] of pending) {
          if (responses.size === 0) {
            socket.destroy();
          }
        }
      };
      if (shutdownDelayMs > 0) {
        delay = setTimeout(drain, shutdownDelayMs);
      } else {
        drain();
      }
    });
    return stopped;
  }

  return { server, version, shutdown, inFlightRequests, isStopping: () => stopping };
}

// The process: settings from the environment, listen, one log line per start and shutdown
// step, exit code 0 after a clean drain and 1 otherwise.
function run({ env = process.env, log = console.log, logError = console.error, exit = process.exit, configure } = {}) {
  let settings;
  try {
    settings = readSettings(env);
  } catch (error) {
    logError(`hello-k8s: ${error.message}`);
    exit(1);
    return null;
  }
  const lifecycle = createServer({ env, configure, ...settings });
  const { server } = lifecycle;

  server.on('error', (error) => {
    logError(`hello-k8s: cannot serve on port ${settings.port}: ${error.message}`);
    exit(1);
  });
  server.listen(settings.port, () => {
    log(`hello-k8s ${lifecycle.version} listening on port ${server.address().port}`);
  });

  const onSignal = (signal) => {
    // npm and terminals can deliver the same signal twice; one shutdown is enough,
    // and SHUTDOWN_TIMEOUT_MS already bounds it.
    if (lifecycle.isStopping()) {
      return;
    }
    const started = Date.now();
    const inFlight = lifecycle.inFlightRequests();
    // Shut down first, log second: whoever reads the line can rely on what it says.
    const stopped = lifecycle.shutdown();
    log(
      `hello-k8s: ${signal} received, not ready; ${inFlight} request(s) in flight, ` +
        `closing the listener in ${settings.shutdownDelayMs} ms`,
    );
    stopped.then((graceful) => {
      if (graceful) {
        log(`hello-k8s: stopped after ${Date.now() - started} ms`);
        exit(0);
      } else {
        log(`hello-k8s: SHUTDOWN_TIMEOUT_MS (${settings.shutdownTimeoutMs}) reached, dropped open connections`);
        exit(1);
      }
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return lifecycle;
}

module.exports = { createServer, readSettings, run };
