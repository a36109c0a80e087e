'use strict';
// The Express application: the page and the two probes. No listening, no signals
// (see lifecycle.js), so tests can mount it on any server.

const express = require('express');
const { renderPage } = require('./page');
const packageJson = require('./package.json');

const SHOWN_SETTINGS = ['MY_NON_SECRET', 'MY_OTHER_NON_SECRET'];

// APP_VERSION lets an image built from a git commit say so without editing package.json.
function appVersion(env = process.env) {
  return env.APP_VERSION || packageJson.version;
}

function sendText(res, status, body) {
  // Probes must never be answered from a cache.
  res.status(status).set('Cache-Control', 'no-store').type('text/plain').send(body);
}

// isReady: returns false once shutdown has begun, so /readyz takes the pod out of the Service.
// configure: optional hook that adds routes (tests use it; production passes nothing).
function createApp({ env = process.env, version = appVersion(env), isReady = () => true, configure } = {}) {
  const app = express();
  app.disable('x-powered-by');

  app.use((req, res, next) => {
    res.set('X-Content-Type-Options', 'nosniff');
    next();
  });

  app.get('/', (req, res) => {
    const settings = Object.fromEntries(SHOWN_SETTINGS.map((name) => [name, env[name]]));
    // The page has no scripts, styles or images: forbid them all.
    res.set('Content-Security-Policy', "default-src 'none'");
    res.type('html').send(renderPage({ version, settings }));
  });

  app.get('/healthz', (req, res) => sendText(res, 200, 'ok'));

  app.get('/readyz', (req, res) => {
    if (isReady()) {
      sendText(res, 200, 'ok');
    } else {
      sendText(res, 503, 'shutting down');
    }
  });

  if (configure) {
    configure(app);
  }
  return app;
}

module.exports = { appVersion, createApp };
