// A runner extension for @puppeteer/replay that supplies a throng flow's secrets from the
// environment. throng never writes a secret in clear: a Recorder field that carried one holds
// its mask instead, `$` and the environment variable the flow names for it (a typed password
// is `"value": "$THRONG_DEMO_PASSWORD"`). This extension types the variable's value there.
//
//   THRONG_DEMO_PASSWORD=... npx @puppeteer/replay --extension flows/replay-extension.mjs flows/shop.json
//
// A flow without secrets needs no extension: `npx @puppeteer/replay flows/browse.json`.
// A mask whose variable is unset fails the step with its name, rather than typing the mask.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/// The @puppeteer/replay that runs this file: the one installed beside it, else the CLI's own
/// (`npx @puppeteer/replay` from a project that installed it), else the current directory's.
async function replayLibrary() {
  try {
    return await import('@puppeteer/replay');
  } catch {
    const cli = process.argv[1] && fs.realpathSync(process.argv[1]);
    const main = cli && path.basename(cli) === 'cli.js' ? path.join(path.dirname(cli), 'main.js')
      : createRequire(path.join(process.cwd(), 'package.json'))
        .resolve('@puppeteer/replay')
        .replace(/cjs[\\/]main\.cjs$/, 'main.js');
    return import(pathToFileURL(main).href);
  }
}

const { PuppeteerRunnerOwningBrowserExtension } = await replayLibrary();

/// A whole-field mask: `$NAME`, NAME an environment variable name.
const MASK = /^\$([A-Za-z_][A-Za-z0-9_]*)$/;
/// Masks inside a URL (`?token=$THRONG_TOKEN`).
const MASK_IN_URL = /\$([A-Za-z_][A-Za-z0-9_]*)/g;

/// The value of the environment variable a whole-field mask names.
function secret(name) {
  const value = process.env[name];
  if (value === undefined) {
    throw new Error(`this step types a secret: set the environment variable ${name}`);
  }
  return value;
}

/// `step` with its masks filled from the environment (the step itself is left alone).
export function fillSecrets(step) {
  if (step.type === 'change' && typeof step.value === 'string') {
    const m = step.value.match(MASK);
    if (m) return { ...step, value: secret(m[1]) };
  }
  if (step.type === 'navigate' && typeof step.url === 'string') {
    const url = step.url.replace(MASK_IN_URL, (whole, name) =>
      process.env[name] === undefined ? whole : encodeURIComponent(process.env[name]));
    if (url !== step.url) return { ...step, url };
  }
  return step;
}

export default class ThrongSecrets extends PuppeteerRunnerOwningBrowserExtension {
  async runStep(step, flow) {
    return super.runStep(fillSecrets(step), flow);
  }
}
