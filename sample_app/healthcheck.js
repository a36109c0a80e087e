'use strict';
// Docker HEALTHCHECK: slim images have neither curl nor wget, so node asks /healthz itself.
// Exit 0 when it answers 200, 1 otherwise (Docker's healthy/unhealthy contract).

const http = require('node:http');

const request = http.get(
  { host: '127.0.0.1', port: process.env.PORT || 3000, path: '/healthz', timeout: 2000 },
  (res) => {
    res.resume();
    process.exit(res.statusCode === 200 ? 0 : 1);
  },
);
request.on('timeout', () => request.destroy(new Error('no answer within 2 s')));
request.on('error', () => process.exit(1));
