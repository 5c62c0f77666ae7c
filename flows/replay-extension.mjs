// A runner extension for @puppeteer/replay that supplies a throng flow's secrets from the
// environment. throng never writes a secret in clear: a Recorder field that carried one holds
// its mask instead, `$` and the environment variable the flow names for it (a typed password
// is `"value": "$THRONG_DEMO_PASSWORD"`). This extension types the variable's value there.
//
//   THRONG_DEMO_PASSWORD=... npx @puppeteer/replay --extension flows/replay-extension.mjs flows/shop.json
//
// A flow without secrets needs no extension: `npx @puppeteer/replay flows/browse.json`.
// It also types a `change` into a code editor (CodeMirror, Ace, Monaco) as throng does: a click
// into the editor, Control+A, the new text over the selection.
// A mask whose variable is unset fails the step with its name, rather than typing the mask.
// A step waits as long as throng's browser replay waits (30 s) unless the step or the flow
// gives its own `timeout`; the library's own default (5 s) fails pages on a busy machine.

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

/// Code editors type through a hidden textarea or a contenteditable of their own, which the
/// Recorder's `change` cannot fill (CodeMirror, Ace, Monaco).
const EDITORS = '.CodeMirror, .cm-editor, .monaco-editor, .ace_editor';

/// throng's default step timeout in browser mode (`--timeout`), in ms.
const STEP_TIMEOUT_MS = 30000;

export default class ThrongSecrets extends PuppeteerRunnerOwningBrowserExtension {
  constructor(browser, page, opts) {
    super(browser, page, { ...opts, timeout: opts?.timeout ?? STEP_TIMEOUT_MS });
  }

  async runStep(step, flow) {
    const filled = fillSecrets(step);
    if (filled.type === 'change' && await this.#typeIntoEditor(filled)) return;
    return super.runStep(filled, flow);
  }

  /// A `change` into a code editor, as throng's browser replay does it: a click into the
  /// editor, Control+A, the new text typed over the selection. False when the step's element
  /// is not in a code editor.
  async #typeIntoEditor(step) {
    const page = this.page;
    for (const chain of step.selectors ?? []) {
      const parts = Array.isArray(chain) ? chain : [chain];
      if (parts.length !== 1) continue;
      // Wait as the Recorder's own steps do (an editor is often built once the page loaded).
      const el = await page.waitForSelector(parts[0], { timeout: 5000 }).catch(() => null);
      if (!el) continue;
      const root = await el.evaluateHandle((e, sel) => e.closest(sel), EDITORS);
      if (!(await root.evaluate((r) => !!r))) return false;
      await root.asElement().click();
      // CodeMirror focuses its input a moment after a click on selected text (a drag start).
      await page.waitForFunction((r) => {
        const a = r.ownerDocument.activeElement;
        return r.contains(a) && (a.tagName === 'TEXTAREA' || a.isContentEditable);
      }, { timeout: 2000 }, root).catch(() => {});
      await page.keyboard.down('Control');
      await page.keyboard.press('KeyA', { commands: ['selectAll'] });
      await page.keyboard.up('Control');
      if (step.value === '') await page.keyboard.press('Delete');
      else await page.keyboard.sendCharacter(step.value);
      return true;
    }
    return false;
  }
}
