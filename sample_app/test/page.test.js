'use strict';
// The page renderer on its own: escaping and layout, no server.

const test = require('node:test');
const assert = require('node:assert/strict');
const { escapeHtml, renderPage } = require('../page');

test('escapeHtml escapes the five HTML special characters and nothing else', () => {
  assert.equal(escapeHtml(`<a href="x">Tom & Jerry's</a>`), '&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;');
  assert.equal(escapeHtml('plain text 123 é'), 'plain text 123 é');
  assert.equal(escapeHtml(42), '42');
});

test('escapeHtml escapes an existing entity again, so it shows literally', () => {
  assert.equal(escapeHtml('&lt;'), '&amp;lt;');
});

test('renderPage says "not set" for an unset variable instead of "undefined"', () => {
  const html = renderPage({ version: '1.2.3', settings: { MY_NON_SECRET: undefined, MY_OTHER_NON_SECRET: '' } });
  assert.match(html, /<li>MY_NON_SECRET: <em>not set<\/em><\/li>/);
  assert.match(html, /<li>MY_OTHER_NON_SECRET: ""<\/li>/);
  assert.doesNotMatch(html, /undefined/);
});

test('renderPage escapes the version as well', () => {
  const html = renderPage({ version: '1.0.0-<i>', settings: {} });
  assert.match(html, /<h1>Kubernetes Expressjs Example 1\.0\.0-&lt;i&gt;<\/h1>/);
  assert.doesNotMatch(html, /<i>/);
});
