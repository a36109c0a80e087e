'use strict';
// The HTML page. Every value that comes from outside (environment, version) is escaped,
// because ConfigMap values are data, not markup.

const HTML_ESCAPES = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (character) => HTML_ESCAPES[character]);
}

function renderSetting(name, value) {
  // An unset variable says so instead of printing "undefined".
  const shown = value === undefined ? '<em>not set</em>' : `"${escapeHtml(value)}"`;
  return `      <li>${escapeHtml(name)}: ${shown}</li>`;
}

// settings: an object of environment variable name -> value (or undefined when unset).
function renderPage({ version, settings }) {
  const title = `Kubernetes Expressjs Example ${escapeHtml(version)}`;
  const items = Object.entries(settings).map(([name, value]) => renderSetting(name, value));
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '  <head>',
    '    <meta charset="utf-8">',
    `    <title>${title}</title>`,
    '  </head>',
    '  <body>',
    `    <h1>${title}</h1>`,
    '    <h2>Non-Secret Configuration Example</h2>',
    '    <p>This uses ConfigMaps as env vars.</p>',
    '    <ul>',
    ...items,
    '    </ul>',
    `    <p>Version: <span id="version">${escapeHtml(version)}</span></p>`,
    '  </body>',
    '</html>',
    '',
  ].join('\n');
}

module.exports = { escapeHtml, renderPage };
