'use strict';
// Entry point (`node server.js`, the image's CMD). All behaviour lives in lifecycle.js and
// app.js so tests can drive it.

require('./lifecycle').run();
