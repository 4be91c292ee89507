/**
 * The zero-code entry for `node --require otel-resource-tracker/register app.js`: the same start as the ES module
 * entry, told that it was required (the ESM loader hook must be installed differently then). Node loads the ES
 * modules it needs through require(esm), which is why nothing on this path may use top-level await.
 */
const { startFromPreload } = require('./zero-code/preload.js') as typeof import('./zero-code/preload.js');

startFromPreload('require');
